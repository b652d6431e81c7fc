package server

import (
	"fmt"
	"io"
	"sort"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/config"
	"github.com/sluiceproxy/sluice/host/hcm"
	"github.com/sluiceproxy/sluice/host/module"
	"github.com/sluiceproxy/sluice/host/router"
	"github.com/sluiceproxy/sluice/host/worker"
)

// filterBuilder turns http_filters entries into filter factories: module
// filters through the module host (each module version loaded once), and
// owns what it built for one configuration generation, so retiring the
// generation (or shutdown) releases it on the main goroutine in the right
// order. The module host is the server's, shared by generations.
type filterBuilder struct {
	log       *zap.Logger
	host      *module.Host
	factories []*module.FilterFactory
	perRoutes []perRouteConfig
	modules   map[string]*module.Module
}

type perRouteConfig struct {
	ff  *module.FilterFactory
	obj any
}

// newModuleHost makes the module host, shared by every configuration
// generation; clusters resolve the modules' HTTP callouts.
func newModuleHost(log *zap.Logger, workers []*worker.Worker, clusters module.ClusterSource) (*module.Host, error) {
	h, err := module.NewHostWithOptions(log, workers, module.Options{Clusters: clusters})
	if err != nil {
		return nil, fmt.Errorf("module host: %w", err)
	}
	return h, nil
}

func newFilterBuilder(log *zap.Logger, h *module.Host) *filterBuilder {
	return &filterBuilder{log: log, host: h, modules: map[string]*module.Module{}}
}

// build creates the factory for one http_filters entry; path is its YAML
// path, used in errors.
func (b *filterBuilder) build(path string, f *config.HTTPFilter) (hcm.FilterFactory, error) {
	if !f.IsModule() {
		return nil, fmt.Errorf("%s.name: unknown built-in filter %q", path, f.Name)
	}
	m, err := b.host.Load(f.ModulePath, f.AllowInsecurePermissions)
	if err != nil {
		return nil, fmt.Errorf("%s.module: %w", path, err)
	}
	b.modules[m.Hash()] = m
	ff, err := m.NewNamedFilterFactory(f.Name, f.FilterName, f.Config)
	if err != nil {
		return nil, fmt.Errorf("%s.config: %w", path, err)
	}
	b.factories = append(b.factories, ff)
	return ff, nil
}

// buildNetwork creates the factory for a module network filter entry; path
// is its YAML path.
func (b *filterBuilder) buildNetwork(path string, f *config.NetworkFilter) (*module.NetworkFilterFactory, error) {
	m, err := b.host.Load(f.ModulePath, f.AllowInsecurePermissions)
	if err != nil {
		return nil, fmt.Errorf("%s.module: %w", path, err)
	}
	b.modules[m.Hash()] = m
	cfg := []byte(f.ModuleConfig)
	if len(cfg) == 0 {
		cfg = []byte("null") // as for HTTP module filters without config
	}
	ff, err := m.NewNetworkFilterFactory(f.Name, f.FilterName, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s.config: %w", path, err)
	}
	b.factories = append(b.factories, ff.FilterFactory)
	return ff, nil
}

// perRoute turns a typed_per_filter_config entry into the module's
// per-route object (main goroutine).
func (b *filterBuilder) perRoute(ff hcm.FilterFactory, raw []byte) (any, error) {
	mf, ok := ff.(*module.FilterFactory)
	if !ok {
		return raw, nil
	}
	obj, err := mf.ParsePerRouteConfig(raw)
	if err != nil {
		return nil, err
	}
	b.perRoutes = append(b.perRoutes, perRouteConfig{mf, obj})
	return obj, nil
}

func (b *filterBuilder) trackRoutes(*router.Table) {}

// close releases per-route configs, then filter configs — on the main
// goroutine, once no stream can still use them (the generation's last
// connection ended, or the workers stopped). The module host is closed
// by the server.
func (b *filterBuilder) close() {
	for _, p := range b.perRoutes {
		p.ff.DestroyPerRouteConfig(p.obj)
	}
	b.perRoutes = nil
	for _, ff := range b.factories {
		ff.Close()
	}
	b.factories = nil
}

