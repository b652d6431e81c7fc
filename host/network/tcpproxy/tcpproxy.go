// Package tcpproxy is the tcp_proxy network filter (Envoy's): the terminal
// filter that connects each downstream connection to an endpoint of a
// cluster and pipes bytes both ways, with watermark backpressure, half-close
// in each direction, an idle timeout and an optional bound on a
// connection's life, and one access-log line per connection.
//
// It connects in OnNewConnection, so a filter before it that stops the
// chain (a gatekeeper deciding on its own threads) keeps it from connecting
// until that filter continues; bytes the client sends meanwhile wait in the
// read buffer (bounded by the listener's buffer limit) and are forwarded
// once the upstream connection is up. Data a filter before it injects
// while the upstream connects (a throttler behind a gatekeeper) is kept
// and forwarded first.
package tcpproxy

import (
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/accesslog"
	"github.com/sluiceproxy/sluice/host/cluster"
	"github.com/sluiceproxy/sluice/host/network"
	"github.com/sluiceproxy/sluice/host/worker"
)

// Stats are Envoy's tcp.<stat_prefix>.* counters.
type Stats struct {
	DownstreamCxTotal                       atomic.Uint64
	DownstreamCxActive                      atomic.Int64
	DownstreamCxNoRoute                     atomic.Uint64
	DownstreamCxRxBytesTotal                atomic.Uint64
	DownstreamCxTxBytesTotal                atomic.Uint64
	DownstreamFlowControlPausedReadingTotal atomic.Uint64
	DownstreamFlowControlResumedReading     atomic.Uint64
	UpstreamConnectFailed                   atomic.Uint64
	IdleTimeout                             atomic.Uint64
	MaxDownstreamConnectionDuration         atomic.Uint64
}

// Each visits every stat with its name.
func (s *Stats) Each(fn func(name string, value int64)) {
	fn("downstream_cx_total", int64(s.DownstreamCxTotal.Load()))
	fn("downstream_cx_active", s.DownstreamCxActive.Load())
	fn("downstream_cx_no_route", int64(s.DownstreamCxNoRoute.Load()))
	fn("downstream_cx_rx_bytes_total", int64(s.DownstreamCxRxBytesTotal.Load()))
	fn("downstream_cx_tx_bytes_total", int64(s.DownstreamCxTxBytesTotal.Load()))
	fn("downstream_flow_control_paused_reading_total", int64(s.DownstreamFlowControlPausedReadingTotal.Load()))
	fn("downstream_flow_control_resumed_reading_total", int64(s.DownstreamFlowControlResumedReading.Load()))
	fn("upstream_connect_failed", int64(s.UpstreamConnectFailed.Load()))
	fn("idle_timeout", int64(s.IdleTimeout.Load()))
	fn("max_downstream_connection_duration", int64(s.MaxDownstreamConnectionDuration.Load()))
}

// AccessLog is one access log of the filter: where lines go and their
// format.
type AccessLog struct {
	Sink *accesslog.Sink
	JSON bool
}

// Config is one compiled tcp_proxy; immutable once built, shared by
// workers.
type Config struct {
	StatPrefix  string
	Cluster     *cluster.Cluster
	IdleTimeout time.Duration // 0: none
	MaxDuration time.Duration // 0: none
	// UpstreamBufferLimit is the upstream socket's read limit and output
	// high watermark (the cluster's per_connection_buffer_limit_bytes).
	UpstreamBufferLimit int
	AccessLogs          []AccessLog
	Log                 *zap.Logger
	Stats               *Stats
}

// NewFilter is network.FilterFactory.
func (c *Config) NewFilter(cb *network.Callbacks) network.Filter {
	// Half-close from the start: a client's FIN that arrives while a
	// filter before this one still holds the chain must not close the
	// connection before the proxy has passed the data on.
	cb.Connection().EnableHalfClose(true)
	f := &filter{cfg: c, cb: cb}
	f.onTimer = f.timer
	return f
}

// Response flags this filter can log (Envoy's names).
const (
	flagNoHealthyUpstream     = "UH"
	flagConnectFailure        = "UF"
	flagOverflow              = "UO"
	flagUpstreamTermination   = "UC"
	flagDownstreamTermination = "DC"
	flagIdleTimeout           = "SI"
	flagDurationTimeout       = "DT"
	flagLocalReset            = "LR"
)

