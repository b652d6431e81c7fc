package cluster

import (
	"math/rand/v2"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Outlier detection (Envoy's passive health checking): workers report
// every upstream result of a host into its outlierMonitor, lock-free; a
// run of consecutive failures that reaches a threshold flags the host and
// wakes the control goroutine, which decides the ejection (enforcement
// percentage, max_ejection_percent) and publishes a host set without the
// host. Every interval, hosts whose ejection time has passed come back.

// OutlierOptions are Envoy's outlier_detection fields. Percentages are
// 0..100. DefaultOutlierOptions has Envoy's defaults.
type OutlierOptions struct {
	// Consecutive5xx: 5xx answers in a row (local-origin failures
	// included unless SplitExternalLocalOriginErrors) that eject a host.
	Consecutive5xx          uint32
	EnforcingConsecutive5xx uint32
	// ConsecutiveGatewayFailure: 502, 503 and 504 answers (and, unless
	// split, local-origin failures) in a row.
	ConsecutiveGatewayFailure          uint32
	EnforcingConsecutiveGatewayFailure uint32
	// SplitExternalLocalOriginErrors counts connect failures, timeouts
	// and resets apart from the upstream's answers, against
	// ConsecutiveLocalOriginFailure.
	SplitExternalLocalOriginErrors         bool
	ConsecutiveLocalOriginFailure          uint32
	EnforcingConsecutiveLocalOriginFailure uint32

	Interval         time.Duration // how often ejections are reviewed
	BaseEjectionTime time.Duration // ejection time = base × times ejected
	MaxEjectionTime  time.Duration // cap of the ejection time
	// MaxEjectionTimeJitter adds up to this much to each ejection.
	MaxEjectionTimeJitter time.Duration
	// MaxEjectionPercent caps the share of the cluster's hosts ejected at
	// once; AlwaysEjectOneHost lets one host be ejected even when it alone
	// exceeds the cap.
	MaxEjectionPercent uint32
	AlwaysEjectOneHost bool
	// SuccessfulActiveHealthCheckUnejectHost brings an ejected host back
	// as soon as an active health check passes.
	SuccessfulActiveHealthCheckUnejectHost bool
}

// DefaultOutlierOptions returns Envoy's defaults.
func DefaultOutlierOptions() OutlierOptions {
	return OutlierOptions{
		Consecutive5xx:                         5,
		EnforcingConsecutive5xx:                100,
		ConsecutiveGatewayFailure:              5,
		EnforcingConsecutiveGatewayFailure:     0,
		ConsecutiveLocalOriginFailure:          5,
		EnforcingConsecutiveLocalOriginFailure: 100,
		Interval:                               10 * time.Second,
		BaseEjectionTime:                       30 * time.Second,
		MaxEjectionTime:                        300 * time.Second,
		MaxEjectionPercent:                     10,
		SuccessfulActiveHealthCheckUnejectHost: true,
	}
}

func (o OutlierOptions) withDefaults() OutlierOptions {
	d := DefaultOutlierOptions()
	if o.Interval <= 0 {
		o.Interval = d.Interval
	}
	if o.BaseEjectionTime <= 0 {
		o.BaseEjectionTime = d.BaseEjectionTime
	}
	if o.MaxEjectionTime < o.BaseEjectionTime {
		o.MaxEjectionTime = max(d.MaxEjectionTime, o.BaseEjectionTime)
	}
	return o
}

// Kinds of consecutive failures, as bits of outlierMonitor.tripped.
const (
	trip5xx uint32 = 1 << iota
	tripGateway
	tripLocalOrigin
)

// outlierMonitor is a host's failure runs. Every worker writes it, with
// atomics; a success writes only when a run was in progress, so a healthy
// host's counters stay in every worker's cache.
type outlierMonitor struct {
	consec5xx     atomic.Uint32
	consecGateway atomic.Uint32
	consecLocal   atomic.Uint32
	tripped       atomic.Uint32 // trip* bits not yet seen by the detector

	// Control goroutine only.
	ejected     bool
	ejectedAt   time.Time
	ejectFor    time.Duration
	numEjection uint32 // the ejection-time multiplier
	ejections   uint64 // times ejected, for /clusters
	lastReason  string
}

// localResult is a failure or success the proxy itself observed.
type localResult uint8

const (
	localConnectFailed localResult = iota
	localTimeout
	localReset
	// localSuccess: the upstream answered (a response head arrived), so
	// the connection and the request went through.
	localSuccess
)

// outlierDetector is one cluster's detector. Its state is touched only on
// the control goroutine, except wake, which workers poke.
type outlierDetector struct {
	c    *Cluster
	o    OutlierOptions
	wake chan struct{}
	rnd  *rand.Rand
}

func newOutlierDetector(c *Cluster, o OutlierOptions) *outlierDetector {
	return &outlierDetector{c: c, o: o.withDefaults(), wake: make(chan struct{}, 1), rnd: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

// bump adds one failure to a run and reports whether it just reached the
// threshold (exactly, so a run trips once until it is reset).
func bump(n *atomic.Uint32, threshold uint32) bool {
	return threshold > 0 && n.Add(1) == threshold
}

// endRun ends a run; it writes only when one was in progress.
func endRun(n *atomic.Uint32) {
	if n.Load() != 0 {
		n.Store(0)
	}
}

// reportStatus records an upstream answer's status for h. Worker thread.
func (d *outlierDetector) reportStatus(h *Host, code int) {
	m := &h.od
	if code < 500 || code > 599 {
		endRun(&m.consec5xx)
		endRun(&m.consecGateway)
		if d.o.SplitExternalLocalOriginErrors {
			endRun(&m.consecLocal)
		}
		return
	}
	var trip uint32
	if code >= 502 && code <= 504 {
		if bump(&m.consecGateway, d.o.ConsecutiveGatewayFailure) {
			trip |= tripGateway
		}
	} else {
		endRun(&m.consecGateway)
	}
	if bump(&m.consec5xx, d.o.Consecutive5xx) {
		trip |= trip5xx
	}
	d.trip(h, trip)
}

// reportLocal records a result the proxy observed itself. Unless split,
// failures count as the answer Envoy maps them to (503, or 504 for a
// timeout) and a success means nothing on its own.
func (d *outlierDetector) reportLocal(h *Host, r localResult) {
	if !d.o.SplitExternalLocalOriginErrors {
		switch r {
		case localTimeout:
			d.reportStatus(h, 504)
		case localConnectFailed, localReset:
			d.reportStatus(h, 503)
		}
		return
	}
	m := &h.od
	if r == localSuccess {
		endRun(&m.consecLocal)
		return
	}
	if bump(&m.consecLocal, d.o.ConsecutiveLocalOriginFailure) {
		d.trip(h, tripLocalOrigin)
	}
}

// trip flags h for the detector and wakes the control goroutine without
// ever blocking the worker.
func (d *outlierDetector) trip(h *Host, bits uint32) {
	if bits == 0 {
		return
	}
	h.od.tripped.Or(bits)
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// onWake reviews the hosts workers flagged. Control goroutine.
func (d *outlierDetector) onWake() {
	ctl := d.c.ctl
	changed := false
	for _, h := range ctl.hosts {
		bits := h.od.tripped.Swap(0)
		if bits == 0 {
			continue
		}
		st := &d.c.stats
		if bits&trip5xx != 0 {
			st.odDetected5xx.Add(1)
			changed = d.eject(h, d.o.EnforcingConsecutive5xx, "consecutive_5xx", &st.odEnforced5xx) || changed
		}
		if bits&tripGateway != 0 {
			st.odDetectedGateway.Add(1)
			changed = d.eject(h, d.o.EnforcingConsecutiveGatewayFailure, "consecutive_gateway_failure", &st.odEnforcedGateway) || changed
		}
		if bits&tripLocalOrigin != 0 {
			st.odDetectedLocal.Add(1)
			changed = d.eject(h, d.o.EnforcingConsecutiveLocalOriginFailure, "consecutive_local_origin_failure", &st.odEnforcedLocal) || changed
		}
	}
	if changed {
		ctl.publish(nil)
	}
}

// eject ejects h if the enforcement percentage and max_ejection_percent
// allow; it reports whether h's health changed.
func (d *outlierDetector) eject(h *Host, enforcing uint32, reason string, enforced *atomic.Uint64) bool {
	m := &h.od
	if m.ejected || h.removed.Load() {
		return false
	}
	if enforcing < 100 && d.rnd.Uint32N(100) >= enforcing {
		return false
	}
	st := &d.c.stats
	total := len(d.c.ctl.hosts)
	active := int(st.odEjectionsActive.Load())
	if (active+1)*100 > int(d.o.MaxEjectionPercent)*total && !(d.o.AlwaysEjectOneHost && active == 0) {
		st.odEjectionsOverflow.Add(1)
		return false
	}
	now := time.Now()
	m.numEjection++
	m.ejections++
	ejectFor := min(d.o.BaseEjectionTime*time.Duration(m.numEjection), d.o.MaxEjectionTime)
	if j := d.o.MaxEjectionTimeJitter; j > 0 {
		ejectFor += time.Duration(d.rnd.Int64N(int64(j)))
	}
	m.ejected, m.ejectedAt, m.ejectFor, m.lastReason = true, now, ejectFor, reason
	h.flags.Or(FlagFailedOutlierCheck)
	// A fresh run starts after the ejection.
	m.consec5xx.Store(0)
	m.consecGateway.Store(0)
	m.consecLocal.Store(0)
	st.odEjectionsActive.Add(1)
	st.odEjectionsEnforcedTotal.Add(1)
	enforced.Add(1)
	d.c.log.Info("outlier detection ejected a host", zap.Stringer("host", h.addr), zap.String("reason", reason),
		zap.Duration("for", ejectFor), zap.Uint32("times", m.numEjection))
	return true
}

// uneject brings h back; control goroutine.
func (d *outlierDetector) uneject(h *Host, why string) bool {
	m := &h.od
	if !m.ejected {
		return false
	}
	m.ejected = false
	h.flags.And(^FlagFailedOutlierCheck)
	d.c.stats.odEjectionsActive.Add(-1)
	d.c.log.Info("outlier detection brought a host back", zap.Stringer("host", h.addr), zap.String("why", why))
	return true
}

// onInterval returns hosts whose ejection time passed, and lets hosts that
// stayed in lower their ejection multiplier (Envoy's back-off decay).
func (d *outlierDetector) onInterval(now time.Time) {
	changed := false
	for _, h := range d.c.ctl.hosts {
		m := &h.od
		switch {
		case m.ejected && now.Sub(m.ejectedAt) >= m.ejectFor:
			changed = d.uneject(h, "ejection time passed") || changed
		case !m.ejected && m.numEjection > 0 && now.Sub(m.ejectedAt) >= m.ejectFor+d.o.Interval:
			m.numEjection--
		}
	}
	if changed {
		d.c.ctl.publish(nil)
	}
}

// forget is called when h leaves the cluster.
func (d *outlierDetector) forget(h *Host) {
	if h.od.ejected {
		h.od.ejected = false
		d.c.stats.odEjectionsActive.Add(-1)
	}
}

// reportStatus records a response status for h: its counters, and
// outlier detection. Worker thread.
func (wp *workerPool) reportStatus(h *Host, code int) {
	st := &h.slot(wp).stats
	if code >= 500 {
		st.rqError.Add(1)
	} else {
		st.rqSuccess.Add(1)
	}
	if od := wp.c.od; od != nil {
		od.reportStatus(h, code)
	}
}

// reportLocal records a result the proxy observed itself for h.
func (wp *workerPool) reportLocal(h *Host, r localResult) {
	st := &h.slot(wp).stats
	switch r {
	case localConnectFailed:
		st.cxConnectFail.Add(1)
	case localReset:
		st.rqError.Add(1)
	case localTimeout:
		st.rqTimeout.Add(1)
	}
	if od := wp.c.od; od != nil {
		od.reportLocal(h, r)
	}
}
