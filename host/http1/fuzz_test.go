package http1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/host/http1/http1test"
)

// maxDifferentialInput keeps inputs under net/http's own 4 KiB line and
// trailer bounds, which differ from sluice's Limits by design.
const maxDifferentialInput = 4000

// accepted is what sluice made of the first request in a byte stream.
type accepted struct {
	head     snapshot
	fields   map[string][]string // lowercase name -> values in order
	body     []byte
	trailers map[string][]string
}

// firstRequest parses the first request of data in one piece. ok is false
// when sluice rejected it or it is incomplete.
func firstRequest(data []byte) (a accepted, ok bool) {
	var p Parser
	p.Init(Request, Limits{})
	buf := data
	for {
		ev, n, err := p.Next(buf)
		if err != nil {
			return a, false
		}
		switch ev {
		case EventNeedMore:
			return a, false
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

func fieldMap(fs []Field) map[string][]string {
	m := map[string][]string{}
	for _, f := range fs {
		k := strings.ToLower(string(f.Name))
		m[k] = append(m[k], string(f.Value))
	}
	return m
}

// FuzzParseRequest checks sluice against net/http: whatever sluice accepts,
// net/http must accept and read the same way (method, target, version,
// fields, host, keep-alive, body, trailers). sluice rejecting what net/http
// accepts is fine; it is meant to be stricter. It also checks that feeding
// the input in two pieces, split where the input says, changes nothing.
//
// Deliberate differences, normalised below:
//   - sluice skips up to 8 CRLFs before a request line (RFC 9112 2.2);
//     http.ReadRequest does not (only net/http's server does, after a POST),
//     so they are stripped before net/http sees the input.
//   - net/http moves Host and Transfer-Encoding out of Header and, for chunked
//     requests, the Trailer field too; it adds "Cache-Control: no-cache" when
//     it sees "Pragma: no-cache" alone; http.ReadResponse drops
//     "Connection: close". Those fields are compared separately or ignored.
//   - net/http refuses a chunked request whose Trailer field names
//     Content-Length, Transfer-Encoding or Trailer; the declaration has no
//     effect on framing, so sluice passes it on. Such inputs are skipped.
//   - net/http bounds a chunk line and a trailer section by its 4 KiB read
//     buffer and chunk-extension overhead at 16 KiB; sluice's bounds are its
//     Limits. Inputs over maxDifferentialInput are only checked for split
//     invariance.
func FuzzParseRequest(f *testing.F) {
	for _, c := range acceptRequestCases {
		f.Add([]byte(c.raw))
	}
	for _, c := range rejectRequestCases {
		f.Add([]byte(c.raw))
	}
	for _, c := range http1test.Smuggling {
		if len(c.Raw) < 8192 {
			f.Add([]byte(c.Raw))
		}
	}
	f.Add([]byte("POST http://a.example/u HTTP/1.1\r\nHost: x\r\nPragma: no-cache\r\nTrailer: X-T\r\nTransfer-Encoding: chunked\r\n\r\n3;e=\"v\"\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.0\r\nConnection: keep-alive, Upgrade\r\nUpgrade: h2c\r\nExpect: 100-continue\r\n\r\n"))
	for _, target := range []string{"http://a.example:/", "http://[::ffff:1.2.3.4]:80/x", "HTTP://A.example/",
		"/%00%ff", "/?", "/a?b?c", "http://a.example?", "https://a.example/p;q=1?x=%41", "/a/../b//c"} {
		f.Add([]byte("GET " + target + " HTTP/1.1\r\nHost: h.example\r\n\r\n"))
	}
	for _, hostValue := range []string{"[::1]", "[::1]:", "a.example:", "a-b_c~d!$&'()*+,;=.example", "", "1.2.3.4:65535"} {
		f.Add([]byte("GET / HTTP/1.1\r\nHost: " + hostValue + "\r\nX: \x80\xff\t\r\n\r\n"))
	}
	f.Add([]byte("CONNECT [::1]:1 HTTP/1.1\r\nHost: [::1]:1\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: CHUNKED\r\n\r\n1;a=b;c=\"d\\\"e\"\r\nx\r\n0;z\r\nT: 1\r\nT: 2\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSplitInvariance(t, streamCase{kind: Request}, data)
		a, ok := firstRequest(data)
		if !ok || len(data) > maxDifferentialInput {
			return
		}
		if declaresFramingTrailer(a) {
			return
		}
		stripped := bytes.TrimLeft(data, "\r\n")
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(stripped)))
		if err != nil {
			t.Fatalf("sluice accepted, net/http rejected: %v\ninput %q", err, data)
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			t.Fatalf("sluice read a body, net/http failed: %v\ninput %q", err, data)
		}
		h := a.head
		if req.Method != h.Method || req.RequestURI != h.Target || req.ProtoMajor != 1 || req.ProtoMinor != h.Minor {
			t.Fatalf("request line: net/http %q %q 1.%d, sluice %q %q 1.%d", req.Method, req.RequestURI, req.ProtoMinor, h.Method, h.Target, h.Minor)
		}
		if want := expectedHost(h); req.Host != want {
			t.Fatalf("host: net/http %q, sluice %q", req.Host, want)
		}
		if req.Close == h.KeepAlive {
			t.Fatalf("keep-alive: net/http close=%v, sluice keep-alive=%v", req.Close, h.KeepAlive)
		}
		chunked := len(req.TransferEncoding) == 1 && req.TransferEncoding[0] == "chunked"
		if chunked != (h.Body == BodyChunked) {
			t.Fatalf("chunked: net/http %q, sluice %v", req.TransferEncoding, h.Body)
		}
		compareFields(t, "header", req.Header, a.fields, chunked)
		if !bytes.Equal(body, a.body) {
			t.Fatalf("body: net/http %q, sluice %q", body, a.body)
		}
		if a.trailers != nil {
			compareFields(t, "trailer", req.Trailer, a.trailers, false)
		}
	})
}

func expectedHost(h snapshot) string {
	switch {
	case h.Method == "CONNECT":
		return h.Target
	case h.Target[0] == '/' || h.Target == "*":
		return h.Host
	}
	_, authority, _, _ := splitAbsolute([]byte(h.Target))
	return string(authority)
}

func declaresFramingTrailer(a accepted) bool {
	if a.head.Body != BodyChunked {
		return false
	}
	for _, v := range a.fields["trailer"] {
		for _, name := range strings.Split(v, ",") {
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "content-length", "transfer-encoding", "trailer":
				return true
			}
		}
	}
	return false
}

