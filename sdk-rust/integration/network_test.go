package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/cmd/sluice/sluicetest"
)

// The Rust network filter examples (net_gatekeeper, net_sniffer,
// net_throttler) inside the real sluice, in front of tcp_proxy (and the
// HTTP connection manager), over real sockets on 2 workers.

// netFilter renders one module network filter entry of a filter chain.
func netFilter(name, module, configJSON string) string {
	if configJSON == "" {
		configJSON = "{}"
	}
	return fmt.Sprintf("    - name: %s\n      module: %s\n      filter_name: %s\n      config: %s\n",
		name, modulePath(module), module, configJSON)
}

// tcpConfig is a one-listener config: the given network filters, then
// tcp_proxy to the backend at backendAddr, with a JSON access log.
// listenerExtra goes into the listener (two-space indented lines).
func tcpConfig(filters, backendAddr, listenerExtra string) string {
	host, port, _ := net.SplitHostPort(backendAddr)
	return fmt.Sprintf(`concurrency: 2
drain_timeout: 1s
log: { level: info, format: json }
admin: { address: 127.0.0.1:0 }
listeners:
- name: main
  address: 127.0.0.1:0
%s  filter_chains:
  - filters:
%s    - name: tcp_proxy
      config:
        stat_prefix: tcp
        cluster: backend
        access_log: [{ path: "%%ACCESS_LOG%%", format: json }]
clusters:
- name: backend
  connect_timeout: 2s
  load_assignment:
    endpoints:
    - lb_endpoints:
      - endpoint: { address: { socket_address: { address: %s, port_value: %s } } }
`, listenerExtra, filters, host, port)
}

// The gatekeeper before tcp_proxy (sluicetest.GatekeeperScenario, shared
// with the C example): a refused client gets DENIED and tcp_proxy never
// connects for it; 20 allowed clients at once get their payload echoed
// exactly, whatever waited in the read buffer while the verdict came from
// the module's threads through the scheduler; every hook ran on its
// connection's worker.
func TestGatekeeperBeforeTCPProxy(t *testing.T) {
	be := sluicetest.StartTCPBackend(t, sluicetest.EchoServe)
	p := startSluice(t, tcpConfig(netFilter("gate", "net_gatekeeper", `{"allow": "open", "delay_ms": 20}`), be.Addr, ""))
	sluicetest.GatekeeperScenario(t, p, be)
}

// The same module in front of the HTTP connection manager with a Rust HTTP
// filter: the client says HELLO, then speaks HTTP on the same connection;
// the HTTP layer never sees the HELLO line.
func TestGatekeeperBeforeHTTP(t *testing.T) {
	be := newBackend(t)
	yaml := strings.Replace(config(filter("meta", "header_metadata", "header_metadata",
		`{"set_request_headers": {"x-added": "by-rust"}}`), be.addr()),
		"  - filters:\n", "  - filters:\n"+netFilter("gate", "net_gatekeeper", `{"allow": "open", "delay_ms": 10}`), 1)
	p := startSluice(t, yaml)
	c := p.Dial(t)
	io.WriteString(c, "HELLO open\nGET /after-hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("x-echo-x-added") != "by-rust" {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	if n := be.requests.Load(); n != 1 {
		t.Fatalf("backend saw %d requests", n)
	}
	// Refused: no HTTP at all.
	c = p.Dial(t)
	io.WriteString(c, "HELLO nope\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if got, err := io.ReadAll(c); err != nil || string(got) != "DENIED\n" {
		t.Fatalf("refused client got %q, %v", got, err)
	}
	if n := be.requests.Load(); n != 1 {
		t.Fatalf("backend saw %d requests after a refusal", n)
	}
	p.CheckAffinity(t, "gate")
}

// The sniffer counts length-prefixed messages in both directions while
// the client feeds it one byte per write; the counts land in its metrics
// and in the connection's metadata (the access log).
func TestSnifferCountsMessagesAcrossOneByteWrites(t *testing.T) {
	be := sluicetest.StartTCPBackend(t, sluicetest.EchoServe)
	p := startSluice(t, tcpConfig(netFilter("sniff", "net_sniffer", ""), be.Addr, ""))
	sluicetest.SnifferScenario(t, p)
}

