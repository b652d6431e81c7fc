package module

import (
	"time"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/abi"
	"github.com/sluiceproxy/sluice/host/network"
)

// NetworkFilterFactory is one configured module network filter (ABI 2.1):
// the module's config object, as a network.FilterFactory. It shares the
// config machinery of FilterFactory (metrics, config schedulers, Close).
type NetworkFilterFactory struct {
	*FilterFactory
}

// NewNetworkFilterFactory creates the module's config object for a network
// filter entry named key (metrics are prefixed with it). Main goroutine.
func (m *Module) NewNetworkFilterFactory(key, filterName string, configJSON []byte) (*NetworkFilterFactory, error) {
	if !m.lib.hooks.offersNet {
		return nil, &ConfigError{Path: m.Path(), FilterName: filterName,
			Cause: "the module offers no network filters (it exports no " + abi.NetworkFilterPrefix + "* hooks)"}
	}
	f, err := m.newFactory(key, filterName, configJSON, true)
	if err != nil {
		return nil, err
	}
	return &NetworkFilterFactory{f}, nil
}

// netFilter adapts one module network filter instance to the network
// filter interfaces. Every method and callback touching it runs on the
// connection's worker.
type netFilter struct {
	factory *FilterFactory
	ws      *workerState
	cb      *network.Callbacks
	nc      *network.Connection
	hk      *netHooks
	handle  uint64
	modPtr  uintptr

	// The buffers lent to the running read / write hook.
	readBuf, writeBuf *network.Buffer

	depth                     int // this filter's hooks on the stack
	closed                    bool
	destroyPending, destroyed bool
	scheds, timers            []uint64
}

// netFilterWriter is a netFilter whose module has a write hook: only then
// does the connection pass its output through it (a filter without one
// costs the write path nothing).
type netFilterWriter struct{ *netFilter }

func (w netFilterWriter) OnWrite(b *network.Buffer, end bool) network.FilterStatus {
	f := w.netFilter
	if f.closed || f.destroyed {
		return network.Continue
	}
	prev := f.writeBuf
	f.writeBuf = b
	st := f.status("write", f.call4(f.hk.write, uintptr(b.Len()), boolArg(end)))
	f.writeBuf = prev
	return st
}

// NewFilter implements network.FilterFactory: the module's filter for a new
// connection, on its worker. nil (the connection is closed, counted as
// network_filter_refused) when none can be made.
func (nf *NetworkFilterFactory) NewFilter(cb *network.Callbacks) network.Filter {
	fac := nf.FilterFactory
	h := fac.host
	nc := cb.Connection()
	ws := h.worker(nc.Worker().Index())
	if ws == nil {
		h.log.Error("connection on unknown worker", zap.Int("worker", nc.Worker().Index()))
		return nil
	}
	fac.live.Add(1)
	if fac.closing.Load() {
		fac.filterGone()
		return nil
	}
	f := &netFilter{factory: fac, ws: ws, cb: cb, nc: nc, hk: &fac.mod.lib.hooks.net}
	f.handle = ws.nets.alloc(f)
	if f.handle == 0 {
		fac.filterGone()
		return nil
	}
	h.netFiltersCreated.Add(1)
	h.netFiltersActive.Add(1)
	m, prev := f.enter()
	f.modPtr = ws.syscall(f.hk.filterNew, fac.modPtr, uintptr(f.handle), 0)
	f.exit(m, prev)
	if f.modPtr == 0 {
		h.filterNewFailed.Add(1)
		f.destroyed = true
		f.release()
		return nil
	}
	if f.hk.write != 0 {
		return netFilterWriter{f}
	}
	return f
}

// enter/exit bracket every hook: the arena's lent views live for the hook,
// the worker counts as running a hook (so worker-only callbacks from other
// threads are refused), and a destroy that arrived mid-hook runs once the
// outermost hook of this filter returned.
func (f *netFilter) enter() (arenaMark, bool) {
	f.depth++
	f.ws.hookDepth.Add(1)
	return f.ws.arena.mark(), false
}

func (f *netFilter) exit(m arenaMark, _ bool) {
	f.ws.arena.release(m)
	f.ws.hookDepth.Add(-1)
	f.depth--
	if f.depth == 0 && f.destroyPending {
		f.destroyPending = false
		f.runDestroy()
	}
}

// call4 runs a hook (filter_module, handle, a, b) and returns its result
// as the C int32 it is.
func (f *netFilter) call4(fn, a, b uintptr) int32 {
	m, prev := f.enter()
	r := f.ws.syscall4(fn, f.modPtr, uintptr(f.handle), a, b)
	f.exit(m, prev)
	return int32(uint32(r))
}

