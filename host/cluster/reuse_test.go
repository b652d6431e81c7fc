package cluster

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// echoPath answers with the request path as the body, keep-alive.
func echoPath(c net.Conn, req *http.Request) {
	fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(req.URL.Path), req.URL.Path)
}

func TestStaleIdleConnectionIsRetriedOnce(t *testing.T) {
	srv, c, w := oneEndpoint(t, func(i int, conn net.Conn, br *bufio.Reader) {
		req, _ := readRequest(br)
		if req == nil {
			return
		}
		if i == 0 {
			echoPath(conn, req)
			readRequest(br) // the second request meets a connection about to close
			return
		}
		echoPath(conn, req)
		io.Copy(io.Discard, br)
	}, Settings{})
	if r := roundTrip(t, w, c, newRecorder(getReq("/first"))); string(r.got) != "/first" {
		t.Fatalf("first: %s", r.eventString())
	}
	r := roundTrip(t, w, c, newRecorder(getReq("/second")))
	if r.eventString() != "ready, headers 200 end=false, data 7 end=true" || string(r.got) != "/second" {
		t.Fatalf("the retry must be invisible to the handler: %s %q", r.eventString(), r.got)
	}
	if st := c.Stats(); st.RqRetryStale != 1 || st.CxTotal != 2 || st.RqTotal != 2 || st.CxActive != 1 {
		t.Fatalf("stats %+v", st)
	}
	if srv.conns.Load() != 2 {
		t.Fatalf("conns %d", srv.conns.Load())
	}
}

func TestStaleRetryHappensOnlyOnce(t *testing.T) {
	_, c, w := oneEndpoint(t, func(i int, conn net.Conn, br *bufio.Reader) {
		req, _ := readRequest(br)
		if req == nil || i > 0 {
			return // the fresh connection dies too
		}
		echoPath(conn, req)
		readRequest(br)
	}, Settings{})
	roundTrip(t, w, c, newRecorder(getReq("/first")))
	r := roundTrip(t, w, c, newRecorder(getReq("/second")))
	if r.eventString() != "ready, reset connection_termination" || r.err != ErrUpstreamClosed {
		t.Fatalf("events %s err %v", r.eventString(), r.err)
	}
	if st := c.Stats(); st.RqRetryStale != 1 || st.CxActive != 0 || st.RqActive != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestStaleConnectionDoesNotRetryPost(t *testing.T) {
	srv, c, w := oneEndpoint(t, func(i int, conn net.Conn, br *bufio.Reader) {
		req, _ := readRequest(br)
		if req == nil {
			return
		}
		echoPath(conn, req)
		readRequest(br)
	}, Settings{})
	roundTrip(t, w, c, newRecorder(getReq("/first")))
	r := newRecorder(reqWith("POST", "/order"))
	r.body = [][]byte{[]byte("buy")}
	roundTrip(t, w, c, r)
	if r.eventString() != "ready, reset connection_termination" {
		t.Fatalf("a POST may have been acted on; it must not be replayed: %s", r.eventString())
	}
	if st := c.Stats(); st.RqRetryStale != 0 || srv.conns.Load() != 1 {
		t.Fatalf("stats %+v conns %d", st, srv.conns.Load())
	}
}

func TestIdleConnectionClosedByPeerIsRemoved(t *testing.T) {
	srv, c, w := oneEndpoint(t, answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), Settings{})
	roundTrip(t, w, c, newRecorder(getReq("/")))
	st := waitStats(t, w, c, "the pool to drop the closed connection", func(s Stats) bool { return s.CxActive == 0 })
	if st.CxDestroyRemote+st.CxDestroyLocal != 1 {
		t.Fatalf("stats %+v", st)
	}
	r := roundTrip(t, w, c, newRecorder(getReq("/")))
	if r.final != "end" || srv.conns.Load() != 2 || c.Stats().RqRetryStale != 0 {
		t.Fatalf("events %s conns %d stats %+v", r.eventString(), srv.conns.Load(), c.Stats())
	}
}

