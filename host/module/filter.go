package module

import (
	"time"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/abi"
	"github.com/sluiceproxy/sluice/host/hcm"
	"github.com/sluiceproxy/sluice/host/headers"
)

// filter adapts one module filter instance to hcm.StreamFilter. Every
// method and every callback that touches it runs on the owning worker.
type filter struct {
	factory *FilterFactory
	ws      *workerState
	cb      hcm.FilterCallbacks
	hk      *hooks
	handle  uint64
	modPtr  uintptr // what on_http_filter_new returned; 0 = failed

	// Maps as passed to the hooks, used when the callbacks' accessors do not
	// (yet) return them.
	reqHeaders, respHeaders, reqTrailers, respTrailers *headers.Map
	// The body passed to the running body hook ("received").
	received     hcm.Buffer
	receivedKind abi.BodyKind

	depth int // nesting of this filter's hooks on the stack
	// handedOff: in the running hook, the stream was continued or answered;
	// further header/body calls in that hook fail (Envoy #46439).
	handedOff bool
	// replies counts send_response calls, so a hook that answered the
	// stream is made to return a Stop status whatever it returned.
	replies int

	completeDone, completePending bool
	destroyPending, destroyed     bool
	scheds                        []uint64 // scheduler handles this filter created
	timers                        []uint64 // timer handles this filter created
	callouts                      []uint64 // callouts in flight (callout.go)

	busy    int  // adapter entry points on the stack
	recycle bool // destroyed: return to the pool when busy drops to 0
}

func newFilter(fac *FilterFactory, cb hcm.FilterCallbacks) hcm.StreamFilter {
	ws := fac.host.worker(cb.WorkerIndex())
	if ws == nil {
		fac.host.log.Error("stream on unknown worker", zap.Int("worker", cb.WorkerIndex()))
		return &failedFilter{host: fac.host, cb: cb}
	}
	fac.live.Add(1)
	if fac.closing.Load() {
		// A stream raced a config change: the module's config object is
		// (about to be) destroyed, so never hand it to filter_new.
		fac.filterGone()
		return &failedFilter{host: fac.host, cb: cb}
	}
	f := ws.getFilter()
	f.factory, f.ws, f.cb, f.hk = fac, ws, cb, &fac.mod.lib.hooks
	f.handle = ws.table.alloc(f)
	if f.handle == 0 {
		fac.filterGone()
		ws.putFilter(f)
		return &failedFilter{host: fac.host, cb: cb}
	}
	fac.host.filtersCreated.Add(1)
	f.busy++
	m, prev := f.enter()
	f.modPtr = ws.syscall(f.hk.filterNew, fac.modPtr, uintptr(f.handle), 0)
	f.exit(m, prev)
	if f.modPtr == 0 {
		fac.host.filterNewFailed.Add(1)
	}
	f.leave()
	return f
}

func boolArg(b bool) uintptr {
	if b {
		return 1
	}
	return 0
}

// enter/exit bracket every hook: they keep the arena's lent views alive for
// the hook, track nesting, and run a destroy that arrived mid-hook only once
// the outermost hook of this filter returned (Envoy #46548).
func (f *filter) enter() (arenaMark, bool) {
	f.depth++
	f.ws.hookDepth.Add(1)
	prev := f.handedOff
	f.handedOff = false
	return f.ws.arena.mark(), prev
}

func (f *filter) exit(m arenaMark, prevHandedOff bool) {
	f.ws.arena.release(m)
	f.handedOff = prevHandedOff || f.handedOff && f.depth > 1
	f.ws.hookDepth.Add(-1)
	f.depth--
	if f.depth == 0 {
		if f.completePending {
			f.completePending = false
			f.runComplete()
		}
		if f.destroyPending {
			f.destroyPending = false
			f.runDestroy()
		}
	}
}

// call runs a status hook (filter_module, handle, arg) and returns the
// status as the C int32 it is.
func (f *filter) call(fn, arg uintptr) int32 {
	m, prev := f.enter()
	r := f.ws.syscall(fn, f.modPtr, uintptr(f.handle), arg)
	f.exit(m, prev)
	return int32(uint32(r))
}

// ended: the stream has finished (or this filter is being destroyed).
func (f *filter) ended() bool { return f.destroyed || f.cb.Ended() }

