package cluster_test

import (
	"net/netip"

	"github.com/sluiceproxy/sluice/host/cluster"
	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/worker"
)

// upstreamCall is how a router-like caller uses the pool: it owns the
// memory of its Stream (StreamStorage), sends the request when the pool is
// ready, and forgets the stream at the final event.
type upstreamCall struct {
	mem  cluster.Stream // storage for the pool: no allocation per request
	up   *cluster.Stream
	req  headers.Map
	resp headers.Map
	body []byte
	done func(status int, body []byte, err error)
}

func (u *upstreamCall) UpstreamStream() *cluster.Stream { return &u.mem }

func (u *upstreamCall) OnPoolReady(s *cluster.Stream, _ netip.AddrPort) {
	u.up = s
	s.SendHeaders(&u.req, true)
}

func (u *upstreamCall) OnPoolFailure(_ cluster.FailureReason, err error) {
	u.up = nil
	u.done(0, nil, err)
}

func (u *upstreamCall) OnResponseHeaders(h *headers.Map, end bool) {
	u.resp.CopyFrom(h) // h is only valid during the call
	if end {
		u.finish()
	}
}

func (u *upstreamCall) OnResponseData(p []byte, end bool) {
	u.body = append(u.body, p...)
	if end {
		u.finish()
	}
}

func (u *upstreamCall) OnResponseTrailers(*headers.Map) { u.finish() }

func (u *upstreamCall) OnReset(_ cluster.ResetReason, err error) {
	u.up = nil
	u.done(0, nil, err)
}

func (u *upstreamCall) OnUpstreamWritable() {}

func (u *upstreamCall) finish() {
	u.up = nil // finished: the stream must not be used any more
	u.done(u.resp.Status(), u.body, nil)
}

// Example shows a GET through a cluster's pool, started on the worker's
// loop thread.
func Example() {
	w, _ := worker.New(worker.Options{})
	go w.Run()
	defer w.Stop()
	m, _ := cluster.NewManagerWithSettings([]cluster.Settings{{
		Name:      "backend",
		Endpoints: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:8080")},
	}}, []*worker.Worker{w}, nil)
	defer m.Close()

	result := make(chan int, 1)
	call := &upstreamCall{done: func(status int, _ []byte, _ error) { result <- status }}
	call.req.AddString(":method", "GET")
	call.req.AddString(":path", "/")
	call.req.AddString(":authority", "backend")
	w.Post(func() {
		c := m.Get("backend")
		// nil: the stream already failed and done was called.
		call.up = c.NewStream(w, call)
	})
	<-result
}
