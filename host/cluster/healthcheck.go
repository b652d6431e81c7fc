package cluster

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/healthcheck"
)

// Active health checking: one goroutine per host probes it every interval
// (with jitter) using host/healthcheck, never on a worker. Results go to
// the control goroutine, which applies the thresholds and, when a host's
// health changes, publishes a new host set to the workers.
type healthChecker struct {
	c      *Cluster
	cfg    healthcheck.Config
	probes map[*Host]*hostProbe // control goroutine only
	wg     sync.WaitGroup
}

// hostProbe is one host's checking goroutine and its runs of results.
type hostProbe struct {
	cancel    context.CancelFunc
	successes uint32
	failures  uint32
	last      string // the last failure, for /clusters
}

func newHealthChecker(c *Cluster, cfg healthcheck.Config) *healthChecker {
	cfg.TLS = c.settings.TLS // probes use the cluster's transport, as in Envoy
	return &healthChecker{c: c, cfg: cfg.WithDefaults(), probes: map[*Host]*hostProbe{}}
}

// ensure starts checking h unless it already is. Control goroutine.
func (hc *healthChecker) ensure(h *Host) {
	if _, ok := hc.probes[h]; ok {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	hc.probes[h] = &hostProbe{cancel: cancel}
	hc.wg.Add(1)
	go hc.run(ctx, h)
}

// stop ends h's checks (it left the cluster). Control goroutine.
func (hc *healthChecker) stop(h *Host) {
	if p, ok := hc.probes[h]; ok {
		p.cancel()
		delete(hc.probes, h)
	}
}

// stopAll ends every check and waits for the goroutines; the control loop
// has ended.
func (hc *healthChecker) stopAll() {
	for h := range hc.probes {
		hc.stop(h)
	}
	hc.wg.Wait()
}

// target is where h's checks go: its address (a logical_dns cluster's
// current one), on its health_check_config port if it has one.
func (hc *healthChecker) target(h *Host) netip.AddrPort {
	a := h.addr
	if l := hc.c.ctl.logicalAddr(); l.IsValid() {
		a = l
	}
	if p := h.hcPort.Load(); p != 0 {
		a = netip.AddrPortFrom(a.Addr(), uint16(p))
	}
	return a
}

func (hc *healthChecker) run(ctx context.Context, h *Host) {
	defer hc.wg.Done()
	rnd := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	target := hc.target(h)
	prober := healthcheck.NewProber(hc.cfg, target, hc.c.Name())
	defer func() { prober.Close() }()
	timer := time.NewTimer(0)
	defer timer.Stop()
	if j := hc.cfg.InitialJitter; j > 0 {
		timer.Reset(time.Duration(rnd.Int64N(int64(j))))
	}
	for {
		select {
		case <-timer.C:
		case <-ctx.Done():
			return
		}
		if t := hc.target(h); t != target { // a logical_dns host moved
			prober.Close()
			target = t
			prober = healthcheck.NewProber(hc.cfg, target, hc.c.Name())
		}
		err := prober.Probe(ctx)
		if ctx.Err() != nil {
			return
		}
		hc.c.ctl.do(func() { hc.onResult(h, err) })
		interval := hc.cfg.Interval
		if h.flags.Load()&FlagFailedActiveHC != 0 && hc.cfg.UnhealthyInterval > 0 {
			interval = hc.cfg.UnhealthyInterval
		}
		timer.Reset(hc.cfg.Jittered(interval, rnd.Float64()))
	}
}

// onResult applies one probe's result to h. Control goroutine.
func (hc *healthChecker) onResult(h *Host, err error) {
	p, ok := hc.probes[h]
	if !ok {
		return // removed meanwhile
	}
	c := hc.c
	st := &c.stats
	st.hcAttempt.Add(1)
	flags := h.flags.Load()
	pending := flags&FlagPendingActiveHC != 0
	changed := false
	if err == nil {
		st.hcSuccess.Add(1)
		p.successes++
		p.failures = 0
		if flags&FlagFailedActiveHC != 0 && (pending || p.successes >= hc.cfg.HealthyThreshold) {
			h.flags.And(^(FlagFailedActiveHC | FlagPendingActiveHC))
			if !pending {
				h.healthySince.Store(time.Now().UnixNano()) // slow start
			}
			changed = true
			c.log.Info("health check passed: host healthy", zap.Stringer("host", h.addr), zap.Uint32("passes", p.successes))
		}
		if c.od != nil && c.od.o.SuccessfulActiveHealthCheckUnejectHost && h.od.ejected {
			changed = c.od.uneject(h, "active health check passed") || changed
		}
	} else {
		st.hcFailure.Add(1)
		if healthcheck.IsNetworkFailure(err) {
			st.hcNetworkFailure.Add(1)
		}
		p.failures++
		p.successes = 0
		p.last = err.Error()
		switch {
		case pending:
			h.flags.And(^FlagPendingActiveHC) // stays unhealthy, checked now
			c.log.Info("health check failed: host unhealthy", zap.Stringer("host", h.addr), zap.Error(err))
		case flags&FlagFailedActiveHC == 0 && p.failures >= hc.cfg.UnhealthyThreshold:
			h.flags.Or(FlagFailedActiveHC)
			changed = true
			c.log.Info("health check failed: host unhealthy", zap.Stringer("host", h.addr), zap.Uint32("failures", p.failures), zap.Error(err))
		}
	}
	if changed {
		c.ctl.publish(nil)
	}
	if pending {
		c.ctl.checkReady()
	}
}
