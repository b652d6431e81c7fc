package http2_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/sluiceproxy/sluice/host/codec"
	sh2 "github.com/sluiceproxy/sluice/host/http2"
	"github.com/sluiceproxy/sluice/host/http2/http2test"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitLimit bounds every blocking read in these tests; reaching it is a hang,
// not a timing assertion.
const waitLimit = 20 * time.Second

func startServer(t *testing.T, opts sh2.Options, upgrade bool) *http2test.Server {
	t.Helper()
	s, err := http2test.Start(http2test.Config{Addr: netip.MustParseAddrPort("127.0.0.1:0"), Options: opts, AllowUpgrade: upgrade})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// h2cClient is x/net/http2's Transport speaking cleartext HTTP/2 with prior
// knowledge.
func h2cClient(t *testing.T) *http.Client {
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: waitLimit}
}

func TestTransportRequests(t *testing.T) {
	s := startServer(t, sh2.Options{}, false)
	cl := h2cClient(t)
	base := "http://" + s.Addr.String()

	resp, err := cl.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello from sluice" || resp.ProtoMajor != 2 {
		t.Fatalf("GET: %d %q proto %d", resp.StatusCode, body, resp.ProtoMajor)
	}

	// A 3 MiB upload and echo: both directions cross several windows.
	up := bytes.Repeat([]byte("0123456789abcdef"), 3<<16)
	resp, err = cl.Post(base+"/echo", "application/octet-stream", bytes.NewReader(up))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(body, up) {
		t.Fatalf("echo: got %d bytes, want %d", len(body), len(up))
	}

	resp, err = cl.Get(base + "/trailers")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" || resp.Trailer.Get("X-Checksum") != "done" {
		t.Fatalf("trailers: %q %v", body, resp.Trailer)
	}
}

func TestTransportConcurrentStreams(t *testing.T) {
	// 64 requests at once on one connection, within the default limit of
	// 100 (which the client also assumes before our SETTINGS arrive, so
	// nothing is refused; the limit itself is TestConcurrencyLimitOverSocket's).
	s := startServer(t, sh2.Options{}, false)
	cl := h2cClient(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			want := fmt.Sprintf("request-%d-%s", i, strings.Repeat("x", i*1000))
			resp, err := cl.Post("http://"+s.Addr.String()+"/echo", "text/plain", strings.NewReader(want))
			if err != nil {
				errs <- err
				return
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(got) != want {
				errs <- fmt.Errorf("stream %d: %v, %d bytes", i, err, len(got))
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := s.Stats()
	if st.StreamsOpened != 64 || st.StreamsRefused != 0 || st.SettingsReceived != 1 {
		t.Fatalf("stats %+v: want 64 streams on one connection, none refused", st)
	}
	if s.Live() != 0 {
		t.Fatalf("%d app streams left", s.Live())
	}
}

// ---- raw framer client ----

type rawClient struct {
	t    *testing.T
	conn net.Conn
	fr   *http2.Framer
	henc *hpack.Encoder
	hbuf bytes.Buffer
	wmu  sync.Mutex
}

func dialRaw(t *testing.T, s *http2test.Server, settings ...http2.Setting) *rawClient {
	t.Helper()
	conn, err := net.Dial("tcp", s.Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(waitLimit))
	c := &rawClient{t: t, conn: conn}
	bw := bufio.NewWriterSize(conn, 64<<10)
	c.fr = http2.NewFramer(flushWriter{bw}, bufio.NewReader(conn))
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.henc = hpack.NewEncoder(&c.hbuf)
	if _, err := io.WriteString(conn, sh2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	c.write(func() error { return c.fr.WriteSettings(settings...) })
	return c
}

// flushWriter sends each frame at once; the Framer writes a frame per call.
type flushWriter struct{ w *bufio.Writer }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.w.Flush()
	}
	return n, err
}

func (c *rawClient) write(fn func() error) {
	c.t.Helper()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := fn(); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *rawClient) block(kv ...string) []byte {
	c.hbuf.Reset()
	for i := 0; i < len(kv); i += 2 {
		_ = c.henc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return append([]byte(nil), c.hbuf.Bytes()...)
}

func (c *rawClient) request(id uint32, method, path string, end bool) {
	b := c.block(":method", method, ":scheme", "http", ":authority", "test", ":path", path)
	c.write(func() error {
		return c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: b, EndStream: end, EndHeaders: true})
	})
}

// readUntil reads frames until match returns true; the test fails if the
// connection ends first.
func (c *rawClient) readUntil(what string, match func(http2.Frame) bool) http2.Frame {
	c.t.Helper()
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", what, err)
		}
		if match(f) {
			return f
		}
	}
}

