package http1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"testing"
)

// firstResponse parses the first response of data (the peer closing after
// it), as the answer to a GET.
func firstResponse(data []byte) (a accepted, ok bool) {
	var p Parser
	p.Init(Response, Limits{})
	buf := data
	for {
		ev, n, err := p.Next(buf)
		if err != nil {
			return a, false
		}
		if ev == EventNeedMore {
			if ev, err = p.EOF(); err != nil || ev != EventEnd {
				return a, false
			}
			return a, true
		}
		switch ev {
		case EventHead:
			a.head = snap(p.Head())
			a.fields = fieldMap(p.Head().Fields)
		case EventBody:
			a.body = append(a.body, p.Body()...)
		case EventTrailers:
			a.trailers = fieldMap(p.Trailers())
		case EventEnd:
			return a, true
		}
		buf = buf[n:]
	}
}

// FuzzParseResponse is FuzzParseRequest's counterpart for http.ReadResponse,
// with the same normalisations.
func FuzzParseResponse(f *testing.F) {
	for _, c := range responseCases {
		if c.method == "GET" {
			f.Add([]byte(c.raw))
		}
	}
	f.Add([]byte("HTTP/1.1 200 OK\r\nTrailer: X-T\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-T: 1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSplitInvariance(t, streamCase{kind: Response, method: "GET"}, data)
		a, ok := firstResponse(data)
		if !ok || declaresFramingTrailer(a) || len(data) > maxDifferentialInput {
			return
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), nil)
		if err != nil {
			t.Fatalf("sluice accepted, net/http rejected: %v\ninput %q", err, data)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("sluice read a body, net/http failed: %v\ninput %q", err, data)
		}
		h := a.head
		if resp.StatusCode != h.Status || resp.ProtoMinor != h.Minor {
			t.Fatalf("status line: net/http %d 1.%d, sluice %d 1.%d", resp.StatusCode, resp.ProtoMinor, h.Status, h.Minor)
		}
		if resp.Close == h.KeepAlive {
			t.Fatalf("keep-alive: net/http close=%v, sluice keep-alive=%v", resp.Close, h.KeepAlive)
		}
		chunked := len(resp.TransferEncoding) == 1 && resp.TransferEncoding[0] == "chunked"
		compareFields(t, "header", resp.Header, a.fields, chunked)
		if !bytes.Equal(body, a.body) {
			t.Fatalf("body: net/http %q, sluice %q", body, a.body)
		}
		if a.trailers != nil {
			compareFields(t, "trailer", resp.Trailer, a.trailers, false)
		}
	})
}
