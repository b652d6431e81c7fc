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
// is refused and counted; the module's on_scheduled never runs for it.
func TestCommitAfterDestroyIsRefused(t *testing.T) {
	e := newEnv(t, 1, Options{})
	ff := e.factory("commit_after_destroy", "cad", `{}`)
	m := ff.mod
	cb := newFakeCallbacks(0, ":method", "GET")
	before := e.host.Stats()
	e.on(0, func() {
		f := ff.NewFilter(cb)
		if st := f.DecodeHeaders(cb.req, true); st != hcm.HeadersStopIteration {
			t.Errorf("DecodeHeaders = %d", st)
		}
		endStream(cb, f)
	})
	r, _, _ := purego.SyscallN(sym(t, m, "cad_wait_commit"))
	if int32(r) != 0 {
		t.Fatalf("late commit returned %d, want 0 (refused)", int32(r))
	}
	if s := e.host.Stats(); s.CommitsRejectedStale != before.CommitsRejectedStale+1 || s.Commits != 0 {
		t.Fatalf("rejected_stale +%d commits %d", s.CommitsRejectedStale-before.CommitsRejectedStale, s.Commits)
	}
	if n, _, _ := purego.SyscallN(sym(t, m, "cad_scheduled_calls")); n != 0 {
		t.Fatalf("on_scheduled ran %d times for a destroyed filter", n)
	}
	// The module deleted the scheduler after its filter was gone: the
	// worker reclaims it at once.
	e.eventually(0, "scheduler reclaimed", func() bool { return e.host.Stats().SchedulersLive == 0 })
}

// The ABI 1 misdelivery: a scheduler deleted in filter_destroy (the natural
// "cancel") was reclaimed and handed to the next stream, and a late commit
// through the old handle ran on_scheduled on that other stream. Now the
// stale handle is refused and counted, and the new stream sees only its own
// events.
func TestLateCommitAfterSlotReuseIsDropped(t *testing.T) {
	e := newEnv(t, 1, Options{})
	ff := e.factory("sched_reuse", "sr", `{}`)
	m := ff.mod
	first := newFakeCallbacks(0, ":method", "GET")
	e.on(0, func() {
		f := ff.NewFilter(first)
		f.DecodeHeaders(first.req, true)
		endStream(first, f) // filter_destroy deletes the scheduler
	})
	second := newFakeCallbacks(0, ":method", "GET")
	var f2 hcm.StreamFilter
	e.on(0, func() {
		f2 = ff.NewFilter(second)
		f2.DecodeHeaders(second.req, true)
	})
	t.Cleanup(func() { e.on(0, func() { endStream(second, f2) }) })
	stale, _, _ := purego.SyscallN(sym(t, m, "sr_stale"))
	current, _, _ := purego.SyscallN(sym(t, m, "sr_current"))
	if handleIndex(uint64(stale)) != handleIndex(uint64(current)) || stale == current {
		t.Fatalf("the second stream did not reuse the slot: %#x, %#x", stale, current)
	}
	before := e.host.Stats()
	if r, _, _ := purego.SyscallN(sym(t, m, "sr_late_commit"), 0xdead); int32(r) != 0 {
		t.Fatalf("late commit through the deleted scheduler returned %d, want 0", int32(r))
	}
	if r, _, _ := purego.SyscallN(sym(t, m, "sr_commit_current"), 7); int32(r) != 1 {
		t.Fatalf("commit on the live stream returned %d", int32(r))
	}
	e.eventually(0, "live event delivered", func() bool { return e.host.Stats().Commits == before.Commits+1 })
	after := e.host.Stats()
	if after.CommitsRejectedStale != before.CommitsRejectedStale+1 {
		t.Fatalf("stale commit counted %d times", after.CommitsRejectedStale-before.CommitsRejectedStale)
	}
	var ev uint64
	for i := 0; ; i++ {
		id, _, _ := purego.SyscallN(sym(t, m, "sr_delivered"), uintptr(i), uintptr(unsafe.Pointer(&ev)))
		if int32(id) < 0 {
			if i != 1 {
				t.Fatalf("%d deliveries, want 1", i)
			}
			break
		}
		if ev == 0xdead {
			t.Fatalf("event 0xdead of the deleted scheduler delivered to stream %d", int32(id))
		}
	}
}

