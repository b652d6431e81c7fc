package server

import (
	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/hcm"
)

// newHTTP2Factory wires the HTTP/2 codec into connection managers.
func newHTTP2Factory(log *zap.Logger) hcm.HTTP2Factory { return nil }
