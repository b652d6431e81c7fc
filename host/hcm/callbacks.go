package hcm

import (
	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/network"
	"github.com/sluiceproxy/sluice/host/worker"
)

// filterCallbacks is the stream as one filter sees it. It remembers the
// stream generation it was made for, so a filter (or a module) that keeps it
// past the stream's end gets false instead of touching a recycled stream.
type filterCallbacks struct {
	s   *stream
	gen uint64
	idx int // decode index of the filter
}

var _ FilterCallbacks = (*filterCallbacks)(nil)

// live returns the stream if it is still the one this filter belongs to.
func (c *filterCallbacks) live() *stream {
	s := c.s
	if s == nil || s.gen != c.gen || s.destroyed {
		return nil
	}
	return s
}

// active is live and not yet ended.
func (c *filterCallbacks) active() *stream {
	s := c.live()
	if s == nil || s.ended {
		return nil
	}
	return s
}

func (c *filterCallbacks) Connection() *network.Connection {
	if s := c.live(); s != nil && s.conn != nil {
		return s.conn.nc
	}
	return nil
}

func (c *filterCallbacks) ConnID() uint64 {
	if s := c.live(); s != nil {
		return s.info.ConnID
	}
	return 0
}

func (c *filterCallbacks) StreamID() uint64 {
	if s := c.live(); s != nil {
		return s.info.StreamID
	}
	return 0
}

func (c *filterCallbacks) WorkerIndex() int {
	if s := c.live(); s != nil {
		return s.info.WorkerIndex
	}
	return -1
}

func (c *filterCallbacks) NewScheduler() Scheduler {
	s := c.active()
	if s == nil {
		return Scheduler{}
	}
	return Scheduler{s: s, gen: s.gen, w: s.conn.w}
}

// Scheduler runs functions on a stream's worker on behalf of other
// goroutines. Its fields are fixed when it is made on the worker, so using it
// elsewhere reads nothing that the worker writes; whether the stream still
// exists is checked on the worker, against the generation it was made for.
type Scheduler struct {
	s   *stream
	gen uint64
	w   *worker.Worker
}

// Schedule runs fn on the stream's worker unless the stream has ended by
// then, and reports whether fn was queued.
func (sc Scheduler) Schedule(fn func()) bool {
	if sc.w == nil {
		return false
	}
	s, gen := sc.s, sc.gen
	sc.w.Post(func() {
		if s.gen == gen && !s.destroyed && !s.ended {
			fn()
		}
	})
	return true
}

func (c *filterCallbacks) ContinueDecoding() bool {
	s := c.active()
	if s == nil {
		return false
	}
	s.enter()
	defer s.leave()
	return s.continueAt(&s.reqWalk, s.positionOf(&s.reqWalk, c.idx))
}

func (c *filterCallbacks) ContinueEncoding() bool {
	s := c.active()
	if s == nil || c.idx >= s.nEncode {
		return false
	}
	s.enter()
	defer s.leave()
	return s.continueAt(&s.respWalk, s.positionOf(&s.respWalk, c.idx))
}

func (c *filterCallbacks) SendLocalReply(status int, hdrs [][2]string, body []byte, details string) bool {
	s := c.active()
	if s == nil || status < 100 || status > 999 {
		return false
	}
	s.enter()
	defer s.leave()
	return s.sendLocalReply(c.idx, status, hdrs, body, details)
}

func (c *filterCallbacks) RequestHeaders() *headers.Map {
	if s := c.active(); s != nil {
		return s.reqHeaders
	}
	return nil
}

func (c *filterCallbacks) ResponseHeaders() *headers.Map {
	if s := c.active(); s != nil && s.respWalk.started {
		return &s.respHeaders
	}
	return nil
}

func (c *filterCallbacks) RequestTrailers() *headers.Map {
	if s := c.active(); s != nil {
		return s.reqTrailers
	}
	return nil
}

func (c *filterCallbacks) ResponseTrailers() *headers.Map {
	if s := c.active(); s != nil && s.respWalk.trailers != nil {
		return s.respWalk.trailers
	}
	return nil
}

func (c *filterCallbacks) AddRequestTrailers() *headers.Map {
	s := c.active()
	if s == nil || s.reqWalk.trailers != nil || s.requestDone && s.reqWalk.sinkDone {
		return nil
	}
	t := s.conn.acquireHeaders()
	s.reqTrailers = t
	s.reqWalk.trailers = t
	s.reqWalk.trailersAdded = s.positionOf(&s.reqWalk, c.idx)
	return t
}

func (c *filterCallbacks) AddResponseTrailers() *headers.Map {
	s := c.active()
	if s == nil || s.respWalk.trailers != nil || s.respWalk.sinkDone {
		return nil
	}
	s.respTrailers.Reset()
	s.respWalk.trailers = &s.respTrailers
	s.respWalk.trailersAdded = s.positionOf(&s.respWalk, c.idx)
	return &s.respTrailers
}

func (c *filterCallbacks) BufferedRequestBody() Buffer {
	if s := c.active(); s != nil && s.reqWalk.bufPos >= 0 {
		return &s.reqWalk.buf
	}
	return nil
}

func (c *filterCallbacks) BufferedResponseBody() Buffer {
	if s := c.active(); s != nil && s.respWalk.bufPos >= 0 {
		return &s.respWalk.buf
	}
	return nil
}

func (c *filterCallbacks) InjectDecodedData(p []byte, end bool) bool {
	s := c.active()
	if s == nil {
		return false
	}
	s.enter()
	defer s.leave()
	return s.injectData(&s.reqWalk, s.positionOf(&s.reqWalk, c.idx), p, end)
}

func (c *filterCallbacks) InjectEncodedData(p []byte, end bool) bool {
	s := c.active()
	if s == nil || c.idx >= s.nEncode {
		return false
	}
	s.enter()
	defer s.leave()
	return s.injectData(&s.respWalk, s.positionOf(&s.respWalk, c.idx), p, end)
}

func (c *filterCallbacks) AddDecodedData(p []byte) bool {
	s := c.active()
	return s != nil && s.addData(&s.reqWalk, s.positionOf(&s.reqWalk, c.idx), p)
}

func (c *filterCallbacks) AddEncodedData(p []byte) bool {
	s := c.active()
	return s != nil && c.idx < s.nEncode && s.addData(&s.respWalk, s.positionOf(&s.respWalk, c.idx), p)
}

func (c *filterCallbacks) ClearRouteCache() {
	if s := c.active(); s != nil {
		s.routeValid = false
	}
}

func (c *filterCallbacks) PerFilterConfig(filterName string) any {
	s := c.active()
	if s == nil {
		return nil
	}
	r := s.selectRoute()
	if r == nil {
		return nil
	}
	return r.PerFilterConfig(filterName)
}

func (c *filterCallbacks) Ended() bool { return c.active() == nil }

func (c *filterCallbacks) Info() *StreamInfo {
	if s := c.live(); s != nil {
		return &s.info
	}
	return nil
}
