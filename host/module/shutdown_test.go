package module

import (
	"testing"
	"time"
	"unsafe"

	"github.com/ebitengine/purego"

	"github.com/sluiceproxy/sluice/host/hcm"
)

// leakStats reads sched_leak's counters.
type leakStats struct{ created, accepted, refused, delivered uint64 }

func readLeakStats(t *testing.T, m *Module) leakStats {
	var s leakStats
	purego.SyscallN(sym(t, m, "leak_stats"), uintptr(unsafe.Pointer(&s.created)), uintptr(unsafe.Pointer(&s.accepted)),
		uintptr(unsafe.Pointer(&s.refused)), uintptr(unsafe.Pointer(&s.delivered)))
	return s
}

// A module that never deletes its schedulers holds none beyond its live
// streams: each is reclaimed when its filter is destroyed, counted in
// schedulers_leaked, and logged once per filter config. The module's
// thread keeps committing through the stale handles (refused, counted),
// and then through the host's shutdown: those commits are refused as
// closed, and nothing crashes.
func TestLeakedSchedulersAreReclaimedAndCommitsAtShutdownRefused(t *testing.T) {
	e, logs := newObservedEnv(t, 2, Options{})
	ff := e.factory("sched_leak", "leak", `{}`)
	m := ff.mod
	t.Cleanup(func() { purego.SyscallN(sym(t, m, "leak_stop")) }) // after the host's Close (cleanups run last first)
	const streams = 50
	var live *fakeCallbacks
	var liveFilter hcm.StreamFilter
	liveWorker := (streams - 1) % 2
	for i := 0; i < streams; i++ {
		w := i % 2
		e.on(w, func() {
			cb := newFakeCallbacks(w, ":method", "GET")
			f := ff.NewFilter(cb)
			if st := f.DecodeHeaders(cb.req, true); st != hcm.HeadersContinue {
				t.Errorf("DecodeHeaders = %d", st)
			}
			if i == streams-1 {
				live, liveFilter = cb, f // stays open: its schedulers are in use
				return
			}
			endStream(cb, f)
		})
	}
	s := e.host.Stats()
	if s.SchedulersLeaked != 3*(streams-1) || s.SchedulersLive != 3 {
		t.Fatalf("schedulers_leaked %d (want %d), schedulers_live %d (want 3: the open stream's)", s.SchedulersLeaked, 3*(streams-1), s.SchedulersLive)
	}
	if n := logs.FilterMessageSnippet("module filter destroyed with schedulers it did not delete").Len(); n != 1 {
		t.Fatalf("the leak was logged %d times, want once", n)
	}
	// The thread's commits through the reclaimed handles are refused and
	// counted; those through the open stream's are delivered.
	e.eventually(liveWorker, "stale commits refused and live ones delivered", func() bool {
		st := readLeakStats(t, m)
		return e.host.Stats().CommitsRejectedStale > 0 && st.delivered > 0
	})
	e.on(liveWorker, func() { endStream(live, liveFilter) })
	e.eventually(0, "every scheduler reclaimed", func() bool { return e.host.Stats().SchedulersLive == 0 })

	// Shutdown with the thread still committing.
	for _, w := range e.workers {
		w.Stop()
		<-w.Done()
	}
	e.host.Close()
	before := readLeakStats(t, m).refused
	closed := e.host.Stats().CommitsRejectedClosed
	deadline := time.Now().Add(waitLimit)
	for readLeakStats(t, m).refused < before+uint64(3*streams) || e.host.Stats().CommitsRejectedClosed == closed {
		if time.Now().After(deadline) {
			t.Fatalf("commits after Close: module refused %d (before %d), rejected_closed %d (before %d)",
				readLeakStats(t, m).refused, before, e.host.Stats().CommitsRejectedClosed, closed)
		}
		time.Sleep(time.Millisecond) // poll interval, not synchronisation
	}
	if st, s := readLeakStats(t, m), e.host.Stats(); st.delivered != s.Commits || st.accepted < st.delivered {
		t.Fatalf("module: accepted %d, delivered %d; host: delivered %d", st.accepted, st.delivered, s.Commits)
	}
}
