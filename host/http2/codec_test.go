package http2

import (
	"bytes"
	"reflect"
	"testing"

	"golang.org/x/net/http2"

	"github.com/sluiceproxy/sluice/host/codec"
)

func TestIsPreface(t *testing.T) {
	cases := []struct {
		in              string
		match, needMore bool
	}{
		{"", false, true},
		{"PRI * HTTP/2", false, true},
		{ClientPreface, true, false},
		{ClientPreface + "\x00\x00", true, false},
		{"GET / HTTP/1.1\r\n", false, false},
		{"PRI * HTTP/1.1\r\n", false, false},
	}
	for _, c := range cases {
		m, n := IsPreface([]byte(c.in))
		if m != c.match || n != c.needMore {
			t.Errorf("IsPreface(%q) = %v,%v want %v,%v", c.in, m, n, c.match, c.needMore)
		}
	}
}

func TestSimpleGET(t *testing.T) {
	app := echoApp(t)
	app.onEnd = func(s *fakeStream) { respond(s, 200, []byte("hello")) }
	h := newHarness(t, Options{}, app)
	h.get(1, "/a?b")
	h.mustFlush()
	if len(app.streams) != 1 {
		t.Fatalf("streams = %d", len(app.streams))
	}
	req := app.streams[0].h
	if string(req.Method()) != "GET" || string(req.Path()) != "/a?b" || string(req.Authority()) != "example.com" || string(req.Scheme()) != "http" {
		t.Fatalf("pseudo-headers: %q %q %q %q", req.Method(), req.Path(), req.Authority(), req.Scheme())
	}
	fs := h.frames()
	hs := responseHeaders(fs, 1)
	if len(hs) != 1 || hs[0].PseudoValue("status") != "200" || hs[0].StreamEnded() {
		t.Fatalf("response headers %v", hs)
	}
	if body, end := responseBody(fs, 1); string(body) != "hello" || !end {
		t.Fatalf("body %q end %v", body, end)
	}
	if h.c.ActiveStreams() != 0 {
		t.Fatalf("ActiveStreams = %d after the exchange", h.c.ActiveStreams())
	}
	if _, ok := findRST(fs, 1); ok {
		t.Fatalf("unexpected RST_STREAM")
	}
}

// Frames arriving one byte at a time must give the same result: Dispatch
// consumes only whole frames.
func TestDispatchByteByByte(t *testing.T) {
	app := echoApp(t)
	h := newHarness(t, Options{}, app)
	h.post(1, "content-length", "3")
	_ = h.cfr.WriteData(1, true, []byte("abc"))
	all := append([]byte(nil), h.wbuf.Bytes()...)
	h.wbuf.Reset()
	for _, b := range all {
		h.wbuf.WriteByte(b)
		h.mustFlush()
	}
	if len(app.streams) != 1 || string(app.streams[0].body) != "abc" {
		t.Fatalf("streams %d", len(app.streams))
	}
	if body, _ := responseBody(h.frames(), 1); string(body) != "abc" {
		t.Fatalf("echo %q", body)
	}
}

func TestPostEchoMultipleData(t *testing.T) {
	app := echoApp(t)
	h := newHarness(t, Options{}, app)
	h.post(1, "content-length", "10")
	_ = h.cfr.WriteData(1, false, []byte("01234"))
	_ = h.cfr.WriteDataPadded(1, true, []byte("56789"), make([]byte, 7))
	h.mustFlush()
	body, end := responseBody(h.frames(), 1)
	if string(body) != "0123456789" || !end {
		t.Fatalf("echo %q %v", body, end)
	}
}

func TestContentLengthMismatch(t *testing.T) {
	for _, tc := range []struct {
		name string
		cl   string
		data []string
	}{
		{"short", "10", []string{"abc"}},
		{"long", "2", []string{"ab", "c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := echoApp(t)
			h := newHarness(t, Options{}, app)
			h.post(1, "content-length", tc.cl)
			for i, d := range tc.data {
				_ = h.cfr.WriteData(1, i == len(tc.data)-1, []byte(d))
			}
			h.mustFlush()
			wantRST(t, h.frames(), 1, http2.ErrCodeProtocol)
			if app.streams[0].resetBy != codec.ResetProtocolError {
				t.Fatalf("OnReset = %v", app.streams[0].resetBy)
			}
		})
	}
	// END_STREAM on HEADERS with a positive content-length.
	app := echoApp(t)
	h := newHarness(t, Options{}, app)
	h.headers(1, true, ":method", "POST", ":scheme", "http", ":path", "/", "content-length", "5")
	h.mustFlush()
	wantRST(t, h.frames(), 1, http2.ErrCodeProtocol)
	if len(app.streams) != 0 {
		t.Fatalf("malformed request reached the manager")
	}
}

