package module

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
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

// Limits on what a module may define (each refusal is an error code).
const (
	maxMetricsPerConfig = 256
	maxMetricLabels     = 8
	maxMetricSeries     = 1024 // label-value combinations per metric
	maxHistogramBuckets = 64
)

// defaultBuckets are the upper bounds of a histogram defined without its
// own (Envoy's default buckets, in whatever unit the module records).
var defaultBuckets = []uint64{1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
	300000, 600000, 1800000, 3600000}

// Host-defined per-filter counters share the entry's namespace in /stats:
// modules may not define metrics of these names.
const (
	metricPanics        = "panics"
	metricInvalidStatus = "invalid_status"
)

// reservedMetricName reports a name the host uses for its own per-entry
// counters.
func reservedMetricName(name string) bool {
	if name == metricPanics || name == metricInvalidStatus {
		return true
	}
	for _, n := range calloutMetricNames {
		if n == name {
			return true
		}
	}
	return false
}

// metric is one metric of one http_filters entry (name), shared by every
// filter config with that entry name: the same entry in two listeners
// counts into one series instead of emitting the same name twice. Updates
// are atomic, so any thread may make them.
type metric struct {
	entry, name string
	kind        MetricKind
	labels      []string
	bounds      []uint64 // histograms: bucket upper bounds, ascending
	family      string   // Prometheus family
	host        bool     // defined by the host (panics, invalid_status)

	single *series // the series of a metric without labels
	mu     sync.RWMutex
	series map[string]*series // by label values joined with \x00
	order  []*series
}

type series struct {
	labels  []string
	value   atomic.Int64 // counter (as uint64 bits) or gauge
	count   atomic.Uint64
	sum     atomic.Uint64
	buckets []atomic.Uint64 // len(bounds)+1: the last one is +Inf
}

func (m *metric) newSeries(labels []string) *series {
	s := &series{labels: labels}
	if m.kind == Histogram {
		s.buckets = make([]atomic.Uint64, len(m.bounds)+1)
	}
	return s
}

func (m *metric) record(s *series, v uint64) {
	s.count.Add(1)
	s.sum.Add(v)
	i := sort.Search(len(m.bounds), func(i int) bool { return v <= m.bounds[i] })
	s.buckets[i].Add(1)
}

