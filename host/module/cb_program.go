package module

import (
	"fmt"
	"time"
	"unsafe"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sluiceproxy/sluice/abi"
)

// Callbacks with process scope: logging, concurrency, config rejection and
// metrics. All are safe from any thread.

func zapLevel(l uint32) (zapcore.Level, bool) {
	switch abi.LogLevel(l) {
	case abi.LogTrace, abi.LogDebug:
		return zapcore.DebugLevel, true
	case abi.LogInfo:
		return zapcore.InfoLevel, true
	case abi.LogWarn:
		return zapcore.WarnLevel, true
	case abi.LogError, abi.LogCritical:
		return zapcore.ErrorLevel, true
	}
	return 0, false
}

func cbLog(level uint32, msg unsafe.Pointer, n uintptr) {
	h := currentHost.Load()
	lv, ok := zapLevel(level)
	if h == nil || !ok {
		return
	}
	if ce := h.log.Check(lv, cString(msg, n)); ce != nil {
		if abi.LogLevel(level) == abi.LogCritical {
			ce.Write(zap.Bool("critical", true))
		} else {
			ce.Write()
		}
	}
}

func cbLogEnabled(level uint32) bool {
	h := currentHost.Load()
	lv, ok := zapLevel(level)
	return h != nil && ok && h.log.Core().Enabled(lv)
}

func cbConcurrency() uint32 {
	if h := currentHost.Load(); h != nil {
		return uint32(h.Concurrency())
	}
	return 0
}

func cbConfigReject(cfg uint64, reason unsafe.Pointer, n uintptr) int32 {
	f := lookupConfig(cfg)
	if f == nil {
		return int32(abi.ErrInvalidHandle)
	}
	f.mu.Lock()
	f.rejectReason = cString(reason, n)
	f.mu.Unlock()
	return int32(abi.OK)
}

