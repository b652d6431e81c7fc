package server

import (
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/accesslog"
	"github.com/sluiceproxy/sluice/host/cluster"
	"github.com/sluiceproxy/sluice/host/config"
	"github.com/sluiceproxy/sluice/host/module"
	"github.com/sluiceproxy/sluice/host/overload"
	"github.com/sluiceproxy/sluice/host/tlscontext"
	"github.com/sluiceproxy/sluice/host/worker"
)

// Server is a running sluice: workers, listeners, clusters, modules and the
// admin endpoint, built from one config and reloaded in place (reload.go).
type Server struct {
	log     *zap.Logger
	workers []*worker.Worker
	// modules is the module host, shared by every generation: a module
	// version is loaded once and unloaded when no generation uses it.
	modules *module.Host
	// cur is the current generation: what new connections get. Swapped
	// by a reload; read by the admin endpoint from any goroutine.
	cur atomic.Pointer[generation]
	// accessLogs holds one sink per access-log path, shared by listeners
	// and generations.
	accessLogs *accesslog.Registry
	admin      *adminServer
	dog        *watchdog
	// tlsWatch reloads the current generation's TLS contexts when their
	// files change; a reload replaces it.
	tlsWatch atomic.Pointer[tlscontext.Watcher]
	overload *overload.Manager
	// logDropped counts process-log entries lost to a slow stderr.
	logDropped func() uint64
	started    time.Time

	// reloadMu serialises reloads, the release of retired generations
	// and Stop; the fields below it are under it.
	reloadMu sync.Mutex
	nextGen  uint64
	// retiring are the generations replaced by a reload that still have
	// connections; retire releases each after its last.
	retiring []*generation
	// clusterRefs counts the live generations using each cluster: a
	// cluster carried over by reloads is closed with the last of them.
	clusterRefs map[*cluster.Cluster]int
	retirers    sync.WaitGroup // retire and WatchConfig goroutines
	quit        chan struct{}  // closed by Stop: retirers give up, a drain's delay ends
	stopDone    chan struct{}  // closed when Stop has finished
	reloads     reloadStats
	// deferAdmin: Start leaves the admin endpoint to StartAdmin (a hot
	// restart binds it once the old process released it).
	deferAdmin bool
	takenOver  chan struct{}
	configPath string

	mu       sync.Mutex
	draining bool
	stopped  bool
	// drained is closed when the drain that began first has finished;
	// aborted is what it had to close at its deadline.
	drained chan struct{}
	aborted int
}

// currentClusters resolves the modules' HTTP callouts in the current
// generation's clusters: a module host outlives generations. Any thread.
type currentClusters struct{ s *Server }

func (c currentClusters) Get(name string) *cluster.Cluster {
	if g := c.s.gen(); g != nil {
		return g.clusters.Get(name)
	}
	return nil
}

// gen is the current generation.
func (s *Server) gen() *generation { return s.cur.Load() }

// Config is the configuration the server currently serves.
func (s *Server) Config() *config.Config { return s.gen().cfg }

// generations are the current generation and the retiring ones.
func (s *Server) generations() []*generation {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	return append([]*generation{s.gen()}, s.retiring...)
}

// New builds everything the config describes, loading modules and binding
// nothing yet. Errors name what failed.
func New(cfg *config.Config, log *zap.Logger) (*Server, error) { return newServer(cfg, log, false) }

// Check builds everything cfg describes, as New does (modules are loaded
// and their configurations run), and releases it again. It opens and
// creates no access-log file; it checks that each could be opened. It is
// what `sluice validate` runs.
func Check(cfg *config.Config, log *zap.Logger) error {
	s, err := newServer(cfg, log, true)
	if err != nil {
		return err
	}
	s.Stop()
	return nil
}

