package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/sluiceproxy/sluice/cmd/sluice/sluicetest"
	"github.com/sluiceproxy/sluice/host/module/moduletest"
)

// netModule renders a module network filter entry.
func netModule(t *testing.T, name, module, config string) string {
	if config == "" {
		config = "{}"
	}
	return fmt.Sprintf("- name: %s\n  module: %s\n  filter_name: %s\n  config: %s\n", name, moduletest.Build(t, module), module, config)
}

// checkAffinity asserts that every hook of the module filter entry ran on
// its connection's worker, and that some did.
func checkAffinity(t *testing.T, p *proc, entry string) { p.CheckAffinity(t, entry) }

// TestModuleGatekeeperBeforeTCPProxy is seed 002's gatekeeper, as a C
// module: it stops the chain, asks its own thread, and continues from
// on_scheduled — bytes sent meanwhile are forwarded without another byte
// arriving; a refused client gets DENIED and tcp_proxy never connects for
// it. Many connections at once on two workers, every hook on its worker
// (sluicetest.GatekeeperScenario, shared with the Rust example).
func TestModuleGatekeeperBeforeTCPProxy(t *testing.T) {
	be := sluicetest.StartTCPBackend(t, sluicetest.EchoServe)
	p := startSluice(t, tcpProxyConfig(be.Addr, netModule(t, "gate", "net_gatekeeper", `{"allow": "open", "delay_ms": 20}`), "", ""))
	sluicetest.GatekeeperScenario(t, p, be)
}

// TestGatekeeperBeforeHTTP: the same module in front of the HTTP
// connection manager, with a module HTTP filter: an HTTP client that says
// HELLO first gets its response; the HTTP layer never saw the HELLO line.
func TestGatekeeperBeforeHTTP(t *testing.T) {
	be := newEchoBackend(t)
	cfg := fmt.Sprintf(`concurrency: 2
log: { level: info, format: json }
admin: { address: 127.0.0.1:0 }
listeners:
- name: main
  address: 127.0.0.1:0
  filter_chains:
  - filters:
%s
    - name: http_connection_manager
      config:
        stat_prefix: ingress
        http_filters:
%s
        - name: router
        route_config:
          virtual_hosts:
          - name: all
            domains: ["*"]
            routes:
            - match: { prefix: / }
              route: { cluster: backend }
clusters:
%s`, indent(netModule(t, "gate", "net_gatekeeper", `{"allow": "open", "delay_ms": 10}`), 4),
		indent(moduleFilter(t, "headers", "header_mutator", "header_mutator", `{"request_set": {"x-added": "by-module"}}`), 8),
		staticCluster("backend", "", backendAddr(be.Server)))
	p := startSluice(t, cfg)
	c := dialProxy(t, p)
	io.WriteString(c, "HELLO open\nGET /after-hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "path=/after-hello len=0" || resp.Header.Get("x-echo-x-added") != "by-module" {
		t.Fatalf("%d %q %v", resp.StatusCode, body, resp.Header)
	}
	checkAffinity(t, p, "gate")
}

// TestModuleSnifferCountsMessagesAcrossSplitReads: a protocol sniffer before
// tcp_proxy counts length-prefixed messages in both directions while the
// client feeds it one byte at a time; the counts land in its metrics and in
// the connection's metadata (the access log).
func TestModuleSnifferCountsMessagesAcrossSplitReads(t *testing.T) {
	be := sluicetest.StartTCPBackend(t, sluicetest.EchoServe)
	p := startSluice(t, tcpProxyConfig(be.Addr, netModule(t, "sniff", "net_sniffer", ""), "", ""))
	sluicetest.SnifferScenario(t, p)
}

// TestModuleThrottlerDelaysWithTimers: a filter holds data back and
// releases it from a timer with inject_read_data / inject_write_data, in
// order, FIN last, both ways — on several connections at once over two
// workers, every timer firing on its connection's worker.
func TestModuleThrottlerDelaysWithTimers(t *testing.T) {
	be := sluicetest.StartTCPBackend(t, sluicetest.EchoServe)
	p := startSluice(t, tcpProxyConfig(be.Addr, netModule(t, "slow", "net_throttler", `{"delay_ms": 20}`), "", ""))
	sluicetest.ThrottlerScenario(t, p)
}

