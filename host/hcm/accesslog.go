package hcm

import (
	"bufio"
	"os"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
)

// AccessLogFormat selects an access log's line format.
type AccessLogFormat uint8

const (
	AccessLogText AccessLogFormat = iota
	AccessLogJSON
)

// AccessLog writes one line per finished stream. Workers format into their
// own scratch buffer and append under a short lock; a background flusher
// writes at most every 100 ms, so a worker never waits on a slow disk for
// longer than one buffered write.
type AccessLog struct {
	path   string
	format AccessLogFormat
	mu     sync.Mutex
	f      *os.File
	w      *bufio.Writer
	close  bool
	done   chan struct{}
	wg     sync.WaitGroup
}

// OpenAccessLog opens (appends to) path.
func OpenAccessLog(path string, format AccessLogFormat) (*AccessLog, error) {
	var f *os.File
	var err error
	switch path {
	case "/dev/stdout":
		f = os.Stdout
	case "/dev/stderr":
		f = os.Stderr
	default:
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
	}
	a := &AccessLog{path: path, format: format, f: f, w: bufio.NewWriterSize(f, 64<<10), done: make(chan struct{})}
	a.close = f != os.Stdout && f != os.Stderr
	a.wg.Add(1)
	go a.flushLoop()
	return a, nil
}

func (a *AccessLog) flushLoop() {
	defer a.wg.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			a.Flush()
		case <-a.done:
			return
		}
	}
}

// Flush writes buffered lines out.
func (a *AccessLog) Flush() {
	a.mu.Lock()
	a.w.Flush()
	a.mu.Unlock()
}

// Reopen flushes and reopens the file at the same path, so logrotate's
// rename-then-signal works (SIGUSR1, as in Envoy). Standard streams are
// left alone.
func (a *AccessLog) Reopen() error {
	if !a.close {
		return nil
	}
	f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.w.Flush()
	old := a.f
	a.f = f
	a.w.Reset(f)
	a.mu.Unlock()
	return old.Close()
}

// Close flushes and stops the flusher.
func (a *AccessLog) Close() {
	close(a.done)
	a.wg.Wait()
	a.Flush()
	if a.close {
		a.f.Close()
	}
}

func (a *AccessLog) write(line []byte) {
	a.mu.Lock()
	a.w.Write(line)
	a.mu.Unlock()
}

// logAccess writes the stream's access-log lines.
func (cn *connection) logAccess(s *stream) {
	if len(cn.cfg.AccessLogs) == 0 {
		return
	}
	line := cn.logScratch[:0]
	for _, a := range cn.cfg.AccessLogs {
		line = line[:0]
		if a.format == AccessLogJSON {
			line = appendJSONLine(line, s, cn.w.Now())
		} else {
			line = appendTextLine(line, s, cn.w.Now())
		}
		a.write(line)
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
		var b []byte
		now := cn.w.Now()
		if a.format == AccessLogJSON {
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
		a.write(b)
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
