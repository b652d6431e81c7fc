package listener

import (
	"net/netip"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/network"
	"github.com/sluiceproxy/sluice/host/worker"
)

// Inspection is what the listener filters learned about a new connection
// before a filter chain is chosen.
type Inspection struct {
	// Source and Destination are the addresses a PROXY protocol header
	// carried; zero: the socket's.
	Source, Destination netip.AddrPort
	// TransportProtocol is "tls" once tls_inspector saw a ClientHello,
	// "raw_buffer" otherwise (Envoy's values).
	TransportProtocol string
	ServerName        string   // SNI, lower case; "" when none
	ALPN              []string // the application protocols the client offers, in its order
}

// FilterStatus is what a listener filter's Inspect returns.
type FilterStatus uint8

const (
	// Done: the filter has what it needs; the next one runs.
	Done FilterStatus = iota
	// NeedMoreData: call again when more input arrives.
	NeedMoreData
	// Reject: close the connection (the filter counted why).
	Reject
)

// Filter is a listener filter (Envoy's ListenerFilter): it looks at a new
// connection's first bytes before a filter chain is chosen. Inspect gets
// the input read so far, every time more arrives, until it returns Done
// or Reject; it may remove a prefix it owns (a PROXY header) by returning
// its length as consumed. It is shared by the listener's connections and
// workers: per-connection state lives in the input, not in the filter.
type Filter interface {
	Inspect(in []byte, eof bool, ins *Inspection) (st FilterStatus, consumed int)
}

// NamedFilter is one configured listener filter.
type NamedFilter struct {
	Name   string
	Filter Filter
}

// Stats are a listener's counters, shared by its workers.
type Stats struct {
	network.Stats
	// DownstreamPreCxTimeout: listener filters did not finish within
	// listener_filters_timeout.
	DownstreamPreCxTimeout atomic.Uint64
	// ListenerFilterRemoteClose: the client closed while listener filters
	// waited for more data.
	ListenerFilterRemoteClose atomic.Uint64
	// ListenerFilterError: a listener filter rejected the connection.
	ListenerFilterError atomic.Uint64
	// NoFilterChainMatch: no filter chain (and no default) took it.
	NoFilterChainMatch atomic.Uint64
}

// inspecting is a connection while its listener filters run: the socket's
// handler until a filter chain takes it.
type inspecting struct {
	l     *Listener
	c     *worker.Conn
	set   *network.Set
	ins   Inspection
	next  int // the filter to run
	timer *worker.Timer
	done  bool
}

func (l *Listener) inspect(c *worker.Conn, set *network.Set) {
	in := &inspecting{l: l, c: c, set: set}
	c.SetHandler(in)
	if d := l.cfg.ListenerFiltersTimeout; d > 0 {
		in.timer = c.Worker().AfterFunc(d, in.timedOut)
	}
	in.run(false)
}

// run calls the filters from the current one on, as far as the input
// takes them.
func (in *inspecting) run(eof bool) {
	filters := in.l.cfg.ListenerFilters
	for in.next < len(filters) {
		st, n := filters[in.next].Filter.Inspect(in.c.Input(), eof, &in.ins)
		if n > 0 {
			in.c.Consume(n)
		}
		switch st {
		case Done:
			in.next++
		case NeedMoreData:
			if eof {
				in.l.stats.ListenerFilterRemoteClose.Add(1)
				in.close("client closed before the listener filters finished", filters[in.next].Name)
			}
			return
		default:
			in.l.stats.ListenerFilterError.Add(1)
			in.close("listener filter rejected the connection", filters[in.next].Name)
			return
		}
	}
	in.finish()
}

func (in *inspecting) finish() {
	in.done = true
	if in.timer != nil {
		in.timer.Stop()
	}
	if in.ins.TransportProtocol == "" {
		in.ins.TransportProtocol = "raw_buffer"
	}
	in.l.start(in.c, in.set, &in.ins)
}

func (in *inspecting) close(msg, filter string) {
	in.done = true
	if in.timer != nil {
		in.timer.Stop()
	}
	in.l.logDebug(msg, in.c, zap.String("listener_filter", filter))
	in.c.Close()
}

func (in *inspecting) timedOut() {
	if in.done || in.c.Closed() {
		return
	}
	in.l.stats.DownstreamPreCxTimeout.Add(1)
	if in.l.cfg.ContinueOnListenerFiltersTimeout {
		// Envoy's continue_on_listener_filters_timeout: go on with what
		// is known (e.g. no SNI).
		in.finish()
		return
	}
	in.close("listener filters timed out", in.l.cfg.ListenerFilters[in.next].Name)
}

// worker.ConnHandler

func (in *inspecting) OnConnect(*worker.Conn, error) {}
func (in *inspecting) OnWritable(*worker.Conn)       {}

func (in *inspecting) OnData(c *worker.Conn) {
	if !in.done {
		in.run(c.ReadEOF())
	}
}

func (in *inspecting) OnClose(c *worker.Conn, err error) {
	if in.done {
		return
	}
	in.done = true
	if in.timer != nil {
		in.timer.Stop()
	}
	in.l.stats.ListenerFilterRemoteClose.Add(1)
}

// logDebug logs a connection-level event at debug level.
func (l *Listener) logDebug(msg string, c *worker.Conn, fields ...zap.Field) {
	log := l.cfg.Options.Log
	if log == nil {
		return
	}
	if ce := log.Check(zap.DebugLevel, msg); ce != nil {
		ce.Write(append(fields, zap.Uint64("conn_id", c.ID()), zap.String("listener", l.cfg.Name),
			zap.String("remote", c.RemoteAddr().String()))...)
	}
}
