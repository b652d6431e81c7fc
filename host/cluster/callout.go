package cluster

import (
	"errors"
	"net/netip"
	"time"

	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/worker"
)

// Callouts: HTTP requests the proxy makes on its own behalf to a named
// cluster — an authorization check, a token exchange — with the request
// buffered up front and the whole answer buffered (bounded) before it is
// delivered. They use the worker's ordinary pool (load balancing, health,
// circuit breakers) and run entirely on the worker that started them: the
// result arrives there, through CalloutHandler.OnCalloutDone, never from
// another thread. A filter that started one cancels it when its stream
// ends.
//
// This is the Go side of module HTTP callouts (host/module/callout.go):
// the ABI's http_callout builds a CalloutRequest from the module's
// request, keeps the *Callout under a callout handle of the filter
// (cancelled when the stream ends), and turns OnCalloutDone into the
// module's sluice_on_http_filter_callout_done hook with lent views of the
// result.

// CalloutRequest is what a callout sends. Headers must hold :method and
// :path; :authority defaults to the cluster's name and :scheme to http.
type CalloutRequest struct {
	Headers *headers.Map
	Body    []byte
	// Timeout bounds the whole exchange (connect, request, response);
	// <= 0 takes DefaultCalloutTimeout.
	Timeout time.Duration
	// MaxResponseBytes bounds the buffered response body; a larger body
	// fails the callout with CalloutResponseTooLarge. <= 0 takes
	// DefaultCalloutMaxResponse.
	MaxResponseBytes int
}

// Callout limits by default.
const (
	DefaultCalloutTimeout     = 5 * time.Second
	DefaultCalloutMaxResponse = 1 << 20
)

// CalloutFailure says why a callout ended without a response.
type CalloutFailure uint8

const (
	CalloutOK                CalloutFailure = iota
	CalloutNoHealthyUpstream                // the cluster had no host to pick
	CalloutOverflow                         // circuit breakers
	CalloutConnectFailure                   // connect refused, failed or timed out
	CalloutReset                            // the upstream closed or reset the stream
	CalloutTimeout                          // Timeout passed
	CalloutResponseTooLarge                 // the body exceeded MaxResponseBytes
	CalloutCancelled                        // Cancel (never reported to the handler)
)

func (f CalloutFailure) String() string {
	switch f {
	case CalloutOK:
		return "ok"
	case CalloutNoHealthyUpstream:
		return "no_healthy_upstream"
	case CalloutOverflow:
		return "overflow"
	case CalloutConnectFailure:
		return "connect_failure"
	case CalloutReset:
		return "reset"
	case CalloutTimeout:
		return "timeout"
	case CalloutResponseTooLarge:
		return "response_too_large"
	}
	return "cancelled"
}

// ErrCalloutTimeout and ErrCalloutTooLarge are the errors of the failures
// the callout itself decides.
var (
	ErrCalloutTimeout  = errors.New("cluster: callout timed out")
	ErrCalloutTooLarge = errors.New("cluster: callout response larger than its limit")
)

// CalloutResult is a finished callout. Headers, Body and Trailers belong
// to the callout and are valid only during OnCalloutDone.
type CalloutResult struct {
	Failure  CalloutFailure
	Err      error // the cause when Failure is not CalloutOK
	Status   int
	Headers  *headers.Map
	Body     []byte
	Trailers *headers.Map
	Host     netip.AddrPort // the endpoint that answered (or failed)
}

// CalloutHandler receives a callout's result on the worker that started
// it, exactly once, unless the callout was cancelled first.
type CalloutHandler interface {
	OnCalloutDone(r *CalloutResult)
}

// Callout is one callout in progress. All methods run on its worker.
type Callout struct {
	c     *Cluster
	w     *worker.Worker
	h     CalloutHandler
	req   CalloutRequest
	up    *Stream
	mem   Stream // storage for up
	timer *worker.Timer
	done  bool

	res      CalloutResult
	headers  headers.Map
	trailers headers.Map
	body     []byte
}

