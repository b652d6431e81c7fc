package http2

import (
	"bytes"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/sluiceproxy/sluice/host/codec"
)

// releasingApp answers every finished request 200 and then releases the
// encoder, as the connection manager does when it destroys its stream.
func releasingApp(t *testing.T) *fakeApp {
	a := &fakeApp{t: t}
	a.onEnd = func(s *fakeStream) {
		respond(s, 200, []byte("ok"))
		s.enc.(codec.Releaser).Release()
	}
	return a
}

func encoderOf(t *testing.T, a *fakeApp, i int) *stream {
	t.Helper()
	if i >= len(a.streams) {
		t.Fatalf("stream %d never opened (%d streams)", i, len(a.streams))
	}
	return a.streams[i].enc.(*stream)
}

func TestReleasedStreamIsReused(t *testing.T) {
	app := releasingApp(t)
	h := newHarness(t, Options{}, app)
	h.get(1, "/a")
	h.mustFlush()
	h.get(3, "/b")
	h.mustFlush()
	if encoderOf(t, app, 0) != encoderOf(t, app, 1) {
		t.Fatal("a released, finished stream was not reused for the next one")
	}
	fs := h.frames()
	for _, id := range []uint32{1, 3} {
		if body, ended := responseBody(fs, id); string(body) != "ok" || !ended {
			t.Fatalf("stream %d answered %q (ended %v)", id, body, ended)
		}
	}
}

func TestUnreleasedStreamIsNeverReused(t *testing.T) {
	app := echoApp(t)
	h := newHarness(t, Options{}, app)
	h.get(1, "/a")
	h.mustFlush()
	h.get(3, "/b")
	h.mustFlush()
	if encoderOf(t, app, 0) == encoderOf(t, app, 1) {
		t.Fatal("a stream the manager never released was reused")
	}
	// The old encoder stays a finished stream's: calls on it do nothing.
	before := h.ft.out.Len()
	respond(app.streams[0], 500, []byte("late"))
	app.streams[0].enc.Reset()
	if h.ft.out.Len() != before {
		t.Fatal("a call on a finished stream's encoder wrote to the connection")
	}
}

// A stream the manager released after answering early stays the codec's
// until the client ends its upload: only then may a new stream reuse it.
func TestReleasedStreamStillUploadingIsNotReused(t *testing.T) {
	app := &fakeApp{t: t}
	app.onHeaders = func(s *fakeStream) {
		if s.ended {
			respond(s, 200, []byte("ok"))
			s.enc.(codec.Releaser).Release()
			return
		}
		respond(s, 413, []byte("no")) // early answer, upload still coming
		s.enc.(codec.Releaser).Release()
	}
	h := newHarness(t, Options{}, app)
	h.post(1)
	h.mustFlush()
	h.get(3, "/b")
	h.mustFlush()
	upload := encoderOf(t, app, 0)
	if upload == encoderOf(t, app, 1) {
		t.Fatal("a stream still open on the wire was reused")
	}
	// The rest of the upload is still checked and dropped on stream 1.
	_ = h.cfr.WriteData(1, true, []byte("tail"))
	h.mustFlush()
	if n := h.c.ActiveStreams(); n != 0 {
		t.Fatalf("%d streams open after the upload ended", n)
	}
	h.get(5, "/c")
	h.mustFlush()
	if got := encoderOf(t, app, 2); got != upload && got != encoderOf(t, app, 1) {
		t.Fatal("no finished, released stream was reused")
	}
	if body, ended := responseBody(h.frames(), 5); string(body) != "ok" || !ended {
		t.Fatalf("stream 5 answered %q (ended %v)", body, ended)
	}
}

