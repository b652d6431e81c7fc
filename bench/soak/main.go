// Command soak runs a sluice binary under mixed, misbehaving traffic for a
// while and fails when it crashes or leaks (make soak; SOAK=60s for a
// quick run).
//
// It starts its own backends — two HTTP/1.1 + h2c servers (plain requests
// and gRPC-style calls), a TCP echo and a TLS echo — and a sluice with an
// HTTP listener running the C passthrough module and the Rust slow_work
// filter (module threads coming back through the scheduler), a tcp_proxy
// listener and a tcp_proxy listener carrying TLS. Then, for the duration:
//
//   - clients: HTTP/1.1 keep-alive GET and POST, h2c (prior knowledge),
//     gRPC unary calls over HTTP/2, TCP echo and TLS echo sessions through
//     tcp_proxy;
//   - misbehaving clients: connections reset mid-request (SO_LINGER 0),
//     slow readers of a 1 MiB response, slowloris request heads;
//   - chaos: one HTTP backend at a time is killed and restarted on the same
//     port; the config reload hook (below) when enabled.
//
// Every -interval it records sluice's RSS and open fds (/proc), its
// goroutines and downstream connections (admin /stats) and the clients'
// successes and errors. After the load it waits for the connections to
// close and checks: the process never exited; fds and goroutines are back
// to their baseline (taken after a warm-up, so pools and module threads
// exist in both); the RSS slope during the load is under -rss-slope; each
// well-behaved kind of traffic succeeded at least -min-success of the
// time. The samples are printed as a Markdown table (the plot data) with a
// summary; exit status 1 on failure.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

var (
	bin        = flag.String("bin", "build/sluice", "the sluice binary")
	modules    = flag.String("modules", "build/modules", "directory of the built C and Rust modules")
	duration   = flag.Duration("duration", 10*time.Minute, "how long the load runs")
	interval   = flag.Duration("interval", 5*time.Second, "sampling interval")
	warmup     = flag.Duration("warmup", 10*time.Second, "load before the baseline is taken")
	rssSlope   = flag.Float64("rss-slope", 4, "largest RSS growth allowed during the load, MiB per minute (least-squares slope)")
	minSuccess = flag.Float64("min-success", 0.9, "smallest share of successes for each well-behaved kind of traffic")
	slack      = flag.Int("slack", 16, "fds and goroutines allowed above the baseline after the load")
	// With -reload 30s the soak rewrites the config (alternating the
	// module filter's config) and sends SIGHUP every interval; every
	// reload must succeed (config.reload_success / _failure).
	reloadEvery = flag.Duration("reload", 0, "rewrite the config and send SIGHUP to reload it this often (0: never)")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "soak: FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("soak: PASS")
}

// counters of one kind of traffic.
type counters struct{ ok, fail atomic.Int64 }

var kinds = []string{"http1", "h2c", "grpc", "tcp", "tls", "reset", "slow_reader", "slowloris"}

// wellBehaved kinds must mostly succeed; the others exist to hurt sluice.
var wellBehaved = map[string]bool{"http1": true, "h2c": true, "grpc": true, "tcp": true, "tls": true}

type soak struct {
	dir                    string
	httpAddr, tcpAddr      string
	tlsAddr, adminAddr     string
	webA, webB             *flappingBackend
	tcpBackend, tlsBackend net.Listener
	tlsConf                *tls.Config
	cfgPath                string
	cmd                    *exec.Cmd
	exited                 chan error
	stats                  map[string]*counters
	errSamples             sync.Map // kind -> first error text
}

