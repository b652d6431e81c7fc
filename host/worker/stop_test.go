package worker

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

func TestStopClosesEverything(t *testing.T) {
	// Warm up the netpoller so its own fds are not counted as ours.
	if l, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		l.Close()
	}
	before := openFDs(t)
	w, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	go w.Run()
	closes := make(chan error, 8)
	connects := make(chan error, 8)
	accepted := make(chan struct{}, 8)
	h := &funcHandler{
		close:   func(c *Conn, err error) { closes <- err },
		connect: func(c *Conn, err error) { connects <- err },
	}
	addr := listen(t, w, func(c *Conn) { c.SetHandler(h); accepted <- struct{}{} })
	var clients []net.Conn
	for i := 0; i < 3; i++ {
		nc, err := net.DialTimeout("tcp", addr.String(), waitLimit)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, nc)
		recv(t, accepted, "accept")
	}
	// One outbound connection, established, to our own listener.
	onLoop(t, w, func() {
		if _, err := w.Dial(addr, time.Minute, h); err != nil {
			t.Error(err)
		}
	})
	if err := recv(t, connects, "OnConnect"); err != nil {
		t.Fatal(err)
	}
	recv(t, accepted, "accept of dialed conn")
	onLoop(t, w, func() { w.AfterFunc(time.Hour, func() { t.Error("timer fired after stop") }) })
	if s := w.Stats(); s.OpenConns != 5 || s.Listeners != 1 {
		t.Fatalf("before stop: %+v", s)
	}
	w.Stop()
	w.Stop() // idempotent
	recv(t, w.Done(), "Run to return")
	for i := 0; i < 5; i++ {
		if err := recv(t, closes, "OnClose"); err != ErrWorkerStopped {
			t.Fatalf("OnClose err %v, want ErrWorkerStopped", err)
		}
	}
	if len(closes) != 0 {
		t.Fatalf("extra OnClose: %v", <-closes)
	}
	for _, nc := range clients {
		nc.SetDeadline(time.Now().Add(waitLimit))
		if _, err := nc.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("client after stop: %v, want EOF", err)
		}
		nc.Close()
	}
	if s := w.Stats(); s.OpenConns != 0 || s.Listeners != 0 {
		t.Fatalf("after stop: %+v", s)
	}
	if after := openFDs(t); after != before {
		t.Fatalf("fds: %d before New, %d after stop", before, after)
	}
	goleak.VerifyNone(t)
	// Loop-thread calls on a stopped worker fail cleanly.
	if _, err := w.Listen(loopback, func(*Conn) {}); err != ErrWorkerStopped {
		t.Fatalf("Listen after stop: %v", err)
	}
	if _, err := w.Dial(addr, 0, h); err != ErrWorkerStopped {
		t.Fatalf("Dial after stop: %v", err)
	}
}

func TestStopFailsDialInProgress(t *testing.T) {
	addr := fullBacklogAddr(t)
	w, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	go w.Run()
	connects := make(chan error, 1)
	onLoop(t, w, func() {
		if _, err := w.Dial(addr, time.Hour, &funcHandler{connect: func(c *Conn, err error) { connects <- err }}); err != nil {
			t.Error(err)
		}
	})
	stopWorker(t, w)
	if err := recv(t, connects, "OnConnect"); err == nil {
		t.Skip("backlog was not full; connect completed")
	} else if err != ErrWorkerStopped {
		t.Fatalf("OnConnect err %v, want ErrWorkerStopped", err)
	}
}

func TestStopBeforeRunReleasesEverything(t *testing.T) {
	if l, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		l.Close()
	}
	before := openFDs(t)
	w, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Set up before Run (allowed), then never run it.
	if _, err := w.Listen(loopback, func(*Conn) {}); err != nil {
		t.Fatal(err)
	}
	w.Stop()
	recv(t, w.Done(), "Done after Stop without Run")
	if after := openFDs(t); after != before {
		t.Fatalf("fds: %d before New, %d after Stop", before, after)
	}
	w.Run() // returns at once
	if s := w.Stats(); s.Listeners != 0 {
		t.Fatalf("Listeners = %d", s.Listeners)
	}
}

