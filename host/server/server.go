package server

import (
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/accesslog"
	"github.com/sluiceproxy/sluice/host/cluster"
	"github.com/sluiceproxy/sluice/host/config"
	"github.com/sluiceproxy/sluice/host/overload"
	"github.com/sluiceproxy/sluice/host/tlscontext"
	"github.com/sluiceproxy/sluice/host/worker"
)

// Server is a running sluice: workers, listeners, clusters, modules and the
// admin endpoint, built from one config.
type Server struct {
	cfg      *config.Config
	log      *zap.Logger
	workers  []*worker.Worker
	clusters *cluster.Manager
	filters  *filterBuilder
	lis      []*builtListener
	// accessLogs holds one sink per access-log path, shared by listeners.
	accessLogs *accesslog.Registry
	admin      *adminServer
	dog        *watchdog
	// tlsContexts are the filter chains' and clusters' TLS contexts;
	// tlsWatch reloads them when their files change.
	tlsContexts []*tlscontext.Context
	tlsWatch    *tlscontext.Watcher
	overload    *overload.Manager
	// logDropped counts process-log entries lost to a slow stderr.
	logDropped func() uint64
	started    time.Time

	// quit is closed when Stop begins (it cuts a drain's delay short),
	// stopDone when it has finished.
	quit, stopDone chan struct{}

	mu       sync.Mutex
	draining bool
	stopped  bool
	// drained is closed when the drain that began first has finished;
	// aborted is what it had to close at its deadline.
	drained chan struct{}
	aborted int
}

// New builds everything the config describes, loading modules and binding
// nothing yet. Errors name what failed.
func New(cfg *config.Config, log *zap.Logger) (*Server, error) {
	s := &Server{cfg: cfg, log: log, quit: make(chan struct{}), stopDone: make(chan struct{})}
	n := cfg.Concurrency
	if procs := runtime.GOMAXPROCS(0); n > procs {
		log.Warn("concurrency is above the CPUs this process may use: workers will compete for them, which costs throughput and tail latency",
			zap.Int("concurrency", n), zap.Int("gomaxprocs", procs))
	}
	for i := 0; i < n; i++ {
		w, err := worker.New(worker.Options{Index: i, Logger: log})
		if err != nil {
			s.closeWorkers()
			return nil, fmt.Errorf("worker %d: %w", i, err)
		}
		s.workers = append(s.workers, w)
	}
	s.dog = newWatchdog(cfg.Watchdog, log, s.workers)
	s.overload = overload.New(cfg.Overload, s.workers, log)
	s.overload.SetAccepting = func(i int, accepting bool) {
		for _, l := range s.lis {
			l.PauseAccepting(i, !accepting)
		}
	}
	s.accessLogs = accesslog.NewRegistry(n)
	settings, err := s.clusterSettings(cfg.Clusters)
	if err == nil {
		s.clusters, err = cluster.NewManagerWithSettings(settings, s.workers, log)
	}
	if err != nil {
		s.closeWorkers()
		return nil, err
	}
	s.filters, err = newFilterBuilder(log, s.workers, s.clusters)
	if err != nil {
		s.closeWorkers()
		return nil, err
	}
	for i := range cfg.Listeners {
		l, err := s.buildListener(i, &cfg.Listeners[i])
		if err != nil {
			s.filters.close()
			s.closeWorkers()
			s.accessLogs.Close()
			return nil, err
		}
		s.lis = append(s.lis, l)
	}
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
	watch, err := tlscontext.Watch(s.log, s.tlsContexts)
	if err != nil {
		s.Stop()
		return fmt.Errorf("watching TLS files: %w", err)
	}
	s.tlsWatch = watch
	// Clusters learn their endpoints and health before listeners open
	// (Envoy's cluster warming), bounded like Envoy's initial fetch.
	s.clusters.Start()
	if late := s.clusters.WaitReady(clusterWarmingTimeout); len(late) > 0 {
		s.log.Warn("clusters still warming (no DNS answer, endpoint file or first health check yet); serving anyway",
			zap.Strings("clusters", late), zap.Duration("waited", clusterWarmingTimeout))
	}
	for _, l := range s.lis {
		if err := s.bind(l); err != nil {
			s.Stop()
			return err
		}
	}
	s.overload.Start()
	if s.cfg.Admin != nil {
		a, err := startAdmin(s, s.cfg.Admin.Addr)
		if err != nil {
			s.Stop()
			return fmt.Errorf("admin.address: %s: %w", s.cfg.Admin.Address, err)
		}
		s.admin = a
		s.log.Info("admin listening", zap.String("address", a.addr.String()))
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
	for _, l := range s.lis {
		if l.Name() == name {
			return l.Addr(), true
		}
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
// listeners close, in-flight streams get up to timeout to finish, and what
// is left is closed. It returns the number of connections it had to
// abort. A drain runs once: a later call (SIGTERM after a preStop hook's
// drain) waits for the first to finish and returns its count. Stop cuts
// the delay short.
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
	for i, w := range s.workers {
		onWorker(w, func() {
			for _, l := range s.lis {
				l.StopAccepting(i)
				l.Drain(i)
			}
		})
	}
	deadline := time.Now().Add(timeout)
	for {
		open := s.openConnections()
		if open == 0 {
			return 0
		}
		if time.Now().After(deadline) {
			s.log.Warn("drain timeout; closing remaining connections", zap.Int("connections", open))
			for i, w := range s.workers {
				onWorker(w, func() {
					for _, l := range s.lis {
						l.CloseAll(i)
					}
				})
			}
			return open
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openConnections counts downstream connections across workers.
func (s *Server) openConnections() int {
	total := 0
	for i, w := range s.workers {
		n := 0
		onWorker(w, func() {
			for _, l := range s.lis {
				n += l.OpenConnections(i)
			}
		})
		total += n
	}
	return total
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
	if !s.started.IsZero() {
		s.dog.stop() // never started otherwise (sluice validate)
		s.overload.Stop()
	}
	if s.tlsWatch != nil {
		s.tlsWatch.Close()
	}
	if s.admin != nil {
		s.admin.close()
	}
	if s.started.IsZero() {
		// Built but never started (sluice validate): no loop runs, so
		// stop the workers first; Close waits for them otherwise.
		s.closeWorkers()
	}
	s.clusters.Close()
	for _, w := range s.workers {
		w.Stop()
	}
	for _, w := range s.workers {
		<-w.Done()
	}
	if err := s.accessLogs.Close(); err != nil {
		s.log.Warn("closing access logs", zap.Error(err))
	}
	s.filters.close()
}

// ReopenAccessLogs reopens every access-log file (after log rotation).
func (s *Server) ReopenAccessLogs() error { return s.accessLogs.Reopen() }