type filter struct {
	cfg  *Config
	cb   *network.Callbacks
	nc   *network.Connection
	tun  *cluster.Tunnel
	pipe *network.Pipe

	start   time.Time
	host    netip.AddrPort
	flag    string
	details string
	done    bool
	paused  bool // downstream reading disabled while connecting

	// Data a filter before this one injected (InjectReadData) while the
	// upstream was still connecting. It is not in the read buffer, which
	// keeps itself until then, so it is kept here and goes first.
	early    []byte
	earlyEnd bool

	timerH  *worker.Timer
	onTimer func()
}

func (f *filter) OnNewConnection() network.FilterStatus {
	f.nc = f.cb.Connection()
	f.start = f.nc.Worker().Now()
	f.cfg.Stats.DownstreamCxTotal.Add(1)
	f.cfg.Stats.DownstreamCxActive.Add(1)
	// What the client sends while the upstream connects waits in the
	// read buffer; reading stays off until then.
	f.paused = true
	f.nc.ReadDisable(true)
	f.tun = f.cfg.Cluster.NewTunnel(f.nc.Worker(), f)
	if !f.done {
		f.armTimer()
	}
	// Continue: the pass that started this filter goes on to OnData. When
	// it carries injected data (a throttler behind a gatekeeper releasing
	// its first bytes), that data is in no buffer that would keep it, so
	// OnData must see it now.
	return network.Continue
}

func (f *filter) OnData(b *network.Buffer, end bool) network.FilterStatus {
	if f.pipe != nil {
		f.pipe.Downstream(b, end)
		return network.StopIteration
	}
	// Connecting: the read buffer keeps itself (reading is off meanwhile);
	// injected data is copied, and the FIN noted.
	if b != f.nc.ReadBuffer() {
		f.early = append(f.early, b.Bytes()...)
		f.earlyEnd = f.earlyEnd || end
		b.Drain(b.Len())
	}
	return network.StopIteration
}

// cluster.TunnelHandler

func (f *filter) OnTunnelReady(t *cluster.Tunnel) {
	if f.done {
		t.Release(false)
		return
	}
	f.tun = t
	f.host = t.Host()
	f.pipe = network.NewPipe(f.nc, t.Conn(), f.cfg.UpstreamBufferLimit, f)
	if len(f.early) > 0 || f.earlyEnd {
		f.pipe.DownstreamData(f.early, f.earlyEnd)
		f.early = nil
	}
	if f.paused {
		f.paused = false
		f.nc.ReadDisable(false)
	}
	if ce := f.cfg.Log.Check(zap.DebugLevel, "tcp_proxy: upstream connected"); ce != nil {
		ce.Write(zap.Uint64("conn_id", f.nc.ID()), zap.Stringer("upstream", f.host))
	}
}

func (f *filter) OnTunnelFailure(reason cluster.FailureReason, err error) {
	f.tun = nil
	if f.done {
		return
	}
	switch reason {
	case cluster.Overflow:
		f.flag, f.details = flagOverflow, "upstream_overflow"
	case cluster.NoHealthyUpstream:
		f.cfg.Stats.DownstreamCxNoRoute.Add(1)
		f.flag, f.details = flagNoHealthyUpstream, "no_healthy_upstream"
	default:
		f.cfg.Stats.UpstreamConnectFailed.Add(1)
		f.flag, f.details = flagConnectFailure, "upstream_connect_failure"
	}
	if ce := f.cfg.Log.Check(zap.DebugLevel, "tcp_proxy: no upstream connection"); ce != nil {
		ce.Write(zap.Uint64("conn_id", f.nc.ID()), zap.String("details", f.details), zap.Error(err))
	}
	f.nc.Close(network.NoFlush)
}

// network.PipeOwner

func (f *filter) OnPipeEnd(reset bool, upstreamFirst bool) {
	if reset {
		f.setFlag(flagUpstreamTermination, "upstream_reset")
		f.nc.Close(network.FlushWrite)
	}
	// Both directions ended: the network layer closes the connection once
	// the upstream's FIN has really gone out to the client (a write filter
	// may still hold data before it), and OnEvent finishes.
}

