package http2

import (
	"time"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/codec"
	"github.com/sluiceproxy/sluice/host/headers"
)

// workerTransport is the production transport: the connection manager's
// codec.Transport and its loop's clock, timers and post queue.
type workerTransport struct{ t codec.Transport }

func (w workerTransport) Write(p []byte)           { w.t.Write(p) }
func (w workerTransport) Pending() int             { return w.t.Pending() }
func (w workerTransport) AboveHighWatermark() bool { return w.t.AboveHighWatermark() }
func (w workerTransport) Now() time.Time           { return w.t.Worker().Now() }
func (w workerTransport) Post(fn func())           { w.t.Worker().Post(fn) }
func (w workerTransport) AfterFunc(d time.Duration, fn func()) stopper {
	return w.t.Worker().AfterFunc(d, fn)
}

// NewServerCodec starts the server side of an HTTP/2 connection whose client
// preface has not been consumed yet (prior knowledge h2c, or codec_type auto
// after IsPreface matched). It queues our SETTINGS at once. Call on t's
// worker.
func NewServerCodec(t codec.Transport, cb codec.Callbacks, opts Options, log *zap.Logger) *ServerCodec {
	return newServerCodec(workerTransport{t}, cb, opts, connLogger(log, t))
}

// connLogger tags the codec's lines with conn_id (once per connection).
func connLogger(log *zap.Logger, t codec.Transport) *zap.Logger {
	if log == nil || !log.Core().Enabled(zap.DebugLevel) {
		return log // the codec only logs at debug level
	}
	return log.With(zap.Uint64("conn_id", t.ID()))
}

// NewServerCodecFromUpgrade continues a connection that the HTTP/1.1 side has
// switched with "101 Switching Protocols" (RFC 7540 3.2): settingsPayload is
// the decoded HTTP2-Settings value (see DecodeSettingsHeader) and req the
// upgrading request, bodiless, which becomes stream 1 (delivered from the
// loop shortly after this returns). The client preface is still expected.
func NewServerCodecFromUpgrade(t codec.Transport, cb codec.Callbacks, opts Options, log *zap.Logger, settingsPayload []byte, req *headers.Map) (*ServerCodec, error) {
	return newServerCodecFromUpgrade(workerTransport{t}, cb, opts, connLogger(log, t), settingsPayload, req)
}

var _ codec.ServerCodec = (*ServerCodec)(nil)