// writePrometheus renders the module metrics as labeled families.
func (b *filterBuilder) writePrometheus(w io.Writer) {
	if b.host != nil {
		b.host.WritePrometheus(w)
	}
}

// modulesInfo describes every loaded module version for /modules: the
// current configuration's are active, the others draining (their filters
// still serve the streams they started; they are unloaded after the last).
func (b *filterBuilder) modulesInfo() []map[string]any {
	out := []map[string]any{}
	if b.host == nil {
		return out
	}
	ins := b.host.Instances()
	sort.Slice(ins, func(i, j int) bool {
		if ins[i].Path != ins[j].Path {
			return ins[i].Path < ins[j].Path
		}
		return ins[i].Hash < ins[j].Hash
	})
	for _, in := range ins {
		state := "draining"
		if b.modules[in.Hash] == in.Module {
			state = "active"
		}
		out = append(out, map[string]any{
			"path":           in.Path,
			"sha256":         in.Hash,
			"abi_version":    fmt.Sprintf("%d.%d", in.ABI>>16, in.ABI&0xffff),
			"state":          state,
			"filter_configs": in.Configs,
			"live_filters":   in.LiveFilters,
		})
	}
	return out
}

// stats are the module host's counters and the modules' own metrics.
func (b *filterBuilder) stats() []statValue {
	if b.host == nil {
		return nil
	}
	st := b.host.Stats()
	out := []statValue{
		{"module.modules_loaded", "gauge", int64(st.ModulesLoaded)},
		{"module.modules_unloaded", "counter", int64(st.ModulesUnloaded)},
		{"module.filter_configs", "gauge", int64(st.FilterConfigs)},
		{"module.filters_active", "gauge", int64(st.FiltersActive)},
		{"module.filters_created", "counter", int64(st.FiltersCreated)},
		{"module.network_filters_active", "gauge", st.NetworkFiltersActive},
		{"module.network_filters_created", "counter", int64(st.NetworkFiltersCreated)},
		{"module.filter_new_failed", "counter", int64(st.FilterNewFailed)},
		{"module.scheduler_commits", "counter", int64(st.Commits)},
		{"module.scheduler_commits_dropped", "counter", int64(st.CommitsDropped)},
		{"module.scheduler_commits_rejected_full", "counter", int64(st.CommitsRejectedFull)},
		{"module.scheduler_commits_rejected_stale", "counter", int64(st.CommitsRejectedStale)},
		{"module.scheduler_commits_rejected_closed", "counter", int64(st.CommitsRejectedClosed)},
		{"module.scheduler_wakes", "counter", int64(st.Wakes)},
		{"module.schedulers_live", "gauge", int64(st.SchedulersLive)},
		{"module.schedulers_leaked", "counter", int64(st.SchedulersLeaked)},
		{"module.scheduler_new_refused", "counter", int64(st.SchedulerNewRefused)},
		{"module.invalid_status", "counter", int64(st.InvalidStatus)},
		{"module.callouts_active", "gauge", int64(st.CalloutsActive)},
	}
	return out
}

// metricLines are the module metrics as /stats lines; /stats/prometheus
// renders them as labeled families instead (writePrometheus).
func (b *filterBuilder) metricLines() []statValue {
	if b.host == nil {
		return nil
	}
	var out []statValue
	for _, m := range b.host.Stats().Metrics {
		name := "module." + m.Name
		labels := m.StatLabels()
		switch m.Kind {
		case module.Counter:
			out = append(out, statValue{name: name + labels, kind: "counter", value: m.Value})
		case module.Gauge:
			out = append(out, statValue{name: name + labels, kind: "gauge", value: m.Value})
		case module.Histogram:
			out = append(out, statValue{name: name + "_count" + labels, kind: "counter", value: int64(m.Count)},
				statValue{name: name + "_sum" + labels, kind: "counter", value: int64(m.Sum)})
		}
	}
	return out
}
