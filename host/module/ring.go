package module

import (
	"errors"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sluiceproxy/sluice/abi"
)

// ring is one worker's commit ring: a Vyukov bounded MPMC queue (used
// multi-producer, single-consumer) in C memory, plus the worker's eventfd.
// Producers are module threads running the header's inline
// sluice_scheduler_commit; the only consumer is the worker.
type ring struct {
	mem   []byte
	hdr   *abi.SchedRing
	slots []abi.SchedSlot
	efd   int
}

const ringHeaderSize = int(unsafe.Sizeof(abi.SchedRing{}))

func newRing(capacity, workerIndex int) (*ring, error) {
	if capacity < 2 || capacity&(capacity-1) != 0 {
		return nil, errors.New("module: scheduler ring capacity must be a power of two >= 2")
	}
	slotSize := int(unsafe.Sizeof(abi.SchedSlot{}))
	mem, err := cAlloc(ringHeaderSize + capacity*slotSize)
	if err != nil {
		return nil, err
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		cFree(mem)
		return nil, err
	}
	r := &ring{mem: mem, efd: efd}
	r.hdr = (*abi.SchedRing)(unsafe.Pointer(&mem[0]))
	r.slots = unsafe.Slice((*abi.SchedSlot)(unsafe.Pointer(&mem[ringHeaderSize])), capacity)
	for i := range r.slots {
		r.slots[i].Seq = uint64(i)
	}
	r.hdr.Slots = uintptr(unsafe.Pointer(&r.slots[0]))
	r.hdr.Mask = uint64(capacity - 1)
	r.hdr.WakeFD = int32(efd)
	r.hdr.WorkerIndex = uint32(workerIndex)
	return r, nil
}

// drain delivers every published record, at most one ring's worth, so a
// producer that keeps committing cannot starve the worker's sockets. It
// returns how many records it delivered. The eventfd is watched
// edge-triggered and never read: every write raises an event, and skipping
// the read takes a syscall (~1 us on this VM) off the wake-up path. Its
// counter grows by one per wake-up and cannot realistically overflow
// (2^64 - 2).
func (r *ring) drain(deliver func(filter, eventID uint64)) int {
	// Clear the flag BEFORE draining: a committer that still sees 1 after
	// this store published its slot earlier, so the loop below finds it.
	atomic.StoreUint32(&r.hdr.WakePending, 0)
	mask := r.hdr.Mask
	pos := r.hdr.DequeuePos
	n := 0
	for uint64(n) <= mask {
		s := &r.slots[pos&mask]
		if atomic.LoadUint64(&s.Seq) != pos+1 {
			break
		}
		filter, ev := s.Filter, s.EventID
		atomic.StoreUint64(&s.Seq, pos+mask+1)
		pos++
		r.hdr.DequeuePos = pos
		deliver(filter, ev)
		n++
	}
	if uint64(n) > mask {
		// Budget used up with records maybe left: wake ourselves again.
		r.wake()
	}
	return n
}

// wake schedules another drain (the same protocol as a committer).
func (r *ring) wake() {
	if atomic.SwapUint32(&r.hdr.WakePending, 1) == 0 {
		one := [8]byte{1}
		_, _ = unix.Write(r.efd, one[:])
	}
}

func (r *ring) rejectedFull() uint64 { return atomic.LoadUint64(&r.hdr.RejectedFull) }
func (r *ring) wakes() uint64        { return atomic.LoadUint64(&r.hdr.Wakes) }

// close makes further commits fail. The memory and the eventfd are only
// released by free, which the host calls when no scheduler is left.
func (r *ring) close() { atomic.StoreUint32(&r.hdr.Closed, 1) }

func (r *ring) free() {
	_ = unix.Close(r.efd)
	cFree(r.mem)
	r.mem, r.hdr, r.slots = nil, nil, nil
}