// Release drops the callbacks the manager gave: a flush notification and
// a writable callback registered before it never run afterwards.
func TestReleaseDropsTheManagersCallbacks(t *testing.T) {
	t.Run("flush notification", func(t *testing.T) {
		app := &fakeApp{t: t}
		h := newHarness(t, Options{}, app, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
		h.get(1, "/big")
		h.mustFlush()
		s := app.streams[0]
		s.enc.EncodeHeaders(newMap(":status", "200"), false)
		s.enc.EncodeData(bytes.Repeat([]byte("x"), 100), true) // 90 bytes wait for window
		flushed := 0
		if done, _ := s.enc.(codec.FlushNotifier).NotifyFlushed(func(bool) { flushed++ }); done {
			t.Fatal("the end of the response is on the wire before the window opened")
		}
		s.enc.(codec.Releaser).Release()
		_ = h.cfr.WriteWindowUpdate(1, 1000)
		h.mustFlush()
		if flushed != 0 {
			t.Fatalf("flush notification ran %d times after Release", flushed)
		}
		if body, ended := responseBody(h.frames(), 1); len(body) != 100 || !ended {
			t.Fatalf("response body %d bytes (ended %v), want 100", len(body), ended)
		}
		h.get(3, "/next")
		h.mustFlush()
		if encoderOf(t, app, 1) != s.enc.(*stream) {
			t.Fatal("the released stream, flushed and finished, was not reused")
		}
	})
	t.Run("writable", func(t *testing.T) {
		app := &fakeApp{t: t}
		h := newHarness(t, Options{StreamBufferLimit: 16}, app, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
		h.get(1, "/big")
		h.mustFlush()
		s := app.streams[0]
		writable := 0
		s.enc.SetWritableCallback(func() { writable++ })
		s.enc.EncodeHeaders(newMap(":status", "200"), false)
		s.enc.EncodeData(bytes.Repeat([]byte("x"), 100), false)
		if !s.enc.AboveWriteWatermark() {
			t.Fatal("90 bytes queued over a 16-byte stream limit are not above the watermark")
		}
		s.enc.(codec.Releaser).Release()
		_ = h.cfr.WriteWindowUpdate(1, 1000)
		h.mustFlush()
		if writable != 0 {
			t.Fatalf("writable callback ran %d times after Release", writable)
		}
	})
}

// A delivery posted for a stream (resumed reading) holds the stream: it is
// not reused until the posted work ran, even if the stream ended first.
func TestPostedDeliveryHoldsTheStream(t *testing.T) {
	app := &fakeApp{t: t}
	app.onHeaders = func(s *fakeStream) {
		if !s.ended {
			s.enc.ReadDisable(true)
			return
		}
		respond(s, 200, nil)
		s.enc.(codec.Releaser).Release()
	}
	h := newHarness(t, Options{}, app)
	h.post(1)
	_ = h.cfr.WriteData(1, false, []byte("held"))
	h.mustFlush()
	paused := app.streams[0]
	paused.enc.ReadDisable(false) // posts the delivery of "held"
	if len(h.ft.posted) != 1 {
		t.Fatalf("%d posted functions, want the delivery", len(h.ft.posted))
	}
	paused.enc.Reset()
	paused.enc.(codec.Releaser).Release()
	// Dispatch without running posted work: the delivery is still queued.
	_ = h.cfr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: h.encode(":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/"), EndStream: true, EndHeaders: true})
	h.in = append(h.in, h.wbuf.Bytes()...)
	h.wbuf.Reset()
	if _, err := h.c.Dispatch(h.in); err != nil {
		t.Fatal(err)
	}
	h.in = h.in[:0]
	if encoderOf(t, app, 1) == paused.enc.(*stream) {
		t.Fatal("a stream with a delivery posted for it was reused")
	}
	h.ft.runPosted()
	if len(paused.body) != 0 {
		t.Fatalf("a reset stream got %q delivered", paused.body)
	}
	if len(h.c.retired) == 0 || h.c.retired[len(h.c.retired)-1] != paused.enc.(*stream) {
		t.Fatal("the stream was not retired once its posted delivery ran")
	}
}

