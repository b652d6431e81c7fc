package module

import (
	"time"
	"unsafe"

	"github.com/sluiceproxy/sluice/abi"
	"github.com/sluiceproxy/sluice/host/cluster"
	"github.com/sluiceproxy/sluice/host/headers"
)

// HTTP callouts (ABI 2.1): a module asks the host to send an HTTP request
// to a configured cluster and gets the whole answer back in a done hook.
// The host side is cluster.StartCallout; this file turns module requests
// into cluster requests, keeps a generation-checked handle per callout,
// and lends the result to the done hook.
//
// Filter callouts run on the filter's worker from start to finish. Their
// results are never delivered from inside the cluster's callbacks: a done
// callout joins the worker's ready list, and a zero-delay worker timer
// delivers the list at the next loop iteration, from the loop itself. So
// the done hook never runs inside another hook (not even inside the
// http_callout call that failed at once), and a hook that starts a new
// callout never re-enters the connection pool that is finishing the old
// one. Config callouts live in callout_config.go.

// ClusterSource finds the cluster a callout names; *cluster.Manager is one.
type ClusterSource interface {
	Get(name string) *cluster.Cluster
}

// Callout limits by default (Options overrides them).
const (
	DefaultMaxCalloutsPerFilter = 16
	DefaultMaxCalloutsPerWorker = 4096
	DefaultMaxCalloutsPerConfig = 64
	// maxCalloutResponse caps what a module may ask for as
	// max_response_bytes.
	maxCalloutResponse      = 64 << 20
	defaultCalloutTimeoutMS = 5000
)

// calloutOutcome maps the cluster's failure to the ABI's outcome.
func calloutOutcome(f cluster.CalloutFailure) uint32 {
	switch f {
	case cluster.CalloutOK:
		return abi.CalloutOK
	case cluster.CalloutNoHealthyUpstream:
		return abi.CalloutNoHealthyUpstream
	case cluster.CalloutOverflow:
		return abi.CalloutOverflow
	case cluster.CalloutConnectFailure:
		return abi.CalloutConnectFailure
	case cluster.CalloutTimeout:
		return abi.CalloutTimeout
	case cluster.CalloutResponseTooLarge:
		return abi.CalloutResponseTooLarge
	}
	return abi.CalloutReset
}

// outcomeNames are the reason labels of module.<entry>.callouts_failed.
var outcomeNames = [...]string{
	abi.CalloutOK:                "ok",
	abi.CalloutNoHealthyUpstream: "no_healthy_upstream",
	abi.CalloutOverflow:          "overflow",
	abi.CalloutConnectFailure:    "connect_failure",
	abi.CalloutReset:             "reset",
	abi.CalloutTimeout:           "timeout",
	abi.CalloutResponseTooLarge:  "response_too_large",
	abi.CalloutClusterUnknown:    "cluster_unknown",
}

