package cluster

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/sluiceproxy/sluice/host/http1"
	"github.com/sluiceproxy/sluice/host/worker"
)

// answer returns a script that answers the requests on a connection with
// the canned responses in turn, then closes it.
func answer(responses ...string) func(int, net.Conn, *bufio.Reader) {
	return func(_ int, c net.Conn, br *bufio.Reader) {
		for _, resp := range responses {
			if req, _ := readRequest(br); req == nil {
				return
			}
			if _, err := io.WriteString(c, resp); err != nil {
				return
			}
		}
	}
}

// answerAndHold answers one request with resp and then keeps the
// connection open until the client closes it.
func answerAndHold(resp string) func(int, net.Conn, *bufio.Reader) {
	return func(_ int, c net.Conn, br *bufio.Reader) {
		readRequest(br)
		io.WriteString(c, resp)
		io.Copy(io.Discard, br)
	}
}

// oneEndpoint starts a scripted backend, one worker and a cluster on it.
func oneEndpoint(t *testing.T, script func(int, net.Conn, *bufio.Reader), s Settings) (*rawServer, *Cluster, *worker.Worker) {
	t.Helper()
	srv := newRawServer(t, script)
	ws := startWorkers(t, 1)
	s.Endpoints = []netip.AddrPort{srv.addr}
	return srv, newTestCluster(t, ws, s), ws[0]
}

func TestUpstreamClosesMidResponse(t *testing.T) {
	_, c, w := oneEndpoint(t, answer("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"), Settings{})
	r := roundTrip(t, w, c, newRecorder(getReq("/")))
	if r.eventString() != "ready, headers 200 end=false, data 10 end=false, reset connection_termination" {
		t.Fatalf("events %s", r.eventString())
	}
	if !errors.Is(r.err, http1.ErrTruncated) {
		t.Fatalf("err %v, want http1.ErrTruncated", r.err)
	}
	if st := c.Stats(); st.RqRxReset != 1 || st.CxActive != 0 || st.RqActive != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestUpstreamClosesBeforeAnsweringFreshConnection(t *testing.T) {
	srv, c, w := oneEndpoint(t, func(_ int, c net.Conn, br *bufio.Reader) { readRequest(br) }, Settings{})
	r := roundTrip(t, w, c, newRecorder(getReq("/")))
	// A fresh connection is never retried: the upstream may have acted.
	if r.eventString() != "ready, reset connection_termination" || r.err != ErrUpstreamClosed {
		t.Fatalf("events %s err %v", r.eventString(), r.err)
	}
	if st := c.Stats(); st.RqRetryStale != 0 || srv.conns.Load() != 1 {
		t.Fatalf("stats %+v, conns %d", st, srv.conns.Load())
	}
}

func TestMalformedResponses(t *testing.T) {
	for _, tc := range []struct {
		name, resp string
		want       *http1.Error
		events     string
	}{
		{"garbage status line", "HTTP/1.1 OK\r\n\r\n", http1.ErrBadStatusLine, "ready, reset protocol_error"},
		{"duplicate content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", http1.ErrDuplicateContentLength, "ready, reset protocol_error"},
		{"content-length and chunked", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", http1.ErrContentLengthAndChunked, "ready, reset protocol_error"},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", http1.ErrBadChunkSize, "ready, headers 200 end=false, reset protocol_error"},
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", http1.ErrBareLF, "ready, reset protocol_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c, w := oneEndpoint(t, answerAndHold(tc.resp), Settings{})
			r := roundTrip(t, w, c, newRecorder(getReq("/")))
			var he *http1.Error
			if !errors.As(r.err, &he) || he != tc.want || r.eventString() != tc.events {
				t.Fatalf("events %s err %v, want %v", r.eventString(), r.err, tc.want)
			}
			if st := c.Stats(); st.CxProtocolError != 1 || st.CxActive != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestUnexpected101IsProtocolError(t *testing.T) {
	_, c, w := oneEndpoint(t, answerAndHold("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"), Settings{})
	r := roundTrip(t, w, c, newRecorder(getReq("/")))
	if r.eventString() != "ready, reset protocol_error" || r.err != ErrUnexpected101 {
		t.Fatalf("events %s err %v", r.eventString(), r.err)
	}
}

func TestInformationalResponses(t *testing.T) {
	resp := "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	srv, c, w := oneEndpoint(t, answer(resp, resp), Settings{})
	r := roundTrip(t, w, c, newRecorder(getReq("/")))
	if r.eventString() != "ready, headers 200 end=false, data 2 end=true" {
		t.Fatalf("without InformationalHandler 1xx are swallowed: %s", r.eventString())
	}
	r = newRecorder(getReq("/"))
	r.info = true
	roundTrip(t, w, c, r)
	if r.eventString() != "ready, 1xx 100, 1xx 103, headers 200 end=false, data 2 end=true" {
		t.Fatalf("with InformationalHandler: %s", r.eventString())
	}
	if srv.conns.Load() != 1 {
		t.Fatalf("the connection must be reused after 1xx exchanges; conns %d", srv.conns.Load())
	}
}
