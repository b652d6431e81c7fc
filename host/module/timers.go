package module

import (
	"time"

	"github.com/sluiceproxy/sluice/host/worker"
)

// Timers are per worker, in a generation-checked table like filters, and
// like the scheduler they know nothing of HTTP: a timer fires into a
// timerTarget (a filter today).
type timerTarget interface {
	// fireTimer runs the target's timer hook for timer handle h.
	fireTimer(h uint64)
}

// moduleTimer is one timer a module created.
type moduleTimer struct {
	ws     *workerState
	handle uint64
	target timerTarget
	wt     *worker.Timer // created on first enable
}

func (t *moduleTimer) fire() { t.target.fireTimer(t.handle) }

// newTimer creates a disarmed timer for target. Worker only.
func (ws *workerState) newTimer(target timerTarget) uint64 {
	t := &moduleTimer{ws: ws, target: target}
	t.handle = ws.timers.alloc(t)
	return t.handle
}

// deleteTimer disarms and frees a timer. Worker only.
func (ws *workerState) deleteTimer(h uint64) {
	if t := ws.timers.get(h); t != nil {
		if t.wt != nil {
			t.wt.Stop()
		}
		ws.timers.release(h)
	}
}

// lookupTimer resolves a timer handle for a worker-only call.
func lookupTimer(h uint64) (*moduleTimer, int32) {
	if handleKind(h) != kindTimer {
		return nil, rInvalid
	}
	ws := workersByGID[handleDomain(h)].Load()
	if ws == nil {
		return nil, rInvalid
	}
	t := ws.timers.get(h)
	if t == nil {
		return nil, rInvalid
	}
	if ws.hookDepth.Load() == 0 {
		return nil, rWrongThread
	}
	return t, rOK
}

func cbTimerNew(h uint64) uint64 {
	f, r := lookupFilter(h)
	if r != rOK || f.destroyed || f.hk.timer == 0 || f.cb.Ended() {
		return 0
	}
	th := f.ws.newTimer(f)
	if th != 0 {
		f.timers = append(f.timers, th)
	}
	return th
}

func cbTimerEnable(h uint64, delayMS uint64) int32 {
	t, r := lookupTimer(h)
	if r != rOK {
		return r
	}
	const maxDelay = uint64(365 * 24 * time.Hour / time.Millisecond)
	if delayMS > maxDelay {
		return rBadArg
	}
	d := time.Duration(delayMS) * time.Millisecond
	if t.wt == nil {
		t.wt = t.ws.w.AfterFunc(d, t.fire)
	} else {
		t.wt.Reset(d)
	}
	return rOK
}

func cbTimerDisable(h uint64) int32 {
	t, r := lookupTimer(h)
	if r != rOK {
		return r
	}
	if t.wt != nil {
		t.wt.Stop()
	}
	return rOK
}

func cbTimerDelete(h uint64) int32 {
	t, r := lookupTimer(h)
	if r != rOK {
		return r
	}
	t.ws.deleteTimer(t.handle)
	if f, ok := t.target.(interface{ forgetTimer(uint64) }); ok {
		f.forgetTimer(t.handle)
	}
	return rOK
}