func TestMalformedRequests(t *testing.T) {
	base := []string{":method", "GET", ":scheme", "http", ":path", "/"}
	cases := map[string][]string{
		"uppercase name":        append(base, "X-Foo", "1"),
		"connection header":     append(base, "connection", "keep-alive"),
		"keep-alive":            append(base, "keep-alive", "5"),
		"transfer-encoding":     append(base, "transfer-encoding", "chunked"),
		"upgrade":               append(base, "upgrade", "h2c"),
		"te gzip":               append(base, "te", "gzip"),
		"pseudo after regular":  {":method", "GET", ":scheme", "http", "x", "1", ":path", "/"},
		"missing path":          {":method", "GET", ":scheme", "http"},
		"missing method":        {":scheme", "http", ":path", "/"},
		"missing scheme":        {":method", "GET", ":path", "/"},
		"duplicate method":      {":method", "GET", ":method", "GET", ":scheme", "http", ":path", "/"},
		"unknown pseudo":        append(base, ":foo", "x"),
		"response pseudo":       append(base, ":status", "200"),
		"empty path":            {":method", "GET", ":scheme", "http", ":path", ""},
		"CONNECT with path":     {":method", "CONNECT", ":authority", "a:443", ":path", "/"},
		"CONNECT no authority":  {":method", "CONNECT"},
		"bad value char":        append(base, "x", "a\x00b"),
		"bad name char":         append(base, "x y", "1"),
		"bad content-length":    append(base, "content-length", "1x"),
		"two content-lengths":   append(base, "content-length", "1", "content-length", "2"),
		"method with space":     {":method", "GET /x HTTP/1.1", ":scheme", "http", ":path", "/"},
		"path with space":       {":method", "GET", ":scheme", "http", ":path", "/a b"},
		"path with CRLF":        {":method", "GET", ":scheme", "http", ":path", "/a\r\nx: y"},
		"relative path":         {":method", "GET", ":scheme", "http", ":path", "a"},
		"star path for GET":     {":method", "GET", ":scheme", "http", ":path", "*"},
		"bad authority":         {":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a b"},
		"empty authority":       {":method", "GET", ":scheme", "http", ":path", "/", ":authority", ""},
		"bad scheme":            {":method", "GET", ":scheme", "ht tp", ":path", "/"},
		"scheme starting digit": {":method", "GET", ":scheme", "1http", ":path", "/"},
	}
	for name, kv := range cases {
		t.Run(name, func(t *testing.T) {
			app := echoApp(t)
			h := newHarness(t, Options{}, app)
			h.headers(1, true, kv...)
			h.mustFlush()
			wantRST(t, h.frames(), 1, http2.ErrCodeProtocol)
			if len(app.streams) != 0 {
				t.Fatalf("malformed request reached the manager")
			}
			// The connection survives: the next request works.
			h.get(3, "/ok")
			h.mustFlush()
			if hs := responseHeaders(h.frames(), 3); len(hs) != 1 {
				t.Fatalf("no response on the next stream")
			}
		})
	}
}

func TestValidEdgeRequests(t *testing.T) {
	app := echoApp(t)
	h := newHarness(t, Options{}, app)
	h.headers(1, true, ":method", "GET", ":scheme", "http", ":path", "/", "te", "trailers",
		"cookie", "a=1", "x", "y", "cookie", "b=2", "cookie", "c=3")
	h.headers(3, true, ":method", "CONNECT", ":authority", "example.com:443")
	h.headers(5, true, ":method", "OPTIONS", ":scheme", "https", ":path", "*", ":authority", "[::1]:8443")
	h.mustFlush()
	if len(app.streams) != 3 {
		t.Fatalf("streams %d", len(app.streams))
	}
	req := app.streams[0].h
	if n := req.Count("cookie"); n != 1 {
		t.Fatalf("cookie fields = %d, want joined into 1", n)
	}
	if v, _ := req.Get("cookie"); string(v) != "a=1; b=2; c=3" {
		t.Fatalf("cookie = %q", v)
	}
	if v, _ := req.Get("te"); string(v) != "trailers" {
		t.Fatalf("te = %q", v)
	}
}