// fail answers the stream with a 500 after a module fault, marking it FF.
func (f *filter) fail(details string) {
	info := f.cb.Info()
	if f.ended() || info == nil {
		return
	}
	info.Flags |= hcm.FlagFilterFailure
	f.replies++
	f.cb.SendLocalReply(500, nil, nil, details)
}

func (f *filter) invalidStatus(hook string, st int32) {
	h := f.factory.host
	h.invalidStatus.Add(1)
	f.factory.invalidStatus.single.value.Add(1)
	if ok, n := h.invalidLog.allow(time.Now()); ok {
		h.log.Error("module hook returned an invalid status; stream failed with 500",
			zap.String("module", f.factory.mod.Path()), zap.String("filter", f.factory.name),
			zap.String("hook", hook), zap.Int32("status", st), zap.Uint64("suppressed", n),
			zap.Uint64("conn_id", f.cb.ConnID()), zap.Uint64("stream_id", f.cb.StreamID()))
	}
	f.fail("module_invalid_status")
}

func (f *filter) headersHook(fn uintptr, hook string, eos bool) hcm.HeadersStatus {
	if f.modPtr == 0 {
		f.fail("module_filter_new_failed")
		return hcm.HeadersStopIteration
	}
	replies := f.replies
	st := f.call(fn, boolArg(eos))
	if !abi.ValidHeadersStatus(st) {
		f.invalidStatus(hook, st)
		return hcm.HeadersStopIteration
	}
	if f.replies != replies {
		return hcm.HeadersStopIteration
	}
	return hcm.HeadersStatus(st)
}

func (f *filter) bodyHook(fn uintptr, hook string, b hcm.Buffer, kind abi.BodyKind, eos bool) hcm.DataStatus {
	if f.modPtr == 0 {
		f.fail("module_filter_new_failed")
		return hcm.DataStopIterationNoBuffer
	}
	if fn == 0 {
		return hcm.DataContinue
	}
	prevBuf, prevKind := f.received, f.receivedKind
	f.received, f.receivedKind = b, kind
	replies := f.replies
	st := f.call(fn, boolArg(eos))
	f.received, f.receivedKind = prevBuf, prevKind
	if !abi.ValidBodyStatus(st) {
		f.invalidStatus(hook, st)
		return hcm.DataStopIterationNoBuffer
	}
	if f.replies != replies {
		return hcm.DataStopIterationNoBuffer
	}
	return hcm.DataStatus(st)
}

func (f *filter) trailersHook(fn uintptr, hook string) hcm.TrailersStatus {
	if f.modPtr == 0 {
		f.fail("module_filter_new_failed")
		return hcm.TrailersStopIteration
	}
	if fn == 0 {
		return hcm.TrailersContinue
	}
	replies := f.replies
	st := f.call(fn, 0)
	if !abi.ValidTrailersStatus(st) {
		f.invalidStatus(hook, st)
		return hcm.TrailersStopIteration
	}
	if f.replies != replies {
		return hcm.TrailersStopIteration
	}
	return hcm.TrailersStatus(st)
}

func (f *filter) DecodeHeaders(h *headers.Map, eos bool) hcm.HeadersStatus {
	f.busy++
	f.reqHeaders = h
	st := f.headersHook(f.hk.requestHeaders, "request_headers", eos)
	f.leave()
	return st
}

func (f *filter) DecodeData(b hcm.Buffer, eos bool) hcm.DataStatus {
	f.busy++
	st := f.bodyHook(f.hk.requestBody, "request_body", b, abi.ReceivedRequestBody, eos)
	f.leave()
	return st
}

func (f *filter) DecodeTrailers(t *headers.Map) hcm.TrailersStatus {
	f.busy++
	f.reqTrailers = t
	st := f.trailersHook(f.hk.requestTrailers, "request_trailers")
	f.leave()
	return st
}

func (f *filter) EncodeHeaders(h *headers.Map, eos bool) hcm.HeadersStatus {
	if f.modPtr == 0 { // the 500 this filter sent passes through
		return hcm.HeadersContinue
	}
	f.busy++
	f.respHeaders = h
	st := f.headersHook(f.hk.responseHeaders, "response_headers", eos)
	f.leave()
	return st
}

func (f *filter) EncodeData(b hcm.Buffer, eos bool) hcm.DataStatus {
	if f.modPtr == 0 {
		return hcm.DataContinue
	}
	f.busy++
	st := f.bodyHook(f.hk.responseBody, "response_body", b, abi.ReceivedResponseBody, eos)
	f.leave()
	return st
}

