package hcm

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"time"

	"golang.org/x/net/http2"

	"github.com/sluiceproxy/sluice/host/cluster"
	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/router"
)

// The router's retries (Envoy's retry_policy). An attempt that fails
// before any response reached the client — a retriable status, a connect
// failure, a reset, a per-try timeout — is tried again, after a jittered
// exponential back-off, when:
//
//   - the route (or its virtual host) has a retry policy whose retry_on
//     covers the failure and num_retries is not used up;
//   - the whole request was received and its body fitted the request
//     buffer (per_request_buffer_limit_bytes), so it can be sent again
//     as it was; a body beyond the buffer disables retries for the stream;
//   - the cluster's retry budget (or max_retries) has room, so retries
//     never multiply the load on a failing cluster.
//
// Once the response headers are passed on, the stream is committed to that
// attempt: nothing is retried after response bytes went downstream.

// maxTriedHosts is how many attempted hosts the previous_hosts predicate
// remembers (the most recent ones).
const maxTriedHosts = 8

// retryState is one stream's retry bookkeeping; it lives in the router
// filter, so it costs no allocation.
type retryState struct {
	policy    *router.RetryPolicy // nil: no retries for this stream
	attempts  int                 // attempts started, the first included
	retried   int                 // retries started
	slot      bool                // a cluster retry slot is held for the current attempt
	committed bool                // a response is going downstream
	off       bool                // retries disabled: the body outgrew the buffer
	limit     int                 // request body kept for replay, at most
	body      bodyBuffer          // the whole request body so far
	trailers  *headers.Map        // the request trailers, for replay

	tried  [maxTriedHosts]*cluster.Host
	nTried int

	hash    uint64
	hasHash bool

	perTry      timerHandle
	backoff     timerHandle
	onPerTryFn  func()
	onBackoffFn func()
}

// defaultRequestBufferLimit is used when neither the route nor the
// listener bounds the request body kept for retries.
const defaultRequestBufferLimit = 1 << 20

// beginRetries prepares a stream's retries and hash for its route.
func (r *routerFilter) beginRetries(route *router.Route) {
	rs := &r.retry
	s := r.s
	rs.hash, rs.hasHash = 0, false
	if route.HasHashPolicy() {
		rs.hash, rs.hasHash = route.HashKey(s.reqHeaders, s.info.Source)
	}
	rs.policy = route.Retry
	if rs.policy == nil || rs.policy.NumRetries == 0 {
		rs.policy = nil
		return
	}
	rs.limit = route.BufferLimit
	if rs.limit < 0 {
		rs.limit = s.cfg.ConnBufferLimit
	}
	if rs.limit <= 0 {
		rs.limit = defaultRequestBufferLimit
	}
	if rs.onPerTryFn == nil {
		rs.onPerTryFn = r.onPerTryTimeout
		rs.onBackoffFn = r.onBackoff
	}
}

// resetRetries forgets a finished stream's retry state.
func (rs *retryState) reset() {
	rs.perTry.stop()
	rs.backoff.stop()
	rs.policy = nil
	rs.attempts, rs.retried = 0, 0
	rs.committed, rs.off = false, false
	rs.body.Reset()
	rs.trailers = nil
	clear(rs.tried[:])
	rs.nTried = 0
	rs.hash, rs.hasHash = 0, false
}

// keepBody records request body bytes for replay while retries are
// possible; past the buffer limit retries are off for good.
func (r *routerFilter) keepBody(p []byte) {
	rs := &r.retry
	if rs.policy == nil || rs.off || len(p) == 0 {
		return
	}
	if rs.body.Len()+len(p) > rs.limit {
		rs.off = true
		rs.body.Reset()
		return
	}
	rs.body.Append(p)
}

// startAttempt asks the cluster for a connection for the next attempt.
func (r *routerFilter) startAttempt() {
	s := r.s
	rs := &r.retry
	rs.attempts++
	s.info.Attempts = rs.attempts
	r.headersSent = false
	r.upstreamDone = false
	if rt := s.route; rt != nil && rt.IncludeAttemptCount {
		var num [20]byte
		s.reqHeaders.Set("x-envoy-attempt-count", strconv.AppendInt(num[:0], int64(rs.attempts), 10))
	}
	r.up = r.cl.NewStream(s.conn.w, r)
}

// sendReplay sends the whole kept request on a retry's fresh upstream.
func (r *routerFilter) sendReplay(up *cluster.Stream) {
	rs := &r.retry
	s := r.s
	end := rs.body.Len() == 0 && rs.trailers == nil
	r.headersSent = true
	up.SendHeaders(s.reqHeaders, end)
	if !end && rs.body.Len() > 0 {
		up.SendData(rs.body.Bytes(), rs.trailers == nil)
	}
	if rs.trailers != nil {
		up.SendTrailers(rs.trailers)
	}
	r.requestSent()
}

