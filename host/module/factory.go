package module

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/abi"
	"github.com/sluiceproxy/sluice/host/hcm"
)

// FilterFactory is one configured module filter: the module's config
// object plus the host's view of it. It implements hcm.FilterFactory.
type FilterFactory struct {
	host   *Host
	mod    *Module
	name   string
	key    string // the http_filters entry name: per-route lookups, metric prefix
	handle uint64
	modPtr uintptr // what config_new returned
	// net: a network filter config (sluice_on_network_filter_config_*);
	// else an HTTP filter config.
	net bool

	defining atomic.Bool               // inside config_new: define_* allowed
	metrics  atomic.Pointer[[]*metric] // by id; copy-on-write while defining
	// metricErr is the first metric definition the registry refused: the
	// config then fails to load, naming it.
	metricErr error
	// The host's per-filter counters (module.<entry>.panics, .invalid_status).
	panics, invalidStatus *metric
	// scheds are the config-level schedulers (control thread only).
	scheds []uint64
	// calloutStats are the entry's callout counters (nil when the module
	// exports no callout hook); configCallouts the config's callouts in
	// flight (control thread only).
	calloutStats   *calloutMetrics
	configCallouts []uint64

	mu           sync.Mutex
	rejectReason string
	closed       bool
	live         atomic.Int64 // filters created and not yet destroyed
	closing      atomic.Bool  // Close was called: no new filters
	destroyed    atomic.Bool
	// leakLogged: the first reclaim of schedulers this config's module
	// never deleted was logged; later ones are only counted.
	leakLogged atomic.Bool
}

// noteLeakedSchedulers logs, once per filter config, that n schedulers of
// destroyed filters that the module never deleted were reclaimed (the
// worker had too many such; they count in schedulers_leaked). Any worker.
func (f *FilterFactory) noteLeakedSchedulers(n int) {
	if n == 0 || !f.leakLogged.CompareAndSwap(false, true) {
		return
	}
	f.host.log.Warn("module leaks schedulers: more than 4096 of ended filters not deleted on one worker; sluice reclaims the oldest (logged once per filter, counted in module.schedulers_leaked)",
		zap.String("module", f.mod.Path()), zap.String("filter", f.name), zap.Int("schedulers", n))
}

// PerRouteConfig is a module's per-route config object, as stored on a
// route by the config layer and returned to the module by
// api->per_route_config.
type PerRouteConfig struct {
	factory   *FilterFactory
	modPtr    uintptr
	destroyed bool
}

// withCBytes runs fn with p copied into C memory (the module must only see
// host C memory, never the Go heap).
func withCBytes(p []byte, fn func(ptr uintptr)) {
	if len(p) == 0 {
		fn(0)
		return
	}
	mem, err := cAlloc(len(p))
	if err != nil {
		panic("module: cannot map memory: " + err.Error())
	}
	defer cFree(mem)
	copy(mem, p)
	fn(uintptr(unsafe.Pointer(&mem[0])))
}

// NewFilterFactory creates the module's config object for one configured
// filter; configJSON is handed to the module verbatim. Main goroutine.
func (m *Module) NewFilterFactory(filterName string, configJSON []byte) (*FilterFactory, error) {
	return m.NewNamedFilterFactory(filterName, filterName, configJSON)
}

// NewNamedFilterFactory is NewFilterFactory for a filter entry named key in
// its http_filters list: typed_per_filter_config is looked up by key, and
// the module's metrics are prefixed with it, so two entries of the same
// filter_name stay apart.
func (m *Module) NewNamedFilterFactory(key, filterName string, configJSON []byte) (*FilterFactory, error) {
	if !m.lib.hooks.offersHTTP {
		return nil, &ConfigError{Path: m.Path(), FilterName: filterName,
			Cause: "the module offers no HTTP filters (it exports no " + abi.HTTPFilterPrefix + "* hooks)"}
	}
	return m.newFactory(key, filterName, configJSON, false)
}

