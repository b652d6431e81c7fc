package module

import (
	"github.com/ebitengine/purego"
)

// OnEvents implements worker.FDHandler: the scheduler eventfd fired.
// One drain per loop iteration, bounded by the drain budget; what is left
// waits for the next iteration (the domain re-arms its eventfd).
func (ws *workerState) OnEvents(uint32) {
	ws.sched.drain(ws.host.drainBudget)
}

// syscall calls a hook with up to three arguments (extra ones are ignored
// by the C ABI). They go through the worker's scratch slice: a variadic
// literal would be heap-allocated on every call, and SyscallN copies them
// before calling, so a nested hook reusing the slice is harmless.
func (ws *workerState) syscall(fn, a0, a1, a2 uintptr) uintptr {
	args := ws.args[:]
	args[0], args[1], args[2] = a0, a1, a2
	r, _, _ := purego.SyscallN(fn, args...)
	return r
}

// syscall4 is syscall with four arguments (network read/write hooks,
// callout_done).
func (ws *workerState) syscall4(fn, a0, a1, a2, a3 uintptr) uintptr {
	args := ws.args4[:]
	args[0], args[1], args[2], args[3] = a0, a1, a2, a3
	r, _, _ := purego.SyscallN(fn, args...)
	return r
}

// maxPooledFilters bounds the per-worker free list of filter objects.
const maxPooledFilters = 1024

// getFilter / putFilter recycle filter objects per worker so a stream
// costs no allocation in steady state. A recycled object is only reachable
// through a new handle; the hcm never calls a filter after OnDestroy.
func (ws *workerState) getFilter() *filter {
	if n := len(ws.freeFilters); n > 0 {
		f := ws.freeFilters[n-1]
		ws.freeFilters = ws.freeFilters[:n-1]
		f.destroyed = false
		return f
	}
	return &filter{}
}

func (ws *workerState) putFilter(f *filter) {
	scheds, timers, callouts := f.scheds[:0], f.timers[:0], f.callouts[:0]
	*f = filter{scheds: scheds, timers: timers, callouts: callouts}
	f.destroyed = true // until reused: a stale call through an old reference does nothing
	if len(ws.freeFilters) < maxPooledFilters {
		ws.freeFilters = append(ws.freeFilters, f)
	}
}
