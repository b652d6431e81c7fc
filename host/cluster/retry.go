package cluster

// The stale-connection retry (see doc.go): a kept-alive connection that
// dies before answering gets its request re-sent once on a fresh
// connection to the same endpoint. The request bytes were recorded in the
// connection's replay buffer while they went out (Stream.write).

// tryRetry re-sends the stream's request on a fresh connection when this
// kept-alive connection died before any response byte: the race where the
// upstream closes an idle connection just as a request is written to it.
// Only once, only for a fully sent replayable request that fitted the
// replay buffer, and never when any response byte arrived.
func (cc *upstreamConn) tryRetry(s *Stream) bool {
	if s.retried || !cc.reused || cc.respBytes || !s.reqDone || !s.record {
		return false
	}
	wp := cc.wp
	s.retried = true
	s.record = false
	wp.c.stats.rqRetryStale.Add(1)
	cc.stream = nil
	cc.teardown(false, true)
	s.state = stRetrying
	fresh := newUpstreamConn(wp, cc.host)
	fresh.replay, cc.replay = cc.replay, nil
	fresh.stream = s
	s.cc = fresh
	fresh.dial()
	return true
}

// resend replays a request that was lost to a stale connection on this
// fresh one. The handler never notices.
func (cc *upstreamConn) resend(s *Stream) {
	cc.begin(s)
	cc.parser.ExpectResponseTo(s.isHead)
	cc.wrote = true
	cc.conn.Write(cc.replay)
	cc.replay = cc.replay[:0]
}