// seriesFor returns the series of the given label values (creating it),
// or an error code: the wrong number of values, or too many series.
func (m *metric) seriesFor(values [][]byte) (*series, int32) {
	if len(values) != len(m.labels) {
		return nil, rBadArg
	}
	if m.single != nil {
		return m.single, rOK
	}
	var buf [256]byte
	key := buf[:0]
	for i, v := range values {
		if i > 0 {
			key = append(key, 0)
		}
		key = append(key, v...)
	}
	m.mu.RLock()
	s := m.series[string(key)]
	m.mu.RUnlock()
	if s != nil {
		return s, rOK
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s = m.series[string(key)]; s != nil {
		return s, rOK
	}
	if len(m.series) >= maxMetricSeries {
		return nil, int32(rLimit)
	}
	labels := make([]string, len(values))
	for i, v := range values {
		labels[i] = string(v)
	}
	s = m.newSeries(labels)
	m.series[string(key)] = s
	m.order = append(m.order, s)
	return s, rOK
}

func (m *metric) allSeries() []*series {
	if m.single != nil {
		return []*series{m.single}
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return append([]*series(nil), m.order...)
}

// metricRegistry holds a host's metrics by entry and name, and the
// Prometheus families they render as.
type metricRegistry struct {
	mu       sync.Mutex
	byKey    map[string]*metric
	families map[string]*metric
	sorted   []*metric
}

func newMetricRegistry() *metricRegistry {
	return &metricRegistry{byKey: map[string]*metric{}, families: map[string]*metric{}}
}

// promName maps a metric name to Prometheus's alphabet.
func promName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

func validMetricName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func validLabelName(s string) bool {
	if s == "" || s == "filter" || s == "le" || strings.HasPrefix(s, "__") {
		return false
	}
	for i, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sameBounds(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// metricCollision is a definition the registry refuses: it would make one
// name mean two things (in /stats or /stats/prometheus).
type metricCollision struct{ msg string }

func (e *metricCollision) Error() string { return e.msg }

// define returns the metric of entry/name, creating it, or refuses a
// definition that conflicts with an existing one of the same name (another
// kind, labels or buckets) or whose Prometheus family another name already
// uses.
func (r *metricRegistry) define(entry, name string, kind MetricKind, labels []string, bounds []uint64, host bool) (*metric, error) {
	family := "sluice_module_metric_" + promName(name)
	if host {
		family = "sluice_module_filter_" + name
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	key := entry + "\x00" + name
	if m := r.byKey[key]; m != nil {
		if m.kind != kind || !sameStrings(m.labels, labels) || !sameBounds(m.bounds, bounds) || m.host != host {
			return nil, &metricCollision{fmt.Sprintf("metric %q of filter %q is already defined as a %s with labels [%s]; "+
				"a metric name means one thing", name, entry, m.kind, strings.Join(m.labels, ", "))}
		}
		return m, nil
	}
	if other := r.families[family]; other != nil {
		if other.name != name {
			return nil, &metricCollision{fmt.Sprintf("metric %q of filter %q would be exported as %s, which metric %q of filter %q already is",
				name, entry, family, other.name, other.entry)}
		}
		if other.kind != kind || !sameStrings(other.labels, labels) || !sameBounds(other.bounds, bounds) {
			return nil, &metricCollision{fmt.Sprintf("metric %q of filter %q is a %s with labels [%s], but filter %q defines it as a %s with labels [%s] (or other buckets); "+
				"%s can have one shape", name, entry, kind, strings.Join(labels, ", "), other.entry, other.kind, strings.Join(other.labels, ", "), family)}
		}
	}
	m := &metric{entry: entry, name: name, kind: kind, labels: labels, bounds: bounds, family: family, host: host}
	if len(labels) == 0 {
		m.single = m.newSeries(nil)
	} else {
		m.series = map[string]*series{}
	}
	r.byKey[key] = m
	if r.families[family] == nil {
		r.families[family] = m
	}
	r.sorted = append(r.sorted, m)
	sort.Slice(r.sorted, func(i, j int) bool {
		if r.sorted[i].family != r.sorted[j].family {
			return r.sorted[i].family < r.sorted[j].family
		}
		return r.sorted[i].entry < r.sorted[j].entry
	})
	return m, nil
}

func (r *metricRegistry) all() []*metric {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*metric(nil), r.sorted...)
}

// Bucket is one histogram bucket: how many values were <= UpperBound and
// above the previous bucket's bound (Inf: above the last bound).
type Bucket struct {
	UpperBound uint64
	Inf        bool
	Count      uint64
}

// MetricSnapshot is one series of a module metric at one instant. Name is
// "<entry>.<metric name>".
type MetricSnapshot struct {
	Name   string
	Kind   MetricKind
	Labels [][2]string // label name, value (none for a metric without labels)
	Value  int64       // counter or gauge
	// Histogram only.
	Count, Sum uint64
	Buckets    []Bucket // every bucket, ascending, +Inf last
}

func (m *metric) snapshots() []MetricSnapshot {
	var out []MetricSnapshot
	for _, s := range m.allSeries() {
		snap := MetricSnapshot{Name: m.entry + "." + m.name, Kind: m.kind}
		for i, l := range m.labels {
			snap.Labels = append(snap.Labels, [2]string{l, s.labels[i]})
		}
		switch m.kind {
		case Counter, Gauge:
			snap.Value = s.value.Load()
		case Histogram:
			snap.Count, snap.Sum = s.count.Load(), s.sum.Load()
			for i := range s.buckets {
				b := Bucket{Count: s.buckets[i].Load()}
				if i < len(m.bounds) {
					b.UpperBound = m.bounds[i]
				} else {
					b.Inf = true
				}
				snap.Buckets = append(snap.Buckets, b)
			}
		}
		out = append(out, snap)
	}
	return out
}

// StatLabels renders labels as {k="v",...} for /stats ("" without).
func (s MetricSnapshot) StatLabels() string {
	if len(s.Labels) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range s.Labels {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%s", l[0], strconv.Quote(l[1]))
	}
	b.WriteByte('}')
	return b.String()
}

// String renders the /stats line(s): "module.<entry>.<name>[{labels}]: v"
// (histograms: _count and _sum lines).
func (s MetricSnapshot) String() string {
	l := s.StatLabels()
	switch s.Kind {
	case Counter:
		return fmt.Sprintf("module.%s%s: %d\n", s.Name, l, uint64(s.Value))
	case Gauge:
		return fmt.Sprintf("module.%s%s: %d\n", s.Name, l, s.Value)
	}
	return fmt.Sprintf("module.%s_count%s: %d\nmodule.%s_sum%s: %d\n", s.Name, l, s.Count, s.Name, l, s.Sum)
}

// promEscape escapes a label value for the Prometheus text format.
func promEscape(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

// WritePrometheus writes every module metric in the Prometheus text
// format: one family per metric name (sluice_module_metric_<name>, with a
// filter="<entry>" label and the metric's own labels) and the host's
// per-filter counters (sluice_module_filter_panics and
// sluice_module_filter_invalid_status). Each family is written once.
func (h *Host) WritePrometheus(w io.Writer) {
	var last string
	for _, m := range h.metrics.all() {
		if m.family != last {
			fmt.Fprintf(w, "# TYPE %s %s\n", m.family, m.kind)
			last = m.family
		}
		for _, s := range m.allSeries() {
			var lb strings.Builder
			fmt.Fprintf(&lb, `filter="%s"`, promEscape(m.entry))
			for i, l := range m.labels {
				fmt.Fprintf(&lb, `,%s="%s"`, l, promEscape(s.labels[i]))
			}
			labels := lb.String()
			switch m.kind {
			case Counter:
				fmt.Fprintf(w, "%s{%s} %d\n", m.family, labels, uint64(s.value.Load()))
			case Gauge:
				fmt.Fprintf(w, "%s{%s} %d\n", m.family, labels, s.value.Load())
			case Histogram:
				cum := uint64(0)
				for i := range s.buckets {
					cum += s.buckets[i].Load()
					le := "+Inf"
					if i < len(m.bounds) {
						le = strconv.FormatUint(m.bounds[i], 10)
					}
					fmt.Fprintf(w, "%s_bucket{%s,le=\"%s\"} %d\n", m.family, labels, le, cum)
				}
				fmt.Fprintf(w, "%s_sum{%s} %d\n%s_count{%s} %d\n", m.family, labels, s.sum.Load(), m.family, labels, s.count.Load())
			}
		}
	}
}
