package module

import (
	"unsafe"

	"github.com/sluiceproxy/sluice/abi"
	"github.com/sluiceproxy/sluice/host/cluster"
)

// Config callouts: started by a config hook on the control thread (the
// module's main thread), sent from one of the workers (connection pools
// are per worker; the control thread has none), answered on the control
// thread. The worker they run on is chosen round robin. Both sides talk by
// message (Worker.Post): the control thread owns the record's bookkeeping
// (handle, cancelled), the worker owns the cluster exchange (co); the
// result crosses once, after the worker is done with it.

// configCallout is one callout of a filter config.
type configCallout struct {
	handle uint64
	f      *FilterFactory
	ws     *workerState
	// Control thread only.
	over bool
	// Worker only.
	co        *cluster.Callout
	abandoned bool
}

// configCalloutHandler receives the worker side's result and sends it to
// the control thread.
type configCalloutHandler struct{ c *configCallout }

func (h configCalloutHandler) OnCalloutDone(r *cluster.CalloutResult) {
	c := h.c
	ctl := c.f.host.ctl
	ctl.w.Post(func() { ctl.deliverCallout(c, calloutOutcome(r.Failure), r) })
}

func cbConfigHTTPCallout(cfg uint64, reqPtr unsafe.Pointer, out unsafe.Pointer) int32 {
	f := lookupConfig(cfg)
	if f == nil || f.destroyed.Load() {
		return rInvalid
	}
	ctl := f.host.ctl
	if ctl.depth.Load() == 0 {
		return rWrongThread // not from the control thread (detected when it runs no hook)
	}
	if out == nil {
		return rBadArg
	}
	name, req, r := readCalloutRequest(reqPtr)
	if r != rOK {
		return r
	}
	host := f.host
	// Callouts are for HTTP filter configs (a network filter config has no
	// done hook of its own in this ABI).
	if f.net || f.mod.lib.hooks.configCalloutDone == 0 || len(host.workers) == 0 {
		return rUnavailable
	}
	if len(f.configCallouts) >= host.limits.perConfig {
		f.calloutStats.overLimit(limitConfig)
		return rLimit
	}
	c := &configCallout{f: f}
	if c.handle = ctl.callouts.alloc(c); c.handle == 0 {
		f.calloutStats.overLimit(limitConfig)
		return rLimit
	}
	f.configCallouts = append(f.configCallouts, c.handle)
	host.configCalloutsActive.Add(1)
	f.calloutStats.started.single.value.Add(1)
	*(*uint64)(out) = c.handle
	var cl *cluster.Cluster
	if host.clusters != nil {
		cl = host.clusters.Get(name)
	}
	if cl == nil {
		ctl.w.Post(func() { ctl.deliverCallout(c, abi.CalloutClusterUnknown, nil) })
		return rOK
	}
	ctl.nextWorker = (ctl.nextWorker + 1) % len(host.workers)
	c.ws = host.workers[ctl.nextWorker]
	w := c.ws.w
	w.Post(func() {
		if !c.abandoned {
			c.co = cl.StartCallout(w, req, configCalloutHandler{c})
		}
	})
	return rOK
}

// finishCallout makes c's handle stale and forgets it. Control thread.
func (ctl *control) finishCallout(c *configCallout) {
	c.over = true
	ctl.callouts.release(c.handle)
	c.f.host.configCalloutsActive.Add(-1)
	f := c.f
	for i, h := range f.configCallouts {
		if h == c.handle {
			f.configCallouts = append(f.configCallouts[:i], f.configCallouts[i+1:]...)
			break
		}
	}
}

// deliverCallout runs sluice_on_http_filter_config_callout_done, unless
// the callout was cancelled or its config destroyed. Control thread.
func (ctl *control) deliverCallout(c *configCallout, outcome uint32, r *cluster.CalloutResult) {
	if c.over {
		return
	}
	ctl.finishCallout(c)
	f := c.f
	if f.destroyed.Load() {
		f.calloutStats.cancelled.single.value.Add(1)
		return
	}
	f.calloutStats.count(outcome)
	m := ctl.arena.mark()
	res := lendCalloutResult(&ctl.arena, outcome, r)
	ctl.call(f.mod.lib.hooks.configCalloutDone, f.modPtr, uintptr(f.handle), uintptr(c.handle), res)
	ctl.arena.release(m)
}

// cancel abandons c: the worker resets the exchange if it started it.
// Control thread.
func (ctl *control) cancel(c *configCallout) {
	if c.over {
		return
	}
	ctl.finishCallout(c)
	c.f.calloutStats.cancelled.single.value.Add(1)
	if ws := c.ws; ws != nil {
		ws.w.Post(func() {
			c.abandoned = true
			if c.co != nil {
				c.co.Cancel()
			}
		})
	}
}

func cancelConfigCallout(h uint64) int32 {
	host := hostsByControl[handleDomain(h)].Load()
	if host == nil {
		return rInvalid
	}
	ctl := host.ctl
	c := ctl.callouts.get(h)
	if c == nil {
		return rInvalid
	}
	if ctl.depth.Load() == 0 {
		return rWrongThread
	}
	ctl.cancel(c)
	return rOK
}

// cancelCallouts cancels every callout of a config being destroyed.
// Control thread.
func (f *FilterFactory) cancelCallouts() {
	ctl := f.host.ctl
	for len(f.configCallouts) > 0 {
		c := ctl.callouts.get(f.configCallouts[len(f.configCallouts)-1])
		if c == nil {
			f.configCallouts = f.configCallouts[:len(f.configCallouts)-1]
			continue
		}
		ctl.cancel(c)
	}
}
