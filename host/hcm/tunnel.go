package hcm

import (
	"time"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/cluster"
	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/worker"
)

// tunnel is a downstream connection that switched protocols, joined to the
// upstream connection that switched with it: a byte pipe on the worker,
// both sockets' handler. Each direction copies what one side read into the
// other side's output and stops reading while that output is above its
// high watermark, until it drains below the low one (OnWritable); so a
// side that does not read holds at most about one watermark of the other
// side's bytes in sluice. A FIN is passed on as a FIN once what came
// before it is written; when both directions have ended the sockets close.
// stream_idle_timeout ends a tunnel that carried nothing for that long.
// One access-log line is written when the tunnel ends.
type tunnel struct {
	cn       *connection
	down, up *worker.Conn
	upstream *cluster.Tunnel
	// The access-log record: the switched stream's info, with the
	// tunnel's bytes added, and its request head.
	info StreamInfo
	req  *headers.Map

	downEOF, upEOF bool // that side's FIN was passed on
	upEOFFirst     bool // the upstream ended its direction first
	ended          bool

	idle       timerHandle
	lastActive time.Time
	onIdle     func()
}

// beginTunnel turns the connection into a tunnel with t, taking over s's
// info and request head for the access log. The stream is ending (the
// caller completes it); start follows.
func (cn *connection) beginTunnel(s *stream, t *cluster.Tunnel) *tunnel {
	tn := &tunnel{cn: cn, down: cn.c, up: t.Conn(), upstream: t}
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

// start takes both sockets. Bytes that arrived before the switch (after the
// request head; after the 101 head) are in their inputs and are delivered
// by the loop, never from inside this call.
func (tn *tunnel) start() {
	if tn.ended {
		return
	}
	if tn.up.Closed() {
		// The upstream died while the filters looked at the response.
		tn.finish(FlagUpstreamConnectionTermination, "upstream_reset_after_response_started")
		return
	}
	tn.down.SetHandler(tn)
	tn.up.SetHandler(tn)
	if lim := tn.cn.cfg.ConnBufferLimit; lim > 0 {
		// per_connection_buffer_limit_bytes bounds both directions.
		tn.up.SetWatermarks(lim, lim/2)
	}
	for _, c := range [2]*worker.Conn{tn.down, tn.up} {
		c.ResumeReading()
		c.Redeliver()
	}
	tn.touch()
	if d := tn.cn.cfg.StreamIdleTimeout; d > 0 {
		tn.idle.arm(tn.cn.w, d, tn.onIdle)
	}
	if ce := tn.cn.cfg.Log.Check(zap.DebugLevel, "tunnel started"); ce != nil {
		ce.Write(zap.Uint64("conn_id", tn.down.ID()), zap.Uint64("stream_id", tn.info.StreamID),
			zap.Uint64("upstream_conn_id", tn.up.ID()), zap.Int("status", tn.info.Status))
	}
}

// worker.ConnHandler, for both sockets.

func (tn *tunnel) OnConnect(*worker.Conn, error) {}

func (tn *tunnel) OnData(c *worker.Conn) {
	if tn.ended {
		return
	}
	if c == tn.down {
		tn.pump(tn.down, tn.up, &tn.downEOF, &tn.info.BytesIn)
	} else {
		tn.pump(tn.up, tn.down, &tn.upEOF, &tn.info.BytesOut)
	}
}

// pump moves src's input to dst and passes src's FIN on.
func (tn *tunnel) pump(src, dst *worker.Conn, eof *bool, count *int64) {
	if in := src.Input(); len(in) > 0 {
		dst.Write(in)
		*count += int64(len(in))
		src.Consume(len(in))
		tn.touch()
		if dst.AboveHighWatermark() {
			src.PauseReading() // until dst's OnWritable
		}
	}
	if src.ReadEOF() && !*eof {
		*eof = true
		tn.upEOFFirst = tn.upEOFFirst || (src == tn.up && !tn.downEOF)
		dst.CloseWrite() // after what is queued
		if tn.downEOF && tn.upEOF {
			tn.finish(0, "")
		}
	}
}

func (tn *tunnel) OnWritable(c *worker.Conn) {
	if tn.ended {
		return
	}
	tn.touch() // a reader that drains slowly is still a live tunnel
	if c == tn.up {
		tn.down.ResumeReading()
	} else {
		tn.up.ResumeReading()
	}
}

func (tn *tunnel) OnClose(c *worker.Conn, err error) {
	if ce := tn.cn.cfg.Log.Check(zap.DebugLevel, "tunnel socket closed"); ce != nil {
		ce.Write(zap.Uint64("conn_id", tn.down.ID()), zap.Bool("upstream", c == tn.up), zap.Error(err))
	}
	if c == tn.up {
		tn.finish(FlagUpstreamConnectionTermination, "")
	} else {
		tn.finish(FlagDownstreamConnectionTermination, "")
	}
}

func (tn *tunnel) touch() { tn.lastActive = tn.cn.w.Now() }

// idleCheck ends a tunnel that carried nothing for stream_idle_timeout.
func (tn *tunnel) idleCheck() {
	if tn.ended {
		return
	}
	d := tn.cn.cfg.StreamIdleTimeout
	if left := d - tn.cn.w.Now().Sub(tn.lastActive); left > 0 {
		tn.idle.arm(tn.cn.w, left, tn.onIdle)
		return
	}
	tn.cn.cfg.Stats.DownstreamRqIdleTimeout.Add(1)
	tn.abort(FlagStreamIdleTimeout, "stream_idle_timeout")
}

// abort ends the tunnel now, dropping output not yet sent (idle timeout,
// drain deadline).
func (tn *tunnel) abort(flag ResponseFlags, details string) {
	tn.down.Close()
	tn.up.Close()
	tn.finish(flag, details)
}

// finish ends the tunnel: sockets still open close once their output is
// sent, the upstream connection's slot is given back, and the access-log
// line is written. flag (0 for a clean end) says why.
func (tn *tunnel) finish(flag ResponseFlags, details string) {
	if tn.ended {
		return
	}
	tn.ended = true
	tn.idle.stop()
	info := &tn.info
	info.Flags |= flag
	if info.Details == "" {
		info.Details = details
	}
	tn.down.CloseAfterFlush()
	tn.up.CloseAfterFlush()
	tn.upstream.Release(flag == FlagUpstreamConnectionTermination || flag == 0 && tn.upEOFFirst)
	cn := tn.cn
	cn.cfg.Stats.DownstreamCxUpgradesActive.Add(-1)
	if len(cn.cfg.AccessLogs) > 0 {
		cn.writeAccessLines(info, tn.req)
	}
	cn.releaseRequestHeaders(tn.req)
	tn.req = nil
	if ce := cn.cfg.Log.Check(zap.DebugLevel, "tunnel ended"); ce != nil {
		ce.Write(zap.Uint64("conn_id", tn.down.ID()), zap.Uint64("stream_id", info.StreamID),
			zap.Int64("bytes_in", info.BytesIn), zap.Int64("bytes_out", info.BytesOut), zap.String("flags", info.Flags.String()))
	}
	cn.onClosed()
}