func TestIdleTimeoutClosesIdleConnections(t *testing.T) {
	clientClosed := make(chan struct{})
	_, c, w := oneEndpoint(t, func(_ int, conn net.Conn, br *bufio.Reader) {
		req, _ := readRequest(br)
		echoPath(conn, req)
		io.Copy(io.Discard, br) // returns when the pool closes the connection
		close(clientClosed)
	}, Settings{IdleTimeout: 30 * time.Millisecond})
	roundTrip(t, w, c, newRecorder(getReq("/")))
	recv(t, clientClosed, "the idle timeout to close the connection")
	if st := c.Stats(); st.CxIdleTimeout != 1 || st.CxActive != 0 || st.CxDestroyLocal != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestHeadResponseWithContentLengthHasNoBody(t *testing.T) {
	srv, c, w := oneEndpoint(t, answer(
		"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"), Settings{})
	r := roundTrip(t, w, c, newRecorder(reqWith("HEAD", "/big")))
	if r.eventString() != "ready, headers 200 end=true" {
		t.Fatalf("events %s", r.eventString())
	}
	if v, _ := r.resp.Get("content-length"); string(v) != "1000" {
		t.Fatalf("content-length %q must be passed on", v)
	}
	// The next response on the same connection starts right after the head.
	r = roundTrip(t, w, c, newRecorder(getReq("/")))
	if string(r.got) != "abc" || srv.conns.Load() != 1 {
		t.Fatalf("events %s body %q conns %d", r.eventString(), r.got, srv.conns.Load())
	}
}

func TestConnectionNotReusedWhenAnyoneSaysClose(t *testing.T) {
	for _, tc := range []struct {
		name, resp string
		reqClose   bool
		reused     bool
	}{
		{"response connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", false, false},
		{"http/1.0 default", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false, false},
		{"http/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", false, true},
		{"request connection close", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true, false},
		{"http/1.1 default", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, c, w := oneEndpoint(t, func(_ int, conn net.Conn, br *bufio.Reader) {
				for {
					if req, _ := readRequest(br); req == nil {
						return
					}
					io.WriteString(conn, tc.resp)
				}
			}, Settings{})
			for range 2 {
				req := getReq("/")
				if tc.reqClose {
					req.AddString("connection", "close")
				}
				if r := roundTrip(t, w, c, newRecorder(req)); string(r.got) != "ok" {
					t.Fatalf("events %s", r.eventString())
				}
			}
			want := int32(2)
			if tc.reused {
				want = 1
			}
			if srv.conns.Load() != want {
				t.Fatalf("backend saw %d connections, want %d", srv.conns.Load(), want)
			}
		})
	}
}

func TestBodyDelimitedByClose(t *testing.T) {
	_, c, w := oneEndpoint(t, answer("HTTP/1.1 200 OK\r\n\r\nstreamed until close"), Settings{})
	r := roundTrip(t, w, c, newRecorder(getReq("/")))
	if string(r.got) != "streamed until close" || r.final != "end" {
		t.Fatalf("events %s body %q", r.eventString(), r.got)
	}
	if last := r.events[len(r.events)-1]; last != "data 0 end=true" {
		t.Fatalf("the end comes with the EOF: %s", r.eventString())
	}
	if st := c.Stats(); st.CxActive != 0 || st.RqCompleted != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMaxRequestsPerConnection(t *testing.T) {
	srv, c, w := oneEndpoint(t, func(_ int, conn net.Conn, br *bufio.Reader) {
		for {
			req, _ := readRequest(br)
			if req == nil {
				return
			}
			echoPath(conn, req)
		}
	}, Settings{MaxRequestsPerConnection: 2})
	for range 5 {
		if r := roundTrip(t, w, c, newRecorder(getReq("/x"))); r.final != "end" {
			t.Fatalf("events %s", r.eventString())
		}
	}
	if srv.conns.Load() != 3 {
		t.Fatalf("conns %d, want 3 for 5 requests at 2 per connection", srv.conns.Load())
	}
	if st := c.Stats(); st.CxMaxRequests != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestLargeRequestIsNotReplayed(t *testing.T) {
	_, c, w := oneEndpoint(t, func(i int, conn net.Conn, br *bufio.Reader) {
		req, _ := readRequest(br)
		if req == nil {
			return
		}
		echoPath(conn, req)
		readRequest(br) // the big PUT meets a connection about to close
	}, Settings{})
	roundTrip(t, w, c, newRecorder(getReq("/first")))
	r := newRecorder(reqWith("PUT", "/big", "content-length", "100000"))
	r.body = [][]byte{make([]byte, 100000)}
	roundTrip(t, w, c, r)
	if r.eventString() != "ready, reset connection_termination" || c.Stats().RqRetryStale != 0 {
		t.Fatalf("a request over the 64 KiB replay buffer cannot be replayed: %s %+v", r.eventString(), c.Stats())
	}
}

func TestResetWhileConnectingLeavesConnectionToThePool(t *testing.T) {
	srv, c, w := oneEndpoint(t, func(_ int, conn net.Conn, br *bufio.Reader) {
		for {
			req, _ := readRequest(br)
			if req == nil {
				return
			}
			echoPath(conn, req)
		}
	}, Settings{})
	quit := newRecorder(getReq("/never"))
	onLoop(t, w, func() {
		s := c.NewStream(w, quit)
		if s == nil {
			t.Error("stream must be connecting")
			return
		}
		s.Reset()
	})
	waitStats(t, w, c, "the abandoned connection to finish connecting", func(s Stats) bool {
		return s.CxActive == 1 && c.pools[0].idleCount.Load() == 1
	})
	r := roundTrip(t, w, c, newRecorder(getReq("/next")))
	if string(r.got) != "/next" || srv.conns.Load() != 1 || len(quit.events) != 0 {
		t.Fatalf("events %s conns %d quit %s", r.eventString(), srv.conns.Load(), quit.eventString())
	}
	if st := c.Stats(); st.RqTxReset != 1 || st.RqTotal != 1 {
		t.Fatalf("stats %+v", st)
	}
}
