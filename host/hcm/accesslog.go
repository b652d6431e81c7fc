package hcm

import (
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/accesslog"
	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/network"
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

// logAccess writes the stream's access-log lines, or keeps what they need
// while the codec still reads and discards the rest of the request body
// (HTTP/1 answered early): a malformed body then shows in the line.
func (cn *connection) logAccess(s *stream) {
	if len(cn.cfg.AccessLogs) == 0 {
		return
	}
	if d, ok := cn.codec.(requestBodyDiscarder); ok && d.DiscardingRequestBody() {
		cn.flushDeferredLog() // never more than one: HTTP/1 is one stream at a time
		cn.deferred.info = s.info
		cn.deferred.req = s.reqHeaders
		cn.deferred.pending = true
		s.reqHeaders = nil // the deferred line owns the map now
		return
	}
	cn.writeAccessLines(&s.info, s.reqHeaders)
}

func (cn *connection) writeAccessLines(info *StreamInfo, req *headers.Map) {
	line := cn.logScratch[:0]
	for _, a := range cn.cfg.AccessLogs {
		line = line[:0]
		if a.Format == AccessLogJSON {
			line = appendJSONLine(line, info, req, cn.nc.Metadata(), cn.w.Now())
		} else {
			line = appendTextLine(line, info, req, cn.w.Now())
		}
		a.Sink.Write(cn.w, line)
	}
	cn.logScratch = line
}

// requestBodyDiscarder is a codec that can answer a request before reading
// all of its body and then read and drop the rest to keep the connection.
type requestBodyDiscarder interface {
	DiscardingRequestBody() bool
}

// deferredLog is the access-log line of a stream answered before its
// request body was read, kept until the codec has read the rest.
type deferredLog struct {
	info    StreamInfo
	req     *headers.Map
	pending bool
}

// RequestBodyDiscarded is http1.ServerCallbacks: the codec finished with the
// body of the stream whose line was deferred; reason is the body's protocol
// error, if any.
func (cn *connection) RequestBodyDiscarded(status int, reason string) {
	if !cn.deferred.pending {
		return
	}
	if reason != "" {
		cn.deferred.info.Flags |= FlagDownstreamProtocolError
		if cn.deferred.info.Details == "" {
			cn.deferred.info.Details = reason
		} else {
			cn.deferred.info.Details += "," + reason
		}
	}
	cn.flushDeferredLog()
}

func (cn *connection) flushDeferredLog() {
	d := &cn.deferred
	if !d.pending {
		return
	}
	d.pending = false
	cn.writeAccessLines(&d.info, d.req)
	cn.releaseRequestHeaders(d.req)
	d.req = nil
	d.info = StreamInfo{}
}

func headerOr(req *headers.Map, name string) []byte {
	if req != nil {
		if v, ok := req.Get(name); ok {
			return v
		}
	}
	return nil
}

// appendTextLine renders Envoy's default access-log format:
// [START] "METHOD PATH PROTOCOL" STATUS FLAGS BYTES_IN BYTES_OUT DURATION_MS "UPSTREAM" "REQUEST_ID" conn_id stream_id
func appendTextLine(b []byte, info *StreamInfo, req *headers.Map, now time.Time) []byte {
	b = append(b, '[')
	b = info.Start.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, "] \""...)
	b = appendOrDash(b, headerOr(req, ":method"))
	b = append(b, ' ')
	b = appendOrDash(b, headerOr(req, ":path"))
	b = append(b, ' ')
	b = append(b, info.Protocol...)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(info.Status), 10)
	b = append(b, ' ')
	b = append(b, info.Flags.String()...)
	b = append(b, ' ')
	b = appendOrDash(b, []byte(info.Details))
	b = append(b, ' ')
	b = strconv.AppendInt(b, info.BytesIn, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, info.BytesOut, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, now.Sub(info.Start).Milliseconds(), 10)
	b = append(b, " \""...)
	if info.Upstream.IsValid() {
		b = info.Upstream.AppendTo(b)
	} else {
		b = append(b, '-')
	}
	b = append(b, "\" \""...)
	b = appendOrDash(b, info.RequestID.Bytes())
	b = append(b, "\" conn_id="...)
	b = strconv.AppendUint(b, info.ConnID, 10)
	b = append(b, " stream_id="...)
	b = strconv.AppendUint(b, info.StreamID, 10)
	return append(b, '\n')
}

