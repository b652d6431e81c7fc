package http2

import (
	"bytes"
	"testing"

	"golang.org/x/net/http2"
)

func windowUpdates(fs []http2.Frame) map[uint32]uint32 {
	m := map[uint32]uint32{}
	for _, f := range fs {
		if w, ok := f.(*http2.WindowUpdateFrame); ok {
			m[w.StreamID] += w.Increment
		}
	}
	return m
}

// The response is cut to the peer's stream window and resumes on
// WINDOW_UPDATE; the writable callback fires once the queue drains.
func TestSendFlowControl(t *testing.T) {
	app := &fakeApp{t: t}
	body := bytes.Repeat([]byte("z"), 100)
	var aboveAfterWrite bool
	writable := 0
	app.onEnd = func(s *fakeStream) {
		s.enc.SetWritableCallback(func() { writable++ })
		s.enc.EncodeHeaders(newMap(":status", "200"), false)
		s.enc.EncodeData(body, false)
		aboveAfterWrite = s.enc.AboveWriteWatermark()
	}
	h := newHarness(t, Options{StreamBufferLimit: 64}, app, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
	h.get(1, "/")
	h.mustFlush()
	got, end := responseBody(h.frames(), 1)
	if len(got) != 10 || end {
		t.Fatalf("sent %d bytes (end %v) with a 10-byte window", len(got), end)
	}
	if !aboveAfterWrite {
		t.Fatalf("AboveWriteWatermark false with 90 bytes queued over a 64-byte limit")
	}
	_ = h.cfr.WriteWindowUpdate(1, 20)
	h.mustFlush()
	more, _ := responseBody(h.frames(), 1)
	if len(more) != 20 || writable != 0 {
		t.Fatalf("after +20: %d bytes, writable %d (70 still queued, over the low mark)", len(more), writable)
	}
	_ = h.cfr.WriteWindowUpdate(1, 40)
	h.mustFlush()
	more, end = responseBody(h.frames(), 1)
	if len(more) != 40 || end || writable != 1 {
		t.Fatalf("after +40: %d bytes, end %v, writable %d", len(more), end, writable)
	}
	// The manager ends the response (nothing left to add); it is finished
	// with the stream from here, so no more writable callbacks.
	app.streams[0].enc.EncodeData(nil, true)
	// Opening the window via SETTINGS applies to open streams too.
	_ = h.cfr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1000})
	h.mustFlush()
	rest, end := responseBody(h.frames(), 1)
	if len(rest) != 30 || !end || writable != 1 {
		t.Fatalf("after SETTINGS: %d bytes, end %v, writable %d", len(rest), end, writable)
	}
	if h.c.ActiveStreams() != 0 {
		t.Fatalf("stream not finished")
	}
}

