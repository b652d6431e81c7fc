package server

import (
	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/codec"
	"github.com/sluiceproxy/sluice/host/hcm"
	"github.com/sluiceproxy/sluice/host/http2"
	"github.com/sluiceproxy/sluice/host/worker"
)

// newHTTP2Factory wires the HTTP/2 codec into a connection manager.
func newHTTP2Factory(log *zap.Logger, opts http2.Options) hcm.HTTP2Factory {
	return func(c *worker.Conn, cb codec.Callbacks) codec.ServerCodec {
		return http2.NewServerCodec(c, cb, opts, log)
	}
}
