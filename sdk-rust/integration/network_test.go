package integration

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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

// tcpBackend serves every accepted connection with fn; it counts the
// connections and closes everything in t.Cleanup.
type tcpBackend struct {
	addr  string
	conns atomic.Int32
}

func newTCPBackend(t *testing.T, fn func(c *net.TCPConn)) *tcpBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &tcpBackend{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.conns.Add(1)
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				fn(c.(*net.TCPConn))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return b
}

// echo sends back what it reads, then half-closes after the client did.
func echo(c *net.TCPConn) {
	io.Copy(c, c)
	c.CloseWrite()
}

func dial(t *testing.T, p *proc) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr("main"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c.(*net.TCPConn)
}

// counter is the value of counter name in /stats.
func counter(t *testing.T, p *proc, name string) int64 {
	t.Helper()
	v, ok := stat(adminStats(t, p), name)
	if !ok {
		t.Fatalf("no stat %s", name)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("stat %s = %q", name, v)
	}
	return n
}

// waitCounter polls counter name until done(value) (bounded).
func waitCounter(t *testing.T, p *proc, name string, done func(int64) bool) int64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, ok := stat(adminStats(t, p), name)
		n, _ := strconv.ParseInt(v, 10, 64)
		if ok && done(n) {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %q: not reached in 10s", name, v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkAffinity: every hook of the network filter entry ran on its
// connection's worker (the module compares gettid() in each), and some did.
func checkAffinity(t *testing.T, p *proc, entry string) {
	t.Helper()
	if n := counter(t, p, "module."+entry+".affinity_violations"); n != 0 {
		t.Fatalf("%s: %d hooks ran off their connection's worker", entry, n)
	}
	if n := counter(t, p, "module."+entry+".hooks"); n == 0 {
		t.Fatalf("%s: no hook counted", entry)
	}
}

// connectionMetadata is namespace ns of an access-log line's
// connection_metadata.
func connectionMetadata(line map[string]any, ns string) map[string]any {
	md, _ := line["connection_metadata"].(map[string]any)
	v, _ := md[ns].(map[string]any)
	return v
}

// lengthPrefixed encodes messages of net_sniffer's protocol.
func lengthPrefixed(payloads ...string) []byte {
	var b []byte
	for _, p := range payloads {
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}

// A refused client gets DENIED and tcp_proxy never connects for it; 20
// allowed clients at once (half of them sending the HELLO line a byte at a
// time, all sending their payload right behind it) get their payload
// echoed exactly: continue_reading passes on what waited in the read
// buffer. The verdicts come from the module's threads through the
// scheduler; every hook ran on its connection's worker.
func TestGatekeeperBeforeTCPProxy(t *testing.T) {
	be := newTCPBackend(t, echo)
	p := startSluice(t, tcpConfig(netFilter("gate", "net_gatekeeper", `{"allow": "open", "delay_ms": 20}`), be.addr, ""))

	c := dial(t, p)
	io.WriteString(c, "HELLO nope\nsecret")
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "DENIED\n" {
		t.Fatalf("refused client got %q, %v", got, err)
	}
	if n := be.conns.Load(); n != 0 {
		t.Fatalf("tcp_proxy connected upstream for a refused client (%d connections)", n)
	}

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
			if i%2 == 0 {
				for _, b := range []byte("HELLO open\n") {
					c.Write([]byte{b})
					time.Sleep(time.Millisecond) // encourage separate reads; the result does not depend on it
				}
				io.WriteString(c, payload)
			} else {
				io.WriteString(c, "HELLO open\n"+payload)
			}
			c.(*net.TCPConn).CloseWrite()
			if got, err := io.ReadAll(c); err != nil || string(got) != payload {
				errs <- fmt.Errorf("client %d: got %q, %v", i, got, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitCounter(t, p, "module.gate.allowed", func(n int64) bool { return n == 20 })
	if n := counter(t, p, "module.gate.denied"); n != 1 {
		t.Fatalf("denied = %d", n)
	}
	if n := be.conns.Load(); n != 20 {
		t.Fatalf("backend saw %d connections, want 20", n)
	}
	lines := p.AccessLines(21)
	tagged := 0
	for _, l := range lines {
		if g := connectionMetadata(l, "gatekeeper"); g["token"] == "open" {
			tagged++
		}
	}
	if tagged != 20 {
		t.Fatalf("%d access-log lines carry gatekeeper.token, want 20:\n%v", tagged, lines)
	}
	p.WaitLog(`"gatekeeper: connection allowed"`, `"filter":"gate"`, `"conn_id":`)
	// The hooks run until each connection's filter is dropped.
	waitCounter(t, p, "module.gate.hooks", func(n int64) bool { return n > 0 })
	checkAffinity(t, p, "gate")
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
	c := dial(t, p)
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
	c = dial(t, p)
	io.WriteString(c, "HELLO nope\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if got, err := io.ReadAll(c); err != nil || string(got) != "DENIED\n" {
		t.Fatalf("refused client got %q, %v", got, err)
	}
	if n := be.requests.Load(); n != 1 {
		t.Fatalf("backend saw %d requests after a refusal", n)
	}
	checkAffinity(t, p, "gate")
}

// The sniffer counts length-prefixed messages in both directions while
// the client feeds it one byte per write; the counts land in its metrics
// and in the connection's metadata (the access log).
func TestSnifferCountsMessagesAcrossOneByteWrites(t *testing.T) {
	be := newTCPBackend(t, echo)
	p := startSluice(t, tcpConfig(netFilter("sniff", "net_sniffer", ""), be.addr, ""))
	c := dial(t, p)
	c.SetNoDelay(true)
	stream := lengthPrefixed("", "a", strings.Repeat("x", 300))
	for _, b := range stream {
		c.Write([]byte{b})
		time.Sleep(200 * time.Microsecond) // encourage separate reads; the counts do not depend on it
	}
	c.CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, stream) {
		t.Fatalf("echo: %d of %d bytes, %v", len(got), len(stream), err)
	}
	sn := connectionMetadata(p.AccessLines(1)[0], "sniffer")
	if sn["requests"] != float64(3) || sn["responses"] != float64(3) {
		t.Fatalf("access log sniffer metadata: %v", sn)
	}
	if n := counter(t, p, "module.sniff.requests"); n != 3 {
		t.Fatalf("requests = %d", n)
	}
	if n := counter(t, p, "module.sniff.responses"); n != 3 {
		t.Fatalf("responses = %d", n)
	}
	checkAffinity(t, p, "sniff")
}

// A client that stops reading while the backend sends 64 MiB: the output
// to it goes above the listener's 16 KiB watermark (the sniffer's
// on_watermark hears it), tcp_proxy stops reading the backend, and once
// the client reads again everything arrives and the output drains below
// the low watermark.
func TestSnifferHearsWatermarksOfASlowClient(t *testing.T) {
	const size = 64 << 20
	be := newTCPBackend(t, func(c *net.TCPConn) {
		chunk := bytes.Repeat([]byte{'z'}, 1<<20)
		for i := 0; i < size>>20; i++ {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
		c.CloseWrite()
		io.Copy(io.Discard, c)
	})
	p := startSluice(t, tcpConfig(netFilter("sniff", "net_sniffer", ""), be.addr, "  per_connection_buffer_limit_bytes: 16384\n"))
	c := dial(t, p)
	// The kernel's buffers hold a few MiB at most; the rest waits in sluice.
	waitCounter(t, p, "module.sniff.watermark_high", func(n int64) bool { return n >= 1 })
	c.CloseWrite()
	n, err := io.Copy(io.Discard, c)
	if err != nil || n != size {
		t.Fatalf("read %d of %d bytes: %v", n, size, err)
	}
	waitCounter(t, p, "module.sniff.watermark_low", func(n int64) bool { return n >= 1 })
	checkAffinity(t, p, "sniff")
}

// The throttler holds data back and releases it from a timer with
// inject_read / inject_write, in order, FIN last, both ways, for several
// connections at once.
func TestThrottlerDelaysWithTimers(t *testing.T) {
	be := newTCPBackend(t, echo)
	p := startSluice(t, tcpConfig(netFilter("slow", "net_throttler", `{"delay_ms": 20}`), be.addr, ""))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
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
			var want strings.Builder
			for j := 0; j < 50; j++ {
				chunk := fmt.Sprintf("client %d chunk %02d %s\n", i, j, strings.Repeat("y", 2000))
				want.WriteString(chunk)
				io.WriteString(c, chunk)
			}
			c.(*net.TCPConn).CloseWrite()
			if got, err := io.ReadAll(c); err != nil || string(got) != want.String() {
				errs <- fmt.Errorf("client %d: %d of %d bytes, %v", i, len(got), want.Len(), err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := counter(t, p, "module.slow.timer_fires"); n < 8 {
		t.Fatalf("timer_fires = %d, want at least one per connection", n)
	}
	checkAffinity(t, p, "slow")
}

// Every network hook of the three Rust filters — new_filter, on_new_connection,
// on_read, on_write, on_event, on_scheduled (gatekeeper), on_timer
// (throttler), drop — on its connection's worker, with 32 concurrent
// connections on 2 workers through gatekeeper -> sniffer -> throttler ->
// tcp_proxy. The gatekeeper tags each connection with its worker index:
// both workers served some.
func TestRustNetworkHooksStayOnTheirWorkers(t *testing.T) {
	be := newTCPBackend(t, echo)
	filters := netFilter("gate", "net_gatekeeper", `{"allow": "open", "delay_ms": 5}`) +
		netFilter("sniff", "net_sniffer", "") +
		netFilter("slow", "net_throttler", `{"delay_ms": 5}`)
	p := startSluice(t, tcpConfig(filters, be.addr, ""))
	const clients = 32
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
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
			msgs := lengthPrefixed(fmt.Sprintf("client %d", i), "", strings.Repeat("m", 1000))
			c.Write(append([]byte("HELLO open\n"), msgs...))
			c.(*net.TCPConn).CloseWrite()
			if got, err := io.ReadAll(c); err != nil || !bytes.Equal(got, msgs) {
				errs <- fmt.Errorf("client %d: got %d of %d bytes, %v", i, len(got), len(msgs), err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	lines := p.AccessLines(clients)
	workers := map[any]int{}
	for _, l := range lines {
		workers[connectionMetadata(l, "gatekeeper")["worker"]]++
		if sn := connectionMetadata(l, "sniffer"); sn["requests"] != float64(3) || sn["responses"] != float64(3) {
			t.Errorf("sniffer metadata %v", sn)
		}
	}
	if len(lines) != clients || workers[float64(0)] == 0 || workers[float64(1)] == 0 {
		t.Fatalf("%d access-log lines; connections per worker index: %v", len(lines), workers)
	}
	waitCounter(t, p, "module.gate.allowed", func(n int64) bool { return n == clients })
	if n := counter(t, p, "module.slow.timer_fires"); n < clients {
		t.Fatalf("timer_fires = %d", n)
	}
	for _, entry := range []string{"gate", "sniff", "slow"} {
		checkAffinity(t, p, entry)
	}
}
