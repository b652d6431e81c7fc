package server

import (
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/config"
	"github.com/sluiceproxy/sluice/host/tlscontext"
)

// reloadStats are the config.reload_* counters.
type reloadStats struct {
	success, failure atomic.Uint64
	lastSuccess      atomic.Int64 // unix seconds; 0: never
	retiring         atomic.Int64 // generations replaced, not yet released
}

// ErrReloadRefused: the server is draining or stopped.
var ErrReloadRefused = errors.New("reload refused: the server is draining")

// Reload loads the config file at path and, when it loads, validates and
// builds in full (every module loaded and given its config), makes it the
// one new connections get, on every worker. Until then nothing changes: on
// any error the running configuration keeps serving and the error, which
// names the file and the YAML path, is returned (and logged). Connections
// accepted before keep the filter chains, routes and clusters they started
// with and are drained (HTTP/1: closed after the current response;
// HTTP/2: GOAWAY); those still open after the new config's drain_timeout
// are closed. Listeners whose name and address are unchanged keep their
// sockets; removed ones stop accepting; added ones are bound. Reloads run
// one at a time. Any goroutine except a worker's.
func (s *Server) Reload(path string) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	start := time.Now()
	g, err := s.reload(path)
	if err != nil {
		s.reloads.failure.Add(1)
		s.log.Error("reload failed; the running configuration keeps serving", zap.Error(err))
		return err
	}
	s.reloads.success.Add(1)
	s.reloads.lastSuccess.Store(time.Now().Unix())
	s.log.Info("configuration reloaded", zap.String("path", path), zap.Uint64("generation", g.id),
		zap.Duration("took", time.Since(start)))
	return nil
}

func (s *Server) reload(path string) (*generation, error) {
	if s.Draining() {
		return nil, ErrReloadRefused
	}
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if stopped || s.started.IsZero() {
		return nil, ErrReloadRefused
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err // names the file and the YAML path already
	}
	old := s.gen()
	for _, f := range restartOnly(old.cfg, cfg) {
		s.log.Warn("reload: this setting takes effect at the next restart", zap.String("field", f))
	}
	g, err := s.newGeneration(cfg, old)
	if err != nil {
		s.modules.ReleaseUnused() // versions loaded for this attempt only
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	g.clusters.Start() // the kept clusters run already
	if late := g.clusters.WaitReady(clusterWarmingTimeout); len(late) > 0 {
		s.log.Warn("reload: clusters still warming; serving anyway", zap.Strings("clusters", late))
	}
	// New listeners are bound before anything switches, so a bind error
	// leaves the running configuration as it was.
	var bound []*builtListener
	kept := map[*builtListener]*builtListener{} // new → old, same sockets
	for _, l := range g.lis {
		if prev := old.reusable(l); prev != nil {
			kept[l] = prev
			l.PrepareAdopt(prev.Listener, len(s.workers))
			continue
		}
		if err := s.bind(l); err != nil {
			for _, b := range bound {
				s.stopAccepting(b)
			}
			s.release(g)
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		bound = append(bound, l)
	}
	watch, err := tlscontext.Watch(s.log, g.tlsContexts())
	if err != nil {
		for _, b := range bound {
			s.stopAccepting(b)
		}
		s.release(g)
		return nil, fmt.Errorf("%s: watching TLS files: %w", path, err)
	}
	// The switch: on each worker, in one loop turn, kept sockets move to
	// the new generation and the old generation's connections drain.
	for i, w := range s.workers {
		onWorker(w, func() {
			for l, prev := range kept {
				l.Adopt(i, prev.Listener)
			}
			for _, l := range old.lis {
				l.StopAccepting(i) // a no-op for adopted sockets
				l.Drain(i)
			}
		})
	}
	s.cur.Store(g)
	if w := s.tlsWatch.Swap(watch); w != nil {
		w.Close()
	}
	s.retiring = append(s.retiring, old)
	s.reloads.retiring.Add(1)
	s.retire(old, cfg.DrainTimeout)
	return g, nil
}

// stopAccepting closes a listener's sockets on every worker.
func (s *Server) stopAccepting(l *builtListener) {
	for i, w := range s.workers {
		onWorker(w, func() { l.StopAccepting(i) })
	}
}

// retirePoll is how often a retiring generation's connections are counted.
const retirePoll = 50 * time.Millisecond

// retire waits, on its own goroutine, for the old generation's last
// connection to end — closing what is left after timeout — then releases
// what only it held.
func (s *Server) retire(old *generation, timeout time.Duration) {
	s.retirers.Add(1)
	go func() {
		defer s.retirers.Done()
		deadline := time.NewTimer(timeout)
		defer deadline.Stop()
		tick := time.NewTicker(retirePoll)
		defer tick.Stop()
		for old.openConnections(s.workers) > 0 {
			select {
			case <-tick.C:
			case <-deadline.C:
				s.log.Warn("reload: drain_timeout passed; closing the previous configuration's connections",
					zap.Uint64("generation", old.id))
				old.closeAll(s.workers)
			case <-s.quit:
				return // Stop releases it
			}
		}
		s.reloadMu.Lock()
		defer s.reloadMu.Unlock()
		select {
		case <-s.quit:
			return
		default:
		}
		for i, g := range s.retiring {
			if g == old {
				s.retiring = append(s.retiring[:i], s.retiring[i+1:]...)
				s.reloads.retiring.Add(-1)
				break
			}
		}
		s.release(old)
	}()
}

// restartOnly names the settings a reload cannot apply: the workers, the
// admin endpoint, logging and the watchdog are the process's.
func restartOnly(old, new *config.Config) []string {
	var out []string
	if old.Concurrency != new.Concurrency {
		out = append(out, "concurrency")
	}
	if old.IOUring != new.IOUring {
		out = append(out, "io_uring")
	}
	if !reflect.DeepEqual(old.Admin, new.Admin) {
		out = append(out, "admin")
	}
	if !reflect.DeepEqual(old.Log, new.Log) {
		out = append(out, "log")
	}
	if !reflect.DeepEqual(old.Watchdog, new.Watchdog) {
		out = append(out, "watchdog")
	}
	return out
}
