package worker

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// newTestRing is a send ring, or a skip where the kernel refuses io_uring
// (the sendmsg path is what runs there, and the first pass of the suite
// tests it).
func newTestRing(t *testing.T) *ioRing {
	t.Helper()
	r, err := newIORing()
	if err != nil {
		t.Skipf("io_uring unavailable: %v", err)
	}
	t.Cleanup(r.close)
	return r
}

// socketPair is a connected non-blocking loopback TCP pair.
func socketPair(t testing.TB) (client, server int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := unix.Connect(c, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil && err != unix.EINPROGRESS {
		t.Fatal(err)
	}
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	f, err := sc.(*net.TCPConn).File()
	sc.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := unix.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	unix.SetNonblock(s, true)
	t.Cleanup(func() { unix.Close(c); unix.Close(s) })
	return c, s
}

// onHeap is n zero Ts in heap memory: what a ring request names must not
// be on a goroutine stack (prepSendmsg).
//
//go:noinline
func onHeap[T any](n int) []T { return make([]T, n) }

// msgFor is a msghdr for p; the iovec it points to is heap memory.
func msgFor(p []byte) unix.Msghdr {
	iov := &unix.Iovec{Base: &p[0]}
	iov.SetLen(len(p))
	m := unix.Msghdr{Iov: iov}
	m.SetIovlen(1)
	return m
}

// Every request of a batch gets sendmsg's own result, at its index: bytes
// sent, EAGAIN from a full socket, EPIPE or ECONNRESET from a reset peer,
// EBADF from a closed descriptor.
func TestSendRingResultsAreSendmsgs(t *testing.T) {
	r := newTestRing(t)
	ok, okPeer := socketPair(t)
	full, _ := socketPair(t)
	reset, resetPeer := socketPair(t)
	closed, _ := socketPair(t)

	payload := bytes.Repeat([]byte("x"), 100)
	chunk := make([]byte, 64<<10)
	for {
		m := msgFor(chunk)
		if _, errno := sendmsg(full, &m); errno == unix.EAGAIN {
			break
		} else if errno != 0 {
			t.Fatal(errno)
		}
	}
	unix.SetsockoptLinger(resetPeer, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	unix.Close(resetPeer) // the peer answers with RST
	dead, err := unix.Dup(closed)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(dead)

	fds := []int{ok, full, reset, dead}
	msgs := onHeap[unix.Msghdr](len(fds))
	for i := range msgs {
		msgs[i] = msgFor(payload)
	}
	res := make([]int32, len(fds))
	r.sendmsgs(fds, msgs, res)
	if res[0] != 100 {
		t.Errorf("healthy socket: %d, want 100", res[0])
	}
	if res[1] != -int32(unix.EAGAIN) {
		t.Errorf("full socket: %d, want -EAGAIN", res[1])
	}
	if res[2] != -int32(unix.EPIPE) && res[2] != -int32(unix.ECONNRESET) {
		t.Errorf("reset socket: %d, want -EPIPE or -ECONNRESET", res[2])
	}
	if res[3] != -int32(unix.EBADF) {
		t.Errorf("closed descriptor: %d, want -EBADF", res[3])
	}
	buf := make([]byte, 200)
	if n, err := unix.Read(okPeer, buf); n != 100 || err != nil {
		t.Fatalf("peer read %d, %v", n, err)
	}
}

// Thousands of batches of different sizes go round the 64-entry rings
// many times; every byte arrives, in order.
func TestSendRingWrapsAround(t *testing.T) {
	r := newTestRing(t)
	const pairs = 7
	var fds, peers [pairs]int
	for i := range fds {
		fds[i], peers[i] = socketPair(t)
	}
	msgs := onHeap[unix.Msghdr](pairs)
	res := make([]int32, pairs)
	buf := make([]byte, 64)
	for round := 0; round < 3000; round++ {
		n := 1 + round%pairs
		payload := []byte{byte(round), byte(round >> 8), 'x'}
		for i := 0; i < n; i++ {
			msgs[i] = msgFor(payload)
		}
		r.sendmsgs(fds[:n], msgs[:n], res[:n])
		for i := 0; i < n; i++ {
			if res[i] != 3 {
				t.Fatalf("round %d, send %d: %d", round, i, res[i])
			}
			if got, err := readFull(peers[i], buf[:3]); err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("round %d, peer %d: %q, %v", round, i, got, err)
			}
		}
	}
}

// A kernel that takes none of the requests (as while short of memory):
// after three tries they are withdrawn and marked not run, which is what
// makes the flush send them with sendmsg; the ring stays usable.
func TestSendRingWithdrawsWhatTheKernelRefuses(t *testing.T) {
	r := newTestRing(t)
	fd, peer := socketPair(t)
	payload := []byte("abc")
	msgs := onHeap[unix.Msghdr](2)
	msgs[0], msgs[1] = msgFor(payload), msgFor(payload)
	fds := []int{fd, fd}
	res := make([]int32, 2)

	real := ringEnter
	calls := 0
	ringEnter = func(int, uint32, uint32) { calls++ }
	r.sendmsgs(fds, msgs, res)
	ringEnter = real
	if calls != 3 || res[0] != resNotRun || res[1] != resNotRun {
		t.Fatalf("%d enters, results %v: want 3 and both not run", calls, res)
	}
	r.sendmsgs(fds, msgs, res)
	if res[0] != 3 || res[1] != 3 {
		t.Fatalf("after the refusal: %v", res)
	}
	buf := make([]byte, 6)
	if got, err := readFull(peer, buf); err != nil || string(got) != "abcabc" {
		t.Fatalf("peer got %q, %v (the refused requests must not have run)", got, err)
	}
	if n, err := unix.Read(peer, buf); err != unix.EAGAIN {
		t.Fatalf("peer has more: %d bytes, %v", n, err)
	}
}

// readFull reads exactly len(p) bytes from a non-blocking socket.
func readFull(fd int, p []byte) ([]byte, error) {
	deadline := time.Now().Add(waitLimit)
	got := 0
	for got < len(p) {
		n, err := unix.Read(fd, p[got:])
		switch {
		case err == unix.EAGAIN:
			if time.Now().After(deadline) {
				return p[:got], err
			}
			unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 100)
		case err != nil:
			return p[:got], err
		case n == 0:
			return p[:got], io.ErrUnexpectedEOF
		default:
			got += n
		}
	}
	return p, nil
}

