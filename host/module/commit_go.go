package module

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// schedCommitGo and schedDeleteGo are the producer protocol of
// commit_amd64.s written in Go, step for step. On architectures without the
// assembly they are the host table's entries (through purego callbacks,
// which enter the Go runtime: correct, but ~12 us from a module thread);
// on amd64 the tests run both against the same scenarios.

func schedSlotOf(h uint64) (*schedDomainHdr, *schedSlot, uint32, uint64, bool) {
	if handleKind(h) != kindScheduler {
		atomic.AddUint64(&schedBadHandles, 1)
		return nil, nil, 0, 0, false
	}
	addr := atomic.LoadUintptr(&schedDomainAddrs[handleDomain(h)])
	if addr == 0 {
		atomic.AddUint64(&schedBadHandles, 1)
		return nil, nil, 0, 0, false
	}
	hdr := (*schedDomainHdr)(*(*unsafe.Pointer)(unsafe.Pointer(&addr)))
	idx := handleIndex(h)
	if idx >= schedMaxSlots {
		return hdr, nil, 0, 0, false
	}
	chunk := atomic.LoadUintptr(&hdr.chunks[idx>>schedChunkShift])
	if chunk == 0 {
		return hdr, nil, 0, 0, false
	}
	chunk += uintptr(idx&schedChunkMask) * unsafe.Sizeof(schedSlot{})
	return hdr, (*schedSlot)(*(*unsafe.Pointer)(unsafe.Pointer(&chunk))), idx, uint64(handleGen(h)), true
}

func schedReady(hdr *schedDomainHdr, idx uint32) {
	atomic.OrUint64(&hdr.ready[idx>>6], 1<<(idx&63))
	atomic.OrUint64(&hdr.summary[idx>>12], 1<<((idx>>6)&63))
	if atomic.SwapUint32(&hdr.wakePending, 1) == 0 {
		for {
			_, err := unix.Write(int(hdr.wakeFD), eventfdOne[:])
			if err != unix.EINTR {
				break
			}
		}
		atomic.AddUint64(&hdr.wakes, 1)
	}
}

func schedCommitGo(h, eventID uint64) bool {
	hdr, s, idx, gen, ok := schedSlotOf(h)
	if !ok {
		if hdr != nil {
			atomic.AddUint64(&hdr.rejectedStale, 1)
		}
		return false
	}
	if atomic.LoadUint32(&hdr.closed) != 0 {
		atomic.AddUint64(&hdr.rejectedClosed, 1)
		return false
	}
	if atomic.LoadUint64(&s.state) != gen<<2|schedStateOpen {
		atomic.AddUint64(&hdr.rejectedStale, 1)
		return false
	}
	var tw uint64
	for {
		tw = atomic.LoadUint64(&s.tail)
		epoch, shift, pos := splitTail(tw)
		_ = epoch
		if pos-atomic.LoadUint64(&s.head) >= 1<<shift {
			atomic.StoreUint32(&s.full, 1)
			atomic.AddUint64(&hdr.rejectedFull, 1)
			return false
		}
		if atomic.CompareAndSwapUint64(&s.tail, tw, tw+1) {
			break
		}
	}
	epoch, shift, pos := splitTail(tw)
	q := viewQueue(atomic.LoadUintptr(&s.queues[epoch]), shift)
	c := pos & q.mask
	q.cells[c] = schedEvent{gen: gen, id: eventID}
	atomic.OrUint64(&q.published[c>>6], 1<<(c&63))
	if atomic.SwapUint32(&s.notified, 1) == 0 {
		schedReady(hdr, idx)
	}
	return true
}

func schedDeleteGo(h uint64) {
	hdr, s, idx, gen, ok := schedSlotOf(h)
	if !ok {
		return
	}
	for {
		old := atomic.LoadUint64(&s.state)
		if old>>2 != gen || old&schedStateLive == 0 {
			return
		}
		if atomic.CompareAndSwapUint64(&s.state, old, old&^schedStateLive) {
			if old&schedStateTarget == 0 && atomic.LoadUint32(&hdr.closed) == 0 {
				schedReady(hdr, idx)
			}
			return
		}
	}
}