// requestSent runs when the current attempt's request went out whole: the
// per-try timeout starts then, as in Envoy.
func (r *routerFilter) requestSent() {
	r.upstreamDone = true
	rs := &r.retry
	if rs.policy != nil && rs.policy.PerTryTimeout > 0 && !rs.committed {
		rs.perTry.arm(r.s.conn.w, rs.policy.PerTryTimeout, rs.onPerTryFn)
	}
}

// endAttempt releases what the finished attempt held.
func (r *routerFilter) endAttempt() {
	rs := &r.retry
	rs.perTry.stop()
	if rs.slot {
		rs.slot = false
		r.cl.RetryDone()
	}
}

// tryAgain decides, after a retriable failure, whether there is a retry
// for it, and schedules it. It counts why not when there is none.
func (r *routerFilter) tryAgain() bool {
	rs := &r.retry
	s := r.s
	if rs.policy == nil || rs.committed || rs.off || !r.pendingEnd || s.ended {
		return false
	}
	if rs.retried >= rs.policy.NumRetries {
		r.cl.CountRetry(cluster.RetryLimitExceeded)
		s.info.Flags |= FlagUpstreamRetryLimitExceeded
		return false
	}
	if !r.cl.TryRetry() {
		return false // upstream_rq_retry_overflow
	}
	rs.slot = true
	rs.retried++
	// Fully jittered exponential back-off: retry n waits a random time
	// below base × (2^n − 1), capped at max_interval.
	ceiling := rs.policy.BaseInterval * time.Duration(1<<min(rs.retried, 30)-1)
	ceiling = min(ceiling, rs.policy.MaxInterval)
	delay := time.Duration(rand.Int64N(int64(max(ceiling, 1))))
	r.cl.CountRetry(cluster.RetryBackoff)
	rs.backoff.arm(s.conn.w, max(delay, time.Microsecond), rs.onBackoffFn)
	return true
}

func (r *routerFilter) onBackoff() {
	if r.s == nil || r.s.ended {
		return
	}
	r.startAttempt()
}

// onPerTryTimeout gives up on the current attempt: retry, or answer 504.
func (r *routerFilter) onPerTryTimeout() {
	s := r.s
	rs := &r.retry
	if s == nil || s.ended || r.up == nil || rs.committed {
		return
	}
	up := r.up
	r.up = nil
	r.cl.CountRetry(cluster.PerTryTimeout)
	up.ResetOnTimeout()
	r.endAttempt()
	if rs.policy.RetriableFailure(router.FailPerTryTimeout, false) && r.tryAgain() {
		return
	}
	s.info.Flags |= FlagUpstreamRequestTimeout
	s.sendLocalReply(len(s.filters)-1, 504, nil, []byte("upstream request timeout"), "upstream_per_try_timeout")
}

// retryFailure handles an attempt that ended without a response: it
// reports whether a retry was scheduled.
func (r *routerFilter) retryFailure(f router.Failure) bool {
	rs := &r.retry
	r.endAttempt()
	if rs.policy == nil || !rs.policy.RetriableFailure(f, !r.headersSent) {
		return false
	}
	return r.tryAgain()
}

// retryStatus decides on a response head: true means it was discarded
// and a retry scheduled; the caller drops the response.
func (r *routerFilter) retryStatus(status int) bool {
	rs := &r.retry
	if rs.policy == nil || rs.committed || !rs.policy.RetriableStatus(status) {
		return false
	}
	r.endAttempt()
	if !r.tryAgain() {
		return false
	}
	up := r.up
	r.up = nil
	up.Reset() // inside the final event this leaves a complete exchange alone
	return true
}

// commit marks the response as going downstream: no retry after this.
func (r *routerFilter) commit(status int) {
	rs := &r.retry
	rs.committed = true
	rs.perTry.stop()
	if rs.retried > 0 && (rs.policy == nil || !rs.policy.RetriableStatus(status)) {
		r.cl.CountRetry(cluster.RetrySuccess)
	}
}

// failureOf classifies a reset for the retry policy.
func failureOf(err error) router.Failure {
	var se *cluster.StreamResetError
	if errors.As(err, &se) && se.Code == http2.ErrCodeRefusedStream {
		return router.FailRefusedStream
	}
	return router.FailReset
}

// LoadBalancerContext: the request's hash and the hosts already tried.

func (r *routerFilter) HashKey() (uint64, bool) { return r.retry.hash, r.retry.hasHash }

func (r *routerFilter) ShouldSelectAnotherHost(h *cluster.Host) bool {
	rs := &r.retry
	if rs.policy == nil || !rs.policy.PreviousHosts {
		return false
	}
	for _, x := range rs.tried[:min(rs.nTried, maxTriedHosts)] {
		if x == h {
			return true
		}
	}
	return false
}

func (r *routerFilter) HostSelectionRetryCount() int {
	if p := r.retry.policy; p != nil && p.PreviousHosts {
		return p.HostSelectionAttempts
	}
	return 0
}

// rememberHost records an attempt's host for previous_hosts.
func (rs *retryState) rememberHost(h *cluster.Host) {
	if h == nil || rs.policy == nil {
		return
	}
	rs.tried[rs.nTried%maxTriedHosts] = h
	rs.nTried++
}
