package module

import (
	"sync/atomic"
	"unsafe"

	"github.com/sluiceproxy/sluice/abi"
)

// schedSlab hands out sluice_scheduler structs from C memory on one
// worker. A struct is reusable only when the module deleted it AND its
// filter is gone: before that a module thread may still commit through it.
type schedSlab struct {
	chunks  [][]byte
	scheds  []*abi.Scheduler // index -> struct
	free    []int32
	orphans []int32      // filter gone, module has not deleted yet
	sweep   int          // next orphan to look at
	live    atomic.Int64 // read by Stats from other goroutines
}

const schedChunk = 1024

// alloc returns a scheduler for filterHandle on ring r and its index.
func (s *schedSlab) alloc(r *ring, filterHandle uint64) (*abi.Scheduler, int32) {
	if len(s.free) == 0 {
		size := int(unsafe.Sizeof(abi.Scheduler{}))
		mem, err := cAlloc(schedChunk * size)
		if err != nil {
			return nil, -1
		}
		s.chunks = append(s.chunks, mem)
		arr := unsafe.Slice((*abi.Scheduler)(unsafe.Pointer(&mem[0])), schedChunk)
		base := int32(len(s.scheds))
		for i := range arr {
			s.scheds = append(s.scheds, &arr[i])
		}
		for i := int32(schedChunk - 1); i >= 0; i-- {
			s.free = append(s.free, base+i)
		}
	}
	idx := s.free[len(s.free)-1]
	s.free = s.free[:len(s.free)-1]
	sc := s.scheds[idx]
	sc.Ring = uintptr(unsafe.Pointer(r.hdr))
	sc.Filter = filterHandle
	sc.Reserved = 0
	atomic.StoreUint32(&sc.Deleted, 0)
	s.live.Add(1)
	return sc, idx
}

func (s *schedSlab) deleted(idx int32) bool { return atomic.LoadUint32(&s.scheds[idx].Deleted) != 0 }

func (s *schedSlab) reclaim(idx int32) {
	sc := s.scheds[idx]
	sc.Filter = 0
	s.free = append(s.free, idx)
	s.live.Add(-1)
}

// filterGone is called when the filter that created idx is destroyed.
func (s *schedSlab) filterGone(idx int32) {
	if s.deleted(idx) {
		s.reclaim(idx)
		return
	}
	s.orphans = append(s.orphans, idx)
}

// sweepOrphans reclaims up to max orphans the module has deleted since;
// incremental so a module that never deletes costs O(max) per call.
func (s *schedSlab) sweepOrphans(max int) {
	for i := 0; i < max && len(s.orphans) > 0; i++ {
		if s.sweep >= len(s.orphans) {
			s.sweep = 0
		}
		idx := s.orphans[s.sweep]
		if s.deleted(idx) {
			s.reclaim(idx)
			last := len(s.orphans) - 1
			s.orphans[s.sweep] = s.orphans[last]
			s.orphans = s.orphans[:last]
		} else {
			s.sweep++
		}
	}
}

func (s *schedSlab) freeAll() {
	for _, c := range s.chunks {
		cFree(c)
	}
	s.chunks, s.scheds, s.free, s.orphans, s.sweep = nil, nil, nil, nil, 0
	s.live.Store(0)
}
