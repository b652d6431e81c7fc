package cluster

import (
	"net/netip"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/host/config"
)

func TestNewManagerFromConfig(t *testing.T) {
	cfg, err := config.Load("../config/testdata/full.yaml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	m, err := NewManager(cfg.Clusters, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Get("backend")
	if c == nil || c.Name() != "backend" {
		t.Fatalf("cluster %v", c)
	}
	got := c.Settings()
	if got.LBPolicy != LeastRequest || got.ConnectTimeout != time.Second || got.MaxConnections != 10 ||
		got.MaxPendingRequests != 20 || got.MaxRequestsPerConnection != 100 || got.IdleTimeout != 90*time.Second ||
		got.Discovery != Static || got.MaxRetries != DefaultMaxRetries || got.PanicThreshold != 50 || got.OverprovisioningFactor != 140 ||
		got.MaxResponseHeaderBytes != 96<<10 {
		t.Fatalf("settings %+v", got)
	}
	// Effective settings carry the HTTP/2 defaults even for HTTP/1.1.
	if o := got.HTTP2Options; o != (HTTP2Options{MaxConcurrentStreams: 100, InitialStreamWindowSize: 256 << 10, InitialConnectionWindowSize: 1 << 20}) {
		t.Fatalf("http2 options %+v", o)
	}
	hosts := c.Hosts()
	if len(hosts) != 2 || hosts[0].Addr() != netip.MustParseAddrPort("127.0.0.1:8080") || hosts[1].Addr() != netip.MustParseAddrPort("[::1]:8081") ||
		hosts[0].Weight() != 1 || hosts[1].Priority() != 0 || !hosts[0].Healthy() {
		t.Fatalf("hosts %v", hosts)
	}
}

func TestSettingsFromHandBuiltConfig(t *testing.T) {
	cc := config.Cluster{Name: "x", LbPolicy: "random"}
	cc.LoadAssignment.Endpoints = []config.LocalityLbEndpoints{{Priority: 2, LbEndpoints: []config.LbEndpoint{{LoadBalancingWeight: 5}}}}
	sa := &cc.LoadAssignment.Endpoints[0].LbEndpoints[0].Endpoint.Address.SocketAddress
	sa.Address, sa.PortValue = "10.1.2.3", 80
	s, err := SettingsFromConfig(&cc)
	want := Endpoint{Addr: netip.MustParseAddrPort("10.1.2.3:80"), Weight: 5, Priority: 2}
	if err != nil || len(s.LbEndpoints) != 1 || s.LbEndpoints[0] != want || s.LBPolicy != Random {
		t.Fatalf("%+v %v", s, err)
	}
	sa.Address = "backend.local"
	if _, err := SettingsFromConfig(&cc); err == nil || err.Error() != `cluster "x": bad endpoint address "backend.local" port 80` {
		t.Fatalf("err %v", err)
	}
	cc.Type = "STRICT_DNS"
	s, err = SettingsFromConfig(&cc)
	want = Endpoint{Hostname: "backend.local", Port: 80, Weight: 5, Priority: 2}
	if err != nil || s.Discovery != StrictDNS || s.LbEndpoints[0] != want || s.DNS.LookupFamily != Auto {
		t.Fatalf("dns: %+v %v", s, err)
	}
	cc.LbPolicy = "weighted"
	if _, err := SettingsFromConfig(&cc); err == nil || err.Error() != `cluster "x": unknown lb_policy "weighted" (want round_robin, random, least_request, ring_hash or maglev)` {
		t.Fatalf("err %v", err)
	}
}

func TestSettingsFromConfigHTTP2(t *testing.T) {
	cc := config.Cluster{Name: "x", LbPolicy: "round_robin"}
	if s, err := SettingsFromConfig(&cc); err != nil || s.HTTP2 {
		t.Fatalf("no http2_protocol_options: %+v %v", s, err)
	}
	cc.HTTP2ProtocolOptions = &config.HTTP2ProtocolOptions{MaxConcurrentStreams: 7, InitialStreamWindowSize: 70000}
	s, err := SettingsFromConfig(&cc)
	want := HTTP2Options{MaxConcurrentStreams: 7, InitialStreamWindowSize: 70000}
	if err != nil || !s.HTTP2 || s.HTTP2Options != want {
		t.Fatalf("%+v %v", s, err)
	}
	want.InitialConnectionWindowSize = DefaultHTTP2ConnectionWindow
	if got := s.withDefaults().HTTP2Options; got != want {
		t.Fatalf("with defaults %+v, want %+v", got, want)
	}
}

func TestSettingsFromConfigRetriesAndPanic(t *testing.T) {
	cc := config.Cluster{Name: "x", LbPolicy: "round_robin",
		CommonLbConfig:  &config.CommonLbConfig{HealthyPanicThreshold: &config.Percent{Value: 0}},
		CircuitBreakers: &config.CircuitBreakers{Thresholds: []config.Thresholds{{MaxRetries: 0, MaxConnections: 7}}}}
	s, err := SettingsFromConfig(&cc)
	if err != nil {
		t.Fatal(err)
	}
	d := s.withDefaults()
	if d.PanicThreshold != 0 || d.MaxRetries != 0 || d.MaxConnections != 7 {
		t.Fatalf("configured zeros must stay zero: panic %v, max_retries %v, max_connections %v", d.PanicThreshold, d.MaxRetries, d.MaxConnections)
	}
	cc.CircuitBreakers.Thresholds[0].RetryBudget = &config.RetryBudget{BudgetPercent: &config.Percent{Value: 50}, MinRetryConcurrency: 0}
	s, _ = SettingsFromConfig(&cc)
	if b := s.withDefaults().RetryBudget; b == nil || b.BudgetPercent != 50 || b.MinRetryConcurrency != 0 {
		t.Fatalf("budget %+v", b)
	}
}

// A reload keeps a cluster whose configuration is unchanged (the same
// object: pools, health and outlier state, stats) and builds a new one
// for a changed configuration.
func TestNewManagerFromKeepsUnchangedClusters(t *testing.T) {
	cfg, err := config.Load("../config/testdata/full.yaml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	settings := func(cs []config.Cluster) []Settings {
		var out []Settings
		for i := range cs {
			s, err := SettingsFromConfig(&cs[i])
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	first, err := NewManagerFrom(nil, cfg.Clusters, settings(cfg.Clusters), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := config.Load("../config/testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	same, err := NewManagerFrom(first, again.Clusters, settings(again.Clusters), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range first.Clusters() {
		if same.Get(c.Name()) != c {
			t.Fatalf("cluster %q rebuilt although unchanged", c.Name())
		}
	}
	changed := append([]config.Cluster(nil), again.Clusters...)
	changed[0].ConnectTimeout += time.Second
	next, err := NewManagerFrom(same, changed, settings(changed), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if next.Get(changed[0].Name) == same.Get(changed[0].Name) {
		t.Fatalf("cluster %q kept although its connect_timeout changed", changed[0].Name)
	}
	if got := next.Get(changed[0].Name).Settings().ConnectTimeout; got != changed[0].ConnectTimeout {
		t.Fatalf("connect_timeout %v", got)
	}
	for _, c := range changed[1:] {
		if next.Get(c.Name) != same.Get(c.Name) {
			t.Fatalf("cluster %q rebuilt although unchanged", c.Name)
		}
	}
}