// A module thread floods one scheduler while the worker is busy: its
// queue takes exactly schedMinQueue events, refuses the rest (counted),
// delivers what it took in commit order, and the worker keeps serving.
func TestCommitStormIsContained(t *testing.T) {
	const storm = 200000
	e := newEnv(t, 1, Options{})
	ff := e.factory("commit_storm", "storm", `{}`)
	read := stormStats(t, ff.mod)
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
	// The hook signalled from inside the delivery, which is counted once
	// it returns: a posted function runs after that.
	e.on(0, func() {})
	a, r, d, o := read()
	if a != schedMinQueue || r != storm-schedMinQueue || d != schedMinQueue || o != 0 {
		t.Fatalf("accepted %d rejected %d delivered %d out-of-order %d; want %d, %d, %d, 0",
			a, r, d, o, schedMinQueue, storm-schedMinQueue, schedMinQueue)
	}
	s := e.host.Stats()
	if s.CommitsRejectedFull < storm-schedMinQueue || s.Commits != schedMinQueue+1 {
		t.Fatalf("host counted %d full rejections and %d commits", s.CommitsRejectedFull, s.Commits)
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

// stormStats reads commit_storm's counters relative to their values now
// (the module's counters are process-wide across go test -count=N).
func stormStats(t *testing.T, m *Module) func() (accepted, rejected, delivered, outOfOrder uint64) {
	stats := sym(t, m, "storm_stats")
	out, err := cAlloc(4 * 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cFree(out) })
	raw := func() [4]uint64 {
		v := unsafe.Slice((*uint64)(unsafe.Pointer(&out[0])), 4)
		purego.SyscallN(stats, uintptr(unsafe.Pointer(&v[0])), uintptr(unsafe.Pointer(&v[1])),
			uintptr(unsafe.Pointer(&v[2])), uintptr(unsafe.Pointer(&v[3])))
		return [4]uint64{v[0], v[1], v[2], v[3]}
	}
	base := raw()
	return func() (uint64, uint64, uint64, uint64) {
		v := raw()
		return v[0] - base[0], v[1] - base[1], v[2] - base[2], v[3] - base[3]
	}
}

// A storming module beside a well-behaved one on the same worker: the storm
// is refused on its own scheduler only; every commit of the well-behaved
// module is accepted and delivered. (ABI 1's one ring per worker made the
// well-behaved module's commits fail, and its streams waited for
// stream_idle_timeout.)
func TestStormDoesNotRefuseOtherFilters(t *testing.T) {
	e := newEnv(t, 1, Options{})
	storm := e.factory("commit_storm", "storm", `{}`)
	polite := e.factory("polite", "polite", `{}`)
	read := stormStats(t, storm.mod)
	refused := sym(t, polite.mod, "polite_refused")
	deliveredFn := sym(t, polite.mod, "polite_delivered")
	baseRefused, _, _ := purego.SyscallN(refused)
	baseDelivered, _, _ := purego.SyscallN(deliveredFn)
	cbs := newFakeCallbacks(0, ":method", "GET")
	var fs hcm.StreamFilter
	const politeStreams = 8
	var pcbs []*fakeCallbacks
	var pfs []hcm.StreamFilter
	e.on(0, func() {
		fs = storm.NewFilter(cbs)
		fs.DecodeHeaders(cbs.req, true)
		// The well-behaved streams start while the storm is running, and
		// the worker stays busy until the storm is over, so the storm's
		// queue is as full as it gets and the polite commits race it.
		for i := 0; i < politeStreams; i++ {
			cb := newFakeCallbacks(0, ":method", "GET")
			f := polite.NewFilter(cb)
			f.DecodeHeaders(cb.req, true)
			pcbs, pfs = append(pcbs, cb), append(pfs, f)
		}
		deadline := time.Now().Add(waitLimit)
		for {
			a, r, _, _ := read()
			if a+r == 200000 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("storm did not finish")
				return
			}
		}
	})
	for _, cb := range pcbs {
		cb.wait(t, "continue_decoding") // each polite stream got its final event
	}
	cbs.wait(t, "continue_decoding")
	if _, r, _, _ := read(); r == 0 {
		t.Fatal("the storm was never refused: the test did not storm")
	}
	if n, _, _ := purego.SyscallN(refused); n != baseRefused {
		t.Fatalf("%d commits of the well-behaved module refused", n-baseRefused)
	}
	if n, _, _ := purego.SyscallN(deliveredFn); n-baseDelivered != politeStreams*politeCommits {
		t.Fatalf("well-behaved module got %d events, want %d", n-baseDelivered, politeStreams*politeCommits)
	}
	e.on(0, func() {
		endStream(cbs, fs)
		for i, f := range pfs {
			endStream(pcbs[i], f)
		}
	})
}

// politeCommits is how many events each polite stream commits (polite.c).
const politeCommits = 16

// Many module threads commit while their streams end on two workers. Every
// commit is delivered to a live filter, or dropped and counted, or refused
// and counted (its filter was already gone); nothing is delivered after
// destroy, nothing crashes, and every scheduler is reclaimed once the
// module deleted it.
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
	refused := func() uint64 {
		return e.host.workers[0].sched.rejectedStale() + e.host.workers[1].sched.rejectedStale()
	}
	for w := 0; w < 2; w++ {
		e.eventually(w, "every commit accounted for", func() bool {
			s := e.host.Stats()
			return s.Commits+s.CommitsDropped+refused() == 2*perWorker
		})
	}
	s := e.host.Stats()
	if s.CommitsDropped+refused() < perWorker { // the even half can never be delivered
		t.Fatalf("dropped %d + refused %d, want >= %d", s.CommitsDropped, refused(), perWorker)
	}
	for w := 0; w < 2; w++ {
		e.eventually(w, "schedulers reclaimed", func() bool {
			return e.host.workers[w].sched.live.Load() == 0
		})
	}
	if s := e.host.Stats(); s.FiltersActive != 0 || s.SchedulersLive != 0 {
		t.Fatalf("after teardown: %+v", s)
	}
}

// Four module threads flood schedulers on two workers (they also hit
// full queues and retry): every accepted commit is delivered, none twice.
func TestManyProducersNoLoss(t *testing.T) {
	const threads, per = 4, 50000
	e := newEnv(t, 2, Options{DrainBudget: 64})
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
