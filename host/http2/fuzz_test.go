package http2

import (
	"bytes"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/sluiceproxy/sluice/host/codec"
	"github.com/sluiceproxy/sluice/host/headers"
)

// FuzzDispatch feeds arbitrary frames, split at an arbitrary point, after a
// valid preface. The codec must never panic, never consume more than it was
// given, keep within its stream limit, and never call a stream after it was
// reset or ended (fakeStream reports that).
func FuzzDispatch(f *testing.F) {
	var b bytes.Buffer
	fr := http2.NewFramer(&b, nil)
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, kv := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/"}, {"content-length", "3"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true})
	_ = fr.WriteData(1, true, []byte("abc"))
	_ = fr.WritePing(false, [8]byte{1})
	_ = fr.WriteWindowUpdate(0, 100)
	f.Add(append([]byte(nil), b.Bytes()...), uint16(20))
	b.Reset()
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: hb.Bytes()[:3]})
	_ = fr.WriteContinuation(3, true, hb.Bytes()[3:])
	_ = fr.WriteRSTStream(3, http2.ErrCodeCancel)
	_ = fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
	f.Add(append([]byte(nil), b.Bytes()...), uint16(7))

	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		app := echoApp(t)
		ft := &fakeTransport{now: time.Unix(1, 0)}
		c := newServerCodec(ft, app, Options{MaxConcurrentStreams: 4}, nil)
		var pre bytes.Buffer
		pre.WriteString(ClientPreface)
		_ = http2.NewFramer(&pre, nil).WriteSettings()
		in := append(pre.Bytes(), data...)
		cut := len(pre.Bytes()) + int(split)%(len(data)+1)
		n, err := c.Dispatch(in[:cut])
		if n > cut {
			t.Fatalf("consumed %d of %d", n, cut)
		}
		if err == nil {
			rest := in[n:]
			m, err := c.Dispatch(rest)
			if m > len(rest) {
				t.Fatalf("consumed %d of %d", m, len(rest))
			}
			_ = err
		}
		ft.runPosted()
		if c.ActiveStreams() > 4 {
			t.Fatalf("%d streams over a limit of 4", c.ActiveStreams())
		}
		c.OnConnectionClose()
		if c.ActiveStreams() != 0 {
			t.Fatalf("streams left after close")
		}
	})
}

// chaosApp answers each stream in a way picked from the fuzz input: early
// response, echo at the end, pause and resume delivery, reset mid-body,
// large body under backpressure.
type chaosApp struct {
	t     *testing.T
	picks []byte
	n     int
	ft    *fakeTransport
	live  map[*chaosStream]bool
}

type chaosStream struct {
	app   *chaosApp
	enc   codec.ResponseEncoder
	mode  byte
	done  bool
	ended bool
}

func (a *chaosApp) NewStream(enc codec.ResponseEncoder) codec.RequestDecoder {
	var mode byte
	if len(a.picks) > 0 {
		mode = a.picks[a.n%len(a.picks)] % 5
	}
	a.n++
	s := &chaosStream{app: a, enc: enc, mode: mode}
	a.live[s] = true
	return s
}

func (s *chaosStream) check(what string) {
	if s.done {
		s.app.t.Fatalf("%s after the stream finished", what)
	}
}

func (s *chaosStream) finish() { s.done = true; delete(s.app.live, s) }

func (s *chaosStream) respond(body int) {
	s.enc.EncodeHeaders(newMap(":status", "200"), body == 0)
	if body > 0 {
		for body > 0 && !s.enc.AboveWriteWatermark() {
			n := min(body, 5000)
			body -= n
			s.enc.EncodeData(make([]byte, n), body == 0)
		}
		if body > 0 {
			s.enc.Reset() // a real manager would wait; the codec must cope either way
		}
	}
	s.finish()
}

func (s *chaosStream) DecodeHeaders(h *headers.Map, end bool) {
	s.check("DecodeHeaders")
	s.ended = end
	switch s.mode {
	case 0:
		s.respond(10)
	case 2:
		s.enc.ReadDisable(true)
		s.app.ft.Post(func() {
			if !s.done {
				s.enc.ReadDisable(false)
			}
		})
	}
	if end && !s.done {
		s.respond(int(s.mode) * 3000)
	}
}

func (s *chaosStream) DecodeData(p []byte, end bool) {
	s.check("DecodeData")
	if s.ended {
		s.app.t.Fatalf("DecodeData after END_STREAM")
	}
	s.ended = end
	if s.mode == 3 && len(p) > 0 {
		s.enc.Reset()
		s.finish()
		return
	}
	if end {
		s.respond(int(s.mode) * 3000)
	}
}

func (s *chaosStream) DecodeTrailers(*headers.Map) {
	s.check("DecodeTrailers")
	s.ended = true
	s.respond(1)
}

func (s *chaosStream) OnReset(codec.ResetReason) {
	s.check("OnReset")
	s.finish()
}

func FuzzChaos(f *testing.F) {
	var b bytes.Buffer
	fr := http2.NewFramer(&b, nil)
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, kv := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	blk := append([]byte(nil), hb.Bytes()...)
	for id := uint32(1); id < 12; id += 2 {
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: blk, EndHeaders: true})
		_ = fr.WriteData(id, false, []byte("ab"))
		_ = fr.WriteData(id, true, []byte("c"))
	}
	_ = fr.WriteWindowUpdate(0, 50000)
	f.Add(append([]byte(nil), b.Bytes()...), []byte{0, 1, 2, 3, 4, 2})

	f.Fuzz(func(t *testing.T, data, picks []byte) {
		ft := &fakeTransport{now: time.Unix(1, 0)}
		app := &chaosApp{t: t, picks: picks, ft: ft, live: map[*chaosStream]bool{}}
		c := newServerCodec(ft, app, Options{MaxConcurrentStreams: 8, StreamBufferLimit: 4096}, nil)
		var pre bytes.Buffer
		pre.WriteString(ClientPreface)
		_ = http2.NewFramer(&pre, nil).WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 3000})
		in := append(pre.Bytes(), data...)
		// Arrive 64 bytes at a time, as a socket might deliver them.
		var buf []byte
		for len(in) > 0 {
			step := min(len(in), 64)
			buf = append(buf, in[:step]...)
			in = in[step:]
			n, err := c.Dispatch(buf)
			if err != nil {
				break
			}
			buf = buf[n:]
			ft.runPosted()
			c.OnWritable()
		}
		ft.runPosted()
		c.OnConnectionClose()
		if len(app.live) != 0 {
			t.Fatalf("%d streams never finished or reset", len(app.live))
		}
		if c.QueuedBytes() != 0 {
			t.Fatalf("queued %d after close", c.QueuedBytes())
		}
	})
}