// A worker with IOUring sends what one iteration wrote to many
// connections in one batch (counted), and every connection gets exactly
// its own bytes; with TLS, its own records.
func TestWorkerBatchesSendsOfManyConnections(t *testing.T) {
	t.Run("plain", func(t *testing.T) { testBatchedSends(t, false) })
	t.Run("TLS", func(t *testing.T) { testBatchedSends(t, true) })
}

func testBatchedSends(t *testing.T, withTLS bool) {
	newTestRing(t)
	w := startWorker(t, Options{IOUring: true})
	const conns = 16
	ready := make(chan *Conn, conns)
	pki := newTestPKI()
	addr := listen(t, w, func(c *Conn) {
		if !withTLS {
			c.SetHandler(&funcHandler{})
			ready <- c
			return
		}
		c.SetHandler(&funcHandler{connect: func(c *Conn, err error) {
			if err == nil {
				ready <- c
			}
		}})
		c.StartTLS(pki.serverConfig(), waitLimit)
	})
	byAddr := make(map[netip.AddrPort]net.Conn)
	for range conns {
		var c net.Conn
		if withTLS {
			c = dialTLSClient(t, addr, pki.clientConfig())
		} else {
			nc, err := net.DialTimeout("tcp", addr.String(), waitLimit)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { nc.Close() })
			nc.SetDeadline(time.Now().Add(waitLimit))
			c = nc
		}
		byAddr[c.LocalAddr().(*net.TCPAddr).AddrPort()] = c
	}
	server := make([]*Conn, conns)
	for i := range server {
		server[i] = recv(t, ready, "connection ready")
	}
	before := w.Stats()
	// One posted function is one iteration: its writes are flushed together.
	msg := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, 1000+i) }
	onLoop(t, w, func() {
		for i, c := range server {
			c.Write(msg(i))
		}
	})
	// The batch goes out when fn has returned, at the end of its iteration:
	// a second posted function runs after it.
	var after Stats
	onLoop(t, w, func() { after = w.Stats() })
	for i, c := range server {
		got := make([]byte, len(msg(i)))
		if _, err := io.ReadFull(byAddr[c.RemoteAddr()], got); err != nil || !bytes.Equal(got, msg(i)) {
			t.Fatalf("connection %d: %q, %v", i, got, err)
		}
	}
	if batches, sends := after.RingBatches-before.RingBatches, after.RingSends-before.RingSends; batches != 1 || sends != conns {
		t.Fatalf("%d batches carrying %d sends, want 1 carrying %d", batches, sends, conns)
	}
}

// Connections that became readable together are read in one batch: the
// loop is held while every client writes, so its next epoll_wait reports
// them all; each read is counted, and each connection gets its own bytes
// back (echoed).
func TestWorkerBatchesReadsOfManyConnections(t *testing.T) {
	newTestRing(t)
	w := startWorker(t, Options{IOUring: true})
	const conns = 12
	ready := make(chan *Conn, conns)
	addr := listen(t, w, func(c *Conn) {
		c.SetHandler(&echoHandler{})
		ready <- c
	})
	clients, server := make([]net.Conn, conns), make([]*Conn, conns)
	for i := range clients {
		c, err := net.DialTimeout("tcp", addr.String(), waitLimit)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(waitLimit))
		clients[i] = c
		server[i] = recv(t, ready, "accepted connection")
	}
	msg := func(i int) []byte { return bytes.Repeat([]byte{byte('A' + i)}, 500+i) }
	before := w.Stats()
	hold, held := make(chan struct{}), make(chan struct{})
	w.Post(func() { close(held); <-hold })
	recv(t, held, "loop held")
	for i, c := range clients {
		if _, err := c.Write(msg(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Release the loop once every server socket holds its bytes: its next
	// epoll_wait then reports them all.
	for i, c := range server {
		deadline := time.Now().Add(waitLimit)
		for {
			n, err := unix.IoctlGetInt(c.fd, unix.SIOCINQ)
			if err != nil {
				t.Fatal(err)
			}
			if n == len(msg(i)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("server socket %d holds %d bytes", i, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	close(hold)
	for i, c := range clients {
		got := make([]byte, len(msg(i)))
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg(i)) {
			t.Fatalf("client %d: %q, %v", i, got, err)
		}
	}
	after := w.Stats()
	if reads := after.RingReads - before.RingReads; reads != conns {
		t.Fatalf("%d reads through the ring, want %d (one batch)", reads, conns)
	}
}