func run() error {
	dir, err := os.MkdirTemp("", "sluice-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	s := &soak{dir: dir, stats: map[string]*counters{}}
	for _, k := range kinds {
		s.stats[k] = &counters{}
	}
	if err := s.startBackends(); err != nil {
		return err
	}
	if err := s.startSluice(); err != nil {
		return err
	}
	defer func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.exited:
			case <-time.After(15 * time.Second):
				s.cmd.Process.Kill()
			}
		}
	}()

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	closeIdle := s.startLoad(ctx, &wg)
	fmt.Printf("soak: warming up for %v\n", *warmup)
	if err := s.sleep(*warmup); err != nil {
		stop()
		return err
	}
	// The baseline: with the warm-up's connections closed, as the end
	// state will be.
	stop()
	wg.Wait()
	closeIdle()
	base, err := s.quiesce()
	if err != nil {
		return err
	}
	fmt.Printf("soak: baseline fds %d, goroutines %d, RSS %.1f MiB; load for %v\n", base.fds, base.goroutines, mib(base.rss), *duration)

	ctx, stop = context.WithCancel(context.Background())
	wg = sync.WaitGroup{}
	closeIdle = s.startLoad(ctx, &wg)
	wg.Add(1)
	go func() { defer wg.Done(); s.chaos(ctx) }()
	start := time.Now()
	var samples []sample
	for time.Since(start) < *duration {
		if err := s.sleep(min(*interval, *duration-time.Since(start))); err != nil {
			stop()
			return err
		}
		sm, err := s.sample(start)
		if err != nil {
			stop()
			return err
		}
		samples = append(samples, sm)
		fmt.Fprintf(os.Stderr, "soak: %s\n", sm.row())
	}
	stop()
	wg.Wait()
	closeIdle()
	end, err := s.quiesce()
	if err != nil {
		return err
	}
	end.at = time.Since(start)
	return s.report(base, end, samples)
}

// ---- backends ----

// flappingBackend is an HTTP/1.1 + h2c server that chaos stops and
// restarts on the same address.
type flappingBackend struct {
	addr string
	mu   sync.Mutex
	srv  *http.Server
}

func (b *flappingBackend) start() error {
	l, err := net.Listen("tcp", b.addr)
	if err != nil {
		return err
	}
	b.addr = l.Addr().String()
	srv := &http.Server{Handler: h2c.NewHandler(http.HandlerFunc(serveBackend), &http2.Server{})}
	b.mu.Lock()
	b.srv = srv
	b.mu.Unlock()
	go srv.Serve(l)
	return nil
}

func (b *flappingBackend) kill() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.srv.Close()
}

var bigBody = bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB

func serveBackend(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	switch {
	case r.Header.Get("content-type") == "application/grpc":
		w.Header().Set("content-type", "application/grpc")
		w.Header().Set("trailer", "grpc-status")
		w.Write(body) // the request message, framed, echoed
		w.Header().Set("grpc-status", "0")
	case r.URL.Path == "/big":
		w.Write(bigBody)
	default:
		fmt.Fprintf(w, "ok %d\n", len(body))
	}
}

func (s *soak) startBackends() error {
	s.webA, s.webB = &flappingBackend{addr: "127.0.0.1:0"}, &flappingBackend{addr: "127.0.0.1:0"}
	if err := s.webA.start(); err != nil {
		return err
	}
	if err := s.webB.start(); err != nil {
		return err
	}
	var err error
	if s.tcpBackend, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return err
	}
	go echoServer(s.tcpBackend)
	cert, pool, err := selfSigned()
	if err != nil {
		return err
	}
	s.tlsConf = &tls.Config{RootCAs: pool, ServerName: "soak.test"}
	if s.tlsBackend, err = tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}}); err != nil {
		return err
	}
	go echoServer(s.tlsBackend)
	return nil
}

func echoServer(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			io.Copy(c, c)
		}()
	}
}

