package worker

import "time"

// Timer is a one-shot callback on the worker's loop. Loop thread only.
//
// Stop and Reset are lazy: the heap entry keeps its position while the
// timer is stopped or pushed later, and is dropped or moved to the new
// deadline only when it reaches the top of the heap. A connection manager
// stops and re-arms its idle, route and pool timers on every request, each
// time to a later deadline; done eagerly that is a heap removal and a push
// each, done lazily it is two field writes (host/worker/RATIONALE.md).
type Timer struct {
	w     *Worker
	fn    func()
	when  int64  // heap key: monotonic nanoseconds since the worker's epoch
	seq   uint64 // heap tie-break: equal deadlines fire in creation/reset order
	index int    // position in the heap, -1 when not in it
	// due and dueSeq are the deadline the timer is armed for; the heap
	// entry (when, seq) may be earlier than that, never later.
	due    int64
	dueSeq uint64
	armed  bool
}

// AfterFunc runs fn on the loop once d has elapsed (measured from the call,
// not from the cached Now). Loop thread only.
func (w *Worker) AfterFunc(d time.Duration, fn func()) *Timer {
	t := &Timer{w: w, fn: fn, index: -1}
	t.schedule(d)
	return t
}

// Stop cancels the timer. It reports whether the timer was pending (false if
// it already fired or was stopped). The heap entry stays until it comes due
// (it then wakes the loop once, for nothing) or the timer is reset.
func (t *Timer) Stop() bool {
	if !t.armed {
		return false
	}
	t.armed = false
	t.w.timers.stale++
	t.w.timers.maybeSweep()
	return true
}

// Reset (re)schedules the timer to fire d from now, whether it is pending,
// stopped or has fired.
func (t *Timer) Reset(d time.Duration) { t.schedule(d) }

// Pending reports whether the timer is scheduled.
func (t *Timer) Pending() bool { return t.armed }

func (t *Timer) schedule(d time.Duration) {
	if d < 0 {
		d = 0
	}
	w := t.w
	w.timerSeq++
	if t.index >= 0 && !t.armed {
		w.timers.stale--
	}
	t.due, t.dueSeq, t.armed = w.monoNow()+int64(d), w.timerSeq, true
	if t.index >= 0 {
		if t.due >= t.when {
			return // the entry comes up first and is moved then
		}
		w.timers.remove(t)
	}
	t.when, t.seq = t.due, t.dueSeq
	w.timers.push(t)
}

// runTimers fires every timer due at the start of this iteration, earliest
// first. Timers created while firing wait for the next iteration, so a timer
// that re-arms itself with 0 cannot starve the loop. A heap entry that comes
// up for a stopped timer is dropped; one for a timer armed later is moved
// to its deadline, so timers still fire in (deadline, reset order).
func (w *Worker) runTimers() {
	now, lastSeq := w.nowMono, w.timerSeq
	for {
		t := w.timers.peek()
		if t == nil || t.when > now || t.seq > lastSeq {
			return
		}
		w.timers.remove(t)
		if !t.armed {
			w.timers.stale--
			continue
		}
		if t.when != t.due || t.seq != t.dueSeq {
			t.when, t.seq = t.due, t.dueSeq
			w.timers.push(t)
			continue
		}
		t.armed = false
		w.stats.timersFired.Add(1)
		t.fn()
		w.deliverPending()
	}
}

// timerHeap is a binary min-heap on (when, seq). stale counts the entries
// of stopped timers still in it; once they are the majority they are swept
// out, so timers created and stopped faster than their deadlines pass (a
// callout's timeout) cannot grow the heap without bound.
type timerHeap struct {
	h     []*Timer
	stale int
}

func (th *timerHeap) maybeSweep() {
	if th.stale < 64 || th.stale*2 < len(th.h) {
		return
	}
	kept := th.h[:0]
	for _, t := range th.h {
		if t.armed {
			t.index = len(kept)
			kept = append(kept, t)
		} else {
			t.index = -1
		}
	}
	clear(th.h[len(kept):])
	th.h, th.stale = kept, 0
	for i := len(th.h)/2 - 1; i >= 0; i-- {
		th.down(i)
	}
}

func (th *timerHeap) less(i, j int) bool {
	a, b := th.h[i], th.h[j]
	return a.when < b.when || (a.when == b.when && a.seq < b.seq)
}

func (th *timerHeap) swap(i, j int) {
	th.h[i], th.h[j] = th.h[j], th.h[i]
	th.h[i].index = i
	th.h[j].index = j
}

func (th *timerHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !th.less(i, p) {
			return
		}
		th.swap(i, p)
		i = p
	}
}

func (th *timerHeap) down(i int) {
	n := len(th.h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && th.less(r, l) {
			m = r
		}
		if !th.less(m, i) {
			return
		}
		th.swap(i, m)
		i = m
	}
}

func (th *timerHeap) push(t *Timer) {
	t.index = len(th.h)
	th.h = append(th.h, t)
	th.up(t.index)
}

func (th *timerHeap) remove(t *Timer) {
	i, last := t.index, len(th.h)-1
	if i != last {
		th.swap(i, last)
	}
	th.h[last] = nil
	th.h = th.h[:last]
	t.index = -1
	if i != last {
		th.down(i)
		th.up(i)
	}
}

func (th *timerHeap) peek() *Timer {
	if len(th.h) == 0 {
		return nil
	}
	return th.h[0]
}

func (th *timerHeap) next() (int64, bool) {
	if len(th.h) == 0 {
		return 0, false
	}
	return th.h[0].when, true
}

func (th *timerHeap) len() int { return len(th.h) }

func (th *timerHeap) clear() {
	for i, t := range th.h {
		t.index, t.armed = -1, false
		th.h[i] = nil
	}
	th.h, th.stale = th.h[:0], 0
}
