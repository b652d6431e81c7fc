package module

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/sluiceproxy/sluice/host/worker"
)

// Options tunes a Host.
type Options struct {
	// DrainBudget bounds how many scheduled events a worker delivers per
	// loop iteration before it serves its sockets again (default 1024).
	DrainBudget int
	// Clusters resolves the cluster names of HTTP callouts; without it
	// every callout ends with SLUICE_CALLOUT_CLUSTER_UNKNOWN.
	Clusters ClusterSource
	// Callout limits: in flight per filter, per worker, per config
	// (defaults DefaultMaxCalloutsPerFilter, ...PerWorker, ...PerConfig;
	// the ABI header documents the defaults).
	MaxCalloutsPerFilter int
	MaxCalloutsPerWorker int
	MaxCalloutsPerConfig int
}

type calloutLimits struct{ perFilter, perWorker, perConfig int }

// Host owns everything module-related for one set of workers: loaded
// modules, filter configs, per-worker handle tables, lending arenas and
// scheduler rings.
type Host struct {
	log         *zap.Logger
	workers     []*workerState
	ctl         *control
	drainBudget int
	clusters    ClusterSource
	limits      calloutLimits

	mu        sync.Mutex
	modules   map[contentHash]*Module
	factories map[*FilterFactory]struct{}
	closed    bool

	invalidStatus   atomic.Uint64
	filterNewFailed atomic.Uint64
	// unloaded counts module versions ReleaseUnused unloaded.
	unloaded       atomic.Uint64
	filtersCreated atomic.Uint64
	// Network filters (ABI 2.1): created, and not yet destroyed.
	netFiltersCreated atomic.Uint64
	netFiltersActive  atomic.Int64
	// configCalloutsActive counts config callouts in flight.
	configCalloutsActive atomic.Int64
	invalidLog           rateLimitedLog
	droppedLog           rateLimitedLog
	panicLog             rateLimitedLog
	// metrics are the modules' metrics and the per-filter counters, by
	// http_filters entry name.
	metrics *metricRegistry
}

// workerState is the per-worker half of the host. Only its worker thread
// touches it, except the handle table (lock-free lookups) and atomics.
type workerState struct {
	host   *Host
	index  int
	gid    uint64 // process-wide domain id, in filter and scheduler handles
	w      *worker.Worker
	table  *handleTable[filter]
	nets   *handleTable[netFilter]
	timers *handleTable[moduleTimer]
	arena  arena
	// Filter callouts (callout.go): the table, how many are in flight,
	// and the ones finished since the last loop iteration, delivered by
	// calloutTimer.
	callouts       *handleTable[callout]
	calloutsActive atomic.Int64
	readyCallouts  []*callout
	spareCallouts  []*callout
	calloutTimer   *worker.Timer
	sched          *schedDomain
	// hookDepth > 0 while the worker runs a module hook; worker-only
	// callbacks made when it is 0 come from another thread.
	hookDepth atomic.Int32
	args      [3]uintptr // SyscallN argument scratch (worker only)
	args4     [4]uintptr
	// freeFilters recycles filter objects (worker only).
	freeFilters []*filter
	released    sync.Once
}

// global registries: callbacks receive only a handle, so they find the
// worker (and through it the host) from the handle's worker field.
var (
	domainIDs struct {
		sync.Mutex
		used [maxDomains]bool
	}
	workersByGID [maxDomains]atomic.Pointer[workerState]
	// currentHost serves the callbacks that carry no handle (log,
	// concurrency): the most recently created host.
	currentHost atomic.Pointer[Host]
)

// allocDomainID reserves a domain id (a worker's, or a control thread's)
// until freeDomainID; ids are recycled, and with them the scheduler
// domain's retained memory (sched.go).
func allocDomainID() (uint64, error) {
	domainIDs.Lock()
	defer domainIDs.Unlock()
	for i := 1; i < maxDomains; i++ {
		if !domainIDs.used[i] {
			domainIDs.used[i] = true
			return uint64(i), nil
		}
	}
	return 0, errors.New("module: too many workers in this process")
}

func freeDomainID(id uint64) {
	domainIDs.Lock()
	domainIDs.used[id] = false
	domainIDs.Unlock()
}

// NewHost creates the module host for the proxy's workers, with default
// Options. See NewHostWithOptions.
func NewHost(log *zap.Logger, workers []*worker.Worker) (*Host, error) {
	return NewHostWithOptions(log, workers, Options{})
}

