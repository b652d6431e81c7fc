package cluster

import (
	"fmt"
	"math/bits"
	"net/netip"
	"sync/atomic"
)

// LBPolicy selects how a worker picks an endpoint for a new connection.
type LBPolicy uint8

const (
	// RoundRobin cycles through the endpoints with a per-worker cursor, so
	// workers never contend on a shared counter.
	RoundRobin LBPolicy = iota
	// Random picks uniformly with a per-worker generator.
	Random
	// LeastRequest picks the less loaded of two distinct random endpoints
	// ("power of two choices"), comparing in-flight streams summed over all
	// workers.
	LeastRequest
)

// ParseLBPolicy maps a config lb_policy name to its policy. An empty name
// is round_robin, Envoy's default.
func ParseLBPolicy(name string) (LBPolicy, error) {
	switch name {
	case "", "round_robin", "ROUND_ROBIN":
		return RoundRobin, nil
	case "random", "RANDOM":
		return Random, nil
	case "least_request", "LEAST_REQUEST":
		return LeastRequest, nil
	}
	return 0, fmt.Errorf("unknown lb_policy %q (want round_robin, random or least_request)", name)
}

func (p LBPolicy) String() string {
	switch p {
	case RoundRobin:
		return "round_robin"
	case Random:
		return "random"
	case LeastRequest:
		return "least_request"
	}
	return "unknown"
}

// Host is one static endpoint of a cluster, shared by all workers.
type Host struct {
	addr  netip.AddrPort
	index int
	// active counts streams in flight to this host on all workers; it is
	// what least_request compares, and only kept for that policy (a shared
	// counter written by every worker costs cache-line traffic).
	active atomic.Int64
}

// Addr is the endpoint's address.
func (h *Host) Addr() netip.AddrPort { return h.addr }

// ActiveRequests is the number of streams in flight to this host; it is
// tracked for least_request clusters only (0 otherwise).
func (h *Host) ActiveRequests() int64 { return h.active.Load() }

// picker is one worker's load-balancer state for one cluster. It is only
// touched on that worker's thread, so it needs no synchronisation.
type picker struct {
	policy LBPolicy
	cursor uint32
	rng    uint64
}

func newPicker(policy LBPolicy, workerIndex int, seed uint64) picker {
	p := picker{policy: policy, cursor: uint32(workerIndex)}
	// splitmix64 of the seed: a zero xorshift state would stick at zero.
	z := seed + 0x9e3779b97f4a7c15*uint64(workerIndex+1)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	p.rng = z ^ (z >> 31)
	if p.rng == 0 {
		p.rng = 1
	}
	return p
}

// next is xorshift64*: fast, allocation-free, good enough for spreading load.
func (p *picker) next() uint64 {
	x := p.rng
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	p.rng = x
	return x * 0x2545f4914f6cdd1d
}

// intn returns a value in [0, n) for n > 0 (Lemire's multiply-shift; the
// tiny bias is irrelevant for load balancing).
func (p *picker) intn(n int) int {
	hi, _ := bits.Mul64(p.next(), uint64(n))
	return int(hi)
}

// pick returns the index of the chosen host; hosts must not be empty.
func (p *picker) pick(hosts []*Host) int {
	n := len(hosts)
	if n == 1 {
		return 0
	}
	switch p.policy {
	case Random:
		return p.intn(n)
	case LeastRequest:
		i := p.intn(n)
		j := p.intn(n - 1)
		if j >= i { // two distinct choices
			j++
		}
		if hosts[j].active.Load() < hosts[i].active.Load() {
			return j
		}
		return i
	default:
		i := int(p.cursor % uint32(n))
		p.cursor++
		return i
	}
}
