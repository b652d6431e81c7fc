package cluster

import (
	"fmt"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/worker"
)

// Manager owns every configured cluster. It is built on the main goroutine
// and is read-only afterwards, so workers look clusters up without locks.
type Manager struct {
	clusters map[string]*Cluster
	ordered  []*Cluster
	workers  []*worker.Worker
	log      *zap.Logger
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
func (m *Manager) Close() {
	for _, c := range m.ordered {
		c.ctl.close()
	}
	for _, w := range m.workers {
		done := make(chan struct{})
		w.Post(func() {
			for _, c := range m.ordered {
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
