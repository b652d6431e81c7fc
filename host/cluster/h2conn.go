package cluster

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"strconv"

	"go.uber.org/zap"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/sluiceproxy/sluice/host/h2frame"
	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/worker"
)

// HTTP/2 protocol constants (RFC 9113).
const (
	minWindow        = 65535 // the initial window every peer starts with
	maxWindow        = 1<<31 - 1
	maxStreamID      = 1<<31 - 1
	h2FrameHeaderLen = 9
	h2MaxReadFrame   = 16384 // we advertise no larger SETTINGS_MAX_FRAME_SIZE
)

// Errors of the HTTP/2 client.
var (
	ErrGoAway           = errors.New("cluster: upstream sent GOAWAY; the stream was not processed and could not be retried")
	ErrH2NoSettings     = errors.New("cluster: upstream closed before sending its HTTP/2 SETTINGS")
	ErrH2BadResponse    = errors.New("cluster: malformed HTTP/2 response header block")
	ErrH2FlowControl    = errors.New("cluster: upstream exceeded the HTTP/2 flow-control window")
	ErrH2ConnectionLost = errors.New("cluster: HTTP/2 connection error")
)

// HeadersTooLargeError is the error of OnReset(ProtocolError) when the
// upstream's response head or trailers are over the cluster's
// max_response_headers_kb (Limit bytes).
type HeadersTooLargeError struct{ Limit int }

func (e *HeadersTooLargeError) Error() string {
	return "cluster: upstream response headers over max_response_headers_kb (" + strconv.Itoa(e.Limit>>10) + " KiB)"
}

// StreamResetError is the error of OnReset(RemoteReset): the upstream sent
// RST_STREAM with Code.
type StreamResetError struct{ Code http2.ErrCode }

func (e *StreamResetError) Error() string {
	return "cluster: upstream reset the stream: " + e.Code.String()
}

// h2Conn is one HTTP/2 connection (h2c, prior knowledge) to an endpoint,
// shared by up to maxStreams streams of its worker. It is the
// worker.ConnHandler of its socket and lives on its pool's worker, like
// upstreamConn. Frames are parsed only once fully buffered, so nothing
// ever blocks (the same approach as host/http2).
type h2Conn struct {
	wp    *workerPool
	host  *Host
	addr  netip.AddrPort // where it connects (a logical_dns host's moves)
	conn  *worker.Conn
	state connState // ccConnecting until the peer's SETTINGS, then ccBusy; ccClosed
	ready bool      // peer SETTINGS received: streams may open

	fr     *http2.Framer
	src    h2Source
	order  h2frame.Order // the Framer's CONTINUATION-order state (readDirect)
	henc   *hpack.Encoder
	hbuf   bytes.Buffer
	values headers.Interner // request field values for henc
	hdec   *hpack.Decoder
	// authority is addr as text: :authority of a request that has none.
	authority string

	nextID  uint32
	streams map[uint32]*h2Stream
	waiting []*Stream   // assigned, waiting for the connection to be ready
	blocked []*h2Stream // streams with request body held back by windows or watermarks

	goaway     bool // no new streams: peer GOAWAY, ids exhausted, or closing
	goawayLast uint32
	// yield: another worker's queue needs this connection's slot, so it
	// takes no new streams and hands the slot over once empty.
	yield bool
	// retired: the host left the cluster; the connection finishes its
	// streams and closes.
	retired bool

	peerMaxStreams    uint32
	peerInitialWindow int64
	peerMaxFrame      uint32
	sendWindow        int64 // connection send window
	recvUnacked       int64 // connection bytes received, not yet credited

	// The header block being received (HEADERS + CONTINUATION).
	blk  h2Block
	resp headers.Map

	idle      bool // counted in wp.idleCount: open, no streams
	idleTimer *worker.Timer
	onIdleFn  func()
}

// h2Block is the state of one response header block while it arrives.
type h2Block struct {
	active   bool
	id       uint32
	end      bool // END_STREAM on the HEADERS frame
	st       *h2Stream
	listSize int
	regular  bool // a regular field was seen (pseudo-headers must come first)
	bad      bool
	tooLarge bool // over max_response_headers_kb
}

// h2Source is the Framer's reader: it is pointed at exactly one complete
// frame, so a read never blocks or comes up short.
type h2Source struct{ b []byte }

func (s *h2Source) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

// h2Sink is the Framer's writer: each frame becomes one Conn.Write.
type h2Sink struct{ cc *h2Conn }