func TestHostAndAuthority(t *testing.T) {
	app := &fakeApp{t: t}
	h := newHarness(t, Options{}, app)
	h.headers(1, true, ":method", "GET", ":scheme", "http", ":path", "/", "host", "only-host.example")
	h.headers(3, true, ":method", "GET", ":scheme", "http", ":path", "/", ":authority", "auth.example", "host", "other.example")
	h.headers(5, true, ":method", "GET", ":scheme", "http", ":path", "/", "host", "a", "host", "b")
	h.mustFlush()
	if len(app.streams) != 2 {
		t.Fatalf("streams %d", len(app.streams))
	}
	if a := app.streams[0].h.Authority(); string(a) != "only-host.example" || app.streams[0].h.Has("host") {
		t.Fatalf(":authority %q, host kept %v", a, app.streams[0].h.Has("host"))
	}
	if a := app.streams[1].h.Authority(); string(a) != "auth.example" || app.streams[1].h.Has("host") {
		t.Fatalf(":authority %q, host kept %v", a, app.streams[1].h.Has("host"))
	}
	wantRST(t, h.frames(), 5, http2.ErrCodeProtocol)
}

func TestRequestAndResponseTrailers(t *testing.T) {
	app := &fakeApp{t: t}
	app.onEnd = func(s *fakeStream) {
		var rh, tr = newMap(":status", "200"), newMap("grpc-status", "0")
		s.enc.EncodeHeaders(rh, false)
		s.enc.EncodeData([]byte("body"), false)
		s.enc.EncodeTrailers(tr)
	}
	h := newHarness(t, Options{}, app)
	h.post(1)
	_ = h.cfr.WriteData(1, false, []byte("xy"))
	h.headers(1, true, "checksum", "abc")
	h.mustFlush()
	s := app.streams[0]
	if s.trailers == nil || string(mustGet(s.trailers, "checksum")) != "abc" || string(s.body) != "xy" {
		t.Fatalf("request trailers %v body %q", s.trailers, s.body)
	}
	fs := h.frames()
	hs := responseHeaders(fs, 1)
	if len(hs) != 2 || !hs[1].StreamEnded() || hs[1].Fields[0].Name != "grpc-status" {
		t.Fatalf("response headers/trailers: %v", hs)
	}
	if body, end := responseBody(fs, 1); string(body) != "body" || end {
		t.Fatalf("body %q, DATA end %v (END_STREAM belongs on the trailers)", body, end)
	}
}

func TestTrailersWithoutEndStream(t *testing.T) {
	app := echoApp(t)
	h := newHarness(t, Options{}, app)
	h.post(1)
	h.headers(1, false, "x", "1")
	h.mustFlush()
	wantRST(t, h.frames(), 1, http2.ErrCodeProtocol)
	if app.streams[0].resetBy != codec.ResetProtocolError {
		t.Fatalf("OnReset = %v", app.streams[0].resetBy)
	}
}

func TestPseudoHeaderInTrailers(t *testing.T) {
	app := echoApp(t)
	h := newHarness(t, Options{}, app)
	h.post(1)
	h.headers(1, true, ":path", "/x")
	h.mustFlush()
	wantRST(t, h.frames(), 1, http2.ErrCodeProtocol)
}

func TestConcurrentStreamLimit(t *testing.T) {
	app := &fakeApp{t: t}
	h := newHarness(t, Options{MaxConcurrentStreams: 2}, app)
	h.post(1)
	h.post(3)
	h.post(5)
	h.mustFlush()
	fs := h.frames()
	wantRST(t, fs, 5, http2.ErrCodeRefusedStream)
	if len(app.streams) != 2 || h.c.Stats().StreamsRefused != 1 {
		t.Fatalf("streams %d refused %d", len(app.streams), h.c.Stats().StreamsRefused)
	}
	// Finishing one (both directions) frees a slot.
	app.streams[0].enc.EncodeHeaders(newMap(":status", "204"), true)
	_ = h.cfr.WriteData(1, true, nil)
	h.post(7)
	h.mustFlush()
	if len(app.streams) != 3 {
		t.Fatalf("stream 7 not opened after a slot freed")
	}
}

func TestPing(t *testing.T) {
	h := newHarness(t, Options{}, echoApp(t))
	data := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	_ = h.cfr.WritePing(false, data)
	_ = h.cfr.WritePing(true, data) // an ACK is not answered
	h.mustFlush()
	fs := h.frames()
	if len(fs) != 1 {
		t.Fatalf("frames %v", fs)
	}
	p, ok := fs[0].(*http2.PingFrame)
	if !ok || !p.IsAck() || p.Data != data {
		t.Fatalf("got %v", fs[0])
	}
}

