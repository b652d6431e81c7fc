package cluster

import (
	"errors"
	"net/netip"

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
	hosts    []*Host
	pools    []*workerPool // by worker position
	stats    counters
	log      *zap.Logger
}

func newCluster(s Settings, workers []*worker.Worker, log *zap.Logger, seed uint64) *Cluster {
	c := &Cluster{settings: s, log: log}
	for i, ep := range s.Endpoints {
		c.hosts = append(c.hosts, &Host{addr: ep, index: i})
	}
	for i, w := range workers {
		c.pools = append(c.pools, newWorkerPool(c, w, i, seed))
	}
	return c
}

// Name is the cluster's configured name.
func (c *Cluster) Name() string { return c.settings.Name }

// Settings returns the cluster's effective settings (defaults applied).
func (c *Cluster) Settings() Settings { return c.settings }

// Hosts returns the cluster's endpoints.
func (c *Cluster) Hosts() []*Host { return c.hosts }

// Stats is a snapshot of the cluster's counters; safe from any goroutine.
func (c *Cluster) Stats() Stats { return c.stats.snapshot(c.pools) }

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
// must run on w's loop thread; h's methods run there too.
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

func (c *Cluster) hostAddr(i int) netip.AddrPort { return c.hosts[i].addr }