func newServer(cfg *config.Config, log *zap.Logger, checkOnly bool) (*Server, error) {
	s := &Server{log: log, clusterRefs: map[*cluster.Cluster]int{}, quit: make(chan struct{}), stopDone: make(chan struct{}), takenOver: make(chan struct{})}
	n := cfg.Concurrency
	if procs := runtime.GOMAXPROCS(0); n > procs {
		log.Warn("concurrency is above the CPUs this process may use: workers will compete for them, which costs throughput and tail latency",
			zap.Int("concurrency", n), zap.Int("gomaxprocs", procs))
	}
	batch := cfg.IOUring == config.IOUringAuto && !checkOnly
	for i := 0; i < n; i++ {
		w, err := worker.New(worker.Options{Index: i, Logger: log, IOUring: batch})
		if err != nil {
			s.closeWorkers()
			return nil, fmt.Errorf("worker %d: %w", i, err)
		}
		s.workers = append(s.workers, w)
	}
	if batch {
		if on, err := s.workers[0].UsingIOUring(); on {
			log.Info("workers batch their reads and sends through io_uring")
		} else {
			log.Info("io_uring unavailable: workers read and send with a system call per connection", zap.Error(err))
		}
	}
	s.dog = newWatchdog(cfg.Watchdog, log, s.workers)
	s.overload = overload.New(cfg.Overload, s.workers, log)
	s.overload.SetAccepting = func(i int, accepting bool) {
		// Worker-wide, so that a listener a reload binds while accepting
		// is off starts paused too.
		s.workers[i].PauseAccepting(!accepting)
	}
	s.accessLogs = accesslog.NewRegistry(n)
	if checkOnly {
		s.accessLogs.CheckOnly()
	}
	var err error
	s.modules, err = newModuleHost(log, s.workers, currentClusters{s})
	if err != nil {
		s.closeWorkers()
		return nil, err
	}
	g, err := s.newGeneration(cfg, nil)
	if err != nil {
		s.modules.Close()
		s.closeWorkers()
		s.accessLogs.Close()
		return nil, err
	}
	s.cur.Store(g)
	return s, nil
}

func (s *Server) closeWorkers() {
	for _, w := range s.workers {
		w.Stop()
	}
}

// clusterWarmingTimeout bounds the wait for clusters at start-up.
const clusterWarmingTimeout = 15 * time.Second

// Start runs the workers and binds every listener on every worker
// (SO_REUSEPORT), then the admin endpoint.
func (s *Server) Start() error {
	s.started = time.Now()
	for _, w := range s.workers {
		go w.Run()
	}
	s.dog.start()
	watch, err := tlscontext.Watch(s.log, s.gen().tlsContexts())
	if err != nil {
		s.Stop()
		return fmt.Errorf("watching TLS files: %w", err)
	}
	s.tlsWatch.Store(watch)
	// Clusters learn their endpoints and health before listeners open
	// (Envoy's cluster warming), bounded like Envoy's initial fetch.
	g := s.gen()
	g.clusters.Start()
	if late := g.clusters.WaitReady(clusterWarmingTimeout); len(late) > 0 {
		s.log.Warn("clusters still warming (no DNS answer, endpoint file or first health check yet); serving anyway",
			zap.Strings("clusters", late), zap.Duration("waited", clusterWarmingTimeout))
	}
	for _, l := range g.lis {
		if err := s.bind(l); err != nil {
			s.Stop()
			return err
		}
	}
	s.overload.Start()
	if !s.deferAdmin {
		if err := s.StartAdmin(); err != nil {
			s.Stop()
			return err
		}
	}
	return nil
}

// onWorker runs fn on w's loop and waits for it. It reports false, without
// waiting forever, when the worker's loop has ended (fn then never runs).
func onWorker(w *worker.Worker, fn func()) bool {
	done := make(chan struct{})
	w.Post(func() { fn(); close(done) })
	select {
	case <-done:
		return true
	case <-w.Done():
		return false
	}
}

// Fatal delivers the reason the process must stop (a worker died, or
// stayed stuck past watchdog.kill_timeout); at most one value.
func (s *Server) Fatal() <-chan error { return s.dog.fatal }

// CountLogDrops makes /stats report the process log's dropped entries
// (log.dropped) as counted by fn.
func (s *Server) CountLogDrops(fn func() uint64) { s.logDropped = fn }

// Unhealthy names the workers that make /ready fail ("" when none).
func (s *Server) Unhealthy() string { return s.dog.unhealthy() }

