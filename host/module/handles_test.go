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
	if ha == 0 || tab.get(ha) != &a || handleKind(ha) != kindFilter || handleWorker(ha) != 7 {
		t.Fatalf("fresh handle %#x", ha)
	}
	tab.release(ha)
	if tab.get(ha) != nil {
		t.Fatal("released handle still resolves")
	}
	hb := tab.alloc(&b) // reuses the slot with a new generation
	if hb&handleFieldMask != ha&handleFieldMask || hb == ha {
		t.Fatalf("slot not reused with a new generation: %#x then %#x", ha, hb)
	}
	if tab.get(ha) != nil || tab.get(hb) != &b {
		t.Fatal("stale handle resolves to the slot's new object")
	}
	other := newHandleTable[int](kindFilter, 8)
	if other.get(hb) != nil || newHandleTable[int](kindConfig, 7).get(hb) != nil {
		t.Fatal("a handle resolved in another worker's or kind's table")
	}
	if tab.get(0) != nil || tab.get(hb+1<<handleGenShift) != nil {
		t.Fatal("garbage handles resolve")
	}
	tab.release(hb)
	tab.release(hb) // double release is harmless
	if tab.count() != 0 {
		t.Fatalf("count %d", tab.count())
	}
	// The generation wraps to 1, never 0.
	s := &tab.chunks[0].Load()[hb&handleFieldMask]
	s.gen.Store(handleFieldMask)
	h := tab.alloc(&a)
	tab.release(h)
	if g := s.gen.Load(); g != 1 {
		t.Fatalf("generation after wrap = %d", g)
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