// readToEOF reads frames until the server closes, returning the GOAWAY seen.
func (c *rawClient) readToEOF() *http2.GoAwayFrame {
	c.t.Helper()
	var g *http2.GoAwayFrame
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isReset(err) {
				c.t.Fatalf("reading to EOF: %v", err)
			}
			return g
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			cp := *ga
			g = &cp
		}
	}
}

func isReset(err error) bool { return strings.Contains(err.Error(), "connection reset") }

// sync makes the server process everything written so far: a PING is
// answered only after the frames before it.
func (c *rawClient) sync() {
	c.t.Helper()
	data := [8]byte{'s', 'y', 'n', 'c'}
	c.write(func() error { return c.fr.WritePing(false, data) })
	c.readUntil("PING ACK", func(f http2.Frame) bool {
		p, ok := f.(*http2.PingFrame)
		return ok && p.IsAck() && p.Data == data
	})
}

func isSettingsAck(f http2.Frame) bool {
	s, ok := f.(*http2.SettingsFrame)
	return ok && s.IsAck()
}

// A client that grants only 64 KiB and reads slowly: the server holds at most
// its per-stream buffer limit, not the 64 MiB response.
func TestSlowReaderBoundedMemory(t *testing.T) {
	const limit = 256 << 10
	s := startServer(t, sh2.Options{StreamBufferLimit: limit}, false)
	c := dialRaw(t, s)
	c.readUntil("SETTINGS ACK", isSettingsAck)
	c.write(c.fr.WriteSettingsAck)
	const total = 64 << 20
	c.request(1, "GET", fmt.Sprintf("/size/%d", total), true)
	got, window := 0, 65535
	maxQueued, maxPending := 0, 0
	for got < total {
		f := c.readUntil("DATA", func(f http2.Frame) bool { _, ok := f.(*http2.DataFrame); return ok })
		n := len(f.(*http2.DataFrame).Data())
		got += n
		window -= n
		if window < 0 {
			t.Fatalf("server overran the stream window by %d", -window)
		}
		if window == 0 {
			// The peer has sent all it may: what it holds now is its whole
			// buffering for this stream.
			q, p := s.Buffered()
			maxQueued, maxPending = max(maxQueued, q), max(maxPending, p)
			c.write(func() error { return c.fr.WriteWindowUpdate(1, 65535) })
			c.write(func() error { return c.fr.WriteWindowUpdate(0, 65535) })
			window = 65535
		}
	}
	if got != total {
		t.Fatalf("got %d bytes", got)
	}
	if maxQueued > limit+16<<10 || maxQueued < limit/2 {
		t.Fatalf("codec queued up to %d bytes, want about the %d limit", maxQueued, limit)
	}
	if maxPending > 1<<20 {
		t.Fatalf("socket output reached %d bytes", maxPending)
	}
	t.Logf("max queued in codec %d, max socket pending %d", maxQueued, maxPending)
}

// A client that never opens its window: the server buffers one stream limit
// and no more; resetting the stream releases it.
func TestZeroWindowOverSocket(t *testing.T) {
	const limit = 128 << 10
	s := startServer(t, sh2.Options{StreamBufferLimit: limit}, false)
	c := dialRaw(t, s, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	c.request(1, "GET", fmt.Sprintf("/size/%d", 64<<20), true)
	c.sync()
	q, p := s.Buffered()
	if q < limit || q > limit+16<<10 || p > 64<<10 {
		t.Fatalf("queued %d pending %d with a %d limit", q, p, limit)
	}
	c.write(func() error { return c.fr.WriteRSTStream(1, http2.ErrCodeCancel) })
	c.sync()
	if q, _ := s.Buffered(); q != 0 || s.Live() != 0 {
		t.Fatalf("after RST: queued %d live %d", q, s.Live())
	}
}

func TestGracefulDrain(t *testing.T) {
	s := startServer(t, sh2.Options{}, false)
	c := dialRaw(t, s)
	c.request(1, "POST", "/echo", false)
	c.sync()
	s.Drain()
	g := c.readUntil("GOAWAY", func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok }).(*http2.GoAwayFrame)
	if g.ErrCode != http2.ErrCodeNo || g.LastStreamID != 1 {
		t.Fatalf("GOAWAY %v last %d", g.ErrCode, g.LastStreamID)
	}
	// Stream 1 still completes; stream 3 (after the GOAWAY) is not served.
	c.request(3, "GET", "/", true)
	c.write(func() error { return c.fr.WriteData(1, true, []byte("still here")) })
	var body []byte
	c.readUntil("stream 1 end", func(f http2.Frame) bool {
		if d, ok := f.(*http2.DataFrame); ok && d.StreamID == 1 {
			body = append(body, d.Data()...)
			return d.StreamEnded()
		}
		if m, ok := f.(*http2.MetaHeadersFrame); ok && m.StreamID == 3 {
			t.Fatalf("stream 3 answered after GOAWAY")
		}
		return false
	})
	if string(body) != "still here" {
		t.Fatalf("body %q", body)
	}
	c.readToEOF() // the server closes once stream 1 is done
	if s.Live() != 0 {
		t.Fatalf("app streams left")
	}
}

