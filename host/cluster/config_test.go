package cluster

import (
	"net/netip"
	"reflect"
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
	want := Settings{
		Name:                     "backend",
		Endpoints:                []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:8080"), netip.MustParseAddrPort("[::1]:8081")},
		LBPolicy:                 LeastRequest,
		ConnectTimeout:           time.Second,
		MaxConnections:           10,
		MaxPendingRequests:       20,
		MaxRequestsPerConnection: 100,
		IdleTimeout:              90 * time.Second,
		// Effective settings carry the HTTP/2 defaults even for HTTP/1.1.
		HTTP2Options: HTTP2Options{MaxConcurrentStreams: 100, InitialStreamWindowSize: 256 << 10, InitialConnectionWindowSize: 1 << 20},
	}
	if got := c.Settings(); !reflect.DeepEqual(got, want) {
		t.Fatalf("settings\n got %+v\nwant %+v", got, want)
	}
}

func TestSettingsFromHandBuiltConfig(t *testing.T) {
	cc := config.Cluster{Name: "x", LbPolicy: "random"}
	cc.LoadAssignment.Endpoints = []config.LocalityLbEndpoints{{LbEndpoints: []config.LbEndpoint{{}}}}
	sa := &cc.LoadAssignment.Endpoints[0].LbEndpoints[0].Endpoint.Address.SocketAddress
	sa.Address, sa.PortValue = "10.1.2.3", 80
	s, err := SettingsFromConfig(&cc)
	if err != nil || len(s.Endpoints) != 1 || s.Endpoints[0] != netip.MustParseAddrPort("10.1.2.3:80") || s.LBPolicy != Random {
		t.Fatalf("%+v %v", s, err)
	}
	sa.Address = "backend.local"
	if _, err := SettingsFromConfig(&cc); err == nil || err.Error() != `cluster "x": bad endpoint address "backend.local" port 80` {
		t.Fatalf("err %v", err)
	}
	cc.LbPolicy = "ring_hash"
	if _, err := SettingsFromConfig(&cc); err == nil || err.Error() != `cluster "x": unknown lb_policy "ring_hash" (want round_robin, random or least_request)` {
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
