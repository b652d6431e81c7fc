package hcm

import (
	"github.com/sluiceproxy/sluice/host/cluster"
	"github.com/sluiceproxy/sluice/host/codec"
	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/router"
)

// Protocol switches, as Envoy's upgrade_configs: an HTTP/1.1 request that
// asks to upgrade (WebSocket and the like) or a CONNECT, on a route that
// allows it, is forwarded as such; when the upstream switches (101, or the
// TCP connection for CONNECT is up), the response goes through the encoder
// filters, the connection leaves HTTP, and both sockets become a tunnel
// (tunnel.go).

// upgradeKind is what a stream is trying to switch to.
type upgradeKind uint8

const (
	upgradeNone    upgradeKind = iota
	upgradeHTTP                // Upgrade request allowed on its route
	upgradeConnect             // CONNECT on a connect_matcher route
)

// maxUpgradeValue bounds the Upgrade value a stream keeps; a longer one is
// not a protocol anybody configures.
const maxUpgradeValue = 128

// noteUpgrade runs before hop-by-hop removal: it reports whether the request
// asks to switch protocols, keeping the Upgrade value for decideUpgrade.
func (s *stream) noteUpgrade(h *headers.Map) bool {
	if string(h.Method()) == "CONNECT" {
		return true
	}
	up, ok := h.Get("upgrade")
	if !ok {
		return false
	}
	up = headers.TrimOWS(up)
	if len(up) == 0 || len(up) > maxUpgradeValue {
		return false
	}
	asked := false
	h.Values("connection", func(v []byte) bool {
		asked = headers.HasToken(v, "upgrade")
		return !asked
	})
	if asked {
		s.upgradeType = append(s.upgradeType[:0], up...)
	}
	return asked
}

// decideUpgrade runs after hop-by-hop removal, on the route the request
// head selected. An allowed switch gets its fields back (filters and the
// upstream see them) and the codec is told; anything else goes on as a
// plain request, without the upgrade fields.
func (s *stream) decideUpgrade(h *headers.Map, end bool) {
	sw, canSwitch := s.enc.(codec.Switcher)
	route := s.selectRoute()
	if string(h.Method()) == "CONNECT" {
		if !canSwitch {
			return
		}
		// Whatever the answer, bytes after a CONNECT may belong to the
		// tunnel the client expects: they are never parsed as requests.
		sw.PrepareSwitch()
		if route != nil && route.IsConnect() && route.Direct == nil && s.cfg.upgradeEnabled(route, connectType) {
			s.upgrade = upgradeConnect
		}
		return
	}
	if !canSwitch || !end || s.info.Protocol != "HTTP/1.1" || !s.upgradeRoute(route) {
		s.cfg.Stats.DownstreamRqWsOnNonWsRoute.Add(1)
		return
	}
	h.SetString("connection", "upgrade")
	h.Set("upgrade", s.upgradeType)
	sw.PrepareSwitch()
	s.upgrade = upgradeHTTP
}

var connectType = []byte("connect")

// upgradeRoute reports whether the stream's Upgrade may be forwarded on
// route: allowed there, and to an HTTP/1.1 cluster (upgrades do not cross
// HTTP/2 hops).
func (s *stream) upgradeRoute(route *router.Route) bool {
	if route == nil || route.Direct != nil || route.IsConnect() || !s.cfg.upgradeEnabled(route, s.upgradeType) {
		return false
	}
	cl := s.cfg.Clusters.Get(route.Cluster)
	return cl != nil && !cl.Settings().HTTP2
}

// dropUpgrade turns an upgrade request back into a plain one (its route
// changed after the decision, e.g. a filter cleared the route cache).
func (s *stream) dropUpgrade(h *headers.Map) {
	h.Del("upgrade")
	h.Del("connection")
	s.upgrade = upgradeNone
	s.cfg.Stats.DownstreamRqWsOnNonWsRoute.Add(1)
}

// upgradeEnabled is Envoy's precedence: the route's upgrade_configs entry
// for the type if it has one, else the connection manager's, else off.
func (cfg *Config) upgradeEnabled(route *router.Route, typ []byte) bool {
	if enabled, set := route.UpgradeOverride(typ); set {
		return enabled
	}
	for i := range cfg.Upgrades {
		if u := &cfg.Upgrades[i]; equalFoldBytes(typ, u.Type) {
			return u.Enabled
		}
	}
	return false
}

