package network

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluiceproxy/sluice/host/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitLimit bounds every wait; reaching it is a hang, not a timing result.
const waitLimit = 20 * time.Second

// events is a log shared by a test's filters (they run on the worker, the
// test reads from its own goroutine).
type events struct {
	mu  sync.Mutex
	log []string
	ch  chan string
}

func newEvents() *events { return &events{ch: make(chan string, 1024)} }

func (e *events) add(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	e.mu.Lock()
	e.log = append(e.log, s)
	e.mu.Unlock()
	e.ch <- s
}

func (e *events) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.log, " ")
}

// waitFor reads events until want shows up (bounded).
func (e *events) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case got := <-e.ch:
			if got == want {
				return
			}
		case <-deadline:
			t.Fatalf("no event %q; log: %s", want, e)
		}
	}
}

// serve listens on a worker and runs every accepted connection through the
// chain the test's factories build.
func serve(t *testing.T, opts *Options, chain ...NamedFilterFactory) (addr string, w *worker.Worker, conns chan *Connection) {
	t.Helper()
	w, err := worker.New(worker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	go w.Run()
	t.Cleanup(func() {
		w.Stop()
		<-w.Done()
	})
	conns = make(chan *Connection, 16)
	ready := make(chan error, 1)
	w.Post(func() {
		l, err := w.Listen(netip.MustParseAddrPort("127.0.0.1:0"), func(c *worker.Conn) {
			conns <- New(c, chain, opts, Attributes{}, nil)
		})
		if err == nil {
			addr = l.Addr().String()
		}
		ready <- err
	})
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	return addr, w, conns
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(waitLimit))
	t.Cleanup(func() { c.Close() })
	return c
}

// onLoop runs fn on w and waits for it.
func onLoop(t *testing.T, w *worker.Worker, fn func()) {
	t.Helper()
	done := make(chan struct{})
	w.Post(func() { fn(); close(done) })
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("posted function did not run")
	}
}

// recorder is a configurable filter that logs every hook.
type recorder struct {
	name  string
	ev    *events
	cb    *Callbacks
	onNew func(r *recorder) FilterStatus
	onDat func(r *recorder, b *Buffer, end bool) FilterStatus
	onWr  func(r *recorder, b *Buffer, end bool) FilterStatus
}

func (r *recorder) OnNewConnection() FilterStatus {
	r.ev.add("%s.new", r.name)
	if r.onNew != nil {
		return r.onNew(r)
	}
	return Continue
}

func (r *recorder) OnData(b *Buffer, end bool) FilterStatus {
	r.ev.add("%s.data(%q,%v)", r.name, b.Bytes(), end)
	if r.onDat != nil {
		return r.onDat(r, b, end)
	}
	return Continue
}

func (r *recorder) OnWrite(b *Buffer, end bool) FilterStatus {
	r.ev.add("%s.write(%q,%v)", r.name, b.Bytes(), end)
	if r.onWr != nil {
		return r.onWr(r, b, end)
	}
	return Continue
}

func (r *recorder) OnEvent(e ConnectionEvent) { r.ev.add("%s.event(%s)", r.name, e) }
func (r *recorder) OnDestroy()                { r.ev.add("%s.destroy", r.name) }

func factory(name string, ev *events, setup func(r *recorder)) NamedFilterFactory {
	return NamedFilterFactory{Name: name, Factory: FilterFactoryFunc(func(cb *Callbacks) Filter {
		r := &recorder{name: name, ev: ev, cb: cb}
		if setup != nil {
			setup(r)
		}
		return r
	})}
}

// echo is a terminal filter: it writes back what it reads, drains it, and
// ends its direction after the peer's FIN.
func echo(r *recorder) {
	r.onDat = func(r *recorder, b *Buffer, end bool) FilterStatus {
		r.cb.Connection().Write(b.Bytes(), end)
		b.Drain(b.Len())
		return StopIteration
	}
}