func TestPingRSTContinuationOverSocket(t *testing.T) {
	s := startServer(t, sh2.Options{}, false)
	c := dialRaw(t, s)
	c.sync() // PING round trip

	// RST_STREAM of a held stream releases it in the app.
	c.request(1, "GET", "/hold", true)
	c.sync()
	if s.Live() != 1 {
		t.Fatalf("live %d", s.Live())
	}
	c.write(func() error { return c.fr.WriteRSTStream(1, http2.ErrCodeCancel) })
	c.sync()
	if s.Live() != 0 {
		t.Fatalf("live %d after RST_STREAM", s.Live())
	}

	// A request split over HEADERS + 3 CONTINUATION frames.
	b := c.block(":method", "GET", ":scheme", "http", ":authority", "test", ":path", "/", "x-pad", strings.Repeat("p", 300))
	parts := [][]byte{b[:10], b[10:20], b[20:100], b[100:]}
	c.write(func() error {
		return c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: parts[0], EndStream: true})
	})
	for i, p := range parts[1:] {
		last := i == 2
		c.write(func() error { return c.fr.WriteContinuation(3, last, p) })
	}
	m := c.readUntil("response 3", func(f http2.Frame) bool {
		m, ok := f.(*http2.MetaHeadersFrame)
		return ok && m.StreamID == 3
	}).(*http2.MetaHeadersFrame)
	if m.PseudoValue("status") != "200" {
		t.Fatalf("status %q", m.PseudoValue("status"))
	}
}

func TestConcurrencyLimitOverSocket(t *testing.T) {
	s := startServer(t, sh2.Options{MaxConcurrentStreams: 2}, false)
	c := dialRaw(t, s)
	c.readUntil("SETTINGS ACK", isSettingsAck)
	for id := uint32(1); id <= 5; id += 2 {
		c.request(id, "GET", "/hold", true)
	}
	r := c.readUntil("RST_STREAM", func(f http2.Frame) bool { _, ok := f.(*http2.RSTStreamFrame); return ok }).(*http2.RSTStreamFrame)
	if r.StreamID != 5 || r.ErrCode != http2.ErrCodeRefusedStream {
		t.Fatalf("RST %d %v", r.StreamID, r.ErrCode)
	}
}

func TestRapidResetOverSocket(t *testing.T) {
	s := startServer(t, sh2.Options{MaxResetsPerInterval: 50}, false)
	c := dialRaw(t, s)
	for id := uint32(1); id < 2*200; id += 2 {
		c.request(id, "GET", "/hold", true)
		c.write(func() error { return c.fr.WriteRSTStream(id, http2.ErrCodeCancel) })
	}
	g := c.readToEOF()
	if g == nil || g.ErrCode != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("GOAWAY %v", g)
	}
	st := s.Stats()
	if st.RapidResetGoAways != 1 || st.ClientResets != 51 {
		t.Fatalf("stats %+v", st)
	}
	if s.Live() != 0 {
		t.Fatalf("app streams left: %d", s.Live())
	}
}

func TestContinuationFloodOverSocket(t *testing.T) {
	s := startServer(t, sh2.Options{}, false)
	c := dialRaw(t, s)
	b := c.block(":method", "GET")
	c.write(func() error { return c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b}) })
	for i := 0; i < 1000; i++ {
		var err error
		c.wmu.Lock()
		err = c.fr.WriteContinuation(1, false, []byte{})
		c.wmu.Unlock()
		if err != nil {
			break // the server already closed: that is the point
		}
	}
	g := c.readToEOF()
	if g == nil || g.ErrCode != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("GOAWAY %v", g)
	}
	if st := s.Stats(); st.HeaderBlockTooLarge != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestHPACKBombOverSocket(t *testing.T) {
	s := startServer(t, sh2.Options{}, false)
	c := dialRaw(t, s)
	c.hbuf.Reset()
	for _, kv := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":path", "/"}} {
		_ = c.henc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	big := hpack.HeaderField{Name: "x-bomb", Value: strings.Repeat("b", 4000)}
	for i := 0; i < 100; i++ { // 400 KB decoded from about 4 KB
		_ = c.henc.WriteField(big)
	}
	b := append([]byte(nil), c.hbuf.Bytes()...)
	c.write(func() error {
		return c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b, EndStream: true, EndHeaders: true})
	})
	m := c.readUntil("431", func(f http2.Frame) bool { _, ok := f.(*http2.MetaHeadersFrame); return ok }).(*http2.MetaHeadersFrame)
	if m.PseudoValue("status") != "431" {
		t.Fatalf("status %q", m.PseudoValue("status"))
	}
	// The connection is still good.
	c.request(3, "GET", "/", true)
	m = c.readUntil("response 3", func(f http2.Frame) bool { _, ok := f.(*http2.MetaHeadersFrame); return ok }).(*http2.MetaHeadersFrame)
	if m.StreamID != 3 || m.PseudoValue("status") != "200" {
		t.Fatalf("after the bomb: stream %d status %q", m.StreamID, m.PseudoValue("status"))
	}
	if st := s.Stats(); st.HeaderListTooLarge != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// HTTP/1.1 Upgrade: h2c; the upgrading request is answered on stream 1.
