package worker

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// The heap against a sorted-slice model under random push/remove/pop,
// including removal from the middle (Stop) and re-push (Reset).
func TestTimerHeapAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h timerHeap
	var model []*Timer
	less := func(a, b *Timer) int {
		if a.when != b.when {
			return int(a.when - b.when)
		}
		return int(a.seq) - int(b.seq)
	}
	pool := make([]*Timer, 64)
	for i := range pool {
		pool[i] = &Timer{index: -1}
	}
	var seq uint64
	for step := 0; step < 20000; step++ {
		tm := pool[rng.IntN(len(pool))]
		switch op := rng.IntN(3); {
		case op == 0 && tm.index < 0: // push
			seq++
			tm.when, tm.seq = int64(rng.IntN(50)), seq
			h.push(tm)
			model = append(model, tm)
		case op == 1 && tm.index >= 0: // remove (Stop)
			h.remove(tm)
			model = slices.DeleteFunc(model, func(x *Timer) bool { return x == tm })
		case op == 2 && h.len() > 0: // pop the earliest (fire)
			slices.SortFunc(model, less)
			top := h.peek()
			if top != model[0] {
				t.Fatalf("step %d: heap top (%d,%d), model (%d,%d)", step, top.when, top.seq, model[0].when, model[0].seq)
			}
			h.remove(top)
			model = model[1:]
		}
		if h.len() != len(model) {
			t.Fatalf("step %d: heap %d, model %d", step, h.len(), len(model))
		}
		for i, x := range h.h {
			if x.index != i {
				t.Fatalf("step %d: index %d stored as %d", step, i, x.index)
			}
		}
	}
}
