package cluster

import (
	"github.com/sluiceproxy/sluice/host/http1"
)

// readResponse feeds the connection's input to the response parser and
// turns parser events into handler calls. After every handler call it
// checks that the exchange still exists: the handler may have reset the
// stream (closing this connection) or paused the response.
func (cc *upstreamConn) readResponse() {
	s := cc.stream
	if s == nil || s.paused {
		return
	}
	c := cc.conn
	buf := c.Input()
	if len(buf) > 0 {
		cc.respBytes = true
	}
	gen := s.gen
	off := 0
	for {
		ev, n, err := cc.parser.Next(buf[off:])
		off += n
		if err != nil {
			if err == http1.ErrHeadersTooLarge {
				err = &HeadersTooLargeError{Limit: cc.wp.c.settings.MaxResponseHeaderBytes}
			}
			cc.terminate(ProtocolError, err, true)
			return
		}
		switch ev {
		case http1.EventNeedMore:
			c.Consume(off)
			if c.ReadEOF() {
				cc.readEOF()
			}
			return
		case http1.EventHead:
			if uh, ok := s.h.(UpgradeHandler); ok && s.upgrade && s.reqDone && cc.parser.Head().Status == 101 {
				cc.upgrade(s, uh, off)
				return
			}
			if !cc.onHead(s) {
				return
			}
		case http1.EventBody:
			cc.onBody(s)
		case http1.EventTrailers:
			cc.trailers.Reset()
			for _, f := range cc.parser.Trailers() {
				cc.trailers.Add(f.Name, f.Value)
			}
		case http1.EventEnd:
			if cc.in1xx {
				cc.in1xx = false
				cc.parser.ExpectResponseTo(s.isHead)
				break
			}
			c.Consume(off)
			cc.endResponse(s)
			return
		}
		if cc.state != ccBusy || cc.stream != s || s.gen != gen {
			return // reset from inside a callback; the connection is gone
		}
		if s.paused && !s.respDone {
			c.Consume(off)
			return
		}
	}
}

// onHead delivers a response head; false means the exchange ended.
func (cc *upstreamConn) onHead(s *Stream) bool {
	head := cc.parser.Head()
	if head.Status < 200 {
		if head.Status == 101 {
			cc.terminate(ProtocolError, ErrUnexpected101, true)
			return false
		}
		cc.in1xx = true
		if ih, ok := s.h.(InformationalHandler); ok {
			cc.resp.Reset()
			http1.HeadToMap(head, http1.Response, "", &cc.resp)
			ih.OnResponse1xx(&cc.resp)
		}
		return true
	}
	cc.keepAlive = head.KeepAlive
	cc.wp.reportStatus(cc.host, head.Status)
	end := s.isHead
	switch head.Body {
	case http1.BodyNone:
		end = true
	case http1.BodyLength:
		cc.bodyLeft = head.ContentLength
		end = end || head.ContentLength == 0
	}
	cc.resp.Reset()
	http1.HeadToMap(head, http1.Response, "", &cc.resp)
	s.respDone = end
	s.h.OnResponseHeaders(&cc.resp, end)
	return true
}

// onBody delivers body bytes; with Content-Length the last bytes carry
// endStream so the handler need not wait for another event.
func (cc *upstreamConn) onBody(s *Stream) {
	p := cc.parser.Body()
	end := false
	if cc.bodyLeft >= 0 {
		cc.bodyLeft -= int64(len(p))
		end = cc.bodyLeft <= 0
	}
	if len(p) == 0 && !end {
		return
	}
	s.respDone = end
	s.h.OnResponseData(p, end)
}

// endResponse finishes the exchange once the parser saw the whole
// response: delivers the end if no earlier event carried it, then reuses
// or closes the connection.
func (cc *upstreamConn) endResponse(s *Stream) {
	gen := s.gen
	if !s.respDone {
		s.respDone = true
		if cc.trailers.Len() > 0 {
			s.h.OnResponseTrailers(&cc.trailers)
		} else {
			s.h.OnResponseData(nil, true)
		}
		if cc.state != ccBusy || cc.stream != s || s.gen != gen {
			return
		}
	}
	wp := cc.wp
	wp.hot.rqCompleted.Add(1)
	max := wp.c.settings.MaxRequestsPerConnection
	maxed := max > 0 && cc.requests >= max
	c := cc.conn
	reuse := cc.keepAlive && s.reqDone && !s.closeAfter && !maxed &&
		!c.ReadEOF() && len(c.Input()) == 0
	cc.detach()
	if reuse {
		cc.release()
		return
	}
	if maxed {
		wp.c.stats.cxMaxRequests.Add(1)
	}
	cc.closeLocal()
}

// readEOF handles the upstream's EOF once all input was parsed.
func (cc *upstreamConn) readEOF() {
	s := cc.stream
	ev, err := cc.parser.EOF()
	if err == nil && ev == http1.EventEnd { // body delimited by close
		cc.keepAlive = false
		cc.endResponse(s)
		return
	}
	if cc.tryRetry(s) {
		return
	}
	if err == nil {
		err = ErrUpstreamClosed
	}
	cc.terminate(ConnectionTermination, err, false)
}
