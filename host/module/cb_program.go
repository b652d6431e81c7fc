package module

import (
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

func defineMetric(cfg uint64, kind MetricKind, name unsafe.Pointer, n uintptr, idOut unsafe.Pointer) int32 {
	f := lookupConfig(cfg)
	if f == nil {
		return int32(abi.ErrInvalidHandle)
	}
	if idOut == nil || n == 0 {
		return int32(abi.ErrInvalidArg)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.defining.Load() {
		return int32(abi.ErrWrongPhase)
	}
	s := cString(name, n)
	ms := *f.metrics.Load()
	for i, m := range ms {
		if m.name == s {
			if m.kind != kind {
				return int32(abi.ErrInvalidArg)
			}
			*(*uint32)(idOut) = uint32(i)
			return int32(abi.OK)
		}
	}
	if len(ms) >= maxMetricsPerConfig {
		return int32(abi.ErrLimit)
	}
	next := append(append(make([]*metric, 0, len(ms)+1), ms...), &metric{name: s, kind: kind})
	f.metrics.Store(&next)
	*(*uint32)(idOut) = uint32(len(ms))
	return int32(abi.OK)
}

func cbDefineCounter(cfg uint64, name unsafe.Pointer, n uintptr, idOut unsafe.Pointer) int32 {
	return defineMetric(cfg, Counter, name, n, idOut)
}

func cbDefineGauge(cfg uint64, name unsafe.Pointer, n uintptr, idOut unsafe.Pointer) int32 {
	return defineMetric(cfg, Gauge, name, n, idOut)
}

func cbDefineHistogram(cfg uint64, name unsafe.Pointer, n uintptr, idOut unsafe.Pointer) int32 {
	return defineMetric(cfg, Histogram, name, n, idOut)
}

func metricOf(cfg uint64, id uint32, kind MetricKind, labels unsafe.Pointer, nLabels uintptr) (*metric, int32) {
	f := lookupConfig(cfg)
	if f == nil {
		return nil, int32(abi.ErrInvalidHandle)
	}
	m := f.metricByID(id)
	if m == nil || m.kind != kind || nLabels != 0 {
		return nil, int32(abi.ErrInvalidArg)
	}
	return m, int32(abi.OK)
}

func cbCounterAdd(cfg uint64, id uint32, labels unsafe.Pointer, n uintptr, delta uint64) int32 {
	m, r := metricOf(cfg, id, Counter, labels, n)
	if m != nil {
		m.value.Add(int64(delta))
	}
	return r
}

func cbGaugeSet(cfg uint64, id uint32, labels unsafe.Pointer, n uintptr, v int64) int32 {
	m, r := metricOf(cfg, id, Gauge, labels, n)
	if m != nil {
		m.value.Store(v)
	}
	return r
}

func cbGaugeAdd(cfg uint64, id uint32, labels unsafe.Pointer, n uintptr, delta int64) int32 {
	m, r := metricOf(cfg, id, Gauge, labels, n)
	if m != nil {
		m.value.Add(delta)
	}
	return r
}

func cbHistogramRecord(cfg uint64, id uint32, labels unsafe.Pointer, n uintptr, v uint64) int32 {
	m, r := metricOf(cfg, id, Histogram, labels, n)
	if m != nil {
		m.record(v)
	}
	return r
}

// cbConfigSchedulerNew creates a config-level scheduler; control thread
// only (inside a config hook).
func cbConfigSchedulerNew(cfg uint64) uint64 {
	f := lookupConfig(cfg)
	if f == nil || f.mod.lib.hooks.configScheduled == 0 || f.destroyed.Load() {
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
