package module

import (
	"errors"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// A scheduler domain is the scheduler machinery of one event loop (a worker,
// or the control thread): a table of scheduler slots in C memory, a ready
// bitmap, an eventfd, and the worker-side bookkeeping. Nothing in it knows
// about HTTP filters: a slot delivers to a schedTarget, so network filters
// and config-level schedulers use the same domain.
//
// Producers are module threads running schedCommit (assembly, see
// commit_amd64.s): it decodes the handle, checks the slot's state word
// against the handle's generation, claims a position in the slot's own
// queue, writes {generation, event id}, publishes it with an atomic bit,
// and, unless the slot is already notified, marks it ready (two bitmap
// levels) and writes the eventfd when no wake-up is pending. The worker
// drains ready slots with a budget.
//
// Why commits can never misdeliver: a record carries the generation the
// producer checked, and the worker delivers it only if that is still the
// slot's generation and the slot's target is alive. Reuse bumps the
// generation (and generations never wrap: see handles.go), so an event
// from a stale handle, even one that raced the reuse, is dropped.
//
// Why commits can never touch freed memory: a domain's C memory and its
// eventfd are never released. They belong to the domain id, and a later
// host that gets the same id reuses them (generations continue), so a
// module thread committing after Host.Close reads mapped memory, finds the
// domain closed, and returns false.

const (
	// schedChunkSlots slots are mapped at a time.
	schedChunkShift = 6
	schedChunkSlots = 1 << schedChunkShift
	schedChunkMask  = schedChunkSlots - 1
	// schedMaxSlots bounds the schedulers of one domain (two bitmap
	// levels of 64 bits: 64 * 64 * 64).
	schedMaxSlots  = 1 << 18
	schedMaxChunks = schedMaxSlots / schedChunkSlots

	// Slot state: generation << 2 | flags. A commit is accepted only when
	// both flags are set and the generation is the handle's.
	schedStateLive   = 1 // not deleted by the module
	schedStateTarget = 2 // the target (filter, config) still exists
	schedStateOpen   = schedStateLive | schedStateTarget
)

// schedEvent is one queued record.
type schedEvent struct {
	gen uint64
	id  uint64
}

// schedSlot is one scheduler in C memory (its queue is separate: see
// schedqueue.go). Producers touch everything but head (which they read).
type schedSlot struct {
	state  uint64     // atomic: gen<<2 | flags
	tail   uint64     // atomic: epoch | log2(capacity) | claimed positions
	head   uint64     // atomic: first position not yet consumed (worker writes)
	queues [2]uintptr // atomic: queue memory of each epoch
	// notified is 1 from a producer's publish until the worker starts
	// consuming the slot: while set, producers skip marking the slot ready
	// and the domain's wake-up (contended atomics, one set per batch).
	notified uint32 // atomic
	// full is set by a producer that found the queue full: the worker
	// then gives the slot a larger queue once it is empty.
	full uint32 // atomic
	_    [2]uint64
}

// schedDomainHdr is the shared head of a domain, in C memory. The
// producer-written lines are apart from the read-mostly one.
type schedDomainHdr struct {
	closed uint32 // atomic: 1 = commits refused
	wakeFD int32
	_      [7]uint64

	wakePending uint32 // atomic: 1 = an eventfd write is outstanding
	_           uint32
	_           [7]uint64

	wakes          uint64 // atomic: eventfd writes by producers
	rejectedFull   uint64 // atomic
	rejectedStale  uint64 // atomic
	rejectedClosed uint64 // atomic
	_              [4]uint64

	// summary bit w%64 of word w/64 = ready word w may be non-zero.
	summary [schedMaxSlots / 64 / 64]uint64
	// ready bit i%64 of word i/64 = slot i may have events (or was deleted).
	ready  [schedMaxSlots / 64]uint64
	chunks [schedMaxChunks]uintptr // slot memory, schedChunkSlots per chunk
}

// schedTarget receives a domain's events, on the domain's thread.
type schedTarget interface {
	// takesScheduled reports whether the target can still take events
	// (false: the event counts as dropped).
	takesScheduled() bool
	// runScheduled runs the target's hook for one event. The delivery is
	// counted before it runs, so whoever the hook wakes (a response, a
	// test) already sees it counted.
	runScheduled(eventID uint64)
}

// schedMeta is the worker's view of one slot.
type schedMeta struct {
	gen       uint32      // generation of the current (or last) incarnation
	allocated bool        // between alloc and reclaim
	queued    bool        // in the run queue
	orphan    bool        // target gone, not deleted by the module (in orphanq)
	target    schedTarget // nil once the target is gone
}

// schedDomain is the Go side of one domain. Everything but the atomics and
// the C header is touched only by the domain's loop thread (or by the main
// goroutine while no loop runs it: open and shut).
type schedDomain struct {
	id  uint64
	mem []byte
	hdr *schedDomainHdr

	chunks [][]byte
	meta   []schedMeta
	// Queue memory: mappings, per-size free lists and carving space, and
	// the bytes of queues grown beyond the minimum.
	queueMem  [][]byte
	queueFree [schedMaxQueueShift + 1][]uintptr
	carve     [schedMaxQueueShift + 1][]byte
	grown     int64
	free      []uint32
	next      uint32
	retired   int
	// runq[runHead:] holds ready slots in turn order (a slot with events
	// left after its turn goes to the back): round robin between
	// schedulers.
	runq    []uint32
	runHead int

	live      atomic.Int64
	delivered atomic.Uint64
	dropped   atomic.Uint64
	// Orphans: schedulers whose target is gone and that the module has
	// not deleted, oldest first from orphanq[orphanHead:] (see
	// targetGone). leaked counts those reclaimed past orphanLimit;
	// refused counts allocations past schedMaxSlots.
	orphans     int
	orphanLimit int
	orphanq     []orphanRef
	orphanHead  int
	leaked      atomic.Uint64
	refused     atomic.Uint64

	log     *zap.Logger
	dropLog rateLimitedLog
}

// Process-wide: the domain of each id, kept for the life of the process
// (see above). schedDomainAddrs is what schedCommit reads.
var (
	schedDomainAddrs [maxDomains]uintptr
	schedDomainsMu   sync.Mutex
	schedDomainsByID [maxDomains]*schedDomain
	// schedBadHandles counts commits and deletes whose handle names no
	// scheduler domain at all (garbage or a zero handle).
	schedBadHandles uint64
)

// openDomain returns domain id ready for a new owner: its memory and
// eventfd are created on first use and reused afterwards. Main goroutine,
// while no loop runs the domain.
func openDomain(id uint64, log *zap.Logger) (*schedDomain, error) {
	schedDomainsMu.Lock()
	defer schedDomainsMu.Unlock()
	d := schedDomainsByID[id]
	if d == nil {
		mem, err := cAlloc(int(unsafe.Sizeof(schedDomainHdr{})))
		if err != nil {
			return nil, err
		}
		efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
		if err != nil {
			cFree(mem)
			return nil, err
		}
		d = &schedDomain{id: id, mem: mem, hdr: (*schedDomainHdr)(unsafe.Pointer(&mem[0]))}
		d.hdr.wakeFD = int32(efd)
		d.dropLog.window = rateWindow
		schedDomainsByID[id] = d
		atomic.StoreUintptr(&schedDomainAddrs[id], uintptr(unsafe.Pointer(d.hdr)))
	}
	d.log = log
	d.orphanLimit = schedMaxOrphans
	h := d.hdr
	atomic.StoreUint64(&h.wakes, 0)
	atomic.StoreUint64(&h.rejectedFull, 0)
	atomic.StoreUint64(&h.rejectedStale, 0)
	atomic.StoreUint64(&h.rejectedClosed, 0)
	atomic.StoreUint32(&h.wakePending, 0)
	d.delivered.Store(0)
	d.dropped.Store(0)
	d.leaked.Store(0)
	d.refused.Store(0)
	atomic.StoreUint32(&h.closed, 0)
	return d, nil
}

func (d *schedDomain) efd() int { return int(d.hdr.wakeFD) }

// shut refuses further commits and forgets every scheduler: their handles
// are stale from now on (commits through them return false), and their
// slots are free for the domain's next owner. Events still queued are
// dropped when that owner drains them. Call it once no loop runs the
// domain.
func (d *schedDomain) shut() {
	atomic.StoreUint32(&d.hdr.closed, 1)
	for idx := uint32(0); idx < d.next; idx++ {
		m := &d.meta[idx]
		if !m.allocated {
			continue
		}
		s := d.slot(idx)
		for {
			old := atomic.LoadUint64(&s.state)
			if atomic.CompareAndSwapUint64(&s.state, old, old&^schedStateOpen) {
				break
			}
		}
		m.target = nil
		d.reclaim(idx)
	}
	// Drop what is still queued now, so the domain's next owner starts
	// with empty queues. (Positions a producer claimed but never
	// published stay taken: such a producer still runs, and will publish.)
	d.harvest()
	for d.runHead < len(d.runq) {
		idx := d.runq[d.runHead]
		d.runHead++
		d.meta[idx].queued = false
		n := 0
		d.process(idx, &n, 1<<schedMaxQueueShift)
	}
	d.runq, d.runHead = d.runq[:0], 0
	d.orphanq, d.orphanHead = d.orphanq[:0], 0
}

func (d *schedDomain) slot(idx uint32) *schedSlot {
	c := d.chunks[idx>>schedChunkShift]
	return (*schedSlot)(unsafe.Pointer(&c[uintptr(idx&schedChunkMask)*unsafe.Sizeof(schedSlot{})]))
}

var errTooManySchedulers = errors.New("module: too many schedulers on this worker")

// alloc creates a scheduler delivering to t and returns its handle.
func (d *schedDomain) alloc(t schedTarget) (uint64, error) {
	var idx uint32
	if n := len(d.free); n > 0 {
		idx = d.free[n-1]
		d.free = d.free[:n-1]
	} else {
		if d.next >= schedMaxSlots {
			d.refused.Add(1)
			return 0, errTooManySchedulers
		}
		idx = d.next
		q, err := d.allocQueue(schedMinQueueShift)
		if err != nil {
			return 0, err
		}
		if c := idx >> schedChunkShift; int(c) == len(d.chunks) {
			mem, err := cAlloc(schedChunkSlots * int(unsafe.Sizeof(schedSlot{})))
			if err != nil {
				d.freeQueue(q, schedMinQueueShift)
				return 0, err
			}
			d.chunks = append(d.chunks, mem)
			atomic.StoreUintptr(&d.hdr.chunks[c], uintptr(unsafe.Pointer(&mem[0])))
		}
		s := d.slot(idx)
		atomic.StoreUintptr(&s.queues[0], q)
		atomic.StoreUint64(&s.tail, tailWord(0, schedMinQueueShift, 0))
		d.next++
		d.meta = append(d.meta, schedMeta{})
	}
	// A reused slot that grew for a flood goes back to the minimum (if its
	// queue is empty; else it keeps what it has).
	if s := d.slot(idx); atomic.LoadUint64(&s.tail)>>schedCapShift&schedCapMask != schedMinQueueShift {
		d.resize(s, schedMinQueueShift)
	}
	m := &d.meta[idx]
	m.gen++
	m.allocated, m.target = true, t
	atomic.StoreUint64(&d.slot(idx).state, uint64(m.gen)<<2|schedStateOpen)
	d.live.Add(1)
	return makeHandle(kindScheduler, d.id, m.gen, idx), nil
}

// meta returns the bookkeeping of a live handle of this domain, or nil.
func (d *schedDomain) metaOf(h uint64) (uint32, *schedMeta) {
	if handleKind(h) != kindScheduler || handleDomain(h) != d.id {
		return 0, nil
	}
	idx := handleIndex(h)
	if idx >= d.next {
		return 0, nil
	}
	m := &d.meta[idx]
	if !m.allocated || m.gen != handleGen(h) {
		return 0, nil
	}
	return idx, m
}

// targetGone is called when the scheduler's target is destroyed: further
// commits are refused and queued events are dropped. A scheduler the
// module already deleted is reclaimed now; one it has not is an orphan,
// kept until the module deletes it (modules commonly do so from their own
// thread just after the stream ended). Orphans are bounded per domain:
// past orphanLimit the oldest are reclaimed anyway — safe, since their
// handles are refused from now on (the target flag is clear) and after a
// reuse too (the generation moved on) — and counted as leaked. It returns
// how many it reclaimed that way.
func (d *schedDomain) targetGone(h uint64) (leaked int) {
	idx, m := d.metaOf(h)
	if m == nil {
		return 0
	}
	m.target = nil
	s := d.slot(idx)
	var old uint64
	for {
		old = atomic.LoadUint64(&s.state)
		if atomic.CompareAndSwapUint64(&s.state, old, old&^schedStateTarget) {
			break
		}
	}
	if old&schedStateLive == 0 {
		d.reclaim(idx)
		return 0
	}
	m.orphan = true
	d.orphans++
	d.orphanq = append(d.orphanq, orphanRef{idx: idx, gen: m.gen})
	return d.trimOrphans()
}

// reclaimIfDeleted reclaims the slot of h, whose target is gone, if the
// module has deleted it meanwhile — typically in the destroy hook that
// runs right after targetGone — so the slot is free for the next stream
// at once rather than at the next drain.
func (d *schedDomain) reclaimIfDeleted(h uint64) {
	idx, m := d.metaOf(h)
	if m == nil {
		return
	}
	if atomic.LoadUint64(&d.slot(idx).state)&schedStateOpen == 0 {
		d.reclaim(idx)
	}
}

// orphanRef names one orphan in the queue; an entry whose slot was since
// reclaimed (the module deleted it) no longer matches and is skipped.
type orphanRef struct{ idx, gen uint32 }

// schedMaxOrphans bounds the schedulers of destroyed targets a module has
// not deleted, per domain.
const schedMaxOrphans = 4096

// trimOrphans reclaims the oldest orphans beyond orphanLimit.
func (d *schedDomain) trimOrphans() (leaked int) {
	for d.orphans > d.orphanLimit && d.orphanHead < len(d.orphanq) {
		r := d.orphanq[d.orphanHead]
		d.orphanHead++
		if m := &d.meta[r.idx]; m.allocated && m.orphan && m.gen == r.gen {
			d.reclaim(r.idx)
			d.leaked.Add(1)
			leaked++
		}
	}
	// Entries of orphans the module deleted stay in the queue until
	// popped; compact it so it stays proportional to the live orphans.
	if d.orphanHead > len(d.orphanq)/2 || len(d.orphanq) > 2*d.orphanLimit+64 {
		kept := d.orphanq[:0]
		for _, r := range d.orphanq[d.orphanHead:] {
			if m := &d.meta[r.idx]; m.allocated && m.orphan && m.gen == r.gen {
				kept = append(kept, r)
			}
		}
		d.orphanq, d.orphanHead = kept, 0
	}
	return leaked
}

// reclaim frees a slot whose module deleted it and whose target is gone.
// Its queue is left as it is: records still in it carry the old generation
// and are dropped when drained. A slot whose generation is exhausted is
// retired for good.
func (d *schedDomain) reclaim(idx uint32) {
	m := &d.meta[idx]
	if !m.allocated {
		return
	}
	m.allocated, m.target = false, nil
	if m.orphan {
		m.orphan = false
		d.orphans--
	}
	d.live.Add(-1)
	if m.gen >= handleGenMask {
		d.retired++
		return
	}
	d.free = append(d.free, idx)
}

// markReady sets slot idx's ready bits, as a producer does.
func (d *schedDomain) markReady(idx uint32) {
	atomic.OrUint64(&d.hdr.ready[idx>>6], 1<<(idx&63))
	atomic.OrUint64(&d.hdr.summary[idx>>12], 1<<((idx>>6)&63))
}

// wake makes the loop drain again soon (the producers' protocol).
func (d *schedDomain) wake() {
	if atomic.SwapUint32(&d.hdr.wakePending, 1) == 0 {
		_, _ = unix.Write(d.efd(), eventfdOne[:])
	}
}

var eventfdOne = [8]byte{1}

// schedTurn is how many events one scheduler gets per turn of the run
// queue before the next ready scheduler's turn.
const schedTurn = 16

// drain delivers up to budget events. Slots marked ready since the last
// look join the back of the run queue; each slot at the front gets a turn
// of up to schedTurn events and rejoins the back if it has more, so a
// storming scheduler gets its turn like any other and cannot starve them.
// It reports whether work is left, in which case it has already asked for
// another drain: the loop serves its sockets in between.
//
// While it keeps finding work it leaves the wake-up flag set, so producers
// committing meanwhile skip the eventfd write (a syscall each): a steady
// stream of commits costs no syscall at all until the budget runs out.
// Only when a look finds nothing does it clear the flag, and then it looks
// once more: a producer that still saw the flag set had published before
// the clear, so that last look finds its event.
//
// The eventfd is watched edge-triggered and never read: every write raises
// an event, and skipping the read saves a syscall per wake-up. Its counter
// grows by one per wake-up and cannot realistically overflow (2^64 - 2).
func (d *schedDomain) drain(budget int) bool {
	n := 0
	armed := true // the flag is (treated as) set: producers do not write
	for {
		d.harvest()
		found := d.runHead < len(d.runq)
		for n < budget && d.runHead < len(d.runq) {
			idx := d.runq[d.runHead]
			d.runHead++
			d.meta[idx].queued = false
			limit := n + schedTurn
			if limit > budget {
				limit = budget
			}
			if d.process(idx, &n, limit) {
				d.enqueue(idx)
			}
		}
		// Compact: the queue's backing array is reused, never grown by pops.
		rest := copy(d.runq, d.runq[d.runHead:])
		d.runq, d.runHead = d.runq[:rest], 0
		if n >= budget {
			// Come back after the sockets: the flag stays set, so write
			// the eventfd ourselves.
			atomic.StoreUint32(&d.hdr.wakePending, 1)
			_, _ = unix.Write(d.efd(), eventfdOne[:])
			return true
		}
		if !found {
			if !armed {
				return false
			}
			atomic.StoreUint32(&d.hdr.wakePending, 0)
			armed = false
		}
	}
}

// harvest moves every slot marked ready into the run queue.
func (d *schedDomain) harvest() {
	for w := range d.hdr.summary {
		if atomic.LoadUint64(&d.hdr.summary[w]) == 0 {
			continue
		}
		sum := atomic.SwapUint64(&d.hdr.summary[w], 0)
		for sum != 0 {
			li := uint32(w)*64 + uint32(bits.TrailingZeros64(sum))
			sum &= sum - 1
			ready := atomic.SwapUint64(&d.hdr.ready[li], 0)
			for ready != 0 {
				d.enqueue(li*64 + uint32(bits.TrailingZeros64(ready)))
				ready &= ready - 1
			}
		}
	}
}

func (d *schedDomain) enqueue(idx uint32) {
	if idx >= d.next || d.meta[idx].queued {
		return
	}
	d.meta[idx].queued = true
	d.runq = append(d.runq, idx)
}

// process consumes slot idx's published events, delivering or dropping
// each, until *n reaches limit; it reports whether some are left. A
// position claimed but not yet published (a producer preempted in the
// middle of its commit) is skipped, not waited for: the producer marks the
// slot ready again when it publishes, and events around it flow meanwhile.
// Skipping cannot reorder one thread's commits: a thread's next commit
// starts after its previous one published.
func (d *schedDomain) process(idx uint32, n *int, limit int) bool {
	s := d.slot(idx)
	// Clear before reading: a producer that still sees 1 published before
	// this store, so the loads below see its event; one that sees 0 marks
	// the slot ready again.
	atomic.StoreUint32(&s.notified, 0)
	head := atomic.LoadUint64(&s.head)
	epoch, shift, tail := splitTail(atomic.LoadUint64(&s.tail))
	q := viewQueue(atomic.LoadUintptr(&s.queues[epoch]), shift)
	more := false
	var consumedWord int = -1
	var consumed uint64
	flush := func() {
		if consumed != 0 {
			atomic.AndUint64(&q.published[consumedWord], ^consumed)
			consumed = 0
		}
	}
	for p := head; p != tail; p++ {
		c := p & q.mask
		w, bit := int(c>>6), uint64(1)<<(c&63)
		if q.done[w]&bit != 0 || atomic.LoadUint64(&q.published[w])&bit == 0 {
			continue
		}
		if *n >= limit {
			more = true
			break
		}
		ev := q.cells[c]
		q.done[w] |= bit
		if w != consumedWord {
			flush()
			consumedWord = w
		}
		consumed |= bit
		*n++
		d.dispatch(idx, ev)
	}
	// Free the consumed positions: clear their published bits before
	// moving head past them, so a producer that sees the new head finds
	// the bits clear.
	flush()
	for head != tail {
		c := head & q.mask
		w, bit := c>>6, uint64(1)<<(c&63)
		if q.done[w]&bit == 0 {
			break
		}
		q.done[w] &^= bit
		head++
	}
	atomic.StoreUint64(&s.head, head)
	if m := &d.meta[idx]; m.allocated && atomic.LoadUint64(&s.state)&schedStateOpen == 0 {
		d.reclaim(idx)
	} else if head == tail && atomic.LoadUint32(&s.full) != 0 && shift < schedMaxQueueShift {
		// A flood found the queue full: give it a larger one.
		next := shift + schedQueueGrowth
		if next > schedMaxQueueShift {
			next = schedMaxQueueShift
		}
		if d.resize(s, next) {
			atomic.StoreUint32(&s.full, 0)
		}
	}
	return more
}

// dispatch delivers one record if its generation is the slot's current one
// and the target still takes events; otherwise it counts it as dropped.
func (d *schedDomain) dispatch(idx uint32, ev schedEvent) {
	m := &d.meta[idx]
	if m.allocated && uint64(m.gen) == ev.gen && m.target != nil && m.target.takesScheduled() {
		d.delivered.Add(1)
		m.target.runScheduled(ev.id)
		return
	}
	d.dropped.Add(1)
	if ok, n := d.dropLog.allow(time.Now()); ok && d.log != nil {
		d.log.Debug("scheduled event dropped: its scheduler or target is gone",
			zap.Uint64("event_id", ev.id), zap.Uint64("suppressed", n))
	}
}

// counters read by Stats (any goroutine).
func (d *schedDomain) wakes() uint64          { return atomic.LoadUint64(&d.hdr.wakes) }
func (d *schedDomain) rejectedFull() uint64   { return atomic.LoadUint64(&d.hdr.rejectedFull) }
func (d *schedDomain) rejectedStale() uint64  { return atomic.LoadUint64(&d.hdr.rejectedStale) }
func (d *schedDomain) rejectedClosed() uint64 { return atomic.LoadUint64(&d.hdr.rejectedClosed) }