// newFactory creates the config object of an HTTP (net false) or network
// filter entry.
func (m *Module) newFactory(key, filterName string, configJSON []byte, net bool) (*FilterFactory, error) {
	f := &FilterFactory{host: m.host, mod: m, name: filterName, key: key, net: net}
	f.metrics.Store(&[]*metric{})
	var err error
	if f.panics, err = m.host.metrics.define(key, metricPanics, Counter, nil, nil, true); err != nil {
		return nil, &ConfigError{Path: m.Path(), FilterName: filterName, Cause: err.Error()}
	}
	if f.invalidStatus, err = m.host.metrics.define(key, metricInvalidStatus, Counter, nil, nil, true); err != nil {
		return nil, &ConfigError{Path: m.Path(), FilterName: filterName, Cause: err.Error()}
	}
	if hk := &m.lib.hooks; !net && (hk.calloutDone != 0 || hk.configCalloutDone != 0) {
		if f.calloutStats, err = defineCalloutMetrics(m.host.metrics, key); err != nil {
			return nil, &ConfigError{Path: m.Path(), FilterName: filterName, Cause: err.Error()}
		}
	}
	ctl := m.host.ctl
	f.handle = ctl.configs.alloc(f)
	if f.handle == 0 {
		return nil, &ConfigError{Path: m.Path(), FilterName: filterName, Cause: "too many filter configs"}
	}
	f.defining.Store(true)
	ctl.run(func() {
		withCBytes([]byte(filterName), func(name uintptr) {
			withCBytes(configJSON, func(cfg uintptr) {
				f.modPtr = ctl.call(f.configNewHook(), uintptr(f.handle), name,
					uintptr(len(filterName)), cfg, uintptr(len(configJSON)))
			})
		})
	})
	f.defining.Store(false)
	if f.modPtr == 0 {
		f.forgetSchedulers()
		ctl.run(f.cancelCallouts)
		ctl.configs.release(f.handle)
		return nil, &ConfigError{Path: m.Path(), FilterName: filterName, Cause: "config rejected by the module: " + f.reason()}
	}
	if f.metricErr != nil {
		// The module may have ignored the refused definition; its config
		// must not load with a metric that would mean two things.
		ctl.run(f.destroyConfig)
		return nil, &ConfigError{Path: m.Path(), FilterName: filterName, Cause: f.metricErr.Error()}
	}
	m.host.mu.Lock()
	m.host.factories[f] = struct{}{}
	m.open[f] = struct{}{}
	m.host.mu.Unlock()
	return f, nil
}

// The config hooks of the factory's filter kind.
func (f *FilterFactory) configNewHook() uintptr {
	if f.net {
		return f.mod.lib.hooks.net.configNew
	}
	return f.mod.lib.hooks.configNew
}

func (f *FilterFactory) configDestroyHook() uintptr {
	if f.net {
		return f.mod.lib.hooks.net.configDestroy
	}
	return f.mod.lib.hooks.configDestroy
}

func (f *FilterFactory) configScheduledHook() uintptr {
	if f.net {
		return f.mod.lib.hooks.net.configScheduled
	}
	return f.mod.lib.hooks.configScheduled
}

func (f *FilterFactory) reason() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rejectReason == "" {
		return "(no reason given)"
	}
	return f.rejectReason
}

// Name is the configured filter name.
func (f *FilterFactory) Name() string { return f.name }

// ParsePerRouteConfig asks the module for a per-route config object.
// Main goroutine.
func (f *FilterFactory) ParsePerRouteConfig(raw []byte) (any, error) {
	hk := &f.mod.lib.hooks
	if hk.perRouteNew == 0 {
		return nil, &ConfigError{Path: f.mod.Path(), FilterName: f.name,
			Cause: "the module has no per-route config (sluice_on_http_filter_per_route_config_new is not exported)"}
	}
	f.mu.Lock()
	f.rejectReason = ""
	f.mu.Unlock()
	var ptr uintptr
	ctl := f.host.ctl
	ctl.run(func() {
		withCBytes(raw, func(cfg uintptr) {
			ptr = ctl.call(hk.perRouteNew, uintptr(f.handle), f.modPtr, cfg, uintptr(len(raw)))
		})
	})
	if ptr == 0 {
		return nil, &ConfigError{Path: f.mod.Path(), FilterName: f.name, Cause: "per-route config rejected by the module: " + f.reason()}
	}
	return &PerRouteConfig{factory: f, modPtr: ptr}, nil
}