func (s h2Sink) Write(p []byte) (int, error) {
	s.cc.conn.Write(p)
	return len(p), nil
}

func newH2Conn(wp *workerPool, host *Host) *h2Conn {
	o := wp.c.settings.HTTP2Options
	cc := &h2Conn{
		wp: wp, host: host, addr: wp.dialAddr(host), nextID: 1,
		streams:           make(map[uint32]*h2Stream),
		peerMaxStreams:    o.MaxConcurrentStreams,
		peerInitialWindow: minWindow,
		peerMaxFrame:      16384,
		sendWindow:        minWindow,
	}
	cc.authority = cc.addr.String()
	cc.fr = http2.NewFramer(h2Sink{cc}, &cc.src)
	cc.fr.SetMaxReadFrameSize(h2MaxReadFrame)
	cc.fr.SetReuseFrames()
	cc.henc = hpack.NewEncoder(&cc.hbuf)
	cc.hdec = hpack.NewDecoder(4096, cc.onField)
	cc.hdec.SetMaxStringLength(wp.c.settings.MaxResponseHeaderBytes)
	cc.onIdleFn = cc.onIdleTimeout
	wp.c.stats.cxTotal.Add(1)
	wp.conns++
	hp := host.slot(wp)
	hp.h2 = append(hp.h2, cc)
	hp.stats.cxTotal.Add(1)
	hp.stats.cxActive.Add(1)
	return cc
}

// limit is how many streams this connection may carry at once.
func (cc *h2Conn) limit() int {
	return int(min(cc.wp.c.settings.HTTP2Options.MaxConcurrentStreams, cc.peerMaxStreams))
}

// load counts the streams open or waiting for the connection.
func (cc *h2Conn) load() int { return len(cc.streams) + len(cc.waiting) }

// hasRoom: the connection may take another stream.
func (cc *h2Conn) hasRoom() bool {
	return cc.state != ccClosed && !cc.goaway && !cc.yield && !cc.retired && cc.load() < cc.limit()
}

func (cc *h2Conn) dial() {
	conn, err := cc.wp.dial(cc.addr, cc)
	if err != nil {
		if cc.state == ccConnecting && cc.conn == nil {
			cc.connectFailed(err)
		}
		return
	}
	if cc.conn == nil {
		cc.conn = conn
	}
}

// OnConnect implements worker.ConnHandler: send the preface and our
// SETTINGS; streams start when the peer's SETTINGS arrive.
func (cc *h2Conn) OnConnect(c *worker.Conn, err error) {
	if cc.state != ccConnecting || cc.conn != nil && cc.conn != c {
		return
	}
	cc.conn = c
	if err == nil {
		err = checkALPN(c, "h2")
	}
	if err != nil {
		cc.connectFailed(err)
		return
	}
	o := cc.wp.c.settings.HTTP2Options
	c.Write([]byte(http2.ClientPreface))
	_ = cc.fr.WriteSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: o.InitialStreamWindowSize},
		http2.Setting{ID: http2.SettingMaxFrameSize, Val: h2MaxReadFrame},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: uint32(cc.wp.c.settings.MaxResponseHeaderBytes)},
	)
	if extra := int64(o.InitialConnectionWindowSize) - minWindow; extra > 0 {
		_ = cc.fr.WriteWindowUpdate(0, uint32(extra))
	}
	if len(cc.waiting) == 0 {
		cc.maybeIdle()
	}
}

// connectFailed fails the streams waiting for this connection.
func (cc *h2Conn) connectFailed(err error) {
	st := &cc.wp.c.stats
	timeout := isConnectTimeout(err)
	if timeout {
		st.cxConnectTimeout.Add(1)
	} else {
		st.cxConnectFail.Add(1)
	}
	reason := ConnectFailure
	if timeout {
		reason = ConnectTimeout
	}
	cc.wp.reportLocal(cc.host, localConnectFailed)
	cc.wp.c.log.Debug("upstream connect failed", zap.Stringer("host", cc.addr), zap.Error(err))
	cc.teardown(false, false, reason, ConnectionTermination, err)
}

