package worker

import "time"

// Timer is a one-shot callback on the worker's loop. Loop thread only.
type Timer struct {
	w     *Worker
	fn    func()
	when  int64  // monotonic nanoseconds since the worker's epoch
	seq   uint64 // tie-break: equal deadlines fire in creation/reset order
	index int    // position in the heap, -1 when not scheduled
}

// AfterFunc runs fn on the loop once d has elapsed (measured from the call,
// not from the cached Now). Loop thread only.
func (w *Worker) AfterFunc(d time.Duration, fn func()) *Timer {
	t := &Timer{w: w, fn: fn, index: -1}
	t.schedule(d)
	return t
}

// Stop cancels the timer. It reports whether the timer was pending (false if
// it already fired or was stopped).
func (t *Timer) Stop() bool {
	if t.index < 0 {
		return false
	}
	t.w.timers.remove(t)
	return true
}

// Reset (re)schedules the timer to fire d from now, whether it is pending,
// stopped or has fired.
func (t *Timer) Reset(d time.Duration) {
	if t.index >= 0 {
		t.w.timers.remove(t)
	}
	t.schedule(d)
}

// Pending reports whether the timer is scheduled.
func (t *Timer) Pending() bool { return t.index >= 0 }

func (t *Timer) schedule(d time.Duration) {
	if d < 0 {
		d = 0
	}
	w := t.w
	w.timerSeq++
	t.seq = w.timerSeq
	t.when = w.monoNow() + int64(d)
	w.timers.push(t)
}

// runTimers fires every timer due at the start of this iteration, earliest
// first. Timers created while firing wait for the next iteration, so a timer
// that re-arms itself with 0 cannot starve the loop.
func (w *Worker) runTimers() {
	now, lastSeq := w.nowMono, w.timerSeq
	for {
		t := w.timers.peek()
		if t == nil || t.when > now || t.seq > lastSeq {
			return
		}
		w.timers.remove(t)
		w.stats.timersFired.Add(1)
		t.fn()
		w.deliverPending()
	}
}

// timerHeap is a binary min-heap on (when, seq).
type timerHeap struct{ h []*Timer }

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
		t.index = -1
		th.h[i] = nil
	}
	th.h = th.h[:0]
}
