// Package ipallow is the client_ip_allow network filter: a connection from
// an address outside its CIDR list is closed before any other filter sees
// a byte (seed 003's "IP allow list before the HTTP connection manager",
// without a module). The address is the connection's remote address: the
// client's own, or the one PROXY protocol carried when a listener filter
// read it.
package ipallow

import (
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/network"
)

// Stats are counted per filter config, shared by workers.
type Stats struct {
	Allowed atomic.Uint64
	Denied  atomic.Uint64
}

// Config is one compiled client_ip_allow filter.
type Config struct {
	prefixes []netip.Prefix
	log      *zap.Logger
	Stats    Stats
}

// ParseCIDRs reads "10.0.0.0/8", "::1/128" or a bare address (a /32 or
// /128). The error names the entry.
func ParseCIDRs(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		var p netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			p, err = netip.ParsePrefix(s)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(s); err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("[%d]: invalid CIDR %q: want address/prefix-length or an address", i, s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// New compiles the filter; prefixes come from ParseCIDRs.
func New(prefixes []netip.Prefix, log *zap.Logger) *Config {
	if log == nil {
		log = zap.NewNop()
	}
	return &Config{prefixes: prefixes, log: log}
}

// Allows reports whether a is inside one of the prefixes (IPv4-mapped IPv6
// addresses count as IPv4).
func (c *Config) Allows(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range c.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// NewFilter is network.FilterFactory.
func (c *Config) NewFilter(cb *network.Callbacks) network.Filter {
	return &filter{cfg: c, cb: cb}
}

type filter struct {
	cfg *Config
	cb  *network.Callbacks
}

func (f *filter) OnNewConnection() network.FilterStatus {
	nc := f.cb.Connection()
	if f.cfg.Allows(nc.RemoteAddr().Addr()) {
		f.cfg.Stats.Allowed.Add(1)
		return network.Continue
	}
	f.cfg.Stats.Denied.Add(1)
	if ce := f.cfg.log.Check(zap.DebugLevel, "client_ip_allow: connection refused"); ce != nil {
		ce.Write(zap.Uint64("conn_id", nc.ID()), zap.String("remote", nc.RemoteAddr().String()))
	}
	nc.SetTerminationDetails("client_ip_allow_denied")
	nc.Close(network.NoFlush)
	return network.StopIteration
}

func (f *filter) OnData(*network.Buffer, bool) network.FilterStatus { return network.Continue }