// OnClose implements worker.ConnHandler.
func (cc *h2Conn) OnClose(c *worker.Conn, err error) {
	if cc.state == ccClosed {
		return
	}
	if cc.conn == nil {
		cc.conn = c
	}
	if !cc.ready {
		if err == nil {
			err = ErrH2NoSettings
		}
		cc.connectFailed(err)
		return
	}
	reason := ConnectionTermination
	if errors.Is(err, worker.ErrWorkerStopped) {
		reason = LocalReset
	}
	if err == nil {
		err = ErrUpstreamClosed
	}
	cc.teardown(false, false, ConnectFailure, reason, err)
}

// OnWritable implements worker.ConnHandler: the output drained, so held
// request bodies may move and their senders may be told.
func (cc *h2Conn) OnWritable(c *worker.Conn) {
	if cc.state != ccClosed {
		cc.flushBlocked()
		cc.notifyAll()
	}
}

// OnData implements worker.ConnHandler: parse every complete frame.
func (cc *h2Conn) OnData(c *worker.Conn) {
	if cc.state == ccClosed {
		return
	}
	in := c.Input()
	off := 0
	for cc.state != ccClosed {
		rest := in[off:]
		if len(rest) < h2FrameHeaderLen {
			break
		}
		length := int(rest[0])<<16 | int(rest[1])<<8 | int(rest[2])
		if length > h2MaxReadFrame {
			cc.connError(http2.ErrCodeFrameSize, "frame larger than SETTINGS_MAX_FRAME_SIZE")
			return
		}
		total := h2FrameHeaderLen + length
		if len(rest) < total {
			break
		}
		frame := rest[:total]
		off += total
		if cc.readDirect(frame) {
			continue
		}
		cc.order.Framer(frame)
		cc.src.b = frame
		f, err := cc.fr.ReadFrame()
		if err != nil {
			cc.frameError(err)
			continue
		}
		cc.processFrame(f)
	}
	if cc.state == ccClosed {
		return
	}
	c.Consume(off)
	if cc.recvUnacked > 0 {
		cc.creditConnection(false)
	}
	if c.ReadEOF() {
		cc.OnClose(c, nil)
	}
}

func (cc *h2Conn) frameError(err error) {
	var se http2.StreamError
	if errors.As(err, &se) {
		if st := cc.streams[se.StreamID]; st != nil {
			cc.resetStream(st, se.Code, ProtocolError, ErrH2BadResponse)
		} else {
			_ = cc.fr.WriteRSTStream(se.StreamID, se.Code)
		}
		return
	}
	code := http2.ErrCodeProtocol
	var ce http2.ConnectionError
	if errors.As(err, &ce) {
		code = http2.ErrCode(ce)
	}
	cc.connError(code, err.Error())
}

// connError ends the connection on a protocol violation: GOAWAY, close,
// and every stream is reset with ProtocolError.
func (cc *h2Conn) connError(code http2.ErrCode, reason string) {
	if cc.state == ccClosed {
		return
	}
	cc.wp.c.stats.cxProtocolError.Add(1)
	// Last-stream-id names the last peer-initiated stream: none (no push).
	_ = cc.fr.WriteGoAway(0, code, nil)
	cc.wp.c.log.Debug("upstream http2 connection error", zap.Stringer("code", code), zap.String("reason", reason))
	cc.teardown(true, false, ConnectFailure, ProtocolError, ErrH2ConnectionLost)
}

func (cc *h2Conn) processFrame(f http2.Frame) {
	if !cc.ready {
		sf, ok := f.(*http2.SettingsFrame)
		if !ok || sf.IsAck() {
			cc.connError(http2.ErrCodeProtocol, "first frame is not SETTINGS")
			return
		}
	}
	if cc.blk.active {
		if cf, ok := f.(*http2.ContinuationFrame); !ok || cf.StreamID != cc.blk.id {
			cc.connError(http2.ErrCodeProtocol, "header block interrupted")
			return
		}
	}
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if !f.IsAck() {
			cc.onSettings(f)
		}
	case *http2.PingFrame:
		if !f.IsAck() {
			_ = cc.fr.WritePing(true, f.Data)
		}
	case *http2.GoAwayFrame:
		cc.onGoAway(f)
	case *http2.WindowUpdateFrame:
		cc.onWindowUpdate(f)
	case *http2.RSTStreamFrame:
		if st := cc.streams[f.StreamID]; st != nil {
			cc.onPeerReset(st, f.ErrCode)
		}
	case *http2.HeadersFrame:
		cc.onHeaders(f.StreamID, f.Flags, f.HeaderBlockFragment())
	case *http2.ContinuationFrame:
		if !cc.blk.active {
			cc.connError(http2.ErrCodeProtocol, "CONTINUATION without HEADERS")
			return
		}
		cc.headerFragment(f.HeaderBlockFragment(), f.HeadersEnded())
	case *http2.DataFrame:
		cc.onData(f)
	case *http2.PushPromiseFrame:
		cc.connError(http2.ErrCodeProtocol, "PUSH_PROMISE although push is disabled")
	}
}

