package http2

import (
	"errors"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/sluiceproxy/sluice/host/headers"
)

// blockKind says what a header block being received will become.
type blockKind uint8

const (
	blockNone     blockKind = iota
	blockRequest            // opens a new request stream
	blockTrailers           // ends an open stream
	blockDiscard            // decoded only to keep HPACK state, then answered by action
)

// blockAction is what happens to a discarded block once it is decoded.
type blockAction uint8

const (
	actionIgnore blockAction = iota
	actionReset              // RST_STREAM(code)
	actionRefuse             // RST_STREAM(REFUSED_STREAM), counted as refused
)

// Pseudo-header bits for duplicate and presence checks.
const (
	pseudoMethod = 1 << iota
	pseudoPath
	pseudoAuthority
	pseudoScheme
)

// headerBlock accumulates one HEADERS + CONTINUATION sequence. HPACK
// fragments are decoded as they arrive, so only the decoded fields (bounded
// by MaxHeaderListSize) are held, never the compressed block.
type headerBlock struct {
	kind          blockKind
	action        blockAction
	code          http2.ErrCode
	streamID      uint32
	endStream     bool
	frames        int
	wireBytes     int
	listSize      int
	tooLarge      bool
	malformed     bool
	sawRegular    bool
	pseudo        uint8
	contentLength int64
	h             *headers.Map
	cookie        []byte
	host          []byte
	sawHost       bool
}

func (b *headerBlock) reset() {
	cookie, host := b.cookie[:0], b.host[:0]
	*b = headerBlock{contentLength: -1, cookie: cookie, host: host}
}

func (b *headerBlock) discard(action blockAction, code http2.ErrCode) {
	b.kind, b.action, b.code = blockDiscard, action, code
}

func (c *ServerCodec) onHeaders(f *http2.HeadersFrame) {
	c.applyHeaders(f.StreamID, f.Flags, f.Priority.StreamDep, f.HeaderBlockFragment())
}

// applyHeaders starts a header block: a request, trailers, or one to
// discard. prioDep is the PRIORITY dependency when flags carry it.
func (c *ServerCodec) applyHeaders(id uint32, flags http2.Flags, prioDep uint32, frag []byte) {
	if id%2 == 0 {
		c.connError(http2.ErrCodeProtocol, "HEADERS on an even stream id")
		return
	}
	b := &c.block
	b.reset()
	b.streamID = id
	b.endStream = flags.Has(http2.FlagHeadersEndStream)
	if s := c.findStream(id); s != nil {
		switch {
		case s.remoteClosed:
			b.discard(actionReset, http2.ErrCodeStreamClosed)
		case !b.endStream:
			// Trailers must end the stream (RFC 9113 8.1).
			b.discard(actionReset, http2.ErrCodeProtocol)
		default:
			b.kind = blockTrailers
			b.h = c.newHeaderMap()
		}
	} else if id <= c.maxClientID {
		c.connError(http2.ErrCodeStreamClosed, "HEADERS on a closed stream")
		return
	} else {
		c.maxClientID = id
		if !c.goAwaySent {
			c.lastGoodID = id
		}
		switch {
		case c.goAwaySent:
			b.discard(actionIgnore, 0)
		case len(c.streams) >= int(c.opts.MaxConcurrentStreams):
			b.discard(actionRefuse, http2.ErrCodeRefusedStream)
		default:
			b.kind = blockRequest
			b.h = c.newHeaderMap()
		}
	}
	if flags.Has(http2.FlagHeadersPriority) && prioDep == id {
		b.discard(actionReset, http2.ErrCodeProtocol)
	}
	c.hdec.SetEmitEnabled(b.kind != blockDiscard)
	c.feedBlock(frag, flags.Has(http2.FlagHeadersEndHeaders))
}

