package cluster

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"time"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/config"
	"github.com/sluiceproxy/sluice/host/worker"
)

// Manager owns every configured cluster. It is built on the main goroutine
// and is read-only afterwards, so workers look clusters up without locks.
type Manager struct {
	clusters map[string]*Cluster
	ordered  []*Cluster
	workers  []*worker.Worker
	log      *zap.Logger
	// sources are the configurations the clusters were built from (by
	// name; absent for managers built from Settings), which a reload
	// compares to keep unchanged clusters.
	sources map[string]*config.Cluster
}

// NewManagerWithSettings builds a manager from already converted settings
// (NewManager converts config.Cluster values into these).
func NewManagerWithSettings(settings []Settings, workers []*worker.Worker, log *zap.Logger) (*Manager, error) {
	if log == nil {
		log = zap.NewNop()
	}
	m := &Manager{clusters: make(map[string]*Cluster, len(settings)), workers: workers, log: log}
	for i, s := range settings {
		if s.Name == "" {
			return nil, fmt.Errorf("cluster %d: empty name", i)
		}
		if _, dup := m.clusters[s.Name]; dup {
			return nil, fmt.Errorf("cluster %q: duplicate name", s.Name)
		}
		c := newCluster(s.withDefaults(), workers, log.With(zap.String("cluster", s.Name)), rand.Uint64())
		m.clusters[s.Name] = c
		m.ordered = append(m.ordered, c)
	}
	return m, nil
}

// Get returns the named cluster, or nil. Safe from any goroutine.
func (m *Manager) Get(name string) *Cluster { return m.clusters[name] }

// Clusters returns the clusters in configuration order.
func (m *Manager) Clusters() []*Cluster { return m.ordered }

// Start begins discovery, health checking and outlier detection: the
// goroutines that keep each cluster's membership and health current and
// send them to the workers. Static clusters without health checks need
// none. Call it once, from the main goroutine; Close stops them.
func (m *Manager) Start() {
	for _, c := range m.ordered {
		c.ctl.start()
	}
}

// WaitReady waits, at most until timeout, for every cluster to know its
// endpoints (first DNS answer, endpoint file read) and the first health
// check of each; it returns the names of clusters that are not ready yet.
// Like Envoy's cluster warming, this lets listeners open only when
// requests can be routed as configured (an unready cluster still serves,
// through panic routing).
func (m *Manager) WaitReady(timeout time.Duration) []string {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	expired := false
	var late []string
	for _, c := range m.ordered {
		if !expired {
			select {
			case <-c.ctl.ready:
				continue
			case <-deadline.C:
				expired = true
			}
		}
		select {
		case <-c.ctl.ready:
		default:
			late = append(late, c.Name())
		}
	}
	return late
}

// Close stops discovery and health checking, closes the idle pooled
// connections on every worker and makes connections that finish later
// close instead of going back to the pool. It waits for each worker to
// have done so, or to have stopped.
func (m *Manager) Close() { closeClusters(m.workers, m.ordered) }

func closeClusters(workers []*worker.Worker, cs []*Cluster) {
	for _, c := range cs {
		c.ctl.close()
	}
	for _, w := range workers {
		done := make(chan struct{})
		w.Post(func() {
			for _, c := range cs {
				c.poolFor(w).shutdown()
			}
			close(done)
		})
		select {
		case <-done:
		case <-w.Done():
		}
	}
}

// NewManagerFrom builds the manager of a reloaded configuration from its
// clusters' configurations and their converted settings (same order): a
// cluster whose configuration is unchanged from prev's (compared field by
// field) is taken over with its pools, health-check and outlier state; the
// others are new. prev (nil at start-up) is not modified. Main goroutine.
func NewManagerFrom(prev *Manager, cfgs []config.Cluster, settings []Settings, workers []*worker.Worker, log *zap.Logger) (*Manager, error) {
	if len(cfgs) != len(settings) {
		return nil, fmt.Errorf("cluster: %d configurations but %d settings", len(cfgs), len(settings))
	}
	m, err := NewManagerWithSettings(nil, workers, log)
	if err != nil {
		return nil, err
	}
	for i := range cfgs {
		c := &cfgs[i]
		if _, dup := m.clusters[c.Name]; dup {
			return nil, fmt.Errorf("cluster %q: duplicate name", c.Name)
		}
		if old := prev.unchanged(c); old != nil {
			m.add(old, c)
			continue
		}
		s := settings[i]
		m.add(newCluster(s.withDefaults(), workers, m.log.With(zap.String("cluster", s.Name)), rand.Uint64()), c)
	}
	return m, nil
}

// unchanged returns m's cluster of c's name when it was built from an
// equal configuration; nil otherwise (or when m is nil).
func (m *Manager) unchanged(c *config.Cluster) *Cluster {
	if m == nil {
		return nil
	}
	if old := m.clusters[c.Name]; old != nil && reflect.DeepEqual(m.sources[c.Name], c) {
		return old
	}
	return nil
}

func (m *Manager) add(c *Cluster, src *config.Cluster) {
	m.clusters[c.Name()] = c
	m.ordered = append(m.ordered, c)
	if src != nil {
		if m.sources == nil {
			m.sources = map[string]*config.Cluster{}
		}
		m.sources[c.Name()] = src
	}
}

// CloseClusters is Close for some of the manager's clusters: those a
// reload dropped or replaced, once nothing routes to them any more.
func (m *Manager) CloseClusters(cs []*Cluster) {
	closeClusters(m.workers, cs)
}