func TestRunTwicePanics(t *testing.T) {
	w := startWorker(t, Options{})
	onLoop(t, w, func() {}) // Run has started
	if r := recv(t, panicked(w.Run), "second Run"); r != "worker: Run called twice" {
		t.Fatalf("second Run: recovered %v", r)
	}
}

func panicked(fn func()) chan any {
	ch := make(chan any, 1)
	go func() {
		defer func() { ch <- recover() }()
		fn()
	}()
	return ch
}

type fdRecorder struct {
	w      *Worker
	events chan uint32
	fd     int
}

func (r *fdRecorder) OnEvents(ev uint32) {
	if unix.Gettid() != r.w.TID() {
		r.events <- 0
		return
	}
	var b [8]byte
	unix.Read(r.fd, b[:])
	r.events <- ev
}

func TestAddModDelFD(t *testing.T) {
	w := startWorker(t, Options{})
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)
	rec := &fdRecorder{w: w, events: make(chan uint32, 4), fd: efd}
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	onLoop(t, w, func() {
		if err := w.AddFD(efd, unix.EPOLLIN, rec); err != nil {
			t.Error(err)
		}
		if err := w.AddFD(efd, unix.EPOLLIN, rec); !errors.Is(err, errFDRegistered) {
			t.Errorf("second AddFD: %v", err)
		}
		if err := w.AddFD(efd, unix.EPOLLIN, nil); err != ErrNilHandler {
			t.Errorf("nil handler: %v", err)
		}
	})
	unix.Write(efd, one)
	if ev := recv(t, rec.events, "fd event"); ev&unix.EPOLLIN == 0 {
		t.Fatalf("events %#x (0 = off the loop thread)", ev)
	}
	// Disable, signal, re-enable: the event arrives only after ModFD.
	onLoop(t, w, func() {
		if err := w.ModFD(efd, 0); err != nil {
			t.Error(err)
		}
	})
	unix.Write(efd, one)
	// Two round trips: a level-triggered ready fd would be reported by the
	// first poll at the latest, so its event would be in by the second.
	onLoop(t, w, func() {})
	onLoop(t, w, func() {})
	if len(rec.events) != 0 {
		t.Fatal("event delivered while disabled")
	}
	onLoop(t, w, func() {
		if err := w.ModFD(efd, unix.EPOLLIN); err != nil {
			t.Error(err)
		}
	})
	recv(t, rec.events, "event after re-enable")
	onLoop(t, w, func() {
		if err := w.DelFD(efd); err != nil {
			t.Error(err)
		}
		if err := w.DelFD(efd); err != unix.ENOENT {
			t.Errorf("second DelFD: %v", err)
		}
		if err := w.ModFD(efd, unix.EPOLLIN); err != unix.ENOENT {
			t.Errorf("ModFD after DelFD: %v", err)
		}
	})
	unix.Write(efd, one)
	// Two round trips: a level-triggered ready fd would be reported by the
	// first poll at the latest, so its event would be in by the second.
	onLoop(t, w, func() {})
	onLoop(t, w, func() {})
	if len(rec.events) != 0 {
		t.Fatal("event delivered after DelFD")
	}
}

func TestFDCallsRefuseForeignKinds(t *testing.T) {
	w := startWorker(t, Options{})
	onLoop(t, w, func() {
		l, err := w.Listen(loopback, func(*Conn) {})
		if err != nil {
			t.Error(err)
			return
		}
		if err := w.DelFD(l.fd); err != unix.EPERM {
			t.Errorf("DelFD on a listener: %v", err)
		}
		if err := w.ModFD(l.fd, 0); err != unix.EPERM {
			t.Errorf("ModFD on a listener: %v", err)
		}
	})
}

// TestBusyForTellsStuckFromIdle: BusyFor is 0 while the loop waits in
// epoll_wait, however long, and grows while a callback keeps it busy.
func TestBusyForTellsStuckFromIdle(t *testing.T) {
	w := startWorker(t, Options{})
	onLoop(t, w, func() {}) // the loop is running
	deadline := time.Now().Add(waitLimit)
	for w.BusyFor() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("an idle worker reports being busy")
		}
		time.Sleep(time.Millisecond)
	}
	release := make(chan struct{})
	inside := make(chan struct{})
	w.Post(func() { close(inside); <-release })
	<-inside
	for w.BusyFor() < 20*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatal("BusyFor does not grow while a callback blocks")
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
}
