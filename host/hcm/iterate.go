package hcm

import (
	"github.com/sluiceproxy/sluice/host/headers"
)

// iteration is one direction's walk through the filter chain: requests
// (decode) go through filters first to last, responses (encode) through the
// non-terminal filters last to first. It tracks where headers, body and
// trailers are held so a stopped filter can resume the walk with Envoy's
// continue semantics.
//
// Positions are indices in walk order; pos(n) is the sink (the codec for
// responses; nothing for requests, since the router is a filter and always
// stops the walk itself).
type iteration struct {
	encode  bool
	n       int // number of positions
	first   int // first position of this walk (local replies skip filters that never saw the request)
	started bool
	// hdrPos: positions below it have passed headers. When < n, the filter
	// at hdrPos has seen the headers and stopped.
	hdrPos  int
	stopAll bool // the stop at hdrPos was StopAllIteration*
	// watermark: the stopping status asked for flow control instead of a
	// failure when the buffer limit is passed.
	watermark bool
	// end: the source has delivered end of stream (last data or trailers).
	end bool
	// held body: bufPos is the position holding it (-1 none); bufSeen says
	// whether that filter has already seen the bytes (it returned
	// StopIterationAndBuffer) or not (it is stopped on headers with StopAll).
	buf     bodyBuffer
	bufPos  int
	bufSeen bool
	// cur carries a chunk that is not held anywhere yet.
	cur bodyBuffer
	// trailers, once arrived; trailersPos is where they wait (-1 not waiting).
	trailers    *headers.Map
	trailersPos int
	// trailersAdded is the position of a filter that created trailers
	// during its last data hook (-1 none); they walk on from there.
	trailersAdded int
	// sinkDone: end of stream has reached the sink.
	sinkDone     bool
	readDisabled bool
	// epoch changes whenever the walk is restarted or abandoned (a local
	// reply), so a loop that called into a filter knows to stop.
	epoch uint32
	// hookPos is the position whose hook is running (-1 none); a
	// continue from inside that hook becomes its return status.
	hookPos     int
	contPending bool
	// endHeldBy is the position of a filter that returned
	// ContinueAndDontEndStream on headers that ended the stream (-1 none):
	// later filters saw end_stream=false, and the end comes with that
	// filter's injected data.
	endHeldBy int
	// inj carries data a filter injects; injecting marks the walk in
	// progress.
	inj       bodyBuffer
	injecting bool
}

func (it *iteration) reset(encode bool, n, first int) {
	it.epoch++
	it.hookPos, it.contPending = -1, false
	it.encode = encode
	it.n = n
	it.first = first
	it.started = false
	it.hdrPos = first
	it.stopAll = false
	it.watermark = false
	it.end = false
	it.buf.Reset()
	it.bufPos = -1
	it.bufSeen = false
	it.cur.Reset()
	it.trailers = nil
	it.trailersPos = -1
	it.trailersAdded = -1
	it.sinkDone = false
	it.readDisabled = false
	it.endHeldBy = -1
	it.inj.Reset()
	it.injecting = false
}

// filterAt maps a walk position to a filter index.
func (s *stream) filterAt(it *iteration, pos int) int {
	if it.encode {
		return s.nEncode - 1 - pos
	}
	return pos
}

// positionOf maps a filter index to its walk position in it.
func (s *stream) positionOf(it *iteration, filter int) int {
	if it.encode {
		return s.nEncode - 1 - filter
	}
	return filter
}

// endAfterHeaders is the end_stream flag headers carry when resumed: the
// stream ends with them only if the source ended and nothing follows.
func endAfterHeaders(it *iteration) bool {
	return it.end && it.bufPos < 0 && it.cur.Len() == 0 && it.trailers == nil
}

// runHeaders passes headers through positions from pos on with the given
// end_stream flag. It returns true when they reached the sink.
func (s *stream) runHeaders(it *iteration, pos int, end bool) bool {
	h := s.headersFor(it)
	ep := it.epoch
	for ; pos < it.n; pos++ {
		st := s.callHeaders(it, pos, h, end)
		if s.ended || it.epoch != ep {
			return false
		}
		switch st {
		case HeadersContinue, HeadersContinueAndDontEndStream:
			if st == HeadersContinueAndDontEndStream && end {
				// The filter will add the body: the stream ends with the
				// data it injects, not here.
				end = false
				it.endHeldBy = pos
			}
			continue
		case HeadersStopIteration:
			it.hdrPos, it.stopAll, it.watermark = pos, false, false
			return false
		case HeadersStopAllIterationAndBuffer, HeadersStopAllIterationAndWatermark:
			it.hdrPos, it.stopAll = pos, true
			it.watermark = st == HeadersStopAllIterationAndWatermark
			return false
		default:
			s.filterFailure(s.filterAt(it, pos), "invalid headers status")
			return false
		}
	}
	it.hdrPos = it.n
	if end {
		it.sinkDone = true
	}
	s.sinkHeaders(it, h, end)
	return true
}

