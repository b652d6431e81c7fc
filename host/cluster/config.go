package cluster

import (
	"fmt"
	"net/netip"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/config"
	"github.com/sluiceproxy/sluice/host/worker"
)

// NewManager builds the clusters of a validated configuration, with one
// pool per worker. Main goroutine.
func NewManager(cfgs []config.Cluster, workers []*worker.Worker, log *zap.Logger) (*Manager, error) {
	settings := make([]Settings, 0, len(cfgs))
	for i := range cfgs {
		s, err := SettingsFromConfig(&cfgs[i])
		if err != nil {
			return nil, err
		}
		settings = append(settings, s)
	}
	return NewManagerWithSettings(settings, workers, log)
}

// SettingsFromConfig converts one config.Cluster. Validation normally
// parsed the endpoint addresses already; a hand-built config is parsed here.
func SettingsFromConfig(c *config.Cluster) (Settings, error) {
	policy, err := ParseLBPolicy(c.LbPolicy)
	if err != nil {
		return Settings{}, fmt.Errorf("cluster %q: %w", c.Name, err)
	}
	s := Settings{
		Name:                     c.Name,
		LBPolicy:                 policy,
		ConnectTimeout:           c.ConnectTimeout,
		MaxConnections:           c.MaxConnections,
		MaxPendingRequests:       c.MaxPendingRequests,
		MaxRequestsPerConnection: c.MaxRequestsPerConnection,
		IdleTimeout:              c.IdleTimeout,
	}
	s.HTTP2, s.HTTP2Options = HTTP2FromConfig(c.HTTP2ProtocolOptions)
	for _, group := range c.LoadAssignment.Endpoints {
		for _, ep := range group.LbEndpoints {
			sa := ep.Endpoint.Address.SocketAddress
			addr := sa.Addr
			if !addr.IsValid() {
				ip, err := netip.ParseAddr(sa.Address)
				if err != nil || sa.PortValue <= 0 || sa.PortValue > 65535 {
					return Settings{}, fmt.Errorf("cluster %q: bad endpoint address %q port %d", c.Name, sa.Address, sa.PortValue)
				}
				addr = netip.AddrPortFrom(ip, uint16(sa.PortValue))
			}
			s.Endpoints = append(s.Endpoints, addr)
		}
	}
	return s, nil
}

// HTTP2FromConfig converts a cluster's http2_protocol_options: present
// (even empty) selects HTTP/2.
func HTTP2FromConfig(o *config.HTTP2ProtocolOptions) (bool, HTTP2Options) {
	if o == nil {
		return false, HTTP2Options{}
	}
	return true, HTTP2Options{
		MaxConcurrentStreams:        clampUint32(o.MaxConcurrentStreams),
		InitialStreamWindowSize:     clampUint32(o.InitialStreamWindowSize),
		InitialConnectionWindowSize: clampUint32(o.InitialConnectionWindowSize),
	}
}

// clampUint32 maps a config int to a setting; validation already bounded
// it, a hand-built config gets the defaults for nonsense.
func clampUint32(n int) uint32 {
	if n <= 0 {
		return 0
	}
	return uint32(min(n, 1<<31-1))
}
