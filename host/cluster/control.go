package cluster

import (
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"
)

// control owns a cluster's membership and the hosts' health. Everything
// that changes them — DNS answers, the endpoint file, health-check
// results, outlier ejections, slow-start progress — runs on one control
// goroutine (events), which then publishes a new host set to every worker
// by message. Workers never wait for it and it never touches their state.
// A static cluster without health checking or outlier detection never
// starts the goroutine: its one host set is built at construction.
type control struct {
	c *Cluster

	mu      sync.Mutex // guards hosts, set and logical for readers elsewhere
	hosts   []*Host
	set     *hostSet
	logical netip.AddrPort

	events  chan func()
	stop    chan struct{}
	done    chan struct{}
	started bool
	// ready is closed once the cluster knows its hosts well enough to
	// serve: the first DNS answer or endpoint file, and the first health
	// check of every initial host.
	ready     chan struct{}
	readyOnce sync.Once

	warmTimer *time.Timer // slow start: rebuilds while hosts warm up
	sources   []func()    // goroutines started with the control loop
	wg        sync.WaitGroup
	// discovering counts discovery sources (DNS names, the endpoint file)
	// that have not reported once yet; the cluster is not ready before.
	discovering int
	hc          *healthChecker // nil without health_checks
	// overprovisioning is the endpoint file's overprovisioning_factor
	// (0: the cluster's).
	overprovisioning uint32
}

func newControl(c *Cluster) *control {
	return &control{
		c:      c,
		events: make(chan func(), 64),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		ready:  make(chan struct{}),
	}
}

// setInitial installs the hosts known at construction and returns the
// first host set (the workers get it directly, before they serve).
func (ctl *control) setInitial(hosts []*Host) *hostSet {
	if len(ctl.c.settings.HealthChecks) > 0 {
		ctl.hc = newHealthChecker(ctl.c, ctl.c.settings.HealthChecks[0])
		for _, h := range hosts {
			// Envoy's start: unhealthy until the first check passes
			// (panic routing serves meanwhile).
			h.flags.Store(FlagFailedActiveHC | FlagPendingActiveHC)
		}
	}
	ctl.hosts = hosts
	ctl.set = ctl.build(time.Now())
	return ctl.set
}

// updateMembers makes eps the cluster's membership: hosts keep their
// identity (connections, health, outlier state) by address, new ones are
// added (with health checks, unhealthy until the first pass), missing ones
// are removed. It reports whether it published a new host set. Control
// goroutine.
func (ctl *control) updateMembers(eps []Endpoint) bool {
	c := ctl.c
	now := time.Now()
	select {
	case <-ctl.ready:
	default:
		// Hosts learned while the cluster warms up are its initial hosts,
		// not new ones: no slow start for them, as in Envoy.
		now = time.Time{}
	}
	old := make(map[netip.AddrPort]*Host, len(ctl.hosts))
	for _, h := range ctl.hosts {
		old[h.addr] = h
	}
	next := make([]*Host, 0, len(eps))
	changed := false
	kept := make(map[netip.AddrPort]bool, len(eps))
	for _, ep := range eps {
		if kept[ep.Addr] {
			continue // the same address twice (two names resolving alike)
		}
		kept[ep.Addr] = true
		if h := old[ep.Addr]; h != nil {
			if h.weight.Load() != max(ep.Weight, 1) || h.priority.Load() != ep.Priority || h.hcPort.Load() != uint32(ep.HealthCheckPort) {
				h.setEndpoint(ep)
				changed = true
			}
			next = append(next, h)
			continue
		}
		h := newHost(c, ep, now)
		if ctl.hc != nil {
			h.flags.Store(FlagFailedActiveHC | FlagPendingActiveHC)
		}
		next = append(next, h)
		changed = true
		c.log.Info("host added", zap.Stringer("host", h.addr), zap.String("hostname", h.hostname), zap.Uint32("priority", ep.Priority))
	}
	var removed []*Host
	for _, h := range ctl.hosts {
		if !kept[h.addr] {
			removed = append(removed, h)
			c.log.Info("host removed", zap.Stringer("host", h.addr), zap.String("hostname", h.hostname))
		}
	}
	if !changed && len(removed) == 0 {
		c.stats.updateNoRebuild.Add(1)
		return false
	}
	if len(removed) > 0 || len(next) != len(ctl.hosts) || changed {
		c.stats.membershipChange.Add(1)
	}
	ctl.mu.Lock()
	ctl.hosts = next
	ctl.mu.Unlock()
	for _, h := range removed {
		if ctl.hc != nil {
			ctl.hc.stop(h)
		}
		if c.od != nil {
			c.od.forget(h)
		}
	}
	ctl.publish(removed)
	if ctl.hc != nil {
		for _, h := range next {
			ctl.hc.ensure(h)
		}
	}
	ctl.checkReady()
	return true
}