func appendOrDash(b, v []byte) []byte {
	if len(v) == 0 {
		return append(b, '-')
	}
	return append(b, v...)
}

// appendJSONLine renders the JSON format; dynamic metadata (the stream's,
// and the connection's from network filters) only when there is some.
func appendJSONLine(b []byte, info *StreamInfo, req *headers.Map, connMD map[string]map[string]network.MetadataValue, now time.Time) []byte {
	b = append(b, `{"start_time":"`...)
	b = info.Start.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, `","method":`...)
	b = accesslog.AppendJSONString(b, headerOr(req, ":method"))
	b = append(b, `,"path":`...)
	b = accesslog.AppendJSONString(b, headerOr(req, ":path"))
	b = append(b, `,"authority":`...)
	b = accesslog.AppendJSONString(b, headerOr(req, ":authority"))
	b = append(b, `,"protocol":"`...)
	b = append(b, info.Protocol...)
	b = append(b, `","status":`...)
	b = strconv.AppendInt(b, int64(info.Status), 10)
	b = append(b, `,"response_flags":"`...)
	b = append(b, info.Flags.String()...)
	b = append(b, `","details":`...)
	b = accesslog.AppendJSONString(b, info.Details)
	b = append(b, `,"bytes_received":`...)
	b = strconv.AppendInt(b, info.BytesIn, 10)
	b = append(b, `,"bytes_sent":`...)
	b = strconv.AppendInt(b, info.BytesOut, 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendInt(b, now.Sub(info.Start).Milliseconds(), 10)
	b = append(b, `,"upstream_host":"`...)
	if info.Upstream.IsValid() {
		b = info.Upstream.AppendTo(b)
	}
	b = append(b, `","upstream_cluster":`...)
	b = accesslog.AppendJSONString(b, info.Cluster)
	b = append(b, `,"upstream_request_attempt_count":`...)
	b = strconv.AppendInt(b, int64(info.Attempts), 10)
	b = append(b, `,"route_name":`...)
	b = accesslog.AppendJSONString(b, info.RouteName)
	b = append(b, `,"request_id":`...)
	b = accesslog.AppendJSONString(b, info.RequestID.String())
	b = append(b, `,"downstream_remote_address":"`...)
	b = info.Source.AppendTo(b)
	b = append(b, `","conn_id":`...)
	b = strconv.AppendUint(b, info.ConnID, 10)
	b = append(b, `,"stream_id":`...)
	b = strconv.AppendUint(b, info.StreamID, 10)
	b = append(b, `,"worker":`...)
	b = strconv.AppendInt(b, int64(info.WorkerIndex), 10)
	if info.Connection != nil {
		b = network.AppendTLSJSON(b, info.Connection)
	}
	if len(info.Metadata) > 0 {
		b = network.AppendMetadataJSON(append(b, `,"dynamic_metadata":`...), info.Metadata)
	}
	if len(connMD) > 0 {
		b = network.AppendMetadataJSON(append(b, `,"connection_metadata":`...), connMD)
	}
	return append(b, "}\n"...)
}

// logProtocolError records a request rejected before a stream existed.
func (cn *connection) logProtocolError(status int, reason string) {
	if ce := cn.cfg.Log.Check(zap.DebugLevel, "rejected malformed request"); ce != nil {
		ce.Write(zap.Uint64("conn_id", cn.nc.ID()), zap.Int("status", status), zap.String("details", reason))
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
			b = accesslog.AppendJSONString(b, reason)
			b = append(b, `,"downstream_remote_address":"`...)
			b = cn.nc.RemoteAddr().AppendTo(b)
			b = append(b, `","conn_id":`...)
			b = strconv.AppendUint(b, cn.nc.ID(), 10)
			b = append(b, "}\n"...)
		} else {
			b = append(b, '[')
			b = now.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
			b = append(b, "] \"- - -\" "...)
			b = strconv.AppendInt(b, int64(status), 10)
			b = append(b, " DPE "...)
			b = append(b, reason...)
			b = append(b, " 0 0 0 \"-\" \"-\" conn_id="...)
			b = strconv.AppendUint(b, cn.nc.ID(), 10)
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