// StartCallout sends req to the cluster from worker w (on w's thread). The
// handler may be called before StartCallout returns (no host, overflow);
// the returned Callout can be cancelled until the handler ran.
func (c *Cluster) StartCallout(w *worker.Worker, req CalloutRequest, h CalloutHandler) *Callout {
	if req.Timeout <= 0 {
		req.Timeout = DefaultCalloutTimeout
	}
	if req.MaxResponseBytes <= 0 {
		req.MaxResponseBytes = DefaultCalloutMaxResponse
	}
	if !req.Headers.Has(":authority") {
		req.Headers.SetString(":authority", c.Name())
	}
	if !req.Headers.Has(":scheme") {
		req.Headers.SetString(":scheme", "http")
	}
	co := &Callout{c: c, w: w, h: h, req: req}
	co.timer = w.AfterFunc(req.Timeout, co.onTimeout)
	co.up = c.NewStream(w, co)
	return co
}

// Cancel abandons the callout: no result is delivered. Calls after the
// result, or a second Cancel, do nothing.
func (co *Callout) Cancel() {
	if co.done {
		return
	}
	co.done = true
	co.timer.Stop()
	if up := co.up; up != nil {
		co.up = nil
		up.Reset()
	}
}

// finish delivers the result once.
func (co *Callout) finish(f CalloutFailure, err error) {
	if co.done {
		return
	}
	co.done = true
	co.timer.Stop()
	co.up = nil
	co.res.Failure, co.res.Err = f, err
	if f == CalloutOK {
		co.res.Headers = &co.headers
		co.res.Body = co.body
		if co.trailers.Len() > 0 {
			co.res.Trailers = &co.trailers
		}
	}
	co.h.OnCalloutDone(&co.res)
}

func (co *Callout) onTimeout() {
	if co.done {
		return
	}
	if up := co.up; up != nil {
		co.up = nil
		up.ResetOnTimeout()
	}
	co.finish(CalloutTimeout, ErrCalloutTimeout)
}

// ResponseHandler.

func (co *Callout) UpstreamStream() *Stream { return &co.mem }

func (co *Callout) OnPoolReady(s *Stream, host netip.AddrPort) {
	if co.done {
		s.Reset()
		return
	}
	co.up = s
	co.res.Host = host
	end := len(co.req.Body) == 0
	s.SendHeaders(co.req.Headers, end)
	if !end {
		s.SendData(co.req.Body, true)
	}
}

func (co *Callout) OnPoolFailure(reason FailureReason, err error) {
	co.up = nil
	switch reason {
	case NoHealthyUpstream:
		co.finish(CalloutNoHealthyUpstream, err)
	case Overflow:
		co.finish(CalloutOverflow, err)
	default:
		co.finish(CalloutConnectFailure, err)
	}
}

func (co *Callout) OnResponseHeaders(h *headers.Map, end bool) {
	if co.done {
		return
	}
	co.res.Status = h.Status()
	co.headers.CopyFrom(h)
	if end {
		co.finish(CalloutOK, nil)
	}
}

func (co *Callout) OnResponseData(p []byte, end bool) {
	if co.done {
		return
	}
	if len(co.body)+len(p) > co.req.MaxResponseBytes {
		up := co.up
		co.up = nil
		up.Reset()
		co.finish(CalloutResponseTooLarge, ErrCalloutTooLarge)
		return
	}
	co.body = append(co.body, p...)
	if end {
		co.finish(CalloutOK, nil)
	}
}

func (co *Callout) OnResponseTrailers(t *headers.Map) {
	if co.done {
		return
	}
	co.trailers.CopyFrom(t)
	co.finish(CalloutOK, nil)
}

func (co *Callout) OnReset(_ ResetReason, err error) {
	co.up = nil
	co.finish(CalloutReset, err)
}

func (co *Callout) OnUpstreamWritable() {}
