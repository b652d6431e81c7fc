package server

import (
	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/accesslog"
	"github.com/sluiceproxy/sluice/host/cluster"
	"github.com/sluiceproxy/sluice/host/config"
	"github.com/sluiceproxy/sluice/host/hcm"
	"github.com/sluiceproxy/sluice/host/network/tcpproxy"
	"github.com/sluiceproxy/sluice/host/overload"
	"github.com/sluiceproxy/sluice/host/tlscontext"
	"github.com/sluiceproxy/sluice/host/worker"
)

// generation is one loaded configuration: the listeners' filter chains,
// routes, clusters and module filter configs built from it. A reload
// builds the next generation beside the current one; new connections go
// to the new one, and the old one lives on, read-only, for the
// connections it accepted until the last of them ends (or is closed at
// drain_timeout). Then retire releases what it alone held.
type generation struct {
	id         uint64
	cfg        *config.Config
	log        *zap.Logger
	accessLogs *accesslog.Registry
	clusters   *cluster.Manager
	filters    *filterBuilder
	// overload is the server's overload manager (one for the process):
	// its connection bound and shedding apply to every generation.
	overload *overload.Manager
	lis      []*builtListener
	// listenerTLS are the filter chains' TLS contexts; clusterTLS the
	// clusters' by cluster name (a kept cluster keeps its context).
	listenerTLS []*tlscontext.Context
	clusterTLS  map[string]*tlscontext.Context
	// prev is the generation this one replaces, while it is built: its
	// counters carry over (then nil, so old generations are not kept).
	prev *generation
}

// tlsContexts are every TLS context the generation serves with, for the
// file watcher.
func (g *generation) tlsContexts() []*tlscontext.Context {
	out := append([]*tlscontext.Context(nil), g.listenerTLS...)
	for _, c := range g.clusters.Clusters() {
		if ctx := g.clusterTLS[c.Name()]; ctx != nil {
			out = append(out, ctx)
		}
	}
	return out
}

// hcmStats are the counters of the http_connection_manager with this
// stat_prefix: the previous generation's, so a reload does not reset them.
func (g *generation) hcmStats(prefix string) *hcm.Stats {
	if g.prev != nil {
		for _, l := range g.prev.lis {
			for _, h := range l.hcms {
				if h.StatPrefix == prefix {
					return h.Stats
				}
			}
		}
	}
	return &hcm.Stats{}
}

// tcpProxyStats is hcmStats for tcp_proxy filters.
func (g *generation) tcpProxyStats(prefix string) *tcpproxy.Stats {
	if g.prev != nil {
		for _, l := range g.prev.lis {
			for _, t := range l.tcpProxies {
				if t.StatPrefix == prefix {
					return t.Stats
				}
			}
		}
	}
	return &tcpproxy.Stats{}
}

// newGeneration builds everything cfg describes except sockets; prev (nil
// at start-up) lends its unchanged clusters. On error nothing it built is
// left behind except module versions, which the caller releases
// (Host.ReleaseUnused). Main goroutine.
func (s *Server) newGeneration(cfg *config.Config, prev *generation) (*generation, error) {
	g := &generation{id: s.nextGen, cfg: cfg, log: s.log, accessLogs: s.accessLogs,
		overload: s.overload, clusterTLS: map[string]*tlscontext.Context{}, prev: prev}
	defer func() { g.prev = nil }()
	s.nextGen++
	settings, err := g.clusterSettings(cfg.Clusters)
	if err != nil {
		return nil, err
	}
	var prevClusters *cluster.Manager
	if prev != nil {
		prevClusters = prev.clusters
	}
	g.clusters, err = cluster.NewManagerFrom(prevClusters, cfg.Clusters, settings, s.workers, s.log)
	if err != nil {
		return nil, err
	}
	if prev != nil {
		// A kept cluster goes on with the TLS context it was built with.
		for _, c := range g.clusters.Clusters() {
			if prev.clusters.Get(c.Name()) == c {
				if ctx, ok := prev.clusterTLS[c.Name()]; ok {
					g.clusterTLS[c.Name()] = ctx
				} else {
					delete(g.clusterTLS, c.Name())
				}
			}
		}
	}
	g.filters = newFilterBuilder(s.log, s.modules)
	for i := range cfg.Listeners {
		l, err := g.buildListener(i, &cfg.Listeners[i])
		if err != nil {
			g.filters.close()
			s.closeNewClusters(g)
			return nil, err
		}
		g.lis = append(g.lis, l)
	}
	for _, c := range g.clusters.Clusters() {
		s.clusterRefs[c]++
	}
	return g, nil
}

// closeNewClusters closes the clusters of a generation that failed to
// build and that no live generation shares.
func (s *Server) closeNewClusters(g *generation) {
	if s.started.IsZero() {
		// Start-up: nothing runs yet (no control goroutine, no pooled
		// connection), and the workers' loops that Close waits for are
		// not running.
		return
	}
	var gone []*cluster.Cluster
	for _, c := range g.clusters.Clusters() {
		if s.clusterRefs[c] == 0 {
			gone = append(gone, c)
		}
	}
	g.clusters.CloseClusters(gone)
}

// listener returns the generation's listener of that name, or nil.
func (g *generation) listener(name string) *builtListener {
	for _, l := range g.lis {
		if l.Name() == name {
			return l
		}
	}
	return nil
}

// reusable is the listener of g whose sockets l (of a newer generation)
// takes over: the same address (and name, for port 0), or nil.
func (g *generation) reusable(l *builtListener) *builtListener {
	for _, o := range g.lis {
		if l.Reuses(o.Listener) {
			return o
		}
	}
	return nil
}

// openConnections counts the generation's downstream connections across
// workers (it waits for each worker's loop).
func (g *generation) openConnections(workers []*worker.Worker) int {
	total := 0
	for i, w := range workers {
		n := 0
		onWorker(w, func() {
			for _, l := range g.lis {
				n += l.OpenConnections(i)
			}
		})
		total += n
	}
	return total
}

// release frees what the retired generation alone held: per-route and
// filter configs (config_destroy), clusters no live generation shares,
// and module versions left without a filter config. Main goroutine, with
// the reload lock held, once the generation has no connection left.
func (s *Server) release(g *generation) {
	g.filters.close()
	var gone []*cluster.Cluster
	for _, c := range g.clusters.Clusters() {
		s.clusterRefs[c]--
		if s.clusterRefs[c] == 0 {
			delete(s.clusterRefs, c)
			gone = append(gone, c)
		}
	}
	g.clusters.CloseClusters(gone)
	s.modules.ReleaseUnused()
	s.log.Info("configuration generation released", zap.Uint64("generation", g.id),
		zap.Int("clusters_closed", len(gone)))
}

// closeAll closes the generation's remaining connections on every worker
// (the drain deadline passed).
func (g *generation) closeAll(workers []*worker.Worker) {
	for i, w := range workers {
		onWorker(w, func() {
			for _, l := range g.lis {
				l.CloseAll(i)
			}
		})
	}
}
