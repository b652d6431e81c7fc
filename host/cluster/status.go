package cluster

import (
	"net/netip"
	"strings"
	"time"
)

// HostStatus is one host as the admin endpoint (/clusters) shows it.
type HostStatus struct {
	Addr     netip.AddrPort
	Hostname string
	// DialAddr is where new connections go when it differs from Addr (a
	// logical_dns host whose name moved).
	DialAddr    netip.AddrPort
	Weight      uint32
	Priority    uint32
	HealthFlags uint32
	Stats       HostStats
	Outlier     OutlierStatus
	HealthCheck HealthCheckStatus
}

// OutlierStatus is a host's outlier detection state.
type OutlierStatus struct {
	Ejected          bool
	EjectedFor       time.Duration // the current or last ejection's length
	EjectedAt        time.Time     // when the current or last ejection began
	TimesEjected     uint64
	Multiplier       uint32 // base_ejection_time multiplier for the next ejection
	Reason           string // why it was last ejected
	Consecutive5xx   uint32
	ConsecutiveGw    uint32
	ConsecutiveLocal uint32
}

// HealthCheckStatus is a host's active health-check state.
type HealthCheckStatus struct {
	Checked     bool   // the cluster has health checks
	Successes   uint32 // consecutive passes
	Failures    uint32 // consecutive failures
	LastFailure string // the last failure's reason
}

// HealthFlagsString renders health flags as Envoy's /clusters does:
// "healthy", or the flags as "/failed_active_hc/failed_outlier_check".
func HealthFlagsString(f uint32) string {
	if f == 0 {
		return "healthy"
	}
	var b strings.Builder
	if f&FlagFailedActiveHC != 0 {
		b.WriteString("/failed_active_hc")
	}
	if f&FlagFailedOutlierCheck != 0 {
		b.WriteString("/failed_outlier_check")
	}
	if f&FlagPendingActiveHC != 0 {
		b.WriteString("/pending_active_hc")
	}
	return b.String()
}

// HostStatuses describes every current host. The control goroutine's
// state is read on it, so this waits for it (admin requests, never a
// worker).
func (c *Cluster) HostStatuses() []HostStatus {
	var out []HostStatus
	collect := func() {
		logical := c.ctl.logicalAddr()
		for _, h := range c.ctl.members() {
			st := HostStatus{
				Addr: h.addr, Hostname: h.hostname, Weight: h.Weight(), Priority: h.Priority(),
				HealthFlags: h.HealthFlags(), Stats: h.Stats(),
			}
			if logical.IsValid() && logical != h.addr {
				st.DialAddr = logical
			}
			m := &h.od
			st.Outlier = OutlierStatus{
				Ejected: m.ejected, EjectedFor: m.ejectFor, EjectedAt: m.ejectedAt, TimesEjected: m.ejections,
				Multiplier: m.numEjection, Reason: m.lastReason,
				Consecutive5xx: m.consec5xx.Load(), ConsecutiveGw: m.consecGateway.Load(), ConsecutiveLocal: m.consecLocal.Load(),
			}
			if hc := c.ctl.hc; hc != nil {
				st.HealthCheck.Checked = true
				if p := hc.probes[h]; p != nil {
					st.HealthCheck.Successes, st.HealthCheck.Failures, st.HealthCheck.LastFailure = p.successes, p.failures, p.last
				}
			}
			out = append(out, st)
		}
	}
	c.ctl.query(collect)
	return out
}

// query runs fn on the control goroutine and waits for it; without a
// running control goroutine it runs fn here (nothing else changes the
// state then).
func (ctl *control) query(fn func()) {
	if !ctl.started {
		fn()
		return
	}
	done := make(chan struct{})
	select {
	case ctl.events <- func() { fn(); close(done) }:
	case <-ctl.stop:
		return
	}
	select {
	case <-done:
	case <-ctl.stop:
	}
}
