package cluster

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/worker"
)

// mixedStream is one randomized exchange of the HTTP/2 stress test: it
// uploads under flow control, may pause after every response piece, and
// may abandon the stream partway. It reports exactly once.
type mixedStream struct {
	w          *worker.Worker
	s          *Stream
	req        headers.Map
	up         []byte
	sent       int
	wantDown   int
	got        int
	pause      bool
	resetAfter int  // response bytes after which the stream is abandoned; -1 never
	abort      bool // the server aborts the stream after the headers
	trailer    string
	outcome    string
	done       chan<- *mixedStream
}

func (m *mixedStream) report(outcome string) {
	if m.outcome != "" {
		m.outcome += " AND " + outcome // a second final event is a bug
		return
	}
	m.outcome = outcome
	m.done <- m
}

func (m *mixedStream) OnPoolReady(s *Stream, _ netip.AddrPort) {
	m.s = s
	s.SendHeaders(&m.req, len(m.up) == 0)
	m.pump()
}

func (m *mixedStream) pump() {
	for m.sent < len(m.up) && m.s != nil && !m.s.AboveWriteWatermark() {
		n := min(20000, len(m.up)-m.sent)
		m.s.SendData(m.up[m.sent:m.sent+n], m.sent+n == len(m.up))
		m.sent += n
	}
}

func (m *mixedStream) OnPoolFailure(r FailureReason, err error) {
	m.report(fmt.Sprintf("pool failure %v: %v", r, err))
}

func (m *mixedStream) OnResponseHeaders(h *headers.Map, end bool) {
	if h.Status() != 200 {
		m.report(fmt.Sprintf("status %d", h.Status()))
		return
	}
	if end {
		m.report("no body")
	}
}

func (m *mixedStream) OnResponseData(p []byte, end bool) {
	m.got += len(p)
	if end {
		m.report("ended without trailers")
		return
	}
	if m.resetAfter >= 0 && m.got >= m.resetAfter {
		s := m.s
		m.s = nil
		s.Reset()
		m.report("abandoned")
		return
	}
	if m.pause {
		s := m.s
		s.PauseResponse()
		m.w.Post(s.ResumeResponse)
	}
}

func (m *mixedStream) OnResponseTrailers(t *headers.Map) {
	v, _ := t.Get("x-upload")
	m.trailer = string(v)
	m.report("end")
}

func (m *mixedStream) OnReset(r ResetReason, err error) {
	m.report(fmt.Sprintf("reset %v: %v", r, err))
}

func (m *mixedStream) OnUpstreamWritable() { m.pump() }

// TestH2MixedStreamsStressTwoWorkers runs many concurrent HTTP/2
// exchanges of random sizes over two workers and few connections, with
// pauses and abandoned streams; every one must end exactly once,
// correctly, and the pools must end with nothing active.
func TestH2MixedStreamsStressTwoWorkers(t *testing.T) {
	const n = 120
	srv := newH2Server(t, func(w http.ResponseWriter, r *http.Request) {
		up, _ := io.Copy(io.Discard, r.Body)
		if r.URL.Query().Get("abort") != "" {
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // RST_STREAM(INTERNAL_ERROR)
		}
		size, _ := strconv.Atoi(r.URL.Query().Get("down"))
		w.Header().Set("Trailer", "X-Upload")
		chunk := bytes.Repeat([]byte("d"), 7000)
		for left := size; left > 0; left -= len(chunk) {
			if _, err := w.Write(chunk[:min(left, len(chunk))]); err != nil {
				return // the client abandoned the stream
			}
		}
		w.Header().Set("X-Upload", strconv.FormatInt(up, 10))
	})
	ws := startWorkers(t, 2)
	c := newTestCluster(t, ws, Settings{HTTP2: true, Endpoints: []netip.AddrPort{srv.addr}, MaxConnections: 3,
		HTTP2Options: HTTP2Options{MaxConcurrentStreams: 16, InitialStreamWindowSize: minWindow, InitialConnectionWindowSize: 4 * minWindow}})
	rng := rand.New(rand.NewPCG(1, 2))
	done := make(chan *mixedStream, n)
	var all []*mixedStream
	for i := range n {
		m := &mixedStream{w: ws[i%2], done: done, resetAfter: -1, pause: rng.IntN(3) == 0}
		m.up = make([]byte, rng.IntN(200<<10))
		m.wantDown = 1 + rng.IntN(300<<10)
		switch rng.IntN(10) {
		case 0, 1:
			m.resetAfter = rng.IntN(m.wantDown)
		case 2:
			m.abort = true
		}
		m.req.AddString(":method", "POST")
		m.req.AddString(":scheme", "http")
		m.req.AddString(":authority", "backend.test")
		path := "/mixed?down=" + strconv.Itoa(m.wantDown)
		if m.abort {
			path += "&abort=1"
		}
		m.req.AddString(":path", path)
		all = append(all, m)
	}
	for _, w := range ws {
		onLoop(t, w, func() {
			for _, m := range all {
				if m.w == w {
					c.NewStream(w, m)
				}
			}
		})
	}
	for k := range n {
		select {
		case <-done:
		case <-time.After(waitLimit):
			var b strings.Builder
			for _, w := range ws {
				onLoop(t, w, func() {
					for i, m := range all {
						if m.w != w || m.outcome != "" {
							continue
						}
						fmt.Fprintf(&b, "\nstream %d up %d/%d down %d/%d pause %v reset %d", i, m.sent, len(m.up), m.got, m.wantDown, m.pause, m.resetAfter)
						if s := m.s; s != nil {
							fmt.Fprintf(&b, " state %d paused %v reqDone %v", s.state, s.paused, s.reqDone)
							if st := s.hs; st != nil && st.cc != nil {
								fmt.Fprintf(&b, " id %d out %d sw %d csw %d rw %d held %d sentEnd %v blocked %v want %v cconn %p above %v",
									st.id, len(st.out), st.sendWindow, st.cc.sendWindow, st.recvWindow, len(st.held), st.sentEnd, st.inBlocked, st.wantWritable, st.cc, st.cc.conn.AboveHighWatermark())
							}
						}
					}
				})
			}
			t.Fatalf("%d of %d streams ended; %s%s", k, n, poolState(t, c), b.String())
		}
	}
	for i, m := range all {
		var bad bool
		onLoop(t, m.w, func() {
			switch m.outcome {
			case "end":
				bad = m.got != m.wantDown || m.trailer != strconv.Itoa(len(m.up))
			case "abandoned":
				bad = m.resetAfter < 0
			case "reset remote_reset: cluster: upstream reset the stream: INTERNAL_ERROR":
				bad = !m.abort
			default:
				bad = true
			}
		})
		if bad {
			t.Fatalf("stream %d (up %d, down %d, pause %v, reset after %d): %s, got %d, trailer %q",
				i, len(m.up), m.wantDown, m.pause, m.resetAfter, m.outcome, m.got, m.trailer)
		}
	}
	st := waitStats(t, ws[0], c, "nothing active", func(s Stats) bool { return s.RqActive == 0 })
	if st.CxActive > 3 || st.RqTotal != n {
		t.Fatalf("stats %+v", st)
	}
}
