package module

import (
	"sync/atomic"
	"time"
)

// rateWindow bounds how often one kind of module fault is logged: a module
// that returns a bad status on every request must not flood the log.
const rateWindow = 10 * time.Second

// rateLimitedLog allows one log line per window and counts the rest.
type rateLimitedLog struct {
	window     time.Duration
	next       atomic.Int64 // unix nanos when the next line is allowed
	suppressed atomic.Uint64
}

// allow reports whether to log now; when it does, it also returns how many
// events were suppressed since the previous line.
func (r *rateLimitedLog) allow(now time.Time) (bool, uint64) {
	n := now.UnixNano()
	next := r.next.Load()
	if n < next || !r.next.CompareAndSwap(next, n+int64(r.window)) {
		r.suppressed.Add(1)
		return false, 0
	}
	return true, r.suppressed.Swap(0)
}
