package cluster

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/host/headers"
)

// TestLargeBodyPauseResumeBoundedMemory streams a 64 MiB response to a
// handler that pauses after the first bytes. While paused no data may be
// delivered, the pool's input buffer stays within the worker's read cap, and
// the upstream's writes stall once the kernel buffers are full: how much it
// got out before stalling bounds what the proxy holds.
func TestLargeBodyPauseResumeBoundedMemory(t *testing.T) {
	const total = 64 << 20
	const piece = 64 << 10
	paused := make(chan struct{}, 1)
	stalledAt := make(chan int, 1)
	resume := make(chan struct{})
	_, c, w := oneEndpoint(t, func(_ int, conn net.Conn, br *bufio.Reader) {
		if req, _ := readRequest(br); req == nil {
			return
		}
		fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", total)
		chunk := bytes.Repeat([]byte{'x'}, piece)
		sent, _ := conn.Write(chunk)
		select {
		case <-paused:
		case <-time.After(waitLimit):
			return
		}
		// Write until a write makes no progress for a second: the reader
		// is paused, so the kernel buffers fill and writing stalls. (A
		// slow machine only makes it stall sooner, never later.)
		for sent < total {
			conn.SetWriteDeadline(time.Now().Add(time.Second))
			n, err := conn.Write(chunk[:min(piece, total-sent)])
			sent += n
			if err != nil {
				if !os.IsTimeout(err) {
					return
				}
				break
			}
		}
		stalledAt <- sent
		<-resume
		conn.SetWriteDeadline(time.Time{})
		for sent < total {
			n, err := conn.Write(chunk[:min(piece, total-sent)])
			sent += n
			if err != nil {
				return
			}
		}
	}, Settings{})

	var got, eventsWhilePaused, maxInput int
	isPaused, pausedOnce := false, false
	r := newRecorder(getReq("/big"))
	r.onData = func(r *recorder, p []byte, end bool) {
		got += len(p)
		r.got = r.got[:0] // do not keep 64 MiB around
		if isPaused {
			eventsWhilePaused++
		}
		if in := len(r.stream.cc.conn.Input()); in > maxInput {
			maxInput = in
		}
		if !pausedOnce {
			r.stream.PauseResponse()
			isPaused, pausedOnce = true, true
			paused <- struct{}{}
		}
		if end {
			r.log("end %d", got)
		}
	}
	start(t, w, c, r)
	sent := recv(t, stalledAt, "the upstream to stall")
	var whilePaused int
	onLoop(t, w, func() {
		whilePaused = eventsWhilePaused
		isPaused = false
		r.stream.ResumeResponse()
	})
	close(resume)
	r.wait(t)
	if whilePaused != 0 {
		t.Fatalf("%d data events arrived while paused", whilePaused)
	}
	if sent >= 40<<20 {
		// Kernel buffers on loopback are at most a few MiB each way (plus
		// the 1 MiB read cap); 40 MiB out means reading never stopped.
		t.Fatalf("upstream wrote %d bytes while the response was paused", sent)
	}
	if maxInput > 1<<20 {
		t.Fatalf("input buffer reached %d bytes, over the 1 MiB read cap", maxInput)
	}
	if got != total || r.final != "end" {
		t.Fatalf("got %d of %d bytes; events %s", got, total, r.eventString())
	}
	t.Logf("upstream stalled after %d bytes while paused", sent)
}

// TestUploadBackpressure uploads a body to an upstream that does not read
// until told: SendData must report the high watermark, and
// OnUpstreamWritable must fire once the upstream drains.
func TestUploadBackpressure(t *testing.T) {
	const total = 24 << 20
	const piece = 64 << 10
	startReading := make(chan struct{})
	received := make(chan int, 1)
	_, c, w := oneEndpoint(t, func(_ int, conn net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		select {
		case <-startReading:
		case <-time.After(waitLimit):
			return
		}
		n, _ := io.Copy(io.Discard, req.Body)
		received <- int(n)
		io.WriteString(conn, "HTTP/1.1 204 No Content\r\n\r\n")
	}, Settings{})

	chunk := bytes.Repeat([]byte{'u'}, piece)
	sentBytes, aboveSeen := 0, 0
	var maxPending int
	send := func(r *recorder, s *Stream) {
		for sentBytes < total && !s.AboveWriteWatermark() {
			sentBytes += piece
			s.SendData(chunk, sentBytes == total)
			maxPending = max(maxPending, s.cc.conn.Pending())
		}
		if sentBytes < total {
			if aboveSeen == 0 {
				close(startReading)
			}
			aboveSeen++
		}
	}
	r := newRecorder(reqWith("POST", "/up", "content-length", fmt.Sprint(total)))
	var stream *Stream
	r.onReady = func(r *recorder, s *Stream) {
		stream = s
		s.SendHeaders(r.req, false)
		send(r, s)
	}
	h := &writableRecorder{recorder: r, onWritable: func() { send(r, stream) }}
	onLoop(t, w, func() { c.NewStream(w, h) })
	r.wait(t)
	if n := recv(t, received, "upload"); n != total {
		t.Fatalf("upstream received %d of %d", n, total)
	}
	if aboveSeen == 0 || r.writable == 0 || r.status != 204 {
		t.Fatalf("above=%d writable=%d events %s", aboveSeen, r.writable, r.eventString())
	}
	if maxPending > (1<<20)+piece {
		t.Fatalf("pending output reached %d, past the high watermark plus one piece", maxPending)
	}
}

// writableRecorder continues the upload on OnUpstreamWritable.
type writableRecorder struct {
	*recorder
	onWritable func()
}

func (w *writableRecorder) OnUpstreamWritable() {
	w.recorder.OnUpstreamWritable()
	w.onWritable()
}

