package cluster

// The HTTP/2 side of a worker pool. Streams share connections: a stream
// goes to a connection to the picked endpoint that has room (up to
// min(max_concurrent_streams, the peer's limit) streams, counting those
// waiting for the connection's SETTINGS); else to a new connection if
// max_connections allows; else to any connection with room; else to the
// worker's pending queue, served as streams end.

// assignH2 is assign for an HTTP/2 cluster, to the picked host i.
func (wp *workerPool) assignH2(s *Stream, i *Host) {
	c := wp.c
	if cc := wp.h2WithRoom(i); cc != nil {
		cc.take(s)
		return
	}
	if c.tryAcquireConn() {
		wp.connectH2(i, s)
		return
	}
	c.stats.cxOverflow.Add(1)
	if cc := wp.h2AnyWithRoom(); cc != nil {
		cc.take(s)
		return
	}
	wp.queue(s)
}

// connectH2 opens a connection to host i for s; the caller holds the slot.
// Streams still queued on this worker come along, up to the connection's
// limit: one slot serves many streams.
func (wp *workerPool) connectH2(i *Host, s *Stream) {
	cc := newH2Conn(wp, i)
	cc.take(s)
	cc.fill()
	cc.dial()
}

// reassignH2 finds another connection for a stream that lost its place
// (retry after GOAWAY/REFUSED_STREAM, or a connection whose peer allows
// fewer streams than were waiting). A retry that finds no capacity at
// once is reset rather than queued: its handler already saw OnPoolReady.
func (wp *workerPool) reassignH2(s *Stream) {
	if s.state != stRetrying {
		s.state = stNew
		wp.assign(s)
		return
	}
	c := wp.c
	i := wp.pickFor(s.h)
	if i == nil {
		c.stats.rqRxReset.Add(1)
		s.resetRetry(ErrNoHealthyUpstream)
		return
	}
	if cc := wp.h2WithRoom(i); cc != nil {
		cc.take(s)
		return
	}
	if cc := wp.h2AnyWithRoom(); cc != nil {
		cc.take(s)
		return
	}
	if c.tryAcquireConn() {
		wp.connectH2(i, s)
		return
	}
	c.stats.rqRxReset.Add(1)
	s.resetRetry(ErrOverflow)
}

func (wp *workerPool) h2WithRoom(i *Host) *h2Conn {
	for _, cc := range i.slot(wp).h2 {
		if cc.hasRoom() {
			return cc
		}
	}
	return nil
}

func (wp *workerPool) h2AnyWithRoom() *h2Conn {
	for _, i := range wp.set.hosts {
		if !i.slot(wp).eligible {
			continue
		}
		if cc := wp.h2WithRoom(i); cc != nil {
			return cc
		}
	}
	return nil
}

// servePendingH2 hands capacity to queued streams, oldest first: room on
// an existing connection, else a new connection within max_connections.
func (wp *workerPool) servePendingH2() {
	for wp.pendingHead != nil {
		if cc := wp.h2AnyWithRoom(); cc != nil {
			cc.take(wp.dequeue())
			continue
		}
		if !wp.c.tryAcquireConn() {
			return
		}
		wp.connectQueued(wp.dequeue())
	}
}

// oldestIdleH2 is an idle HTTP/2 connection (no streams), or nil.
func (wp *workerPool) oldestIdleH2() *h2Conn {
	for _, h := range wp.set.hosts {
		for _, cc := range h.slot(wp).h2 {
			if cc.idle {
				return cc
			}
		}
	}
	return nil
}
