package sluicetest

import (
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

// TCPBackend is a TCP server for tests: it serves every accepted connection
// with its handler in a goroutine of its own and counts the connections.
// Everything closes in t.Cleanup.
type TCPBackend struct {
	Addr  string
	Conns atomic.Int32
}

// StartTCPBackend listens on a free loopback port and serves each
// connection with serve.
func StartTCPBackend(t testing.TB, serve func(c *net.TCPConn)) *TCPBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &TCPBackend{Addr: ln.Addr().String()}
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
			b.Conns.Add(1)
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c.(*net.TCPConn))
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

// EchoServe sends back what it reads, then half-closes after the client did.
func EchoServe(c *net.TCPConn) {
	io.Copy(c, c)
	c.CloseWrite()
}

// Dial connects to the listener named "main", with a 30 s deadline; the
// connection closes in t.Cleanup.
func (p *Proc) Dial(t testing.TB) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr("main"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c.(*net.TCPConn)
}

var adminClient = &http.Client{Timeout: 10 * time.Second}

// Stat is the value of the integer stat name on the admin /stats page;
// a stat that is missing fails the test.
func (p *Proc) Stat(t testing.TB, name string) int64 {
	t.Helper()
	n, ok, raw := p.stat(t, name)
	if !ok {
		t.Fatalf("no stat %s in:\n%s", name, raw)
	}
	return n
}

// WaitStat polls stat name until done(value) holds, for at most 20 s, and
// returns the value.
func (p *Proc) WaitStat(t testing.TB, name string, done func(int64) bool) int64 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, ok, _ := p.stat(t, name)
		if ok && done(n) {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %d (present: %v): not reached in 20s", name, n, ok)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *Proc) stat(t testing.TB, name string) (n int64, ok bool, page string) {
	t.Helper()
	resp, err := adminClient.Get(p.AdminURL("/stats"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, found := strings.CutPrefix(line, name+": "); found {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("stat %s = %q", name, v)
			}
			return n, true, ""
		}
	}
	return 0, false, string(b)
}

// CheckAffinity asserts that some hook of the module filter entry ran (the
// count may trail the traffic: a filter's last hooks run when its
// connection goes away, so it is waited for) and that every one ran on its
// connection's worker (the example modules compare gettid() in each hook
// and count violations).
func (p *Proc) CheckAffinity(t testing.TB, entry string) {
	t.Helper()
	p.WaitStat(t, "module."+entry+".hooks", func(n int64) bool { return n > 0 })
	if n := p.Stat(t, "module."+entry+".affinity_violations"); n != 0 {
		t.Fatalf("%s: %d hooks ran off their connection's worker", entry, n)
	}
}

// ConnectionMetadata is namespace ns of an access-log line's
// connection_metadata (nil when absent).
func ConnectionMetadata(line map[string]any, ns string) map[string]any {
	md, _ := line["connection_metadata"].(map[string]any)
	v, _ := md[ns].(map[string]any)
	return v
}

