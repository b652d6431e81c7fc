package cluster

import (
	"fmt"
	"math"
	"net/netip"
	"testing"
	"time"
)

// lbFixture is a cluster's hosts and one worker's picker over them, built
// without workers or sockets.
type lbFixture struct {
	c     *Cluster
	hosts []*Host
	set   *hostSet
	p     picker
}

func newLBFixture(t testing.TB, s Settings, eps ...Endpoint) *lbFixture {
	t.Helper()
	s.Name = "lb"
	s = s.withDefaults()
	f := &lbFixture{c: &Cluster{settings: s, pools: make([]*workerPool, 1)}}
	for _, ep := range eps {
		f.hosts = append(f.hosts, newHost(f.c, ep, time.Time{}))
	}
	f.p = newPicker(s.LBPolicy, 0, 42)
	f.p.choices = s.LeastRequestChoices
	f.rebuild()
	return f
}

// rebuild publishes the hosts' current attributes and health.
func (f *lbFixture) rebuild() {
	f.set = buildHostSet(buildInput{hosts: f.hosts, s: &f.c.settings, now: time.Now(), prev: f.set})
	f.p.reset(f.set, 0)
}

func ep(port uint16) Endpoint {
	return Endpoint{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(port >> 8), byte(port)}), 8000+port), Weight: 1}
}

func eps(n int) []Endpoint {
	out := make([]Endpoint, n)
	for i := range out {
		out[i] = ep(uint16(i))
	}
	return out
}

// counts picks n times and counts picks per host position.
func (f *lbFixture) counts(n int, ctx LoadBalancerContext) []int {
	out := make([]int, len(f.hosts))
	for range n {
		h := f.p.pick(f.set, ctx)
		if h == nil {
			panic("no host")
		}
		for i, x := range f.hosts {
			if x == h {
				out[i]++
			}
		}
	}
	return out
}