func TestClientReset(t *testing.T) {
	app := &fakeApp{t: t}
	h := newHarness(t, Options{}, app)
	h.post(1)
	h.mustFlush()
	_ = h.cfr.WriteRSTStream(1, http2.ErrCodeCancel)
	_ = h.cfr.WriteData(1, false, []byte("late")) // in flight: ignored quietly? no, stream is closed
	h.mustFlush()
	s := app.streams[0]
	if s.resetBy != codec.ResetRemote || h.c.ActiveStreams() != 0 || h.c.Stats().ClientResets != 1 {
		t.Fatalf("reset %v active %d", s.resetBy, h.c.ActiveStreams())
	}
	wantRST(t, h.frames(), 1, http2.ErrCodeStreamClosed)
	// An encoder call after the reset is ignored.
	s.enc.EncodeHeaders(newMap(":status", "200"), true)
	if fs := h.frames(); len(fs) != 0 {
		t.Fatalf("frames after reset: %v", fs)
	}
}

func TestLocalResetAndLateData(t *testing.T) {
	app := &fakeApp{t: t}
	h := newHarness(t, Options{}, app)
	h.post(1)
	h.mustFlush()
	app.streams[0].enc.Reset()
	wantRST(t, h.frames(), 1, http2.ErrCodeInternal)
	_ = h.cfr.WriteData(1, false, []byte("in flight"))
	h.mustFlush()
	if fs := h.frames(); len(fs) != 0 {
		t.Fatalf("DATA racing our RST must be ignored, got %v", fs)
	}
	if app.streams[0].resetBy != 0 {
		t.Fatalf("OnReset called for a manager-initiated reset")
	}
}

// A response that completes before the request: the manager is done with
// the stream, the codec keeps checking (and dropping) what the client still
// sends, and cuts a large upload short with RST_STREAM(NO_ERROR).
func TestEarlyResponse(t *testing.T) {
	early := func(t *testing.T) (*harness, *fakeApp) {
		app := &fakeApp{t: t}
		app.onHeaders = func(s *fakeStream) { s.enc.EncodeHeaders(newMap(":status", "413"), true) }
		h := newHarness(t, Options{}, app)
		h.post(1, "content-length", "100000")
		h.mustFlush()
		if hs := responseHeaders(h.frames(), 1); len(hs) != 1 || !hs[0].StreamEnded() {
			t.Fatalf("no early response")
		}
		return h, app
	}
	t.Run("small remainder is read", func(t *testing.T) {
		h, app := early(t)
		_ = h.cfr.WriteData(1, false, make([]byte, 1000))
		h.mustFlush()
		if fs := h.frames(); len(fs) != 1 || windowUpdates(fs)[1] != 1000 {
			t.Fatalf("dropped bytes must be credited back: %v", fs)
		}
		if app.streams[0].events != 1 || app.streams[0].resetBy != 0 {
			t.Fatalf("the finished stream was called again: events %d reset %v", app.streams[0].events, app.streams[0].resetBy)
		}
		if h.c.ActiveStreams() != 1 {
			t.Fatalf("active %d, want the early-answered stream still open", h.c.ActiveStreams())
		}
	})
	t.Run("content-length still checked", func(t *testing.T) {
		h, app := early(t)
		_ = h.cfr.WriteData(1, true, []byte("short"))
		h.mustFlush()
		wantRST(t, h.frames(), 1, http2.ErrCodeProtocol)
		if app.streams[0].resetBy != 0 || h.c.ActiveStreams() != 0 {
			t.Fatalf("OnReset after the manager finished / active %d", h.c.ActiveStreams())
		}
	})
	t.Run("large upload is cut short", func(t *testing.T) {
		h, _ := early(t)
		for i := 0; i < 5; i++ {
			_ = h.cfr.WriteData(1, false, make([]byte, 16384))
		}
		h.mustFlush()
		wantRST(t, h.frames(), 1, http2.ErrCodeNo)
		if h.c.ActiveStreams() != 0 {
			t.Fatalf("active %d", h.c.ActiveStreams())
		}
		_ = h.cfr.WriteData(1, false, make([]byte, 100)) // in flight: ignored
		h.mustFlush()
		if fs := h.frames(); len(fs) != 0 {
			t.Fatalf("frames %v", fs)
		}
	})
	t.Run("client reset is not a rapid reset", func(t *testing.T) {
		h, app := early(t)
		_ = h.cfr.WriteRSTStream(1, http2.ErrCodeCancel)
		h.mustFlush()
		if h.c.Stats().ClientResets != 0 || app.streams[0].resetBy != 0 || h.c.ActiveStreams() != 0 {
			t.Fatalf("stats %+v", h.c.Stats())
		}
	})
}