// runData walks a chunk (it.cur, or the held buffer when fromHeld) from pos.
func (s *stream) runData(it *iteration, pos int, fromHeld bool, end bool) {
	data := &it.cur
	if fromHeld {
		data = &it.buf
	}
	s.runChunk(it, pos, data, end)
}

// runChunk walks data (it.cur, it.buf or it.inj) from pos.
func (s *stream) runChunk(it *iteration, pos int, data *bodyBuffer, end bool) {
	ep := it.epoch
	for ; pos < it.n; pos++ {
		if pos > it.hdrPos || (pos == it.hdrPos && it.stopAll) {
			// This filter has not passed headers on (or asked to see
			// nothing until it continues): hold the body here.
			s.hold(it, it.hdrPos, data, false)
			return
		}
		// As in Envoy, a filter holding a buffered body gets only the new
		// chunk as data; what it buffered earlier is its Buffered*Body.
		heldHere := it.bufPos == pos && data != &it.buf
		st := s.callData(it, pos, data, end && it.trailers == nil)
		if s.ended || it.epoch != ep {
			return
		}
		switch st {
		case DataContinue:
			if heldHere {
				it.buf.Append(data.Bytes())
				data.Reset()
				data = &it.buf
			}
			if data == &it.buf {
				it.bufPos, it.bufSeen = -1, false
			}
			if pos == it.hdrPos {
				// Continue from the data hook resumes the headers this
				// filter had stopped, then the data follows them.
				it.stopAll = false
				if !s.runHeaders(it, pos+1, false) && (s.ended || it.epoch != ep) {
					return
				}
			}
			continue
		case DataStopIterationAndBuffer, DataStopIterationAndWatermark:
			it.watermark = st == DataStopIterationAndWatermark
			s.hold(it, pos, data, true)
			return
		case DataStopIterationNoBuffer:
			data.Reset()
			if data == &it.buf {
				it.bufPos, it.bufSeen = -1, false
			}
			return
		default:
			s.filterFailure(s.filterAt(it, pos), "invalid body status")
			return
		}
	}
	if end && it.trailers == nil {
		it.sinkDone = true
	}
	s.sinkData(it, data.Bytes(), end && it.trailers == nil)
	data.Reset()
	if data == &it.buf {
		it.bufPos, it.bufSeen = -1, false
	}
	if end && it.trailersAdded >= 0 && !s.ended {
		from := it.trailersAdded + 1
		it.trailersAdded = -1
		s.runTrailers(it, from)
	}
}

// hold keeps data at pos, enforcing the buffer limit.
func (s *stream) hold(it *iteration, pos int, data *bodyBuffer, seen bool) {
	if data != &it.buf {
		it.buf.Append(data.Bytes())
		data.Reset()
	}
	it.bufPos, it.bufSeen = pos, seen
	if it.trailersAdded >= 0 && it.trailersPos < 0 {
		it.trailersAdded = -1
		it.trailersPos = pos
	}
	limit := s.cfg.BufferLimit
	if limit <= 0 || it.buf.Len() <= limit {
		return
	}
	if it.watermark {
		if !it.readDisabled {
			it.readDisabled = true
			s.sourceReadDisable(it, true)
		}
		return
	}
	s.bufferOverflow(it)
}

