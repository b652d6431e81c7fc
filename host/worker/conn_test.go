package worker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func dialTCP(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(waitLimit))
	return nc.(*net.TCPConn)
}

func TestPeerResetCallsOnCloseOnce(t *testing.T) {
	w := startWorker(t, Options{})
	closes := make(chan error, 4)
	gotData := make(chan struct{}, 1)
	addr := listen(t, w, func(c *Conn) {
		c.SetHandler(&funcHandler{
			data: func(c *Conn) {
				c.Consume(len(c.Input()))
				gotData <- struct{}{}
			},
			close: func(c *Conn, err error) {
				c.Write([]byte("ignored")) // Write inside OnClose: dropped, no panic
				c.Close()
				closes <- err
			},
		})
	})
	nc := dialTCP(t, addr.String())
	nc.Write([]byte("x"))
	recv(t, gotData, "data")
	nc.SetLinger(0) // close sends RST
	nc.Close()
	if err := recv(t, closes, "OnClose"); !errors.Is(err, unix.ECONNRESET) {
		t.Fatalf("OnClose err = %v, want ECONNRESET", err)
	}
	onLoop(t, w, func() {})
	if len(closes) != 0 {
		t.Fatalf("OnClose called again: %v", <-closes)
	}
	if s := w.Stats(); s.OpenConns != 0 || s.Closed != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestCloseInsideOnData(t *testing.T) {
	w := startWorker(t, Options{})
	var dataCalls, closeCalls atomic.Int64
	addr := listen(t, w, func(c *Conn) {
		c.SetHandler(&funcHandler{
			data: func(c *Conn) {
				dataCalls.Add(1)
				c.Write([]byte("discarded"))
				c.Close()
				c.Close() // idempotent
				c.Write([]byte("after close"))
				if !c.Closed() || c.Pending() != 0 || c.Input() != nil {
					t.Errorf("after Close: closed=%v pending=%d input=%d", c.Closed(), c.Pending(), len(c.Input()))
				}
			},
			close: func(*Conn, error) { closeCalls.Add(1) },
		})
	})
	nc := dialTCP(t, addr.String())
	nc.Write(bytes.Repeat([]byte("a"), 100))
	// The server closes without reading everything or writing: EOF or RST.
	n, err := nc.Read(make([]byte, 16))
	if n != 0 || err == nil {
		t.Fatalf("client read %d, %v after server Close", n, err)
	}
	onLoop(t, w, func() {})
	if dataCalls.Load() != 1 || closeCalls.Load() != 0 {
		t.Fatalf("OnData %d times, OnClose %d times", dataCalls.Load(), closeCalls.Load())
	}
	if s := w.Stats(); s.OpenConns != 0 {
		t.Fatalf("OpenConns = %d", s.OpenConns)
	}
}

// Two connections ready in the same epoll batch; the first callback closes
// the other one. Its already-collected event must be dropped, not delivered
// to a closed (or reused) connection.
func TestCloseOtherConnInSameBatch(t *testing.T) {
	w := startWorker(t, Options{})
	var conns []*Conn
	var dataCalls int
	accepted := make(chan struct{}, 2)
	h := &funcHandler{data: func(c *Conn) {
		dataCalls++
		for _, other := range conns {
			other.Close() // includes c itself
		}
	}}
	addr := listen(t, w, func(c *Conn) {
		conns = append(conns, c)
		c.SetHandler(h)
		accepted <- struct{}{}
	})
	a, b := dialTCP(t, addr.String()), dialTCP(t, addr.String())
	recv(t, accepted, "accept a")
	recv(t, accepted, "accept b")
	// Hold the loop so both sockets become readable before it polls again.
	release := make(chan struct{})
	held := make(chan struct{})
	w.Post(func() { close(held); <-release })
	recv(t, held, "loop held")
	a.Write([]byte("1"))
	b.Write([]byte("2"))
	// Both segments are in the server's receive queues once the peers'
	// writes returned on loopback; release the loop.
	close(release)
	for _, nc := range []*net.TCPConn{a, b} {
		if n, err := nc.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Fatalf("read after server close: %d %v", n, err)
		}
	}
	var calls int
	onLoop(t, w, func() { calls = dataCalls })
	if calls != 1 {
		t.Fatalf("OnData called %d times, want 1", calls)
	}
}