// An early response larger than the client's window (RFC 9113 8.1): the
// upload goes on past the discard limit while the response waits for
// window, so it is credited, never reset; the manager hears whether its
// response got out, and only after END_STREAM is on the wire does
// RST_STREAM(NO_ERROR) stop the upload.
func TestEarlyResponseWaitsForItsFlush(t *testing.T) {
	body := bytes.Repeat([]byte("r"), 80<<10)
	start := func(t *testing.T) (*harness, *fakeStream, *[]bool) {
		app := &fakeApp{t: t}
		var outcome []bool
		app.onHeaders = func(s *fakeStream) {
			s.enc.EncodeHeaders(newMap(":status", "200"), false)
			s.enc.EncodeData(body, false)
			s.enc.EncodeTrailers(newMap("grpc-status", "7"))
			fn := s.enc.(codec.FlushNotifier)
			if done, _ := fn.NotifyFlushed(func(complete bool) { outcome = append(outcome, complete) }); done {
				t.Errorf("80 KiB cannot be out through a 64 KiB window")
			}
		}
		h := newHarness(t, Options{}, app)
		h.post(1)
		h.mustFlush()
		got, _ := responseBody(h.frames(), 1)
		if len(got) != 65535 {
			t.Fatalf("first flight %d bytes, want the client's window", len(got))
		}
		if w := app.streams[0].enc.(codec.FlushNotifier).BodyBytesWritten(); w != 65535 {
			t.Fatalf("BodyBytesWritten %d", w)
		}
		// 12.5 MiB of upload in 16 KiB frames, each window credited back.
		for sent := 0; sent < 800*16384; sent += 16384 {
			_ = h.cfr.WriteData(1, false, make([]byte, 16384))
			h.mustFlush()
			for _, f := range h.frames() {
				if r, ok := f.(*http2.RSTStreamFrame); ok {
					t.Fatalf("RST_STREAM(%v) after %d uploaded bytes, before the response was out", r.ErrCode, sent)
				}
			}
		}
		if len(outcome) != 0 {
			t.Fatalf("flush reported early: %v", outcome)
		}
		return h, app.streams[0], &outcome
	}
	t.Run("window opens", func(t *testing.T) {
		h, s, outcome := start(t)
		_ = h.cfr.WriteWindowUpdate(0, 1<<20)
		_ = h.cfr.WriteWindowUpdate(1, 1<<20)
		h.mustFlush()
		fs := h.frames()
		rest, _ := responseBody(fs, 1)
		if len(rest) != len(body)-65535 {
			t.Fatalf("rest %d bytes", len(rest))
		}
		if hs := responseHeaders(fs, 1); len(hs) != 1 || !hs[0].StreamEnded() || hs[0].PseudoValue("status") != "" {
			t.Fatalf("trailers %v", hs)
		}
		wantRST(t, fs, 1, http2.ErrCodeNo)
		if len(*outcome) != 1 || !(*outcome)[0] || s.enc.(codec.FlushNotifier).BodyBytesWritten() != int64(len(body)) {
			t.Fatalf("outcome %v written %d", *outcome, s.enc.(codec.FlushNotifier).BodyBytesWritten())
		}
		if h.c.ActiveStreams() != 0 || h.c.QueuedBytes() != 0 {
			t.Fatalf("active %d queued %d", h.c.ActiveStreams(), h.c.QueuedBytes())
		}
	})
	t.Run("client gives up", func(t *testing.T) {
		h, s, outcome := start(t)
		_ = h.cfr.WriteRSTStream(1, http2.ErrCodeCancel)
		h.mustFlush()
		if len(*outcome) != 1 || (*outcome)[0] || s.resetBy != 0 {
			t.Fatalf("outcome %v, OnReset %v", *outcome, s.resetBy)
		}
		if h.c.QueuedBytes() != 0 {
			t.Fatalf("queued %d after the reset", h.c.QueuedBytes())
		}
	})
	t.Run("manager abandons the flush", func(t *testing.T) {
		h, s, outcome := start(t)
		s.enc.Reset()
		h.mustFlush()
		wantRST(t, h.frames(), 1, http2.ErrCodeInternal)
		if len(*outcome) != 0 || h.c.ActiveStreams() != 0 {
			t.Fatalf("outcome %v active %d", *outcome, h.c.ActiveStreams())
		}
	})
}