func TestParseLBPolicy(t *testing.T) {
	for name, want := range map[string]LBPolicy{
		"": RoundRobin, "round_robin": RoundRobin, "random": Random, "least_request": LeastRequest,
		"LEAST_REQUEST": LeastRequest, "ring_hash": RingHash, "MAGLEV": Maglev,
	} {
		got, err := ParseLBPolicy(name)
		if err != nil || got != want {
			t.Errorf("ParseLBPolicy(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	_, err := ParseLBPolicy("weighted")
	if err == nil || err.Error() != `unknown lb_policy "weighted" (want round_robin, random, least_request, ring_hash or maglev)` {
		t.Fatalf("err = %v", err)
	}
}

func TestRoundRobinCyclesFromWorkerOffset(t *testing.T) {
	f := newLBFixture(t, Settings{}, eps(3)...)
	for worker, want := range [][]int{{0, 1, 2, 0, 1, 2}, {1, 2, 0, 1, 2, 0}} {
		p := newPicker(RoundRobin, worker, 42)
		p.reset(f.set, worker)
		for i, w := range want {
			if got := p.pick(f.set, nil); got != f.hosts[w] {
				t.Fatalf("worker %d pick %d = %v, want host %d", worker, i, got.Addr(), w)
			}
		}
	}
}

func TestRandomCoversAllHosts(t *testing.T) {
	f := newLBFixture(t, Settings{LBPolicy: Random}, eps(4)...)
	const n = 40000
	count := f.counts(n, nil)
	for i, c := range count {
		// Expected 10000 each; a fair generator is far inside these bounds.
		if c < n/4-1500 || c > n/4+1500 {
			t.Fatalf("host %d picked %d times of %d: %v", i, c, n, count)
		}
	}
}

func TestLeastRequestPrefersLessLoaded(t *testing.T) {
	f := newLBFixture(t, Settings{LBPolicy: LeastRequest}, eps(2)...)
	f.hosts[0].active.Store(5)
	f.hosts[1].active.Store(1)
	if c := f.counts(100, nil); c[1] != 100 {
		t.Fatalf("picks = %v; two distinct choices must take the less loaded host 1", c)
	}
	// With three hosts the most loaded one can never win a comparison.
	f = newLBFixture(t, Settings{LBPolicy: LeastRequest}, eps(3)...)
	f.hosts[0].active.Store(9)
	f.hosts[1].active.Store(1)
	f.hosts[2].active.Store(2)
	count := f.counts(3000, nil)
	if count[0] != 0 || count[1] == 0 || count[2] == 0 || count[1] <= count[2] {
		t.Fatalf("picks = %v; want host 0 never, host 1 most", count)
	}
	// choice_count = number of hosts: always the least loaded one... of
	// the random draws, which with 3 draws over 3 hosts misses it rarely.
	f = newLBFixture(t, Settings{LBPolicy: LeastRequest, LeastRequestChoices: 8}, eps(3)...)
	f.hosts[0].active.Store(9)
	f.hosts[1].active.Store(1)
	f.hosts[2].active.Store(2)
	count = f.counts(3000, nil)
	if count[1] < 2800 {
		t.Fatalf("choice_count 8: picks = %v; want nearly all on host 1", count)
	}
}

func TestWeightsShareTraffic(t *testing.T) {
	weighted := []Endpoint{ep(0), ep(1), ep(2)}
	weighted[0].Weight, weighted[1].Weight, weighted[2].Weight = 1, 2, 5
	for _, pol := range []LBPolicy{RoundRobin, Random, LeastRequest, RingHash, Maglev} {
		t.Run(pol.String(), func(t *testing.T) {
			f := newLBFixture(t, Settings{LBPolicy: pol}, weighted...)
			const n = 80000
			count := f.counts(n, nil) // no hash key: hashing policies pick at random
			tolerance := 0.1
			if pol == RingHash {
				tolerance = 0.25 // arcs of a 1024-entry ring vary that much
			}
			for i, w := range []float64{1, 2, 5} {
				want := n * w / 8
				if math.Abs(float64(count[i])-want) > want*tolerance {
					t.Fatalf("host %d (weight %v): %d picks of %d, want ≈%.0f; %v", i, w, count[i], n, want, count)
				}
			}
		})
	}
}

func TestWeightedRoundRobinInterleaves(t *testing.T) {
	e := eps(2)
	e[0].Weight, e[1].Weight = 3, 1
	f := newLBFixture(t, Settings{}, e...)
	// EDF: in every window of 4 picks the weight-3 host gets 3, never a
	// run of 4 for one host.
	run, last := 0, (*Host)(nil)
	for range 400 {
		h := f.p.pick(f.set, nil)
		if h == last {
			run++
		} else {
			run, last = 1, h
		}
		if run > 3 {
			t.Fatalf("a run of %d picks of %v: weighted round robin must interleave", run, h.Addr())
		}
	}
}

func TestPriorityFailoverWithOverprovisioning(t *testing.T) {
	e := eps(20)
	for i := 10; i < 20; i++ {
		e[i].Priority = 1
	}
	f := newLBFixture(t, Settings{}, e...)
	share := func() (p0, p1 int) {
		c := f.counts(10000, nil)
		for i, n := range c {
			if i < 10 {
				p0 += n
			} else {
				p1 += n
			}
		}
		return
	}
	if p0, p1 := share(); p0 != 10000 || p1 != 0 {
		t.Fatalf("all healthy: P0 %d, P1 %d; want everything on P0", p0, p1)
	}
	// 8 of 10 healthy: 1.4 × 80 % ≥ 100 %, P0 still takes everything.
	f.hosts[0].flags.Store(FlagFailedActiveHC)
	f.hosts[1].flags.Store(FlagFailedActiveHC)
	f.rebuild()
	if got := f.set.cumLoad; got[0] != 100 {
		t.Fatalf("8/10 healthy: loads %v, want P0 100", got)
	}
	// 6 of 10 healthy: P0's health is 1.4 × 60 = 84 %, P1 gets the rest.
	for i := 2; i < 4; i++ {
		f.hosts[i].flags.Store(FlagFailedOutlierCheck)
	}
	f.rebuild()
	if got := f.set.cumLoad; got[0] != 84 || got[1] != 100 {
		t.Fatalf("6/10 healthy: cumulative loads %v, want [84 100]", got)
	}
	p0, p1 := share()
	if math.Abs(float64(p0)-8400) > 300 {
		t.Fatalf("6/10 healthy: P0 %d, P1 %d; want ≈8400/1600", p0, p1)
	}
	c := f.counts(2000, nil)
	for i := range 4 {
		if c[i] != 0 {
			t.Fatalf("unhealthy host %d picked %d times (P0 is not in panic at 60%% healthy)", i, c[i])
		}
	}
}

func TestPanicRouting(t *testing.T) {
	f := newLBFixture(t, Settings{}, eps(4)...)
	for _, h := range f.hosts[:3] {
		h.flags.Store(FlagFailedActiveHC)
	}
	f.rebuild()
	// 25 % healthy < 50 %: panic, every host takes traffic.
	c := f.counts(4000, nil)
	for i, n := range c {
		if n < 800 {
			t.Fatalf("panic: host %d picked %d times; want all hosts used: %v", i, n, c)
		}
	}
	f.hosts[3].flags.Store(FlagFailedActiveHC)
	f.rebuild()
	if h := f.p.pick(f.set, nil); h == nil {
		t.Fatal("all unhealthy: panic routing must still pick a host")
	}
	// healthy_panic_threshold 0 disables panic: no host at all.
	f = newLBFixture(t, Settings{PanicThreshold: -1}, eps(4)...)
	for _, h := range f.hosts {
		h.flags.Store(FlagFailedActiveHC)
	}
	f.rebuild()
	if h := f.p.pick(f.set, nil); h != nil {
		t.Fatalf("panic disabled, all unhealthy: picked %v, want none", h.Addr())
	}
	f.hosts[2].flags.Store(0)
	f.rebuild()
	if c := f.counts(100, nil); c[2] != 100 {
		t.Fatalf("panic disabled, one healthy: %v, want only host 2", c)
	}
}

func TestTotalPanicSharesByHostCount(t *testing.T) {
	e := eps(4)
	e[3].Priority = 1
	f := newLBFixture(t, Settings{}, e...)
	for _, h := range f.hosts {
		h.flags.Store(FlagFailedActiveHC)
	}
	f.rebuild()
	if got := f.set.cumLoad; got[0] != 75 || got[1] != 100 {
		t.Fatalf("total panic: loads %v, want by host count [75 100]", got)
	}
}

// hashCtx is a LoadBalancerContext with a fixed key and an optional host
// to avoid.
type hashCtx struct {
	key   uint64
	has   bool
	avoid *Host
	tries int
}

func (c *hashCtx) HashKey() (uint64, bool)              { return c.key, c.has }
func (c *hashCtx) ShouldSelectAnotherHost(h *Host) bool { return h == c.avoid }
func (c *hashCtx) HostSelectionRetryCount() int         { return c.tries }

// TestConsistentHashing checks, for ring_hash and maglev, that a key
// always lands on the same host and that removing one of N hosts moves
// about 1/N of the keys — only those that were on it.
func TestConsistentHashing(t *testing.T) {
	for _, pol := range []LBPolicy{RingHash, Maglev} {
		t.Run(pol.String(), func(t *testing.T) {
			const n, keys = 10, 20000
			f := newLBFixture(t, Settings{LBPolicy: pol}, eps(n)...)
			ctx := &hashCtx{has: true}
			before := make([]*Host, keys)
			for k := range before {
				ctx.key = mix64(uint64(k) + 1)
				before[k] = f.p.pick(f.set, ctx)
				for range 3 {
					if f.p.pick(f.set, ctx) != before[k] {
						t.Fatalf("key %d moved between picks", k)
					}
				}
			}
			gone := f.hosts[3]
			f.hosts = append(f.hosts[:3:3], f.hosts[4:]...)
			f.rebuild()
			moved, wrong := 0, 0
			for k := range before {
				ctx.key = mix64(uint64(k) + 1)
				after := f.p.pick(f.set, ctx)
				if after != before[k] {
					moved++
					if before[k] != gone {
						wrong++
					}
				}
			}
			frac := float64(moved) / keys
			t.Logf("%v: removing 1 of %d hosts moved %.2f%% of %d keys (ideal %.2f%%); %d keys of other hosts moved",
				pol, n, 100*frac, keys, 100.0/n, wrong)
			if frac < 0.07 || frac > 0.13 {
				t.Fatalf("moved %.3f of the keys, want ≈ 1/%d", frac, n)
			}
			if float64(wrong) > 0.02*keys {
				t.Fatalf("%d keys of surviving hosts moved", wrong)
			}
		})
	}
}

func TestPreviousHostsPredicate(t *testing.T) {
	for _, pol := range []LBPolicy{RoundRobin, Random, LeastRequest, RingHash, Maglev} {
		f := newLBFixture(t, Settings{LBPolicy: pol}, eps(3)...)
		ctx := &hashCtx{key: 12345, has: true, tries: 5}
		ctx.avoid = f.p.pick(f.set, &hashCtx{key: 12345, has: true})
		for range 50 {
			if h := f.p.pick(f.set, ctx); h == ctx.avoid {
				t.Fatalf("%v: picked the host to avoid with 5 selection retries", pol)
			}
		}
	}
}

func TestSlowStartRampsWeight(t *testing.T) {
	s := Settings{SlowStart: SlowStartOptions{Window: 10 * time.Second}}
	f := newLBFixture(t, s, eps(2)...)
	// Host 1 was added a second ago: 10 % of the window, so its weight
	// factor is max(0.1, 0.1) and it gets ≈ 1/11 of the picks.
	f.hosts[1].created = time.Now().Add(-time.Second)
	f.rebuild()
	if !f.set.warming(&f.c.settings, time.Now()) {
		t.Fatal("a host in its window must keep the set warming")
	}
	c := f.counts(11000, nil)
	if c[1] < 700 || c[1] > 1300 {
		t.Fatalf("slow start: new host got %d of 11000 picks, want ≈1000", c[1])
	}
	f.hosts[1].created = time.Now().Add(-11 * time.Second)
	f.rebuild()
	if c := f.counts(1000, nil); c[1] != 500 {
		t.Fatalf("after the window: %v, want an even split", c)
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	for _, pol := range []LBPolicy{RoundRobin, Random, LeastRequest, RingHash, Maglev} {
		for _, weighted := range []bool{false, true} {
			e := eps(5)
			if weighted {
				e[0].Weight = 3
			}
			f := newLBFixture(t, Settings{LBPolicy: pol}, e...)
			ctx := &hashCtx{key: 77, has: true}
			if a := testing.AllocsPerRun(100, func() { f.p.pick(f.set, ctx) }); a != 0 {
				t.Errorf("%v (weighted %v): %v allocs per pick", pol, weighted, a)
			}
		}
	}
}

// BenchmarkPick measures one pick per policy over 16 hosts, uniform and
// weighted (figures in bench/RESULTS.md).
func BenchmarkPick(b *testing.B) {
	for _, pol := range []LBPolicy{RoundRobin, Random, LeastRequest, RingHash, Maglev} {
		for _, weighted := range []bool{false, true} {
			name := fmt.Sprintf("%v/uniform", pol)
			e := eps(16)
			if weighted {
				name = fmt.Sprintf("%v/weighted", pol)
				for i := range e {
					e[i].Weight = uint32(1 + i%4)
				}
			}
			b.Run(name, func(b *testing.B) {
				f := newLBFixture(b, Settings{LBPolicy: pol}, e...)
				ctx := &hashCtx{has: true}
				b.ReportAllocs()
				for b.Loop() {
					ctx.key++
					f.p.pick(f.set, ctx)
				}
			})
		}
	}
}