func TestReadPathSeesTheWholeBufferAndDrainsAtTheTerminal(t *testing.T) {
	ev := newEvents()
	addr, _, _ := serve(t, &Options{},
		factory("sniff", ev, nil),
		factory("term", ev, func(r *recorder) {
			r.onNew = func(r *recorder) FilterStatus { r.cb.Connection().EnableHalfClose(true); return Continue }
			echo(r)
		}))
	c := dial(t, addr)
	io.WriteString(c, "ping")
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q %v", buf, err)
	}
	c.(*net.TCPConn).CloseWrite()
	if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
		t.Fatalf("after FIN: %q %v", rest, err)
	}
	ev.waitFor(t, "term.destroy")
	// Every recorder is also a write filter: the echo goes back through
	// them, terminal first.
	want := `sniff.new term.new sniff.event(Connected) term.event(Connected) ` +
		`sniff.data("ping",false) term.data("ping",false) term.write("ping",false) sniff.write("ping",false) ` +
		`sniff.data("",true) term.data("",true) term.write("",true) sniff.write("",true) ` +
		`sniff.event(LocalClose) term.event(LocalClose) sniff.destroy term.destroy`
	if got := ev.String(); got != want {
		t.Fatalf("events:\n got %s\nwant %s", got, want)
	}
}

// TestGatekeeperHoldsTheChainUntilItContinues is seed 002's stalemate: a
// filter stops in OnNewConnection to ask something slow; data that arrives
// meanwhile waits in the read buffer (the filter sees it, the terminal does
// not); when the filter continues — from outside any hook, as a scheduler
// would — the terminal gets OnNewConnection and then the buffered data,
// without needing another byte.
func TestGatekeeperHoldsTheChainUntilItContinues(t *testing.T) {
	ev := newEvents()
	var gate *recorder
	addr, w, _ := serve(t, &Options{},
		factory("gate", ev, func(r *recorder) {
			gate = r
			r.onNew = func(*recorder) FilterStatus { return StopIteration }
			r.onDat = func(*recorder, *Buffer, bool) FilterStatus { return StopIteration }
		}),
		factory("term", ev, echo))
	c := dial(t, addr)
	io.WriteString(c, "early")
	ev.waitFor(t, `gate.data("early",false)`)
	if strings.Contains(ev.String(), "term.new") {
		t.Fatalf("terminal started before the gatekeeper allowed it: %s", ev)
	}
	onLoop(t, w, func() { gate.cb.ContinueReading() })
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "early" {
		t.Fatalf("after continue: %q %v", buf, err)
	}
	if got := ev.String(); !strings.Contains(got, `term.new term.data("early",false)`) {
		t.Fatalf("events: %s", got)
	}
}

// TestContinueFromInsideTheHook: ContinueReading called inside the
// filter's own hook counts as returning Continue, once.
func TestContinueFromInsideTheHook(t *testing.T) {
	ev := newEvents()
	addr, _, _ := serve(t, &Options{},
		factory("a", ev, func(r *recorder) {
			r.onDat = func(r *recorder, b *Buffer, end bool) FilterStatus {
				r.cb.ContinueReading()
				return StopIteration
			}
		}),
		factory("term", ev, echo))
	c := dial(t, addr)
	io.WriteString(c, "x")
	buf := make([]byte, 1)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(ev.String(), `term.data("x",false)`); n != 1 {
		t.Fatalf("terminal saw the byte %d times: %s", n, ev)
	}
}

// TestWritePathRunsFromTheTerminalTowardTheSocket: write filters run last
// to first; a filter may change the chunk; StopIteration keeps it from the
// socket; InjectWriteData sends it on later from that filter's place.
func TestWritePathRunsFromTheTerminalTowardTheSocket(t *testing.T) {
	ev := newEvents()
	var held *recorder
	var kept []byte
	addr, w, _ := serve(t, &Options{},
		factory("outer", ev, func(r *recorder) {
			r.onWr = func(r *recorder, b *Buffer, end bool) FilterStatus {
				b.Prepend([]byte("<"))
				b.Append([]byte(">"))
				return Continue
			}
		}),
		factory("hold", ev, func(r *recorder) {
			held = r
			r.onWr = func(r *recorder, b *Buffer, end bool) FilterStatus {
				if bytes.HasPrefix(b.Bytes(), []byte("later")) {
					kept = append(kept[:0], b.Bytes()...)
					return StopIteration
				}
				return Continue
			}
		}),
		factory("term", ev, echo))
	c := dial(t, addr)
	io.WriteString(c, "now")
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "<now>" {
		t.Fatalf("first: %q %v", buf, err)
	}
	io.WriteString(c, "later")
	ev.waitFor(t, `hold.write("later",false)`)
	onLoop(t, w, func() { held.cb.InjectWriteData(kept, false) })
	buf = make([]byte, 7)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "<later>" {
		t.Fatalf("injected: %q %v", buf, err)
	}
	if got := ev.String(); !strings.Contains(got, `hold.write("now",false) outer.write("now",false)`) {
		t.Fatalf("write order: %s", got)
	}
}

