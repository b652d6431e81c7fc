package cluster

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"testing"

	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/worker"
)

// chain runs requests one after another on one worker; each next request
// starts from a post after the previous one finished.
type chain struct {
	w      *worker.Worker
	c      *Cluster
	req    *headers.Map
	left   int
	body   []byte
	failed string
	done   chan<- *chain
	start  func()
}

func (ch *chain) OnPoolReady(s *Stream, _ netip.AddrPort) { s.SendHeaders(ch.req, true) }
func (ch *chain) OnPoolFailure(r FailureReason, err error) {
	ch.failed = fmt.Sprintf("pool failure %v: %v", r, err)
	ch.done <- ch
}
func (ch *chain) OnResponseHeaders(h *headers.Map, end bool) {
	if h.Status() != 200 {
		ch.failed = fmt.Sprintf("status %d", h.Status())
	}
	if end {
		ch.next()
	}
}
func (ch *chain) OnResponseData(p []byte, end bool) {
	ch.body = append(ch.body, p...)
	if end {
		ch.next()
	}
}
func (ch *chain) OnResponseTrailers(*headers.Map) { ch.next() }
func (ch *chain) OnReset(r ResetReason, err error) {
	ch.failed = fmt.Sprintf("reset %v: %v", r, err)
	ch.done <- ch
}
func (ch *chain) OnUpstreamWritable() {}

func (ch *chain) next() {
	if string(ch.body) != "/stress" && ch.failed == "" {
		ch.failed = fmt.Sprintf("body %q", ch.body)
	}
	ch.body = ch.body[:0]
	ch.left--
	if ch.left == 0 || ch.failed != "" {
		ch.done <- ch
		return
	}
	ch.w.Post(ch.start)
}

// TestManyStreamsFewConnectionsTwoWorkers runs concurrent request chains on
// two workers against a cluster allowed only a few connections, so streams
// keep queueing, waking other workers and shedding idle connections. Every
// request must succeed and the bookkeeping must balance afterwards.
func TestManyStreamsFewConnectionsTwoWorkers(t *testing.T) {
	_, _, addr := httpBackend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) })
	ws := startWorkers(t, 2)
	const maxConns, chainsPerWorker, perChain = 3, 20, 25
	c := newTestCluster(t, ws, Settings{Endpoints: []netip.AddrPort{addr}, MaxConnections: maxConns})
	done := make(chan *chain, 2*chainsPerWorker)
	for _, w := range ws {
		for range chainsPerWorker {
			ch := &chain{w: w, c: c, req: getReq("/stress"), left: perChain, done: done}
			ch.start = func() { c.NewStream(ch.w, ch) }
			w.Post(ch.start)
		}
	}
	for range 2 * chainsPerWorker {
		ch := recv(t, done, "a request chain to finish")
		if ch.failed != "" {
			t.Fatalf("chain on worker %d with %d left: %s", ch.w.Index(), ch.left, ch.failed)
		}
	}
	st := waitStats(t, ws[0], c, "streams to drain", func(s Stats) bool { return s.RqActive == 0 })
	if st.RqTotal != 2*chainsPerWorker*perChain || st.RqCompleted != st.RqTotal || st.RqPendingActive != 0 {
		t.Fatalf("stats %+v", st)
	}
	if st.CxActive > maxConns || st.CxTotal-st.CxDestroyLocal-st.CxDestroyRemote != st.CxActive {
		t.Fatalf("connection accounting does not balance: %+v", st)
	}
	if st.RqPendingTotal == 0 {
		t.Fatalf("the test must exercise the pending queue: %+v", st)
	}
	t.Logf("stats %+v", st)
}