func TestHalfCloseBothWays(t *testing.T) {
	w := startWorker(t, Options{})
	sawEOF := make(chan string, 1)
	addr := listen(t, w, func(c *Conn) {
		c.SetHandler(&funcHandler{data: func(c *Conn) {
			if !c.ReadEOF() {
				return
			}
			// The peer is done sending; we may still answer at length.
			sawEOF <- string(c.Input())
			c.Consume(len(c.Input()))
			c.Write(bytes.Repeat([]byte("r"), 300<<10))
			c.CloseAfterFlush()
		}})
	})
	nc := dialTCP(t, addr.String())
	nc.Write([]byte("request"))
	nc.CloseWrite()
	if got := recv(t, sawEOF, "server EOF"); got != "request" {
		t.Fatalf("server saw %q", got)
	}
	body, err := io.ReadAll(nc)
	if err != nil || len(body) != 300<<10 {
		t.Fatalf("client read %d bytes, %v", len(body), err)
	}
}

// CloseAfterFlush while the peer is still sending: the response must arrive
// whole, followed by a clean EOF, not a RST that destroys it.
func TestCloseAfterFlushLingersUntilPeerFIN(t *testing.T) {
	w := startWorker(t, Options{})
	const respLen = 2 << 20
	addr := listen(t, w, func(c *Conn) {
		c.SetHandler(&funcHandler{data: func(c *Conn) {
			if len(c.Input()) == 0 {
				return
			}
			c.Write(bytes.Repeat([]byte("z"), respLen))
			c.CloseAfterFlush()
			if !c.Closed() {
				t.Error("Closed() false after CloseAfterFlush")
			}
			c.Write([]byte("dropped"))
		}})
	})
	nc := dialTCP(t, addr.String())
	// Keep sending while reading the response, as an uploading client would.
	stopSending := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		chunk := make([]byte, 8<<10)
		for {
			select {
			case <-stopSending:
				nc.CloseWrite()
				return
			default:
			}
			if _, err := nc.Write(chunk); err != nil {
				return
			}
		}
	}()
	got := 0
	buf := make([]byte, 64<<10)
	for got < respLen {
		n, err := nc.Read(buf)
		if err != nil {
			t.Fatalf("read after %d bytes: %v", got, err)
		}
		got += n
	}
	close(stopSending)
	recv(t, sent, "sender")
	if n, err := nc.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("after response: %d %v, want EOF", n, err)
	}
	// The server closes once it sees our FIN.
	waitNoConns(t, w)
}

// CloseAfterFlush with a response far larger than the socket buffers and a
// client that reads it slowly: the close timer is restarted by every bit of
// progress, so the response arrives whole however long it takes, followed
// by a clean EOF.
func TestCloseAfterFlushWaitsForASlowReader(t *testing.T) {
	old := lingerTimeout
	// Long enough that a reader starved by a loaded machine still makes
	// progress within it; the read below spans a few of these.
	lingerTimeout = 2 * time.Second
	t.Cleanup(func() { lingerTimeout = old })
	w := startWorker(t, Options{})
	const respLen = 24 << 20
	addr := listen(t, w, func(c *Conn) {
		c.SetHandler(&funcHandler{data: func(c *Conn) {
			if len(c.Input()) == 0 {
				return
			}
			c.Write(bytes.Repeat([]byte("s"), respLen))
			c.CloseAfterFlush()
		}})
	})
	nc := dialTCP(t, addr.String())
	if _, err := nc.Write([]byte("go")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got := 0
	buf := make([]byte, 64<<10)
	for got < respLen {
		// At most 6.4 MiB/s: the whole read takes a few close timeouts.
		time.Sleep(10 * time.Millisecond)
		n, err := nc.Read(buf)
		if err != nil {
			t.Fatalf("read after %d bytes in %v: %v", got, time.Since(start), err)
		}
		got += n
	}
	if n, err := nc.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("after the response: %d %v, want EOF", n, err)
	}
	if time.Since(start) < 2*lingerTimeout {
		t.Logf("the read took only %v; the close timer was not exercised", time.Since(start))
	}
}

func TestWatermarksAndOnWritable(t *testing.T) {
	w := startWorker(t, Options{})
	writable := make(chan int, 4)
	ready := make(chan *Conn, 1)
	addr := listen(t, w, func(c *Conn) {
		c.SetWatermarks(64<<10, 16<<10)
		c.SetHandler(&funcHandler{writable: func(c *Conn) { writable <- c.Pending() }})
		ready <- c
	})
	nc := dialTCP(t, addr.String())
	c := recv(t, ready, "accept")
	var above bool
	var pending int
	onLoop(t, w, func() {
		c.Write(make([]byte, 8<<20)) // far more than the socket buffers take
		above, pending = c.AboveHighWatermark(), c.Pending()
	})
	if !above || pending <= 64<<10 {
		t.Fatalf("after large write: above=%v pending=%d", above, pending)
	}
	if _, err := io.CopyN(io.Discard, nc, 8<<20); err != nil {
		t.Fatal(err)
	}
	if p := recv(t, writable, "OnWritable"); p > 16<<10 {
		t.Fatalf("OnWritable with %d pending, low watermark %d", p, 16<<10)
	}
	onLoop(t, w, func() { above = c.AboveHighWatermark() })
	if above || len(writable) != 0 {
		t.Fatalf("above=%v, extra OnWritable=%d", above, len(writable))
	}
}