func (s *Server) bind(l *builtListener) error { return l.Bind(s.workers, onWorker, s.log) }

// ListenerAddr is the bound address of the named listener.
func (s *Server) ListenerAddr(name string) (netip.AddrPort, bool) {
	if l := s.gen().listener(name); l != nil {
		return l.Addr(), true
	}
	return netip.AddrPort{}, false
}

// AdminAddr is the admin endpoint's bound address.
func (s *Server) AdminAddr() (netip.AddrPort, bool) {
	if s.admin == nil {
		return netip.AddrPort{}, false
	}
	return s.admin.addr, true
}

// Draining reports whether a drain has begun (admin /ready says so).
func (s *Server) Draining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

// Drain shuts down gracefully. /ready answers 503 DRAINING at once; the
// listeners keep accepting for delay (drain_delay), so that load balancers
// polling /ready, and Kubernetes taking the pod out of its Service, stop
// sending new connections before they would be refused; then the
// listeners of every generation close, in-flight streams get up to
// timeout to finish, and what is left is closed. It returns the number of
// connections it had to abort. A drain runs once: a later call (SIGTERM
// after a preStop hook's drain) waits for the first to finish and returns
// its count. Stop cuts the delay short.
func (s *Server) Drain(delay, timeout time.Duration) int {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return 0
	}
	if s.drained != nil {
		done := s.drained
		s.mu.Unlock()
		<-done
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.aborted
	}
	s.draining = true
	done := make(chan struct{})
	s.drained = done
	s.mu.Unlock()
	aborted := s.drain(delay, timeout)
	s.mu.Lock()
	s.aborted = aborted
	s.mu.Unlock()
	close(done)
	return aborted
}

func (s *Server) drain(delay, timeout time.Duration) int {
	s.log.Info("draining", zap.Duration("delay", delay), zap.Duration("timeout", timeout))
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-s.quit:
			t.Stop()
		}
	}
	s.log.Info("closing listeners; draining connections")
	gens := s.generations()
	for i, w := range s.workers {
		onWorker(w, func() {
			for _, g := range gens {
				for _, l := range g.lis {
					l.StopAccepting(i)
					l.Drain(i)
				}
			}
		})
	}
	deadline := time.Now().Add(timeout)
	for {
		open := 0
		for _, g := range gens {
			open += g.openConnections(s.workers)
		}
		if open == 0 {
			return 0
		}
		if time.Now().After(deadline) {
			s.log.Warn("drain timeout; closing remaining connections", zap.Int("connections", open))
			for _, g := range gens {
				g.closeAll(s.workers)
			}
			return open
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop closes everything: admin, workers (and their sockets), modules.
// A second call waits until the first has finished.
func (s *Server) Stop() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		<-s.stopDone
		return
	}
	s.stopped = true
	s.mu.Unlock()
	defer close(s.stopDone)
	close(s.quit)
	s.retirers.Wait()
	// A reload in progress finishes first; later ones are refused.
	gens := s.generations()
	if !s.started.IsZero() {
		s.dog.stop() // never started otherwise (sluice validate)
		s.overload.Stop()
	}
	if w := s.tlsWatch.Load(); w != nil {
		w.Close()
	}
	if s.admin != nil {
		s.admin.close()
	}
	if s.started.IsZero() {
		// Built but never started (sluice validate): no loop runs, so
		// stop the workers first; Close waits for them otherwise.
		s.closeWorkers()
	}
	s.reloadMu.Lock()
	var all []*cluster.Cluster
	for c := range s.clusterRefs {
		all = append(all, c)
	}
	s.reloadMu.Unlock()
	gens[0].clusters.CloseClusters(all)
	for _, w := range s.workers {
		w.Stop()
	}
	for _, w := range s.workers {
		<-w.Done()
	}
	if err := s.accessLogs.Close(); err != nil {
		s.log.Warn("closing access logs", zap.Error(err))
	}
	for _, g := range gens {
		g.filters.close()
	}
	s.modules.Close()
}

// ReopenAccessLogs reopens every access-log file (after log rotation).
func (s *Server) ReopenAccessLogs() error { return s.accessLogs.Reopen() }
