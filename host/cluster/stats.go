package cluster

import (
	"strings"
	"sync/atomic"
)

// Stats is a snapshot of a cluster's counters and gauges, named as Envoy
// names them (the field comment is the stat name under cluster.<name>.).
type Stats struct {
	CxTotal           uint64 // upstream_cx_total: connections created (connect attempted)
	CxActive          uint64 // upstream_cx_active: connections open or connecting, all workers
	CxConnectFail     uint64 // upstream_cx_connect_fail
	CxConnectTimeout  uint64 // upstream_cx_connect_timeout
	CxOverflow        uint64 // upstream_cx_overflow: a connection was wanted but max_connections was reached
	CxIdleTimeout     uint64 // upstream_cx_idle_timeout
	CxMaxRequests     uint64 // upstream_cx_max_requests: closed after max_requests_per_connection
	CxDestroyRemote   uint64 // upstream_cx_destroy_remote: closed by the upstream
	CxDestroyLocal    uint64 // upstream_cx_destroy_local: closed by sluice
	CxProtocolError   uint64 // upstream_cx_protocol_error
	CxTunnelTotal     uint64 // upstream_cx_tunnel_total: connections handed over to a tunnel (101 upgrade or CONNECT); they never return to the pool
	CxTunnelActive    uint64 // upstream_cx_tunnel_active: tunnels open now (included in upstream_cx_active)
	RqTotal           uint64 // upstream_rq_total: streams that got a connection
	RqActive          uint64 // upstream_rq_active
	RqPendingTotal    uint64 // upstream_rq_pending_total: streams that found no ready connection and waited (queued, or for a connection being established)
	RqPendingActive   uint64 // upstream_rq_pending_active: streams waiting now (queued or connecting)
	RqPendingOverflow uint64 // upstream_rq_pending_overflow: refused, max_pending_requests reached
	RqPendingFailure  uint64 // upstream_rq_pending_failure_eject: pending streams that failed before getting a connection (connect failure/timeout, connection lost before its SETTINGS)
	RqCompleted       uint64 // upstream_rq_completed: responses received completely
	RqRxReset         uint64 // upstream_rq_rx_reset: reset by the upstream (termination, protocol error)
	RqTxReset         uint64 // upstream_rq_tx_reset: abandoned by the caller (Stream.Reset)
	RqRetryStale      uint64 // upstream_rq_retry_stale_connection: re-sent once on a fresh connection after a kept-alive connection closed before answering
	NoHealthyUpstream uint64 // upstream_cx_none_healthy

	// Retries by the router (retry.go).
	RqRetry              uint64 // upstream_rq_retry: retries started
	RqRetrySuccess       uint64 // upstream_rq_retry_success: retries whose answer was not retried again and was forwarded
	RqRetryOverflow      uint64 // upstream_rq_retry_overflow: retries refused by max_retries or the retry budget
	RqRetryLimitExceeded uint64 // upstream_rq_retry_limit_exceeded: a retriable failure with no retries left
	RqRetryBackoffExp    uint64 // upstream_rq_retry_backoff_exponential: retries that waited a back-off
	RqPerTryTimeout      uint64 // upstream_rq_per_try_timeout
	RetriesActive        uint64 // upstream_rq_retry_active: retries outstanding now (what the budget limits)
	RemainingRetries     uint64 // circuit_breakers.default.remaining_retries
	RetryOpen            uint64 // circuit_breakers.default.rq_retry_open: 1 while no retry is allowed

	// Membership and discovery.
	MembershipChange  uint64 // membership_change
	MembershipTotal   uint64 // membership_total
	MembershipHealthy uint64 // membership_healthy
	UpdateAttempt     uint64 // update_attempt: DNS resolutions or endpoint-file reads
	UpdateSuccess     uint64 // update_success
	UpdateFailure     uint64 // update_failure: resolution failed, file unreadable
	UpdateRejected    uint64 // update_rejected: the endpoint file was invalid
	UpdateEmpty       uint64 // update_empty: an update with no endpoints
	UpdateNoRebuild   uint64 // update_no_rebuild: nothing changed

	// Active health checking.
	HCAttempt        uint64 // health_check.attempt
	HCSuccess        uint64 // health_check.success
	HCFailure        uint64 // health_check.failure
	HCNetworkFailure uint64 // health_check.network_failure
	HCHealthy        uint64 // health_check.healthy: hosts passing active health checks

	// Outlier detection.
	ODEjectionsActive        uint64 // outlier_detection.ejections_active
	ODEjectionsOverflow      uint64 // outlier_detection.ejections_overflow: not ejected because of max_ejection_percent
	ODEjectionsEnforcedTotal uint64 // outlier_detection.ejections_enforced_total
	ODEnforced5xx            uint64 // outlier_detection.ejections_enforced_consecutive_5xx
	ODDetected5xx            uint64 // outlier_detection.ejections_detected_consecutive_5xx
	ODEnforcedGateway        uint64 // outlier_detection.ejections_enforced_consecutive_gateway_failure
	ODDetectedGateway        uint64 // outlier_detection.ejections_detected_consecutive_gateway_failure
	ODEnforcedLocal          uint64 // outlier_detection.ejections_enforced_consecutive_local_origin_failure
	ODDetectedLocal          uint64 // outlier_detection.ejections_detected_consecutive_local_origin_failure
}