func compareFields(t *testing.T, what string, goFields http.Header, ours map[string][]string, chunked bool) {
	t.Helper()
	theirs := map[string][]string{}
	for k, vs := range goFields {
		if vs != nil { // declared trailers that never came are nil
			theirs[strings.ToLower(k)] = vs
		}
	}
	ignore := func(name string) bool {
		switch name {
		case "host":
			return what == "header" // net/http moves it to req.Host, compared above
		case "transfer-encoding":
			return what == "header"
		case "trailer":
			return chunked
		}
		return false
	}
	for k, vs := range ours {
		if ignore(k) {
			continue
		}
		if _, kept := theirs[k]; k == "connection" && !kept && containsToken(vs, "close") {
			continue // http.ReadResponse drops "Connection: close" once it has noted it
		}
		if got := theirs[k]; strings.Join(got, "\x00") != strings.Join(vs, "\x00") {
			t.Fatalf("%s %q: net/http %q, sluice %q", what, k, got, vs)
		}
	}
	for k, vs := range theirs {
		if ignore(k) {
			continue
		}
		if _, ok := ours[k]; !ok {
			if k == "cache-control" && len(vs) == 1 && vs[0] == "no-cache" && ours["pragma"] != nil {
				continue
			}
			t.Fatalf("%s %q only in net/http: %q", what, k, vs)
		}
	}
}

// checkSplitInvariance parses data whole and in two pieces split at a point
// the data chooses, and requires identical traces.
func checkSplitInvariance(t *testing.T, c streamCase, data []byte) {
	if len(data) == 0 {
		return
	}
	cut := int(data[0]) * len(data) / 256
	whole := runSplit(c, [][]byte{data}).fullTrace()
	if got := runSplit(c, [][]byte{data[:cut], data[cut:]}).fullTrace(); got != whole {
		t.Fatalf("split at %d:\n%s\nwhole:\n%s\ninput %q", cut, got, whole, data)
	}
}

func containsToken(values []string, token string) bool {
	for _, v := range values {
		for _, e := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(e), token) {
				return true
			}
		}
	}
	return false
}
