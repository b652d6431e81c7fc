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

// A module that never deletes its schedulers holds a bounded number of
// them: a filter's undeleted schedulers outlive it only up to the
// worker's orphan limit, past which the oldest are reclaimed, counted in
// schedulers_leaked and logged once per filter config. The module's thread
// keeps committing through the stale handles (refused, counted), and then
// through the host's shutdown: those commits are refused as closed, and
// nothing crashes.
func TestLeakedSchedulersAreBoundedAndCommitsAtShutdownRefused(t *testing.T) {
	e, logs := newObservedEnv(t, 2, Options{})
	ff := e.factory("sched_leak", "leak", `3`)
	m := ff.mod
	t.Cleanup(func() { purego.SyscallN(sym(t, m, "leak_stop")) }) // after the host's Close (cleanups run last first)
	const limit = 30
	for i := range e.workers {
		e.on(i, func() { e.host.workers[i].sched.orphanLimit = limit })
	}
	// Worker 0 runs 25 streams (75 schedulers), worker 1 runs 24 and
	// keeps a 25th open.
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
	if want := (75 - limit) + (72 - limit); s.SchedulersLeaked != uint64(want) || s.SchedulersLive != 2*limit+3 {
		t.Fatalf("schedulers_leaked %d (want %d), schedulers_live %d (want %d)", s.SchedulersLeaked, want, s.SchedulersLive, 2*limit+3)
	}
	if n := logs.FilterMessageSnippet("module leaks schedulers").Len(); n != 1 {
		t.Fatalf("the leak was logged %d times, want once", n)
	}
	// The thread's commits through the ended streams' handles are refused
	// and counted; those through the open stream's are delivered.
	e.eventually(liveWorker, "stale commits refused and live ones delivered", func() bool {
		return e.host.Stats().CommitsRejectedStale > 0 && readLeakStats(t, m).delivered > 0
	})
	e.on(liveWorker, func() { endStream(live, liveFilter) })
	if s := e.host.Stats(); s.SchedulersLive != 2*limit || s.SchedulersLeaked != (75-limit)+(75-limit) {
		t.Fatalf("after the last stream: schedulers_live %d, leaked %d", s.SchedulersLive, s.SchedulersLeaked)
	}

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

// A module that deletes its schedulers from its own thread just after
// the stream ended (the usual pattern) leaks nothing: the orphans are
// reclaimed as it deletes them.
func TestSchedulersDeletedAfterDestroyAreNotLeaks(t *testing.T) {
	e := newEnv(t, 1, Options{})
	ff := e.factory("commit_after_destroy", "cad", `{}`)
	for i := 0; i < 3; i++ {
		cb := newFakeCallbacks(0, ":method", "GET")
		e.on(0, func() {
			f := ff.NewFilter(cb)
			f.DecodeHeaders(cb.req, true)
			endStream(cb, f)
		})
		purego.SyscallN(sym(t, ff.mod, "cad_wait_commit")) // commits, then deletes
		e.eventually(0, "the deleted orphan reclaimed", func() bool { return e.host.Stats().SchedulersLive == 0 })
	}
	if n := e.host.Stats().SchedulersLeaked; n != 0 {
		t.Fatalf("schedulers_leaked = %d for a module that deletes its schedulers", n)
	}
	e.on(0, func() {
		if d := e.host.workers[0].sched; d.orphans != 0 || len(d.orphanq) > 3 {
			t.Errorf("orphans %d, queue %d", d.orphans, len(d.orphanq))
		}
	})
}
