package module

import (
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/ebitengine/purego"

	"github.com/sluiceproxy/sluice/host/hcm"
)

// A commit made after the filter was destroyed (scheduler not deleted yet)
// is accepted by the ring, then dropped by the worker and counted; the
// module's on_scheduled never runs for it.
func TestCommitAfterDestroyIsDropped(t *testing.T) {
	e := newEnv(t, 1, Options{})
	ff := e.factory("commit_after_destroy", "cad", `{}`)
	m := ff.mod
	cb := newFakeCallbacks(0, ":method", "GET")
	e.on(0, func() {
		f := ff.NewFilter(cb)
		if st := f.DecodeHeaders(cb.req, true); st != hcm.HeadersStopIteration {
			t.Errorf("DecodeHeaders = %d", st)
		}
		endStream(cb, f)
	})
	r, _, _ := purego.SyscallN(sym(t, m, "cad_wait_commit"))
	if int32(r) != 1 {
		t.Fatalf("late commit returned %d, want 1 (queued)", int32(r))
	}
	e.eventually(0, "late commit dropped", func() bool { return e.host.Stats().CommitsDropped == 1 })
	if n, _, _ := purego.SyscallN(sym(t, m, "cad_scheduled_calls")); n != 0 {
		t.Fatalf("on_scheduled ran %d times for a destroyed filter", n)
	}
	// The module deleted the scheduler (before cad_wait_commit returned)
	// after its filter was gone: the worker's sweep timer reclaims it.
	e.eventually(0, "orphaned scheduler reclaimed", func() bool { return e.host.Stats().SchedulersLive == 0 })
	if s := e.host.Stats(); s.Commits != 0 {
		t.Fatalf("commits %d, want 0", s.Commits)
	}
}

// A module thread floods one scheduler while the worker is busy: the ring
// takes exactly its capacity, refuses the rest (counted), delivers what it
// took in commit order, and the worker keeps serving other streams.
func TestCommitStormIsContained(t *testing.T) {
	const ringSize, storm = 1024, 200000
	e := newEnv(t, 1, Options{RingSize: ringSize})
	ff := e.factory("commit_storm", "storm", `{}`)
	stats := sym(t, ff.mod, "storm_stats")
	out, err := cAlloc(4 * 8)
	if err != nil {
		t.Fatal(err)
	}
	defer cFree(out)
	raw := func() [4]uint64 {
		v := unsafe.Slice((*uint64)(unsafe.Pointer(&out[0])), 4)
		purego.SyscallN(stats, uintptr(unsafe.Pointer(&v[0])), uintptr(unsafe.Pointer(&v[1])),
			uintptr(unsafe.Pointer(&v[2])), uintptr(unsafe.Pointer(&v[3])))
		return [4]uint64{v[0], v[1], v[2], v[3]}
	}
	base := raw() // the module's counters are process-wide (go test -count=N)
	read := func() (accepted, rejected, delivered, outOfOrder uint64) {
		v := raw()
		return v[0] - base[0], v[1] - base[1], v[2] - base[2], v[3] - base[3]
	}
	cb := newFakeCallbacks(0, ":method", "GET")
	var f hcm.StreamFilter
	e.on(0, func() {
		f = ff.NewFilter(cb)
		f.DecodeHeaders(cb.req, true)
		// Keep the worker busy until the storm is over, so nothing drains.
		deadline := time.Now().Add(waitLimit)
		for {
			a, r, _, _ := read()
			if a+r == storm {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("storm did not finish: %d accepted, %d rejected", a, r)
				return
			}
		}
	})
	cb.wait(t, "continue_decoding") // the final event got through
	a, r, d, o := read()
	if a != ringSize || r != storm-ringSize || d != ringSize || o != 0 {
		t.Fatalf("accepted %d rejected %d delivered %d out-of-order %d; want %d, %d, %d, 0",
			a, r, d, o, ringSize, storm-ringSize, ringSize)
	}
	s := e.host.Stats()
	if s.CommitsRejectedRingFull < storm-ringSize || s.Commits != ringSize+1 {
		t.Fatalf("host counted %d ring-full rejections and %d commits", s.CommitsRejectedRingFull, s.Commits)
	}
	if s.Wakes == 0 || s.Wakes > 1+s.Commits/2 {
		t.Fatalf("%d eventfd writes for %d commits: wake-ups are not coalesced", s.Wakes, s.Commits)
	}
	// Containment: the worker still serves.
	pt := e.factory("passthrough", "pt", `{}`)
	e.on(0, func() {
		endStream(cb, f)
		cb2 := newFakeCallbacks(0, ":method", "GET")
		g := pt.NewFilter(cb2)
		if st := g.DecodeHeaders(cb2.req, true); st != hcm.HeadersContinue {
			t.Errorf("passthrough after the storm: %d", st)
		}
		endStream(cb2, g)
	})
}