// readDirect applies a HEADERS frame holding a whole header block or a
// WINDOW_UPDATE without the Framer, which allocates a frame object for
// each (h2frame); it reports false, leaving the frame to the Framer, for
// everything else.
func (cc *h2Conn) readDirect(frame []byte) bool {
	if !cc.ready || cc.blk.active || cc.order.Open() {
		return false
	}
	f, ok := h2frame.Parse(frame)
	if !ok {
		return false
	}
	if f.Type == http2.FrameHeaders {
		cc.onHeaders(f.StreamID, f.Flags, f.Fragment)
	} else {
		cc.applyWindowUpdate(f.StreamID, f.Increment)
	}
	return true
}

// onHeaders starts a response header block (a response head, an
// informational one, or trailers).
func (cc *h2Conn) onHeaders(id uint32, flags http2.Flags, frag []byte) {
	cc.blk = h2Block{active: true, id: id, end: flags.Has(http2.FlagHeadersEndStream), st: cc.streams[id]}
	cc.resp.Reset()
	cc.headerFragment(frag, flags.Has(http2.FlagHeadersEndHeaders))
}

func (cc *h2Conn) onSettings(f *http2.SettingsFrame) {
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		switch s.ID {
		case http2.SettingHeaderTableSize:
			cc.henc.SetMaxDynamicTableSizeLimit(s.Val)
		case http2.SettingMaxConcurrentStreams:
			cc.peerMaxStreams = s.Val
		case http2.SettingMaxFrameSize:
			cc.peerMaxFrame = s.Val
		case http2.SettingInitialWindowSize:
			delta := int64(s.Val) - cc.peerInitialWindow
			cc.peerInitialWindow = int64(s.Val)
			for _, st := range cc.streams {
				st.sendWindow += delta
				if st.sendWindow > maxWindow {
					return http2.ConnectionError(http2.ErrCodeFlowControl)
				}
			}
		}
		return nil
	})
	if err != nil {
		cc.frameError(err)
		return
	}
	_ = cc.fr.WriteSettingsAck()
	if !cc.ready {
		cc.ready = true
		cc.state = ccBusy
		cc.startWaiting()
		return
	}
	cc.flushBlocked()
}

// startWaiting opens the streams that waited for the connection, within
// the peer's limit; the rest go back to the pool's assignment.
func (cc *h2Conn) startWaiting() {
	for len(cc.waiting) > 0 && cc.state != ccClosed {
		s := cc.waiting[0]
		cc.waiting = cc.waiting[1:]
		if len(cc.streams) >= cc.limit() || cc.goaway {
			s.h2 = nil
			cc.wp.reassignH2(s)
			continue
		}
		cc.open(s)
	}
	if cc.state != ccClosed {
		cc.fill()
		cc.maybeIdle()
	}
}

func (cc *h2Conn) onWindowUpdate(f *http2.WindowUpdateFrame) {
	cc.applyWindowUpdate(f.StreamID, f.Increment)
}

func (cc *h2Conn) applyWindowUpdate(id, increment uint32) {
	if id == 0 {
		cc.sendWindow += int64(increment)
		if cc.sendWindow > maxWindow {
			cc.connError(http2.ErrCodeFlowControl, "connection window overflow")
			return
		}
		cc.flushBlocked()
		return
	}
	st := cc.streams[id]
	if st == nil {
		return
	}
	st.sendWindow += int64(increment)
	if st.sendWindow > maxWindow {
		cc.resetStream(st, http2.ErrCodeFlowControl, ProtocolError, ErrH2FlowControl)
		return
	}
	cc.flushStream(st)
	st.notifyWritable()
}