// readCalloutRequest copies a module's sluice_callout_request into a
// cluster request (headers into a fresh map, the body into Go memory),
// checking everything the header promises to refuse. It returns the
// cluster name, or rBadArg.
func readCalloutRequest(p unsafe.Pointer) (string, cluster.CalloutRequest, int32) {
	var req cluster.CalloutRequest
	if p == nil {
		return "", req, rBadArg
	}
	// The size comes first: only then is the rest known to exist.
	if size := *(*uint32)(p); uintptr(size) < unsafe.Sizeof(abi.CalloutRequest{}) {
		return "", req, rBadArg
	}
	in := (*abi.CalloutRequest)(p)
	name := cBytes(in.Cluster.Ptr, in.Cluster.Len)
	if len(name) == 0 || in.MaxResponseBytes > maxCalloutResponse || (in.NHeaders > 0 && in.Headers == nil) ||
		(in.Body.Len > 0 && in.Body.Ptr == nil) {
		return "", req, rBadArg
	}
	h := &headers.Map{}
	var method, path bool
	if in.NHeaders > 0 {
		for _, hd := range unsafe.Slice((*abi.Header)(in.Headers), in.NHeaders) {
			n, v := cBytes(hd.Name.Ptr, hd.Name.Len), cBytes(hd.Value.Ptr, hd.Value.Len)
			if len(n) == 0 || !validHeaderBytes(n) || !validHeaderBytes(v) {
				return "", req, rBadArg
			}
			if n[0] == ':' {
				switch {
				case nameMatches([]byte(":method"), n):
					method = method || len(v) > 0
				case nameMatches([]byte(":path"), n):
					path = path || len(v) > 0
				case nameMatches([]byte(":authority"), n), nameMatches([]byte(":scheme"), n):
				default:
					return "", req, rBadArg
				}
				if _, dup := h.GetBytes(n); dup {
					return "", req, rBadArg
				}
			}
			if nameMatches([]byte("content-length"), n) {
				continue // set from the body below
			}
			h.Add(n, v)
		}
	}
	if !method || !path {
		return "", req, rBadArg
	}
	if in.Body.Len > 0 {
		req.Body = append([]byte(nil), cBytes(in.Body.Ptr, in.Body.Len)...)
		h.Set("content-length", appendUint(nil, uint64(len(req.Body))))
	}
	req.Headers = h
	timeout := in.TimeoutMS
	if timeout == 0 {
		timeout = defaultCalloutTimeoutMS
	}
	req.Timeout = time.Duration(timeout) * time.Millisecond
	req.MaxResponseBytes = int(in.MaxResponseBytes)
	return string(name), req, rOK
}

func appendUint(dst []byte, v uint64) []byte {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(dst, b[i:]...)
}

// lendCalloutResult writes a sluice_callout_result (and its views) into
// arena memory, valid until the arena is released below its mark.
func lendCalloutResult(a *arena, outcome uint32, r *cluster.CalloutResult) uintptr {
	mem := a.alloc(int(unsafe.Sizeof(abi.CalloutResult{})))
	res := (*abi.CalloutResult)(unsafe.Pointer(&mem[0]))
	*res = abi.CalloutResult{Size: uint32(unsafe.Sizeof(abi.CalloutResult{})), Outcome: outcome}
	switch {
	case outcome == abi.CalloutOK && r != nil:
		res.Status = uint32(r.Status)
		res.Headers, res.NHeaders = lendHeaderList(a, r.Headers)
		res.Trailers, res.NTrailers = lendHeaderList(a, r.Trailers)
		res.Body = abi.Buffer{Ptr: a.copy(r.Body), Len: uintptr(len(r.Body))}
	case r != nil && r.Err != nil:
		res.Detail = lendString(a, r.Err.Error())
	default:
		res.Detail = lendString(a, outcomeNames[outcome])
	}
	return uintptr(unsafe.Pointer(res))
}

func lendString(a *arena, s string) abi.Buffer {
	return abi.Buffer{Ptr: a.copyString(s), Len: uintptr(len(s))}
}

// lendHeaderList lends the map's fields, pseudo-headers left out, as an
// array of sluice_header.
func lendHeaderList(a *arena, m *headers.Map) (unsafe.Pointer, uintptr) {
	if m == nil {
		return nil, 0
	}
	n := 0
	m.Range(func(k, _ []byte) bool {
		if len(k) > 0 && k[0] != ':' {
			n++
		}
		return true
	})
	if n == 0 {
		return nil, 0
	}
	mem := a.alloc(n * int(unsafe.Sizeof(abi.Header{})))
	out := unsafe.Slice((*abi.Header)(unsafe.Pointer(&mem[0])), n)
	i := 0
	m.Range(func(k, v []byte) bool {
		if len(k) > 0 && k[0] != ':' {
			out[i] = abi.Header{Name: abi.Buffer{Ptr: a.copy(k), Len: uintptr(len(k))},
				Value: abi.Buffer{Ptr: a.copy(v), Len: uintptr(len(v))}}
			i++
		}
		return true
	})
	return unsafe.Pointer(&out[0]), uintptr(n)
}

