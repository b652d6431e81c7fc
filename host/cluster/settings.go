package cluster

import (
	"net/netip"
	"time"
)

// Settings is what the pool needs to know about one cluster. NewManager
// builds it from config.Cluster; tests and embedders may build it directly.
type Settings struct {
	Name           string
	Endpoints      []netip.AddrPort
	LBPolicy       LBPolicy
	ConnectTimeout time.Duration // <= 0: DefaultConnectTimeout
	// MaxConnections bounds connections (open or connecting) across all
	// workers; <= 0: DefaultMaxConnections.
	MaxConnections int
	// MaxPendingRequests bounds requests waiting for a connection across
	// all workers; <= 0: DefaultMaxPendingRequests (config requires >= 1).
	MaxPendingRequests int
	// MaxRequestsPerConnection closes a connection after that many
	// requests; 0 is unlimited.
	MaxRequestsPerConnection int
	// IdleTimeout closes a pooled connection that stayed idle that long;
	// 0 keeps idle connections until the upstream closes them.
	IdleTimeout time.Duration
	// HTTP2 selects HTTP/2 with prior knowledge (h2c) to the endpoints
	// instead of HTTP/1.1; HTTP2Options tunes it.
	HTTP2        bool
	HTTP2Options HTTP2Options
}

// HTTP2Options are the HTTP/2 settings sluice uses as a client (Envoy's
// http2_protocol_options). Zero values take the defaults below.
type HTTP2Options struct {
	// MaxConcurrentStreams caps the streams sluice opens on one
	// connection (the peer's SETTINGS_MAX_CONCURRENT_STREAMS may lower it);
	// a full connection makes the pool open another, within max_connections.
	MaxConcurrentStreams uint32
	// InitialStreamWindowSize is the receive window of each stream: how
	// much response body one stream may have buffered here while its
	// downstream is paused.
	InitialStreamWindowSize uint32
	// InitialConnectionWindowSize is the connection's receive window.
	InitialConnectionWindowSize uint32
}

// Envoy's defaults for the values a config may leave out.
const (
	DefaultConnectTimeout     = 5 * time.Second
	DefaultMaxConnections     = 1024
	DefaultMaxPendingRequests = 1024

	DefaultHTTP2MaxConcurrentStreams = 100
	// The windows bound the response bytes buffered per stream and per
	// connection while a downstream is slow; Envoy's 256 MiB defaults
	// assume a per-stream buffer limit that sluice enforces with them.
	DefaultHTTP2StreamWindow     = 256 << 10
	DefaultHTTP2ConnectionWindow = 1 << 20
)

func (s Settings) withDefaults() Settings {
	if s.ConnectTimeout <= 0 {
		s.ConnectTimeout = DefaultConnectTimeout
	}
	if s.MaxConnections <= 0 {
		s.MaxConnections = DefaultMaxConnections
	}
	if s.MaxPendingRequests <= 0 {
		s.MaxPendingRequests = DefaultMaxPendingRequests
	}
	if s.MaxRequestsPerConnection < 0 {
		s.MaxRequestsPerConnection = 0
	}
	if s.IdleTimeout < 0 {
		s.IdleTimeout = 0
	}
	o := &s.HTTP2Options
	if o.MaxConcurrentStreams == 0 {
		o.MaxConcurrentStreams = DefaultHTTP2MaxConcurrentStreams
	}
	if o.InitialStreamWindowSize < minWindow {
		o.InitialStreamWindowSize = DefaultHTTP2StreamWindow
	}
	if o.InitialConnectionWindowSize < minWindow {
		o.InitialConnectionWindowSize = DefaultHTTP2ConnectionWindow
	}
	return s
}
