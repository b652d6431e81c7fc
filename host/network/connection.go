package network

import (
	"net/netip"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sluiceproxy/sluice/host/worker"
)

// CloseType says what Close does with output not yet sent.
type CloseType uint8

const (
	// FlushWrite sends what is queued, then closes.
	FlushWrite CloseType = iota
	// NoFlush closes now; queued output is lost (the peer may see a reset).
	NoFlush
)

// Options are a connection's settings, from its listener.
type Options struct {
	// BufferLimit is the read buffer's high watermark (reading pauses
	// while that much is unconsumed) and the output's high watermark (low:
	// half). 0: the worker's defaults.
	BufferLimit int
	// FiltersTimeout closes a connection whose last (terminal) filter has
	// not seen OnNewConnection this long after accept: a filter that
	// stopped and never continued cannot hold a connection forever.
	// 0: no bound.
	FiltersTimeout time.Duration
	Log            *zap.Logger
	Stats          *Stats
}

// Attributes describe a connection beyond its socket addresses. The TLS
// facts are set once the handshake finished (the Connected event); before
// that ServerName is what tls_inspector read from the ClientHello.
type Attributes struct {
	// Source and Destination override the socket's addresses (PROXY
	// protocol); zero: the socket's.
	Source, Destination netip.AddrPort
	ServerName          string   // TLS SNI
	ALPN                string   // negotiated application protocol
	TLSVersion          string   // "TLSv1.2", "TLSv1.3"; "" for cleartext
	TLSCipherSuite      string   // e.g. "TLS_AES_128_GCM_SHA256"
	PeerSubject         string   // the verified client certificate's subject (RFC 2253)
	PeerSANs            []string // its subject alternative names (DNS, IP, URI, email)
}

// Stats are counted per listener; shared by workers, hence atomic.
type Stats struct {
	FiltersTimeout     atomic.Uint64 // connections closed by FiltersTimeout
	FilterRefused      atomic.Uint64 // connections closed because a factory made no filter
	TLSHandshakes      atomic.Uint64 // TLS handshakes completed
	TLSHandshakeErrors atomic.Uint64 // TLS handshakes failed or timed out
}

// Connection is one downstream connection and its network filter chain,
// owned by its worker (every method is loop-thread only).
//
// Read path: bytes read are appended to the read buffer; each read runs the
// read filters in chain order with the whole buffer, until one returns
// StopIteration; whatever no filter drained stays for the next pass.
// Write path: Write passes a chunk through the write filters from the last
// filter of the chain to the first, then to the socket. See doc.go.
type Connection struct {
	c     *worker.Conn
	w     *worker.Worker
	opts  *Options
	attrs Attributes

	filters   []slot
	hasWriter bool // some filter is a WriteFilter
	readBuf   Buffer

	// Read iteration. depth counts hooks on the stack; a ContinueReading
	// asked for while one runs is done when the stack unwinds.
	depth       int
	curFilter   int  // the filter whose hook is running (when depth > 0)
	contPending bool // curFilter asked to continue from inside its hook
	resumeFrom  int  // a continue from elsewhere while hooks ran; -1 none

	readDisabled int
	halfClose    bool
	eofSeen      bool // the peer's FIN was delivered to the filters
	writeEnded   bool // our FIN was queued
	above        bool // output above its high watermark (last told)
	closed       bool
	destroyed    bool
	endedBy      ConnectionEvent // RemoteClose or LocalClose, once closed
	endDetails   string          // why sluice closed it, when it says (SetTerminationDetails)
	started      time.Time
	startTimer   *worker.Timer
	terminalUp   bool // the last filter saw OnNewConnection

	metadata map[string]map[string]MetadataValue
	user     any

	prev, next *Connection
	set        *Set
}

// started: a read filter once it saw OnNewConnection; other filters from
// the start. Only started filters get events, watermarks and drains.
func (s *slot) started() bool { return s.init || s.read == nil }

type slot struct {
	f         Filter
	read      ReadFilter
	write     WriteFilter
	events    EventHandler
	watermark WatermarkHandler
	cb        Callbacks
	init      bool // saw OnNewConnection
}