// runTrailers walks trailers from pos.
func (s *stream) runTrailers(it *iteration, pos int) {
	ep := it.epoch
	for ; pos < it.n; pos++ {
		if pos > it.hdrPos || (pos == it.hdrPos && it.stopAll) {
			it.trailersPos = it.hdrPos
			return
		}
		if it.bufPos >= 0 && it.bufPos < pos {
			it.trailersPos = it.bufPos
			return
		}
		st := s.callTrailers(it, pos, it.trailers)
		if s.ended || it.epoch != ep {
			return
		}
		if st == TrailersStopIteration {
			it.trailersPos = pos
			return
		}
		if st != TrailersContinue {
			s.filterFailure(s.filterAt(it, pos), "invalid trailers status")
			return
		}
		if pos == it.hdrPos {
			// As with data, Continue from the trailers hook of a filter
			// that stopped its headers resumes everything held there.
			it.trailersPos = pos
			s.continueAt(it, pos)
			return
		}
		if it.bufPos == pos {
			// The filter buffered the body waiting for the end; trailers
			// told it, and it continued: the body goes on first.
			s.runData(it, pos+1, true, false)
			if s.ended || it.epoch != ep {
				return
			}
			if it.bufPos >= 0 {
				it.trailersPos = it.bufPos
				return
			}
		}
	}
	it.trailersPos = -1
	it.sinkDone = true
	s.sinkTrailers(it, it.trailers)
}

// onHeaders starts a walk with headers from the source.
func (s *stream) onHeaders(it *iteration, end bool) {
	it.started = true
	it.end = end
	s.runHeaders(it, it.first, end)
}

// onData feeds a chunk from the source into the walk.
func (s *stream) onData(it *iteration, p []byte, end bool) {
	if end {
		it.end = true
	}
	it.cur.set(p)
	s.runData(it, it.first, false, end)
}

// onTrailers feeds trailers from the source into the walk.
func (s *stream) onTrailers(it *iteration, t *headers.Map) {
	it.end = true
	it.trailers = t
	// A body held somewhere learns that the stream ended through the
	// trailers hook of the filter holding it (runTrailers handles that).
	s.runTrailers(it, it.first)
}

// continueAt resumes the walk stopped at the filter at walk position pos.
func (s *stream) continueAt(it *iteration, pos int) bool {
	if !it.started || s.ended || it.sinkDone {
		return false
	}
	if it.hookPos == pos {
		// Called from inside the filter's own hook: the hook's stop
		// becomes a continue when it returns.
		it.contPending = true
		return true
	}
	fromCurrent := (it.hdrPos == pos && it.stopAll) || (it.bufPos == pos && !it.bufSeen)
	if it.hdrPos == pos {
		it.stopAll = false
		s.runHeaders(it, pos+1, endAfterHeaders(it))
		if s.ended {
			return true
		}
	}
	if it.bufPos == pos {
		start := pos + 1
		if fromCurrent {
			start = pos
		}
		it.bufPos = -1
		if it.readDisabled {
			it.readDisabled = false
			s.sourceReadDisable(it, false)
		}
		s.runData(it, start, true, it.end)
		if s.ended {
			return true
		}
	}
	if it.trailers != nil && it.trailersPos == pos {
		start := pos + 1
		if fromCurrent {
			start = pos
		}
		it.trailersPos = -1
		s.runTrailers(it, start)
	}
	return true
}

// injectData passes p from the filter at walk position pos to the filters
// after it, as if it had arrived there (Envoy's inject*DataToFilterChain);
// end ends the stream in that direction. The filter must have passed the
// headers on; used after ContinueAndDontEndStream, or by a filter that
// returns StopIterationNoBuffer and forwards data at its own pace.
func (s *stream) injectData(it *iteration, pos int, p []byte, end bool) bool {
	if !it.started || s.ended || it.sinkDone || it.injecting || it.hdrPos <= pos {
		return false
	}
	if end && it.trailers != nil {
		end = false // trailers end the stream
	}
	if it.endHeldBy == pos && end {
		it.endHeldBy = -1
	}
	if end {
		it.end = true
	}
	it.injecting = true
	it.inj.Reset()
	it.inj.Append(p)
	s.runChunk(it, pos+1, &it.inj, end)
	it.injecting = false
	it.inj.Reset()
	return true
}

// addData appends p to the body the filter at pos holds (Envoy's
// add*Data): creating the held body when the filter stopped the headers
// and none was buffered yet, so a filter can give a body to a request or
// response that had none, then continue.
func (s *stream) addData(it *iteration, pos int, p []byte) bool {
	if !it.started || s.ended || it.sinkDone {
		return false
	}
	switch {
	case it.bufPos == pos:
	case it.bufPos < 0 && it.hdrPos == pos:
		it.bufPos, it.bufSeen = pos, true
	default:
		return false
	}
	it.buf.Append(p)
	return true
}
