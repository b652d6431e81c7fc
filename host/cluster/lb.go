package cluster

import (
	"fmt"
	"math/bits"
)

// LBPolicy selects how a worker picks an endpoint for a new connection.
type LBPolicy uint8

const (
	// RoundRobin cycles through the endpoints with a per-worker cursor, so
	// workers never contend on a shared counter; with unequal weights it
	// is a per-worker earliest-deadline-first schedule (Envoy's weighted
	// round robin).
	RoundRobin LBPolicy = iota
	// Random picks uniformly (or by weight) with a per-worker generator.
	Random
	// LeastRequest picks the least loaded of choice_count (default two)
	// distinct random endpoints, comparing in-flight streams summed over
	// all workers; with unequal weights, an earliest-deadline-first
	// schedule whose weights shrink with the load (weight / (active+1)).
	LeastRequest
	// RingHash is consistent hashing on a ring (ringhash.go).
	RingHash
	// Maglev is consistent hashing through a Maglev table (maglev.go).
	Maglev
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
	case "ring_hash", "RING_HASH":
		return RingHash, nil
	case "maglev", "MAGLEV":
		return Maglev, nil
	}
	return 0, fmt.Errorf("unknown lb_policy %q (want round_robin, random, least_request, ring_hash or maglev)", name)
}

func (p LBPolicy) String() string {
	switch p {
	case RoundRobin:
		return "round_robin"
	case Random:
		return "random"
	case LeastRequest:
		return "least_request"
	case RingHash:
		return "ring_hash"
	case Maglev:
		return "maglev"
	}
	return "unknown"
}

// LoadBalancerContext is optionally implemented by a ResponseHandler (or
// TunnelHandler) that steers the pick, as Envoy's LoadBalancerContext
// does. Its methods must not allocate: they run on every pick.
type LoadBalancerContext interface {
	// HashKey is the request's hash for ring_hash and maglev (the route's
	// hash_policy); ok is false when there is none, and then those
	// policies pick at random. Other policies ignore it.
	HashKey() (hash uint64, ok bool)
	// ShouldSelectAnotherHost is asked about each picked host; true makes
	// the picker try again, up to HostSelectionRetryCount more times
	// (Envoy's previous_hosts retry predicate).
	ShouldSelectAnotherHost(h *Host) bool
	HostSelectionRetryCount() int
}

// picker is one worker's load-balancer state for one cluster. It is only
// touched on that worker's thread, so it needs no synchronisation, and a
// pick never allocates.
type picker struct {
	policy  LBPolicy
	choices int // least_request: hosts compared per pick
	rng     uint64
	levels  []levelState
}

// levelState is the per-worker, per-priority state: the round-robin
// cursor, or the earliest-deadline-first schedule for unequal weights.
type levelState struct {
	cursor uint32
	edf    edfQueue
}

func newPicker(policy LBPolicy, workerIndex int, seed uint64) picker {
	p := picker{policy: policy, choices: 2}
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

// float returns a value in [0, 1).
func (p *picker) float() float64 { return float64(p.next()>>11) / (1 << 53) }

// reset adapts the per-level state to a new host set. It runs when the
// worker receives the set, never during a pick; round-robin cursors carry
// over so an update does not send a burst to the first host.
func (p *picker) reset(hs *hostSet, workerIndex int) {
	if cap(p.levels) < len(hs.levels) {
		levels := make([]levelState, len(hs.levels))
		copy(levels, p.levels)
		p.levels = levels
	}
	p.levels = p.levels[:len(hs.levels)]
	for i := range hs.levels {
		lv := &hs.levels[i]
		ls := &p.levels[i]
		if ls.cursor == 0 {
			ls.cursor = uint32(workerIndex)
		}
		ls.edf.reset()
		if !lv.uniform && (p.policy == RoundRobin || p.policy == LeastRequest) {
			ls.edf.init(lv.weights)
			// Start each worker at a different point of the schedule.
			for range workerIndex % max(len(lv.pick), 1) {
				ls.edf.pop(lv.weights)
			}
		}
	}
}

// pick chooses a host, or nil when the cluster has none to offer.
func (p *picker) pick(hs *hostSet, ctx LoadBalancerContext) *Host {
	if len(hs.cumLoad) == 0 || hs.cumLoad[len(hs.cumLoad)-1] == 0 {
		return nil
	}
	var hash uint64
	hasHash, tries := false, 0
	if ctx != nil {
		hash, hasHash = ctx.HashKey()
		tries = ctx.HostSelectionRetryCount()
	}
	if !hasHash || (p.policy != RingHash && p.policy != Maglev) {
		hash, hasHash = p.next(), false
	}
	li := chooseLevel(hs.cumLoad, hash%100)
	for attempt := 0; ; attempt++ {
		h := p.pickIn(li, &hs.levels[li], hash, attempt)
		if ctx == nil || attempt >= tries || !ctx.ShouldSelectAnotherHost(h) {
			return h
		}
		if !hasHash {
			hash = p.next()
		}
	}
}

// chooseLevel finds the priority whose share of [0, 100) holds x.
func chooseLevel(cumLoad []uint8, x uint64) int {
	for i, c := range cumLoad {
		if x < uint64(c) {
			return i
		}
	}
	return len(cumLoad) - 1
}

// pickIn picks within one priority's pick set. attempt > 0 is a retry
// after ShouldSelectAnotherHost refused a pick: the hashing policies then
// look further along the ring or rehash for the table.
func (p *picker) pickIn(li int, lv *level, hash uint64, attempt int) *Host {
	hosts := lv.pick
	n := len(hosts)
	if n == 1 {
		return hosts[0]
	}
	ls := &p.levels[li]
	switch p.policy {
	case Random:
		if lv.uniform {
			return hosts[p.intn(n)]
		}
		return hosts[weightedIndex(lv.cum, p.float()*lv.cum[n-1])]
	case LeastRequest:
		if !lv.uniform {
			return hosts[ls.edf.popLeast(lv.weights, hosts)]
		}
		return hosts[p.leastOf(hosts)]
	case RingHash:
		return lv.ring[(ringIndex(lv.ring, hash)+attempt)%len(lv.ring)].host
	case Maglev:
		if attempt > 0 {
			hash = mix64(hash + uint64(attempt))
		}
		return hosts[lv.maglev[hash%uint64(len(lv.maglev))]]
	default:
		if !lv.uniform {
			return hosts[ls.edf.pop(lv.weights)]
		}
		i := int(ls.cursor % uint32(n))
		ls.cursor++
		return hosts[i]
	}
}

// leastOf compares p.choices distinct random hosts (fewer when the set is
// smaller) and returns the index of the one with fewest streams in flight.
func (p *picker) leastOf(hosts []*Host) int {
	n := len(hosts)
	best := p.intn(n)
	if p.choices <= 2 {
		j := p.intn(n - 1)
		if j >= best { // two distinct choices
			j++
		}
		if hosts[j].active.Load() < hosts[best].active.Load() {
			return j
		}
		return best
	}
	for range p.choices - 1 { // with replacement, as Envoy draws
		j := p.intn(n)
		if hosts[j].active.Load() < hosts[best].active.Load() {
			best = j
		}
	}
	return best
}

// weightedIndex finds the first cumulative weight above x.
func weightedIndex(cum []float64, x float64) int {
	lo, hi := 0, len(cum)-1
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if cum[mid] <= x {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// mix64 is splitmix64's finalizer, to rehash a key for another attempt.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
