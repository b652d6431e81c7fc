package cluster

import (
	"net/netip"
	"sync/atomic"
	"time"
)

// Health flags of a host (Envoy's Host::HealthFlag). A host is healthy
// when none is set. They are written by the cluster's control goroutine
// (health checks, outlier detection) and read by anyone; workers never read
// them: they see health through the host sets they are sent.
const (
	// FlagFailedActiveHC: the active health check failed (or has not
	// passed yet, with FlagPendingActiveHC).
	FlagFailedActiveHC uint32 = 1 << iota
	// FlagPendingActiveHC: the host has not been health checked yet.
	FlagPendingActiveHC
	// FlagFailedOutlierCheck: outlier detection ejected the host.
	FlagFailedOutlierCheck
)

// Host is one endpoint of a cluster, shared by all workers. Its address
// never changes; a DNS or file update that moves an endpoint removes the
// old Host and adds a new one (a logical_dns cluster keeps one Host and
// dials whatever address its name resolved to last).
type Host struct {
	c        *Cluster
	addr     netip.AddrPort
	hostname string // the DNS name it came from; "" for IP literals
	created  time.Time

	weight   atomic.Uint32 // load_balancing_weight, >= 1
	priority atomic.Uint32
	hcPort   atomic.Uint32 // health_check_config.port_value; 0: the endpoint's port
	flags    atomic.Uint32
	// healthySince is when the host last became healthy (UnixNano), for
	// slow start; 0 for a host healthy since it was added.
	healthySince atomic.Int64
	removed      atomic.Bool

	// active counts streams in flight to this host on all workers; it is
	// what least_request compares, and only kept for that policy (a shared
	// counter written by every worker costs cache-line traffic).
	active atomic.Int64

	od outlierMonitor // outlier.go

	// slots is each worker's share of the host, by worker position:
	// its idle connections and its counters. Only that worker writes a
	// slot.
	slots []hostSlot
}

// hostSlot is one worker's state for one host. The leading pad keeps the
// data of two neighbouring slots (two workers) off a common cache line.
type hostSlot struct {
	_    [64]byte
	idle []*upstreamConn // idle HTTP/1.1 connections, most recently used last
	h2   []*h2Conn       // HTTP/2 connections, open or connecting
	// gone: the host left the cluster. Its connections finish what they
	// carry and close instead of going back to the pool.
	gone bool
	// eligible: the host is in one of the worker's current pick sets, so
	// its idle connections may serve a request the picker did not aim at
	// it (at the connection limit).
	eligible bool
	stats    hostCounters
}

// hostCounters are one worker's counters for one host (Envoy's host
// stats); only that worker writes them, anyone may read.
type hostCounters struct {
	cxTotal, cxConnectFail atomic.Uint64
	rqTotal, rqSuccess     atomic.Uint64
	rqError, rqTimeout     atomic.Uint64
	cxActive, rqActive     atomic.Int64
}

func newHost(c *Cluster, ep Endpoint, now time.Time) *Host {
	h := &Host{c: c, addr: ep.Addr, hostname: ep.Hostname, created: now}
	h.setEndpoint(ep)
	h.slots = make([]hostSlot, len(c.pools))
	return h
}

// setEndpoint takes the mutable attributes of a (re)announced endpoint.
func (h *Host) setEndpoint(ep Endpoint) {
	h.weight.Store(max(ep.Weight, 1))
	h.priority.Store(ep.Priority)
	h.hcPort.Store(uint32(ep.HealthCheckPort))
}

// slot is worker wp's share of the host.
func (h *Host) slot(wp *workerPool) *hostSlot { return &h.slots[wp.index] }

// Addr is the endpoint's address.
func (h *Host) Addr() netip.AddrPort { return h.addr }

// Hostname is the DNS name the endpoint was resolved from ("" for an IP
// literal).
func (h *Host) Hostname() string { return h.hostname }

// Weight is the endpoint's load_balancing_weight.
func (h *Host) Weight() uint32 { return h.weight.Load() }

// Priority is the endpoint's priority level (0 is the highest).
func (h *Host) Priority() uint32 { return h.priority.Load() }

// HealthFlags returns the host's Flag* bits; 0 means healthy.
func (h *Host) HealthFlags() uint32 { return h.flags.Load() }

// Healthy reports whether no health flag is set.
func (h *Host) Healthy() bool { return h.flags.Load() == 0 }

// ActiveRequests is the number of streams in flight to this host, summed
// over the workers.
func (h *Host) ActiveRequests() int64 {
	var n int64
	for i := range h.slots {
		n += h.slots[i].stats.rqActive.Load()
	}
	return n
}

// HostStats are a host's counters summed over the workers (Envoy's
// per-host stats in /clusters).
type HostStats struct {
	CxTotal       uint64 // cx_total
	CxActive      int64  // cx_active
	CxConnectFail uint64 // cx_connect_fail
	RqTotal       uint64 // rq_total
	RqActive      int64  // rq_active
	RqSuccess     uint64 // rq_success: responses other than 5xx
	RqError       uint64 // rq_error: 5xx responses, resets, connect failures
	RqTimeout     uint64 // rq_timeout: the router gave up waiting
}

// Stats sums the host's per-worker counters; safe from any goroutine.
func (h *Host) Stats() HostStats {
	var s HostStats
	for i := range h.slots {
		c := &h.slots[i].stats
		s.CxTotal += c.cxTotal.Load()
		s.CxActive += c.cxActive.Load()
		s.CxConnectFail += c.cxConnectFail.Load()
		s.RqTotal += c.rqTotal.Load()
		s.RqActive += c.rqActive.Load()
		s.RqSuccess += c.rqSuccess.Load()
		s.RqError += c.rqError.Load()
		s.RqTimeout += c.rqTimeout.Load()
	}
	return s
}

// Endpoint describes one endpoint as configured or discovered: a static
// address, or (DNS clusters) a name and port to resolve.
type Endpoint struct {
	Addr     netip.AddrPort
	Hostname string // DNS clusters: the name in socket_address.address
	Port     uint16 // DNS clusters: socket_address.port_value
	Weight   uint32 // load_balancing_weight; 0 means 1
	Priority uint32
	// HealthCheckPort is health_check_config.port_value: active health
	// checks go to this port instead of the endpoint's (0: the same).
	HealthCheckPort uint16
}
