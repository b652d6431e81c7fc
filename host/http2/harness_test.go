package http2

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/sluiceproxy/sluice/host/codec"
	"github.com/sluiceproxy/sluice/host/headers"
)

// ---- in-memory transport ----

type fakeTimer struct {
	at      time.Time
	fn      func()
	stopped bool
}

func (t *fakeTimer) Stop() bool { was := !t.stopped; t.stopped = true; return was }

type fakeTransport struct {
	out        bytes.Buffer
	holdOutput bool // Pending reports all output ever written: a peer that never reads
	written    int
	above      bool
	now        time.Time
	timers     []*fakeTimer
	posted     []func()
}

func (f *fakeTransport) Write(p []byte) { f.out.Write(p); f.written += len(p) }
func (f *fakeTransport) Pending() int {
	if f.holdOutput {
		return f.written
	}
	return 0
}
func (f *fakeTransport) AboveHighWatermark() bool { return f.above }
func (f *fakeTransport) Now() time.Time           { return f.now }
func (f *fakeTransport) Post(fn func())           { f.posted = append(f.posted, fn) }
func (f *fakeTransport) AfterFunc(d time.Duration, fn func()) stopper {
	t := &fakeTimer{at: f.now.Add(d), fn: fn}
	f.timers = append(f.timers, t)
	return t
}

// advance moves the clock and fires due timers.
func (f *fakeTransport) advance(d time.Duration) {
	f.now = f.now.Add(d)
	for _, t := range f.timers {
		if !t.stopped && !t.at.After(f.now) {
			t.stopped = true
			t.fn()
		}
	}
}

func (f *fakeTransport) runPosted() {
	for len(f.posted) > 0 {
		fn := f.posted[0]
		f.posted = f.posted[1:]
		fn()
	}
}

// ---- fake connection manager ----

type fakeStream struct {
	app      *fakeApp
	enc      codec.ResponseEncoder
	h        *headers.Map
	body     []byte
	ended    bool
	trailers *headers.Map
	resetBy  codec.ResetReason
	events   int
}

func (s *fakeStream) DecodeHeaders(h *headers.Map, end bool) {
	if s.events != 0 {
		s.app.t.Errorf("DecodeHeaders twice")
	}
	s.h, s.ended = h, end
	s.events++
	if s.app.onHeaders != nil {
		s.app.onHeaders(s)
	}
	if end {
		s.complete()
	}
}

func (s *fakeStream) DecodeData(p []byte, end bool) {
	if s.ended || s.resetBy != 0 {
		s.app.t.Errorf("DecodeData after end/reset")
	}
	s.body = append(s.body, p...)
	s.ended = end
	s.events++
	if s.app.onData != nil {
		s.app.onData(s, p)
	}
	if end {
		s.complete()
	}
}

func (s *fakeStream) DecodeTrailers(t *headers.Map) {
	if s.ended || s.resetBy != 0 {
		s.app.t.Errorf("DecodeTrailers after end/reset")
	}
	s.trailers, s.ended = t, true
	s.events++
	s.complete()
}

func (s *fakeStream) OnReset(r codec.ResetReason) {
	if s.resetBy != 0 {
		s.app.t.Errorf("OnReset twice")
	}
	s.resetBy = r
}

func (s *fakeStream) complete() {
	if s.app.onEnd != nil {
		s.app.onEnd(s)
	}
}

type fakeApp struct {
	t         *testing.T
	streams   []*fakeStream
	onHeaders func(s *fakeStream)
	onData    func(s *fakeStream, p []byte)
	onEnd     func(s *fakeStream)
}

func (a *fakeApp) NewStream(enc codec.ResponseEncoder) codec.RequestDecoder {
	s := &fakeStream{app: a, enc: enc}
	a.streams = append(a.streams, s)
	return s
}

// echoApp answers every finished request 200 with its body echoed back.
func echoApp(t *testing.T) *fakeApp {
	a := &fakeApp{t: t}
	a.onEnd = func(s *fakeStream) { respond(s, 200, s.body) }
	return a
}

func respond(s *fakeStream, status int, body []byte) {
	var h headers.Map
	h.SetStatus(status)
	h.SetString("content-type", "text/plain")
	s.enc.EncodeHeaders(&h, len(body) == 0)
	if len(body) > 0 {
		s.enc.EncodeData(body, true)
	}
}

// ---- client side ----

type harness struct {
	t    *testing.T
	ft   *fakeTransport
	c    *ServerCodec
	app  *fakeApp
	wbuf bytes.Buffer
	in   []byte
	cfr  *http2.Framer
	henc *hpack.Encoder
	hbuf bytes.Buffer
	err  error
}

// newHarness connects a client framer to a codec: preface, empty SETTINGS,
// and it consumes the server's SETTINGS and WINDOW_UPDATE and ACKs them.
func newHarness(t *testing.T, opts Options, app *fakeApp, clientSettings ...http2.Setting) *harness {
	t.Helper()
	h := &harness{t: t, ft: &fakeTransport{now: time.Unix(1000, 0)}, app: app}
	h.c = newServerCodec(h.ft, app, opts, nil)
	h.cfr = http2.NewFramer(&h.wbuf, &h.ft.out)
	h.cfr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.cfr.MaxHeaderListSize = 1 << 20
	h.henc = hpack.NewEncoder(&h.hbuf)
	h.wbuf.WriteString(ClientPreface)
	if err := h.cfr.WriteSettings(clientSettings...); err != nil {
		t.Fatal(err)
	}
	h.mustFlush()
	f := h.next()
	if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
		t.Fatalf("first server frame = %v, want SETTINGS", f)
	}
	h.expectSettingsAckAndDrain()
	_ = h.cfr.WriteSettingsAck()
	h.mustFlush()
	return h
}