// New builds the filter chain on an accepted connection, makes it the
// connection's handler, and starts it: OnNewConnection down the chain (until
// a filter stops), then the Connected event. opts are the listener's (shared,
// read only); attrs what listener filters learned about this connection.
// Loop thread of c's worker.
func New(c *worker.Conn, chain []NamedFilterFactory, opts *Options, attrs Attributes, set *Set) *Connection {
	nc := &Connection{c: c, w: c.Worker(), opts: opts, attrs: attrs, resumeFrom: -1, started: c.Worker().Now()}
	nc.readBuf = readBuffer(c)
	c.SetHandler(nc)
	if lim := opts.BufferLimit; lim > 0 {
		c.SetReadLimit(lim)
		c.SetWatermarks(lim, lim/2)
	}
	if set != nil {
		set.add(nc)
	}
	nc.filters = make([]slot, len(chain))
	for i, nf := range chain {
		s := &nc.filters[i]
		s.cb = Callbacks{nc: nc, idx: i}
		f := nf.Factory.NewFilter(&s.cb)
		if f == nil {
			if opts.Stats != nil {
				opts.Stats.FilterRefused.Add(1)
			}
			nc.logf(zap.WarnLevel, "network filter refused the connection", zap.String("filter", nf.Name))
			nc.filters = nc.filters[:i]
			nc.Close(NoFlush)
			return nc
		}
		s.f = f
		s.read, _ = f.(ReadFilter)
		s.write, _ = f.(WriteFilter)
		s.events, _ = f.(EventHandler)
		s.watermark, _ = f.(WatermarkHandler)
		nc.hasWriter = nc.hasWriter || s.write != nil
	}
	if d := opts.FiltersTimeout; d > 0 {
		nc.startTimer = nc.w.AfterFunc(d, nc.filtersTimedOut)
	}
	nc.iterate(0, nil, false)
	if !nc.closed && !c.Handshaking() {
		nc.raise(Connected) // with TLS: once the handshake finished (OnConnect)
	}
	return nc
}

func (nc *Connection) logf(level zapcore.Level, msg string, fields ...zap.Field) {
	if nc.opts.Log == nil {
		return
	}
	if ce := nc.opts.Log.Check(level, msg); ce != nil {
		ce.Write(append(fields, zap.Uint64("conn_id", nc.c.ID()))...)
	}
}

// ID is the connection id (the same in logs and access logs).
func (nc *Connection) ID() uint64 { return nc.c.ID() }

// Worker is the connection's owner.
func (nc *Connection) Worker() *worker.Worker { return nc.w }

// Socket is the underlying worker connection.
func (nc *Connection) Socket() *worker.Conn { return nc.c }

// RemoteAddr is the client's address (PROXY protocol's when given).
func (nc *Connection) RemoteAddr() netip.AddrPort {
	if a := nc.attrs.Source; a.IsValid() {
		return a
	}
	return nc.c.RemoteAddr()
}

// LocalAddr is the address the client connected to.
func (nc *Connection) LocalAddr() netip.AddrPort {
	if a := nc.attrs.Destination; a.IsValid() {
		return a
	}
	return nc.c.LocalAddr()
}

// Attributes are the connection's TLS and PROXY-protocol facts.
func (nc *Connection) Attributes() *Attributes { return &nc.attrs }

// ReadBuffer is the connection's read buffer (read, not yet drained), for
// a filter acting outside its read hook (a gatekeeper that decided).
func (nc *Connection) ReadBuffer() *Buffer { return &nc.readBuf }

// BufferedInput is the size of the read buffer (read, not yet drained).
func (nc *Connection) BufferedInput() int { return len(nc.c.Input()) }

// Start is when the connection was accepted.
func (nc *Connection) Start() time.Time { return nc.started }

// SetUserData / UserData attach a value for the terminal filter's use.
func (nc *Connection) SetUserData(v any) { nc.user = v }

// UserData returns what SetUserData stored.
func (nc *Connection) UserData() any { return nc.user }

// Closed reports that the connection was closed (or is flushing to close).
func (nc *Connection) Closed() bool { return nc.closed }

// EnableHalfClose makes a FIN from the peer an end of stream for the
// filters (OnData with endStream) while writing goes on; the connection
// closes once both directions have ended. Without it (the default) the
// filters still see endStream, then the connection closes (RemoteClose).
func (nc *Connection) EnableHalfClose(on bool) { nc.halfClose = on }