// Each visits every stat with its Envoy-style name, for the admin endpoint.
func (s Stats) Each(fn func(name string, value uint64)) {
	fn("upstream_cx_total", s.CxTotal)
	fn("upstream_cx_active", s.CxActive)
	fn("upstream_cx_connect_fail", s.CxConnectFail)
	fn("upstream_cx_connect_timeout", s.CxConnectTimeout)
	fn("upstream_cx_overflow", s.CxOverflow)
	fn("upstream_cx_idle_timeout", s.CxIdleTimeout)
	fn("upstream_cx_max_requests", s.CxMaxRequests)
	fn("upstream_cx_destroy_remote", s.CxDestroyRemote)
	fn("upstream_cx_destroy_local", s.CxDestroyLocal)
	fn("upstream_cx_protocol_error", s.CxProtocolError)
	fn("upstream_cx_tunnel_total", s.CxTunnelTotal)
	fn("upstream_cx_tunnel_active", s.CxTunnelActive)
	fn("upstream_cx_none_healthy", s.NoHealthyUpstream)
	fn("upstream_rq_total", s.RqTotal)
	fn("upstream_rq_active", s.RqActive)
	fn("upstream_rq_pending_total", s.RqPendingTotal)
	fn("upstream_rq_pending_active", s.RqPendingActive)
	fn("upstream_rq_pending_overflow", s.RqPendingOverflow)
	fn("upstream_rq_pending_failure_eject", s.RqPendingFailure)
	fn("upstream_rq_completed", s.RqCompleted)
	fn("upstream_rq_rx_reset", s.RqRxReset)
	fn("upstream_rq_tx_reset", s.RqTxReset)
	fn("upstream_rq_retry_stale_connection", s.RqRetryStale)
	fn("upstream_rq_retry", s.RqRetry)
	fn("upstream_rq_retry_success", s.RqRetrySuccess)
	fn("upstream_rq_retry_overflow", s.RqRetryOverflow)
	fn("upstream_rq_retry_limit_exceeded", s.RqRetryLimitExceeded)
	fn("upstream_rq_retry_backoff_exponential", s.RqRetryBackoffExp)
	fn("upstream_rq_per_try_timeout", s.RqPerTryTimeout)
	fn("upstream_rq_retry_active", s.RetriesActive)
	fn("circuit_breakers.default.remaining_retries", s.RemainingRetries)
	fn("circuit_breakers.default.rq_retry_open", s.RetryOpen)
	fn("membership_change", s.MembershipChange)
	fn("membership_total", s.MembershipTotal)
	fn("membership_healthy", s.MembershipHealthy)
	fn("update_attempt", s.UpdateAttempt)
	fn("update_success", s.UpdateSuccess)
	fn("update_failure", s.UpdateFailure)
	fn("update_rejected", s.UpdateRejected)
	fn("update_empty", s.UpdateEmpty)
	fn("update_no_rebuild", s.UpdateNoRebuild)
	fn("health_check.attempt", s.HCAttempt)
	fn("health_check.success", s.HCSuccess)
	fn("health_check.failure", s.HCFailure)
	fn("health_check.network_failure", s.HCNetworkFailure)
	fn("health_check.healthy", s.HCHealthy)
	fn("outlier_detection.ejections_active", s.ODEjectionsActive)
	fn("outlier_detection.ejections_overflow", s.ODEjectionsOverflow)
	fn("outlier_detection.ejections_enforced_total", s.ODEjectionsEnforcedTotal)
	fn("outlier_detection.ejections_enforced_consecutive_5xx", s.ODEnforced5xx)
	fn("outlier_detection.ejections_detected_consecutive_5xx", s.ODDetected5xx)
	fn("outlier_detection.ejections_enforced_consecutive_gateway_failure", s.ODEnforcedGateway)
	fn("outlier_detection.ejections_detected_consecutive_gateway_failure", s.ODDetectedGateway)
	fn("outlier_detection.ejections_enforced_consecutive_local_origin_failure", s.ODEnforcedLocal)
	fn("outlier_detection.ejections_detected_consecutive_local_origin_failure", s.ODDetectedLocal)
}

