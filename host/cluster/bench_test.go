package cluster

import (
	"bufio"
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/worker"
)

// cannedBackend answers every GET with the same small response, reading
// into a fixed buffer so that it adds no allocations of its own.
func cannedBackend(b *testing.B) *rawServer {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
	end := []byte("\r\n\r\n")
	srv := newRawServer(b, func(_ int, c net.Conn, _ *bufio.Reader) {
		buf := make([]byte, 64<<10)
		have := 0
		for {
			n, err := c.Read(buf[have:])
			if err != nil {
				return
			}
			have += n
			for {
				i := bytes.Index(buf[:have], end)
				if i < 0 {
					break
				}
				copy(buf, buf[i+4:have])
				have -= i + 4
				if _, err := c.Write(resp); err != nil {
					return
				}
			}
		}
	})
	return srv
}

// benchHandler runs n sequential requests, each started from a post once
// the previous exchange is complete (so the connection is back in the pool).
type benchHandler struct {
	storage Stream
	w       *worker.Worker
	c       *Cluster
	req     *headers.Map
	left    int
	start   func()
	done    chan struct{}
	fail    error
}

func (h *benchHandler) OnPoolReady(s *Stream, _ netip.AddrPort) { s.SendHeaders(h.req, true) }

// benchStorageHandler hands its own Stream memory to the pool.
type benchStorageHandler struct{ *benchHandler }

func (h benchStorageHandler) UpstreamStream() *Stream { return &h.storage }
func (h *benchHandler) OnPoolFailure(_ FailureReason, err error) {
	h.fail = err
	close(h.done)
}
func (h *benchHandler) OnResponseHeaders(_ *headers.Map, end bool) {
	if end {
		h.next()
	}
}
func (h *benchHandler) OnResponseData(_ []byte, end bool) {
	if end {
		h.next()
	}
}
func (h *benchHandler) OnResponseTrailers(*headers.Map) { h.next() }
func (h *benchHandler) OnReset(_ ResetReason, err error) {
	h.fail = err
	close(h.done)
}
func (h *benchHandler) OnUpstreamWritable() {}

func (h *benchHandler) next() {
	h.left--
	if h.left <= 0 {
		close(h.done)
		return
	}
	h.w.Post(h.start)
}

// BenchmarkPooledRoundTrip is one keep-alive GET round trip through the
// pool with handler-provided Stream storage (how the router uses it).
func BenchmarkPooledRoundTrip(b *testing.B) { benchRoundTrip(b, true) }

// BenchmarkPooledRoundTripNoStorage is the same with a pool-allocated
// Stream: one small allocation per request.
func BenchmarkPooledRoundTripNoStorage(b *testing.B) { benchRoundTrip(b, false) }

func benchRoundTrip(b *testing.B, storage bool) {
	srv := cannedBackend(b)
	ws := startWorkers(b, 1)
	c := newTestCluster(b, ws, Settings{Endpoints: []netip.AddrPort{srv.addr}})
	h := &benchHandler{w: ws[0], c: c, req: getReq("/bench")}
	h.req.AddString("user-agent", "sluice-bench")
	h.req.AddString("accept", "*/*")
	var rh ResponseHandler = h
	if storage {
		rh = benchStorageHandler{h}
	}
	h.start = func() { c.NewStream(h.w, rh) }
	run := func(n int) {
		h.left, h.done = n, make(chan struct{})
		ws[0].Post(h.start)
		<-h.done
		if h.fail != nil {
			b.Fatal(h.fail)
		}
	}
	run(100) // warm up: connection, buffers
	b.ReportAllocs()
	b.ResetTimer()
	run(b.N)
	b.StopTimer()
	if st := c.Stats(); st.CxTotal != 1 {
		b.Fatalf("the benchmark must reuse one connection: %+v", st)
	}
}