// TestModuleTaggerMetadataReachesHTTPAndAccessLog: a network filter tags
// the connection; the same module's HTTP filter reads the tag back on the
// connection's streams, and the HTTP access log shows it.
func TestModuleTaggerMetadataReachesHTTPAndAccessLog(t *testing.T) {
	be := newEchoBackend(t)
	so := moduletest.Build(t, "net_tagger")
	cfg := fmt.Sprintf(`concurrency: 2
log: { level: info, format: json }
admin: { address: 127.0.0.1:0 }
listeners:
- name: main
  address: 127.0.0.1:0
  filter_chains:
  - filters:
    - name: tag
      module: %s
      filter_name: tagger
      config: { tenant: acme }
    - name: http_connection_manager
      config:
        stat_prefix: ingress
        access_log: [{ path: "%%ACCESS_LOG%%", format: json }]
        http_filters:
        - { name: tag_http, module: %s, filter_name: tagger }
        - name: router
        route_config:
          virtual_hosts:
          - name: all
            domains: ["*"]
            routes:
            - match: { prefix: / }
              route: { cluster: backend }
clusters:
%s`, so, so, staticCluster("backend", "", backendAddr(be.Server)))
	p := startSluice(t, cfg)
	req, _ := http.NewRequest("GET", p.URL("/t"), nil)
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	l := p.AccessLines(1)[0]
	md, _ := l["connection_metadata"].(map[string]any)
	tag, _ := md["tagger"].(map[string]any)
	_, port, _ := net.SplitHostPort(p.Addr("main"))
	if tag["tenant"] != "acme" || fmt.Sprint(tag["port"]) != port {
		t.Fatalf("access log connection_metadata: %v", l)
	}
	// The backend echoes what the HTTP filter added from the connection's
	// metadata.
	if got, gotPort := resp.Header.Get("x-echo-x-tenant"), resp.Header.Get("x-echo-x-connection-port"); got != "acme" || gotPort != port {
		t.Fatalf("the HTTP filter did not read the connection's metadata: x-tenant %q, x-connection-port %q", got, gotPort)
	}
	// Cleartext: the TLS attributes are NOT_FOUND for both filters.
	if sni := resp.Header.Get("x-echo-x-tls-sni"); sni != "" || tag["sni"] != nil {
		t.Fatalf("TLS attributes on a cleartext connection: x-tls-sni %q, tagger.sni %v", sni, tag["sni"])
	}
	checkAffinity(t, p, "tag")
}

// TestNetworkFilterThatNeverContinuesIsBounded: a filter that stops the
// chain and never continues cannot hold a connection past the listener's
// network_filters_timeout: closed, counted, logged with its conn_id.
func TestNetworkFilterThatNeverContinuesIsBounded(t *testing.T) {
	be := tcpBackend(t, echoServe)
	p := startSluice(t, tcpProxyConfig(be, netModule(t, "gate", "net_gatekeeper", `{"allow": "open", "never_decide": true}`),
		"", "network_filters_timeout: 300ms"))
	c := dialProxy(t, p)
	io.WriteString(c, "HELLO open\n")
	if n, err := c.Read(make([]byte, 16)); err == nil {
		t.Fatalf("read %d bytes from a connection its filter never let through", n)
	}
	waitStat(t, p, "listener.main.network_filters_timeout", 1)
	p.WaitLog(`"network filters did not let the connection through in time; closing"`, `"conn_id":`)
	// A client that gives up while the filter holds the chain (a reset: a
	// FIN is only a half-close, which tcp_proxy would pass on later).
	c = dialProxy(t, p)
	io.WriteString(c, "HELLO open\n")
	c.SetLinger(0)
	c.Close()
	lines := p.AccessLines(2)
	if len(lines) != 2 {
		t.Fatalf("access log: %v", lines)
	}
	for i, want := range [][2]string{{"-", "network_filters_timeout"}, {"DC", "downstream_remote_close"}} {
		if l := lines[i]; l["response_flags"] != want[0] || l["details"] != want[1] || l["upstream_host"] != "" {
			t.Fatalf("line %d: %v, want %s %s", i, l, want[0], want[1])
		}
	}
	checkAffinity(t, p, "gate")
}

// TestNetworkHookInvalidStatusIsContained: a read hook returning something
// that is not a status closes that connection, counted per filter and in
// total; the proxy serves on.
func TestNetworkHookInvalidStatusIsContained(t *testing.T) {
	be := tcpBackend(t, echoServe)
	p := startSluice(t, tcpProxyConfig(be, netModule(t, "gate", "net_gatekeeper", `{"allow": "open", "bad_status": true}`), "", ""))
	for i := 0; i < 2; i++ {
		c := dialProxy(t, p)
		io.WriteString(c, "HELLO open\n")
		if n, err := c.Read(make([]byte, 16)); err == nil {
			t.Fatalf("read %d bytes after an invalid status", n)
		}
	}
	waitStat(t, p, "module.invalid_status", 2)
	if n := adminStat(t, p, "module.gate.invalid_status"); n != 2 {
		t.Fatalf("module.gate.invalid_status = %d", n)
	}
	p.WaitLog(`"module network hook returned an invalid status; connection closed"`, `"hook":"read"`, `"status":7`)
	for _, l := range p.AccessLines(2) {
		if l["details"] != "network_filter_invalid_status" {
			t.Fatalf("access log: %v", l)
		}
	}
}
