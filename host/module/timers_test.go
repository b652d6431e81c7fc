package module

import (
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/ebitengine/purego"

	"github.com/sluiceproxy/sluice/host/hcm"
)

func timerStats(t *testing.T, m *Module) [3]int64 {
	var out [3]int64
	purego.SyscallN(sym(t, m, "tm_stats"), uintptr(unsafe.Pointer(&out[0])))
	return out
}

// A filter's timer fires on its worker after its delay; a disabled and a
// deleted timer never fire; a filter destroyed before its timer is due
// gets nothing, and its timers' handles are stale.
func TestTimersFireOnTheWorker(t *testing.T) {
	e := newEnv(t, 1, Options{})
	ff := e.factory("timers", "tm", `{}`)
	base := timerStats(t, ff.mod)
	cb := newFakeCallbacks(0, ":method", "GET", "x-delay-ms", "30")
	start := time.Now()
	var f hcm.StreamFilter
	e.on(0, func() {
		f = ff.NewFilter(cb)
		if st := f.DecodeHeaders(cb.req, true); st != hcm.HeadersStopIteration {
			t.Errorf("DecodeHeaders = %d", st)
		}
	})
	cb.wait(t, "reply")
	if time.Since(start) < 30*time.Millisecond {
		t.Fatalf("timer fired after %v, before its 30 ms", time.Since(start))
	}
	e.on(0, func() {
		if cb.reply.status != 200 || !strings.HasPrefix(cb.reply.body, "timer fired after ") {
			t.Errorf("reply %+v", cb.reply)
		}
		endStream(cb, f)
	})
	// The disabled and deleted timers (5 ms) would have fired before the
	// 30 ms one: timers fire in deadline order.
	st := timerStats(t, ff.mod)
	if st[0] != base[0]+1 || st[1] != base[1] || st[2] != base[2] {
		t.Fatalf("fired %d, wrong timer %d, wrong thread %d", st[0]-base[0], st[1]-base[1], st[2]-base[2])
	}

	// Destroyed before due: nothing fires, the timer table is empty again.
	cb2 := newFakeCallbacks(0, ":method", "GET", "x-delay-ms", "10")
	e.on(0, func() {
		g := ff.NewFilter(cb2)
		g.DecodeHeaders(cb2.req, true)
		endStream(cb2, g)
	})
	done := make(chan struct{})
	e.on(0, func() { e.workers[0].AfterFunc(50*time.Millisecond, func() { close(done) }) })
	<-done // the destroyed filter's 10 ms timer would have fired by now
	if st2 := timerStats(t, ff.mod); st2[0] != st[0] || st2[1] != st[1] {
		t.Fatalf("a destroyed filter's timer fired: %v", st2)
	}
	e.on(0, func() {
		if n := e.host.workers[0].timers.count(); n != 0 {
			t.Errorf("%d timers left after their filters were destroyed", n)
		}
	})
}