func TestStreamStateErrors(t *testing.T) {
	t.Run("DATA on idle stream", func(t *testing.T) {
		h := newHarness(t, Options{}, echoApp(t))
		_ = h.cfr.WriteData(1, true, []byte("x"))
		h.flush()
		wantGoAway(t, h, http2.ErrCodeProtocol)
	})
	t.Run("WINDOW_UPDATE on idle stream", func(t *testing.T) {
		h := newHarness(t, Options{}, echoApp(t))
		_ = h.cfr.WriteWindowUpdate(5, 10)
		h.flush()
		wantGoAway(t, h, http2.ErrCodeProtocol)
	})
	t.Run("RST_STREAM on idle stream", func(t *testing.T) {
		h := newHarness(t, Options{}, echoApp(t))
		_ = h.cfr.WriteRSTStream(5, http2.ErrCodeCancel)
		h.flush()
		wantGoAway(t, h, http2.ErrCodeProtocol)
	})
	t.Run("HEADERS on closed stream", func(t *testing.T) {
		h := newHarness(t, Options{}, echoApp(t))
		h.get(1, "/")
		h.mustFlush()
		h.frames()
		h.get(1, "/")
		h.flush()
		wantGoAway(t, h, http2.ErrCodeStreamClosed)
	})
	t.Run("HEADERS on even stream", func(t *testing.T) {
		h := newHarness(t, Options{}, echoApp(t))
		h.get(2, "/")
		h.flush()
		wantGoAway(t, h, http2.ErrCodeProtocol)
	})
	t.Run("DATA on half-closed stream", func(t *testing.T) {
		app := &fakeApp{t: t}
		h := newHarness(t, Options{}, app)
		h.get(1, "/")
		_ = h.cfr.WriteData(1, true, []byte("x"))
		h.mustFlush()
		wantRST(t, h.frames(), 1, http2.ErrCodeStreamClosed)
		if app.streams[0].resetBy != codec.ResetProtocolError {
			t.Fatalf("OnReset %v", app.streams[0].resetBy)
		}
	})
	t.Run("first frame not SETTINGS", func(t *testing.T) {
		ft := &fakeTransport{}
		c := newServerCodec(ft, echoApp(t), Options{}, nil)
		var b bytes.Buffer
		fr := http2.NewFramer(&b, nil)
		_ = fr.WritePing(false, [8]byte{})
		_, err := c.Dispatch(append([]byte(ClientPreface), b.Bytes()...))
		if ce, ok := err.(*ConnError); !ok || ce.Code != http2.ErrCodeProtocol {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("bad preface", func(t *testing.T) {
		c := newServerCodec(&fakeTransport{}, echoApp(t), Options{}, nil)
		if _, err := c.Dispatch([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != errBadPreface {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("frame too large", func(t *testing.T) {
		h := newHarness(t, Options{}, echoApp(t))
		h.post(1)
		_ = h.cfr.WriteData(1, false, make([]byte, 16385))
		h.flush()
		wantGoAway(t, h, http2.ErrCodeFrameSize)
	})
	t.Run("PRIORITY self dependency", func(t *testing.T) {
		h := newHarness(t, Options{}, echoApp(t))
		h.post(1)
		_ = h.cfr.WritePriority(1, http2.PriorityParam{StreamDep: 1})
		h.mustFlush()
		wantRST(t, h.frames(), 1, http2.ErrCodeProtocol)
	})
	t.Run("PRIORITY self dependency on an idle stream", func(t *testing.T) {
		// RST_STREAM must not name an idle stream (RFC 9113 6.4): the
		// stream error becomes a connection error.
		h := newHarness(t, Options{}, echoApp(t))
		_ = h.cfr.WritePriority(3, http2.PriorityParam{StreamDep: 3})
		h.flush()
		wantGoAway(t, h, http2.ErrCodeProtocol)
	})
	t.Run("PUSH_PROMISE from client", func(t *testing.T) {
		h := newHarness(t, Options{}, echoApp(t))
		h.post(1)
		_ = h.cfr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: h.encode(":method", "GET"), EndHeaders: true})
		h.flush()
		wantGoAway(t, h, http2.ErrCodeProtocol)
	})
	t.Run("HPACK garbage", func(t *testing.T) {
		h := newHarness(t, Options{}, echoApp(t))
		_ = h.cfr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, EndStream: true, EndHeaders: true})
		h.flush()
		wantGoAway(t, h, http2.ErrCodeCompression)
	})
}

func TestSettingsValidation(t *testing.T) {
	for _, tc := range []struct {
		s    http2.Setting
		code http2.ErrCode
	}{
		{http2.Setting{ID: http2.SettingEnablePush, Val: 2}, http2.ErrCodeProtocol},
		{http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 31}, http2.ErrCodeFlowControl},
		{http2.Setting{ID: http2.SettingMaxFrameSize, Val: 100}, http2.ErrCodeProtocol},
		{http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 24}, http2.ErrCodeProtocol},
	} {
		h := newHarness(t, Options{}, echoApp(t))
		_ = h.cfr.WriteSettings(tc.s)
		h.flush()
		wantGoAway(t, h, tc.code)
	}
}

func TestSettingsTimeout(t *testing.T) {
	ft := &fakeTransport{}
	var fatal error
	c := newServerCodec(ft, echoApp(t), Options{OnFatal: func(err error) { fatal = err }}, nil)
	ft.advance(defaultSettingsTimeout - 1)
	if fatal != nil || c.WantsClose() {
		t.Fatalf("ended before the timeout")
	}
	ft.advance(1)
	if ce, ok := fatal.(*ConnError); !ok || ce.Code != http2.ErrCodeSettingsTimeout || !c.WantsClose() || c.Stats().SettingsTimeouts != 1 {
		t.Fatalf("OnFatal(%v) wantsClose %v", fatal, c.WantsClose())
	}
	if _, err := c.Dispatch([]byte(ClientPreface)); err != fatal {
		t.Fatalf("Dispatch after the timeout: %v", err)
	}
	fr := http2.NewFramer(nil, &ft.out)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("no GOAWAY: %v", err)
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			if g.ErrCode != http2.ErrCodeSettingsTimeout {
				t.Fatalf("GOAWAY %v", g.ErrCode)
			}
			return
		}
	}
}

