package server

import (
	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/codec"
	"github.com/sluiceproxy/sluice/host/hcm"
	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/http2"
)

// newHTTP2Factory wires the HTTP/2 codec into a connection manager.
func newHTTP2Factory(log *zap.Logger, opts http2.Options) hcm.HTTP2Factory {
	return func(t codec.Transport, cb codec.Callbacks) codec.ServerCodec {
		return http2.NewServerCodec(t, cb, withFatalClose(opts, cb), log)
	}
}

// newHTTP2UpgradeFactory continues HTTP/1.1 connections upgraded to h2c.
func newHTTP2UpgradeFactory(log *zap.Logger, opts http2.Options) hcm.HTTP2UpgradeFactory {
	return func(t codec.Transport, cb codec.Callbacks, settings []byte, req *headers.Map) (codec.ServerCodec, error) {
		payload, err := http2.DecodeSettingsHeader(settings)
		if err != nil {
			return nil, err
		}
		return http2.NewServerCodecFromUpgrade(t, cb, withFatalClose(opts, cb), log, payload, req)
	}
}

// withFatalClose lets the codec close its connection when it ends it outside
// Dispatch (SETTINGS timeout).
func withFatalClose(opts http2.Options, cb codec.Callbacks) http2.Options {
	if fc, ok := cb.(interface{ FatalClose() }); ok {
		opts.OnFatal = func(error) { fc.FatalClose() }
	}
	return opts
}