func (c *ServerCodec) onContinuation(f *http2.ContinuationFrame) {
	// The Framer already enforced that CONTINUATION follows an unfinished
	// block on the same stream.
	c.feedBlock(f.HeaderBlockFragment(), f.HeadersEnded())
}

// feedBlock decodes one fragment, after checking the caps that stop a
// CONTINUATION flood (CVE-2024-27316) before any more work is done.
func (c *ServerCodec) feedBlock(frag []byte, end bool) {
	b := &c.block
	b.frames++
	b.wireBytes += len(frag)
	if b.frames > c.opts.MaxHeaderBlockFrames || b.wireBytes > c.opts.maxHeaderBlockBytes() {
		c.stats.HeaderBlockTooLarge++
		c.connError(http2.ErrCodeEnhanceYourCalm, "header block too large")
		return
	}
	if _, err := c.hdec.Write(frag); err != nil {
		c.onDecodeError(err)
		return
	}
	if !end {
		return
	}
	if err := c.hdec.Close(); err != nil {
		c.onDecodeError(err)
		return
	}
	c.finishBlock()
}

func (c *ServerCodec) onDecodeError(err error) {
	if errors.Is(err, hpack.ErrStringLength) {
		// One field longer than the whole list limit: HPACK state is lost
		// mid-field, so the connection cannot continue.
		c.stats.HeaderListTooLarge++
		c.connError(http2.ErrCodeEnhanceYourCalm, "header field too large")
		return
	}
	c.connError(http2.ErrCodeCompression, "HPACK: "+err.Error())
}

// onHeaderField is the HPACK decoder's emit function.
func (c *ServerCodec) onHeaderField(hf hpack.HeaderField) {
	b := &c.block
	b.listSize += len(hf.Name) + len(hf.Value) + 32
	if b.listSize > int(c.opts.MaxHeaderListSize) {
		// HPACK bomb or just too big: keep decoding for state, drop fields.
		b.tooLarge = true
		c.hdec.SetEmitEnabled(false)
		return
	}
	if b.malformed {
		return
	}
	if !c.validField(b, hf.Name, hf.Value) {
		b.malformed = true
	}
}

// validField checks one field against RFC 9113 8.2 and 8.3 and stores it.
func (c *ServerCodec) validField(b *headerBlock, name, value string) bool {
	if name == "" || hasUpper(name) {
		return false
	}
	if name[0] == ':' {
		if b.sawRegular || b.kind == blockTrailers {
			return false
		}
		bit := pseudoBit(name)
		if bit == 0 || b.pseudo&bit != 0 {
			return false
		}
		if !validPseudoValue(bit, value) {
			return false
		}
		b.pseudo |= bit
		b.h.AddString(name, value)
		return true
	}
	b.sawRegular = true
	if !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(value) {
		return false
	}
	switch name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		return false
	case "te":
		if value != "trailers" {
			return false
		}
	case "content-length":
		if b.kind == blockRequest {
			n, ok := parseContentLength(value)
			if !ok || (b.contentLength >= 0 && b.contentLength != n) {
				return false
			}
			b.contentLength = n
		}
	case "host":
		if b.kind == blockRequest {
			// Like the HTTP/1 codec, keep the authority in :authority only:
			// Host fills it when absent and is dropped either way, so one
			// value is routed on and sent upstream.
			if b.sawHost {
				return false
			}
			b.sawHost = true
			b.host = append(b.host, value...)
			return true
		}
	case "cookie":
		if b.kind == blockRequest {
			// Crumbs are joined into one field (RFC 9113 8.2.3), as Envoy does.
			if len(b.cookie) > 0 {
				b.cookie = append(b.cookie, "; "...)
			}
			b.cookie = append(b.cookie, value...)
			return true
		}
	}
	b.h.AddString(name, value)
	return true
}