// The connection window is shared: two streams split it and continue when
// the connection-level WINDOW_UPDATE arrives.
func TestConnectionSendWindow(t *testing.T) {
	app := &fakeApp{t: t}
	body := bytes.Repeat([]byte("q"), 40000)
	app.onEnd = func(s *fakeStream) {
		s.enc.EncodeHeaders(newMap(":status", "200"), false)
		s.enc.EncodeData(body, true)
	}
	h := newHarness(t, Options{}, app, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	h.get(1, "/")
	h.get(3, "/")
	h.mustFlush()
	fs := h.frames()
	b1, f1 := responseBody(fs, 1)
	b3, f3 := responseBody(fs, 3)
	if len(b1)+len(b3) != 65535 {
		t.Fatalf("sent %d+%d, want the 65535 connection window", len(b1), len(b3))
	}
	_ = h.cfr.WriteWindowUpdate(0, 80000-65535)
	h.mustFlush()
	fs = h.frames()
	c1, e1 := responseBody(fs, 1)
	c3, e3 := responseBody(fs, 3)
	if len(b1)+len(c1) != 40000 || len(b3)+len(c3) != 40000 || !(e1 || f1) || !(e3 || f3) {
		t.Fatalf("totals %d %d ends %v %v", len(b1)+len(c1), len(b3)+len(c3), e1, e3)
	}
	for _, f := range fs {
		if d, ok := f.(*copiedData); ok && len(d.data) > 16384 {
			t.Fatalf("DATA frame of %d bytes", len(d.data))
		}
	}
}

func TestWindowOverflow(t *testing.T) {
	t.Run("connection", func(t *testing.T) {
		h := newHarness(t, Options{}, echoApp(t))
		_ = h.cfr.WriteWindowUpdate(0, 1<<31-1)
		h.flush()
		wantGoAway(t, h, http2.ErrCodeFlowControl)
	})
	t.Run("stream", func(t *testing.T) {
		h := newHarness(t, Options{}, &fakeApp{t: t})
		h.post(1)
		_ = h.cfr.WriteWindowUpdate(1, 1<<31-1)
		h.mustFlush()
		wantRST(t, h.frames(), 1, http2.ErrCodeFlowControl)
	})
	t.Run("settings pushes a stream over", func(t *testing.T) {
		h := newHarness(t, Options{}, &fakeApp{t: t})
		h.post(1)
		_ = h.cfr.WriteWindowUpdate(1, 1<<31-1-65535)
		_ = h.cfr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 65536})
		h.flush()
		wantGoAway(t, h, http2.ErrCodeFlowControl)
	})
	t.Run("zero increment on stream", func(t *testing.T) {
		h := newHarness(t, Options{}, &fakeApp{t: t})
		h.post(1)
		_ = h.cfr.WriteWindowUpdate(1, 1) // valid
		h.mustFlush()
		// The Framer refuses to write 0; write it raw.
		_ = h.cfr.WriteRawFrame(http2.FrameWindowUpdate, 0, 1, []byte{0, 0, 0, 0})
		h.mustFlush()
		wantRST(t, h.frames(), 1, http2.ErrCodeProtocol)
	})
	t.Run("zero increment on a stream already reset", func(t *testing.T) {
		// RFC 9113 5.1: frames on a stream we reset are ignored, bad ones
		// too; a second RST_STREAM would let the client make us write a
		// frame for every frame it sends.
		h := newHarness(t, Options{}, &fakeApp{t: t})
		h.get(1, "/")
		for i := 0; i < 3; i++ {
			_ = h.cfr.WriteRawFrame(http2.FrameWindowUpdate, 0, 1, []byte{0, 0, 0, 0})
		}
		h.mustFlush()
		rsts := 0
		for _, f := range h.frames() {
			if r, ok := f.(*http2.RSTStreamFrame); ok && r.StreamID == 1 {
				rsts++
			}
		}
		if rsts != 1 {
			t.Fatalf("%d RST_STREAM frames on stream 1, want 1", rsts)
		}
	})
}

// Request bodies get WINDOW_UPDATEs as they are delivered; a peer that
// exceeds the stream window gets FLOW_CONTROL_ERROR.
func TestReceiveFlowControl(t *testing.T) {
	app := &fakeApp{t: t}
	h := newHarness(t, Options{InitialWindowSize: 65535, ConnectionWindowSize: 65535}, app)
	h.post(1)
	chunk := make([]byte, 16384)
	for i := 0; i < 2; i++ {
		_ = h.cfr.WriteData(1, false, chunk)
	}
	h.mustFlush()
	wu := windowUpdates(h.frames())
	if wu[1] != 32768 || wu[0] != 32768 {
		t.Fatalf("window updates %v, want 32768 on stream 1 and connection", wu)
	}
}

// With delivery paused nothing is credited, so a peer that sends past the
// window it was given breaks flow control.
func TestReceiveStreamWindowExceeded(t *testing.T) {
	app := &fakeApp{t: t}
	app.onHeaders = func(s *fakeStream) { s.enc.ReadDisable(true) }
	h := newHarness(t, Options{InitialWindowSize: 65535}, app)
	h.post(1)
	chunk := make([]byte, 16383)
	for i := 0; i < 4; i++ {
		_ = h.cfr.WriteData(1, false, chunk)
	}
	_ = h.cfr.WriteData(1, false, chunk[:3]) // exactly 65535: allowed
	h.mustFlush()
	if _, ok := findRST(h.frames(), 1); ok {
		t.Fatalf("reset within the window")
	}
	_ = h.cfr.WriteData(1, false, chunk[:1])
	h.mustFlush()
	wantRST(t, h.frames(), 1, http2.ErrCodeFlowControl)
	if app.streams[0].resetBy == 0 {
		t.Fatalf("OnReset not called")
	}
}

func TestConnectionReceiveWindowExceeded(t *testing.T) {
	// One frame larger than the whole connection window (we accept big
	// frames here so a single frame can overrun it).
	h := newHarness(t, Options{InitialWindowSize: 1 << 20, ConnectionWindowSize: 65535, MaxFrameSize: 1 << 17}, &fakeApp{t: t})
	h.post(1)
	_ = h.cfr.WriteData(1, false, make([]byte, 65536))
	h.flush()
	wantGoAway(t, h, http2.ErrCodeFlowControl)
}