func TestPauseResumeRedeliversBufferedInput(t *testing.T) {
	w := startWorker(t, Options{})
	var calls int
	var c *Conn
	got := make(chan string, 4)
	addr := listen(t, w, func(nc *Conn) {
		c = nc
		c.SetHandler(&funcHandler{data: func(c *Conn) {
			calls++
			if calls == 1 {
				c.PauseReading() // keep the input, deliver again on resume
				got <- "paused"
				return
			}
			got <- string(c.Input())
			c.Consume(len(c.Input()))
		}})
	})
	nc := dialTCP(t, addr.String())
	nc.Write([]byte("hello"))
	if s := recv(t, got, "first OnData"); s != "paused" {
		t.Fatal(s)
	}
	onLoop(t, w, func() {
		c.ResumeReading()
		if calls != 1 {
			t.Error("ResumeReading called OnData re-entrantly")
		}
	})
	if s := recv(t, got, "redelivery"); s != "hello" {
		t.Fatalf("redelivered %q", s)
	}
}

func TestConnAccessors(t *testing.T) {
	w := startWorker(t, Options{})
	type info struct {
		local, remote string
		id            uint64
		user          any
	}
	infos := make(chan info, 2)
	addr := listen(t, w, func(c *Conn) {
		c.SetUserData("u")
		infos <- info{c.LocalAddr().String(), c.RemoteAddr().String(), c.ID(), c.UserData()}
		c.SetHandler(closeOnEOF)
	})
	a := dialTCP(t, addr.String())
	ia := recv(t, infos, "accept a")
	b := dialTCP(t, addr.String())
	ib := recv(t, infos, "accept b")
	if ia.local != addr.String() || ia.remote != a.LocalAddr().String() || ia.user != "u" {
		t.Fatalf("conn a: %+v (listener %s, client %s)", ia, addr, a.LocalAddr())
	}
	if ib.id <= ia.id || ib.remote != b.LocalAddr().String() {
		t.Fatalf("ids %d then %d; b %+v", ia.id, ib.id, ib)
	}
}

func TestEchoCallbacksOnLoopThread(t *testing.T) {
	w := startWorker(t, Options{})
	var off atomic.Int64
	h := &echoHandler{tidErr: func(string) { off.Add(1) }, closed: make(chan error, 1)}
	addr := listen(t, w, func(c *Conn) {
		if unix.Gettid() != w.TID() {
			off.Add(1)
		}
		c.SetHandler(h)
	})
	nc := dialTCP(t, addr.String())
	nc.Write([]byte("ping"))
	if _, err := io.ReadFull(nc, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	nc.SetLinger(0)
	nc.Close()
	if err := recv(t, h.closed, "OnClose"); !errors.Is(err, unix.ECONNRESET) {
		t.Fatalf("OnClose: %v", err)
	}
	if off.Load() != 0 {
		t.Fatalf("%d callbacks off the loop thread", off.Load())
	}
}

// The server half-closes first and keeps reading what the client still sends.
func TestServerCloseWriteThenKeepsReading(t *testing.T) {
	w := startWorker(t, Options{})
	got := make(chan string, 1)
	addr := listen(t, w, func(c *Conn) {
		c.Write([]byte("bye"))
		c.CloseWrite()
		c.Write([]byte("dropped after CloseWrite"))
		c.SetHandler(&funcHandler{data: func(c *Conn) {
			if c.ReadEOF() {
				got <- string(c.Input())
				c.Close()
			}
		}})
	})
	nc := dialTCP(t, addr.String())
	b, err := io.ReadAll(nc) // ends at the server's FIN
	if err != nil || string(b) != "bye" {
		t.Fatalf("client read %q, %v", b, err)
	}
	nc.Write([]byte("late words"))
	nc.CloseWrite()
	if s := recv(t, got, "server input"); s != "late words" {
		t.Fatalf("server read %q", s)
	}
}

// Data and FIN arrive before the loop looks: one edge carries both. The
// short read of the data must not end reading, or the EOF is never seen
// (edge-triggered: no further edge comes).
func TestDataAndFINInOneEdge(t *testing.T) {
	w := startWorker(t, Options{})
	got := make(chan string, 1)
	accepted := make(chan struct{}, 1)
	addr := listen(t, w, func(c *Conn) {
		c.SetHandler(&funcHandler{data: func(c *Conn) {
			if c.ReadEOF() {
				got <- string(c.Input())
				c.Close()
			}
		}})
		accepted <- struct{}{}
	})
	nc := dialTCP(t, addr.String())
	recv(t, accepted, "accept")
	release, held := make(chan struct{}), make(chan struct{})
	w.Post(func() { close(held); <-release })
	recv(t, held, "loop held")
	nc.Write([]byte("abc"))
	nc.CloseWrite()
	close(release)
	if s := recv(t, got, "data+EOF"); s != "abc" {
		t.Fatalf("got %q", s)
	}
}

func TestAcceptWithoutHandlerCloses(t *testing.T) {
	w := startWorker(t, Options{})
	addr := listen(t, w, func(c *Conn) {}) // forgets SetHandler
	nc := dialTCP(t, addr.String())
	if n, err := nc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("read %d %v, want EOF", n, err)
	}
	waitNoConns(t, w)
}

