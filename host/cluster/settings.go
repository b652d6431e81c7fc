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
}

// Envoy's defaults for the values a config may leave out.
const (
	DefaultConnectTimeout     = 5 * time.Second
	DefaultMaxConnections     = 1024
	DefaultMaxPendingRequests = 1024
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
	return s
}
