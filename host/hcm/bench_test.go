package hcm_test

import (
	"bufio"
	"net"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/sluiceproxy/sluice/host/cluster"
	"github.com/sluiceproxy/sluice/host/config"
	"github.com/sluiceproxy/sluice/host/hcm"
	"github.com/sluiceproxy/sluice/host/http1"
	"github.com/sluiceproxy/sluice/host/module"
	"github.com/sluiceproxy/sluice/host/module/moduletest"
	"github.com/sluiceproxy/sluice/host/network"
	"github.com/sluiceproxy/sluice/host/router"
	"github.com/sluiceproxy/sluice/host/worker"
)

// fixedBackend answers every request on a keep-alive connection with the
// same small response, as fast as it can parse request heads.
func fixedBackend(b *testing.B) netip.AddrPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nhello, world\n")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					// Requests here have no body: a head ends at an empty line.
					for {
						line, err := r.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// BenchmarkProxiedRequest measures one keep-alive request through the whole
// in-process proxy (codec, connection manager, router, upstream pool) and a
// loopback backend. allocs/op counts the proxy's allocations too, since it
// runs in this process.
func BenchmarkProxiedRequest(b *testing.B) { benchProxied(b, nil) }

// BenchmarkProxiedRequestPassthroughModule is the same with the passthrough
// C module in the filter chain: the difference is the per-request cost of a
// module filter (filter new, two header hooks, destroy).
func BenchmarkProxiedRequestPassthroughModule(b *testing.B) {
	benchProxied(b, func(ws []*worker.Worker) []hcm.NamedFilter {
		h, err := module.NewHost(zap.NewNop(), ws)
		if err != nil {
			b.Fatal(err)
		}
		m, err := h.Load(moduletest.Build(b, "passthrough"), false)
		if err != nil {
			b.Fatal(err)
		}
		ff, err := m.NewFilterFactory("passthrough", []byte("{}"))
		if err != nil {
			b.Fatal(err)
		}
		return []hcm.NamedFilter{{Name: "pass", Factory: ff}}
	})
}

// BenchmarkProxiedConnection is one request per connection (Connection:
// close): accept, request, response, close, through the same in-process
// proxy. The client uses raw syscalls, so allocs/op is the proxy's own per
// connection (and the backend goroutine's, which stays on its keep-alive
// connection and allocates nothing per request).
func BenchmarkProxiedConnection(b *testing.B) {
	addr := startProxy(b, nil)
	sa := &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}
	req := []byte("GET /bench HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
	buf := make([]byte, 4096)
	once := func() {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer unix.Close(fd)
		if err := unix.Connect(fd, sa); err != nil {
			b.Fatal(err)
		}
		if _, err := unix.Write(fd, req); err != nil {
			b.Fatal(err)
		}
		got := 0
		for { // until the proxy closes
			n, err := unix.Read(fd, buf)
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				break
			}
			got += n
		}
		if got < 13 {
			b.Fatalf("response of %d bytes", got)
		}
	}
	for i := 0; i < 100; i++ {
		once()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		once()
	}
}

func benchProxied(b *testing.B, filters func([]*worker.Worker) []hcm.NamedFilter) {
	addr := startProxy(b, filters)
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /bench HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	r := bufio.NewReaderSize(c, 4096)
	roundTrip := func() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		// Read the response head, then the 13-byte body.
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if len(line) <= 2 {
				break
			}
		}
		if _, err := r.Discard(13); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 100; i++ {
		roundTrip() // warm pools and buffers
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		roundTrip()
	}
}

// startProxy runs one worker with an HTTP connection manager routing
// everything to fixedBackend, and returns its listening address.
func startProxy(b *testing.B, filters func([]*worker.Worker) []hcm.NamedFilter) netip.AddrPort {
	be := fixedBackend(b)
	w, err := worker.New(worker.Options{Index: 0})
	if err != nil {
		b.Fatal(err)
	}
	go w.Run()
	cm, err := cluster.NewManagerWithSettings([]cluster.Settings{{Name: "be", Endpoints: []netip.AddrPort{be}}}, []*worker.Worker{w}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	rc := &config.RouteConfiguration{VirtualHosts: []config.VirtualHost{{
		Name: "all", Domains: []string{"*"},
		Routes: []config.Route{{Match: config.RouteMatch{Prefix: "/", CaseSensitive: true}, Route: &config.RouteAction{Cluster: "be", Timeout: 15 * time.Second}}},
	}}}
	table, err := router.Compile(rc, nil)
	if err != nil {
		b.Fatal(err)
	}
	cfg := &hcm.Config{Limits: http1.DefaultLimits(), BufferLimit: 1 << 20, Routes: table, Clusters: cm,
		Log: zap.NewNop(), Stats: &hcm.Stats{}, IdleTimeout: time.Minute, StreamIdleTimeout: 5 * time.Minute}
	if filters != nil {
		cfg.Filters = filters([]*worker.Worker{w})
	}
	set := &network.Set{}
	addrc := make(chan netip.AddrPort, 1)
	w.Post(func() {
		l, err := w.Listen(netip.MustParseAddrPort("127.0.0.1:0"), func(c *worker.Conn) { cfg.Serve(c, set) })
		if err != nil {
			panic(err)
		}
		addrc <- l.Addr()
	})
	addr := <-addrc
	b.Cleanup(func() {
		cm.Close()
		w.Stop()
		<-w.Done()
	})
	return addr
}
