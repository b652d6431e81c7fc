package main

import (
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func echoServe(c net.Conn) {
	io.Copy(c, c)
	c.(*net.TCPConn).CloseWrite()
}

// tcpProxyConfig renders a listener whose chain is filters + tcp_proxy to
// cluster "backend" at addr.
func tcpProxyConfig(addr, filters, proxyExtra, listenerExtra string) string {
	return fmt.Sprintf(`concurrency: 2
log: { level: info, format: json }
admin: { address: 127.0.0.1:0 }
listeners:
- name: main
  address: 127.0.0.1:0
%s
  filter_chains:
  - filters:
%s
    - name: tcp_proxy
      config:
        stat_prefix: db
        cluster: backend
        access_log: [{ path: "%%ACCESS_LOG%%", format: json }]
%s
clusters:
%s`, indent(listenerExtra, 2), indent(filters, 4), indent(proxyExtra, 8), staticCluster("backend", "", addr))
}

func dialProxy(t *testing.T, p *proc) *net.TCPConn {
	t.Helper()
	return p.Dial(t)
}

// TestTCPProxyEchoAndHalfClose: bytes go both ways; the client's FIN reaches
// the backend, whose FIN comes back after the echo; one access-log line
// with the bytes each way.
func TestTCPProxyEchoAndHalfClose(t *testing.T) {
	be := tcpBackend(t, echoServe)
	p := startSluice(t, tcpProxyConfig(be, "", "", ""))
	c := dialProxy(t, p)
	msg := strings.Repeat("hello through tcp_proxy\n", 1000)
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != msg {
		t.Fatalf("echo: %d bytes, %v", len(got), err)
	}
	l := p.AccessLines(1)[0]
	if l["protocol"] != "TCP" || l["response_flags"] != "-" || l["bytes_received"] != float64(len(msg)) ||
		l["bytes_sent"] != float64(len(msg)) || l["upstream_host"] != be || l["upstream_cluster"] != "backend" {
		t.Fatalf("access log: %v", l)
	}
	waitStat(t, p, "tcp.db.downstream_cx_active", 0)
	if n := adminStat(t, p, "tcp.db.downstream_cx_total"); n != 1 {
		t.Fatalf("downstream_cx_total = %d", n)
	}
	if n := adminStat(t, p, "tcp.db.downstream_cx_rx_bytes_total"); n != int64(len(msg)) {
		t.Fatalf("rx bytes = %d", n)
	}
}

// TestTCPProxyBackendClosesFirst: the backend answers and half-closes; the
// client still sends afterwards and then closes.
func TestTCPProxyBackendClosesFirst(t *testing.T) {
	be := tcpBackend(t, func(c net.Conn) {
		io.WriteString(c, "banner\n")
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, c)
	})
	p := startSluice(t, tcpProxyConfig(be, "", "", ""))
	c := dialProxy(t, p)
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "banner\n" {
		t.Fatalf("banner: %q %v", got, err)
	}
	if _, err := io.WriteString(c, "after the backend's FIN"); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	l := p.AccessLines(1)[0]
	if l["response_flags"] != "-" || l["bytes_received"] != float64(len("after the backend's FIN")) {
		t.Fatalf("access log: %v", l)
	}
}

// TestTCPProxyUpstreamConnectFailure: no upstream → the client's connection
// closes, flag UF, counted.
func TestTCPProxyUpstreamConnectFailure(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	p := startSluice(t, tcpProxyConfig(dead, "", "", ""))
	c := dialProxy(t, p)
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("read %d bytes from a connection without upstream", n)
	}
	l := p.AccessLines(1)[0]
	if l["response_flags"] != "UF" || l["details"] != "upstream_connect_failure" {
		t.Fatalf("access log: %v", l)
	}
	if n := adminStat(t, p, "tcp.db.upstream_connect_failed"); n != 1 {
		t.Fatalf("upstream_connect_failed = %d", n)
	}
	if n := adminStat(t, p, "cluster.backend.upstream_cx_connect_fail"); n != 1 {
		t.Fatalf("upstream_cx_connect_fail = %d", n)
	}
}

// TestTCPProxyTimeouts: idle_timeout closes a connection that carries
// nothing (flag SI); max_downstream_connection_duration one that lives too
// long however busy (DT).
func TestTCPProxyTimeouts(t *testing.T) {
	be := tcpBackend(t, echoServe)
	p := startSluice(t, tcpProxyConfig(be, "", "idle_timeout: 200ms", ""))
	c := dialProxy(t, p)
	io.WriteString(c, "x")
	buf := make([]byte, 1)
	io.ReadFull(c, buf)
	if _, err := c.Read(buf); err == nil {
		t.Fatal("an idle connection stayed open")
	}
	if l := p.AccessLines(1)[0]; l["response_flags"] != "SI" || l["details"] != "idle_timeout" {
		t.Fatalf("idle: %v", l)
	}
	if n := adminStat(t, p, "tcp.db.idle_timeout"); n != 1 {
		t.Fatalf("idle_timeout = %d", n)
	}

	p = startSluice(t, tcpProxyConfig(be, "", "max_downstream_connection_duration: 300ms", ""))
	c = dialProxy(t, p)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		// Busy all along: the duration bound still applies.
		if _, err := io.WriteString(c, "tick"); err != nil {
			break
		}
		if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if l := p.AccessLines(1)[0]; l["response_flags"] != "DT" || l["details"] != "max_downstream_connection_duration" {
		t.Fatalf("duration: %v", l)
	}
}