func TestFlushWritesImmediately(t *testing.T) {
	w := startWorker(t, Options{})
	ready := make(chan *Conn, 1)
	addr := listen(t, w, func(c *Conn) { c.SetHandler(closeOnEOF); ready <- c })
	nc := dialTCP(t, addr.String())
	c := recv(t, ready, "accept")
	var before, after int
	onLoop(t, w, func() {
		c.Write([]byte("now"))
		before = c.Pending()
		c.Flush() // an empty socket buffer takes it all
		after = c.Pending()
	})
	if before != 3 || after != 0 {
		t.Fatalf("pending %d before Flush, %d after", before, after)
	}
	if _, err := io.ReadFull(nc, make([]byte, 3)); err != nil {
		t.Fatal(err)
	}
}

func TestNowIsCachedPerIteration(t *testing.T) {
	w := startWorker(t, Options{})
	var first, second, later time.Time
	onLoop(t, w, func() { first = w.Now(); time.Sleep(time.Millisecond); second = w.Now() })
	onLoop(t, w, func() { later = w.Now() })
	if first.IsZero() || !first.Equal(second) || !later.After(first) {
		t.Fatalf("Now: %v, %v (same iteration), %v (later)", first, second, later)
	}
}

// After InputDone, CloseAfterFlush closes as soon as the response is sent,
// without waiting for the peer's FIN: a client that keeps its end open
// reads the whole response, then EOF, and the connection is gone. Without
// it, the same close lingers until the client's FIN.
func TestInputDoneClosesWithoutLinger(t *testing.T) {
	for _, inputDone := range []bool{true, false} {
		t.Run(fmt.Sprintf("InputDone=%v", inputDone), func(t *testing.T) {
			w := startWorker(t, Options{})
			const respLen = 1 << 20
			addr := listen(t, w, func(c *Conn) {
				c.SetHandler(&funcHandler{data: func(c *Conn) {
					in := c.Input()
					if len(in) < 4 {
						return
					}
					c.Consume(len(in))
					c.Write(bytes.Repeat([]byte("z"), respLen))
					if inputDone {
						c.InputDone()
					}
					c.CloseAfterFlush()
				}})
			})
			nc := dialTCP(t, addr.String())
			if _, err := nc.Write([]byte("done")); err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(io.LimitReader(nc, respLen))
			if err != nil || len(body) != respLen {
				t.Fatalf("read %d bytes: %v", len(body), err)
			}
			nc.SetReadDeadline(time.Now().Add(waitLimit))
			if n, err := nc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Fatalf("after response: %d %v, want EOF", n, err)
			}
			if !inputDone {
				// Lingering: the server half-closed and waits for our FIN.
				if s := w.Stats(); s.ClosedWithoutLinger != 0 || s.OpenConns != 1 {
					t.Fatalf("without InputDone: closed without linger %d, open %d", s.ClosedWithoutLinger, s.OpenConns)
				}
				nc.CloseWrite()
				waitNoConns(t, w)
				return
			}
			// We never close our end, and the server is gone anyway.
			waitNoConns(t, w)
			if s := w.Stats(); s.ClosedWithoutLinger != 1 {
				t.Fatalf("ClosedWithoutLinger = %d, want 1", s.ClosedWithoutLinger)
			}
		})
	}
}
