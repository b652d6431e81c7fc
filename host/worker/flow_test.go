package worker

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// pattern fills b with a position-dependent byte sequence starting at off.
func pattern(b []byte, off int64) {
	for i := range b {
		b[i] = byte((off + int64(i)) * 7 % 251)
	}
}

// boundedEcho is echoHandler plus a record of the most output it ever held.
type boundedEcho struct {
	echoHandler
	maxHeld int
	pauses  int
	paused  chan struct{}
}

func (b *boundedEcho) OnData(c *Conn) {
	b.echoHandler.OnData(c)
	held := c.Pending() + len(c.Input())
	b.maxHeld = max(b.maxHeld, held)
	if c.ReadPaused() {
		b.pauses++
		if b.pauses == 1 {
			close(b.paused)
		}
	}
}

// A 64 MiB echo through a reader that starts late: the server must stop
// reading (watermarks + PauseReading) instead of buffering the transfer.
func TestLargeTransferSlowReaderBoundedMemory(t *testing.T) {
	const total = 64 << 20
	w := startWorker(t, Options{})
	h := &boundedEcho{paused: make(chan struct{})}
	h.tidErr = func(where string) { t.Errorf("%s off the loop thread", where) }
	addr := listen(t, w, func(c *Conn) { c.SetHandler(h) })
	nc, err := net.DialTimeout("tcp", addr.String(), waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(2 * waitLimit))

	writeErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 256<<10)
		for off := int64(0); off < total; off += int64(len(buf)) {
			pattern(buf, off)
			if _, err := nc.Write(buf); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nc.(*net.TCPConn).CloseWrite()
	}()

	// Read nothing until the server has had to pause: its output cannot
	// drain, so only flow control keeps its memory bounded.
	recv(t, h.paused, "server PauseReading")
	got, want := make([]byte, 64<<10), make([]byte, 64<<10)
	var off int64
	for off < total {
		n, err := nc.Read(got[:min(len(got), 4<<10)]) // small reads: a slow reader
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		pattern(want[:n], off)
		if !bytes.Equal(got[:n], want[:n]) {
			t.Fatalf("corrupt echo at offset %d", off)
		}
		off += int64(n)
	}
	if err := recv(t, writeErr, "writer"); err != nil {
		t.Fatal(err)
	}
	if n, err := nc.Read(got); n != 0 || err != io.EOF {
		t.Fatalf("after transfer: %d %v, want EOF", n, err)
	}
	var maxHeld, pauses int
	var stats Stats
	onLoop(t, w, func() { maxHeld, pauses, stats = h.maxHeld, h.pauses, w.Stats() })
	// Output may exceed the high watermark by at most the chunk that crossed it.
	if limit := defaultHighWatermark + defaultReadBufferSize; maxHeld > limit {
		t.Fatalf("server held %d bytes, limit %d", maxHeld, limit)
	}
	// The pool never needed much more than one watermark's worth of buffers.
	if limit := uint64((defaultHighWatermark+defaultMaxReadBuffer)/defaultReadBufferSize + 8); stats.BuffersMade > limit {
		t.Fatalf("made %d buffers, limit %d", stats.BuffersMade, limit)
	}
	if stats.BytesRead != total || stats.BytesWritten != total {
		t.Fatalf("bytes read/written %d/%d", stats.BytesRead, stats.BytesWritten)
	}
	t.Logf("max held %d B, %d pauses, %d buffers made", maxHeld, pauses, stats.BuffersMade)
}

// With MaxReadBuffer reached, reading stops until the handler consumes.
func TestMaxReadBufferPausesReading(t *testing.T) {
	const maxRead, total = 64 << 10, 1 << 20
	w := startWorker(t, Options{MaxReadBuffer: maxRead, ReadBufferSize: 4 << 10})
	type result struct{ consumed, maxInput, fullCount int }
	done := make(chan result, 1)
	var r result
	addr := listen(t, w, func(c *Conn) {
		c.SetHandler(&funcHandler{data: func(c *Conn) {
			in := c.Input()
			r.maxInput = max(r.maxInput, len(in))
			// Consume only whole buffers: everything below the cap waits,
			// so progress depends on reading resuming after Consume.
			if len(in) == maxRead {
				r.fullCount++
				r.consumed += len(in)
				c.Consume(len(in))
			}
			if c.ReadEOF() {
				r.consumed += len(c.Input())
				done <- r
				c.Close()
			}
		}})
	})
	nc, err := net.DialTimeout("tcp", addr.String(), waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(waitLimit))
	if _, err := nc.Write(make([]byte, total)); err != nil {
		t.Fatal(err)
	}
	nc.(*net.TCPConn).CloseWrite()
	got := recv(t, done, "EOF at server")
	if got.consumed != total || got.maxInput != maxRead || got.fullCount != total/maxRead {
		t.Fatalf("%+v: want all %d consumed in %d full buffers of %d", got, total, total/maxRead, maxRead)
	}
}
