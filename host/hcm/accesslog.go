package hcm

import (
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/accesslog"
)

// AccessLogFormat selects an access log's line format.
type AccessLogFormat uint8

const (
	AccessLogText AccessLogFormat = iota
	AccessLogJSON
)

// AccessLog is one configured access log: a line format and the sink the
// lines go to (host/accesslog: per-worker buffers, never blocks a worker).
type AccessLog struct {
	Sink   *accesslog.Sink
	Format AccessLogFormat
}

// logAccess writes the stream's access-log lines.
func (cn *connection) logAccess(s *stream) {
	if len(cn.cfg.AccessLogs) == 0 {
		return
	}
	line := cn.logScratch[:0]
	for _, a := range cn.cfg.AccessLogs {
		line = line[:0]
		if a.Format == AccessLogJSON {
			line = appendJSONLine(line, s, cn.w.Now())
		} else {
			line = appendTextLine(line, s, cn.w.Now())
		}
		a.Sink.Write(cn.w, line)
	}
	cn.logScratch = line
}

func headerOr(s *stream, name string) []byte {
	if s.reqHeaders != nil {
		if v, ok := s.reqHeaders.Get(name); ok {
			return v
		}
	}
	return nil
}

// appendTextLine renders Envoy's default access-log format:
// [START] "METHOD PATH PROTOCOL" STATUS FLAGS BYTES_IN BYTES_OUT DURATION_MS "UPSTREAM" "REQUEST_ID" conn_id stream_id
func appendTextLine(b []byte, s *stream, now time.Time) []byte {
	b = append(b, '[')
	b = s.info.Start.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, "] \""...)
	b = appendOrDash(b, headerOr(s, ":method"))
	b = append(b, ' ')
	b = appendOrDash(b, headerOr(s, ":path"))
	b = append(b, ' ')
	b = append(b, s.info.Protocol...)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(s.info.Status), 10)
	b = append(b, ' ')
	b = append(b, s.info.Flags.String()...)
	b = append(b, ' ')
	b = appendOrDash(b, []byte(s.info.Details))
	b = append(b, ' ')
	b = strconv.AppendInt(b, s.info.BytesIn, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, s.info.BytesOut, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, now.Sub(s.info.Start).Milliseconds(), 10)
	b = append(b, " \""...)
	if s.info.Upstream.IsValid() {
		b = s.info.Upstream.AppendTo(b)
	} else {
		b = append(b, '-')
	}
	b = append(b, "\" \""...)
	b = appendOrDash(b, s.info.RequestID.Bytes())
	b = append(b, "\" conn_id="...)
	b = strconv.AppendUint(b, s.info.ConnID, 10)
	b = append(b, " stream_id="...)
	b = strconv.AppendUint(b, s.info.StreamID, 10)
	return append(b, '\n')
}

func appendOrDash(b, v []byte) []byte {
	if len(v) == 0 {
		return append(b, '-')
	}
	return append(b, v...)
}

func appendJSONLine(b []byte, s *stream, now time.Time) []byte {
	b = append(b, `{"start_time":"`...)
	b = s.info.Start.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, `","method":`...)
	b = strconv.AppendQuote(b, string(headerOr(s, ":method")))
	b = append(b, `,"path":`...)
	b = strconv.AppendQuote(b, string(headerOr(s, ":path")))
	b = append(b, `,"authority":`...)
	b = strconv.AppendQuote(b, string(headerOr(s, ":authority")))
	b = append(b, `,"protocol":"`...)
	b = append(b, s.info.Protocol...)
	b = append(b, `","status":`...)
	b = strconv.AppendInt(b, int64(s.info.Status), 10)
	b = append(b, `,"response_flags":"`...)
	b = append(b, s.info.Flags.String()...)
	b = append(b, `","details":`...)
	b = strconv.AppendQuote(b, s.info.Details)
	b = append(b, `,"bytes_received":`...)
	b = strconv.AppendInt(b, s.info.BytesIn, 10)
	b = append(b, `,"bytes_sent":`...)
	b = strconv.AppendInt(b, s.info.BytesOut, 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendInt(b, now.Sub(s.info.Start).Milliseconds(), 10)
	b = append(b, `,"upstream_host":"`...)
	if s.info.Upstream.IsValid() {
		b = s.info.Upstream.AppendTo(b)
	}
	b = append(b, `","upstream_cluster":`...)
	b = strconv.AppendQuote(b, s.info.Cluster)
	b = append(b, `,"route_name":`...)
	b = strconv.AppendQuote(b, s.info.RouteName)
	b = append(b, `,"request_id":`...)
	b = strconv.AppendQuote(b, s.info.RequestID.String())
	b = append(b, `,"downstream_remote_address":"`...)
	b = s.info.Source.AppendTo(b)
	b = append(b, `","conn_id":`...)
	b = strconv.AppendUint(b, s.info.ConnID, 10)
	b = append(b, `,"stream_id":`...)
	b = strconv.AppendUint(b, s.info.StreamID, 10)
	b = append(b, `,"worker":`...)
	b = strconv.AppendInt(b, int64(s.info.WorkerIndex), 10)
	return append(b, "}\n"...)
}

// logProtocolError records a request rejected before a stream existed.
func (cn *connection) logProtocolError(status int, reason string) {
	if ce := cn.cfg.Log.Check(zap.DebugLevel, "rejected malformed request"); ce != nil {
		ce.Write(zap.Uint64("conn_id", cn.c.ID()), zap.Int("status", status), zap.String("details", reason))
	}
	for _, a := range cn.cfg.AccessLogs {
		b := cn.logScratch[:0]
		now := cn.w.Now()
		if a.Format == AccessLogJSON {
			b = append(b, `{"start_time":"`...)
			b = now.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
			b = append(b, `","status":`...)
			b = strconv.AppendInt(b, int64(status), 10)
			b = append(b, `,"response_flags":"DPE","details":`...)
			b = strconv.AppendQuote(b, reason)
			b = append(b, `,"downstream_remote_address":"`...)
			b = cn.c.RemoteAddr().AppendTo(b)
			b = append(b, `","conn_id":`...)
			b = strconv.AppendUint(b, cn.c.ID(), 10)
			b = append(b, "}\n"...)
		} else {
			b = append(b, '[')
			b = now.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
			b = append(b, "] \"- - -\" "...)
			b = strconv.AppendInt(b, int64(status), 10)
			b = append(b, " DPE "...)
			b = append(b, reason...)
			b = append(b, " 0 0 0 \"-\" \"-\" conn_id="...)
			b = strconv.AppendUint(b, cn.c.ID(), 10)
			b = append(b, '\n')
		}
		a.Sink.Write(cn.w, b)
		cn.logScratch = b
	}
}

func statusBody(status int) string {
	switch status {
	case 400:
		return "Bad Request"
	case 413:
		return "Payload Too Large"
	case 414:
		return "URI Too Long"
	case 431:
		return "Request Header Fields Too Large"
	case 501:
		return "Not Implemented"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Error"
}

// warnLimiter lets one warning per key through per minute.
var warnLimiter = &rateLimiter{last: make(map[string]time.Time)}

type rateLimiter struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (r *rateLimiter) allow(key string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.last[key]; ok && now.Sub(t) < time.Minute {
		return false
	}
	if len(r.last) > 1024 {
		clear(r.last)
	}
	r.last[key] = now
	return true
}
