package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/host/module/moduletest"
)

// netModule renders a module network filter entry.
func netModule(t *testing.T, name, module, config string) string {
	if config == "" {
		config = "{}"
	}
	return fmt.Sprintf("- name: %s\n  module: %s\n  filter_name: %s\n  config: %s\n", name, moduletest.Build(t, module), module, config)
}

// checkAffinity asserts that every hook of the module network filter entry
// ran on its connection's worker, and that some did.
func checkAffinity(t *testing.T, p *proc, entry string) {
	t.Helper()
	if n := adminStat(t, p, "module."+entry+".affinity_violations"); n != 0 {
		t.Fatalf("%s: %d hooks ran off their connection's worker", entry, n)
	}
	if n := adminStat(t, p, "module."+entry+".hooks"); n == 0 {
		t.Fatalf("%s: no hook counted", entry)
	}
}

// TestModuleGatekeeperBeforeTCPProxy is seed 002's gatekeeper, as a C
// module: it stops the chain, asks its own thread, and continues from
// on_scheduled — bytes sent meanwhile are forwarded without another byte
// arriving; a refused client gets DENIED and tcp_proxy never connects for
// it. Many connections at once on two workers, every hook on its worker.
func TestModuleGatekeeperBeforeTCPProxy(t *testing.T) {
	var backendConns atomic.Int32
	be := tcpBackend(t, func(c net.Conn) { backendConns.Add(1); echoServe(c) })
	p := startSluice(t, tcpProxyConfig(be, netModule(t, "gate", "net_gatekeeper", `{"allow": "open", "delay_ms": 20}`), "", ""))

	// Refused first: the backend must never see a connection.
	c := dialProxy(t, p)
	io.WriteString(c, "HELLO nope\nsecret")
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "DENIED\n" {
		t.Fatalf("refused client got %q, %v", got, err)
	}
	if n := backendConns.Load(); n != 0 {
		t.Fatalf("tcp_proxy connected upstream for a refused client (%d connections)", n)
	}

	// Allowed, concurrently; half of them send the HELLO line a byte at a
	// time, all send their payload right behind it.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", p.Addr("main"), 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			payload := fmt.Sprintf("payload %d", i)
			hello := "HELLO open\n"
			if i%2 == 0 {
				for j := 0; j < len(hello); j++ {
					c.Write([]byte{hello[j]})
					time.Sleep(time.Millisecond) // encourage separate reads; correctness does not depend on it
				}
				io.WriteString(c, payload)
			} else {
				io.WriteString(c, hello+payload)
			}
			c.(*net.TCPConn).CloseWrite()
			got, err := io.ReadAll(c)
			if err != nil || string(got) != payload {
				errs <- fmt.Errorf("client %d: got %q, %v", i, got, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitStat(t, p, "module.gate.allowed", 20)
	if n := adminStat(t, p, "module.gate.denied"); n != 1 {
		t.Fatalf("denied = %d", n)
	}
	checkAffinity(t, p, "gate")
	lines := p.AccessLines(21)
	tagged := 0
	for _, l := range lines {
		if md, ok := l["connection_metadata"].(map[string]any); ok {
			if g, ok := md["gatekeeper"].(map[string]any); ok && g["token"] == "open" {
				tagged++
			}
		}
	}
	if tagged != 20 {
		t.Fatalf("%d access-log lines carry gatekeeper.token, want 20:\n%v", tagged, lines)
	}
	p.WaitLog(`"gatekeeper: connection allowed"`, `"filter":"gate"`, `"conn_id":`)
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

// lengthPrefixed encodes one message of the sniffer's protocol.
func lengthPrefixed(payload string) []byte {
	b := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(b, uint32(len(payload)))
	copy(b[4:], payload)
	return b
}

// TestModuleSnifferCountsMessagesAcrossSplitReads: a protocol sniffer before
// tcp_proxy counts length-prefixed messages in both directions while the
// client feeds it one byte at a time; the counts land in its metrics and in
// the connection's metadata (the access log).
func TestModuleSnifferCountsMessagesAcrossSplitReads(t *testing.T) {
	be := tcpBackend(t, echoServe)
	p := startSluice(t, tcpProxyConfig(be, netModule(t, "sniff", "net_sniffer", ""), "", ""))
	c := dialProxy(t, p)
	c.SetNoDelay(true)
	var stream []byte
	for _, m := range []string{"", "a", strings.Repeat("x", 300)} {
		stream = append(stream, lengthPrefixed(m)...)
	}
	for _, b := range stream {
		c.Write([]byte{b})
		time.Sleep(200 * time.Microsecond) // encourage separate reads
	}
	c.CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != string(stream) {
		t.Fatalf("echo: %d bytes, %v", len(got), err)
	}
	l := p.AccessLines(1)[0]
	md, _ := l["connection_metadata"].(map[string]any)
	sn, _ := md["sniffer"].(map[string]any)
	if sn["requests"] != float64(3) || sn["responses"] != float64(3) {
		t.Fatalf("access log metadata: %v", l)
	}
	if n := adminStat(t, p, "module.sniff.requests"); n != 3 {
		t.Fatalf("requests = %d", n)
	}
	if n := adminStat(t, p, "module.sniff.responses"); n != 3 {
		t.Fatalf("responses = %d", n)
	}
	checkAffinity(t, p, "sniff")
}

// TestModuleThrottlerDelaysWithTimers: a filter holds data back and
// releases it from a timer with inject_read_data / inject_write_data, in
// order, FIN last, both ways — on ten connections at once over two
// workers, every timer firing on its connection's worker.
func TestModuleThrottlerDelaysWithTimers(t *testing.T) {
	be := tcpBackend(t, echoServe)
	p := startSluice(t, tcpProxyConfig(be, netModule(t, "slow", "net_throttler", `{"delay_ms": 20}`), "", ""))
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for k := 0; k < 10; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", p.Addr("main"), 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			var want strings.Builder
			for i := 0; i < 50; i++ {
				chunk := fmt.Sprintf("conn %d chunk %02d %s\n", k, i, strings.Repeat("y", 2000))
				want.WriteString(chunk)
				io.WriteString(c, chunk)
			}
			c.(*net.TCPConn).CloseWrite()
			got, err := io.ReadAll(c)
			if err != nil || string(got) != want.String() {
				errs <- fmt.Errorf("conn %d through the throttler: %d of %d bytes, %v", k, len(got), want.Len(), err)
			}
		}(k)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := adminStat(t, p, "module.slow.timer_fires"); n == 0 {
		t.Fatal("no timer fired")
	}
	checkAffinity(t, p, "slow")
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
}
