package cluster

import (
	"sync/atomic"

	"github.com/sluiceproxy/sluice/host/worker"
)

// workerPool is one worker's share of a cluster: per-endpoint idle
// connections, the pending queue and the load-balancer cursor.
// Everything except the two atomics is touched only on
// the worker's thread.
type workerPool struct {
	hot    hotCounters
	c      *Cluster
	w      *worker.Worker
	picker picker
	// set is the cluster's membership and health as this worker last
	// heard of it (hostset.go); it changes only by message (apply).
	set *hostSet

	// Pending queue: an intrusive FIFO so Reset can unlink in O(1).
	pendingHead, pendingTail *Stream
	// pendingLen mirrors the queue length for other workers' kickPending.
	pendingLen atomic.Int32
	// kickQueued coalesces kicks: at most one is posted at a time.
	kickQueued atomic.Bool
	kickFn     func()
	// idleCount mirrors the idle connections for other workers' shedding;
	// shedQueued coalesces shed requests like kickQueued.
	idleCount  atomic.Int32
	shedQueued atomic.Bool
	shedFn     func()

	closed bool // Manager.Close ran: no more idling
	conns  int  // this worker's connections to the cluster, connecting or open
	index  int  // position in Cluster.pools

	// reserved counts connection slots other workers handed to this one
	// for its queue (handoffSlot); useReservedFn consumes them.
	reserved      atomic.Int32
	useReservedFn func()

	h2free []*h2Stream // recycled HTTP/2 stream state (h2stream.go)
}

func newWorkerPool(c *Cluster, w *worker.Worker, position int, seed uint64) *workerPool {
	wp := &workerPool{c: c, w: w, index: position, picker: newPicker(c.settings.LBPolicy, position, seed)}
	wp.picker.choices = c.settings.LeastRequestChoices
	wp.kickFn = func() {
		wp.kickQueued.Store(false)
		wp.servePending()
	}
	wp.shedFn = wp.shedIdle
	wp.useReservedFn = wp.useReserved
	return wp
}

// newStream takes the handler's own Stream storage when it offers some
// (StreamStorage) and that storage is not in use, else allocates one.
// Storage is never shared between unrelated requests, so a handler that
// touches a finished stream hits its own dead object, never someone
// else's exchange.
func (wp *workerPool) newStream(h ResponseHandler) *Stream {
	var s *Stream
	if st, ok := h.(StreamStorage); ok {
		if s = st.UpstreamStream(); s != nil && s.state != stFree {
			s = nil // still busy with an earlier exchange
		}
	}
	if s == nil {
		s = &Stream{}
	}
	s.wp = wp
	s.h = h
	s.state = stNew
	return s
}

// recycle marks a stream finished. The generation bump lets stale checks
// (NewStream's return value, callbacks that raced a reset) see that the
// object moved on; every method of a finished stream does nothing.
func (wp *workerPool) recycle(s *Stream) {
	s.endConnWait()
	if s.hs != nil && s.hs.s == s {
		wp.putH2Stream(s.hs)
	}
	*s = Stream{wp: wp, gen: s.gen + 1}
}

// beginConnWait counts a stream that waits for a connection being
// established (its own new one, or an HTTP/2 connection's SETTINGS) as
// pending, like a queued one: Envoy counts every request that does not
// find a ready connection. A stream counted once (queued, then connecting)
// is not counted again in the total.
func (s *Stream) beginConnWait() {
	if s.state == stRetrying || s.connWait {
		return
	}
	st := &s.wp.c.stats
	s.connWait = true
	st.rqConnWait.Add(1)
	if !s.waitCounted {
		s.waitCounted = true
		st.rqPendingTotal.Add(1)
	}
}

// endConnWait: the stream got its connection, failed, or was reset.
func (s *Stream) endConnWait() {
	if s.connWait {
		s.connWait = false
		s.wp.c.stats.rqConnWait.Add(-1)
	}
}

