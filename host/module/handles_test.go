package module

import (
	"bytes"
	"testing"
	"unsafe"
)

func TestHandleTableGenerations(t *testing.T) {
	tab := newHandleTable[int](kindFilter, 7)
	a, b := 1, 2
	ha := tab.alloc(&a)
	if ha == 0 || tab.get(ha) != &a || handleKind(ha) != kindFilter || handleDomain(ha) != 7 {
		t.Fatalf("fresh handle %#x", ha)
	}
	tab.release(ha)
	if tab.get(ha) != nil {
		t.Fatal("released handle still resolves")
	}
	hb := tab.alloc(&b) // reuses the slot with a new generation
	if handleIndex(hb) != handleIndex(ha) || hb == ha {
		t.Fatalf("slot not reused with a new generation: %#x then %#x", ha, hb)
	}
	if tab.get(ha) != nil || tab.get(hb) != &b {
		t.Fatal("stale handle resolves to the slot's new object")
	}
	other := newHandleTable[int](kindFilter, 8)
	if other.get(hb) != nil || newHandleTable[int](kindConfig, 7).get(hb) != nil {
		t.Fatal("a handle resolved in another worker's or kind's table")
	}
	if tab.get(0) != nil || tab.get(hb+1<<handleGenShift) != nil || tab.get(hb&^(handleGenMask<<handleGenShift)) != nil {
		t.Fatal("garbage handles resolve")
	}
	tab.release(hb)
	tab.release(hb) // double release is harmless
	if tab.count() != 0 {
		t.Fatalf("count %d", tab.count())
	}
}

// A slot whose generation is exhausted is retired, never started over: a
// handle issued before the wrap (or at the last generation) can never name
// a later object (ABI 1 wrapped 24-bit generations back to 1, so after 2^24
// streams through one slot a stale filter handle equalled a live one).
func TestStaleHandleNeverMatchesAfterGenerationWrap(t *testing.T) {
	tab := newHandleTable[int](kindFilter, 3)
	a, b, c := 1, 2, 3
	first := tab.alloc(&a) // generation 1
	tab.release(first)
	// Force the slot to its last generation, as 2^28 - 2 more streams
	// through it would.
	idx := handleIndex(first)
	tab.slot(idx).gen.Store(handleGenMask - 1)
	last := tab.alloc(&b)
	if handleIndex(last) != idx || handleGen(last) != handleGenMask {
		t.Fatalf("expected the slot's last generation, got %#x", last)
	}
	tab.release(last)
	// Many more objects: none may reuse the retired slot, so neither old
	// handle ever resolves again.
	var live []uint64
	for i := 0; i < 3*tableChunkSize; i++ {
		h := tab.alloc(&c)
		if handleIndex(h) == idx {
			t.Fatalf("retired slot %d handed out again as %#x", idx, h)
		}
		if tab.get(first) != nil || tab.get(last) != nil {
			t.Fatalf("a pre-wrap handle resolves after %d allocations", i)
		}
		if i%2 == 0 {
			tab.release(h)
		} else {
			live = append(live, h)
		}
	}
	for _, h := range live {
		if tab.get(h) != &c {
			t.Fatalf("live handle %#x lost", h)
		}
	}
	// The same holds for every generation the slot ever had.
	for g := uint32(1); g <= handleGenMask; g += handleGenMask / 64 {
		if tab.get(makeHandle(kindFilter, 3, g, idx)) != nil {
			t.Fatalf("generation %d of the retired slot resolves", g)
		}
	}
}

func TestArenaNestingAndLargeLoans(t *testing.T) {
	var a arena
	defer a.free()
	outer := a.mark()
	p1 := a.copy([]byte("outer view"))
	inner := a.mark()
	big := bytes.Repeat([]byte("x"), 2*arenaKeep) // larger than a chunk and than what an idle arena keeps
	p2 := a.copy(big)
	if string(unsafe.Slice((*byte)(p2), len(big))) != string(big) {
		t.Fatal("large loan corrupted")
	}
	a.release(inner)
	// The outer view survives the inner hook's release and new loans.
	p3 := a.copy([]byte("after inner"))
	if got := string(unsafe.Slice((*byte)(p1), 10)); got != "outer view" {
		t.Fatalf("outer view = %q", got)
	}
	if p3 == p1 {
		t.Fatal("new loan overlaps a live view")
	}
	a.release(outer)
	// Back at zero the big chunk is returned to the OS.
	total := 0
	for _, c := range a.chunks {
		total += len(c)
	}
	if total > arenaKeep {
		t.Fatalf("idle arena keeps %d bytes", total)
	}
	if a.copy(nil) != nil {
		t.Fatal("empty loan must be NULL")
	}
}
