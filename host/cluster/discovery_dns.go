package cluster

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/dns"
)

// DNS discovery: one goroutine per configured name resolves it every
// dns_refresh_rate (or when the answer's TTL runs out, with
// respect_dns_ttl), backing off after failures, and hands the addresses to
// the control goroutine. strict_dns: every address of every name is a host
// (with the endpoint's port, weight and priority). logical_dns: the
// cluster has one host, and new connections go to the first address of
// the latest answer.

// dnsTarget is one endpoint to resolve.
type dnsTarget struct {
	ep    Endpoint
	addrs []netip.Addr // latest answer, control goroutine
}

func (ctl *control) addDNSSources() {
	s := &ctl.c.settings
	r := dns.New(s.DNS.Resolvers)
	eps := s.LbEndpoints
	targets := make([]*dnsTarget, len(eps))
	for i, ep := range eps {
		t := &dnsTarget{ep: ep}
		targets[i] = t
		if ep.Addr.IsValid() { // an IP literal: nothing to resolve
			t.addrs = []netip.Addr{ep.Addr.Addr()}
			continue
		}
		ctl.discovering++
		ctl.sources = append(ctl.sources, func() { ctl.resolveLoop(r, t, targets) })
	}
	if ctl.discovering == 0 {
		// Only IP literals: the membership is known now.
		ctl.sources = append(ctl.sources, func() { ctl.do(func() { ctl.applyDNS(targets) }) })
	}
}

func family(f LookupFamily) dns.Family {
	switch f {
	case V4Only:
		return dns.V4Only
	case V6Only:
		return dns.V6Only
	case V4Preferred:
		return dns.V4Preferred
	case All:
		return dns.All
	}
	return dns.Auto
}

// resolveLoop keeps resolving t until the cluster closes.
func (ctl *control) resolveLoop(r *dns.Resolver, t *dnsTarget, all []*dnsTarget) {
	c := ctl.c
	o := &c.settings.DNS
	rnd := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-ctl.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	first := true
	failures := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
		case <-ctl.stop:
			return
		}
		c.stats.updateAttempt.Add(1)
		ans, err := r.Lookup(ctx, t.ep.Hostname, family(o.LookupFamily))
		if ctx.Err() != nil {
			return
		}
		wasFirst := first
		first = false
		var next time.Duration
		if err != nil {
			c.stats.updateFailure.Add(1)
			failures++
			c.log.Warn("DNS resolution failed; keeping the last known hosts", zap.String("hostname", t.ep.Hostname), zap.Error(err))
			next = failureDelay(o, failures, rnd)
			ctl.do(func() {
				if wasFirst {
					ctl.discovered()
				}
			})
		} else {
			failures = 0
			c.stats.updateSuccess.Add(1)
			if len(ans.Addrs) == 0 {
				c.stats.updateEmpty.Add(1)
			}
			next = o.RefreshRate
			if o.RespectTTL && ans.TTL > 0 {
				next = max(ans.TTL, o.MinRefreshRate)
			}
			addrs := ans.Addrs
			ctl.do(func() {
				t.addrs = addrs
				ctl.applyDNS(all)
				if wasFirst {
					ctl.discovered()
				}
			})
		}
		if o.Jitter > 0 {
			next += time.Duration(rnd.Int64N(int64(o.Jitter)))
		}
		timer.Reset(next)
	}
}

// failureDelay is dns_failure_refresh_rate's jittered exponential
// back-off: a random delay up to base × 2^(failures-1), capped at max; or
// the refresh rate when no failure rate is configured.
func failureDelay(o *DNSOptions, failures int, rnd *rand.Rand) time.Duration {
	if o.FailureBase <= 0 {
		return o.RefreshRate
	}
	ceiling := o.FailureBase
	for i := 1; i < failures && ceiling < o.FailureMax; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, o.FailureMax)
	return o.FailureBase/2 + time.Duration(rnd.Int64N(int64(max(ceiling-o.FailureBase/2, 1))))
}

// applyDNS turns the latest answers into the membership. Control
// goroutine.
func (ctl *control) applyDNS(targets []*dnsTarget) {
	if ctl.c.settings.Discovery == LogicalDNS {
		t := targets[0]
		if len(t.addrs) == 0 {
			return // keep connecting where we did
		}
		a := netip.AddrPortFrom(t.addrs[0], t.ep.Port)
		if t.ep.Addr.IsValid() {
			a = t.ep.Addr
		}
		if len(ctl.hosts) == 0 {
			ep := t.ep
			ep.Addr = a
			ctl.setLogical(a)
			ctl.updateMembers([]Endpoint{ep})
			return
		}
		if ctl.setLogical(a) {
			ctl.c.log.Info("logical DNS host moved; new connections go to the new address", zap.String("hostname", t.ep.Hostname), zap.Stringer("address", a))
			ctl.publish(nil)
		}
		return
	}
	var eps []Endpoint
	for _, t := range targets {
		for _, ip := range t.addrs {
			ep := t.ep
			port := t.ep.Port
			if t.ep.Addr.IsValid() {
				port = t.ep.Addr.Port()
			}
			ep.Addr = netip.AddrPortFrom(ip, port)
			eps = append(eps, ep)
		}
	}
	ctl.updateMembers(eps)
}