// IsGauge reports whether a stat of Each is a gauge (a level, not a count).
func IsGauge(name string) bool {
	switch name {
	case "membership_total", "membership_healthy", "health_check.healthy",
		"outlier_detection.ejections_active", "circuit_breakers.default.remaining_retries",
		"circuit_breakers.default.rq_retry_open":
		return true
	}
	return strings.HasSuffix(name, "_active")
}

// counters are the live atomics behind Stats. Gauges that double as
// circuit-breaker state (cxActive, rqPendingActive) are also read by the
// admission logic in breaker.go.
type counters struct {
	cxTotal, cxConnectFail, cxConnectTimeout, cxOverflow atomic.Uint64
	cxIdleTimeout, cxMaxRequests                         atomic.Uint64
	cxDestroyRemote, cxDestroyLocal, cxProtocolError     atomic.Uint64
	rqPendingTotal, rqPendingOverflow                    atomic.Uint64
	rqPendingFailure, rqRxReset, rqTxReset               atomic.Uint64
	rqRetryStale, noHealthyUpstream                      atomic.Uint64
	cxTunnelTotal                                        atomic.Uint64
	cxActive, rqPendingActive, cxTunnelActive            atomic.Int64

	rqRetry, rqRetrySuccess, rqRetryOverflow          atomic.Uint64
	rqRetryLimitExceeded, rqRetryBackoff, rqPerTryTmo atomic.Uint64
	retriesActive                                     atomic.Int64

	membershipChange, updateAttempt, updateSuccess atomic.Uint64
	updateFailure, updateRejected, updateEmpty     atomic.Uint64
	updateNoRebuild                                atomic.Uint64

	hcAttempt, hcSuccess, hcFailure, hcNetworkFailure atomic.Uint64

	odEjectionsActive                             atomic.Int64
	odEjectionsOverflow, odEjectionsEnforcedTotal atomic.Uint64
	odEnforced5xx, odDetected5xx                  atomic.Uint64
	odEnforcedGateway, odDetectedGateway          atomic.Uint64
	odEnforcedLocal, odDetectedLocal              atomic.Uint64

	// rqConnWait counts streams waiting for a connection being
	// established; with rqPendingActive (the queue, which
	// max_pending_requests bounds) it makes upstream_rq_pending_active.
	rqConnWait atomic.Int64
}

// hotCounters are the per-request counters. Each worker pool has its own,
// padded to a cache line of its own, so workers never contend on them;
// Stats sums them.
type hotCounters struct {
	_           [64]byte
	rqTotal     atomic.Uint64
	rqCompleted atomic.Uint64
	rqActive    atomic.Int64
	_           [64]byte
}