func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "soak.test"}, DNSNames: []string{"soak.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}

// ---- sluice ----

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func endpoint(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	return fmt.Sprintf("      - endpoint: { address: { socket_address: { address: %s, port_value: %s } } }\n", host, port)
}

// config renders the soak's sluice config; generation alternates the
// module filter's config for the reload hook.
func (s *soak) config(generation int) (string, error) {
	mods, err := filepath.Abs(*modules)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(`concurrency: 2
drain_timeout: 5s
log: { level: warn, format: json }
admin: { address: %s }
listeners:
- name: http
  address: %s
  filter_chains:
  - filters:
    - name: http_connection_manager
      config:
        stat_prefix: soak
        request_headers_timeout: 5s
        stream_idle_timeout: 15s
        http_filters:
        - name: pass
          module: %s/passthrough.so
          filter_name: passthrough
          config: {}
        - name: slow
          module: %s/libslow_work.so
          filter_name: slow_work
          config: { threads: 2, steps: %d, work_us: 50 }
        - name: router
        route_config:
          virtual_hosts:
          - name: all
            domains: ["*"]
            routes:
            - match: { prefix: /echo.Echo/ }
              route: { cluster: grpc, timeout: 10s, retry_policy: { retry_on: "reset,connect-failure", num_retries: 3, retry_host_predicate: [{ name: previous_hosts }] } }
            - match: { prefix: / }
              route: { cluster: web, timeout: 10s, retry_policy: { retry_on: "5xx,reset,connect-failure", num_retries: 3, retry_host_predicate: [{ name: previous_hosts }] } }
- name: tcp
  address: %s
  filter_chains:
  - filters:
    - name: tcp_proxy
      config: { stat_prefix: tcp, cluster: tcpecho }
- name: tls
  address: %s
  filter_chains:
  - filters:
    - name: tcp_proxy
      config: { stat_prefix: tls, cluster: tlsecho }
clusters:
- name: web
  connect_timeout: 1s
  load_assignment:
    endpoints:
    - lb_endpoints:
%s%s- name: grpc
  connect_timeout: 1s
  http2_protocol_options: {}
  load_assignment:
    endpoints:
    - lb_endpoints:
%s%s- name: tcpecho
  connect_timeout: 1s
  load_assignment:
    endpoints:
    - lb_endpoints:
%s- name: tlsecho
  connect_timeout: 1s
  load_assignment:
    endpoints:
    - lb_endpoints:
%s`, s.adminAddr, s.httpAddr, mods, mods, 2+generation%2, s.tcpAddr, s.tlsAddr,
		endpoint(s.webA.addr), endpoint(s.webB.addr), endpoint(s.webA.addr), endpoint(s.webB.addr),
		endpoint(s.tcpBackend.Addr().String()), endpoint(s.tlsBackend.Addr().String())), nil
}

func (s *soak) startSluice() error {
	var err error
	for _, p := range []*string{&s.adminAddr, &s.httpAddr, &s.tcpAddr, &s.tlsAddr} {
		if *p, err = freePort(); err != nil {
			return err
		}
	}
	cfg, err := s.config(0)
	if err != nil {
		return err
	}
	s.cfgPath = filepath.Join(s.dir, "sluice.yaml")
	if err := os.WriteFile(s.cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	s.cmd = exec.Command(*bin, "run", "-c", s.cfgPath)
	s.cmd.Stdout = os.Stdout
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.exited = make(chan error, 1)
	go func() { s.exited <- s.cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get("http://" + s.adminAddr + "/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case err := <-s.exited:
			return fmt.Errorf("sluice exited during start-up: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("sluice not ready within 30s")
		}
	}
}

// sleep waits d, failing at once if sluice exits meanwhile.
func (s *soak) sleep(d time.Duration) error {
	select {
	case err := <-s.exited:
		s.exited <- err
		return fmt.Errorf("sluice exited under load (crash): %v", err)
	case <-time.After(d):
		return nil
	}
}

// ---- load ----

func (s *soak) note(kind string, err error) {
	if err == nil {
		s.stats[kind].ok.Add(1)
		return
	}
	s.stats[kind].fail.Add(1)
	s.errSamples.LoadOrStore(kind, err.Error())
}

// loop runs fn until ctx ends, n goroutines of it.
func loop(ctx context.Context, wg *sync.WaitGroup, n int, fn func()) {
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				fn()
			}
		}()
	}
}

