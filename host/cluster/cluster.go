package cluster

import (
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/worker"
)

// Errors handed to OnPoolFailure / OnReset when the pool itself decides.
var (
	ErrNoHealthyUpstream = errors.New("cluster: no endpoint to pick")
	ErrOverflow          = errors.New("cluster: max_connections reached and pending queue full")
	ErrUpstreamClosed    = errors.New("cluster: upstream closed the connection before the response completed")
	ErrUnexpected101     = errors.New("cluster: upstream answered 101 Switching Protocols to a request that did not ask to upgrade")
	ErrClosed            = errors.New("cluster: manager closed")
)

// Cluster is one upstream cluster: its endpoints, load balancer, circuit
// breakers and one connection pool per worker.
type Cluster struct {
	settings Settings
	pools    []*workerPool // by worker position
	stats    counters
	log      *zap.Logger
	// ctl owns membership and health (control.go); workers learn of them
	// through the host sets it sends them.
	ctl *control
	od  *outlierDetector // nil without outlier_detection
}

func newCluster(s Settings, workers []*worker.Worker, log *zap.Logger, seed uint64) *Cluster {
	c := &Cluster{settings: s, log: log}
	for i, w := range workers {
		c.pools = append(c.pools, newWorkerPool(c, w, i, seed))
	}
	if s.Outlier != nil {
		c.od = newOutlierDetector(c, *s.Outlier)
	}
	c.ctl = newControl(c)
	// Hosts known from the configuration are not new: no slow start.
	var hosts []*Host
	for _, ep := range s.staticEndpoints() {
		hosts = append(hosts, newHost(c, ep, time.Time{}))
	}
	set := c.ctl.setInitial(hosts)
	for _, wp := range c.pools {
		wp.apply(set, nil)
	}
	return c
}

// Name is the cluster's configured name.
func (c *Cluster) Name() string { return c.settings.Name }

// Settings returns the cluster's effective settings (defaults applied).
func (c *Cluster) Settings() Settings { return c.settings }

// Hosts returns the cluster's current endpoints, every priority and health
// included. Safe from any goroutine; the slice is a copy.
func (c *Cluster) Hosts() []*Host { return c.ctl.members() }

// Stats is a snapshot of the cluster's counters; safe from any goroutine.
func (c *Cluster) Stats() Stats { return c.snapshotStats() }

// poolFor finds the pool of worker w. Workers are normally indexed by
// position, so the lookup is one comparison.
func (c *Cluster) poolFor(w *worker.Worker) *workerPool {
	if i := w.Index(); i >= 0 && i < len(c.pools) && c.pools[i].w == w {
		return c.pools[i]
	}
	for _, wp := range c.pools {
		if wp.w == w {
			return wp
		}
	}
	panic("cluster: worker not known to the manager")
}

// NewStream asks for a connection to one of the cluster's endpoints. It
// must run on w's loop thread; h's methods run there too. A handler that
// implements LoadBalancerContext steers the pick (hash key, hosts to
// avoid).
//
// The handler may be called before NewStream returns: OnPoolReady when an
// idle connection was available, OnPoolFailure when the stream failed at
// once (no endpoint, overflow, immediate connect error). NewStream returns
// the stream while it is alive — pending, connecting, or ready — so the
// caller can Reset it, and nil when it already failed (or was reset inside
// OnPoolReady).
func (c *Cluster) NewStream(w *worker.Worker, h ResponseHandler) *Stream {
	wp := c.poolFor(w)
	s := wp.newStream(h)
	gen := s.gen
	wp.assign(s)
	if s.gen != gen || s.state == stFree {
		return nil
	}
	return s
}