func TestSettingsAckStopsTimer(t *testing.T) {
	h := newHarness(t, Options{}, echoApp(t))
	h.ft.advance(2 * defaultSettingsTimeout)
	if h.c.WantsClose() {
		t.Fatalf("timer fired after the ACK")
	}
}

func TestDrain(t *testing.T) {
	app := &fakeApp{t: t}
	h := newHarness(t, Options{}, app)
	h.post(1)
	h.mustFlush()
	h.c.Drain()
	g := findGoAway(h.frames())
	if g == nil || g.ErrCode != http2.ErrCodeNo || g.LastStreamID != 1 {
		t.Fatalf("GOAWAY %v", g)
	}
	if h.c.WantsClose() {
		t.Fatalf("WantsClose with stream 1 open")
	}
	h.post(3) // after GOAWAY: ignored
	_ = h.cfr.WriteData(1, true, nil)
	h.mustFlush()
	if len(app.streams) != 1 {
		t.Fatalf("stream after GOAWAY reached the manager")
	}
	app.streams[0].enc.EncodeHeaders(newMap(":status", "200"), true)
	if !h.c.WantsClose() {
		t.Fatalf("WantsClose false after the last stream")
	}
}

func TestPeerGoAwayAndEOF(t *testing.T) {
	app := &fakeApp{t: t}
	h := newHarness(t, Options{}, app)
	h.get(1, "/")
	h.post(3)
	_ = h.cfr.WriteGoAway(3, http2.ErrCodeNo, nil)
	h.mustFlush()
	if h.c.WantsClose() {
		t.Fatalf("WantsClose with streams open")
	}
	_ = h.c.ReadEOF()
	if app.streams[1].resetBy != codec.ResetConnectionClosed || app.streams[0].resetBy != 0 {
		t.Fatalf("EOF resets: %v %v", app.streams[0].resetBy, app.streams[1].resetBy)
	}
	app.streams[0].enc.EncodeHeaders(newMap(":status", "200"), true)
	if !h.c.WantsClose() {
		t.Fatalf("WantsClose false")
	}
}

func TestOnConnectionClose(t *testing.T) {
	app := &fakeApp{t: t}
	h := newHarness(t, Options{}, app)
	h.post(1)
	h.post(3)
	h.mustFlush()
	h.c.OnConnectionClose()
	for _, s := range app.streams {
		if s.resetBy != codec.ResetConnectionClosed {
			t.Fatalf("reset %v", s.resetBy)
		}
	}
	if h.c.ActiveStreams() != 0 || !h.c.WantsClose() {
		t.Fatalf("active %d", h.c.ActiveStreams())
	}
}