// A client that stops reading while the backend sends 64 MiB: the output
// to it goes above the listener's 16 KiB watermark (the sniffer's
// on_watermark hears it), tcp_proxy stops reading the backend, and once
// the client reads again everything arrives and the output drains below
// the low watermark.
func TestSnifferHearsWatermarksOfASlowClient(t *testing.T) {
	const size = 64 << 20
	be := sluicetest.StartTCPBackend(t, func(c *net.TCPConn) {
		chunk := bytes.Repeat([]byte{'z'}, 1<<20)
		for i := 0; i < size>>20; i++ {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
		c.CloseWrite()
		io.Copy(io.Discard, c)
	})
	p := startSluice(t, tcpConfig(netFilter("sniff", "net_sniffer", ""), be.Addr, "  per_connection_buffer_limit_bytes: 16384\n"))
	c := p.Dial(t)
	// The kernel's buffers hold a few MiB at most; the rest waits in sluice.
	p.WaitStat(t, "module.sniff.watermark_high", func(n int64) bool { return n >= 1 })
	c.CloseWrite()
	n, err := io.Copy(io.Discard, c)
	if err != nil || n != size {
		t.Fatalf("read %d of %d bytes: %v", n, size, err)
	}
	p.WaitStat(t, "module.sniff.watermark_low", func(n int64) bool { return n >= 1 })
	p.CheckAffinity(t, "sniff")
}

// The throttler holds data back and releases it from a timer with
// inject_read / inject_write, in order, FIN last, both ways, for several
// connections at once.
func TestThrottlerDelaysWithTimers(t *testing.T) {
	be := sluicetest.StartTCPBackend(t, sluicetest.EchoServe)
	p := startSluice(t, tcpConfig(netFilter("slow", "net_throttler", `{"delay_ms": 20}`), be.Addr, ""))
	sluicetest.ThrottlerScenario(t, p)
}

// Every network hook of the three Rust filters — new_filter, on_new_connection,
// on_read, on_write, on_event, on_scheduled (gatekeeper), on_timer
// (throttler), drop — on its connection's worker, with 32 concurrent
// connections on 2 workers through gatekeeper -> sniffer -> throttler ->
// tcp_proxy. The gatekeeper tags each connection with its worker index:
// both workers served some.
func TestRustNetworkHooksStayOnTheirWorkers(t *testing.T) {
	be := sluicetest.StartTCPBackend(t, sluicetest.EchoServe)
	filters := netFilter("gate", "net_gatekeeper", `{"allow": "open", "delay_ms": 5}`) +
		netFilter("sniff", "net_sniffer", "") +
		netFilter("slow", "net_throttler", `{"delay_ms": 5}`)
	p := startSluice(t, tcpConfig(filters, be.Addr, ""))
	const clients = 32
	sluicetest.ConcurrentClients(t, p, clients, func(i int, c *net.TCPConn) error {
		msgs := sluicetest.LengthPrefixed(fmt.Sprintf("client %d", i), "", strings.Repeat("m", 1000))
		c.Write(append([]byte("HELLO open\n"), msgs...))
		c.CloseWrite()
		if got, err := io.ReadAll(c); err != nil || !bytes.Equal(got, msgs) {
			return fmt.Errorf("got %d of %d bytes, %v", len(got), len(msgs), err)
		}
		return nil
	})
	lines := p.AccessLines(clients)
	workers := map[any]int{}
	for _, l := range lines {
		workers[sluicetest.ConnectionMetadata(l, "gatekeeper")["worker"]]++
		if sn := sluicetest.ConnectionMetadata(l, "sniffer"); sn["requests"] != float64(3) || sn["responses"] != float64(3) {
			t.Errorf("sniffer metadata %v", sn)
		}
	}
	if len(lines) != clients || workers[float64(0)] == 0 || workers[float64(1)] == 0 {
		t.Fatalf("%d access-log lines; connections per worker index: %v", len(lines), workers)
	}
	p.WaitStat(t, "module.gate.allowed", func(n int64) bool { return n == clients })
	if n := p.Stat(t, "module.slow.timer_fires"); n < clients {
		t.Fatalf("timer_fires = %d", n)
	}
	for _, entry := range []string{"gate", "sniff", "slow"} {
		p.CheckAffinity(t, entry)
	}
}