// callout is one filter callout, owned by its worker.
type callout struct {
	ws     *workerState
	handle uint64
	f      *filter
	co     *cluster.Callout // nil for an unknown cluster
	res    *cluster.CalloutResult
	// outcome is set when the callout finished; ready while it waits in
	// the worker's ready list; over once delivered or cancelled.
	outcome uint32
	ready   bool
	over    bool
}

// OnCalloutDone implements cluster.CalloutHandler: queue the delivery.
func (c *callout) OnCalloutDone(r *cluster.CalloutResult) {
	c.res = r
	c.ws.calloutReady(c, calloutOutcome(r.Failure))
}

// calloutReady queues c for delivery at the next loop iteration.
func (ws *workerState) calloutReady(c *callout, outcome uint32) {
	if c.over || c.ready {
		return
	}
	c.outcome, c.ready = outcome, true
	ws.readyCallouts = append(ws.readyCallouts, c)
	if ws.calloutTimer == nil {
		ws.calloutTimer = ws.w.AfterFunc(0, ws.deliverCallouts)
	} else if !ws.calloutTimer.Pending() {
		ws.calloutTimer.Reset(0)
	}
}

// deliverCallouts runs the done hooks of the callouts that finished since
// the last iteration, in the order they finished. Callouts finishing
// meanwhile wait for the next iteration.
func (ws *workerState) deliverCallouts() {
	batch := ws.readyCallouts
	ws.readyCallouts = ws.spareCallouts[:0]
	for i, c := range batch {
		batch[i] = nil
		if !c.over {
			ws.deliverCallout(c)
		}
	}
	ws.spareCallouts = batch[:0]
}

// finishCallout makes c's handle stale and forgets it.
func (ws *workerState) finishCallout(c *callout) {
	c.over = true
	ws.callouts.release(c.handle)
	ws.calloutsActive.Add(-1)
	c.f.forgetCallout(c.handle)
}

func (ws *workerState) deliverCallout(c *callout) {
	f := c.f
	ws.finishCallout(c)
	st := f.factory.calloutStats
	if f.destroyed || f.destroyPending || f.ended() {
		st.cancelled.single.value.Add(1)
		return
	}
	st.count(c.outcome)
	f.busy++
	m, prev := f.enter()
	res := lendCalloutResult(&ws.arena, c.outcome, c.res)
	ws.syscall4(f.hk.calloutDone, f.modPtr, uintptr(f.handle), uintptr(c.handle), res)
	f.exit(m, prev)
	f.leave()
}

// cancelCallout abandons c: the upstream exchange is reset, no hook runs.
func (ws *workerState) cancelCallout(c *callout) {
	if c.over {
		return
	}
	ws.finishCallout(c)
	if c.co != nil {
		c.co.Cancel()
	}
	c.f.factory.calloutStats.cancelled.single.value.Add(1)
}

func (f *filter) forgetCallout(h uint64) {
	for i, c := range f.callouts {
		if c == h {
			f.callouts = append(f.callouts[:i], f.callouts[i+1:]...)
			return
		}
	}
}

// cancelCallouts cancels every callout of a filter that is going away.
func (f *filter) cancelCallouts() {
	for len(f.callouts) > 0 {
		c := f.ws.callouts.get(f.callouts[len(f.callouts)-1])
		if c == nil { // cannot happen: handles leave the list when released
			f.callouts = f.callouts[:len(f.callouts)-1]
			continue
		}
		f.ws.cancelCallout(c)
	}
}