// pace spaces out the misbehaving clients.
func pace(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// startLoad starts the clients; once they have stopped (ctx done, wg
// waited), the returned function closes their idle connections.
func (s *soak) startLoad(ctx context.Context, wg *sync.WaitGroup) (closeIdle func()) {
	h1 := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8, DisableCompression: true}}
	h2 := &http.Client{Timeout: 15 * time.Second, Transport: &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	base := "http://" + s.httpAddr
	var seq atomic.Int64
	loop(ctx, wg, 4, func() {
		if seq.Add(1)%2 == 0 {
			s.note("http1", expect(h1.Get(base+"/get")))
		} else {
			s.note("http1", expect(h1.Post(base+"/post", "text/plain", strings.NewReader(strings.Repeat("p", 4096)))))
		}
	})
	loop(ctx, wg, 2, func() { s.note("h2c", expect(h2.Get(base+"/h2"))) })
	loop(ctx, wg, 2, func() { s.note("grpc", grpcCall(h2, base+"/echo.Echo/Unary")) })
	loop(ctx, wg, 2, func() {
		s.note("tcp", echoSession(func() (net.Conn, error) { return net.DialTimeout("tcp", s.tcpAddr, 5*time.Second) }))
	})
	loop(ctx, wg, 1, func() {
		s.note("tls", echoSession(func() (net.Conn, error) {
			return tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", s.tlsAddr, s.tlsConf)
		}))
	})
	loop(ctx, wg, 1, func() { s.note("reset", resetMidRequest(s.httpAddr)); pace(ctx, 20*time.Millisecond) })
	loop(ctx, wg, 1, func() { s.note("slow_reader", slowReader(ctx, s.httpAddr)) })
	loop(ctx, wg, 2, func() { s.note("slowloris", slowloris(ctx, s.httpAddr)) })
	return func() {
		h2.Transport.(*http2.Transport).CloseIdleConnections()
		h1.Transport.(*http.Transport).CloseIdleConnections()
	}
}

func expect(resp *http.Response, err error) error {
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 || !bytes.HasPrefix(b, []byte("ok ")) {
		return fmt.Errorf("status %d %q", resp.StatusCode, b)
	}
	return nil
}

func grpcCall(c *http.Client, url string) error {
	msg := []byte("soak message")
	frame := make([]byte, 5+len(msg))
	binary.BigEndian.PutUint32(frame[1:], uint32(len(msg)))
	copy(frame[5:], msg)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(frame))
	req.Header.Set("content-type", "application/grpc")
	req.Header.Set("te", "trailers")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if st := resp.Trailer.Get("grpc-status"); st != "0" || !bytes.Equal(b, frame) {
		if st == "" {
			st = resp.Header.Get("grpc-status")
		}
		return fmt.Errorf("grpc-status %q, %d bytes", st, len(b))
	}
	return nil
}

