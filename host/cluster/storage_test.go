package cluster

import (
	"testing"
)

// storageRecorder is a recorder that provides its own Stream memory.
type storageRecorder struct {
	*recorder
	mem *Stream
}

func (s storageRecorder) UpstreamStream() *Stream { return s.mem }

func TestStreamStorageIsUsedAndReusable(t *testing.T) {
	g, _, c, w := gated(t, Settings{})
	var mem Stream
	for i := range 2 {
		r := newRecorder(getReq("/s"))
		var got *Stream
		onLoop(t, w, func() { got = c.NewStream(w, storageRecorder{r, &mem}) })
		if got != &mem {
			t.Fatalf("round %d: NewStream returned %p, want the handler's storage %p", i, got, &mem)
		}
		recv(t, g.got, "request")
		g.release <- struct{}{}
		r.wait(t)
		onLoop(t, w, func() {})
		if r.final != "end" {
			t.Fatalf("events %s", r.eventString())
		}
	}
	// Busy storage is not taken over by a second exchange.
	a, b := newRecorder(getReq("/a")), newRecorder(getReq("/b"))
	var sa, sb *Stream
	onLoop(t, w, func() {
		sa = c.NewStream(w, storageRecorder{a, &mem})
		sb = c.NewStream(w, storageRecorder{b, &mem})
	})
	if sa != &mem || sb == &mem || sb == nil {
		t.Fatalf("sa %p sb %p mem %p", sa, sb, &mem)
	}
	for range 2 {
		recv(t, g.got, "request")
		g.release <- struct{}{}
	}
	a.wait(t)
	b.wait(t)
}

// A handler that calls Reset on a stream it was told has finished must not
// disturb the request that now uses the same connection.
func TestStaleResetAfterFinishIsHarmless(t *testing.T) {
	g, srv, c, w := gated(t, Settings{})
	a := newRecorder(getReq("/a"))
	var sa *Stream
	onLoop(t, w, func() { sa = c.NewStream(w, a) })
	recv(t, g.got, "request a")
	g.release <- struct{}{}
	a.wait(t)

	b := newRecorder(getReq("/b"))
	start(t, w, c, b)
	recv(t, g.got, "request b") // b is in flight on a's connection
	onLoop(t, w, func() {
		sa.Reset()
		sa.SendData([]byte("junk"), true)
		sa.PauseResponse()
	})
	g.release <- struct{}{}
	b.wait(t)
	if string(b.got) != "/b" || b.final != "end" || srv.conns.Load() != 1 {
		t.Fatalf("b %s conns %d", b.eventString(), srv.conns.Load())
	}
	if st := c.Stats(); st.RqTxReset != 0 {
		t.Fatalf("a stale reset was counted: %+v", st)
	}
}
