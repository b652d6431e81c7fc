package worker

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/host/tlscontext/tlstest"
)

// testPKI is one CA and a server certificate for "localhost" and 127.0.0.1.
type testPKI struct {
	ca     *tlstest.CA
	server *tlstest.Issued
}

func newTestPKI() *testPKI {
	ca := tlstest.NewCA("worker test CA")
	return &testPKI{ca: ca, server: ca.Issue(tlstest.Leaf{
		CommonName: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
	})}
}

func (p *testPKI) serverConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.server.Cert}, NextProtos: []string{"h2", "http/1.1"}}
}

func (p *testPKI) clientConfig() *tls.Config {
	return &tls.Config{RootCAs: p.ca.Pool(), ServerName: "localhost", NextProtos: []string{"h2"}}
}

// tlsEcho is echoHandler behind StartTLS: it records the handshake's
// outcome and the session it produced.
type tlsEcho struct {
	echoHandler
	connected chan error
	state     chan tls.ConnectionState
}

func newTLSEcho(t *testing.T) *tlsEcho {
	h := &tlsEcho{connected: make(chan error, 4), state: make(chan tls.ConnectionState, 4)}
	h.tidErr = func(where string) { t.Errorf("%s off the loop thread", where) }
	return h
}

func (h *tlsEcho) OnConnect(c *Conn, err error) {
	h.checkTID(c, "OnConnect")
	if err == nil {
		if c.Handshaking() {
			h.connected <- errors.New("OnConnect while still handshaking")
			return
		}
		st, ok := c.TLSConnectionState()
		if !ok {
			h.connected <- errors.New("no TLS state after the handshake")
			return
		}
		h.state <- st
	}
	h.connected <- err
}

func listenTLS(t *testing.T, w *Worker, cfg *tls.Config, h ConnHandler, timeout time.Duration) netip.AddrPort {
	return listen(t, w, func(c *Conn) {
		c.SetHandler(h)
		c.StartTLS(cfg, timeout)
	})
}

func dialTLSClient(t *testing.T, addr netip.AddrPort, cfg *tls.Config) *tls.Conn {
	t.Helper()
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: waitLimit}, "tcp", addr.String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Close() })
	tc.SetDeadline(time.Now().Add(waitLimit))
	return tc
}

// The worker's TLS server: handshake, ALPN, echo of small and large
// messages both ways, and a half-close (close_notify) answered by one.
func TestTLSEchoAndHalfClose(t *testing.T) {
	pki := newTestPKI()
	w := startWorker(t, Options{})
	h := newTLSEcho(t)
	addr := listenTLS(t, w, pki.serverConfig(), h, waitLimit)
	tc := dialTLSClient(t, addr, pki.clientConfig())
	if err := recv(t, h.connected, "OnConnect"); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	st := recv(t, h.state, "state")
	if st.NegotiatedProtocol != "h2" || st.Version != tls.VersionTLS13 || st.ServerName != "localhost" {
		t.Fatalf("server state: alpn %q version %x sni %q", st.NegotiatedProtocol, st.Version, st.ServerName)
	}
	for _, msg := range []string{"hello", strings.Repeat("0123456789", 100_000)} {
		errc := make(chan error, 1)
		go func() { _, err := io.WriteString(tc, msg); errc <- err }()
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(tc, got); err != nil {
			t.Fatal(err)
		}
		if string(got) != msg {
			t.Fatalf("echo mismatch (%d bytes)", len(msg))
		}
		if err := recv(t, errc, "write"); err != nil {
			t.Fatal(err)
		}
	}
	if err := tc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n, err := tc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after close_notify: %d %v, want EOF", n, err)
	}
	s := w.Stats()
	if s.TLSHandshakes != 1 || s.TLSHandshakeFails != 0 {
		t.Fatalf("handshakes %d fails %d", s.TLSHandshakes, s.TLSHandshakeFails)
	}
}

// splitWriter sends every byte in its own write (and TCP segment).
type splitWriter struct{ net.Conn }

func (s splitWriter) Write(p []byte) (int, error) {
	for i := range p {
		if _, err := s.Conn.Write(p[i : i+1]); err != nil {
			return i, err
		}
	}
	return len(p), nil
}