func echoSession(dial func() (net.Conn, error)) error {
	c, err := dial()
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := bytes.Repeat([]byte("echo through tcp_proxy\n"), 200)
	for i := 0; i < 5; i++ {
		if _, err := c.Write(msg); err != nil {
			return err
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil {
			return err
		}
		if !bytes.Equal(got, msg) {
			return errors.New("echo mismatch")
		}
	}
	return nil
}

// resetMidRequest sends half a request body and resets the connection.
func resetMidRequest(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	fmt.Fprintf(c, "POST /reset HTTP/1.1\r\nHost: soak\r\nContent-Length: 100000\r\n\r\n%s", strings.Repeat("r", 5000))
	c.(*net.TCPConn).SetLinger(0)
	return c.Close()
}

// slowReader asks for 1 MiB and reads it 16 KiB at a time with pauses.
func slowReader(ctx context.Context, addr string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(16 << 10)
	c.SetDeadline(time.Now().Add(60 * time.Second))
	fmt.Fprintf(c, "GET /big HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n")
	buf := make([]byte, 16<<10)
	total := 0
	for ctx.Err() == nil {
		n, err := c.Read(buf)
		total += n
		if err == io.EOF {
			if total < len(bigBody) {
				return fmt.Errorf("slow reader got %d bytes", total)
			}
			return nil
		}
		if err != nil {
			return err
		}
		pace(ctx, 20*time.Millisecond)
	}
	return nil
}

// slowloris dribbles a request head a byte every 200 ms; sluice's
// request_headers_timeout must answer 408 and close.
func slowloris(ctx context.Context, addr string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	head := "GET /slowloris HTTP/1.1\r\nHost: soak\r\nX-Padding: " + strings.Repeat("s", 200)
	for i := 0; i < len(head) && ctx.Err() == nil; i++ {
		if _, err := c.Write([]byte{head[i]}); err != nil {
			break // closed by sluice: read its answer
		}
		pace(ctx, 200*time.Millisecond)
	}
	if ctx.Err() != nil {
		return nil
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 408 {
		return fmt.Errorf("slowloris answered %d, want 408", resp.StatusCode)
	}
	return nil
}

// chaos kills one web backend at a time for a second, every 10 s, and
// runs the reload hook.
func (s *soak) chaos(ctx context.Context) {
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	var reload <-chan time.Time
	if *reloadEvery > 0 {
		t := time.NewTicker(*reloadEvery)
		defer t.Stop()
		reload = t.C
	}
	generation := 0
	for flip := 0; ; flip++ {
		select {
		case <-ctx.Done():
			return
		case <-reload:
			// -reload: rewrite the config and SIGHUP.
			generation++
			if cfg, err := s.config(generation); err == nil && os.WriteFile(s.cfgPath, []byte(cfg), 0o644) == nil {
				s.cmd.Process.Signal(syscall.SIGHUP)
			}
		case <-tick.C:
			b := s.webA
			if flip%2 == 1 {
				b = s.webB
			}
			b.kill()
			pace(ctx, time.Second)
			for b.start() != nil && ctx.Err() == nil { // the port may linger a moment
				pace(ctx, 50*time.Millisecond)
			}
		}
	}
}

// ---- measuring ----

type sample struct {
	at                          time.Duration
	rss                         int64
	fds, goroutines, downstream int64
	ok, fail                    int64
}

func (m sample) row() string {
	return fmt.Sprintf("| %6.0f | %7.1f | %4d | %4d | %4d | %9d | %6d |", m.at.Seconds(), mib(m.rss), m.fds, m.goroutines, m.downstream, m.ok, m.fail)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func (s *soak) sample(start time.Time) (sample, error) {
	m := sample{at: time.Since(start)}
	pid := s.cmd.Process.Pid
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, fmt.Errorf("sluice gone: %v", err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			m.rss = kb << 10
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return m, err
	}
	m.fds = int64(len(fds))
	st, err := s.adminStats()
	if err != nil {
		return m, err
	}
	m.goroutines = st["server.goroutines"]
	for _, p := range []string{"http.soak.", "tcp.tcp.", "tcp.tls."} {
		m.downstream += st[p+"downstream_cx_active"]
	}
	for _, c := range s.stats {
		m.ok += c.ok.Load()
		m.fail += c.fail.Load()
	}
	return m, nil
}

func (s *soak) adminStats() (map[string]int64, error) {
	resp, err := http.Get("http://" + s.adminAddr + "/stats")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			out[name] = n
		}
	}
	return out, sc.Err()
}

// quiesce waits (bounded) for every downstream connection to close and the
// goroutines to settle, then samples.
func (s *soak) quiesce() (sample, error) {
	deadline := time.Now().Add(30 * time.Second)
	var m sample
	var err error
	for {
		if err := s.sleep(time.Second); err != nil {
			return m, err
		}
		prev := m
		if m, err = s.sample(time.Now()); err != nil {
			return m, err
		}
		if m.downstream == 0 && m.goroutines == prev.goroutines && m.fds == prev.fds {
			return m, nil
		}
		if time.Now().After(deadline) {
			return m, nil // the checks will say what did not settle
		}
	}
}

// slope is the least-squares slope of RSS over time, MiB per minute, over
// the samples after the first fifth (the heap's own warm-up).
func slope(samples []sample) float64 {
	samples = samples[len(samples)/5:]
	if len(samples) < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for _, m := range samples {
		x, y := m.at.Minutes(), mib(m.rss)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	n := float64(len(samples))
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

func (s *soak) report(base, end sample, samples []sample) error {
	var failures []string
	fmt.Printf("\n| t (s) | RSS MiB | fds | goroutines | conns | ok | errors |\n|---|---|---|---|---|---|---|\n")
	fmt.Printf("%s  (baseline)\n", base.row())
	for _, m := range samples {
		fmt.Println(m.row())
	}
	fmt.Printf("%s  (after the load, quiesced)\n\n", end.row())
	sl := slope(samples)
	maxRSS := int64(0)
	for _, m := range samples {
		maxRSS = max(maxRSS, m.rss)
	}
	fmt.Printf("RSS: baseline %.1f MiB, peak %.1f MiB, end %.1f MiB, slope %.2f MiB/min (bound %.1f)\n", mib(base.rss), mib(maxRSS), mib(end.rss), sl, *rssSlope)
	fmt.Printf("fds: baseline %d, end %d; goroutines: baseline %d, end %d (slack %d)\n", base.fds, end.fds, base.goroutines, end.goroutines, *slack)
	if sl > *rssSlope {
		failures = append(failures, fmt.Sprintf("RSS grows %.2f MiB/min", sl))
	}
	if end.fds > base.fds+int64(*slack) {
		failures = append(failures, fmt.Sprintf("fds %d after the load, baseline %d", end.fds, base.fds))
	}
	if end.goroutines > base.goroutines+int64(*slack) {
		failures = append(failures, fmt.Sprintf("goroutines %d after the load, baseline %d", end.goroutines, base.goroutines))
	}
	if end.downstream != 0 {
		failures = append(failures, fmt.Sprintf("%d downstream connections still open after the load", end.downstream))
	}
	fmt.Printf("\n| traffic | ok | errors | success | first error |\n|---|---|---|---|---|\n")
	names := append([]string(nil), kinds...)
	sort.Strings(names)
	for _, k := range names {
		c := s.stats[k]
		ok, fail := c.ok.Load(), c.fail.Load()
		share := 1.0
		if ok+fail > 0 {
			share = float64(ok) / float64(ok+fail)
		}
		first, _ := s.errSamples.Load(k)
		if first == nil {
			first = ""
		}
		fmt.Printf("| %s | %d | %d | %.2f %% | %s |\n", k, ok, fail, 100*share, first)
		if wellBehaved[k] && (ok == 0 || share < *minSuccess) {
			failures = append(failures, fmt.Sprintf("%s: %d ok, %d errors", k, ok, fail))
		}
	}
	st, err := s.adminStats()
	if err != nil {
		return err
	}
	fmt.Printf("\nsluice: requests %d (5xx %d), module filters created %d, scheduler commits %d, upstream connect failures %d, slowloris 408s %d\n",
		st["http.soak.downstream_rq_total"], st["http.soak.downstream_rq_5xx"], st["module.filters_created"],
		st["module.scheduler_commits"], st["cluster.web.upstream_cx_connect_fail"], st["http.soak.downstream_rq_timeout"])
	if *reloadEvery > 0 {
		ok, bad := st["config.reload_success"], st["config.reload_failure"]
		fmt.Printf("config reloads: %d succeeded, %d failed\n", ok, bad)
		if ok == 0 || bad > 0 {
			failures = append(failures, fmt.Sprintf("config reloads: %d succeeded, %d failed", ok, bad))
		}
	}
	if len(failures) > 0 {
		return errors.New(strings.Join(failures, "; "))
	}
	return nil
}