// DestroyPerRouteConfig releases a per-route config once no stream can use
// it. Main goroutine only: Envoy once destroyed these on a worker during a
// route update, unloading module state under a running stream.
func (f *FilterFactory) DestroyPerRouteConfig(v any) {
	pr, ok := v.(*PerRouteConfig)
	if !ok || pr == nil || pr.destroyed || pr.factory != f {
		return
	}
	pr.destroyed = true
	ctl := f.host.ctl
	ctl.run(func() { ctl.call(f.mod.lib.hooks.perRouteDestroy, pr.modPtr) })
}

// Close destroys the module's config object (config_destroy on the control
// thread; Close waits for it). Main goroutine, after every stream using the
// factory ended. If filters are still alive (a caller bug) the destroy is
// deferred to the last filter's destroy, which hands it to the control
// thread.
func (f *FilterFactory) Close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	f.mu.Unlock()
	// Dekker-style with newFilter (which counts itself live, then checks
	// closing): either we see its filter in live, or it sees closing.
	f.closing.Store(true)
	f.host.mu.Lock()
	delete(f.host.factories, f)
	f.host.mu.Unlock()
	if n := f.live.Load(); n > 0 {
		f.host.log.Error("filter config closed while streams still use it; destroying it after the last one",
			zap.String("filter", f.name), zap.Int64("live_filters", n))
		return
	}
	f.host.ctl.run(f.destroyConfig)
}

// filterGone is called when one of the factory's filters is destroyed (or
// a new one gave up because the factory is closing), on a worker: the
// destroy is handed to the control thread, never run here.
func (f *FilterFactory) filterGone() {
	if f.live.Add(-1) == 0 && f.closing.Load() {
		f.host.ctl.w.Post(f.destroyConfig)
	}
}

// destroyConfig runs config_destroy once. Control thread.
func (f *FilterFactory) destroyConfig() {
	if f.destroyed.Swap(true) {
		return
	}
	f.forgetSchedulers()
	ctl := f.host.ctl
	ctl.call(f.configDestroyHook(), f.modPtr)
	f.cancelCallouts()
	ctl.configs.release(f.handle)
	f.host.mu.Lock()
	delete(f.mod.open, f)
	f.host.mu.Unlock()
}

// forgetSchedulers ends the config's schedulers: commits through them are
// refused from now on, and queued events are dropped. Control thread.
func (f *FilterFactory) forgetSchedulers() {
	for _, h := range f.scheds {
		f.host.ctl.sched.targetGone(h)
	}
	f.scheds = nil
}

// takesScheduled implements schedTarget for config-level schedulers.
func (f *FilterFactory) takesScheduled() bool {
	return !f.destroyed.Load() && f.modPtr != 0
}

// runScheduled implements schedTarget:
// sluice_on_http_filter_config_scheduled, on the control thread.
func (f *FilterFactory) runScheduled(eventID uint64) {
	f.host.ctl.call(f.configScheduledHook(), f.modPtr, uintptr(f.handle), uintptr(eventID))
}

// NewFilter implements hcm.FilterFactory: it creates the module filter for
// a new stream, on the stream's worker.
func (f *FilterFactory) NewFilter(cb hcm.FilterCallbacks) hcm.StreamFilter {
	return newFilter(f, cb)
}

func (f *FilterFactory) metricByID(id uint32) *metric {
	ms := *f.metrics.Load()
	if int(id) >= len(ms) {
		return nil
	}
	return ms[id]
}
