package module

import (
	"time"

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