// ReadDisable holds delivery and the stream's WINDOW_UPDATE; re-enabling
// delivers from the loop and credits the window.
func TestReadDisableBackpressure(t *testing.T) {
	app := &fakeApp{t: t}
	app.onHeaders = func(s *fakeStream) { s.enc.ReadDisable(true) }
	h := newHarness(t, Options{InitialWindowSize: 65535, ConnectionWindowSize: 65535}, app)
	h.post(1)
	chunk := make([]byte, 16384)
	for i := 0; i < 3; i++ {
		_ = h.cfr.WriteData(1, false, chunk)
	}
	h.mustFlush()
	s := app.streams[0]
	if len(s.body) != 0 {
		t.Fatalf("delivered %d bytes while read-disabled", len(s.body))
	}
	wu := windowUpdates(h.frames())
	if wu[1] != 0 {
		t.Fatalf("stream WINDOW_UPDATE %d while read-disabled", wu[1])
	}
	if wu[0] == 0 {
		t.Fatalf("connection window withheld: a paused stream would starve its siblings")
	}
	_ = h.cfr.WriteData(1, true, []byte("end"))
	h.mustFlush()
	if s.ended {
		t.Fatalf("END_STREAM delivered ahead of held data")
	}
	s.enc.ReadDisable(false)
	if len(s.body) != 0 {
		t.Fatalf("delivered inside ReadDisable(false): must be deferred to the loop")
	}
	h.ft.runPosted()
	if len(s.body) != 3*16384+3 || !s.ended {
		t.Fatalf("after re-enable: %d bytes, ended %v", len(s.body), s.ended)
	}
}

func TestReadDisableCreditsOnResume(t *testing.T) {
	app := &fakeApp{t: t}
	app.onHeaders = func(s *fakeStream) { s.enc.ReadDisable(true) }
	h := newHarness(t, Options{InitialWindowSize: 65535}, app)
	h.post(1)
	_ = h.cfr.WriteData(1, false, make([]byte, 1000))
	h.mustFlush()
	h.frames()
	app.streams[0].enc.ReadDisable(false)
	h.ft.runPosted()
	if wu := windowUpdates(h.frames()); wu[1] != 1000 {
		t.Fatalf("stream credit on resume = %d, want 1000", wu[1])
	}
}