// TestInjectReadDataGoesToTheFiltersAfter: a filter that holds data back
// (drains it, stops) releases it later to the filters after it.
func TestInjectReadDataGoesToTheFiltersAfter(t *testing.T) {
	ev := newEvents()
	var throttle *recorder
	var kept []byte
	addr, w, _ := serve(t, &Options{},
		factory("throttle", ev, func(r *recorder) {
			throttle = r
			r.onDat = func(r *recorder, b *Buffer, end bool) FilterStatus {
				kept = append(kept, b.Bytes()...)
				b.Drain(b.Len())
				return StopIteration
			}
		}),
		factory("term", ev, echo))
	c := dial(t, addr)
	io.WriteString(c, "abc")
	ev.waitFor(t, `throttle.data("abc",false)`)
	onLoop(t, w, func() { throttle.cb.InjectReadData(kept, false) })
	buf := make([]byte, 3)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "abc" {
		t.Fatalf("injected: %q %v", buf, err)
	}
}

// TestFiltersTimeoutClosesAHeldConnection: a filter that stops and never
// continues cannot hold the connection past FiltersTimeout.
func TestFiltersTimeoutClosesAHeldConnection(t *testing.T) {
	ev := newEvents()
	stats := &Stats{}
	addr, _, _ := serve(t, &Options{FiltersTimeout: 50 * time.Millisecond, Stats: stats},
		factory("stuck", ev, func(r *recorder) {
			r.onNew = func(*recorder) FilterStatus { return StopIteration }
		}),
		factory("term", ev, echo))
	c := dial(t, addr)
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read succeeded on a connection that should be closed")
	}
	ev.waitFor(t, "term.destroy")
	// The terminal never started: it hears no event, only its destruction.
	if got := ev.String(); strings.Contains(got, "term.new") || strings.Contains(got, "term.event") || !strings.Contains(got, "stuck.event(LocalClose)") {
		t.Fatalf("events: %s", got)
	}
	if n := stats.FiltersTimeout.Load(); n != 1 {
		t.Fatalf("FiltersTimeout = %d", n)
	}
}

// TestReadBufferIsBoundedWhileAFilterHoldsIt: a filter that never drains
// makes sluice stop reading at the buffer limit (the kernel pushes back on
// the client), however much the client sends.
func TestReadBufferIsBoundedWhileAFilterHoldsIt(t *testing.T) {
	ev := newEvents()
	var conn *Connection
	addr, w, conns := serve(t, &Options{BufferLimit: 64 << 10},
		factory("hold", ev, func(r *recorder) {
			r.onDat = func(*recorder, *Buffer, bool) FilterStatus { return StopIteration }
		}),
		factory("term", ev, echo))
	c := dial(t, addr)
	go func() {
		chunk := make([]byte, 64<<10)
		for i := 0; i < 256; i++ { // 16 MiB
			c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()
	conn = <-conns
	deadline := time.Now().Add(waitLimit)
	for {
		var held int
		onLoop(t, w, func() { held = conn.readBuf.Len() })
		if held == 64<<10 {
			break
		}
		if held > 64<<10 || time.Now().After(deadline) {
			t.Fatalf("read buffer holds %d bytes, limit 64 KiB", held)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPeerResetIsRemoteClose: the filters see RemoteClose, then are
// destroyed.
func TestPeerResetIsRemoteClose(t *testing.T) {
	ev := newEvents()
	addr, _, _ := serve(t, &Options{}, factory("term", ev, echo))
	c := dial(t, addr)
	ev.waitFor(t, "term.event(Connected)")
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
	ev.waitFor(t, "term.destroy")
	if got := ev.String(); !strings.HasSuffix(got, "term.event(RemoteClose) term.destroy") {
		t.Fatalf("events: %s", got)
	}
}