func TestEarlyResponseClosesConnection(t *testing.T) {
	clientClosed := make(chan struct{})
	srv, c, w := oneEndpoint(t, func(_ int, conn net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(conn, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n")
		io.Copy(io.Discard, br)
		close(clientClosed)
	}, Settings{})
	r := newRecorder(reqWith("POST", "/upload", "content-length", "10"))
	r.onReady = func(r *recorder, s *Stream) { s.SendHeaders(r.req, false) } // body never sent
	roundTrip(t, w, c, r)
	if r.eventString() != "ready, headers 413 end=true" {
		t.Fatalf("events %s", r.eventString())
	}
	recv(t, clientClosed, "the pool to close the half-used connection")
	if st := c.Stats(); st.CxActive != 0 || srv.conns.Load() != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestContentLengthIsEnforced(t *testing.T) {
	bodies := make(chan string, 2)
	srv, c, w := oneEndpoint(t, func(_ int, conn net.Conn, br *bufio.Reader) {
		for {
			req, body := readRequest(br)
			if req == nil {
				return
			}
			bodies <- string(body)
			echoPath(conn, req)
		}
	}, Settings{})
	r := newRecorder(reqWith("POST", "/p", "content-length", "3"))
	r.body = [][]byte{[]byte("hello")}
	roundTrip(t, w, c, r)
	if b := recv(t, bodies, "body"); b != "hel" || r.final != "end" {
		t.Fatalf("upstream got %q; events %s", b, r.eventString())
	}
	// The excess was dropped and the connection retired: the next request
	// must not be parsed out of "lo".
	roundTrip(t, w, c, newRecorder(getReq("/next")))
	if srv.conns.Load() != 2 {
		t.Fatalf("conns %d", srv.conns.Load())
	}
}

func TestInvalidRequestHeadIsRefusedBeforeTheWire(t *testing.T) {
	paths := make(chan string, 4)
	srv, c, w := oneEndpoint(t, func(_ int, conn net.Conn, br *bufio.Reader) {
		for {
			req, _ := readRequest(br)
			if req == nil {
				return
			}
			paths <- req.URL.Path
			echoPath(conn, req)
		}
	}, Settings{})
	bad := newRecorder(reqWith("GET", "/bad", "x-evil", "1\r\n\r\nGET /smuggled HTTP/1.1"))
	roundTrip(t, w, c, bad)
	if bad.eventString() != "ready, reset local_reset" || bad.err != ErrBadHeaderValue {
		t.Fatalf("events %s err %v", bad.eventString(), bad.err)
	}
	r := roundTrip(t, w, c, newRecorder(getReq("/good")))
	if p := recv(t, paths, "request"); p != "/good" || string(r.got) != "/good" {
		t.Fatalf("first request the upstream saw: %q", p)
	}
	if srv.conns.Load() != 1 {
		t.Fatalf("nothing was written, the connection stays usable: conns %d", srv.conns.Load())
	}
}

func TestResetBeforeSendingKeepsConnection(t *testing.T) {
	paths := make(chan string, 4)
	srv, c, w := oneEndpoint(t, func(_ int, conn net.Conn, br *bufio.Reader) {
		for {
			req, _ := readRequest(br)
			if req == nil {
				return
			}
			paths <- req.URL.Path
			echoPath(conn, req)
		}
	}, Settings{})
	roundTrip(t, w, c, newRecorder(getReq("/first")))
	quit := newRecorder(getReq("/never"))
	quit.onReady = func(r *recorder, s *Stream) {
		s.Reset()
		r.finish("local reset")
	}
	roundTrip(t, w, c, quit)
	roundTrip(t, w, c, newRecorder(getReq("/third")))
	if a, b := recv(t, paths, "1"), recv(t, paths, "2"); a != "/first" || b != "/third" {
		t.Fatalf("upstream saw %q then %q", a, b)
	}
	if srv.conns.Load() != 1 || c.Stats().RqTxReset != 1 {
		t.Fatalf("conns %d stats %+v", srv.conns.Load(), c.Stats())
	}
}

// TestPausedResponseWithEverythingBuffered: the handler pauses at the
// head of a close-delimited response; the upstream then sends the whole
// body and its FIN. Nothing may be delivered until ResumeResponse, and
// then the body and the end (which only the EOF can signal) must follow.
func TestPausedResponseWithEverythingBuffered(t *testing.T) {
	paused := make(chan struct{})
	allSent := make(chan struct{})
	clientClosed := make(chan struct{})
	_, c, w := oneEndpoint(t, func(_ int, conn net.Conn, br *bufio.Reader) {
		readRequest(br)
		io.WriteString(conn, "HTTP/1.0 200 OK\r\n\r\n")
		select {
		case <-paused:
		case <-time.After(waitLimit):
			return
		}
		io.WriteString(conn, "body until close")
		conn.(*net.TCPConn).CloseWrite()
		close(allSent)
		io.Copy(io.Discard, br)
		close(clientClosed)
	}, Settings{})
	r := newRecorder(getReq("/"))
	r.onHeader = func(r *recorder, _ *headers.Map, _ bool) {
		r.stream.PauseResponse()
		close(paused)
	}
	start(t, w, c, r)
	recv(t, allSent, "the upstream to send everything")
	var before string
	onLoop(t, w, func() {
		before = r.eventString()
		r.stream.ResumeResponse()
	})
	r.wait(t)
	if before != "ready, headers 200 end=false" || string(r.got) != "body until close" || r.final != "end" {
		t.Fatalf("events before resume %q; events %s body %q", before, r.eventString(), r.got)
	}
	recv(t, clientClosed, "the pool to close the finished connection")
}