// setLogical records where a logical_dns cluster's new connections go.
func (ctl *control) setLogical(a netip.AddrPort) bool {
	if ctl.logical == a {
		return false
	}
	ctl.mu.Lock()
	ctl.logical = a
	ctl.mu.Unlock()
	return true
}

// logicalAddr is the logical_dns address; any goroutine.
func (ctl *control) logicalAddr() netip.AddrPort {
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	return ctl.logical
}

// discovered notes that one discovery source reported for the first time.
func (ctl *control) discovered() {
	if ctl.discovering > 0 {
		ctl.discovering--
	}
	ctl.checkReady()
}

// checkReady marks the cluster ready once discovery reported and no host
// waits for its first health check.
func (ctl *control) checkReady() {
	if ctl.discovering > 0 {
		return
	}
	for _, h := range ctl.hosts {
		if h.flags.Load()&FlagPendingActiveHC != 0 {
			return
		}
	}
	ctl.markReady()
}

// members is a copy of the current membership.
func (ctl *control) members() []*Host {
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	return append([]*Host(nil), ctl.hosts...)
}

// current is the last published host set.
func (ctl *control) current() *hostSet {
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	return ctl.set
}

func (ctl *control) build(now time.Time) *hostSet {
	return buildHostSet(buildInput{hosts: ctl.hosts, s: &ctl.c.settings, now: now, logical: ctl.logical, prev: ctl.set, overprovisioning: ctl.overprovisioning})
}

// publish builds a host set from the current membership and health and
// sends it to every worker, with the hosts that left (their connections
// close once free). Control goroutine only.
func (ctl *control) publish(removed []*Host) {
	now := time.Now()
	set := ctl.build(now)
	ctl.mu.Lock()
	ctl.set = set
	ctl.mu.Unlock()
	for _, h := range removed {
		h.removed.Store(true)
	}
	for _, wp := range ctl.c.pools {
		wp.w.Post(func() { wp.apply(set, removed) })
	}
	ctl.armWarmup(set, now)
}

// armWarmup schedules the next rebuild while some host is in its slow-start
// window: effective weights grow with time, so the set must be refreshed.
func (ctl *control) armWarmup(set *hostSet, now time.Time) {
	s := &ctl.c.settings
	if !set.warming(s, now) || !ctl.started {
		return
	}
	step := max(s.SlowStart.Window/20, 50*time.Millisecond)
	if ctl.warmTimer == nil {
		ctl.warmTimer = time.AfterFunc(step, func() { ctl.do(func() { ctl.publish(nil) }) })
		return
	}
	ctl.warmTimer.Reset(step)
}

// needsLoop reports whether anything will ever change the membership or
// health after construction.
func (ctl *control) needsLoop() bool {
	s := &ctl.c.settings
	return s.Discovery != Static || len(s.HealthChecks) > 0 || s.Outlier != nil || s.SlowStart.Window > 0
}

// start runs the control goroutine and its sources. Main goroutine.
func (ctl *control) start() {
	if ctl.started || !ctl.needsLoop() {
		ctl.markReady()
		return
	}
	ctl.started = true
	ctl.addSources()
	go ctl.loop()
	for _, src := range ctl.sources {
		ctl.wg.Add(1)
		go func() {
			defer ctl.wg.Done()
			src()
		}()
	}
	ctl.do(func() {
		if ctl.hc != nil {
			for _, h := range ctl.hosts {
				ctl.hc.ensure(h)
			}
		}
		ctl.checkReady()
	})
}

// addSources prepares the discovery goroutines of the cluster's type.
func (ctl *control) addSources() {
	switch ctl.c.settings.Discovery {
	case StrictDNS, LogicalDNS:
		ctl.addDNSSources()
	case EDS:
		ctl.addEDSSource()
	}
}

func (ctl *control) markReady() { ctl.readyOnce.Do(func() { close(ctl.ready) }) }

// do runs fn on the control goroutine. It may block while the loop is
// busy, so only non-worker goroutines call it; after close it drops fn.
func (ctl *control) do(fn func()) {
	select {
	case ctl.events <- fn:
	case <-ctl.stop:
	}
}

func (ctl *control) loop() {
	defer close(ctl.done)
	var wake chan struct{}
	var tick <-chan time.Time
	if od := ctl.c.od; od != nil {
		wake = od.wake
		t := time.NewTicker(od.o.Interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case fn := <-ctl.events:
			fn()
		case <-wake:
			ctl.c.od.onWake()
		case now := <-tick:
			ctl.c.od.onInterval(now)
		case <-ctl.stop:
			return
		}
	}
}

// close stops the control goroutine and its sources and waits for them.
func (ctl *control) close() {
	select {
	case <-ctl.stop:
		return
	default:
	}
	close(ctl.stop)
	if ctl.started {
		<-ctl.done
		if ctl.hc != nil {
			ctl.hc.stopAll()
		}
		ctl.wg.Wait()
	}
	if ctl.warmTimer != nil {
		ctl.warmTimer.Stop()
	}
}