// assign gives a new stream a connection, a pending place, or a failure.
// Preference: an idle connection to the endpoint the LB picked; else a new
// connection to it if max_connections allows; else an idle connection to
// any other endpoint (better than waiting); else the pending queue.
func (wp *workerPool) assign(s *Stream) {
	c := wp.c
	h := wp.pickFor(s.h)
	if h == nil {
		c.stats.noHealthyUpstream.Add(1)
		s.fail(NoHealthyUpstream, ErrNoHealthyUpstream)
		return
	}
	if c.settings.HTTP2 {
		wp.assignH2(s, h)
		return
	}
	if cc := wp.popIdle(h); cc != nil {
		cc.attach(s)
		return
	}
	if c.tryAcquireConn() {
		wp.connect(h, s)
		return
	}
	c.stats.cxOverflow.Add(1)
	if cc := wp.popAnyIdle(); cc != nil {
		cc.attach(s)
		return
	}
	wp.queue(s)
}

// queue puts s in the pending queue, or fails it with Overflow when
// max_pending_requests is reached.
func (wp *workerPool) queue(s *Stream) {
	c := wp.c
	if !c.tryAcquirePending() {
		c.stats.rqPendingOverflow.Add(1)
		s.fail(Overflow, ErrOverflow)
		return
	}
	c.stats.rqPendingTotal.Add(1)
	s.waitCounted = true
	wp.enqueue(s)
	// A slot may have been freed between the failed acquire and enqueue.
	wp.servePending()
	if s.state == stPending {
		c.shedIdleElsewhere(wp)
	}
}

// pickFor asks the load balancer for a host for a stream of handler h
// (which may steer the pick: LoadBalancerContext); nil when the cluster
// has no host to offer.
func (wp *workerPool) pickFor(h any) *Host {
	ctx, _ := h.(LoadBalancerContext)
	return wp.picker.pick(wp.set, ctx)
}

// connect dials host h for s; the caller holds a connection slot, which
// the new upstreamConn now owns.
func (wp *workerPool) connect(h *Host, s *Stream) {
	cc := newUpstreamConn(wp, h)
	s.beginConnWait()
	s.state = stConnecting
	s.cc = cc
	cc.stream = s
	cc.dial()
}

// servePending hands freed capacity to queued streams, oldest first.
func (wp *workerPool) servePending() {
	if wp.c.settings.HTTP2 {
		wp.servePendingH2()
		return
	}
	for wp.pendingHead != nil {
		if cc := wp.popAnyIdle(); cc != nil {
			// Closing stale connections on the way may have served the
			// queue already (releaseConn re-enters servePending).
			if wp.pendingHead == nil {
				cc.release()
				return
			}
			cc.attach(wp.dequeue())
			continue
		}
		if wp.pendingHead == nil || !wp.c.tryAcquireConn() {
			return
		}
		wp.connectQueued(wp.dequeue())
	}
}

// connectQueued dials for a stream taken off the queue with a slot the
// caller holds; when the cluster has no host left to pick, the stream
// fails and the slot is given back.
func (wp *workerPool) connectQueued(s *Stream) {
	h := wp.pickFor(s.h)
	if h == nil {
		// Give the slot back without serving the queue from here (that
		// would recurse once per queued stream); others may use it.
		wp.c.stats.cxActive.Add(-1)
		wp.c.kickPending(wp)
		wp.c.stats.noHealthyUpstream.Add(1)
		s.fail(NoHealthyUpstream, ErrNoHealthyUpstream)
		return
	}
	if wp.c.settings.HTTP2 {
		wp.connectH2(h, s)
		return
	}
	wp.connect(h, s)
}

func (wp *workerPool) enqueue(s *Stream) {
	s.state = stPending
	s.prev = wp.pendingTail
	if wp.pendingTail != nil {
		wp.pendingTail.next = s
	} else {
		wp.pendingHead = s
	}
	wp.pendingTail = s
	wp.pendingLen.Add(1)
}

func (wp *workerPool) dequeue() *Stream {
	s := wp.pendingHead
	wp.unlink(s)
	return s
}

// unlink removes s from the pending queue and gives back its place.
func (wp *workerPool) unlink(s *Stream) {
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		wp.pendingHead = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else {
		wp.pendingTail = s.prev
	}
	s.next, s.prev = nil, nil
	wp.pendingLen.Add(-1)
	wp.c.releasePending()
}

// pushIdle parks a free connection on its host's idle stack.
func (wp *workerPool) pushIdle(cc *upstreamConn) {
	hp := cc.host.slot(wp)
	hp.idle = append(hp.idle, cc)
	cc.idleSince = wp.w.Now()
	wp.idleCount.Add(1)
}