// A client that never opens its window: a producer honouring the watermark
// stops at StreamBufferLimit; one that ignores it is reset at 4x, so memory
// stays bounded either way.
func TestZeroWindowStall(t *testing.T) {
	const limit = 64 << 10
	chunk := make([]byte, 16<<10)
	t.Run("cooperative producer", func(t *testing.T) {
		app := &fakeApp{t: t}
		app.onEnd = func(s *fakeStream) {
			s.enc.EncodeHeaders(newMap(":status", "200"), false)
			for i := 0; i < 1000 && !s.enc.AboveWriteWatermark(); i++ {
				s.enc.EncodeData(chunk, false)
			}
		}
		h := newHarness(t, Options{StreamBufferLimit: limit}, app, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
		h.get(1, "/")
		h.mustFlush()
		st := h.c.streams[0]
		if q := st.queued(); q < limit || q > limit+len(chunk) {
			t.Fatalf("queued %d, want about %d", q, limit)
		}
		// The manager's idle timeout resets it: memory is released.
		app.streams[0].enc.Reset()
		if st.out != nil || h.c.ActiveStreams() != 0 {
			t.Fatalf("buffer kept after reset")
		}
	})
	t.Run("one large write is accepted", func(t *testing.T) {
		app := &fakeApp{t: t}
		app.onEnd = func(s *fakeStream) {
			s.enc.EncodeHeaders(newMap(":status", "200"), false)
			s.enc.EncodeData(make([]byte, 10*limit), true) // e.g. a buffered body
		}
		h := newHarness(t, Options{StreamBufferLimit: limit}, app, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
		h.get(1, "/")
		h.mustFlush()
		if h.c.Stats().OutputOverflowResets != 0 || h.c.QueuedBytes() != 10*limit {
			t.Fatalf("resets %d queued %d", h.c.Stats().OutputOverflowResets, h.c.QueuedBytes())
		}
	})
	t.Run("producer ignoring backpressure", func(t *testing.T) {
		app := &fakeApp{t: t}
		app.onEnd = func(s *fakeStream) {
			s.enc.EncodeHeaders(newMap(":status", "200"), false)
			for i := 0; i < 1000; i++ {
				s.enc.EncodeData(chunk, false)
			}
		}
		h := newHarness(t, Options{StreamBufferLimit: limit}, app, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
		h.get(1, "/")
		h.mustFlush()
		if h.c.Stats().OutputOverflowResets != 1 || h.c.ActiveStreams() != 0 {
			t.Fatalf("overflow resets %d", h.c.Stats().OutputOverflowResets)
		}
		wantRST(t, h.frames(), 1, http2.ErrCodeInternal)
	})
}

// Connection-level backpressure (worker output over its watermark) is
// reported by every stream and cleared through OnWritable.
func TestConnectionBackpressure(t *testing.T) {
	app := &fakeApp{t: t}
	calls := 0
	app.onHeaders = func(s *fakeStream) { s.enc.SetWritableCallback(func() { calls++ }) }
	h := newHarness(t, Options{}, app)
	h.post(1)
	h.mustFlush()
	h.ft.above = true
	if !app.streams[0].enc.AboveWriteWatermark() {
		t.Fatalf("AboveWriteWatermark false with the connection above its watermark")
	}
	h.ft.above = false
	h.c.OnWritable()
	if calls != 1 {
		t.Fatalf("writable callbacks %d", calls)
	}
}

// A stream blocked only by the connection window resumes, writable callback
// included, when the connection-level WINDOW_UPDATE arrives.
func TestWritableAfterConnectionWindowUpdate(t *testing.T) {
	app := &fakeApp{t: t}
	writable := 0
	body := make([]byte, 100000)
	app.onEnd = func(s *fakeStream) {
		s.enc.SetWritableCallback(func() { writable++ })
		s.enc.EncodeHeaders(newMap(":status", "200"), false)
		s.enc.EncodeData(body, false)
		if !s.enc.AboveWriteWatermark() {
			t.Errorf("not above the watermark with %d queued", 100000-65535)
		}
	}
	h := newHarness(t, Options{StreamBufferLimit: 1000}, app, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	h.get(1, "/")
	h.mustFlush()
	_ = h.cfr.WriteWindowUpdate(0, 1<<20)
	h.mustFlush()
	if got, end := responseBody(h.frames(), 1); len(got) != 100000 || end || writable != 1 {
		t.Fatalf("after the connection update: %d bytes end %v writable %d", len(got), end, writable)
	}
}

// Once the manager has encoded the end of the response it is done with the
// stream (it may recycle the decoder): a client reset while DATA still waits
// for window must not reach the decoder.
func TestNoCallbacksAfterManagerDone(t *testing.T) {
	app := &fakeApp{t: t}
	app.onEnd = func(s *fakeStream) {
		s.enc.SetWritableCallback(func() { t.Errorf("writable callback after the end") })
		s.enc.EncodeHeaders(newMap(":status", "200"), false)
		s.enc.EncodeData(make([]byte, 100), true)
		s.enc.AboveWriteWatermark()
	}
	h := newHarness(t, Options{StreamBufferLimit: 10}, app, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
	h.get(1, "/")
	h.get(3, "/")
	h.mustFlush()
	if h.c.ActiveStreams() != 2 || h.c.QueuedBytes() != 180 {
		t.Fatalf("active %d queued %d", h.c.ActiveStreams(), h.c.QueuedBytes())
	}
	_ = h.cfr.WriteRSTStream(1, http2.ErrCodeCancel)
	_ = h.cfr.WriteWindowUpdate(3, 1000)
	h.mustFlush()
	h.c.OnConnectionClose()
	for i, s := range app.streams {
		if s.resetBy != 0 {
			t.Fatalf("stream %d: OnReset(%v) after the manager finished", i, s.resetBy)
		}
	}
	if h.c.Stats().ClientResets != 0 {
		t.Fatalf("a reset of a finished stream counted against the budget")
	}
}

// While the connection's output is over its watermark, DATA stays in the
// stream queue (bounded, reset at 4x for a producer that ignores it) instead
// of piling up in the socket buffer; OnWritable moves it on.
func TestDataWaitsForConnectionWatermark(t *testing.T) {
	app := &fakeApp{t: t}
	h := newHarness(t, Options{StreamBufferLimit: 1000}, app)
	h.post(1)
	h.mustFlush()
	enc := app.streams[0].enc
	enc.EncodeHeaders(newMap(":status", "200"), false)
	h.ft.above = true
	enc.EncodeData(make([]byte, 3000), false)
	if got, _ := responseBody(h.frames(), 1); len(got) != 0 || h.c.QueuedBytes() != 3000 {
		t.Fatalf("wrote %d with the connection above its watermark; queued %d", len(got), h.c.QueuedBytes())
	}
	enc.EncodeData(make([]byte, 1001), false) // ignoring backpressure, past 4x
	if h.c.Stats().OutputOverflowResets != 1 {
		t.Fatalf("no overflow reset: queued %d", h.c.QueuedBytes())
	}
	wantRST(t, h.frames(), 1, http2.ErrCodeInternal)

	h.post(3)
	h.mustFlush()
	enc = app.streams[1].enc
	enc.EncodeHeaders(newMap(":status", "200"), false)
	enc.EncodeData(make([]byte, 500), true)
	h.ft.above = false
	h.c.OnWritable()
	if got, end := responseBody(h.frames(), 3); len(got) != 500 || !end {
		t.Fatalf("after OnWritable: %d bytes end %v", len(got), end)
	}
}

// Body held for a paused stream is dropped when the manager ends the
// response; its window comes back so the client can finish its upload.
func TestHeldBodyCreditedWhenManagerEnds(t *testing.T) {
	app := &fakeApp{t: t}
	app.onHeaders = func(s *fakeStream) { s.enc.ReadDisable(true) }
	h := newHarness(t, Options{InitialWindowSize: 65535}, app)
	h.post(1)
	_ = h.cfr.WriteData(1, false, make([]byte, 5000))
	h.mustFlush()
	if wu := windowUpdates(h.frames()); wu[1] != 0 {
		t.Fatalf("credited %d while paused", wu[1])
	}
	app.streams[0].enc.EncodeHeaders(newMap(":status", "200"), true)
	h.ft.runPosted()
	if wu := windowUpdates(h.frames()); wu[1] != 5000 {
		t.Fatalf("stream credit %d after the manager ended, want 5000", wu[1])
	}
	if len(app.streams[0].body) != 0 {
		t.Fatalf("held body delivered after the end")
	}
}

// Paused streams hold request body in the codec. Each is bounded by its
// stream window, and all of them together by the connection window: once
// they hold that much, connection credit is withheld until they drain, so
// a thousand streams cannot make a connection hold a thousand windows.
func TestHeldRequestBodyIsBoundedPerConnection(t *testing.T) {
	app := &fakeApp{t: t}
	app.onHeaders = func(s *fakeStream) { s.enc.ReadDisable(true) }
	h := newHarness(t, Options{InitialWindowSize: 256 << 10, ConnectionWindowSize: 1 << 20}, app)
	credited := uint32(0)
	for id := uint32(1); id <= 7; id += 2 { // four streams, 256 KiB each
		h.post(id)
		for sent := 0; sent < 256<<10; sent += 16384 {
			_ = h.cfr.WriteData(id, false, make([]byte, 16384))
		}
		h.mustFlush()
		credited += windowUpdates(h.frames())[0]
	}
	if h.c.heldInbound != 1<<20 {
		t.Fatalf("held %d", h.c.heldInbound)
	}
	if credited >= 1<<20 {
		t.Fatalf("%d bytes of connection credit while paused streams hold a whole window", credited)
	}
	for _, s := range app.streams {
		s.enc.ReadDisable(false)
	}
	h.ft.runPosted()
	if got := credited + windowUpdates(h.frames())[0]; got != 1<<20 {
		t.Fatalf("credit after the streams drained: %d, want all of it", got)
	}
	if h.c.heldInbound != 0 {
		t.Fatalf("held %d after draining", h.c.heldInbound)
	}
}

// A client that opens no window on any stream: together the streams queue
// at most about ConnectionBufferLimit, because past it every stream that is
// waiting reports backpressure (and resumes only once the total is below
// half).
func TestQueuedResponsesAreBoundedPerConnection(t *testing.T) {
	app := &fakeApp{t: t}
	const connLimit = 256 << 10
	var above []bool
	app.onHeaders = func(s *fakeStream) {
		s.enc.EncodeHeaders(newMap(":status", "200"), false)
		for !s.enc.AboveWriteWatermark() {
			s.enc.EncodeData(make([]byte, 16384), false)
		}
		above = append(above, true)
	}
	h := newHarness(t, Options{StreamBufferLimit: 1 << 20, ConnectionBufferLimit: connLimit}, app,
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	for id := uint32(1); id <= 39; id += 2 {
		h.get(id, "/")
	}
	h.mustFlush()
	if len(above) != 20 {
		t.Fatalf("%d streams saw backpressure", len(above))
	}
	if q := h.c.QueuedBytes(); q > connLimit+20*16384 {
		t.Fatalf("20 streams queued %d bytes; the connection limit is %d", q, connLimit)
	}
}
