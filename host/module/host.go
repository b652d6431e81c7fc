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
	// RingSize is each worker's commit-ring capacity (a power of two;
	// default 65536). A full ring refuses commits (commits_rejected_ring_full).
	RingSize int
}

// Host owns everything module-related for one set of workers: loaded
// modules, filter configs, per-worker handle tables, lending arenas and
// scheduler rings.
type Host struct {
	log     *zap.Logger
	workers []*workerState

	mu        sync.Mutex
	modules   map[fileKey]*Module
	factories map[*FilterFactory]struct{}
	closed    bool

	invalidStatus   atomic.Uint64
	filterNewFailed atomic.Uint64
	filtersCreated  atomic.Uint64
	invalidLog      rateLimitedLog
	droppedLog      rateLimitedLog
}

// workerState is the per-worker half of the host. Only its worker thread
// touches it, except the handle table (lock-free lookups) and atomics.
type workerState struct {
	host  *Host
	index int
	gid   uint64 // process-wide worker id, in filter handles
	w     *worker.Worker
	table *handleTable[filter]
	arena arena
	ring  *ring
	slab  schedSlab
	// hookDepth > 0 while the worker runs a module hook; worker-only
	// callbacks made when it is 0 come from another thread.
	hookDepth atomic.Int32
	args      [3]uintptr // SyscallN argument scratch (worker only)
	// sweepTimer is armed while orphaned schedulers wait for the module's
	// delete (worker only).
	sweepTimer *worker.Timer
	// freeFilters recycles filter objects (worker only).
	freeFilters []*filter

	delivered atomic.Uint64
	dropped   atomic.Uint64
}

// global registries: callbacks receive only a handle, so they find the
// worker (and through it the host) from the handle's worker field.
var (
	workerIDs struct {
		sync.Mutex
		used [maxDomains]bool
	}
	workersByGID [maxDomains]atomic.Pointer[workerState]
	// currentHost serves the callbacks that carry no handle (log,
	// concurrency): the most recently created host.
	currentHost atomic.Pointer[Host]
)

func allocWorkerID() (uint64, error) {
	workerIDs.Lock()
	defer workerIDs.Unlock()
	for i := 1; i < maxDomains; i++ {
		if !workerIDs.used[i] {
			workerIDs.used[i] = true
			return uint64(i), nil
		}
	}
	return 0, errors.New("module: too many workers in this process")
}

func freeWorkerID(id uint64) {
	workerIDs.Lock()
	workerIDs.used[id] = false
	workerIDs.Unlock()
}

// NewHost creates the module host for the proxy's workers, with default
// Options. See NewHostWithOptions.
func NewHost(log *zap.Logger, workers []*worker.Worker) (*Host, error) {
	return NewHostWithOptions(log, workers, Options{})
}

// NewHostWithOptions creates a host: one commit ring and eventfd per
// worker; the eventfd joins the worker's epoll set through Post, so the
// workers may be started before or after this call. Main goroutine.
func NewHostWithOptions(log *zap.Logger, workers []*worker.Worker, opts Options) (*Host, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if opts.RingSize == 0 {
		opts.RingSize = 1 << 16
	}
	initHostAPI()
	h := &Host{
		log:        log.Named("module"),
		modules:    map[fileKey]*Module{},
		factories:  map[*FilterFactory]struct{}{},
		invalidLog: rateLimitedLog{window: rateWindow},
		droppedLog: rateLimitedLog{window: rateWindow},
	}
	for i, w := range workers {
		if w.Index() != i {
			h.Close()
			return nil, fmt.Errorf("module: worker at position %d has index %d; workers must be in index order", i, w.Index())
		}
		ws, err := h.newWorkerState(i, w, opts.RingSize)
		if err != nil {
			h.Close()
			return nil, err
		}
		h.workers = append(h.workers, ws)
	}
	for _, ws := range h.workers {
		ws := ws
		ws.w.Post(func() {
			if err := ws.w.AddFD(ws.ring.efd, unix.EPOLLIN|unix.EPOLLET, ws); err != nil {
				h.log.Error("cannot watch scheduler eventfd", zap.Int("worker", ws.index), zap.Error(err))
			}
		})
	}
	currentHost.Store(h)
	return h, nil
}

func (h *Host) newWorkerState(index int, w *worker.Worker, ringSize int) (*workerState, error) {
	gid, err := allocWorkerID()
	if err != nil {
		return nil, err
	}
	r, err := newRing(ringSize, index)
	if err != nil {
		freeWorkerID(gid)
		return nil, fmt.Errorf("module: worker %d scheduler ring: %w", index, err)
	}
	ws := &workerState{host: h, index: index, gid: gid, w: w, ring: r,
		table: newHandleTable[filter](kindFilter, gid)}
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

// Close stops accepting commits and releases per-worker resources. Call
// it after every filter config was closed, preferably after the workers
// stopped (a running worker releases its part on its own thread). A ring
// whose schedulers the module never deleted stays mapped (a module thread
// may still commit through it), so a late commit never touches unmapped
// memory.
func (h *Host) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	h.mu.Unlock()
	currentHost.CompareAndSwap(h, nil)
	for _, ws := range h.workers {
		ws.ring.close()
		workersByGID[ws.gid].Store(nil)
		freeWorkerID(ws.gid)
		select {
		case <-ws.w.Done():
			ws.release()
		default:
			ws := ws
			ws.w.Post(func() {
				_ = ws.w.DelFD(ws.ring.efd)
				ws.release()
			})
		}
	}
}

// release frees the worker's C memory once nothing can use it.
func (ws *workerState) release() {
	ws.slab.sweepOrphans(len(ws.slab.orphans))
	if ws.slab.live.Load() == 0 {
		ws.host.mu.Lock() // Stats reads the ring's counters under h.mu
		ws.ring.free()
		ws.host.mu.Unlock()
		ws.slab.freeAll()
	} else {
		ws.host.log.Warn("schedulers not deleted by the module at shutdown; keeping their memory",
			zap.Int("worker", ws.index), zap.Int64("schedulers", ws.slab.live.Load()))
	}
	ws.arena.free()
}