// Bytes a listener filter read before StartTLS (here: half the
// ClientHello, which arrived one byte per segment) are the start of the
// handshake.
func TestTLSStartsFromBufferedInput(t *testing.T) {
	pki := newTestPKI()
	w := startWorker(t, Options{})
	h := newTLSEcho(t)
	var peeked atomic.Int64
	addr := listen(t, w, func(c *Conn) {
		c.SetHandler(&funcHandler{data: func(c *Conn) {
			// Look without consuming, like tls_inspector, until 100 bytes.
			if len(c.Input()) < 100 {
				return
			}
			peeked.Store(int64(len(c.Input())))
			c.SetHandler(h)
			c.StartTLS(pki.serverConfig(), waitLimit)
		}})
	})
	raw, err := net.DialTimeout("tcp", addr.String(), waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(waitLimit))
	raw.(*net.TCPConn).SetNoDelay(true)
	tc := tls.Client(splitWriter{raw}, pki.clientConfig())
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, h.connected, "OnConnect"); err != nil {
		t.Fatal(err)
	}
	if n := peeked.Load(); n < 100 {
		t.Fatalf("peeked %d bytes", n)
	}
	io.WriteString(tc, "ping")
	got := make([]byte, 4)
	if _, err := io.ReadFull(tc, got); err != nil || string(got) != "ping" {
		t.Fatalf("echo %q %v", got, err)
	}
}

// A client that is not speaking TLS fails the handshake: OnConnect gets the
// error, the connection is closed, no OnClose, and it is counted.
func TestTLSHandshakeFailure(t *testing.T) {
	pki := newTestPKI()
	w := startWorker(t, Options{})
	h := newTLSEcho(t)
	h.closed = make(chan error, 1)
	addr := listenTLS(t, w, pki.serverConfig(), h, waitLimit)
	nc := dialTCP(t, addr.String())
	io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	err := recv(t, h.connected, "OnConnect")
	if err == nil || !strings.Contains(err.Error(), "first record does not look like a TLS handshake") {
		t.Fatalf("OnConnect err = %v", err)
	}
	if rest, _ := io.ReadAll(nc); len(rest) != 0 {
		t.Fatalf("client read %q", rest)
	}
	waitNoConns(t, w)
	if s := w.Stats(); s.TLSHandshakeFails != 1 {
		t.Fatalf("fails = %d", s.TLSHandshakeFails)
	}
	if len(h.closed) != 0 {
		t.Fatal("OnClose called for a failed handshake")
	}
}

// A client that connects and says nothing is cut off by the handshake
// timeout; the helper goroutine ends (goleak checks) and the socket closes.
func TestTLSHandshakeTimeout(t *testing.T) {
	pki := newTestPKI()
	w := startWorker(t, Options{})
	h := newTLSEcho(t)
	addr := listenTLS(t, w, pki.serverConfig(), h, 50*time.Millisecond)
	nc := dialTCP(t, addr.String())
	if err := recv(t, h.connected, "OnConnect"); err != ErrHandshakeTimeout {
		t.Fatalf("OnConnect err = %v", err)
	}
	if n, err := nc.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("client read %d %v, want the connection closed", n, err)
	}
	waitNoConns(t, w)
}

// The owner closes during the handshake, and the worker stops with another
// handshake in progress: both helpers end and both sockets are closed.
func TestTLSCloseAndStopDuringHandshake(t *testing.T) {
	pki := newTestPKI()
	w, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	go w.Run()
	accepted := make(chan *Conn, 2)
	addr := listen(t, w, func(c *Conn) {
		c.SetHandler(&funcHandler{})
		c.StartTLS(pki.serverConfig(), 0)
		accepted <- c
	})
	first := dialTCP(t, addr.String())
	c := recv(t, accepted, "accept")
	onLoop(t, w, func() {
		if !c.Handshaking() {
			t.Error("not handshaking")
		}
		c.Close()
	})
	if n, err := first.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("first client read %d %v, want the connection closed", n, err)
	}
	second := dialTCP(t, addr.String())
	recv(t, accepted, "accept")
	stopWorker(t, w)
	if n, err := second.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("second client read %d %v, want the connection closed", n, err)
	}
}