// popIdle takes host h's most recently used idle connection that still
// looks alive; dead ones found on the way are closed.
func (wp *workerPool) popIdle(h *Host) *upstreamConn {
	hp := h.slot(wp)
	for n := len(hp.idle); n > 0; n = len(hp.idle) {
		cc := hp.idle[n-1]
		hp.idle[n-1] = nil
		hp.idle = hp.idle[:n-1]
		wp.idleCount.Add(-1)
		cc.state = ccBusy // off the stack; attach or teardown follows
		if cc.usable() {
			return cc
		}
		cc.closeStale()
	}
	return nil
}

// removeIdle takes a specific connection off its idle stack.
func (wp *workerPool) removeIdle(cc *upstreamConn) {
	hp := cc.host.slot(wp)
	for i, x := range hp.idle {
		if x == cc {
			copy(hp.idle[i:], hp.idle[i+1:])
			hp.idle[len(hp.idle)-1] = nil
			hp.idle = hp.idle[:len(hp.idle)-1]
			wp.idleCount.Add(-1)
			return
		}
	}
}

// popAnyIdle takes an idle connection to any host the load balancer
// could pick (one it deems unhealthy is not used this way).
func (wp *workerPool) popAnyIdle() *upstreamConn {
	for _, h := range wp.set.hosts {
		if !h.slot(wp).eligible {
			continue
		}
		if cc := wp.popIdle(h); cc != nil {
			return cc
		}
	}
	return nil
}

// oldestIdle is the least recently used idle connection of any host (the
// bottom of a stack), or nil.
func (wp *workerPool) oldestIdle() *upstreamConn {
	var oldest *upstreamConn
	for _, h := range wp.set.hosts {
		if hp := h.slot(wp); len(hp.idle) > 0 {
			if cc := hp.idle[0]; oldest == nil || cc.idleSince.Before(oldest.idleSince) {
				oldest = cc
			}
		}
	}
	return oldest
}

// shedIdle runs when another worker has requests queued for want of a
// connection slot: an idle connection here is a slot that worker could
// use, so close the oldest one (which wakes the queue through
// releaseConn). Nothing happens if this worker has its own queue.
func (wp *workerPool) shedIdle() {
	wp.shedQueued.Store(false)
	if wp.pendingHead != nil || wp.c.stats.rqPendingActive.Load() == 0 {
		return
	}
	if cc := wp.oldestIdle(); cc != nil {
		cc.yieldSlot()
	} else if cc := wp.oldestIdleH2(); cc != nil {
		cc.yieldSlot()
	}
}

// useReserved dials, for queued streams, with the slots another worker
// handed over; a slot that finds the queue empty (the stream was reset or
// served meanwhile) is released for anyone.
func (wp *workerPool) useReserved() {
	for {
		n := wp.reserved.Load()
		if n <= 0 {
			return
		}
		if !wp.reserved.CompareAndSwap(n, n-1) {
			continue
		}
		if wp.pendingHead == nil {
			wp.c.releaseConn(wp)
			continue
		}
		wp.connectQueued(wp.dequeue())
	}
}

// shouldYieldSlot decides, for a connection that just became free, whether
// to close it so that another worker's queued request gets the slot: when
// every slot is taken and other workers have requests queued, a worker
// keeps at most its fair share (max_connections / workers, at least one)
// even if it has its own queue; without a queue it keeps none. Without
// this a busy worker would hold every slot for as long as its own queue
// never empties, and the other workers' requests would starve.
func (wp *workerPool) shouldYieldSlot() bool {
	c := wp.c
	if !c.atConnLimit() {
		return false
	}
	othersQueued := c.stats.rqPendingActive.Load() - int64(wp.pendingLen.Load())
	if othersQueued <= 0 {
		return false
	}
	if wp.pendingHead == nil {
		return true
	}
	return wp.conns > max(1, c.settings.MaxConnections/len(c.pools))
}

// shutdown (Manager.Close): close idle connections, stop idling.
func (wp *workerPool) shutdown() {
	wp.closed = true
	for cc := wp.oldestIdle(); cc != nil; cc = wp.oldestIdle() {
		cc.closeLocal()
	}
	for cc := wp.oldestIdleH2(); cc != nil; cc = wp.oldestIdleH2() {
		cc.closeLocal()
	}
}