// ReadDisable stops (true) or resumes (false) reading from the socket. It
// counts: reading resumes when every disable was undone.
func (nc *Connection) ReadDisable(disable bool) {
	if disable {
		nc.readDisabled++
		if nc.readDisabled == 1 {
			nc.c.PauseReading()
		}
		return
	}
	if nc.readDisabled == 0 {
		return
	}
	nc.readDisabled--
	if nc.readDisabled == 0 && !nc.closed {
		nc.c.ResumeReading()
	}
}

// ReadDisabled reports whether reading is disabled.
func (nc *Connection) ReadDisabled() bool { return nc.readDisabled > 0 }

// Redeliver runs the read filters again soon with the buffered input, even
// if nothing new arrives (a terminal filter that left input it can take
// now). Never inside this call.
func (nc *Connection) Redeliver() { nc.c.Redeliver() }

// ReadEOF reports that the peer half-closed.
func (nc *Connection) ReadEOF() bool { return nc.c.ReadEOF() }

// AboveHighWatermark reports output backpressure.
func (nc *Connection) AboveHighWatermark() bool { return nc.c.AboveHighWatermark() }

// Pending is the output not yet on the socket.
func (nc *Connection) Pending() int { return nc.c.Pending() }

// InputDone says the peer sends nothing more: a FlushWrite close then
// ends without waiting for the peer's FIN (worker.Conn.InputDone).
func (nc *Connection) InputDone() { nc.c.InputDone() }

// SetTerminationDetails says why sluice closes the connection, in the
// access log's words ("client_ip_allow_denied", "network_filters_timeout"):
// call it before Close. A filter that never started, or that has no reason
// of its own, logs these details. The first caller's details stay.
func (nc *Connection) SetTerminationDetails(details string) {
	if nc.endDetails == "" && !nc.closed {
		nc.endDetails = details
	}
}

// Termination is how the connection ended — RemoteClose (the peer closed
// or reset it) or LocalClose — and the details given for it, "" when none.
// Meaningful once closed (in OnEvent for the close, and in OnDestroy).
func (nc *Connection) Termination() (ConnectionEvent, string) { return nc.endedBy, nc.endDetails }

// Close closes the connection: the filters get LocalClose, then are
// destroyed. Idempotent.
func (nc *Connection) Close(how CloseType) {
	if nc.closed {
		return
	}
	if how == FlushWrite {
		nc.c.CloseAfterFlush()
	} else {
		nc.c.Close()
	}
	nc.closed = true
	nc.finish(LocalClose)
}

// finish delivers the closing event and destroys the filters (after any
// hook still on the stack has returned).
func (nc *Connection) finish(ev ConnectionEvent) {
	nc.closed = true
	nc.endedBy = ev
	if nc.startTimer != nil {
		nc.startTimer.Stop()
	}
	if nc.set != nil {
		nc.set.remove(nc)
	}
	nc.raise(ev)
	if nc.depth == 0 {
		nc.destroy()
	}
}

func (nc *Connection) destroy() {
	if nc.destroyed {
		return
	}
	nc.destroyed = true
	for i := range nc.filters {
		if d, ok := nc.filters[i].f.(Destroyer); ok {
			d.OnDestroy()
		}
		nc.filters[i] = slot{}
	}
}

// raise tells the started filters (a read filter once it saw
// OnNewConnection) about ev.
func (nc *Connection) raise(ev ConnectionEvent) {
	for i := range nc.filters {
		if h := nc.filters[i].events; h != nil && nc.filters[i].started() {
			nc.depth++
			h.OnEvent(ev)
			nc.depth--
		}
	}
}

func (nc *Connection) filtersTimedOut() {
	if nc.closed || nc.terminalUp {
		return
	}
	if nc.opts.Stats != nil {
		nc.opts.Stats.FiltersTimeout.Add(1)
	}
	nc.logf(zap.InfoLevel, "network filters did not let the connection through in time; closing",
		zap.Duration("network_filters_timeout", nc.opts.FiltersTimeout))
	nc.SetTerminationDetails("network_filters_timeout")
	nc.Close(NoFlush)
}