// network.WatermarkHandler

func (f *filter) OnAboveWriteBufferHighWatermark() {}

func (f *filter) OnBelowWriteBufferLowWatermark() {
	if f.pipe != nil {
		f.pipe.DownstreamDrained()
	}
}

// network.EventHandler

func (f *filter) OnEvent(ev network.ConnectionEvent) {
	switch ev {
	case network.RemoteClose:
		if f.pipe == nil || !f.pipe.BothEnded() {
			f.setFlag(flagDownstreamTermination, "downstream_remote_close")
		}
		f.finish()
	case network.LocalClose:
		f.finish()
	}
}

// network.DrainDeadliner

// OnDrainDeadline: the drain deadline closes the connection while it still
// carries traffic; its line says so (as an HTTP tunnel's does).
func (f *filter) OnDrainDeadline() { f.setFlag(flagLocalReset, "drain_timeout") }

// network.Destroyer

// OnDestroy logs a connection that closed before the chain reached this
// filter: a filter before it refused it (client_ip_allow, a module
// gatekeeper), the client left while one held the chain, or the listener's
// network_filters_timeout ran out. Every connection gets its line.
func (f *filter) OnDestroy() {
	if f.nc != nil {
		return // started: finish logged it
	}
	f.nc = f.cb.Connection()
	f.start = f.nc.Start()
	f.done = true
	if ev, details := f.nc.Termination(); ev == network.RemoteClose {
		f.flag, f.details = flagDownstreamTermination, "downstream_remote_close"
	} else {
		f.details = details
	}
	f.log()
}

func (f *filter) setFlag(flag, details string) {
	if f.flag == "" {
		f.flag, f.details = flag, details
	}
}

// finish runs once the downstream connection closed: the upstream side is
// closed (after flushing) and released, and the access-log line written.
func (f *filter) finish() {
	if f.done {
		return
	}
	f.done = true
	if f.timerH != nil {
		f.timerH.Stop()
	}
	if f.pipe != nil {
		f.pipe.Close(false)
		f.cfg.Stats.DownstreamCxRxBytesTotal.Add(uint64(f.pipe.BytesIn))
		f.cfg.Stats.DownstreamCxTxBytesTotal.Add(uint64(f.pipe.BytesOut))
		f.cfg.Stats.DownstreamFlowControlPausedReadingTotal.Add(uint64(f.pipe.DownstreamPaused))
		f.cfg.Stats.DownstreamFlowControlResumedReading.Add(uint64(f.pipe.DownstreamResumed))
	}
	if f.tun != nil {
		f.tun.Release(f.flag == flagUpstreamTermination)
		f.tun = nil
	}
	f.cfg.Stats.DownstreamCxActive.Add(-1)
	if f.flag == "" && f.details == "" {
		// Closed by sluice for a reason the connection carries (the drain
		// deadline, a module filter's close).
		if ev, details := f.nc.Termination(); ev == network.LocalClose {
			f.details = details
		}
	}
	f.log()
}

// armTimer keeps one timer for both the idle timeout and the connection's
// maximum duration, whichever comes first.
func (f *filter) armTimer() {
	d := f.nextDeadline()
	if d <= 0 {
		return
	}
	if f.timerH == nil {
		f.timerH = f.nc.Worker().AfterFunc(d, f.onTimer)
		return
	}
	f.timerH.Reset(d)
}

// nextDeadline is how long until the timer should look again (0: never).
func (f *filter) nextDeadline() time.Duration {
	now := f.nc.Worker().Now()
	var d time.Duration
	if f.cfg.IdleTimeout > 0 {
		last := f.start
		if f.pipe != nil && f.pipe.LastActive.After(last) {
			last = f.pipe.LastActive
		}
		d = max(f.cfg.IdleTimeout-now.Sub(last), time.Millisecond)
	}
	if f.cfg.MaxDuration > 0 {
		left := max(f.cfg.MaxDuration-now.Sub(f.start), time.Millisecond)
		if d == 0 || left < d {
			d = left
		}
	}
	return d
}