// expectSettingsAckAndDrain reads frames until the ACK of our SETTINGS.
func (h *harness) expectSettingsAckAndDrain() {
	h.t.Helper()
	for {
		f := h.next()
		if sf, ok := f.(*http2.SettingsFrame); ok && sf.IsAck() {
			return
		}
	}
}

// flush hands everything the client wrote to Dispatch, keeping unconsumed
// bytes as the worker would, then runs posted work.
func (h *harness) flush() error {
	h.in = append(h.in, h.wbuf.Bytes()...)
	h.wbuf.Reset()
	n, err := h.c.Dispatch(h.in)
	h.in = h.in[n:]
	h.ft.runPosted()
	h.err = err
	return err
}

func (h *harness) mustFlush() {
	h.t.Helper()
	if err := h.flush(); err != nil {
		h.t.Fatalf("Dispatch: %v", err)
	}
}

// next reads the next server frame; the test fails if there is none.
func (h *harness) next() http2.Frame {
	h.t.Helper()
	f, err := h.cfr.ReadFrame()
	if err != nil {
		h.t.Fatalf("reading server frame: %v", err)
	}
	return f
}

// frames reads every server frame written so far.
func (h *harness) frames() []http2.Frame {
	h.t.Helper()
	var out []http2.Frame
	for {
		f, err := h.cfr.ReadFrame()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			h.t.Fatalf("reading server frame: %v", err)
		}
		if d, ok := f.(*http2.DataFrame); ok {
			// The framer reuses its buffer: keep a copy.
			out = append(out, &copiedData{id: d.StreamID, end: d.StreamEnded(), data: append([]byte(nil), d.Data()...)})
			continue
		}
		out = append(out, f)
	}
}

type copiedData struct {
	http2.Frame
	id   uint32
	end  bool
	data []byte
}

// encode HPACK-encodes pairs name, value, ...
func (h *harness) encode(kv ...string) []byte {
	h.hbuf.Reset()
	for i := 0; i < len(kv); i += 2 {
		_ = h.henc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return append([]byte(nil), h.hbuf.Bytes()...)
}

func (h *harness) headers(id uint32, end bool, kv ...string) {
	_ = h.cfr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: h.encode(kv...), EndStream: end, EndHeaders: true})
}

// get writes a GET request on id.
func (h *harness) get(id uint32, path string) {
	h.headers(id, true, ":method", "GET", ":scheme", "http", ":authority", "example.com", ":path", path)
}

func (h *harness) post(id uint32, extra ...string) {
	kv := append([]string{":method", "POST", ":scheme", "http", ":authority", "example.com", ":path", "/up"}, extra...)
	h.headers(id, false, kv...)
}

// ---- frame assertions ----

func findRST(fs []http2.Frame, id uint32) (http2.ErrCode, bool) {
	for _, f := range fs {
		if r, ok := f.(*http2.RSTStreamFrame); ok && r.StreamID == id {
			return r.ErrCode, true
		}
	}
	return 0, false
}

func findGoAway(fs []http2.Frame) *http2.GoAwayFrame {
	for _, f := range fs {
		if g, ok := f.(*http2.GoAwayFrame); ok {
			return g
		}
	}
	return nil
}

func responseHeaders(fs []http2.Frame, id uint32) []*http2.MetaHeadersFrame {
	var out []*http2.MetaHeadersFrame
	for _, f := range fs {
		if m, ok := f.(*http2.MetaHeadersFrame); ok && m.StreamID == id {
			out = append(out, m)
		}
	}
	return out
}

func responseBody(fs []http2.Frame, id uint32) (body []byte, ended bool) {
	for _, f := range fs {
		if d, ok := f.(*copiedData); ok && d.id == id {
			body = append(body, d.data...)
			ended = ended || d.end
		}
	}
	return body, ended
}

func wantRST(t *testing.T, fs []http2.Frame, id uint32, code http2.ErrCode) {
	t.Helper()
	got, ok := findRST(fs, id)
	if !ok {
		t.Fatalf("no RST_STREAM on stream %d in %v", id, fs)
	}
	if got != code {
		t.Fatalf("RST_STREAM(%d) code = %v, want %v", id, got, code)
	}
}

func wantGoAway(t *testing.T, h *harness, code http2.ErrCode) *http2.GoAwayFrame {
	t.Helper()
	g := findGoAway(h.frames())
	if g == nil {
		t.Fatalf("no GOAWAY")
	}
	if g.ErrCode != code {
		t.Fatalf("GOAWAY code = %v (%q), want %v", g.ErrCode, g.DebugData(), code)
	}
	var ce *ConnError
	if !errors.As(h.err, &ce) || ce.Code != code {
		t.Fatalf("Dispatch error = %v, want ConnError %v", h.err, code)
	}
	return g
}

func newMap(kv ...string) *headers.Map {
	m := new(headers.Map)
	for i := 0; i < len(kv); i += 2 {
		m.AddString(kv[i], kv[i+1])
	}
	return m
}

func mustGet(m *headers.Map, name string) []byte {
	v, _ := m.Get(name)
	return v
}