// DialTLS: OnConnect comes after the client handshake; the session works
// both ways; a server whose certificate the client does not trust fails
// with the verification error.
func TestDialTLS(t *testing.T) {
	pki := newTestPKI()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", pki.serverConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(waitLimit))
				io.Copy(c, c)
			}()
		}
	}()
	addr := netip.MustParseAddrPort(ln.Addr().String())
	w := startWorker(t, Options{})

	got := make(chan string, 1)
	connected := make(chan error, 2)
	h := &funcHandler{
		connect: func(c *Conn, err error) {
			if err == nil {
				st, _ := c.TLSConnectionState()
				if st.NegotiatedProtocol != "h2" {
					err = errors.New("ALPN " + st.NegotiatedProtocol)
				}
				c.Write([]byte("over tls"))
			}
			connected <- err
		},
		data: func(c *Conn) {
			if len(c.Input()) >= 8 {
				got <- string(c.Input())
				c.Close()
			}
		},
	}
	onLoop(t, w, func() {
		if _, err := w.DialTLS(addr, waitLimit, pki.clientConfig(), h); err != nil {
			t.Error(err)
		}
	})
	if err := recv(t, connected, "OnConnect"); err != nil {
		t.Fatal(err)
	}
	if s := recv(t, got, "echo"); s != "over tls" {
		t.Fatalf("echo %q", s)
	}

	untrusting := pki.clientConfig()
	untrusting.RootCAs = x509.NewCertPool()
	onLoop(t, w, func() { w.DialTLS(addr, waitLimit, untrusting, h) })
	err = recv(t, connected, "OnConnect")
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) {
		t.Fatalf("OnConnect err = %v, want a certificate verification error", err)
	}
	waitNoConns(t, w)
}

// A 64 MiB echo over TLS through a reader that starts late: plaintext plus
// records held stay bounded by the watermark, as for cleartext.
func TestTLSSlowReaderBoundedMemory(t *testing.T) {
	const total = 64 << 20
	pki := newTestPKI()
	w := startWorker(t, Options{})
	h := &boundedEcho{paused: make(chan struct{})}
	h.tidErr = func(where string) { t.Errorf("%s off the loop thread", where) }
	addr := listenTLS(t, w, pki.serverConfig(), h, waitLimit)
	tc := dialTLSClient(t, addr, pki.clientConfig())
	tc.SetDeadline(time.Now().Add(4 * waitLimit))

	writeErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 256<<10)
		for off := int64(0); off < total; off += int64(len(buf)) {
			pattern(buf, off)
			if _, err := tc.Write(buf); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- tc.CloseWrite()
	}()
	recv(t, h.paused, "server PauseReading")
	got, want := make([]byte, 64<<10), make([]byte, 64<<10)
	var off int64
	for off < total {
		n, err := tc.Read(got[:min(len(got), 4<<10)])
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		pattern(want[:n], off)
		if !bytes.Equal(got[:n], want[:n]) {
			t.Fatalf("corrupt echo at offset %d", off)
		}
		off += int64(n)
	}
	if err := recv(t, writeErr, "writer"); err != nil {
		t.Fatal(err)
	}
	if n, err := tc.Read(got); n != 0 || err != io.EOF {
		t.Fatalf("after transfer: %d %v, want EOF", n, err)
	}
	var maxHeld int
	var stats Stats
	onLoop(t, w, func() { maxHeld, stats = h.maxHeld, w.Stats() })
	if limit := defaultHighWatermark + defaultReadBufferSize + maxEncryptAhead; maxHeld > limit {
		t.Fatalf("server held %d bytes, limit %d", maxHeld, limit)
	}
	if limit := uint64((defaultHighWatermark+defaultMaxReadBuffer+maxEncryptAhead)/defaultReadBufferSize + 16); stats.BuffersMade > limit {
		t.Fatalf("made %d buffers, limit %d", stats.BuffersMade, limit)
	}
	t.Logf("max held %d B, %d buffers made", maxHeld, stats.BuffersMade)
}

// A peer that sends a corrupted record after the handshake: the
// connection fails with crypto/tls's error (OnClose), never hangs.
func TestTLSBadRecordFailsConnection(t *testing.T) {
	pki := newTestPKI()
	w := startWorker(t, Options{})
	h := newTLSEcho(t)
	h.closed = make(chan error, 1)
	addr := listenTLS(t, w, pki.serverConfig(), h, waitLimit)
	raw, err := net.DialTimeout("tcp", addr.String(), waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(waitLimit))
	tc := tls.Client(raw, pki.clientConfig())
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	recv(t, h.connected, "OnConnect")
	// An application-data record whose ciphertext is garbage.
	raw.Write([]byte{23, 3, 3, 0, 32})
	raw.Write(bytes.Repeat([]byte{0xAB}, 32))
	err = recv(t, h.closed, "OnClose")
	if err == nil || !strings.Contains(err.Error(), "bad record MAC") {
		t.Fatalf("OnClose err = %v", err)
	}
}