// validPseudoValue checks a request pseudo-header's value. They end up in an
// HTTP/1 request line and Host field upstream, so nothing that could split
// or bend those lines gets through.
func validPseudoValue(bit uint8, v string) bool {
	switch bit {
	case pseudoMethod:
		return httpguts.ValidHeaderFieldName(v) // a token
	case pseudoScheme:
		return validScheme(v)
	case pseudoAuthority:
		return v != "" && httpguts.ValidHostHeader(v)
	case pseudoPath:
		if v == "" {
			return false
		}
		for i := 0; i < len(v); i++ {
			if v[i] <= ' ' || v[i] == 0x7f {
				return false
			}
		}
		return true
	}
	return false
}

// validScheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 3.1).
func validScheme(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i] | 0x20
		switch {
		case 'a' <= c && c <= 'z':
		case i > 0 && ('0' <= v[i] && v[i] <= '9' || v[i] == '+' || v[i] == '-' || v[i] == '.'):
		default:
			return false
		}
	}
	return true
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

func pseudoBit(name string) uint8 {
	switch name {
	case ":method":
		return pseudoMethod
	case ":path":
		return pseudoPath
	case ":authority":
		return pseudoAuthority
	case ":scheme":
		return pseudoScheme
	}
	return 0
}

func parseContentLength(v string) (int64, bool) {
	if v == "" || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(v[i]-'0')
	}
	return n, true
}

// requestPseudoOK checks presence rules (RFC 9113 8.3.1): CONNECT carries
// :authority only; everything else needs :method, :scheme and :path.
func requestPseudoOK(b *headerBlock) bool {
	if b.pseudo&pseudoMethod == 0 {
		return false
	}
	m, _ := b.h.Get(":method")
	if string(m) == "CONNECT" {
		return b.pseudo == pseudoMethod|pseudoAuthority
	}
	if b.pseudo&(pseudoScheme|pseudoPath) != pseudoScheme|pseudoPath {
		return false
	}
	// An origin-form path, or "*" for OPTIONS (RFC 9113 8.3.1).
	p, _ := b.h.Get(":path")
	return p[0] == '/' || (string(p) == "*" && string(m) == "OPTIONS")
}

// finishBlock acts on a fully decoded header block.
func (c *ServerCodec) finishBlock() {
	b := &c.block
	c.hdec.SetEmitEnabled(true)
	id := b.streamID
	switch b.kind {
	case blockDiscard:
		switch b.action {
		case actionReset:
			c.streamError(id, b.code)
		case actionRefuse:
			c.stats.StreamsRefused++
			c.writeRST(id, http2.ErrCodeRefusedStream)
		}
	case blockRequest:
		c.finishRequest(b)
	case blockTrailers:
		c.finishTrailers(b)
	}
	b.reset()
}

func (c *ServerCodec) finishRequest(b *headerBlock) {
	id := b.streamID
	if b.tooLarge {
		c.stats.HeaderListTooLarge++
		c.spare = b.h
		c.replyLocal(id, 431, b.endStream)
		return
	}
	if b.malformed || !requestPseudoOK(b) || (b.endStream && b.contentLength > 0) {
		c.spare = b.h
		c.stats.StreamErrors++
		c.writeRST(id, http2.ErrCodeProtocol)
		return
	}
	if len(b.cookie) > 0 {
		b.h.Add([]byte("cookie"), b.cookie)
	}
	if b.pseudo&pseudoAuthority == 0 && len(b.host) > 0 {
		b.h.Add([]byte(":authority"), b.host)
	}
	c.openStream(id, b.h, b.contentLength, b.endStream)
}

func (c *ServerCodec) finishTrailers(b *headerBlock) {
	s := c.findStream(b.streamID)
	if s == nil {
		return // reset while its trailers were arriving
	}
	if b.tooLarge || b.malformed || (s.contentLength >= 0 && s.received != s.contentLength) {
		c.streamError(s.id, http2.ErrCodeProtocol)
		return
	}
	s.remoteClosed = true
	s.deliverTrailers(b.h)
}