// LengthPrefixed encodes messages of the net_sniffer examples' protocol: a
// 4-byte big-endian length, then the payload.
func LengthPrefixed(payloads ...string) []byte {
	var b []byte
	for _, p := range payloads {
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}

// The network-filter examples exist in both SDKs with the same behaviour
// (testdata/modules/net_*.c and sdk-rust/examples/net_*), so one scenario
// each drives either build. p runs the filter as entry name "gate",
// "sniff" or "slow" before tcp_proxy to be, with a JSON access log, on two
// workers.

// GatekeeperScenario: net_gatekeeper configured {"allow": "open"} with a
// delay stops the chain, asks its own thread and continues from
// on_scheduled. A refused client gets DENIED and tcp_proxy never connects
// for it; 20 allowed clients at once (half sending the HELLO line a byte at
// a time, all sending their payload right behind it) get their payload
// echoed exactly, as continue_reading passes on what waited in the read
// buffer; the access log carries the token; every hook ran on its worker.
func GatekeeperScenario(t *testing.T, p *Proc, be *TCPBackend) {
	t.Helper()
	c := p.Dial(t)
	io.WriteString(c, "HELLO nope\nsecret")
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "DENIED\n" {
		t.Fatalf("refused client got %q, %v", got, err)
	}
	if n := be.Conns.Load(); n != 0 {
		t.Fatalf("tcp_proxy connected upstream for a refused client (%d connections)", n)
	}
	const clients = 20
	ConcurrentClients(t, p, clients, func(i int, c *net.TCPConn) error {
		payload := fmt.Sprintf("payload %d", i)
		hello := "HELLO open\n"
		if i%2 == 0 {
			for j := 0; j < len(hello); j++ {
				c.Write([]byte{hello[j]})
				time.Sleep(time.Millisecond) // encourage separate reads; the result does not depend on it
			}
			io.WriteString(c, payload)
		} else {
			io.WriteString(c, hello+payload)
		}
		c.CloseWrite()
		if got, err := io.ReadAll(c); err != nil || string(got) != payload {
			return fmt.Errorf("got %q, %v", got, err)
		}
		return nil
	})
	p.WaitStat(t, "module.gate.allowed", func(n int64) bool { return n == clients })
	if n := p.Stat(t, "module.gate.denied"); n != 1 {
		t.Fatalf("denied = %d", n)
	}
	if n := be.Conns.Load(); n != clients {
		t.Fatalf("backend saw %d connections, want %d", n, clients)
	}
	// One line per connection, the refused one included: tcp_proxy never
	// started for it, and its line says the filter before it closed it.
	tagged, refused := 0, 0
	lines := p.AccessLines(clients + 1)
	for _, l := range lines {
		if g := ConnectionMetadata(l, "gatekeeper"); g["token"] == "open" && l["response_flags"] == "-" && l["upstream_host"] != "" {
			tagged++
		}
		if l["response_flags"] == "-" && l["details"] == "network_filter_closed" && l["upstream_host"] == "" {
			refused++
		}
	}
	if len(lines) != clients+1 || tagged != clients || refused != 1 {
		t.Fatalf("%d access-log lines, %d allowed carrying gatekeeper.token (want %d), %d refused (want 1):\n%v",
			len(lines), tagged, clients, refused, lines)
	}
	p.WaitLog(`"gatekeeper: connection allowed"`, `"filter":"gate"`, `"conn_id":`)
	p.CheckAffinity(t, "gate")
}

// SnifferScenario: net_sniffer counts length-prefixed messages in both
// directions while the client feeds it one byte per write (be echoes); the
// counts land in its metrics and in the connection's metadata.
func SnifferScenario(t *testing.T, p *Proc) {
	t.Helper()
	c := p.Dial(t)
	c.SetNoDelay(true)
	stream := LengthPrefixed("", "a", strings.Repeat("x", 300))
	for _, b := range stream {
		c.Write([]byte{b})
		time.Sleep(200 * time.Microsecond) // encourage separate reads; the counts do not depend on it
	}
	c.CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != string(stream) {
		t.Fatalf("echo: %d of %d bytes, %v", len(got), len(stream), err)
	}
	sn := ConnectionMetadata(p.AccessLines(1)[0], "sniffer")
	if sn["requests"] != float64(3) || sn["responses"] != float64(3) {
		t.Fatalf("access log sniffer metadata: %v", sn)
	}
	for _, name := range []string{"module.sniff.requests", "module.sniff.responses"} {
		if n := p.Stat(t, name); n != 3 {
			t.Fatalf("%s = %d", name, n)
		}
	}
	p.CheckAffinity(t, "sniff")
}

// ThrottlerScenario: net_throttler holds data back and releases it from a
// timer with inject_read / inject_write, in order, FIN last, both ways
// (be echoes), on several connections at once, each timer on its
// connection's worker.
func ThrottlerScenario(t *testing.T, p *Proc) {
	t.Helper()
	const clients = 8
	ConcurrentClients(t, p, clients, func(i int, c *net.TCPConn) error {
		var want strings.Builder
		for j := 0; j < 50; j++ {
			chunk := fmt.Sprintf("client %d chunk %02d %s\n", i, j, strings.Repeat("y", 2000))
			want.WriteString(chunk)
			io.WriteString(c, chunk)
		}
		c.CloseWrite()
		if got, err := io.ReadAll(c); err != nil || string(got) != want.String() {
			return fmt.Errorf("%d of %d bytes through the throttler, %v", len(got), want.Len(), err)
		}
		return nil
	})
	if n := p.Stat(t, "module.slow.timer_fires"); n < clients {
		t.Fatalf("timer_fires = %d, want at least one per connection", n)
	}
	p.CheckAffinity(t, "slow")
}

// ConcurrentClients runs talk on n connections to "main" at once and fails
// the test with each client's error.
func ConcurrentClients(t *testing.T, p *Proc, n int, talk func(i int, c *net.TCPConn) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", p.Addr("main"), 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			if err := talk(i, c.(*net.TCPConn)); err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
}
