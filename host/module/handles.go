package module

import (
	"sync"
	"sync/atomic"
)

// A handle is kind(4) | worker(12) | generation(24) | index(24). The worker
// field routes a filter handle to its worker's table without a global map;
// the generation makes a handle stale as soon as its slot is released, so a
// late call (commit after destroy, a module caching a handle) is detected.
const (
	handleKindShift   = 60
	handleWorkerShift = 48
	handleGenShift    = 24
	handleFieldMask   = 1<<24 - 1
	handleWorkerMask  = 1<<12 - 1

	kindConfig = 1
	kindFilter = 2

	maxWorkerIDs   = 1 << 12
	tableChunkSize = 4096
	tableMaxChunks = (handleFieldMask + 1) / tableChunkSize
)

func handleKind(h uint64) uint64   { return h >> handleKindShift }
func handleWorker(h uint64) uint64 { return h >> handleWorkerShift & handleWorkerMask }

type tableSlot[T any] struct {
	gen atomic.Uint32
	val atomic.Pointer[T]
}

type tableChunk[T any] [tableChunkSize]tableSlot[T]

// handleTable maps handles to objects. Lookups are lock-free (any thread
// may look up, e.g. metrics calls from module threads); alloc and release
// take a mutex that is uncontended in practice (each worker owns its table).
type handleTable[T any] struct {
	kind, worker uint64
	chunks       [tableMaxChunks]atomic.Pointer[tableChunk[T]]

	mu   sync.Mutex
	free []uint32
	next uint32
	live int
}

func newHandleTable[T any](kind, worker uint64) *handleTable[T] {
	return &handleTable[T]{kind: kind, worker: worker}
}

// alloc stores v and returns its handle, or 0 when the table is full.
func (t *handleTable[T]) alloc(v *T) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var idx uint32
	if n := len(t.free); n > 0 {
		idx = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		if t.next > handleFieldMask {
			return 0
		}
		idx = t.next
		t.next++
		if c := idx / tableChunkSize; t.chunks[c].Load() == nil {
			t.chunks[c].Store(new(tableChunk[T]))
		}
	}
	s := &t.chunks[idx/tableChunkSize].Load()[idx%tableChunkSize]
	gen := s.gen.Load()
	if gen == 0 {
		gen = 1
		s.gen.Store(gen)
	}
	s.val.Store(v)
	t.live++
	return t.kind<<handleKindShift | t.worker<<handleWorkerShift | uint64(gen)<<handleGenShift | uint64(idx)
}

// get returns the object of a live handle, nil for a stale or foreign one.
func (t *handleTable[T]) get(h uint64) *T {
	if handleKind(h) != t.kind || handleWorker(h) != t.worker {
		return nil
	}
	idx := uint32(h & handleFieldMask)
	gen := uint32(h >> handleGenShift & handleFieldMask)
	c := t.chunks[idx/tableChunkSize].Load()
	if c == nil {
		return nil
	}
	s := &c[idx%tableChunkSize]
	if s.gen.Load() != gen {
		return nil
	}
	v := s.val.Load()
	if s.gen.Load() != gen { // released while we read
		return nil
	}
	return v
}

// release makes h stale and recycles its slot.
func (t *handleTable[T]) release(h uint64) {
	if t.get(h) == nil {
		return
	}
	idx := uint32(h & handleFieldMask)
	t.mu.Lock()
	defer t.mu.Unlock()
	s := &t.chunks[idx/tableChunkSize].Load()[idx%tableChunkSize]
	s.val.Store(nil)
	gen := s.gen.Load() + 1
	if gen > handleFieldMask {
		gen = 1
	}
	s.gen.Store(gen)
	t.free = append(t.free, idx)
	t.live--
}

func (t *handleTable[T]) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.live
}