// onGoAway: no new streams here. Streams the peer never processed (above
// last-stream-id) are retried elsewhere when their request can be
// replayed, else reset; the others run to completion.
func (cc *h2Conn) onGoAway(f *http2.GoAwayFrame) {
	cc.goaway = true
	cc.goawayLast = f.LastStreamID
	for id, st := range cc.streams {
		if id > f.LastStreamID {
			cc.unprocessed(st, ErrGoAway)
		}
	}
	if cc.state == ccClosed {
		return
	}
	for len(cc.waiting) > 0 {
		s := cc.waiting[0]
		cc.waiting = cc.waiting[1:]
		s.h2 = nil
		cc.wp.reassignH2(s)
	}
	if len(cc.streams) == 0 {
		cc.closeLocal()
	}
}

// creditConnection returns received bytes to the peer's connection window
// once half of it is used (or at once with force). Connection-level bytes
// are credited as they arrive: the per-stream windows bound what is held.
func (cc *h2Conn) creditConnection(force bool) {
	w := int64(cc.wp.c.settings.HTTP2Options.InitialConnectionWindowSize)
	if cc.recvUnacked > 0 && (force || cc.recvUnacked >= w/2) {
		_ = cc.fr.WriteWindowUpdate(0, uint32(cc.recvUnacked))
		cc.recvUnacked = 0
	}
}

func (cc *h2Conn) onData(f *http2.DataFrame) {
	n := int64(f.Length)
	cc.recvUnacked += n
	cc.creditConnection(false)
	st := cc.streams[f.StreamID]
	if st == nil {
		if f.StreamID >= cc.nextID {
			cc.connError(http2.ErrCodeProtocol, "DATA on an idle stream")
		}
		return // a stream we reset: its bytes only count for the connection
	}
	if !st.gotFinal {
		cc.resetStream(st, http2.ErrCodeProtocol, ProtocolError, ErrH2BadResponse)
		return
	}
	st.recvWindow -= n
	if st.recvWindow < 0 {
		cc.resetStream(st, http2.ErrCodeFlowControl, ProtocolError, ErrH2FlowControl)
		return
	}
	// Padding is never delivered: credit it at once.
	st.unacked += n - int64(len(f.Data()))
	st.receiveData(f.Data(), f.StreamEnded())
}

// onField collects one decoded field of the block being received; a field
// that a response may not carry marks the block malformed.
func (cc *h2Conn) onField(hf hpack.HeaderField) {
	b := &cc.blk
	b.listSize += len(hf.Name) + len(hf.Value) + 32
	if b.listSize > cc.wp.c.settings.MaxResponseHeaderBytes {
		b.bad, b.tooLarge = true, true
	}
	if b.bad {
		return
	}
	if len(hf.Name) > 0 && hf.Name[0] == ':' {
		if hf.Name != ":status" || b.regular || cc.resp.Has(":status") {
			b.bad = true
			return
		}
	} else {
		b.regular = true
		if !validResponseField(hf.Name, hf.Value) {
			b.bad = true
			return
		}
	}
	cc.resp.AddString(hf.Name, hf.Value)
}

func (cc *h2Conn) headerFragment(p []byte, ended bool) {
	if _, err := cc.hdec.Write(p); err != nil {
		if errors.Is(err, hpack.ErrStringLength) && cc.blk.st != nil {
			// One field longer than the whole limit: the HPACK state is
			// lost with it, so the connection ends, but the stream it was
			// for learns the real cause.
			st := cc.blk.st
			cc.blk = h2Block{}
			cc.resetStream(st, http2.ErrCodeProtocol, ProtocolError, cc.headersTooLarge())
		}
		cc.connError(http2.ErrCodeCompression, "hpack: "+err.Error())
		return
	}
	if !ended {
		return
	}
	if err := cc.hdec.Close(); err != nil {
		cc.connError(http2.ErrCodeCompression, "hpack: "+err.Error())
		return
	}
	b := cc.blk
	cc.blk = h2Block{}
	if b.st == nil {
		if b.id >= cc.nextID || b.id%2 == 0 {
			cc.connError(http2.ErrCodeProtocol, "HEADERS on a stream sluice did not open")
		}
		return // a stream we reset; decoding kept the HPACK state right
	}
	if b.tooLarge {
		cc.resetStream(b.st, http2.ErrCodeProtocol, ProtocolError, cc.headersTooLarge())
		return
	}
	if b.bad {
		cc.resetStream(b.st, http2.ErrCodeProtocol, ProtocolError, ErrH2BadResponse)
		return
	}
	b.st.receiveHeaders(&cc.resp, b.end)
}

