package worker

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Connections past a limit are closed right after accept and counted,
// the ones within it keep working, and a closed connection frees its slot.
// Two listeners (two workers) share a global limit, one of them also has
// its own.
func TestConnLimits(t *testing.T) {
	global := NewConnLimit(3)
	own := NewConnLimit(2)
	w1, w2 := startWorker(t, Options{}), startWorker(t, Options{})
	echo := func(c *Conn) { c.SetHandler(echoThenClose{}) }
	var a1, a2 string
	onLoop(t, w1, func() {
		l, err := w1.Listen(loopback, echo)
		if err != nil {
			t.Fatal(err)
		}
		l.SetLimits(own, global)
		a1 = l.Addr().String()
	})
	onLoop(t, w2, func() {
		l, err := w2.Listen(loopback, echo)
		if err != nil {
			t.Fatal(err)
		}
		l.SetLimits(global)
		a2 = l.Addr().String()
	})
	dial := func(addr string) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// works: the connection echoes; refused: the server closed it.
	works := func(c net.Conn) bool {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			return false
		}
		buf := make([]byte, 4)
		_, err := io.ReadFull(c, buf)
		return err == nil && string(buf) == "ping"
	}
	c1, c2 := dial(a1), dial(a1)
	if !works(c1) || !works(c2) {
		t.Fatal("connections within the listener's limit do not work")
	}
	if c3 := dial(a1); works(c3) {
		t.Fatal("a third connection past the listener's limit of 2 works")
	}
	if own.Overflow() != 1 || global.Overflow() != 0 {
		t.Fatalf("overflow: listener %d, global %d; want 1, 0", own.Overflow(), global.Overflow())
	}
	c4 := dial(a2)
	if !works(c4) {
		t.Fatal("the third connection overall does not work")
	}
	if c5 := dial(a2); works(c5) {
		t.Fatal("a fourth connection past the global limit of 3 works")
	}
	if global.Overflow() != 1 || global.Active() != 3 || own.Active() != 2 {
		t.Fatalf("global overflow %d active %d, listener active %d", global.Overflow(), global.Active(), own.Active())
	}
	// Those within the limit still work; closing one frees its slot.
	if !works(c1) || !works(c4) {
		t.Fatal("existing connections stopped working")
	}
	c1.Close()
	waitUntil(t, w1, "the closed connection's slot back", func() bool { return global.Active() == 2 && own.Active() == 1 })
	if c6 := dial(a1); !works(c6) {
		t.Fatal("no connection after a slot was freed")
	}
}

// Many clients at once never push the count over the bound.
func TestConnLimitNeverExceeded(t *testing.T) {
	lim := NewConnLimit(5)
	w := startWorker(t, Options{})
	var mu sync.Mutex
	peak := int64(0)
	var addr string
	onLoop(t, w, func() {
		l, err := w.Listen(loopback, func(c *Conn) {
			mu.Lock()
			peak = max(peak, lim.Active())
			mu.Unlock()
			c.SetHandler(echoThenClose{})
		})
		if err != nil {
			t.Fatal(err)
		}
		l.SetLimits(lim)
		addr = l.Addr().String()
	})
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.SetDeadline(time.Now().Add(10 * time.Second))
				c.Write([]byte("x"))
				c.Read(make([]byte, 1))
				c.Close()
			}
		}()
	}
	wg.Wait()
	waitUntil(t, w, "every slot back", func() bool { return lim.Active() == 0 })
	mu.Lock()
	defer mu.Unlock()
	if peak > 5 {
		t.Fatalf("%d connections at once, limit 5", peak)
	}
	if lim.Overflow() == 0 && peak < 5 {
		t.Fatalf("neither the bound reached nor an overflow: the test proved nothing (peak %d)", peak)
	}
}

// While the worker's accepting is paused its listeners accept nothing
// (connections wait in the backlog), a listener opened meanwhile starts
// paused too (a reload during overload), and both take their connections
// once accepting resumes.
func TestListenerPause(t *testing.T) {
	w := startWorker(t, Options{})
	accepted := make(chan struct{}, 4)
	onAccept := func(c *Conn) { c.SetHandler(echoThenClose{}); accepted <- struct{}{} }
	listen := func() *Listener {
		var l *Listener
		onLoop(t, w, func() {
			var err error
			if l, err = w.Listen(loopback, onAccept); err != nil {
				t.Fatal(err)
			}
		})
		return l
	}
	first := listen()
	onLoop(t, w, func() { w.PauseAccepting(true) })
	second := listen()
	for _, l := range []*Listener{first, second} {
		c, err := net.Dial("tcp", l.Addr().String()) // the kernel completes the handshake
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	// The loop runs full iterations; the pending connections stay there.
	onLoop(t, w, func() {})
	onLoop(t, w, func() {})
	select {
	case <-accepted:
		t.Fatal("accepted while paused")
	default:
	}
	onLoop(t, w, func() { w.PauseAccepting(false) })
	recv(t, accepted, "first accept after resuming")
	recv(t, accepted, "second accept after resuming")
}

// echoThenClose writes input back and closes once the peer has.
type echoThenClose struct{}

func (echoThenClose) OnConnect(*Conn, error) {}
func (echoThenClose) OnWritable(*Conn)       {}
func (echoThenClose) OnClose(*Conn, error)   {}
func (echoThenClose) OnData(c *Conn) {
	if in := c.Input(); len(in) > 0 {
		c.Write(in)
		c.Consume(len(in))
	}
	if c.ReadEOF() {
		c.CloseAfterFlush()
	}
}
