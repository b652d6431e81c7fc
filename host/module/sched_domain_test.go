package module

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ebitengine/purego"
	"go.uber.org/zap"
)

// These tests drive one scheduler domain directly: producers are the real
// assembly entry points (called through purego, as a module would call
// them), the consumer is drain on the test goroutine (no loop runs the
// domain here).

type recorder struct {
	name   string
	events []uint64
	closed bool // takes no events, as a stream that ended
}

func (r *recorder) takesScheduled() bool { return !r.closed }

func (r *recorder) runScheduled(ev uint64) { r.events = append(r.events, ev) }

func newTestDomain(t *testing.T) *schedDomain {
	t.Helper()
	id, err := allocDomainID()
	if err != nil {
		t.Fatal(err)
	}
	d, err := openDomain(id, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.shut()
		freeDomainID(id)
	})
	return d
}

func commit(h, ev uint64) bool {
	r, _, _ := purego.SyscallN(schedCommitAddr(), uintptr(h), uintptr(ev))
	return r&0xff != 0
}

func deleteSched(h uint64) { purego.SyscallN(schedDeleteAddr(), uintptr(h)) }

func mustAlloc(t *testing.T, d *schedDomain, tg schedTarget) uint64 {
	t.Helper()
	h, err := d.alloc(tg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func drainAll(d *schedDomain) {
	for d.drain(1 << 20) {
	}
}

func TestDomainDeliversInCommitOrder(t *testing.T) {
	d := newTestDomain(t)
	a, b := &recorder{}, &recorder{}
	ha, hb := mustAlloc(t, d, a), mustAlloc(t, d, b)
	for i := uint64(0); i < 40; i++ {
		if !commit(ha, i) || !commit(hb, 100+i) {
			t.Fatalf("commit %d refused", i)
		}
	}
	drainAll(d)
	if len(a.events) != 40 || len(b.events) != 40 {
		t.Fatalf("delivered %d and %d", len(a.events), len(b.events))
	}
	for i := range a.events {
		if a.events[i] != uint64(i) || b.events[i] != uint64(100+i) {
			t.Fatalf("out of order: %v / %v", a.events, b.events)
		}
	}
	if d.delivered.Load() != 80 || d.dropped.Load() != 0 || d.wakes() == 0 || d.wakes() > 2 {
		t.Fatalf("delivered %d dropped %d wakes %d", d.delivered.Load(), d.dropped.Load(), d.wakes())
	}
}

// The misdelivery of ABI 1, in its racy form: a commit passes the check
// and queues its event, then the module deletes the scheduler, its filter
// ends, and the slot is reused by another stream before the worker drains.
// The event carries the old generation and is dropped, counted; the new
// stream never sees it.
func TestDomainEventQueuedBeforeReuseIsNeverDelivered(t *testing.T) {
	d := newTestDomain(t)
	old, fresh := &recorder{name: "old"}, &recorder{name: "fresh"}
	h := mustAlloc(t, d, old)
	if !commit(h, 0xdead) {
		t.Fatal("commit on a live scheduler refused")
	}
	deleteSched(h)
	d.targetGone(h) // the filter is destroyed: deleted + gone = reclaimed
	h2 := mustAlloc(t, d, fresh)
	if handleIndex(h2) != handleIndex(h) || h2 == h {
		t.Fatalf("expected the slot to be reused with a new generation: %#x then %#x", h, h2)
	}
	if !commit(h2, 7) {
		t.Fatal("commit on the new scheduler refused")
	}
	drainAll(d)
	if len(old.events) != 0 || len(fresh.events) != 1 || fresh.events[0] != 7 {
		t.Fatalf("old got %v, fresh got %v", old.events, fresh.events)
	}
	if d.dropped.Load() != 1 {
		t.Fatalf("dropped %d, want 1", d.dropped.Load())
	}
	// And the stale handle itself is refused from now on, counted.
	before := d.rejectedStale()
	if commit(h, 0xdead) {
		t.Fatal("commit through the reused scheduler's old handle accepted")
	}
	if d.rejectedStale() != before+1 {
		t.Fatal("stale commit not counted")
	}
	drainAll(d)
	if len(fresh.events) != 1 {
		t.Fatalf("fresh got %v", fresh.events)
	}
}

func TestDomainRefusals(t *testing.T) {
	d := newTestDomain(t)
	live, gone := &recorder{}, &recorder{}
	h, hg := mustAlloc(t, d, live), mustAlloc(t, d, gone)
	// Full: each scheduler holds schedMinQueue undelivered events; a
	// storm on one never refuses the other.
	for i := 0; i < schedMinQueue; i++ {
		if !commit(h, uint64(i)) {
			t.Fatalf("commit %d refused", i)
		}
	}
	if commit(h, 999) || d.rejectedFull() != 1 {
		t.Fatalf("commit beyond the queue accepted (rejected_full %d)", d.rejectedFull())
	}
	if !commit(hg, 1) {
		t.Fatal("a full scheduler made another scheduler's commit fail")
	}
	// Target gone: refused (its events are dropped).
	d.targetGone(hg)
	if commit(hg, 2) || d.rejectedStale() != 1 {
		t.Fatalf("commit after the target went accepted (rejected_stale %d)", d.rejectedStale())
	}
	drainAll(d)
	if len(live.events) != schedMinQueue || len(gone.events) != 0 || d.dropped.Load() != 1 {
		t.Fatalf("live %d gone %d dropped %d", len(live.events), len(gone.events), d.dropped.Load())
	}
	// Deleted: refused, while events committed before delete are still
	// delivered ("commit, then delete").
	if !commit(h, 1000) {
		t.Fatal("commit after the drain refused")
	}
	deleteSched(h)
	deleteSched(h) // twice: harmless
	if commit(h, 1001) {
		t.Fatal("commit after delete accepted")
	}
	drainAll(d)
	if got := live.events[len(live.events)-1]; got != 1000 {
		t.Fatalf("event committed before delete not delivered: last %d", got)
	}
	// Garbage handles never reach a domain.
	bad := atomic.LoadUint64(&schedBadHandles)
	if commit(0, 1) || commit(makeHandle(kindFilter, d.id, 1, 0), 1) || commit(makeHandle(kindScheduler, 4095, 1, 0), 1) {
		t.Fatal("garbage handle accepted")
	}
	if atomic.LoadUint64(&schedBadHandles) != bad+3 {
		t.Fatal("garbage handles not counted")
	}
	if commit(makeHandle(kindScheduler, d.id, 1, schedMaxSlots-1), 1) {
		t.Fatal("handle beyond the table accepted")
	}
}

// A producer stopped between claiming its position and publishing it (as
// a thread preempted, or frozen, in the middle of a commit) delays nobody:
// later events of the same scheduler and of other schedulers flow, and the
// frozen event is delivered once it is published.
func TestDomainFrozenProducerBlocksNobody(t *testing.T) {
	d := newTestDomain(t)
	a, b := &recorder{}, &recorder{}
	ha, hb := mustAlloc(t, d, a), mustAlloc(t, d, b)
	s := d.slot(handleIndex(ha))
	// The frozen producer: claim position 0 of a's queue, publish nothing.
	pos := (atomic.AddUint64(&s.tail, 1) - 1) & schedPosMask
	for i := uint64(1); i <= 10; i++ {
		if !commit(ha, i) || !commit(hb, 100+i) {
			t.Fatal("commit refused behind a frozen producer")
		}
	}
	drainAll(d)
	if len(a.events) != 10 || len(b.events) != 10 {
		t.Fatalf("behind a frozen producer: a got %v, b got %v", a.events, b.events)
	}
	// Until it publishes, a's queue cannot move past the frozen position:
	// a takes schedMinQueue-1 events after it in all, then refuses (other
	// schedulers are unaffected).
	for i := 10; i < schedMinQueue-1; i++ {
		if !commit(ha, 1000) {
			t.Fatalf("commit %d refused with one frozen position", i)
		}
	}
	if commit(ha, 1000) {
		t.Fatal("frozen position not counted against the queue")
	}
	if !commit(hb, 200) {
		t.Fatal("another scheduler refused behind a frozen producer")
	}
	// The producer resumes: it writes its record and publishes.
	epoch, shift, _ := splitTail(atomic.LoadUint64(&s.tail))
	q := viewQueue(s.queues[epoch], shift)
	c := pos & q.mask
	q.cells[c] = schedEvent{gen: uint64(handleGen(ha)), id: 42}
	atomic.OrUint64(&q.published[c>>6], 1<<(c&63))
	d.markReady(handleIndex(ha))
	drainAll(d)
	got42 := 0
	for _, ev := range a.events {
		if ev == 42 {
			got42++
		}
	}
	if got42 != 1 || len(a.events) != schedMinQueue {
		t.Fatalf("frozen event delivered %d times; %d events in all", got42, len(a.events))
	}
	if !commit(ha, 43) {
		t.Fatal("queue not freed after the frozen event")
	}
}

// Each drain delivers at most its budget; schedulers take turns, so one
// that is always full cannot starve another.
func TestDomainDrainBudgetAndTurns(t *testing.T) {
	d := newTestDomain(t)
	storm, calm := &recorder{}, &recorder{}
	hs := mustAlloc(t, d, storm)
	hc := mustAlloc(t, d, calm)
	refill := func() {
		for commit(hs, 1) {
		}
	}
	refill()
	if !commit(hc, 2) {
		t.Fatal("calm commit refused")
	}
	const budget = 8
	drains := 0
	for len(calm.events) == 0 {
		before := d.delivered.Load()
		if !d.drain(budget) && len(calm.events) == 0 {
			t.Fatal("drain reported no work left before the calm scheduler's turn")
		}
		if n := d.delivered.Load() - before; n > budget {
			t.Fatalf("drain delivered %d events, budget %d", n, budget)
		}
		drains++
		refill()
		if drains > 4 {
			t.Fatalf("calm scheduler starved for %d drains", drains)
		}
	}
	drainAll(d)
}

// After shut (Host.Close) commits are refused and counted, never a crash;
// when the domain id is reused by a later host, handles of the old one stay
// stale while new ones work.
func TestDomainClosedThenReused(t *testing.T) {
	id, err := allocDomainID()
	if err != nil {
		t.Fatal(err)
	}
	defer freeDomainID(id)
	d, err := openDomain(id, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	old := &recorder{}
	h := mustAlloc(t, d, old)
	if !commit(h, 1) {
		t.Fatal("commit refused")
	}
	d.shut()
	if d.dropped.Load() != 1 {
		t.Fatalf("event queued at shut: dropped %d, want 1", d.dropped.Load())
	}
	if commit(h, 2) || d.rejectedClosed() != 1 {
		t.Fatalf("commit after shut accepted (rejected_closed %d)", d.rejectedClosed())
	}
	d2, err := openDomain(id, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer d2.shut()
	if d2 != d {
		t.Fatal("domain memory not reused for the same id")
	}
	fresh := &recorder{}
	h2 := mustAlloc(t, d2, fresh)
	if h2 == h {
		t.Fatal("new scheduler got the old handle")
	}
	if commit(h, 3) {
		t.Fatal("handle of the closed host accepted by the new one")
	}
	if !commit(h2, 4) {
		t.Fatal("new handle refused")
	}
	drainAll(d2)
	if len(old.events) != 0 || len(fresh.events) != 1 || fresh.events[0] != 4 {
		t.Fatalf("old %v fresh %v", old.events, fresh.events)
	}
}

// Producers on many threads race deletes, target teardown and slot reuse.
// Every accepted event is delivered to its own target or dropped; none
// reaches a target whose scheduler it was not committed through.
func TestDomainConcurrentReuseNeverMisdelivers(t *testing.T) {
	d := newTestDomain(t)
	const rounds, producers = 300, 4
	type tagged struct {
		recorder
		tag uint64
	}
	var accepted atomic.Uint64
	for r := 0; r < rounds; r++ {
		tg := &tagged{tag: uint64(r)}
		h := mustAlloc(t, d, &tg.recorder)
		var wg sync.WaitGroup
		for p := 0; p < producers; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 20; i++ {
					if commit(h, uint64(r)) {
						accepted.Add(1)
					}
				}
			}()
		}
		// Meanwhile: delete, drain a little, end the target: the slot is
		// reused next round while producers may still be committing.
		deleteSched(h)
		d.drain(5)
		d.targetGone(h)
		wg.Wait()
		drainAll(d)
		for _, ev := range tg.events {
			if ev != tg.tag {
				t.Fatalf("round %d target got event of round %d", r, ev)
			}
		}
	}
	drainAll(d)
	if got := d.delivered.Load() + d.dropped.Load(); got != accepted.Load() {
		t.Fatalf("accepted %d, delivered+dropped %d", accepted.Load(), got)
	}
}

// A flooding scheduler gets a larger queue each time it found its queue
// full and the worker emptied it, up to the maximum; reused, the slot
// starts from the minimum again. Events are never lost or reordered by a
// resize.
func TestDomainQueueGrowsUnderFloodAndShrinksOnReuse(t *testing.T) {
	d := newTestDomain(t)
	r := &recorder{}
	h := mustAlloc(t, d, r)
	s := d.slot(handleIndex(h))
	capOf := func() uint64 { _, shift, _ := splitTail(atomic.LoadUint64(&s.tail)); return 1 << shift }
	next := uint64(0)
	for round := 0; capOf() < 1<<schedMaxQueueShift; round++ {
		if round > 20 {
			t.Fatalf("queue did not grow to the maximum: %d", capOf())
		}
		for commit(h, next) {
			next++
		}
		drainAll(d)
	}
	for commit(h, next) {
		next++
	}
	if next < 1<<schedMaxQueueShift {
		t.Fatalf("%d events accepted in all", next)
	}
	drainAll(d)
	if uint64(len(r.events)) != next {
		t.Fatalf("delivered %d of %d", len(r.events), next)
	}
	for i, ev := range r.events {
		if ev != uint64(i) {
			t.Fatalf("event %d is %d", i, ev)
		}
	}
	deleteSched(h)
	d.targetGone(h)
	h2 := mustAlloc(t, d, r)
	if handleIndex(h2) != handleIndex(h) || capOf() != schedMinQueue {
		t.Fatalf("reused slot %d has capacity %d", handleIndex(h2), capOf())
	}
	if d.grown != 0 {
		t.Fatalf("%d bytes of grown queues after shrinking", d.grown)
	}
}

// The Go producer (the entry points on architectures without assembly)
// and the assembly one leave the same results, counters and deliveries on
// one scripted scenario: acceptance, full queue, growth, delete, stale and
// garbage handles, closed domain.
func TestGoProducerMatchesAssembly(t *testing.T) {
	type impl struct {
		name   string
		commit func(h, ev uint64) bool
		del    func(h uint64)
	}
	run := func(p impl) []string {
		d := newTestDomain(t)
		var log []string
		note := func(format string, args ...any) { log = append(log, fmt.Sprintf(format, args...)) }
		a, b := &recorder{}, &recorder{}
		ha, hb := mustAlloc(t, d, a), mustAlloc(t, d, b)
		n := 0
		for p.commit(ha, uint64(n)) {
			n++
		}
		note("accepted before full: %d", n)
		drainAll(d)
		n = 0
		for p.commit(ha, uint64(n)) {
			n++
		}
		note("accepted after growth: %d", n)
		note("b: %v", p.commit(hb, 7))
		p.del(hb)
		note("b after delete: %v", p.commit(hb, 8))
		d.targetGone(hb)
		note("garbage: %v %v", p.commit(0, 1), p.commit(makeHandle(kindScheduler, d.id, 9, 0), 1))
		drainAll(d)
		note("a got %d, b got %v", len(a.events), b.events)
		note("full %d stale %d wakes>0 %v live %d", d.rejectedFull(), d.rejectedStale(), d.wakes() > 0, d.live.Load())
		d.shut()
		note("closed: %v, counted %d", p.commit(ha, 1), d.rejectedClosed())
		return log
	}
	asm := run(impl{"assembly", commit, deleteSched})
	goImpl := run(impl{"go", schedCommitGo, schedDeleteGo})
	if strings.Join(asm, "\n") != strings.Join(goImpl, "\n") {
		t.Fatalf("assembly:\n%s\n\ngo:\n%s", strings.Join(asm, "\n"), strings.Join(goImpl, "\n"))
	}
	t.Log(strings.Join(asm, "\n"))
}
