package http1

type state uint8

const (
	stateHead       state = iota // idle, or inside a head
	stateEnd                     // message complete; EventEnd is next
	stateLength                  // Content-Length body
	stateChunkSize               // expecting a chunk-size line
	stateChunkData               // inside chunk data
	stateChunkCRLF               // expecting the CRLF after chunk data
	stateTrailers                // after the last chunk
	stateUntilClose              // response body delimited by close
	stateFailed                  // a rejection was returned
)

// Parser is an incremental HTTP/1.1 parser for one direction of one
// connection. It keeps no copy of the bytes: the caller owns the buffer and
// passes all unconsumed bytes to every Next call. It is reusable across
// messages and connections and allocates nothing per message once its field
// slices have grown.
type Parser struct {
	kind Kind
	lim  Limits

	state   state
	scan    sectionScan
	leading int   // empty lines skipped before the current request line
	remain  int64 // body bytes left in this message or chunk
	err     *Error

	head     Head
	fields   []Field
	body     []byte
	trailers []Field

	// For response parsers: what the outstanding request was.
	respToHead, respToConnect bool
}

// Init prepares p to parse messages of kind with the given limits (zero
// fields take the defaults). It may be called again to reuse p.
func (p *Parser) Init(kind Kind, lim Limits) {
	fields, trailers := p.fields[:0], p.trailers[:0]
	*p = Parser{kind: kind, lim: lim.withDefaults(), fields: fields, trailers: trailers}
}

// ExpectResponseTo tells a response parser, before each response, whether
// the request was HEAD: such a response has no body whatever it declares.
// It also clears the CONNECT flag.
func (p *Parser) ExpectResponseTo(headRequest bool) {
	p.respToHead, p.respToConnect = headRequest, false
}

// ExpectResponseToMethod is ExpectResponseTo from the request's method: it
// also notes CONNECT, whose 2xx response has no body (a tunnel follows).
func (p *Parser) ExpectResponseToMethod(method []byte) {
	p.respToHead = string(method) == "HEAD"
	p.respToConnect = string(method) == "CONNECT"
}

// Head is valid after EventHead until the caller consumes more bytes.
func (p *Parser) Head() *Head { return &p.head }

// Body is the body view of the last EventBody.
func (p *Parser) Body() []byte { return p.body }

// Trailers are valid after EventTrailers.
func (p *Parser) Trailers() []Field { return p.trailers }

// Idle reports whether p is between messages with nothing partially parsed.
func (p *Parser) Idle() bool { return p.state == stateHead && p.scan.pos == 0 }

// Next parses from buf, which must hold every byte not yet consumed, and
// returns the next event and how many bytes of buf it consumed (possibly
// some even with EventNeedMore). Call it until it returns EventNeedMore:
// EventEnd, for instance, follows a head without a body in a call of its
// own. Views returned by Head, Body and Trailers point into buf and stay
// valid until the caller discards or overwrites those bytes. After a
// non-nil error the message cannot be trusted: a server answers
// Error.Status and closes; Next keeps returning the same error.
func (p *Parser) Next(buf []byte) (Event, int, error) {
	if p.state == stateFailed {
		return EventNeedMore, 0, p.err
	}
	ev, n, err := p.next(buf)
	if err != nil {
		p.state, p.err = stateFailed, err
		return EventNeedMore, 0, err
	}
	return ev, n, nil
}

func (p *Parser) next(buf []byte) (Event, int, *Error) {
	off := 0
	for {
		rest := buf[off:]
		switch p.state {
		case stateHead:
			if p.scan.pos == 0 && p.kind == Request {
				skipped, err := p.skipLeadingEmptyLines(rest)
				if err != nil {
					return 0, 0, err
				}
				off += skipped
				rest = buf[off:]
				if len(rest) == 1 && rest[0] == '\r' {
					return EventNeedMore, off, nil // maybe another empty line
				}
			}
			if len(rest) == 0 {
				return EventNeedMore, off, nil
			}
			end, err := p.scanSection(rest, true)
			if err != nil || end == 0 {
				return EventNeedMore, off, err
			}
			if err := p.parseHead(rest[:end]); err != nil {
				return 0, 0, err
			}
			p.scan.reset()
			p.leading = 0
			p.startBody()
			return EventHead, off + end, nil

		case stateEnd:
			p.finishMessage()
			return EventEnd, off, nil

		case stateLength, stateChunkData, stateUntilClose:
			if len(rest) == 0 {
				return EventNeedMore, off, nil
			}
			n := len(rest)
			if p.state != stateUntilClose && int64(n) > p.remain {
				n = int(p.remain)
			}
			p.body = rest[:n]
			if p.state != stateUntilClose {
				p.remain -= int64(n)
				if p.remain == 0 {
					if p.state == stateLength {
						p.state = stateEnd
					} else {
						p.state = stateChunkCRLF
					}
				}
			}
			return EventBody, off + n, nil

		case stateChunkSize:
			n, err := p.chunkSizeLine(rest)
			if err != nil || n == 0 {
				return EventNeedMore, off, err
			}
			off += n

		case stateChunkCRLF:
			n, err := chunkDataEnd(rest)
			if err != nil || n == 0 {
				return EventNeedMore, off, err
			}
			off += n
			p.state = stateChunkSize

		case stateTrailers:
			ev, n, err := p.trailerSection(rest)
			return ev, off + n, err
		}
	}
}

// skipLeadingEmptyLines drops the CRLFs RFC 9112 2.2 lets a server ignore
// before a request line.
func (p *Parser) skipLeadingEmptyLines(b []byte) (int, *Error) {
	n := 0
	for len(b)-n >= 1 {
		switch {
		case b[n] == '\n':
			return 0, ErrBareLF
		case b[n] != '\r':
			return n, nil
		case len(b)-n < 2:
			return n, nil // a lone CR: wait for what follows
		case b[n+1] != '\n':
			return n, nil // not an empty line; the request line will fail
		}
		p.leading++
		if p.leading > maxLeadingEmptyLines {
			return 0, ErrTooManyEmptyLines
		}
		n += 2
	}
	return n, nil
}

// startBody picks the state after a head from its framing.
func (p *Parser) startBody() {
	h := &p.head
	switch h.Body {
	case BodyLength:
		p.remain = h.ContentLength
		if p.remain == 0 {
			p.state = stateEnd
		} else {
			p.state = stateLength
		}
	case BodyChunked:
		p.state = stateChunkSize
	case BodyUntilClose:
		p.state = stateUntilClose
	default:
		p.state = stateEnd
	}
}

// finishMessage returns p to idle. A response parser keeps its HEAD/CONNECT
// expectation across 1xx responses: the final response is still to come.
func (p *Parser) finishMessage() {
	if p.kind == Response && p.head.Status >= 200 {
		p.respToHead, p.respToConnect = false, false
	}
	p.state = stateHead
	p.scan.reset()
	p.leading = 0
	p.body = nil
}

// EOF tells p the peer closed. It completes a body delimited by close
// (EventEnd), is quiet between messages (EventNeedMore, nil) and otherwise
// returns ErrTruncated. Call it after Next has consumed what it could.
func (p *Parser) EOF() (Event, error) {
	switch p.state {
	case stateFailed:
		return EventNeedMore, p.err
	case stateUntilClose, stateEnd:
		p.finishMessage()
		return EventEnd, nil
	case stateHead:
		if p.scan.pos == 0 {
			return EventNeedMore, nil
		}
	}
	p.state, p.err = stateFailed, ErrTruncated
	return EventNeedMore, ErrTruncated
}