func cbHTTPCallout(h uint64, reqPtr unsafe.Pointer, out unsafe.Pointer) int32 {
	f, r := lookupFilter(h)
	if r != rOK {
		return r
	}
	if f.destroyed || f.cb.Ended() {
		return rEnded
	}
	if out == nil {
		return rBadArg
	}
	name, req, r := readCalloutRequest(reqPtr)
	if r != rOK {
		return r
	}
	if f.hk.calloutDone == 0 {
		return rUnavailable
	}
	ws, st := f.ws, f.factory.calloutStats
	host := ws.host
	switch {
	case len(f.callouts) >= host.limits.perFilter:
		st.overLimit(limitFilter)
		return rLimit
	case int(ws.calloutsActive.Load()) >= host.limits.perWorker:
		st.overLimit(limitWorker)
		return rLimit
	}
	c := &callout{ws: ws, f: f}
	if c.handle = ws.callouts.alloc(c); c.handle == 0 {
		st.overLimit(limitWorker)
		return rLimit
	}
	ws.calloutsActive.Add(1)
	f.callouts = append(f.callouts, c.handle)
	st.started.single.value.Add(1)
	*(*uint64)(out) = c.handle
	var cl *cluster.Cluster
	if host.clusters != nil {
		cl = host.clusters.Get(name)
	}
	if cl == nil {
		ws.calloutReady(c, abi.CalloutClusterUnknown)
		return rOK
	}
	// StartCallout may finish the callout at once (no host, overflow):
	// OnCalloutDone then only queues it, and Cancel of a finished
	// Callout does nothing.
	c.co = cl.StartCallout(ws.w, req, c)
	return rOK
}

// lookupCallout resolves a filter callout handle for a worker-only call.
func lookupCallout(h uint64) (*callout, int32) {
	ws := workersByGID[handleDomain(h)].Load()
	if ws == nil {
		return nil, rInvalid
	}
	c := ws.callouts.get(h)
	if c == nil {
		return nil, rInvalid
	}
	if ws.hookDepth.Load() == 0 {
		return nil, rWrongThread
	}
	return c, rOK
}

func cbHTTPCalloutCancel(h uint64) int32 {
	switch handleKind(h) {
	case kindCallout:
		c, r := lookupCallout(h)
		if r != rOK {
			return r
		}
		c.ws.cancelCallout(c)
		return rOK
	case kindConfigCallout:
		return cancelConfigCallout(h)
	}
	return rInvalid
}

// Which limit refused a callout (the limit label of callouts_over_limit).
const (
	limitFilter = iota
	limitWorker
	limitConfig
)

var limitNames = [...]string{limitFilter: "filter", limitWorker: "worker", limitConfig: "config"}

// calloutMetrics are the host's per-entry callout counters, defined for
// modules that export a callout hook:
// module.<entry>.callouts_{started,succeeded,failed,cancelled,over_limit}.
type calloutMetrics struct {
	started, succeeded, cancelled *metric
	failed                        *metric // label reason
	overLimits                    *metric // label limit
}

// calloutMetricNames are reserved for the host in every entry's namespace.
var calloutMetricNames = []string{"callouts_started", "callouts_succeeded", "callouts_failed", "callouts_cancelled",
	"callouts_over_limit"}

func defineCalloutMetrics(reg *metricRegistry, entry string) (*calloutMetrics, error) {
	m := &calloutMetrics{}
	var err error
	def := func(dst **metric, name string, labels []string) {
		if err == nil {
			*dst, err = reg.define(entry, name, Counter, labels, nil, true)
		}
	}
	def(&m.started, "callouts_started", nil)
	def(&m.succeeded, "callouts_succeeded", nil)
	def(&m.failed, "callouts_failed", []string{"reason"})
	def(&m.cancelled, "callouts_cancelled", nil)
	def(&m.overLimits, "callouts_over_limit", []string{"limit"})
	return m, err
}

// count records a delivered callout: a response is a success whatever
// its status; anything else a failure by reason.
func (m *calloutMetrics) count(outcome uint32) {
	if outcome == abi.CalloutOK {
		m.succeeded.single.value.Add(1)
		return
	}
	if s, _ := m.failed.seriesFor([][]byte{[]byte(outcomeNames[outcome])}); s != nil {
		s.value.Add(1)
	}
}

func (m *calloutMetrics) overLimit(which int) {
	if s, _ := m.overLimits.seriesFor([][]byte{[]byte(limitNames[which])}); s != nil {
		s.value.Add(1)
	}
}
