package module

import (
	"fmt"
	"math/bits"
	"strings"
	"sync/atomic"
)

// MetricKind is the kind of a module-defined metric.
type MetricKind int

const (
	Counter MetricKind = iota
	Gauge
	Histogram
)

func (k MetricKind) String() string {
	return [...]string{"counter", "gauge", "histogram"}[k]
}

// maxMetricsPerConfig bounds what one filter config may define.
const maxMetricsPerConfig = 256

// histogramBuckets: bucket i counts values v with bits.Len64(v) == i, so
// bucket i's upper bound is 2^i - 1.
const histogramBuckets = 65

// metric is one module metric; updates are atomic so any thread may make
// them (module threads included).
type metric struct {
	name    string
	kind    MetricKind
	value   atomic.Int64 // counter (as uint64 bits) or gauge
	count   atomic.Uint64
	sum     atomic.Uint64
	buckets [histogramBuckets]atomic.Uint64
}

func (m *metric) record(v uint64) {
	m.count.Add(1)
	m.sum.Add(v)
	m.buckets[bits.Len64(v)].Add(1)
}

// Bucket is one histogram bucket: how many values were <= UpperBound and
// above the previous bucket's bound.
type Bucket struct {
	UpperBound uint64
	Count      uint64
}

// MetricSnapshot is a metric's value at one instant. Name is
// "<filter_name>.<metric name>".
type MetricSnapshot struct {
	Name  string
	Kind  MetricKind
	Value int64 // counter or gauge
	// Histogram only.
	Count, Sum uint64
	Buckets    []Bucket // non-empty buckets, ascending
}

func (m *metric) snapshot(prefix string) MetricSnapshot {
	s := MetricSnapshot{Name: prefix + "." + m.name, Kind: m.kind}
	switch m.kind {
	case Counter, Gauge:
		s.Value = m.value.Load()
	case Histogram:
		s.Count, s.Sum = m.count.Load(), m.sum.Load()
		for i := range m.buckets {
			if n := m.buckets[i].Load(); n > 0 {
				ub := uint64(1)<<uint(i) - 1
				if i == 64 {
					ub = ^uint64(0)
				}
				s.Buckets = append(s.Buckets, Bucket{UpperBound: ub, Count: n})
			}
		}
	}
	return s
}

// String renders one /stats line (histograms: count and sum lines).
func (s MetricSnapshot) String() string {
	if s.Kind != Histogram {
		if s.Kind == Counter {
			return fmt.Sprintf("module.%s: %d\n", s.Name, uint64(s.Value))
		}
		return fmt.Sprintf("module.%s: %d\n", s.Name, s.Value)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "module.%s.count: %d\nmodule.%s.sum: %d\n", s.Name, s.Count, s.Name, s.Sum)
	return b.String()
}