// status maps a hook's result; anything else is a contract breach: the
// connection is closed, counted and logged (rate-limited).
func (f *netFilter) status(hook string, st int32) network.FilterStatus {
	if abi.ValidNetworkStatus(st) {
		if st == abi.NetworkContinue {
			return network.Continue
		}
		return network.StopIteration
	}
	h := f.factory.host
	h.invalidStatus.Add(1)
	f.factory.invalidStatus.single.value.Add(1)
	if ok, n := h.invalidLog.allow(time.Now()); ok {
		h.log.Error("module network hook returned an invalid status; connection closed",
			zap.String("module", f.factory.mod.Path()), zap.String("filter", f.factory.name),
			zap.String("hook", hook), zap.Int32("status", st), zap.Uint64("suppressed", n),
			zap.Uint64("conn_id", f.nc.ID()))
	}
	f.nc.SetTerminationDetails("network_filter_invalid_status")
	f.nc.Close(network.NoFlush)
	return network.StopIteration
}

// network.ReadFilter

func (f *netFilter) OnNewConnection() network.FilterStatus {
	if f.closed || f.destroyed {
		return network.StopIteration
	}
	return f.status("new_connection", f.call4(f.hk.newConnection, 0, 0))
}

func (f *netFilter) OnData(b *network.Buffer, end bool) network.FilterStatus {
	if f.closed || f.destroyed {
		return network.StopIteration
	}
	prev := f.readBuf
	f.readBuf = b
	st := f.status("read", f.call4(f.hk.read, uintptr(b.Len()), boolArg(end)))
	f.readBuf = prev
	return st
}

// network.EventHandler

func (f *netFilter) OnEvent(ev network.ConnectionEvent) {
	var code uintptr
	switch ev {
	case network.Connected:
		code = abi.NetworkEventConnected
	case network.RemoteClose:
		code, f.closed = abi.NetworkEventRemoteClose, true
	default:
		code, f.closed = abi.NetworkEventLocalClose, true
	}
	if f.hk.event != 0 && !f.destroyed {
		f.call4(f.hk.event, code, 0)
	}
}

// network.WatermarkHandler

func (f *netFilter) OnAboveWriteBufferHighWatermark() { f.watermark(true) }
func (f *netFilter) OnBelowWriteBufferLowWatermark()  { f.watermark(false) }

func (f *netFilter) watermark(above bool) {
	if f.hk.watermark != 0 && !f.closed && !f.destroyed {
		f.call4(f.hk.watermark, boolArg(above), 0)
	}
}

// OnDestroy implements network.Destroyer: destroy exactly once, never
// while a hook of this filter is on the stack.
func (f *netFilter) OnDestroy() {
	f.closed = true
	if f.destroyed {
		return
	}
	if f.depth > 0 {
		f.destroyPending = true
		return
	}
	f.runDestroy()
}

func (f *netFilter) runDestroy() {
	if f.destroyed {
		return
	}
	f.destroyed = true
	// The schedulers end before the module hears destroy: a thread the
	// hook wakes finds its commits refused, never accepted and dropped.
	scheds := f.scheds
	f.forgetSchedulers()
	m, prev := f.enter()
	f.ws.syscall(f.hk.filterDestroy, f.modPtr, 0, 0)
	f.exit(m, prev)
	// Those the hook deleted (the usual cancel) are free again now.
	for _, h := range scheds {
		f.ws.sched.reclaimIfDeleted(h)
	}
	f.release()
}

// forgetSchedulers ends the filter's schedulers: pending events are
// dropped, later commits refused.
func (f *netFilter) forgetSchedulers() {
	leaked := 0
	for _, h := range f.scheds {
		leaked += f.ws.sched.targetGone(h)
	}
	f.scheds = nil
	f.factory.noteLeakedSchedulers(leaked)
}

// release drops what the host holds for the filter: schedulers, timers,
// the handle.
func (f *netFilter) release() {
	ws := f.ws
	f.forgetSchedulers()
	for _, h := range f.timers {
		ws.deleteTimer(h)
	}
	f.timers = nil
	ws.nets.release(f.handle)
	f.factory.host.netFiltersActive.Add(-1)
	f.factory.filterGone()
}

// takesScheduled implements schedTarget: events are delivered only while
// the connection is open.
func (f *netFilter) takesScheduled() bool {
	return !f.destroyed && !f.destroyPending && !f.closed
}

// runScheduled implements schedTarget.
func (f *netFilter) runScheduled(eventID uint64) {
	f.call4(f.hk.scheduled, uintptr(eventID), 0)
}

// fireTimer implements timerTarget.
func (f *netFilter) fireTimer(h uint64) {
	if f.destroyed || f.destroyPending || f.closed {
		return
	}
	f.call4(f.hk.timer, uintptr(h), 0)
}

func (f *netFilter) forgetTimer(h uint64) {
	for i, t := range f.timers {
		if t == h {
			f.timers = append(f.timers[:i], f.timers[i+1:]...)
			return
		}
	}
}