func (f *filter) timer() {
	if f.done {
		return
	}
	now := f.nc.Worker().Now()
	if f.cfg.MaxDuration > 0 && now.Sub(f.start) >= f.cfg.MaxDuration {
		f.cfg.Stats.MaxDownstreamConnectionDuration.Add(1)
		f.setFlag(flagDurationTimeout, "max_downstream_connection_duration")
		f.abort()
		return
	}
	if f.cfg.IdleTimeout > 0 {
		last := f.start
		if f.pipe != nil && f.pipe.LastActive.After(last) {
			last = f.pipe.LastActive
		}
		if now.Sub(last) >= f.cfg.IdleTimeout {
			f.cfg.Stats.IdleTimeout.Add(1)
			f.setFlag(flagIdleTimeout, "idle_timeout")
			f.abort()
			return
		}
	}
	f.armTimer()
}

func (f *filter) abort() {
	if f.pipe != nil {
		f.pipe.Close(true)
	}
	f.nc.Close(network.NoFlush)
}

// log writes the connection's access-log lines.
func (f *filter) log() {
	if len(f.cfg.AccessLogs) == 0 {
		return
	}
	now := f.nc.Worker().Now()
	var in, out int64
	if f.pipe != nil {
		in, out = f.pipe.BytesIn, f.pipe.BytesOut
	}
	var line []byte
	for _, a := range f.cfg.AccessLogs {
		line = line[:0]
		if a.JSON {
			line = f.appendJSON(line, now, in, out)
		} else {
			line = f.appendText(line, now, in, out)
		}
		a.Sink.Write(f.nc.Worker(), line)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// appendText renders Envoy's TCP layout:
// [START] "- - TCP" 0 FLAGS DETAILS BYTES_RECEIVED BYTES_SENT DURATION_MS "UPSTREAM_HOST" "-" conn_id=N
func (f *filter) appendText(b []byte, now time.Time, in, out int64) []byte {
	b = append(b, '[')
	b = f.start.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, `] "- - TCP" 0 `...)
	b = append(b, orDash(f.flag)...)
	b = append(b, ' ')
	b = append(b, orDash(f.details)...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, in, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, out, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, now.Sub(f.start).Milliseconds(), 10)
	b = append(b, ` "`...)
	if f.host.IsValid() {
		b = f.host.AppendTo(b)
	} else {
		b = append(b, '-')
	}
	b = append(b, `" "-" conn_id=`...)
	b = strconv.AppendUint(b, f.nc.ID(), 10)
	return append(b, '\n')
}

func (f *filter) appendJSON(b []byte, now time.Time, in, out int64) []byte {
	b = append(b, `{"start_time":"`...)
	b = f.start.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, `","protocol":"TCP","response_flags":"`...)
	b = append(b, orDash(f.flag)...)
	b = append(b, `","details":`...)
	b = accesslog.AppendJSONString(b, f.details)
	b = append(b, `,"bytes_received":`...)
	b = strconv.AppendInt(b, in, 10)
	b = append(b, `,"bytes_sent":`...)
	b = strconv.AppendInt(b, out, 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendInt(b, now.Sub(f.start).Milliseconds(), 10)
	b = append(b, `,"upstream_host":"`...)
	if f.host.IsValid() {
		b = f.host.AppendTo(b)
	}
	b = append(b, `","upstream_cluster":`...)
	b = accesslog.AppendJSONString(b, f.cfg.Cluster.Name())
	b = append(b, `,"downstream_remote_address":"`...)
	b = f.nc.RemoteAddr().AppendTo(b)
	b = append(b, `","downstream_local_address":"`...)
	b = f.nc.LocalAddr().AppendTo(b)
	b = append(b, `","conn_id":`...)
	b = strconv.AppendUint(b, f.nc.ID(), 10)
	b = append(b, `,"worker":`...)
	b = strconv.AppendInt(b, int64(f.nc.Worker().Index()), 10)
	b = network.AppendTLSJSON(b, f.nc.Attributes())
	b = network.AppendMetadataJSON(append(b, `,"connection_metadata":`...), f.nc.Metadata())
	return append(b, "}\n"...)
}
