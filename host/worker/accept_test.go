package worker

import (
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// Out of fds at accept time: the listener rests (no spin on a
// level-triggered socket it cannot drain), counts the error, and accepts
// the pending connection once fds are free again.
func TestAcceptEMFILEBacksOffAndRecovers(t *testing.T) {
	w := startWorker(t, Options{})
	accepted := make(chan struct{}, 1)
	addr := listen(t, w, func(c *Conn) { c.SetHandler(closeOnEOF); accepted <- struct{}{} })

	client, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(client)
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_NOFILE, &lim) })
	low := lim
	low.Cur = uint64(openFDs(t) + 16)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Skipf("cannot lower RLIMIT_NOFILE: %v", err)
	}
	var fillers []int
	defer func() {
		for _, fd := range fillers {
			unix.Close(fd)
		}
	}()
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.EMFILE {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		fillers = append(fillers, fd)
	}
	// The handshake completes in the kernel; only accept4 needs an fd.
	if err := unix.Connect(client, &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, w, "an accept error", func() bool { return w.Stats().AcceptErrors > 0 })
	select {
	case <-accepted:
		t.Fatal("accepted with no fd free")
	default:
	}
	for _, fd := range fillers {
		unix.Close(fd)
	}
	fillers = nil
	unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	recv(t, accepted, "accept after fds were freed")
	if n := w.Stats().AcceptErrors; n < 1 {
		t.Fatalf("AcceptErrors = %d", n)
	}
}

func TestIPv6ListenAndDial(t *testing.T) {
	probe, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	probe.Close()
	w := startWorker(t, Options{})
	var addr netip.AddrPort
	remote := make(chan netip.AddrPort, 1)
	onLoop(t, w, func() {
		l, err := w.Listen(netip.MustParseAddrPort("[::1]:0"), func(c *Conn) {
			remote <- c.RemoteAddr()
			c.SetHandler(closeOnEOF)
		})
		if err != nil {
			t.Error(err)
			return
		}
		addr = l.Addr()
	})
	if !addr.Addr().Is6() || addr.Port() == 0 {
		t.Fatalf("listener addr %v", addr)
	}
	res := dialOnLoop(t, w, addr, waitLimit, &funcHandler{})
	if r := recv(t, res, "OnConnect"); r.err != nil {
		t.Fatal(r.err)
	}
	if ra := recv(t, remote, "accept"); ra.Addr() != netip.IPv6Loopback() {
		t.Fatalf("remote %v", ra)
	}
}

func TestConsumeOutOfRangePanics(t *testing.T) {
	w := startWorker(t, Options{})
	var got any
	onLoop(t, w, func() {
		c := &Conn{w: w}
		defer func() { got = recover() }()
		c.Consume(1)
	})
	if got != "worker: Consume out of range" {
		t.Fatalf("recovered %v", got)
	}
}