// equalFoldBytes compares ASCII case-insensitively.
func equalFoldBytes(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// sinkSwitch handles response headers reaching the codec on a stream that
// has a tunnel waiting, or that carry a 101; true when it dealt with them.
// The tunnel starts only here, after the encoder filters passed the
// response on: a filter may still have replaced it.
func (s *stream) sinkSwitch(h *headers.Map) bool {
	t := s.router.takeTunnel()
	status := h.Status()
	switching := t != nil && (s.upgrade == upgradeHTTP && status == 101 ||
		s.upgrade == upgradeConnect && status >= 200 && status < 300)
	if !switching {
		if t != nil {
			t.Release(false)
		}
		if status != 101 {
			return false // an ordinary answer; the codec closes after it
		}
		// A 101 with nothing to switch to (a filter made it up, or the
		// stream is HTTP/2, which has no 101) cannot be sent.
		s.upgradeFailed()
		return true
	}
	cn := s.conn
	s.responseStarted = true
	s.info.Status = status
	s.cfg.Stats.countStatus(status)
	if v, ok := h.Get("upgrade"); ok && len(v) <= maxUpgradeValue {
		s.upgradeType = append(s.upgradeType[:0], v...)
	}
	cn.prepareResponseHeaders(s, h)
	if status == 101 {
		h.Set("upgrade", s.upgradeType)
	}
	s.enc.(codec.Switcher).EncodeSwitch(h)
	s.switched = true
	tn := cn.beginTunnel(s, t)
	s.responseComplete()
	tn.start()
	return true
}

const (
	detailsUpgradeFailed = "upgrade_failed"
	upgradeFailedBody    = "upgrade failed"
)

// upgradeFailed answers a 101 that nothing asked for or allowed: Envoy's
// upgrade_failed, a 502 flagged UPE.
func (s *stream) upgradeFailed() {
	s.info.Flags |= FlagUpstreamProtocolError
	s.sendLocalReply(len(s.filters)-1, 502, nil, []byte(upgradeFailedBody), detailsUpgradeFailed)
}

// Router side: the tunnel a stream waits with until its response reaches
// the codec.

// OnUpgrade is cluster.UpgradeHandler: the upstream answered 101.
func (r *routerFilter) OnUpgrade(h *headers.Map, t *cluster.Tunnel) {
	s := r.s
	r.up = nil // the pool ended the stream
	if s == nil || s.ended {
		t.Release(false)
		return
	}
	if s.upgrade != upgradeHTTP {
		// A filter put upgrade fields on a request that may not switch.
		t.Release(false)
		s.upgradeFailed()
		return
	}
	r.tunnel = t
	s.respHeaders.CopyFrom(h)
	s.respWalk.reset(true, s.nEncode, 0)
	s.enter()
	s.onHeaders(&s.respWalk, true)
	s.leave()
}

// OnTunnelReady is cluster.TunnelHandler: the CONNECT's upstream connection
// is up, so the client gets its 200.
func (r *routerFilter) OnTunnelReady(t *cluster.Tunnel) {
	s := r.s
	if s == nil || s.ended {
		t.Release(false)
		return
	}
	r.tunnel = t
	s.info.Upstream = t.Host()
	s.respHeaders.Reset()
	s.respHeaders.SetStatus(200)
	s.respWalk.reset(true, s.nEncode, 0)
	s.enter()
	s.onHeaders(&s.respWalk, true)
	s.leave()
}

// OnTunnelFailure is cluster.TunnelHandler: no connection for the CONNECT.
func (r *routerFilter) OnTunnelFailure(reason cluster.FailureReason, err error) {
	r.tunnel = nil
	r.OnPoolFailure(reason, err)
}

// startConnect opens the CONNECT's upstream connection.
func (r *routerFilter) startConnect(cl *cluster.Cluster) {
	r.tunnel = cl.NewTunnel(r.s.conn.w, r)
}

// takeTunnel hands the waiting tunnel to the caller.
func (r *routerFilter) takeTunnel() *cluster.Tunnel {
	t := r.tunnel
	r.tunnel = nil
	return t
}