func TestUpgradeOverSocket(t *testing.T) {
	s := startServer(t, sh2.Options{}, true)
	conn, err := net.Dial("tcp", s.Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(waitLimit))
	// HTTP2-Settings: SETTINGS_MAX_CONCURRENT_STREAMS=100, INITIAL_WINDOW_SIZE=65535.
	_, err = io.WriteString(conn, "GET /trailers HTTP/1.1\r\nHost: test\r\nConnection: Upgrade, HTTP2-Settings\r\n"+
		"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"+sh2.ClientPreface)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	status, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 101 ") {
		t.Fatalf("status line %q %v", status, err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
	}
	var wbuf bytes.Buffer
	fr := http2.NewFramer(&wbuf, br)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	_ = fr.WriteSettings()
	if _, err := conn.Write(wbuf.Bytes()); err != nil {
		t.Fatal(err)
	}
	var body []byte
	var trailers *http2.MetaHeadersFrame
	for trailers == nil {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		switch f := f.(type) {
		case *http2.DataFrame:
			if f.StreamID == 1 {
				body = append(body, f.Data()...)
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID == 1 && f.StreamEnded() {
				trailers = f
			}
		}
	}
	if string(body) != "ok" || len(trailers.Fields) != 1 || trailers.Fields[0].Value != "done" {
		t.Fatalf("body %q trailers %v", body, trailers.Fields)
	}
}

// BenchmarkSocketRoundTrip: sequential small GETs on one h2c connection over
// loopback, through a real worker. allocs/op counts the raw client too (it
// runs in this process).
func BenchmarkSocketRoundTrip(b *testing.B) {
	s, err := http2test.Start(http2test.Config{Addr: netip.MustParseAddrPort("127.0.0.1:0")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	conn, err := net.Dial("tcp", s.Addr.String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	var wbuf bytes.Buffer
	fr := http2.NewFramer(&wbuf, bufio.NewReader(conn))
	wbuf.WriteString(sh2.ClientPreface)
	_ = fr.WriteSettings()
	_ = fr.WriteWindowUpdate(0, 1<<30)
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, kv := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "bench"}, {":path", "/"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	block := append([]byte(nil), hb.Bytes()...) // literal-with-indexing: first use
	hb.Reset()
	for _, kv := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "bench"}, {":path", "/"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	indexed := append([]byte(nil), hb.Bytes()...)
	roundTrip := func(id uint32, blk []byte) {
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: blk, EndStream: true, EndHeaders: true})
		if _, err := conn.Write(wbuf.Bytes()); err != nil {
			b.Fatal(err)
		}
		wbuf.Reset()
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				b.Fatal(err)
			}
			if d, ok := f.(*http2.DataFrame); ok && d.StreamID == id && d.StreamEnded() {
				return
			}
		}
	}
	_ = conn.SetDeadline(time.Now().Add(5 * time.Minute))
	roundTrip(1, block)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		roundTrip(uint32(2*i+3), indexed)
	}
}

// The client vanishes mid-request: every open stream is reset with
// ResetConnectionClosed (through the worker's OnClose) and nothing leaks.
func TestPeerDisappears(t *testing.T) {
	s := startServer(t, sh2.Options{}, false)
	resets := make(chan codec.ResetReason, 8)
	if err := s.OnLoop(func() { s.App.Resets = resets }); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, s)
	c.request(1, "GET", "/hold", true)
	c.request(3, "POST", "/echo", false)
	c.sync()
	if s.Live() != 2 {
		t.Fatalf("live %d", s.Live())
	}
	c.conn.Close()
	for i := 0; i < 2; i++ {
		select {
		case r := <-resets:
			if r != codec.ResetConnectionClosed {
				t.Fatalf("reset reason %v", r)
			}
		case <-time.After(waitLimit):
			t.Fatalf("stream %d not reset after the peer left", i)
		}
	}
	if s.Live() != 0 {
		t.Fatalf("live %d", s.Live())
	}
}
