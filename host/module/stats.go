package module

import (
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
)

// Stats is a snapshot of the host's module counters for the admin
// endpoint. Counter names (the `stat` tags) are the ones /stats prints.
type Stats struct {
	ModulesLoaded int `stat:"modules_loaded"`
	// ModulesUnloaded counts module versions unloaded after a reload
	// replaced or dropped them (Host.ReleaseUnused).
	ModulesUnloaded uint64 `stat:"modules_unloaded"`
	FilterConfigs   int    `stat:"filter_configs"`
	// FiltersActive counts live filter instances across workers.
	FiltersActive  int    `stat:"filters_active"`
	FiltersCreated uint64 `stat:"filters_created"`
	// NetworkFiltersActive / NetworkFiltersCreated count module network
	// filter instances (one per connection per module network filter).
	NetworkFiltersActive  int64  `stat:"network_filters_active"`
	NetworkFiltersCreated uint64 `stat:"network_filters_created"`
	// FilterNewFailed counts streams failed because on_http_filter_new
	// returned NULL.
	FilterNewFailed uint64 `stat:"filter_new_failed"`
	// Commits is the number of scheduled events delivered to modules.
	Commits uint64 `stat:"scheduler_commits"`
	// CommitsDropped counts events accepted by commit whose filter (or
	// scheduler) was gone at delivery.
	CommitsDropped uint64 `stat:"scheduler_commits_dropped"`
	// CommitsRejectedFull counts commits refused because their scheduler
	// already had 64 events waiting.
	CommitsRejectedFull uint64 `stat:"scheduler_commits_rejected_full"`
	// CommitsRejectedStale counts commits (and deletes) through a deleted,
	// reused or unknown scheduler, or one whose filter was destroyed.
	CommitsRejectedStale uint64 `stat:"scheduler_commits_rejected_stale"`
	// CommitsRejectedClosed counts commits refused because the host was
	// shutting down.
	CommitsRejectedClosed uint64 `stat:"scheduler_commits_rejected_closed"`
	// Wakes counts eventfd writes by committers (commits/wakes = batching).
	Wakes uint64 `stat:"scheduler_wakes"`
	// SchedulersLive counts schedulers not yet reclaimed.
	SchedulersLive int `stat:"schedulers_live"`
	// SchedulersLeaked counts schedulers the module had not deleted when
	// their filter (or config) went away; sluice reclaimed them.
	SchedulersLeaked uint64 `stat:"schedulers_leaked"`
	// SchedulerNewRefused counts scheduler_new calls refused because the
	// worker already had its maximum of live schedulers.
	SchedulerNewRefused uint64 `stat:"scheduler_new_refused"`
	// InvalidStatus counts hooks that returned a status outside the enum.
	InvalidStatus uint64 `stat:"invalid_status"`
	// CalloutsActive counts HTTP callouts in flight (filter and config
	// callouts, every worker).
	CalloutsActive int `stat:"callouts_active"`
	// Metrics are the modules' own counters, gauges and histograms, and the
	// host's per-filter counters (<entry>.panics, <entry>.invalid_status),
	// one snapshot per series.
	Metrics []MetricSnapshot
}

// Stats returns a snapshot. SchedulersLive is read without stopping the
// workers and may be momentarily stale.
func (h *Host) Stats() Stats {
	s := Stats{
		InvalidStatus:   h.invalidStatus.Load(),
		FilterNewFailed: h.filterNewFailed.Load(),
		FiltersCreated:  h.filtersCreated.Load(),

		NetworkFiltersActive:  h.netFiltersActive.Load(),
		NetworkFiltersCreated: h.netFiltersCreated.Load(),
	}
	h.mu.Lock()
	for _, ws := range h.workers {
		d := ws.sched
		s.FiltersActive += ws.table.count()
		s.Commits += d.delivered.Load()
		s.CommitsDropped += d.dropped.Load()
		s.CommitsRejectedFull += d.rejectedFull()
		s.CommitsRejectedStale += d.rejectedStale()
		s.CommitsRejectedClosed += d.rejectedClosed()
		s.Wakes += d.wakes()
		s.SchedulersLive += int(d.live.Load())
		s.CalloutsActive += int(ws.calloutsActive.Load())
		s.SchedulersLeaked += d.leaked.Load()
		s.SchedulerNewRefused += d.refused.Load()
	}
	s.CalloutsActive += int(h.configCalloutsActive.Load())
	s.CommitsRejectedStale += atomic.LoadUint64(&schedBadHandles)
	s.ModulesLoaded = len(h.modules)
	s.ModulesUnloaded = h.unloaded.Load()
	s.FilterConfigs = len(h.factories)
	h.mu.Unlock()
	for _, m := range h.metrics.all() {
		s.Metrics = append(s.Metrics, m.snapshots()...)
	}
	sort.SliceStable(s.Metrics, func(i, j int) bool { return s.Metrics[i].Name < s.Metrics[j].Name })
	return s
}

// String renders the snapshot as "module.<name>: value" lines.
func (s Stats) String() string {
	var b strings.Builder
	line := func(name string, v any) { fmt.Fprintf(&b, "module.%s: %v\n", name, v) }
	line("modules_loaded", s.ModulesLoaded)
	line("modules_unloaded", s.ModulesUnloaded)
	line("filter_configs", s.FilterConfigs)
	line("filters_active", s.FiltersActive)
	line("filters_created", s.FiltersCreated)
	line("network_filters_active", s.NetworkFiltersActive)
	line("network_filters_created", s.NetworkFiltersCreated)
	line("filter_new_failed", s.FilterNewFailed)
	line("scheduler_commits", s.Commits)
	line("scheduler_commits_dropped", s.CommitsDropped)
	line("scheduler_commits_rejected_full", s.CommitsRejectedFull)
	line("scheduler_commits_rejected_stale", s.CommitsRejectedStale)
	line("scheduler_commits_rejected_closed", s.CommitsRejectedClosed)
	line("scheduler_wakes", s.Wakes)
	line("schedulers_live", s.SchedulersLive)
	line("schedulers_leaked", s.SchedulersLeaked)
	line("scheduler_new_refused", s.SchedulerNewRefused)
	line("invalid_status", s.InvalidStatus)
	line("callouts_active", s.CalloutsActive)
	for _, m := range s.Metrics {
		b.WriteString(m.String())
	}
	return b.String()
}