// Many module threads commit while their streams end on two workers. Every
// commit is either delivered to a live filter or dropped and counted;
// nothing is delivered after destroy, nothing crashes, and every scheduler
// is reclaimed once the module deleted it.
func TestCommitsRacingTeardown(t *testing.T) {
	const perWorker = 150
	e := newEnv(t, 2, Options{})
	ff := e.factory("thread_affinity", "tid", `{}`)
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				cb := newFakeCallbacks(w, ":method", "GET")
				var f hcm.StreamFilter
				e.on(w, func() {
					f = ff.NewFilter(cb)
					f.DecodeHeaders(cb.req, true)
					if i%2 == 0 {
						endStream(cb, f) // ends before any delivery: dropped
					}
				})
				if i%2 == 1 { // ends in a later loop turn: delivered or dropped
					e.on(w, func() { endStream(cb, f) })
				}
			}
		}(w)
	}
	wg.Wait()
	for w := 0; w < 2; w++ {
		e.eventually(w, "every commit accounted for", func() bool {
			s := e.host.Stats()
			return s.Commits+s.CommitsDropped == 2*perWorker
		})
	}
	s := e.host.Stats()
	if s.CommitsDropped < perWorker { // the even half can only be dropped
		t.Fatalf("dropped %d, want >= %d", s.CommitsDropped, perWorker)
	}
	for w := 0; w < 2; w++ {
		e.eventually(w, "schedulers reclaimed", func() bool {
			e.host.workers[w].slab.sweepOrphans(1 << 20)
			return e.host.workers[w].slab.live.Load() == 0
		})
	}
	if s := e.host.Stats(); s.FiltersActive != 0 || s.SchedulersLive != 0 {
		t.Fatalf("after teardown: %+v", s)
	}
}

// Four module threads flood schedulers on two workers (small rings, so
// they also hit ring-full and retry): every accepted commit is delivered,
// none twice.
func TestManyProducersNoLoss(t *testing.T) {
	const threads, per = 4, 50000
	e := newEnv(t, 2, Options{RingSize: 256})
	ff := e.factory("sched_bench", "sb", `{}`)
	reset := sym(t, ff.mod, "sb_reset")
	purego.SyscallN(reset)
	defer purego.SyscallN(reset)
	var cbs []*fakeCallbacks
	var filters []hcm.StreamFilter
	for w := 0; w < 2; w++ {
		cb := newFakeCallbacks(w, ":method", "GET")
		e.on(w, func() {
			f := ff.NewFilter(cb)
			f.DecodeHeaders(cb.req, true)
			cbs, filters = append(cbs, cb), append(filters, f)
		})
	}
	if n, _, _ := purego.SyscallN(sym(t, ff.mod, "sb_schedulers")); n != 2 {
		t.Fatalf("%d schedulers", n)
	}
	before := e.host.Stats().Commits
	ns, _, _ := purego.SyscallN(sym(t, ff.mod, "sb_throughput"), threads, per)
	if ns == 0 {
		t.Fatal("not every commit was delivered")
	}
	if got := e.host.Stats().Commits - before; got != threads*per {
		t.Fatalf("host delivered %d events, want %d", got, threads*per)
	}
	for i, f := range filters {
		e.on(cbs[i].worker, func() { endStream(cbs[i], f) })
	}
}
