package cluster

import (
	"math"
	"sort"
	"strconv"

	"github.com/cespare/xxhash/v2"
)

// Ring hash (Envoy's ring_hash, Ketama-style consistent hashing): every
// host is placed on a 64-bit ring many times, in proportion to its weight,
// at the xxHash64 of "address_i". A request's hash picks the first entry
// at or after it, clockwise. When a host leaves, only the keys that were on
// its entries move (about 1/N of them); everything else stays put.

// ringEntry is one point of the ring.
type ringEntry struct {
	hash uint64
	host *Host
}

// RingHashOptions are Envoy's ring_hash_lb_config.
type RingHashOptions struct {
	// MinimumRingSize is the least number of ring entries (default 1024);
	// more entries spread keys more evenly between hosts. After hosts
	// leave, the ring may shrink to half of it before it is rescaled.
	MinimumRingSize uint64
	// MaximumRingSize caps the ring (default 8M entries), whatever the
	// weights ask for.
	MaximumRingSize uint64
}

const (
	DefaultMinimumRingSize = 1024
	DefaultMaximumRingSize = 8 << 20
)

// ringUnit chooses how many ring entries one unit of weight gets: a power
// of two that makes the ring at least MinimumRingSize entries, kept from
// the previous build (prev) while the ring stays between half the minimum
// and the maximum. Envoy rescales the ring on every change, so that each
// host's entry count depends on how many hosts there are, and removing one
// host moves keys between the others too; with a stable unit a host keeps
// exactly its entries ("addr_0" ... "addr_k") and only the keys of hosts
// that come or go move.
func ringUnit(totalWeight float64, opts RingHashOptions, prev uint64) uint64 {
	fits := func(u uint64) bool {
		size := float64(u) * totalWeight
		return size >= float64(opts.MinimumRingSize)/2 && size <= float64(opts.MaximumRingSize)
	}
	if prev > 0 && fits(prev) {
		return prev
	}
	u := uint64(1)
	for float64(u)*totalWeight < float64(opts.MinimumRingSize) {
		u <<= 1
	}
	for u > 1 && float64(u)*totalWeight > float64(opts.MaximumRingSize) {
		u >>= 1
	}
	return u
}

// buildRing places each host on the ring unit × weight times (rounded up),
// at the hashes of "address_0", "address_1", ...
func buildRing(hosts []*Host, weights []float64, unit uint64) []ringEntry {
	n := 0.0
	for _, w := range weights {
		n += math.Ceil(float64(unit) * w)
	}
	ring := make([]ringEntry, 0, int(n))
	var key []byte
	for i, h := range hosts {
		key = h.addr.AppendTo(key[:0])
		key = append(key, '_')
		base := len(key)
		count := int(math.Ceil(float64(unit) * weights[i]))
		for j := range count {
			key = strconv.AppendInt(key[:base], int64(j), 10)
			ring = append(ring, ringEntry{hash: xxhash.Sum64(key), host: h})
		}
	}
	sort.Slice(ring, func(i, j int) bool { return ring[i].hash < ring[j].hash })
	return ring
}

// ringIndex finds the entry owning hash: the first at or after it,
// wrapping around to the first entry.
func ringIndex(ring []ringEntry, hash uint64) int {
	lo, hi := 0, len(ring)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if ring[mid].hash < hash {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == len(ring) {
		return 0
	}
	return lo
}