// BenchmarkTLSEchoRoundTrip: 64-byte ping-pong over TLS 1.3 (AES-128-GCM)
// between a crypto/tls client and the worker. The worker's steady state
// makes no buffer; allocs/op are mostly the client's.
func BenchmarkTLSEchoRoundTrip(b *testing.B) {
	pki := newTestPKI()
	w := startWorker(b, Options{})
	addr := listen(b, w, func(c *Conn) {
		c.SetHandler(&echoHandler{})
		c.StartTLS(pki.serverConfig(), 0)
	})
	tc, err := tls.Dial("tcp", addr.String(), pki.clientConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer tc.Close()
	msg, got := make([]byte, 64), make([]byte, 64)
	var made uint64
	b.ReportAllocs()
	b.SetBytes(64)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i == 1 {
			made = w.Stats().BuffersMade
		}
		if _, err := tc.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(tc, got); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if b.N > 1 && w.Stats().BuffersMade != made {
		b.Fatalf("steady state allocated buffers: %d -> %d", made, w.Stats().BuffersMade)
	}
}

// BenchmarkTLSHandshake: full TLS 1.3 handshakes (ECDSA P-256, X25519)
// from a crypto/tls client, one at a time, through the helper goroutine.
func BenchmarkTLSHandshake(b *testing.B) {
	pki := newTestPKI()
	w := startWorker(b, Options{})
	srv := pki.serverConfig()
	srv.CurvePreferences = []tls.CurveID{tls.X25519}
	addr := listen(b, w, func(c *Conn) {
		c.SetHandler(&echoHandler{})
		c.StartTLS(srv, 0)
	})
	cli := pki.clientConfig()
	cli.CurvePreferences = []tls.CurveID{tls.X25519}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		tc, err := tls.Dial("tcp", addr.String(), cli)
		if err != nil {
			b.Fatal(err)
		}
		tc.Close()
	}
}

// BenchmarkTLSHandshakeNetBaseline: the same handshakes against a plain
// crypto/tls listener (goroutine per connection, Go netpoller).
func BenchmarkTLSHandshakeNetBaseline(b *testing.B) {
	pki := newTestPKI()
	srv := pki.serverConfig()
	srv.CurvePreferences = []tls.CurveID{tls.X25519}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	cli := pki.clientConfig()
	cli.CurvePreferences = []tls.CurveID{tls.X25519}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		tc, err := tls.Dial("tcp", ln.Addr().String(), cli)
		if err != nil {
			b.Fatal(err)
		}
		tc.Close()
	}
}

// A client that stalls in the middle of its handshake holds only its own
// helper goroutine: while it waits, other handshakes and echoes on the
// same (single) worker complete, and the worker keeps turning.
func TestTLSStalledHandshakeDoesNotBlockTheLoop(t *testing.T) {
	pki := newTestPKI()
	w := startWorker(t, Options{})
	h := &echoHandler{tidErr: func(where string) { t.Errorf("%s off the loop thread", where) }}
	addr := listenTLS(t, w, pki.serverConfig(), h, waitLimit)
	// Half a ClientHello, then nothing.
	stalled := dialTCP(t, addr.String())
	a, b := net.Pipe()
	go tls.Client(b, pki.clientConfig()).Handshake()
	a.SetDeadline(time.Now().Add(waitLimit))
	hello := make([]byte, 100)
	if _, err := io.ReadFull(a, hello); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if _, err := stalled.Write(hello); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		tc := dialTLSClient(t, addr, pki.clientConfig())
		io.WriteString(tc, "ping")
		got := make([]byte, 4)
		if _, err := io.ReadFull(tc, got); err != nil || string(got) != "ping" {
			t.Fatalf("connection %d: %q %v", i, got, err)
		}
		tc.Close()
	}
	if n := w.Stats().TLSHandshakes; n != 21 {
		t.Fatalf("handshakes started = %d, want 21", n)
	}
	onLoop(t, w, func() {}) // the loop still answers posts
}
