package module

import (
	"sync"
	"sync/atomic"
)

// A handle is kind(4) | domain(12) | generation(28) | index(20). The domain
// field routes a handle to the table of the worker (or control thread)
// that owns the object, without a global map; the generation makes a
// handle stale as soon as its slot is released, so a late call (commit
// after destroy, a module caching a handle) is detected.
//
// Generations never wrap into a live value: a slot whose generation
// reaches the maximum is retired (never handed out again) instead of
// starting over at 1, so a (slot, generation) pair is issued at most once
// in the life of the process. Retiring costs one slot per 2^28 reuses of
// that slot.
const (
	handleKindShift   = 60
	handleDomainShift = 48
	handleGenShift    = 20
	handleIndexMask   = 1<<20 - 1
	handleGenMask     = 1<<28 - 1
	handleDomainMask  = 1<<12 - 1

	kindConfig    = 1
	kindFilter    = 2
	kindScheduler = 3
	kindTimer     = 4
	kindNetFilter = 5
	// kindCallout: a filter's callout (domain = its worker);
	// kindConfigCallout: a config's (domain = the control thread).
	kindCallout       = 6
	kindConfigCallout = 7

	maxDomains     = 1 << 12
	tableChunkSize = 4096
	tableMaxChunks = (handleIndexMask + 1) / tableChunkSize
)

func handleKind(h uint64) uint64   { return h >> handleKindShift }
func handleDomain(h uint64) uint64 { return h >> handleDomainShift & handleDomainMask }
func handleIndex(h uint64) uint32  { return uint32(h & handleIndexMask) }
func handleGen(h uint64) uint32    { return uint32(h >> handleGenShift & handleGenMask) }

func makeHandle(kind, domain uint64, gen, idx uint32) uint64 {
	return kind<<handleKindShift | domain<<handleDomainShift | uint64(gen)<<handleGenShift | uint64(idx)
}

type tableSlot[T any] struct {
	// gen is the generation last issued for the slot (0 once retired, so
	// no handle matches it again); val is nil while the slot is free.
	gen atomic.Uint32
	val atomic.Pointer[T]
}

type tableChunk[T any] [tableChunkSize]tableSlot[T]

// handleTable maps handles to objects. Lookups are lock-free (any thread
// may look up, e.g. metrics calls from module threads); alloc and release
// take a mutex that is uncontended in practice (each worker owns its table).
type handleTable[T any] struct {
	kind, domain uint64
	chunks       [tableMaxChunks]atomic.Pointer[tableChunk[T]]

	mu      sync.Mutex
	free    []uint32
	next    uint32
	live    int
	retired int
}

func newHandleTable[T any](kind, domain uint64) *handleTable[T] {
	return &handleTable[T]{kind: kind, domain: domain}
}

func (t *handleTable[T]) slot(idx uint32) *tableSlot[T] {
	c := t.chunks[idx/tableChunkSize].Load()
	if c == nil {
		return nil
	}
	return &c[idx%tableChunkSize]
}

// alloc stores v and returns its handle, or 0 when the table is full.
func (t *handleTable[T]) alloc(v *T) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var idx, gen uint32
	if n := len(t.free); n > 0 {
		idx = t.free[n-1]
		t.free = t.free[:n-1]
		gen = t.slot(idx).gen.Load() + 1
	} else {
		if t.next > handleIndexMask {
			return 0
		}
		idx = t.next
		t.next++
		if c := idx / tableChunkSize; t.chunks[c].Load() == nil {
			t.chunks[c].Store(new(tableChunk[T]))
		}
		gen = 1
	}
	s := t.slot(idx)
	// gen first: a get racing with an older handle of this slot then
	// re-reads a changed generation after loading v, and returns nil.
	s.gen.Store(gen)
	s.val.Store(v)
	t.live++
	return makeHandle(t.kind, t.domain, gen, idx)
}

// get returns the object of a live handle, nil for a stale or foreign one.
func (t *handleTable[T]) get(h uint64) *T {
	if handleKind(h) != t.kind || handleDomain(h) != t.domain {
		return nil
	}
	gen := handleGen(h)
	if gen == 0 {
		return nil
	}
	s := t.slot(handleIndex(h))
	if s == nil || s.gen.Load() != gen {
		return nil
	}
	v := s.val.Load()
	if s.gen.Load() != gen { // released (and maybe reused) while we read
		return nil
	}
	return v
}

// release makes h stale and recycles its slot, or retires the slot when
// its generation is exhausted.
func (t *handleTable[T]) release(h uint64) {
	if t.get(h) == nil {
		return
	}
	idx, gen := handleIndex(h), handleGen(h)
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.slot(idx)
	if s.gen.Load() != gen || s.val.Load() == nil { // a concurrent release won
		return
	}
	s.val.Store(nil)
	t.live--
	if gen >= handleGenMask {
		s.gen.Store(0)
		t.retired++
		return
	}
	t.free = append(t.free, idx)
}

func (t *handleTable[T]) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.live
}