// worker.ConnHandler

// OnConnect is the end of the TLS handshake: the TLS attributes are set
// and the filters get Connected; a failed handshake closes the connection.
func (nc *Connection) OnConnect(c *worker.Conn, err error) {
	if nc.closed {
		return
	}
	if err != nil {
		if nc.opts.Stats != nil {
			nc.opts.Stats.TLSHandshakeErrors.Add(1)
		}
		nc.logf(zap.DebugLevel, "TLS handshake failed", zap.Error(err))
		nc.finish(LocalClose) // the socket is already closed
		return
	}
	if nc.opts.Stats != nil {
		nc.opts.Stats.TLSHandshakes.Add(1)
	}
	if st, ok := c.TLSConnectionState(); ok {
		setTLSAttributes(&nc.attrs, &st)
	}
	nc.depth++
	nc.raise(Connected)
	nc.depth--
	nc.unwind()
}

func (nc *Connection) OnData(c *worker.Conn) {
	if nc.closed {
		return
	}
	end := c.ReadEOF()
	nc.eofSeen = nc.eofSeen || end
	nc.iterate(0, nil, end)
	if nc.closed || !end {
		return
	}
	if !nc.halfClose {
		nc.c.CloseAfterFlush()
		nc.closed = true
		nc.finish(RemoteClose)
		return
	}
	if nc.writeEnded {
		nc.closeBothEnded(RemoteClose)
	}
}

func (nc *Connection) OnWritable(*worker.Conn) {
	if nc.closed || !nc.above {
		return
	}
	nc.above = false
	for i := range nc.filters {
		if h := nc.filters[i].watermark; h != nil && nc.filters[i].started() {
			nc.depth++
			h.OnBelowWriteBufferLowWatermark()
			nc.depth--
			if nc.closed {
				break
			}
		}
	}
	nc.unwind()
}

func (nc *Connection) OnClose(_ *worker.Conn, err error) {
	if nc.closed {
		return
	}
	nc.logf(zap.DebugLevel, "connection closed by peer", zap.Error(err))
	nc.finish(RemoteClose)
}

// closeBothEnded closes a half-closed connection once both directions
// ended; ev names the side that ended last.
func (nc *Connection) closeBothEnded(ev ConnectionEvent) {
	if nc.closed {
		return
	}
	nc.c.CloseAfterFlush()
	nc.closed = true
	nc.finish(ev)
}

// Set is one worker's connections of one listener, so a drain reaches them
// all. Loop thread only.
type Set struct {
	head *Connection
	n    int
}

// Len is the number of open connections.
func (s *Set) Len() int { return s.n }

// Drain asks every connection's filters that can (Drainer) to finish.
func (s *Set) Drain() {
	for nc := s.head; nc != nil; {
		next := nc.next
		for i := range nc.filters {
			if d, ok := nc.filters[i].f.(Drainer); ok && nc.filters[i].started() {
				d.Drain()
			}
		}
		nc = next
	}
}

// DrainDeadliner is implemented by filters that want to know that their
// connection is closed because the drain deadline passed (to say so in
// their access log).
type DrainDeadliner interface {
	OnDrainDeadline()
}

// CloseAll closes every connection now (the drain deadline passed).
func (s *Set) CloseAll() {
	for s.head != nil {
		nc := s.head
		for i := range nc.filters {
			if d, ok := nc.filters[i].f.(DrainDeadliner); ok && nc.filters[i].started() {
				d.OnDrainDeadline()
			}
		}
		nc.SetTerminationDetails("drain_timeout")
		nc.Close(NoFlush)
	}
}

func (s *Set) add(nc *Connection) {
	nc.set = s
	nc.next = s.head
	if s.head != nil {
		s.head.prev = nc
	}
	s.head = nc
	s.n++
}

func (s *Set) remove(nc *Connection) {
	if nc.set != s {
		return
	}
	if nc.prev != nil {
		nc.prev.next = nc.next
	} else {
		s.head = nc.next
	}
	if nc.next != nil {
		nc.next.prev = nc.prev
	}
	nc.prev, nc.next, nc.set = nil, nil, nil
	s.n--
}
