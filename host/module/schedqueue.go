package module

import (
	"sync/atomic"
	"unsafe"
)

// A scheduler's queue is a ring of cells in C memory, sized per scheduler:
// every scheduler starts with schedMinQueue cells, which is all a
// scheduler committing now and then ever uses, and a scheduler that finds
// its queue full (a flood) gets a larger one, up to schedMaxQueue, so a
// single busy producer is not throttled to one wake-up per few dozen
// events. Memory is cells[cap] then the published bitmap then the
// worker's done bitmap (cap bits each).
//
// Only the worker resizes, and only while the queue is empty (head == tail:
// no position is claimed, so no producer is in the middle of a commit). It
// installs the new queue in the slot's other queue pointer, then moves the
// tail word to the other epoch with a CAS; a producer that claims a
// position at the same moment makes that CAS fail (the resize is simply
// abandoned), and a producer holding a tail word of the old epoch fails its
// own CAS and reloads. A producer reads the queue pointer after its claim
// succeeded, so once the epoch moved, nobody can write into the old queue:
// it goes back to the domain's free lists.
//
// The tail word is epoch(1) | log2(capacity)(5) | position(58).
const (
	schedEpochShift = 63
	schedCapShift   = 58
	schedCapMask    = 31
	schedPosMask    = 1<<schedCapShift - 1

	schedMinQueueShift = 6  // 64 events
	schedMaxQueueShift = 16 // 65536 events (1 MiB of cells)
	schedQueueGrowth   = 2  // each resize multiplies by 1 << schedQueueGrowth
	// schedGrowBudget bounds the memory of queues grown beyond the
	// minimum, per domain; past it a flooding scheduler keeps its size and
	// its commits are refused when full.
	schedGrowBudget = 64 << 20
)

// schedMinQueue is the queue size every scheduler starts with.
const schedMinQueue = 1 << schedMinQueueShift

func queueBytes(shift uint64) uintptr {
	c := uintptr(1) << shift
	return c*unsafe.Sizeof(schedEvent{}) + 2*(c/64)*8
}

// schedQueue is a worker-side view of one queue.
type schedQueue struct {
	mask      uint64
	cells     []schedEvent
	published []uint64 // atomic
	done      []uint64 // worker only
}

func viewQueue(addr uintptr, shift uint64) schedQueue {
	c := uintptr(1) << shift
	// addr is C memory that is never unmapped, not a Go pointer.
	base := *(*unsafe.Pointer)(unsafe.Pointer(&addr))
	q := schedQueue{mask: uint64(c - 1)}
	q.cells = unsafe.Slice((*schedEvent)(base), c)
	bm := unsafe.Add(base, c*unsafe.Sizeof(schedEvent{}))
	q.published = unsafe.Slice((*uint64)(bm), c/64)
	q.done = unsafe.Slice((*uint64)(unsafe.Add(bm, c/64*8)), c/64)
	return q
}

// allocQueue returns zeroed-bitmap queue memory of 1<<shift cells (from
// the free list of that size, or carved from a new mapping). Queue memory
// is never unmapped (the domain keeps it for reuse), like everything else
// a commit can reach.
func (d *schedDomain) allocQueue(shift uint64) (uintptr, error) {
	fl := &d.queueFree[shift]
	if n := len(*fl); n > 0 {
		q := (*fl)[n-1]
		*fl = (*fl)[:n-1]
		return q, nil
	}
	size := queueBytes(shift)
	if d.carve[shift] == nil || uintptr(len(d.carve[shift])) < size {
		chunk := 64 << 10
		if int(size) > chunk {
			chunk = int(size)
		}
		mem, err := cAlloc(chunk)
		if err != nil {
			return 0, err
		}
		d.queueMem = append(d.queueMem, mem)
		d.carve[shift] = mem
	}
	q := uintptr(unsafe.Pointer(&d.carve[shift][0]))
	d.carve[shift] = d.carve[shift][size:]
	return q, nil
}

// freeQueue keeps an empty queue (its bitmaps are all clear) for reuse.
func (d *schedDomain) freeQueue(addr uintptr, shift uint64) {
	d.queueFree[shift] = append(d.queueFree[shift], addr)
}

func tailWord(epoch, shift, pos uint64) uint64 {
	return epoch<<schedEpochShift | shift<<schedCapShift | pos
}

func splitTail(tw uint64) (epoch, shift, pos uint64) {
	return tw >> schedEpochShift, tw >> schedCapShift & schedCapMask, tw & schedPosMask
}

// resize gives slot s a queue of 1<<shift cells if it is empty; it reports
// whether it did.
func (d *schedDomain) resize(s *schedSlot, shift uint64) bool {
	tw := atomic.LoadUint64(&s.tail)
	epoch, old, pos := splitTail(tw)
	if old == shift || atomic.LoadUint64(&s.head) != pos {
		return false
	}
	extra := int64(queueBytes(shift)) - int64(queueBytes(old))
	if extra > 0 && d.grown+extra > schedGrowBudget {
		return false
	}
	q, err := d.allocQueue(shift)
	if err != nil {
		return false
	}
	other := 1 - epoch
	atomic.StoreUintptr(&s.queues[other], q)
	if !atomic.CompareAndSwapUint64(&s.tail, tw, tailWord(other, shift, pos)) {
		d.freeQueue(q, shift) // a producer claimed meanwhile: try another time
		return false
	}
	d.freeQueue(atomic.LoadUintptr(&s.queues[epoch]), old)
	d.grown += extra
	return true
}
