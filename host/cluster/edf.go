package cluster

// edfQueue is an earliest-deadline-first schedule over a pick set with
// unequal weights (Envoy's EdfScheduler): each host's next turn is 1/weight
// after its last, so over time a host is picked in proportion to its
// weight, interleaved rather than in bursts. The heap has one entry per
// host and keeps its size: a pick replaces the root, so it never allocates.
type edfQueue struct {
	h   []edfEntry
	seq uint64
}

type edfEntry struct {
	deadline float64
	seq      uint64 // insertion order breaks ties, oldest first
	turns    uint64 // turns taken; the next deadline is (turns+1)/weight
	idx      int32  // index into the pick set
}

func (q *edfQueue) reset() { q.h, q.seq = q.h[:0], 0 }

// init schedules every host for its first turn.
func (q *edfQueue) init(weights []float64) {
	for i, w := range weights {
		q.h = append(q.h, edfEntry{deadline: 1 / w, seq: q.seq, idx: int32(i)})
		q.seq++
		q.up(len(q.h) - 1)
	}
}

// pop returns the host whose turn it is and schedules its next one. The
// deadline is computed from the turn count rather than accumulated, so
// rounding never drifts the schedule (1/3 added three times is not 1).
func (q *edfQueue) pop(weights []float64) int {
	top := &q.h[0]
	idx := top.idx
	top.turns++
	q.requeue(float64(top.turns+1) / weights[idx])
	return int(idx)
}

// popLeast is pop for least_request: the next turn comes sooner the fewer
// streams the host has in flight (weight / (active + 1)).
func (q *edfQueue) popLeast(weights []float64, hosts []*Host) int {
	top := q.h[0]
	active := float64(hosts[top.idx].active.Load())
	q.requeue(top.deadline + (active+1)/weights[top.idx])
	return int(top.idx)
}

// requeue gives the root a new deadline and restores the heap.
func (q *edfQueue) requeue(deadline float64) {
	q.h[0].deadline = deadline
	q.h[0].seq = q.seq
	q.seq++
	q.down(0)
}

func (q *edfQueue) less(i, j int) bool {
	a, b := &q.h[i], &q.h[j]
	if a.deadline != b.deadline {
		return a.deadline < b.deadline
	}
	return a.seq < b.seq
}

func (q *edfQueue) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !q.less(i, parent) {
			return
		}
		q.h[i], q.h[parent] = q.h[parent], q.h[i]
		i = parent
	}
}

func (q *edfQueue) down(i int) {
	n := len(q.h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && q.less(r, l) {
			m = r
		}
		if !q.less(m, i) {
			return
		}
		q.h[i], q.h[m] = q.h[m], q.h[i]
		i = m
	}
}
