package cluster

import (
	"net/netip"
	"testing"
)

func testHosts(n int) []*Host {
	hs := make([]*Host, n)
	for i := range hs {
		hs[i] = &Host{addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(8000+i)), index: i}
	}
	return hs
}

func TestParseLBPolicy(t *testing.T) {
	for name, want := range map[string]LBPolicy{
		"": RoundRobin, "round_robin": RoundRobin, "random": Random, "least_request": LeastRequest,
		"LEAST_REQUEST": LeastRequest,
	} {
		got, err := ParseLBPolicy(name)
		if err != nil || got != want {
			t.Errorf("ParseLBPolicy(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	_, err := ParseLBPolicy("maglev")
	if err == nil || err.Error() != `unknown lb_policy "maglev" (want round_robin, random or least_request)` {
		t.Fatalf("err = %v", err)
	}
}

func TestRoundRobinCyclesFromWorkerOffset(t *testing.T) {
	hosts := testHosts(3)
	for worker, want := range [][]int{{0, 1, 2, 0, 1, 2}, {1, 2, 0, 1, 2, 0}} {
		p := newPicker(RoundRobin, worker, 42)
		for i, w := range want {
			if got := p.pick(hosts); got != w {
				t.Fatalf("worker %d pick %d = %d, want %d", worker, i, got, w)
			}
		}
	}
}

func TestRandomCoversAllHosts(t *testing.T) {
	hosts := testHosts(4)
	p := newPicker(Random, 0, 7)
	var count [4]int
	const n = 40000
	for range n {
		count[p.pick(hosts)]++
	}
	for i, c := range count {
		// Expected 10000 each; a fair generator is far inside these bounds.
		if c < n/4-1500 || c > n/4+1500 {
			t.Fatalf("host %d picked %d times of %d: %v", i, c, n, count)
		}
	}
}

func TestLeastRequestPrefersLessLoaded(t *testing.T) {
	hosts := testHosts(2)
	hosts[0].active.Store(5)
	hosts[1].active.Store(1)
	p := newPicker(LeastRequest, 0, 99)
	for i := range 100 {
		if got := p.pick(hosts); got != 1 {
			t.Fatalf("pick %d = %d; two distinct choices must take the less loaded host 1", i, got)
		}
	}
	// With three hosts the most loaded one can never win a comparison.
	hosts = testHosts(3)
	hosts[0].active.Store(9)
	hosts[1].active.Store(1)
	hosts[2].active.Store(2)
	var count [3]int
	for range 3000 {
		count[p.pick(hosts)]++
	}
	if count[0] != 0 || count[1] == 0 || count[2] == 0 || count[1] <= count[2] {
		t.Fatalf("picks = %v; want host 0 never, host 1 most", count)
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	hosts := testHosts(5)
	for _, pol := range []LBPolicy{RoundRobin, Random, LeastRequest} {
		p := newPicker(pol, 0, 1)
		if a := testing.AllocsPerRun(100, func() { p.pick(hosts) }); a != 0 {
			t.Errorf("%v: %v allocs per pick", pol, a)
		}
	}
}

func BenchmarkPickLeastRequest(b *testing.B) {
	hosts := testHosts(8)
	p := newPicker(LeastRequest, 0, 1)
	b.ReportAllocs()
	for b.Loop() {
		p.pick(hosts)
	}
}
