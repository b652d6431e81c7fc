package cluster

import (
	"math"
	"net/netip"
	"sort"
	"time"
)

// hostSet is one published view of a cluster's membership and health: the
// hosts grouped by priority, the share of traffic each priority gets, and
// the load-balancer tables. The control side builds it (main goroutine or
// the cluster's control goroutine) and sends the same immutable value to
// every worker by message; a worker swaps it in between two events, so a
// pick never sees a half-made update and never takes a lock.
type hostSet struct {
	hosts  []*Host // every member, in membership order
	levels []level // by priority; a priority without hosts is empty
	// cumLoad[i] is the cumulative percentage of traffic that priorities
	// 0..i take (Envoy's per-priority load), so the last entry is 100, or
	// 0 when no priority can take traffic (no hosts, or no healthy host
	// and panic routing disabled).
	cumLoad []uint8
	// logical is where new connections of a logical_dns cluster go (the
	// address its name resolved to last); invalid for other types.
	logical netip.AddrPort
	// ringUnit is the ring entries per unit of weight (ring_hash), kept
	// from one build to the next (ringhash.go).
	ringUnit uint64
}

// level is one priority's pick set and its tables.
type level struct {
	all     []*Host // every host of this priority
	healthy int     // how many of them are healthy
	// pick is what the load balancer chooses from: the healthy hosts, or
	// all of them while the priority is in panic.
	pick  []*Host
	panic bool
	// weights are the pick set's effective weights (slow start applied);
	// uniform is set when they are all equal, which enables the cheaper
	// unweighted algorithms.
	weights []float64
	uniform bool
	cum     []float64 // cumulative weights, for weighted random choice
	ring    []ringEntry
	maglev  []int32 // index into pick
}

// buildInput is what a host set is computed from.
type buildInput struct {
	hosts   []*Host
	s       *Settings
	now     time.Time
	logical netip.AddrPort
	prev    *hostSet // the previous build, if any
	// overprovisioning overrides the settings' factor (an endpoint file's
	// policy); 0 keeps it.
	overprovisioning uint32
}

// buildHostSet computes a host set. It reads the hosts' attributes and
// health flags once, so the result is consistent even while they change.
func buildHostSet(in buildInput) *hostSet {
	s := in.s
	hs := &hostSet{hosts: in.hosts, logical: in.logical}
	if s.LBPolicy == RingHash {
		total := 0.0
		for _, h := range in.hosts {
			total += float64(h.weight.Load())
		}
		var prev uint64
		if in.prev != nil {
			prev = in.prev.ringUnit
		}
		hs.ringUnit = ringUnit(max(total, 1), s.RingHash, prev)
	}
	maxPrio := -1
	for _, h := range in.hosts {
		maxPrio = max(maxPrio, int(h.priority.Load()))
	}
	hs.levels = make([]level, maxPrio+1)
	for _, h := range in.hosts {
		lv := &hs.levels[h.priority.Load()]
		lv.all = append(lv.all, h)
		if h.Healthy() {
			lv.healthy++
		}
	}
	over := int(s.OverprovisioningFactor)
	if in.overprovisioning > 0 {
		over = int(in.overprovisioning)
	}
	health := make([]int, len(hs.levels))
	totalHealth := 0
	for i := range hs.levels {
		lv := &hs.levels[i]
		if n := len(lv.all); n > 0 {
			health[i] = min(100, over*lv.healthy/n)
			lv.panic = s.PanicThreshold > 0 && float64(100*lv.healthy)/float64(n) < s.PanicThreshold
		}
		totalHealth += health[i]
	}
	normalized := min(100, totalHealth)
	load := make([]int, len(hs.levels))
	switch {
	case s.PanicThreshold > 0 && float64(normalized) < s.PanicThreshold:
		// Total panic: every priority is in panic and traffic is shared by
		// host count, as Envoy does when too few hosts are healthy overall.
		distribute(load, hs.levels, func(lv *level) int { return len(lv.all) })
		for i := range hs.levels {
			hs.levels[i].panic = len(hs.levels[i].all) > 0
		}
	case normalized > 0:
		left := 100
		first := -1
		for i := range hs.levels {
			load[i] = min(left, health[i]*100/normalized)
			left -= load[i]
			if load[i] > 0 && first < 0 {
				first = i
			}
		}
		if first >= 0 {
			load[first] += left // rounding remainder
		}
	}
	hs.cumLoad = make([]uint8, len(hs.levels))
	cum := 0
	for i := range hs.levels {
		lv := &hs.levels[i]
		if load[i] > 0 {
			if lv.panic {
				lv.pick = lv.all
			} else {
				lv.pick = make([]*Host, 0, lv.healthy)
				for _, h := range lv.all {
					if h.Healthy() {
						lv.pick = append(lv.pick, h)
					}
				}
			}
		}
		if len(lv.pick) == 0 {
			load[i] = 0
		}
		cum += load[i]
		hs.cumLoad[i] = uint8(cum)
		lv.buildTables(s, in.now, hs.ringUnit)
	}
	return hs
}