func (c *Cluster) snapshotStats() Stats {
	s := c.stats.snapshot(c.pools)
	s.RqRetry = c.stats.rqRetry.Load()
	s.RqRetrySuccess = c.stats.rqRetrySuccess.Load()
	s.RqRetryOverflow = c.stats.rqRetryOverflow.Load()
	s.RqRetryLimitExceeded = c.stats.rqRetryLimitExceeded.Load()
	s.RqRetryBackoffExp = c.stats.rqRetryBackoff.Load()
	s.RqPerTryTimeout = c.stats.rqPerTryTmo.Load()
	s.RetriesActive = uint64(max(c.stats.retriesActive.Load(), 0))
	limit := c.retryLimit()
	s.RemainingRetries = uint64(max(limit-int64(s.RetriesActive), 0))
	if s.RemainingRetries == 0 {
		s.RetryOpen = 1
	}
	s.MembershipChange = c.stats.membershipChange.Load()
	s.UpdateAttempt = c.stats.updateAttempt.Load()
	s.UpdateSuccess = c.stats.updateSuccess.Load()
	s.UpdateFailure = c.stats.updateFailure.Load()
	s.UpdateRejected = c.stats.updateRejected.Load()
	s.UpdateEmpty = c.stats.updateEmpty.Load()
	s.UpdateNoRebuild = c.stats.updateNoRebuild.Load()
	s.HCAttempt = c.stats.hcAttempt.Load()
	s.HCSuccess = c.stats.hcSuccess.Load()
	s.HCFailure = c.stats.hcFailure.Load()
	s.HCNetworkFailure = c.stats.hcNetworkFailure.Load()
	for _, h := range c.ctl.members() {
		s.MembershipTotal++
		f := h.flags.Load()
		if f == 0 {
			s.MembershipHealthy++
		}
		if f&FlagFailedActiveHC == 0 && len(c.settings.HealthChecks) > 0 {
			s.HCHealthy++
		}
	}
	s.ODEjectionsActive = uint64(max(c.stats.odEjectionsActive.Load(), 0))
	s.ODEjectionsOverflow = c.stats.odEjectionsOverflow.Load()
	s.ODEjectionsEnforcedTotal = c.stats.odEjectionsEnforcedTotal.Load()
	s.ODEnforced5xx = c.stats.odEnforced5xx.Load()
	s.ODDetected5xx = c.stats.odDetected5xx.Load()
	s.ODEnforcedGateway = c.stats.odEnforcedGateway.Load()
	s.ODDetectedGateway = c.stats.odDetectedGateway.Load()
	s.ODEnforcedLocal = c.stats.odEnforcedLocal.Load()
	s.ODDetectedLocal = c.stats.odDetectedLocal.Load()
	return s
}

func (c *counters) snapshot(pools []*workerPool) Stats {
	var rqTotal, rqCompleted uint64
	var rqActive int64
	for _, wp := range pools {
		rqTotal += wp.hot.rqTotal.Load()
		rqCompleted += wp.hot.rqCompleted.Load()
		rqActive += wp.hot.rqActive.Load()
	}
	return Stats{
		CxTotal:           c.cxTotal.Load(),
		CxActive:          uint64(max(c.cxActive.Load(), 0)),
		CxConnectFail:     c.cxConnectFail.Load(),
		CxConnectTimeout:  c.cxConnectTimeout.Load(),
		CxOverflow:        c.cxOverflow.Load(),
		CxIdleTimeout:     c.cxIdleTimeout.Load(),
		CxMaxRequests:     c.cxMaxRequests.Load(),
		CxDestroyRemote:   c.cxDestroyRemote.Load(),
		CxDestroyLocal:    c.cxDestroyLocal.Load(),
		CxProtocolError:   c.cxProtocolError.Load(),
		CxTunnelTotal:     c.cxTunnelTotal.Load(),
		CxTunnelActive:    uint64(max(c.cxTunnelActive.Load(), 0)),
		RqTotal:           rqTotal,
		RqActive:          uint64(max(rqActive, 0)),
		RqPendingTotal:    c.rqPendingTotal.Load(),
		RqPendingActive:   uint64(max(c.rqPendingActive.Load()+c.rqConnWait.Load(), 0)),
		RqPendingOverflow: c.rqPendingOverflow.Load(),
		RqPendingFailure:  c.rqPendingFailure.Load(),
		RqCompleted:       rqCompleted,
		RqRxReset:         c.rqRxReset.Load(),
		RqTxReset:         c.rqTxReset.Load(),
		RqRetryStale:      c.rqRetryStale.Load(),
		NoHealthyUpstream: c.noHealthyUpstream.Load(),
	}
}
