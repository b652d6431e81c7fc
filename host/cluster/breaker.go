package cluster

// The circuit breakers are cluster-wide (all workers share them, as Envoy's
// resource manager does), so they are atomics updated with compare-and-swap:
// a worker that loses a race simply sees the limit reached.

// tryAcquireConn reserves a connection slot under max_connections.
func (c *Cluster) tryAcquireConn() bool {
	for {
		n := c.stats.cxActive.Load()
		if n >= int64(c.settings.MaxConnections) {
			return false
		}
		if c.stats.cxActive.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// releaseConn gives a connection slot back and wakes workers whose pending
// requests were waiting for one.
func (c *Cluster) releaseConn(from *workerPool) {
	c.stats.cxActive.Add(-1)
	from.servePending()
	c.kickPending(from)
}

// tryAcquirePending reserves a place in the pending queues under
// max_pending_requests.
func (c *Cluster) tryAcquirePending() bool {
	for {
		n := c.stats.rqPendingActive.Load()
		if n >= int64(c.settings.MaxPendingRequests) {
			return false
		}
		if c.stats.rqPendingActive.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (c *Cluster) releasePending() { c.stats.rqPendingActive.Add(-1) }

// kickPending asks the other workers that have queued requests to try
// again, because a connection slot was freed here. A worker that enqueues
// re-checks for a slot after publishing its queue length, and a worker that
// frees a slot reads the queue lengths after publishing the free slot, so
// between the two one of them always sees the other (no lost wake-up).
func (c *Cluster) kickPending(except *workerPool) {
	if c.stats.rqPendingActive.Load() == 0 {
		return
	}
	for _, wp := range c.pools {
		if wp == except || wp.pendingLen.Load() == 0 {
			continue
		}
		if wp.kickQueued.CompareAndSwap(false, true) {
			wp.w.Post(wp.kickFn)
		}
	}
}

// shedIdleElsewhere asks workers holding idle connections to close one,
// because from has a request queued and all slots are taken: without this
// a queue could wait forever behind another worker's idle connections.
func (c *Cluster) shedIdleElsewhere(from *workerPool) {
	for _, wp := range c.pools {
		if wp == from || wp.idleCount.Load() == 0 {
			continue
		}
		if wp.shedQueued.CompareAndSwap(false, true) {
			wp.w.Post(wp.shedFn)
		}
	}
}

// atConnLimit reports whether every connection slot is taken.
func (c *Cluster) atConnLimit() bool {
	return c.stats.cxActive.Load() >= int64(c.settings.MaxConnections)
}

// handoffSlot gives a connection slot that from no longer needs to another
// worker with a queue, directly: releasing it to the shared counter would
// let from's own next request (or anyone's) take it first. Without a
// waiting worker the slot is simply released. A handoff posted to a worker
// that is stopping is lost with it, which only matters during shutdown.
func (c *Cluster) handoffSlot(from *workerPool) {
	n := len(c.pools)
	for k := 1; k < n; k++ {
		wp := c.pools[(from.index+k)%n]
		if wp.pendingLen.Load() > 0 {
			wp.reserved.Add(1)
			wp.w.Post(wp.useReservedFn)
			return
		}
	}
	c.releaseConn(from)
}
