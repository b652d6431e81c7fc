package module

import (
	"bufio"
	"bytes"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/host/cluster"
	"github.com/sluiceproxy/sluice/host/hcm"
	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/worker"
)

// cannedAuth answers every request with a small 200 carrying x-user-id,
// over keep-alive connections, as a fast authorization service would.
func cannedAuth(b *testing.B) netip.AddrPort {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	resp := []byte("HTTP/1.1 200 OK\r\nx-user-id: alice\r\ncontent-length: 0\r\n\r\n")
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadSlice('\n')
					if err != nil {
						return
					}
					if bytes.Equal(line, []byte("\r\n")) { // end of a head; checks have no body
						if _, err := c.Write(resp); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	b.Cleanup(func() { l.Close() })
	return netip.MustParseAddrPort(l.Addr().String())
}

// BenchmarkCalloutRoundTrip is the cost of one authorization check through
// a module: the ext_authz example on a stream, its callout to a keep-alive
// service, the done hook and continue_decoding, then the stream's end.
// One stream at a time on one worker, each started when the previous one
// ended: a latency-bound ping-pong, like cluster's BenchmarkPooledRoundTrip.
// "cluster_only" is the same exchange through cluster.StartCallout alone
// (no module, no stream), so the difference is the module layer.
func BenchmarkCalloutRoundTrip(b *testing.B) {
	auth := cannedAuth(b)
	b.Run("ext_authz", func(b *testing.B) {
		e := newCalloutEnv(b, 1, Options{}, auth)
		ff := e.factory("ext_authz", "ext_authz", `{"cluster": "auth", "path_prefix": "/check",
			"allowed_headers": ["authorization"], "allowed_upstream_headers": ["x-user-id"]}`)
		w := e.workers[0]
		cb := newFakeCallbacks(0, ":method", "GET", ":path", "/orders", "authorization", "Bearer good")
		done := make(chan struct{})
		left := 0
		var f hcm.StreamFilter
		var start func()
		start = func() {
			cb.ended, cb.reply = false, nil
			cb.req.Del("x-user-id")
			f = ff.NewFilter(cb)
			if st := f.DecodeHeaders(cb.req, true); st != hcm.HeadersStopAllIterationAndBuffer {
				b.Errorf("DecodeHeaders = %d", st)
				close(done)
			}
		}
		cb.onReply = func() { b.Errorf("local reply %+v", cb.reply); close(done) }
		cb.onContinue = func() {
			// Inside the done hook: the stream ends once it returned.
			endStream(cb, f)
			if left--; left <= 0 {
				close(done)
				return
			}
			w.Post(start)
		}
		run := func(n int) {
			left, done = n, make(chan struct{})
			w.Post(start)
			select {
			case <-done:
			case <-time.After(waitLimit * 3):
				b.Fatalf("stuck with %d checks left", left)
			}
		}
		run(100) // warm the pool
		b.ReportAllocs()
		b.ResetTimer()
		cpu := processCPU()
		run(b.N)
		b.StopTimer()
		reportCPU(b, cpu)
		if v, _ := cb.req.Get("x-user-id"); string(v) != "alice" {
			b.Fatalf("the check's answer did not reach the request: %q", v)
		}
	})
	b.Run("cluster_only", func(b *testing.B) {
		w, err := worker.New(worker.Options{Index: 0})
		if err != nil {
			b.Fatal(err)
		}
		go w.Run()
		mgr, err := cluster.NewManagerWithSettings([]cluster.Settings{{Name: "auth", Endpoints: []netip.AddrPort{auth}}},
			[]*worker.Worker{w}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			mgr.Close()
			w.Stop()
			<-w.Done()
		})
		h := &calloutLoop{w: w, c: mgr.Get("auth")}
		h.run(b, 100)
		b.ReportAllocs()
		b.ResetTimer()
		cpu := processCPU()
		h.run(b, b.N)
		b.StopTimer()
		reportCPU(b, cpu)
	})
}

// processCPU is the process's user + system CPU time so far. The
// round trips are latency-bound (wall time moves with the machine's
// load); CPU per round trip is the stable figure. It includes the test's
// own service, the same in both sub-benchmarks.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, since time.Duration) {
	b.ReportMetric(float64(processCPU()-since)/float64(b.N), "cpu-ns/op")
}

// calloutLoop runs callouts back to back on one worker.
type calloutLoop struct {
	w    *worker.Worker
	c    *cluster.Cluster
	left int
	done chan struct{}
	fail *cluster.CalloutResult
}

func (l *calloutLoop) start() {
	h := &headers.Map{}
	h.AddString(":method", "GET")
	h.AddString(":path", "/check/orders")
	h.AddString(":authority", "auth")
	h.AddString(":scheme", "http")
	h.AddString("authorization", "Bearer good")
	l.c.StartCallout(l.w, cluster.CalloutRequest{Headers: h, Timeout: 5 * time.Second}, l)
}

func (l *calloutLoop) OnCalloutDone(r *cluster.CalloutResult) {
	if r.Failure != cluster.CalloutOK {
		l.fail = r
		close(l.done)
		return
	}
	if l.left--; l.left <= 0 {
		close(l.done)
		return
	}
	l.w.Post(l.start)
}

func (l *calloutLoop) run(b *testing.B, n int) {
	l.left, l.done = n, make(chan struct{})
	l.w.Post(l.start)
	select {
	case <-l.done:
	case <-time.After(waitLimit * 3):
		b.Fatalf("stuck with %d callouts left", l.left)
	}
	if l.fail != nil {
		b.Fatalf("callout failed: %v", l.fail.Err)
	}
}