// defineMetric defines a metric of config cfg (inside config_new) in the
// host's registry; a refused definition is remembered and fails the
// config's load.
func defineMetric(cfg uint64, kind MetricKind, name string, labels []string, bounds []uint64, idOut unsafe.Pointer) int32 {
	f := lookupConfig(cfg)
	if f == nil {
		return int32(abi.ErrInvalidHandle)
	}
	if idOut == nil || !validMetricName(name) || len(labels) > maxMetricLabels {
		return int32(abi.ErrInvalidArg)
	}
	for _, l := range labels {
		if !validLabelName(l) {
			return int32(abi.ErrInvalidArg)
		}
	}
	if reservedMetricName(name) {
		f.noteMetricErr(fmt.Errorf("metric name %q is reserved for the host's per-filter counter", name))
		return int32(abi.ErrInvalidArg)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.defining.Load() {
		return int32(abi.ErrWrongPhase)
	}
	ms := *f.metrics.Load()
	for i, m := range ms {
		if m.name == name {
			if m.kind != kind || !sameStrings(m.labels, labels) || !sameBounds(m.bounds, bounds) {
				return int32(abi.ErrInvalidArg)
			}
			*(*uint32)(idOut) = uint32(i)
			return int32(abi.OK)
		}
	}
	if len(ms) >= maxMetricsPerConfig {
		return int32(abi.ErrLimit)
	}
	m, err := f.host.metrics.define(f.key, name, kind, labels, bounds, false)
	if err != nil {
		if f.metricErr == nil {
			f.metricErr = err
		}
		return int32(abi.ErrInvalidArg)
	}
	next := append(append(make([]*metric, 0, len(ms)+1), ms...), m)
	f.metrics.Store(&next)
	*(*uint32)(idOut) = uint32(len(ms))
	return int32(abi.OK)
}

func (f *FilterFactory) noteMetricErr(err error) {
	f.mu.Lock()
	if f.metricErr == nil {
		f.metricErr = err
	}
	f.mu.Unlock()
}

func cbDefineCounter(cfg uint64, name unsafe.Pointer, n uintptr, idOut unsafe.Pointer) int32 {
	return defineMetric(cfg, Counter, cString(name, n), nil, nil, idOut)
}

func cbDefineGauge(cfg uint64, name unsafe.Pointer, n uintptr, idOut unsafe.Pointer) int32 {
	return defineMetric(cfg, Gauge, cString(name, n), nil, nil, idOut)
}

func cbDefineHistogram(cfg uint64, name unsafe.Pointer, n uintptr, idOut unsafe.Pointer) int32 {
	return defineMetric(cfg, Histogram, cString(name, n), nil, defaultBuckets, idOut)
}

// cbDefineMetric reads a sluice_metric_def (labels, buckets).
func cbDefineMetric(cfg uint64, def unsafe.Pointer, idOut unsafe.Pointer) int32 {
	if def == nil {
		return int32(abi.ErrInvalidArg)
	}
	d := (*abi.MetricDef)(def)
	if uintptr(d.Size) < unsafe.Sizeof(abi.MetricDef{}) || d.NLabelNames > maxMetricLabels || d.NBuckets > maxHistogramBuckets ||
		(d.NLabelNames > 0 && d.LabelNames == nil) || (d.NBuckets > 0 && d.Buckets == nil) {
		return int32(abi.ErrInvalidArg)
	}
	var kind MetricKind
	switch d.Kind {
	case abi.MetricCounter:
		kind = Counter
	case abi.MetricGauge:
		kind = Gauge
	case abi.MetricHistogram:
		kind = Histogram
	default:
		return int32(abi.ErrInvalidArg)
	}
	var labels []string
	if d.NLabelNames > 0 {
		for _, b := range unsafe.Slice((*abi.Buffer)(d.LabelNames), d.NLabelNames) {
			labels = append(labels, cString(b.Ptr, b.Len))
		}
	}
	var bounds []uint64
	if kind == Histogram {
		bounds = defaultBuckets
		if d.NBuckets > 0 {
			bounds = append([]uint64(nil), unsafe.Slice((*uint64)(d.Buckets), d.NBuckets)...)
			for i := 1; i < len(bounds); i++ {
				if bounds[i] <= bounds[i-1] {
					return int32(abi.ErrInvalidArg)
				}
			}
		}
	} else if d.NBuckets > 0 {
		return int32(abi.ErrInvalidArg)
	}
	return defineMetric(cfg, kind, cString(d.Name.Ptr, d.Name.Len), labels, bounds, idOut)
}

// cbReportPanic counts and logs a fatal error a module caught itself.
func cbReportPanic(cfg uint64, msg unsafe.Pointer, n uintptr) int32 {
	f := lookupConfig(cfg)
	if f == nil {
		return int32(abi.ErrInvalidHandle)
	}
	f.panics.single.value.Add(1)
	h := f.host
	if ok, suppressed := h.panicLog.allow(time.Now()); ok {
		h.log.Error("module reported a panic", zap.String("module", f.mod.Path()), zap.String("filter", f.key),
			zap.String("message", cString(msg, n)), zap.Uint64("suppressed", suppressed))
	}
	return int32(abi.OK)
}

// metricOf resolves metric id of config cfg and the series of the label
// values at labels[0..n).
func metricOf(cfg uint64, id uint32, kind MetricKind, labels unsafe.Pointer, n uintptr) (*metric, *series, int32) {
	f := lookupConfig(cfg)
	if f == nil {
		return nil, nil, int32(abi.ErrInvalidHandle)
	}
	m := f.metricByID(id)
	if m == nil || m.kind != kind || (n > 0 && labels == nil) || n > maxMetricLabels {
		return nil, nil, int32(abi.ErrInvalidArg)
	}
	var values [maxMetricLabels][]byte
	if n > 0 {
		for i, b := range unsafe.Slice((*abi.Buffer)(labels), n) {
			values[i] = cBytes(b.Ptr, b.Len)
		}
	}
	s, r := m.seriesFor(values[:n])
	return m, s, r
}

func cbCounterAdd(cfg uint64, id uint32, labels unsafe.Pointer, n uintptr, delta uint64) int32 {
	_, s, r := metricOf(cfg, id, Counter, labels, n)
	if s != nil {
		s.value.Add(int64(delta))
	}
	return r
}

func cbGaugeSet(cfg uint64, id uint32, labels unsafe.Pointer, n uintptr, v int64) int32 {
	_, s, r := metricOf(cfg, id, Gauge, labels, n)
	if s != nil {
		s.value.Store(v)
	}
	return r
}

func cbGaugeAdd(cfg uint64, id uint32, labels unsafe.Pointer, n uintptr, delta int64) int32 {
	_, s, r := metricOf(cfg, id, Gauge, labels, n)
	if s != nil {
		s.value.Add(delta)
	}
	return r
}

func cbHistogramRecord(cfg uint64, id uint32, labels unsafe.Pointer, n uintptr, v uint64) int32 {
	m, s, r := metricOf(cfg, id, Histogram, labels, n)
	if s != nil {
		m.record(s, v)
	}
	return r
}

// cbConfigSchedulerNew creates a config-level scheduler; control thread
// only (inside a config hook).
func cbConfigSchedulerNew(cfg uint64) uint64 {
	f := lookupConfig(cfg)
	if f == nil || f.configScheduledHook() == 0 || f.destroyed.Load() {
		return 0
	}
	ctl := f.host.ctl
	if ctl.depth.Load() == 0 {
		return 0 // not from the control thread (detected when it runs no hook)
	}
	h, err := ctl.sched.alloc(f)
	if err != nil {
		return 0
	}
	f.scheds = append(f.scheds, h)
	return h
}