func TestLargeResponseHeadersUseContinuation(t *testing.T) {
	app := &fakeApp{t: t}
	big := string(bytes.Repeat([]byte("v"), 40000))
	app.onEnd = func(s *fakeStream) {
		s.enc.EncodeHeaders(newMap(":status", "200", "x-big", big), true)
	}
	h := newHarness(t, Options{}, app)
	h.get(1, "/")
	h.mustFlush()
	// Count raw frames: parse headers only.
	raw := append([]byte(nil), h.ft.out.Bytes()...)
	var kinds []http2.FrameType
	for len(raw) >= 9 {
		n := int(raw[0])<<16 | int(raw[1])<<8 | int(raw[2])
		if n > 16384 {
			t.Fatalf("frame of %d bytes exceeds the peer's max", n)
		}
		kinds = append(kinds, http2.FrameType(raw[3]))
		raw = raw[9+n:]
	}
	if len(kinds) < 3 || kinds[0] != http2.FrameHeaders || kinds[1] != http2.FrameContinuation {
		t.Fatalf("frames %v", kinds)
	}
	hs := responseHeaders(h.frames(), 1)
	if len(hs) != 1 || hs[0].Fields[1].Value != big {
		t.Fatalf("reassembled header wrong")
	}
}

func TestResponseDropsConnectionHeaders(t *testing.T) {
	app := &fakeApp{t: t}
	app.onEnd = func(s *fakeStream) {
		s.enc.EncodeHeaders(newMap(":status", "200", "connection", "close", "transfer-encoding", "chunked", "x-ok", "1", ":path", "/"), true)
	}
	h := newHarness(t, Options{}, app)
	h.get(1, "/")
	h.mustFlush()
	hs := responseHeaders(h.frames(), 1)
	if len(hs) != 1 || len(hs[0].Fields) != 2 || hs[0].Fields[1].Name != "x-ok" {
		t.Fatalf("fields %v", hs[0].Fields)
	}
}

func Test100Continue(t *testing.T) {
	app := &fakeApp{t: t}
	app.onHeaders = func(s *fakeStream) { s.enc.Encode100Continue() }
	app.onEnd = func(s *fakeStream) { respond(s, 200, nil) }
	h := newHarness(t, Options{}, app)
	h.post(1, "expect", "100-continue")
	h.mustFlush()
	_ = h.cfr.WriteData(1, true, []byte("x"))
	h.mustFlush()
	hs := responseHeaders(h.frames(), 1)
	if len(hs) != 2 || hs[0].PseudoValue("status") != "100" || hs[0].StreamEnded() || hs[1].PseudoValue("status") != "200" {
		t.Fatalf("headers %v", hs)
	}
}

func TestInformationalThenFinalHeaders(t *testing.T) {
	app := &fakeApp{t: t}
	app.onEnd = func(s *fakeStream) {
		s.enc.EncodeHeaders(newMap(":status", "103", "link", "</a.css>; rel=preload"), false)
		s.enc.EncodeHeaders(newMap(":status", "200"), true)
	}
	h := newHarness(t, Options{}, app)
	h.get(1, "/")
	h.mustFlush()
	hs := responseHeaders(h.frames(), 1)
	if len(hs) != 2 || hs[0].PseudoValue("status") != "103" || hs[1].PseudoValue("status") != "200" || !hs[1].StreamEnded() {
		t.Fatalf("headers %v", hs)
	}
}

// After a GOAWAY, ids the client opens anyway are not reported as processed
// by a later GOAWAY.
func TestGoAwayLastStreamIDStaysPut(t *testing.T) {
	h := newHarness(t, Options{}, &fakeApp{t: t})
	h.post(1)
	h.mustFlush()
	h.c.Drain()
	h.post(3)
	h.post(5)
	h.mustFlush()
	_ = h.cfr.WriteData(1, false, make([]byte, 16385)) // frame too large: connection error
	h.flush()
	var last []uint32
	for _, f := range h.frames() {
		if g, ok := f.(*http2.GoAwayFrame); ok {
			last = append(last, g.LastStreamID)
		}
	}
	if len(last) != 2 || last[0] != 1 || last[1] != 1 {
		t.Fatalf("GOAWAY last ids %v, want [1 1]", last)
	}
}

// Every counter is summed: a field added to Stats but not to Add fails here.
func TestStatsAdd(t *testing.T) {
	var one Stats
	v := reflect.ValueOf(&one).Elem()
	for i := 0; i < v.NumField(); i++ {
		v.Field(i).SetUint(uint64(i + 1))
	}
	var total Stats
	total.Add(one)
	total.Add(one)
	tv := reflect.ValueOf(total)
	for i := 0; i < tv.NumField(); i++ {
		if got := tv.Field(i).Uint(); got != uint64(2*(i+1)) {
			t.Errorf("%s = %d, want %d", tv.Type().Field(i).Name, got, 2*(i+1))
		}
	}
}