// distribute shares 100 % over the non-empty levels in proportion to
// size(level), the rounding remainder going to the first of them.
func distribute(load []int, levels []level, size func(*level) int) {
	total := 0
	for i := range levels {
		total += size(&levels[i])
	}
	if total == 0 {
		return
	}
	left, first := 100, -1
	for i := range levels {
		load[i] = 100 * size(&levels[i]) / total
		left -= load[i]
		if size(&levels[i]) > 0 && first < 0 {
			first = i
		}
	}
	load[first] += left
}

// buildTables computes the weights and the hashing tables of a pick set.
func (lv *level) buildTables(s *Settings, now time.Time, ringUnit uint64) {
	n := len(lv.pick)
	if n == 0 {
		return
	}
	if s.LBPolicy == RingHash || s.LBPolicy == Maglev {
		// Hash tables must not depend on the order endpoints came in.
		lv.pick = sortedByAddr(lv.pick)
	}
	lv.weights = make([]float64, n)
	lv.cum = make([]float64, n)
	lv.uniform = true
	total := 0.0
	for i, h := range lv.pick {
		w := float64(h.weight.Load()) * slowStartFactor(s, h, now)
		lv.weights[i] = w
		total += w
		lv.cum[i] = total
		if w != lv.weights[0] {
			lv.uniform = false
		}
	}
	switch s.LBPolicy {
	case RingHash:
		lv.ring = buildRing(lv.pick, lv.weights, ringUnit)
	case Maglev:
		lv.maglev = buildMaglev(lv.pick, lv.weights, s.Maglev.TableSize)
	}
}

// slowStartFactor is the share of its weight a host gets while it warms
// up (Envoy's slow_start_config): (t/window)^(1/aggression), at least
// min_weight_percent, for hosts added or healthy again less than window
// ago. Hosts present when the cluster was built never warm up.
func slowStartFactor(s *Settings, h *Host, now time.Time) float64 {
	ss := &s.SlowStart
	if ss.Window <= 0 {
		return 1
	}
	start := h.created
	if t := h.healthySince.Load(); t != 0 {
		start = time.Unix(0, t)
	}
	if start.IsZero() {
		return 1
	}
	age := now.Sub(start)
	if age >= ss.Window || age < 0 {
		return 1
	}
	f := math.Pow(float64(age)/float64(ss.Window), 1/ss.Aggression)
	return max(f, ss.MinWeightPercent/100)
}

// warming reports whether some host of hs is still in its slow-start
// window at now (the control side then rebuilds the set periodically).
func (hs *hostSet) warming(s *Settings, now time.Time) bool {
	if s.SlowStart.Window <= 0 {
		return false
	}
	for _, h := range hs.hosts {
		if slowStartFactor(s, h, now) < 1 {
			return true
		}
	}
	return false
}

// sortedByAddr returns hosts ordered by address, so tables built from them
// do not depend on the order in which endpoints were discovered.
func sortedByAddr(hosts []*Host) []*Host {
	out := append([]*Host(nil), hosts...)
	sort.Slice(out, func(i, j int) bool { return out[i].addr.Compare(out[j].addr) < 0 })
	return out
}
