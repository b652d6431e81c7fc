package hcm

import (
	"time"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/cluster"
	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/network"
)

// tunnel is a downstream connection that switched protocols, joined to the
// upstream connection that switched with it: a network.Pipe (the byte pipe
// tcp_proxy runs on too), with watermark backpressure both ways and each
// direction's FIN passed on. The connection manager stays the terminal
// filter and feeds the pipe; stream_idle_timeout ends a tunnel that carried
// nothing for that long. One access-log line is written when the tunnel
// ends.
type tunnel struct {
	cn       *connection
	pipe     *network.Pipe
	upstream *cluster.Tunnel
	// The access-log record: the switched stream's info, with the
	// tunnel's bytes added, and its request head.
	info StreamInfo
	req  *headers.Map

	ended bool

	idle   timerHandle
	onIdle func()
}

// beginTunnel turns the connection into a tunnel with t, taking over s's
// info and request head for the access log. The stream is ending (the
// caller completes it); start follows.
func (cn *connection) beginTunnel(s *stream, t *cluster.Tunnel) *tunnel {
	tn := &tunnel{cn: cn, upstream: t}
	tn.info = s.info
	tn.req = s.reqHeaders
	s.reqHeaders = nil // the record keeps it past the stream's destruction
	tn.onIdle = tn.idleCheck
	cn.tunnel = tn
	cn.idle.stop()
	cn.cfg.Stats.DownstreamCxUpgradesTotal.Add(1)
	cn.cfg.Stats.DownstreamCxUpgradesActive.Add(1)
	return tn
}

// start joins both sockets. Bytes that arrived before the switch (after the
// request head; after the 101 head) are in their inputs and are delivered
// by the loop, never from inside this call.
func (tn *tunnel) start() {
	if tn.ended {
		return
	}
	if tn.upstream.Conn().Closed() {
		// The upstream died while the filters looked at the response.
		tn.finish(FlagUpstreamConnectionTermination, "upstream_reset_after_response_started")
		return
	}
	cn := tn.cn
	// per_connection_buffer_limit_bytes bounds both directions.
	tn.pipe = network.NewPipe(cn.nc, tn.upstream.Conn(), cn.cfg.ConnBufferLimit, tn)
	if d := cn.cfg.StreamIdleTimeout; d > 0 {
		tn.idle.arm(cn.w, d, tn.onIdle)
	}
	if ce := cn.cfg.Log.Check(zap.DebugLevel, "tunnel started"); ce != nil {
		ce.Write(zap.Uint64("conn_id", cn.nc.ID()), zap.Uint64("stream_id", tn.info.StreamID),
			zap.Uint64("upstream_conn_id", tn.upstream.Conn().ID()), zap.Int("status", tn.info.Status))
	}
}

// downstream passes what the client sent (the connection's OnData).
func (tn *tunnel) downstream(b *network.Buffer, end bool) {
	if tn.pipe != nil && !tn.ended {
		tn.pipe.Downstream(b, end)
	}
}

// downstreamDrained: the client's output drained below its low watermark.
func (tn *tunnel) downstreamDrained() {
	if tn.pipe != nil && !tn.ended {
		tn.pipe.DownstreamDrained()
	}
}

// OnPipeEnd is network.PipeOwner: both directions ended, or the upstream
// socket died.
func (tn *tunnel) OnPipeEnd(reset, _ bool) {
	if reset {
		tn.finish(FlagUpstreamConnectionTermination, "")
	}
	// Both directions ended: the connection closes once the upstream's FIN
	// has gone out to the client (write filters may still hold data), and
	// the close event finishes the tunnel.
}

// connectionClosed: the downstream connection closed under the tunnel.
func (tn *tunnel) connectionClosed(remote bool) {
	if remote && (tn.pipe == nil || !tn.pipe.BothEnded()) {
		tn.finish(FlagDownstreamConnectionTermination, "")
		return
	}
	tn.finish(0, "")
}

func (tn *tunnel) setFlag(flag ResponseFlags, details string) {
	tn.info.Flags |= flag
	if tn.info.Details == "" {
		tn.info.Details = details
	}
}

// idleCheck ends a tunnel that carried nothing for stream_idle_timeout.
func (tn *tunnel) idleCheck() {
	if tn.ended || tn.pipe == nil {
		return
	}
	cn := tn.cn
	d := cn.cfg.StreamIdleTimeout
	if left := d - cn.w.Now().Sub(tn.pipe.LastActive); left > 0 {
		tn.idle.arm(cn.w, left, tn.onIdle)
		return
	}
	cn.cfg.Stats.DownstreamRqIdleTimeout.Add(1)
	tn.pipe.Close(true)
	tn.finish(FlagStreamIdleTimeout, "stream_idle_timeout")
	cn.nc.Close(network.NoFlush)
}

// finish ends the tunnel once: the upstream socket closes after its output
// is sent, its slot is given back, the access-log line is written, and the
// downstream connection closes after flushing. flag (0 for a clean end)
// says why.
func (tn *tunnel) finish(flag ResponseFlags, details string) {
	if tn.ended {
		return
	}
	tn.ended = true
	tn.idle.stop()
	tn.setFlag(flag, details)
	info := &tn.info
	upFirst := true
	if tn.pipe != nil {
		tn.pipe.Close(false)
		info.BytesIn += tn.pipe.BytesIn
		info.BytesOut += tn.pipe.BytesOut
		upFirst = tn.pipe.UpstreamEndedFirst()
	}
	tn.upstream.Release(flag == FlagUpstreamConnectionTermination || flag == 0 && upFirst)
	cn := tn.cn
	cn.cfg.Stats.DownstreamCxUpgradesActive.Add(-1)
	cn.writeAccessLines(info, tn.req)
	cn.releaseRequestHeaders(tn.req)
	tn.req = nil
	if ce := cn.cfg.Log.Check(zap.DebugLevel, "tunnel ended"); ce != nil {
		ce.Write(zap.Uint64("conn_id", cn.nc.ID()), zap.Uint64("stream_id", info.StreamID),
			zap.Int64("bytes_in", info.BytesIn), zap.Int64("bytes_out", info.BytesOut), zap.String("flags", info.Flags.String()),
			zap.Duration("duration", cn.w.Now().Sub(info.Start).Round(time.Millisecond)))
	}
	cn.nc.Close(network.FlushWrite)
}
