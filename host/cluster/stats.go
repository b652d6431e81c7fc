package cluster

import "sync/atomic"

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
	RqPendingTotal    uint64 // upstream_rq_pending_total: streams that had to wait
	RqPendingActive   uint64 // upstream_rq_pending_active
	RqPendingOverflow uint64 // upstream_rq_pending_overflow: refused, max_pending_requests reached
	RqPendingFailure  uint64 // upstream_rq_pending_failure_eject: failed before getting a connection (connect failure/timeout)
	RqCompleted       uint64 // upstream_rq_completed: responses received completely
	RqRxReset         uint64 // upstream_rq_rx_reset: reset by the upstream (termination, protocol error)
	RqTxReset         uint64 // upstream_rq_tx_reset: abandoned by the caller (Stream.Reset)
	RqRetryStale      uint64 // upstream_rq_retry_stale_connection: re-sent once on a fresh connection after a kept-alive connection closed before answering
	NoHealthyUpstream uint64 // upstream_cx_none_healthy
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
		RqPendingActive:   uint64(max(c.rqPendingActive.Load(), 0)),
		RqPendingOverflow: c.rqPendingOverflow.Load(),
		RqPendingFailure:  c.rqPendingFailure.Load(),
		RqCompleted:       rqCompleted,
		RqRxReset:         c.rqRxReset.Load(),
		RqTxReset:         c.rqTxReset.Load(),
		RqRetryStale:      c.rqRetryStale.Load(),
		NoHealthyUpstream: c.noHealthyUpstream.Load(),
	}
}