// maybeIdle marks an open connection without streams idle (available for
// shedding, idle timeout), or closes it when it may carry no more.
func (cc *h2Conn) maybeIdle() {
	if cc.state == ccClosed || cc.load() > 0 {
		return
	}
	wp := cc.wp
	if cc.goaway || cc.retired || wp.closed {
		cc.closeLocal()
		return
	}
	if cc.yield || wp.shouldYieldSlot() {
		cc.yieldSlot()
		return
	}
	if cc.idle {
		return
	}
	cc.idle = true
	wp.idleCount.Add(1)
	if d := wp.c.settings.IdleTimeout; d > 0 {
		if cc.idleTimer == nil {
			cc.idleTimer = wp.w.AfterFunc(d, cc.onIdleFn)
		} else {
			cc.idleTimer.Reset(d)
		}
	}
}

// busy leaves the idle state when a stream is assigned.
func (cc *h2Conn) busy() {
	if cc.idle {
		cc.idle = false
		cc.wp.idleCount.Add(-1)
		if cc.idleTimer != nil {
			cc.idleTimer.Stop()
		}
	}
}

func (cc *h2Conn) onIdleTimeout() {
	if cc.idle && cc.state != ccClosed {
		cc.wp.c.stats.cxIdleTimeout.Add(1)
		cc.closeLocal()
	}
}

// closeLocal closes the connection politely (GOAWAY first).
func (cc *h2Conn) closeLocal() {
	if cc.state == ccClosed {
		return
	}
	if cc.conn != nil && cc.ready {
		_ = cc.fr.WriteGoAway(0, http2.ErrCodeNo, nil)
	}
	cc.teardown(true, false, ConnectFailure, LocalReset, ErrClosed)
}

// yieldSlot closes an idle connection so that a worker with a queue gets
// its slot.
func (cc *h2Conn) yieldSlot() {
	if cc.state == ccClosed {
		return
	}
	if cc.conn != nil && cc.ready {
		_ = cc.fr.WriteGoAway(0, http2.ErrCodeNo, nil)
	}
	cc.teardown(true, true, ConnectFailure, LocalReset, ErrClosed)
	cc.wp.c.handoffSlot(cc.wp)
}

// teardown closes the socket, forgets the connection and ends what it
// carried: waiting streams fail with failReason, open streams are reset
// with resetReason (or retried when the peer never processed them).
// keepSlot hands the max_connections slot to the caller.
func (cc *h2Conn) teardown(local, keepSlot bool, failReason FailureReason, resetReason ResetReason, err error) {
	if cc.state == ccClosed {
		return
	}
	wp := cc.wp
	cc.state = ccClosed
	cc.busy()
	wp.conns--
	hp := cc.host.slot(wp)
	hp.stats.cxActive.Add(-1)
	for i, x := range hp.h2 {
		if x == cc {
			copy(hp.h2[i:], hp.h2[i+1:])
			hp.h2[len(hp.h2)-1] = nil
			hp.h2 = hp.h2[:len(hp.h2)-1]
			break
		}
	}
	if cc.conn != nil && !cc.conn.Closed() {
		if local {
			cc.conn.CloseAfterFlush()
		} else {
			cc.conn.Close()
		}
	}
	switch {
	case !cc.ready: // never became usable: counted as a connect failure
	case local:
		wp.c.stats.cxDestroyLocal.Add(1)
	default:
		wp.c.stats.cxDestroyRemote.Add(1)
	}
	waiting := cc.waiting
	cc.waiting = nil
	for _, st := range cc.streams {
		if cc.goaway && st.id > cc.goawayLast {
			cc.unprocessed(st, ErrGoAway)
			continue
		}
		cc.endStream(st)
		wp.c.stats.rqRxReset.Add(1)
		st.fail(resetReason, err)
	}
	cc.blocked = nil
	if !keepSlot {
		wp.c.releaseConn(wp)
	}
	for _, s := range waiting {
		s.h2 = nil
		if s.state == stRetrying {
			wp.c.stats.rqRxReset.Add(1)
			s.resetRetry(err)
			continue
		}
		wp.c.stats.rqPendingFailure.Add(1)
		s.fail(failReason, err)
	}
}

// retire stops giving the connection new streams because its host left
// the cluster; it closes once its streams are done.
func (cc *h2Conn) retire() {
	cc.retired = true
	if cc.load() == 0 {
		cc.closeLocal()
	}
}

func (cc *h2Conn) headersTooLarge() error {
	return &HeadersTooLargeError{Limit: cc.wp.c.settings.MaxResponseHeaderBytes}
}
