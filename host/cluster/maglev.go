package cluster

import "github.com/cespare/xxhash/v2"

// Maglev (Google's Maglev paper, weighted as Envoy does): a lookup table
// of a prime size M in which every host claims entries in the order of
// its own permutation of 0..M-1, taking turns in proportion to its weight,
// until the table is full. A request's hash indexes the table directly, so
// a pick costs one modulo. When a host leaves, the entries it held are
// reassigned and only a few others move.

// DefaultMaglevTableSize is Envoy's default table size (a prime).
const DefaultMaglevTableSize = 65537

// MaglevOptions are Envoy's maglev_lb_config.
type MaglevOptions struct {
	// TableSize is the lookup table's size, a prime (default 65537); it
	// should be well above 100 times the number of hosts.
	TableSize uint64
}

// buildMaglev fills a table of size m (prime) with indexes into hosts.
func buildMaglev(hosts []*Host, weights []float64, m uint64) []int32 {
	type entry struct {
		offset, skip, next uint64
		weight, target     float64
	}
	maxW := 0.0
	for _, w := range weights {
		maxW = max(maxW, w)
	}
	entries := make([]entry, len(hosts))
	var key []byte
	for i, h := range hosts {
		key = h.addr.AppendTo(key[:0])
		entries[i] = entry{
			offset: xxhash.Sum64(key) % m,
			skip:   seededHash(key)%(m-1) + 1,
			weight: weights[i] / maxW,
		}
	}
	table := make([]int32, m)
	for i := range table {
		table[i] = -1
	}
	filled := uint64(0)
	for iteration := 1.0; ; iteration++ {
		for i := range entries {
			e := &entries[i]
			// A host of the heaviest weight claims an entry every round;
			// one of a third of that weight every third round.
			if iteration*e.weight < e.target {
				continue
			}
			e.target++
			c := (e.offset + e.skip*e.next) % m
			for table[c] >= 0 {
				e.next++
				c = (e.offset + e.skip*e.next) % m
			}
			table[c] = int32(i)
			e.next++
			if filled++; filled == m {
				return table
			}
		}
	}
}

// seededHash is a second, independent hash of key: xxHash64 with seed 1.
func seededHash(key []byte) uint64 {
	d := xxhash.NewWithSeed(1)
	d.Write(key)
	return d.Sum64()
}
