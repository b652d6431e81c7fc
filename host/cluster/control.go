package cluster

import (
	"net/netip"
	"sync"
	"time"
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
	ctl.hosts = hosts
	ctl.set = ctl.build(time.Now())
	return ctl.set
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
	return buildHostSet(buildInput{hosts: ctl.hosts, s: &ctl.c.settings, now: now, logical: ctl.logical, prev: ctl.set})
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
	go ctl.loop()
	for _, src := range ctl.sources {
		ctl.wg.Add(1)
		go func() {
			defer ctl.wg.Done()
			src()
		}()
	}
	if ctl.c.settings.Discovery == Static && len(ctl.c.settings.HealthChecks) == 0 {
		ctl.markReady()
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
	for {
		select {
		case fn := <-ctl.events:
			fn()
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
		ctl.wg.Wait()
	}
	if ctl.warmTimer != nil {
		ctl.warmTimer.Stop()
	}
}
