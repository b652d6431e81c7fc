package worker

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// closeOnEOF closes accepted conns when the peer finishes.
var closeOnEOF = &funcHandler{data: func(c *Conn) {
	c.Consume(len(c.Input()))
	if c.ReadEOF() {
		c.Close()
	}
}}

func TestReusePortSpreadsAcrossWorkers(t *testing.T) {
	w0 := startWorker(t, Options{Index: 0})
	w1 := startWorker(t, Options{Index: 1})
	var counts [2]atomic.Int64
	var offThread atomic.Int64
	accepted := make(chan struct{}, 1)
	onAccept := func(w *Worker) func(*Conn) {
		return func(c *Conn) {
			if unix.Gettid() != w.TID() || c.Worker() != w {
				offThread.Add(1)
			}
			counts[w.Index()].Add(1)
			c.SetHandler(closeOnEOF)
			accepted <- struct{}{}
		}
	}
	addr := listen(t, w0, onAccept(w0))
	var err error
	onLoop(t, w1, func() { _, err = w1.Listen(addr, onAccept(w1)) })
	if err != nil {
		t.Fatalf("second Listen on %s: %v", addr, err)
	}
	// The kernel hashes each 4-tuple to one socket; with distinct source
	// ports both workers get some (all 1000 on one: probability 2^-999).
	for i := 0; i < 1000 && (counts[0].Load() == 0 || counts[1].Load() == 0); i++ {
		nc, err := net.DialTimeout("tcp", addr.String(), waitLimit)
		if err != nil {
			t.Fatal(err)
		}
		recv(t, accepted, "accept")
		nc.Close()
	}
	if counts[0].Load() == 0 || counts[1].Load() == 0 || offThread.Load() != 0 {
		t.Fatalf("accepts per worker %d/%d, off-thread %d", counts[0].Load(), counts[1].Load(), offThread.Load())
	}
	if s0, s1 := w0.Stats(), w1.Stats(); s0.Accepted+s1.Accepted != uint64(counts[0].Load()+counts[1].Load()) {
		t.Fatalf("stats accepted %d+%d", s0.Accepted, s1.Accepted)
	}
}

func TestListenBadInput(t *testing.T) {
	w := startWorker(t, Options{})
	// A plain socket (no SO_REUSEPORT) holds the port.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := netip.MustParseAddrPort(taken.Addr().String())
	onLoop(t, w, func() {
		_, err := w.Listen(addr, func(*Conn) {})
		want := "listen " + addr.String() + ": bind: address already in use"
		if !errors.Is(err, unix.EADDRINUSE) || err.Error() != want {
			t.Errorf("Listen on taken port: %v, want %q", err, want)
		}
		if _, err := w.Listen(netip.AddrPort{}, func(*Conn) {}); err != ErrInvalidAddr {
			t.Errorf("zero addr: %v", err)
		}
		if _, err := w.Listen(loopback, nil); err != ErrNilHandler {
			t.Errorf("nil onAccept: %v", err)
		}
	})
	if s := w.Stats(); s.Listeners != 0 {
		t.Fatalf("failed Listen left %d listeners", s.Listeners)
	}
}

func TestListenerCloseKeepsConnections(t *testing.T) {
	w := startWorker(t, Options{})
	var l *Listener
	accepted := make(chan struct{}, 1)
	onLoop(t, w, func() {
		var err error
		l, err = w.Listen(loopback, func(c *Conn) {
			c.SetHandler(&echoHandler{})
			accepted <- struct{}{}
		})
		if err != nil {
			t.Error(err)
		}
	})
	if l == nil {
		t.FailNow()
	}
	addr := l.Addr()
	nc, err := net.DialTimeout("tcp", addr.String(), waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	recv(t, accepted, "accept")
	onLoop(t, w, func() { l.Close(); l.Close() })
	// Idempotent Close counted once; the listener fd is gone after the loop
	// iteration that closed it, so new connects are refused.
	if s := w.Stats(); s.Listeners != 0 {
		t.Fatalf("Listeners = %d", s.Listeners)
	}
	onLoop(t, w, func() {})
	if c2, err := net.DialTimeout("tcp", addr.String(), waitLimit); !errors.Is(err, unix.ECONNREFUSED) {
		if c2 != nil {
			c2.Close()
		}
		t.Fatalf("dial after listener close: %v, want ECONNREFUSED", err)
	}
	nc.SetDeadline(time.Now().Add(waitLimit))
	nc.Write([]byte("still here"))
	got := make([]byte, 10)
	if _, err := io.ReadFull(nc, got); err != nil || string(got) != "still here" {
		t.Fatalf("existing conn after listener close: %q %v", got, err)
	}
}

// An accepted connection reports the right addresses whether the listener
// is bound to one address (its own address, no getsockname) or to the
// wildcard (looked up), over IPv4 and IPv6, and has TCP_NODELAY set (the
// listening socket's, inherited).
func TestAcceptedConnAddressesAndNoDelay(t *testing.T) {
	for _, tc := range []struct{ listen, dial string }{
		{"127.0.0.1:0", "127.0.0.1"},
		{"0.0.0.0:0", "127.0.0.1"},
		{"[::1]:0", "::1"},
		{"[::]:0", "::1"},
		{"[::]:0", "127.0.0.1"}, // IPv4 on a dual-stack socket: unmapped
	} {
		t.Run(tc.listen+"<-"+tc.dial, func(t *testing.T) {
			w := startWorker(t, Options{})
			type seen struct {
				local, remote netip.AddrPort
				nodelay       int
			}
			got := make(chan seen, 1)
			var l *Listener
			onLoop(t, w, func() {
				var err error
				l, err = w.Listen(netip.MustParseAddrPort(tc.listen), func(c *Conn) {
					nd, _ := unix.GetsockoptInt(c.fd, unix.IPPROTO_TCP, unix.TCP_NODELAY)
					got <- seen{c.LocalAddr(), c.RemoteAddr(), nd}
					c.SetHandler(closeOnEOF)
				})
				if err != nil {
					t.Skipf("listen %s: %v", tc.listen, err) // no IPv6 here
				}
			})
			if l == nil {
				return
			}
			target := netip.AddrPortFrom(netip.MustParseAddr(tc.dial), l.Addr().Port())
			nc, err := net.DialTimeout("tcp", target.String(), waitLimit)
			if err != nil {
				t.Skipf("dial %s: %v", target, err)
			}
			defer nc.Close()
			s := recv(t, got, "accept")
			client := netip.MustParseAddrPort(nc.LocalAddr().String())
			if s.local != target || s.remote != netip.AddrPortFrom(client.Addr().Unmap(), client.Port()) || s.nodelay != 1 {
				t.Fatalf("local %s (want %s), remote %s (client %s), TCP_NODELAY %d", s.local, target, s.remote, client, s.nodelay)
			}
		})
	}
}