// FuzzDirectFramesMatchFramer: the frames readDirect parses itself
// (HEADERS with a whole block, WINDOW_UPDATE) have exactly the effect they
// have through the Framer, malformed ones included: two codecs, one with
// readDirect off, read the same bytes and must write the same bytes back,
// open the same streams and fail the same way.
func FuzzDirectFramesMatchFramer(f *testing.F) {
	var b bytes.Buffer
	fr := http2.NewFramer(&b, nil)
	fr.AllowIllegalWrites = true
	seed := func(write func()) {
		b.Reset()
		write()
		f.Add(append([]byte(nil), b.Bytes()...))
	}
	get := []byte{0x82, 0x86, 0x84, 0x41, 0x01, 'a'} // :method GET, :scheme http, :path /, :authority a
	seed(func() {
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: get, EndStream: true, EndHeaders: true})
		_ = fr.WriteWindowUpdate(0, 100)
		_ = fr.WriteWindowUpdate(1, 100)
	})
	seed(func() { // padded, with priority
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: get, EndStream: true, EndHeaders: true, PadLength: 7, Priority: http2.PriorityParam{StreamDep: 0, Weight: 15}})
	})
	seed(func() { // depends on itself
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: get, EndStream: true, EndHeaders: true, Priority: http2.PriorityParam{StreamDep: 3}})
	})
	seed(func() { // split block, then a HEADERS where CONTINUATION belongs
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: get[:2], EndStream: true})
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: get, EndStream: true, EndHeaders: true})
	})
	seed(func() { // split block finished by CONTINUATION, then a window update
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: get[:2], EndStream: true})
		_ = fr.WriteContinuation(1, true, get[2:])
		_ = fr.WriteWindowUpdate(1, 5)
	})
	seed(func() { _ = fr.WriteWindowUpdate(0, 0) })
	seed(func() { _ = fr.WriteWindowUpdate(1, 0) })
	seed(func() { _ = fr.WriteWindowUpdate(9, 1) })                                       // idle stream
	seed(func() { _ = fr.WriteRawFrame(http2.FrameWindowUpdate, 0, 0, []byte{0, 0, 1}) }) // short
	seed(func() {
		_ = fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersPadded, 1, []byte{200, 0x82})
	})
	seed(func() {
		_ = fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersPriority, 1, []byte{0, 0, 0})
	})
	seed(func() { _ = fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 0, get) })
	seed(func() { _ = fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 2, get) })
	f.Fuzz(func(t *testing.T, in []byte) {
		direct, framer := newDiffCodec(t, false), newDiffCodec(t, true)
		// In two pieces, so frames also arrive split.
		cut := len(in) / 3
		for _, part := range [][]byte{in[:cut], in} {
			nd, errD := direct.dispatch(part)
			nf, errF := framer.dispatch(part)
			if nd != nf || (errD == nil) != (errF == nil) || errD != nil && errD.Error() != errF.Error() {
				t.Fatalf("Dispatch: direct (%d, %v), framer (%d, %v)", nd, errD, nf, errF)
			}
		}
		if !bytes.Equal(direct.ft.out.Bytes(), framer.ft.out.Bytes()) {
			t.Fatalf("output differs:\ndirect %x\nframer %x", direct.ft.out.Bytes(), framer.ft.out.Bytes())
		}
		if len(direct.app.streams) != len(framer.app.streams) || direct.c.stats != framer.c.stats {
			t.Fatalf("streams %d vs %d, stats %+v vs %+v", len(direct.app.streams), len(framer.app.streams), direct.c.stats, framer.c.stats)
		}
	})
}

type diffCodec struct {
	ft   *fakeTransport
	c    *ServerCodec
	app  *fakeApp
	in   []byte
	done int
}

func newDiffCodec(t *testing.T, framerOnly bool) *diffCodec {
	d := &diffCodec{ft: &fakeTransport{now: time.Unix(1000, 0)}, app: releasingApp(t)}
	d.c = newServerCodec(d.ft, d.app, Options{MaxConcurrentStreams: 4}, nil)
	d.c.framerOnly = framerOnly
	var pre bytes.Buffer
	pre.WriteString(ClientPreface)
	_ = http2.NewFramer(&pre, nil).WriteSettings()
	if _, err := d.c.Dispatch(pre.Bytes()); err != nil {
		t.Fatal(err)
	}
	return d
}

// dispatch hands the connection everything of all it has not consumed yet.
func (d *diffCodec) dispatch(all []byte) (int, error) {
	d.in = append(d.in[:0], all[d.done:]...)
	n, err := d.c.Dispatch(d.in)
	d.done += n
	d.ft.runPosted()
	return n, err
}
