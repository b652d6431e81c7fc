package worker

import "sync/atomic"

// ConnLimit counts accepted connections against a bound that several
// listeners and workers share: one listener's max_connections, or the
// process-wide global_downstream_max_connections. A listener takes a slot
// for a new connection before the connection exists and the connection
// gives it back when it is torn down, so the count never goes above the
// bound, even with every worker accepting at once. A connection that gets
// no slot is closed right after accept and counted as an overflow.
// Any goroutine.
type ConnLimit struct {
	max      atomic.Int64 // ≤ 0: no bound, only counting
	active   atomic.Int64
	overflow atomic.Uint64
}

// NewConnLimit bounds connections to max (≤ 0: count without a bound).
func NewConnLimit(max int64) *ConnLimit {
	l := &ConnLimit{}
	l.max.Store(max)
	return l
}

// Max is the bound (≤ 0: none).
func (l *ConnLimit) Max() int64 { return l.max.Load() }

// SetMax changes the bound (a reload): connections above a lowered bound
// stay; new ones wait for the count to fall below it.
func (l *ConnLimit) SetMax(max int64) { l.max.Store(max) }

// Active is how many connections hold a slot.
func (l *ConnLimit) Active() int64 { return l.active.Load() }

// Overflow is how many connections were closed because the bound was
// reached.
func (l *ConnLimit) Overflow() uint64 { return l.overflow.Load() }

func (l *ConnLimit) acquire() bool {
	max := l.max.Load()
	if max <= 0 {
		l.active.Add(1)
		return true
	}
	for {
		n := l.active.Load()
		if n >= max {
			return false
		}
		if l.active.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (l *ConnLimit) release() { l.active.Add(-1) }

// admit takes a slot in every limit, or in none: the first that is full
// counts the overflow.
func admit(limits []*ConnLimit) bool {
	for i, lim := range limits {
		if !lim.acquire() {
			lim.overflow.Add(1)
			for _, taken := range limits[:i] {
				taken.release()
			}
			return false
		}
	}
	return true
}