func (f *filter) EncodeTrailers(t *headers.Map) hcm.TrailersStatus {
	if f.modPtr == 0 {
		return hcm.TrailersContinue
	}
	f.busy++
	f.respTrailers = t
	st := f.trailersHook(f.hk.responseTrailers, "response_trailers")
	f.leave()
	return st
}

// OnStreamComplete runs stream_complete once; if the stream ended inside
// one of this filter's hooks it waits until that hook returned.
func (f *filter) OnStreamComplete() {
	if f.depth > 0 {
		f.completePending = true
		return
	}
	f.busy++
	f.runComplete()
	f.leave()
}

func (f *filter) runComplete() {
	if f.completeDone || f.destroyed {
		return
	}
	f.completeDone = true
	if f.modPtr != 0 && f.hk.streamComplete != 0 {
		f.call(f.hk.streamComplete, 0)
	}
}

// OnDestroy runs destroy exactly once, never while a hook of this filter
// is still on the stack.
func (f *filter) OnDestroy() {
	if f.destroyed {
		return
	}
	if f.depth > 0 {
		f.destroyPending = true
		return
	}
	f.busy++
	f.runDestroy()
	f.leave()
}

func (f *filter) runDestroy() {
	if f.destroyed {
		return
	}
	if f.completePending {
		f.completePending = false
		f.runComplete()
	}
	f.destroyed = true
	// The schedulers end before the module hears destroy: a thread the
	// hook wakes finds its commits refused, never accepted and dropped.
	ws := f.ws
	leaked := 0
	for _, h := range f.scheds {
		leaked += ws.sched.targetGone(h)
	}
	if f.modPtr != 0 {
		m, prev := f.enter()
		f.ws.syscall(f.hk.filterDestroy, f.modPtr, 0, 0)
		f.exit(m, prev)
	}
	// Those the hook deleted (the usual cancel) are free again now. The
	// list did not grow meanwhile: scheduler_new is refused in destroy.
	for _, h := range f.scheds {
		ws.sched.reclaimIfDeleted(h)
	}
	f.scheds = f.scheds[:0]
	f.factory.noteLeakedSchedulers(leaked)
	for _, h := range f.timers {
		ws.deleteTimer(h)
	}
	f.timers = f.timers[:0]
	f.cancelCallouts()
	ws.table.release(f.handle)
	f.recycle = true // back to the pool once no adapter frame uses f
	f.factory.filterGone()
}

// busy/leave bracket every entry point of the adapter (StreamFilter
// methods, deliveries): a filter destroyed somewhere down the stack is
// recycled only when the outermost entry returns, so no frame above ever
// sees a reset object.
func (f *filter) leave() {
	f.busy--
	if f.busy == 0 && f.recycle {
		f.ws.putFilter(f)
	}
}

// fireTimer implements timerTarget: sluice_on_http_filter_timer, while the
// stream is running.
func (f *filter) fireTimer(h uint64) {
	if f.destroyed || f.destroyPending || f.ended() {
		return
	}
	f.busy++
	m, prev := f.enter()
	f.ws.syscall(f.hk.timer, f.modPtr, uintptr(f.handle), uintptr(h))
	f.exit(m, prev)
	f.leave()
}

func (f *filter) forgetTimer(h uint64) {
	for i, t := range f.timers {
		if t == h {
			f.timers = append(f.timers[:i], f.timers[i+1:]...)
			return
		}
	}
}

// takesScheduled implements schedTarget: events are delivered only while
// the stream is running.
func (f *filter) takesScheduled() bool {
	return !f.destroyed && !f.destroyPending && !f.ended()
}

// runScheduled implements schedTarget.
func (f *filter) runScheduled(eventID uint64) {
	f.busy++
	f.call(f.hk.scheduled, uintptr(eventID))
	f.leave()
}

// failedFilter stands in when no filter could be created at all (handle
// table full, unknown worker): it fails the stream with a 500.
type failedFilter struct {
	hcm.PassThrough
	host *Host
	cb   hcm.FilterCallbacks
}

func (ff *failedFilter) DecodeHeaders(*headers.Map, bool) hcm.HeadersStatus {
	ff.host.filterNewFailed.Add(1)
	if info := ff.cb.Info(); info != nil {
		info.Flags |= hcm.FlagFilterFailure
	}
	ff.cb.SendLocalReply(500, nil, nil, "module_filter_new_failed")
	return hcm.HeadersStopIteration
}
