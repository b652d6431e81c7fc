package module

import (
	"time"

	"github.com/ebitengine/purego"
	"go.uber.org/zap"
)

// OnEvents implements worker.FDHandler: the scheduler eventfd fired.
func (ws *workerState) OnEvents(uint32) {
	if ws.ring.hdr == nil {
		return
	}
	ws.ring.drain(ws.deliver)
	ws.sweep(64)
}

// sweepInterval paces reclaiming schedulers whose filter is gone and which
// the module deleted later, when no other activity would sweep them.
const sweepInterval = time.Second

// sweep reclaims up to max orphaned schedulers and keeps a timer armed
// while some remain. Worker only.
func (ws *workerState) sweep(max int) {
	ws.slab.sweepOrphans(max)
	if len(ws.slab.orphans) > 0 && ws.sweepTimer == nil {
		ws.sweepTimer = ws.w.AfterFunc(sweepInterval, func() {
			ws.sweepTimer = nil
			ws.sweep(256)
		})
	}
}

// deliver runs one committed event: the filter's on_scheduled hook when
// the filter is alive, else the event is dropped and counted.
func (ws *workerState) deliver(handle, eventID uint64) {
	f := ws.table.get(handle)
	if f == nil || f.destroyed || f.destroyPending || f.ended() {
		ws.dropped.Add(1)
		if ok, n := ws.host.droppedLog.allow(time.Now()); ok {
			ws.host.log.Debug("scheduled event dropped: filter already gone",
				zap.Uint64("event_id", eventID), zap.Uint64("suppressed", n))
		}
		return
	}
	ws.delivered.Add(1)
	f.scheduled(eventID)
}

func (ws *workerState) slabLive() int { return int(ws.slab.live.Load()) }

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
	scheds := f.scheds[:0]
	*f = filter{scheds: scheds}
	f.destroyed = true // until reused: a stale call through an old reference does nothing
	if len(ws.freeFilters) < maxPooledFilters {
		ws.freeFilters = append(ws.freeFilters, f)
	}
}