// NewHostWithOptions creates a host: one scheduler domain (and eventfd)
// per worker; the eventfd joins the worker's epoll set through Post, so
// the workers may be started before or after this call. Main goroutine.
func NewHostWithOptions(log *zap.Logger, workers []*worker.Worker, opts Options) (*Host, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if opts.DrainBudget <= 0 {
		opts.DrainBudget = 1024
	}
	limits := calloutLimits{DefaultMaxCalloutsPerFilter, DefaultMaxCalloutsPerWorker, DefaultMaxCalloutsPerConfig}
	for _, o := range []struct {
		set int
		dst *int
	}{{opts.MaxCalloutsPerFilter, &limits.perFilter},
		{opts.MaxCalloutsPerWorker, &limits.perWorker}, {opts.MaxCalloutsPerConfig, &limits.perConfig}} {
		if o.set > 0 {
			*o.dst = o.set
		}
	}
	initHostAPI()
	h := &Host{
		drainBudget: opts.DrainBudget,
		clusters:    opts.Clusters,
		limits:      limits,
		log:         log.Named("module"),
		modules:     map[contentHash]*Module{},
		factories:   map[*FilterFactory]struct{}{},
		invalidLog:  rateLimitedLog{window: rateWindow},
		droppedLog:  rateLimitedLog{window: rateWindow},
		panicLog:    rateLimitedLog{window: rateWindow},
		metrics:     newMetricRegistry(),
	}
	ctl, err := newControl(h)
	if err != nil {
		return nil, err
	}
	h.ctl = ctl
	for i, w := range workers {
		if w.Index() != i {
			h.Close()
			return nil, fmt.Errorf("module: worker at position %d has index %d; workers must be in index order", i, w.Index())
		}
		ws, err := h.newWorkerState(i, w)
		if err != nil {
			h.Close()
			return nil, err
		}
		h.workers = append(h.workers, ws)
	}
	for _, ws := range h.workers {
		ws := ws
		ws.w.Post(func() {
			if err := ws.w.AddFD(ws.sched.efd(), unix.EPOLLIN|unix.EPOLLET, ws); err != nil {
				h.log.Error("cannot watch scheduler eventfd", zap.Int("worker", ws.index), zap.Error(err))
			}
		})
	}
	currentHost.Store(h)
	return h, nil
}

func (h *Host) newWorkerState(index int, w *worker.Worker) (*workerState, error) {
	gid, err := allocDomainID()
	if err != nil {
		return nil, err
	}
	d, err := openDomain(gid, h.log)
	if err != nil {
		freeDomainID(gid)
		return nil, fmt.Errorf("module: worker %d scheduler: %w", index, err)
	}
	ws := &workerState{host: h, index: index, gid: gid, w: w, sched: d,
		table: newHandleTable[filter](kindFilter, gid), nets: newHandleTable[netFilter](kindNetFilter, gid),
		timers: newHandleTable[moduleTimer](kindTimer, gid), callouts: newHandleTable[callout](kindCallout, gid)}
	workersByGID[gid].Store(ws)
	return ws, nil
}

// Concurrency is the number of workers.
func (h *Host) Concurrency() int { return len(h.workers) }

// worker returns the state of worker i (nil when out of range).
func (h *Host) worker(i int) *workerState {
	if i < 0 || i >= len(h.workers) {
		return nil
	}
	return h.workers[i]
}

// Close ends the host, in this order: commits are refused at once (they
// return false, counted); every module this host was the last user of gets
// sluice_on_program_shutdown on the control thread (so it can stop and
// join its threads); the control thread stops; per-worker state is
// released. Call it after every filter config was closed (their
// config_destroy hooks have run by then), preferably after the workers
// stopped (a running worker releases its part on its own thread once it
// gets to it). Scheduler memory is never unmapped: a module thread that
// commits after Close finds the domain closed; see sched.go.
func (h *Host) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	mods := make([]*Module, 0, len(h.modules))
	for _, m := range h.modules {
		mods = append(mods, m)
	}
	h.mu.Unlock()
	for _, ws := range h.workers {
		atomic.StoreUint32(&ws.sched.hdr.closed, 1)
	}
	atomic.StoreUint32(&h.ctl.sched.hdr.closed, 1)
	for _, m := range mods {
		m.lib.release(h.ctl)
	}
	h.ctl.close(h.log)
	removePrivateCopies()
	currentHost.CompareAndSwap(h, nil)
	for _, ws := range h.workers {
		workersByGID[ws.gid].Store(nil)
		select {
		case <-ws.w.Done():
			ws.release()
		default:
			ws := ws
			ws.w.Post(func() {
				_ = ws.w.DelFD(ws.sched.efd())
				ws.release()
			})
			// A worker that stops before running the post: release after.
			go func() {
				<-ws.w.Done()
				ws.release()
			}()
		}
	}
}

// release forgets the worker's schedulers, frees its arena and returns its
// domain id; once, on the worker or after it stopped.
func (ws *workerState) release() {
	ws.released.Do(func() {
		if n := ws.sched.live.Load(); n > 0 {
			ws.host.log.Debug("schedulers not deleted by the module at shutdown; their handles are stale now",
				zap.Int("worker", ws.index), zap.Int64("schedulers", n))
		}
		ws.sched.shut()
		ws.arena.free()
		freeDomainID(ws.gid)
	})
}