// TestTCPProxyDrainDeadline: a graceful shutdown leaves a tcp_proxy
// connection running until drain_timeout, then closes it; its access-log
// line says so.
func TestTCPProxyDrainDeadline(t *testing.T) {
	be := tcpBackend(t, echoServe)
	p := startSluice(t, strings.Replace(tcpProxyConfig(be, "", "", ""), "concurrency: 2\n", "concurrency: 2\ndrain_timeout: 300ms\n", 1))
	c := dialProxy(t, p)
	io.WriteString(c, "ping")
	if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	if n, err := io.Copy(io.Discard, c); n != 0 {
		t.Fatalf("read %d bytes after the drain, %v", n, err)
	}
	if err := p.WaitExit(10 * time.Second); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if l := p.AccessLines(1)[0]; l["response_flags"] != "LR" || l["details"] != "drain_timeout" || l["bytes_received"] != float64(4) {
		t.Fatalf("access log: %v", l)
	}
}

// TestClientIPAllowBeforeTCPProxy is seed 003's allow list in front of the
// proxy: a client outside the list is closed before tcp_proxy connects
// anywhere; one inside goes through.
func TestClientIPAllowBeforeTCPProxy(t *testing.T) {
	var conns atomic.Int32
	be := tcpBackend(t, func(c net.Conn) { conns.Add(1); echoServe(c) })
	deny := startSluice(t, tcpProxyConfig(be, `- name: client_ip_allow
  config: { stat_prefix: office, allow: [10.0.0.0/8, "192.168.0.1"] }`, "", ""))
	c := dialProxy(t, deny)
	io.WriteString(c, "let me in")
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("a refused client read %d bytes", n)
	}
	waitStat(t, deny, "client_ip_allow.office.denied", 1)
	if n := conns.Load(); n != 0 {
		t.Fatalf("the backend saw %d connections from a refused client", n)
	}
	// tcp_proxy never started for it, and still logs it, saying why.
	if l := deny.AccessLines(1)[0]; l["response_flags"] != "-" || l["details"] != "client_ip_allow_denied" ||
		l["upstream_host"] != "" || l["bytes_received"] != float64(0) {
		t.Fatalf("refused connection's access-log line: %v", l)
	}

	allow := startSluice(t, tcpProxyConfig(be, `- name: client_ip_allow
  config: { stat_prefix: office, allow: [127.0.0.0/8] }`, "", ""))
	c = dialProxy(t, allow)
	io.WriteString(c, "hi")
	c.CloseWrite()
	if got, _ := io.ReadAll(c); string(got) != "hi" {
		t.Fatalf("allowed client: %q", got)
	}
	if n := adminStat(t, allow, "client_ip_allow.office.allowed"); n != 1 {
		t.Fatalf("allowed = %d", n)
	}
}

// patternBlock is 64 KiB of random bytes: a stream of it is cheap to make
// and to check with CRC32 (hardware-accelerated, even under -race).
var patternBlock = func() []byte {
	b := make([]byte, 64<<10)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

func patternCRC(total int64) uint32 {
	var crc uint32
	for total > 0 {
		n := min(total, int64(len(patternBlock)))
		crc = crc32.Update(crc, crc32.IEEETable, patternBlock[:n])
		total -= n
	}
	return crc
}

func writePattern(w io.Writer, total int64) error {
	for total > 0 {
		n := min(total, int64(len(patternBlock)))
		if _, err := w.Write(patternBlock[:n]); err != nil {
			return err
		}
		total -= n
	}
	return nil
}

// slowCRC reads r to its end in 64 KiB steps with a pause after each MiB,
// so a fast writer on the other side always has more ready than is read.
func slowCRC(r io.Reader) (int64, uint32, error) {
	buf := make([]byte, 64<<10)
	var n int64
	var crc uint32
	for {
		k, err := r.Read(buf)
		crc = crc32.Update(crc, crc32.IEEETable, buf[:k])
		before := n
		n += int64(k)
		if n>>20 != before>>20 {
			time.Sleep(time.Millisecond)
		}
		if err == io.EOF {
			return n, crc, nil
		}
		if err != nil {
			return n, crc, err
		}
	}
}

// TestTCPProxyFlowControlBoundsMemory: a backend writes 1 GiB as fast as it
// can to a client that reads slower, and a client writes 256 MiB to a
// backend that reads slower. Every byte arrives intact, and sluice's RSS
// stays bounded by its buffer limits (256 KiB per connection here) instead
// of growing with what the fast side sends.
func TestTCPProxyFlowControlBoundsMemory(t *testing.T) {
	const down, up = 1 << 30, 256 << 20
	var upN int64
	var upCRC uint32
	var upErr error
	done := make(chan struct{})
	be := tcpBackend(t, func(c net.Conn) {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			upN, upCRC, upErr = slowCRC(c)
		}()
		writePattern(c, down)
		c.(*net.TCPConn).CloseWrite()
		wg.Wait()
		close(done)
	})
	p := startSluice(t, tcpProxyConfig(be, "", "", "per_connection_buffer_limit_bytes: 262144"))
	before := currentRSS(t, p.Cmd.Process.Pid)
	c := dialProxy(t, p)
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	go func() {
		writePattern(c, up)
		c.CloseWrite()
	}()
	n, crc, err := slowCRC(c)
	if err != nil || n != down || crc != patternCRC(down) {
		t.Fatalf("download: %d bytes, crc %08x (want %08x), %v", n, crc, patternCRC(down), err)
	}
	<-done
	if upErr != nil || upN != up || upCRC != patternCRC(up) {
		t.Fatalf("upload: %d bytes, %v", upN, upErr)
	}
	if grown := peakRSS(t, p.Cmd.Process.Pid) - before; grown > 32<<10 {
		t.Fatalf("peak RSS grew by %d KiB while 1.25 GiB went through", grown)
	}
	if l := p.AccessLines(1)[0]; l["bytes_sent"] != float64(down) || l["bytes_received"] != float64(up) {
		t.Fatalf("access log: %v", l)
	}
}
