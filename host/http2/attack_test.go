package http2

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/sluiceproxy/sluice/host/codec"
)

// CVE-2023-44487: HEADERS immediately followed by RST_STREAM, over and over.
func TestRapidReset(t *testing.T) {
	app := &fakeApp{t: t}
	h := newHarness(t, Options{MaxResetsPerInterval: 5, ResetInterval: time.Second}, app)
	id := uint32(1)
	for i := 0; i < 5; i++ {
		h.post(id)
		_ = h.cfr.WriteRSTStream(id, http2.ErrCodeCancel)
		id += 2
	}
	h.mustFlush()
	// A new interval refills the budget.
	h.ft.advance(time.Second)
	for i := 0; i < 5; i++ {
		h.post(id)
		_ = h.cfr.WriteRSTStream(id, http2.ErrCodeCancel)
		id += 2
	}
	h.mustFlush()
	h.post(id)
	_ = h.cfr.WriteRSTStream(id, http2.ErrCodeCancel)
	h.flush()
	g := wantGoAway(t, h, http2.ErrCodeEnhanceYourCalm)
	if g.LastStreamID != id {
		t.Fatalf("GOAWAY last stream %d, want %d", g.LastStreamID, id)
	}
	if st := h.c.Stats(); st.RapidResetGoAways != 1 || st.ClientResets != 11 {
		t.Fatalf("stats %+v", st)
	}
	if !h.c.WantsClose() {
		t.Fatalf("WantsClose false after GOAWAY")
	}
	// Every stream the manager saw was reset.
	for _, s := range app.streams {
		if s.resetBy == 0 {
			t.Fatalf("stream left open")
		}
	}
	// Further input is refused.
	if _, err := h.c.Dispatch([]byte{0, 0, 0, 4, 0, 0, 0, 0, 0}); err == nil {
		t.Fatalf("Dispatch after GOAWAY accepted input")
	}
}

// CVE-2025-8671 ("MadeYouReset"): the client makes the server reset
// streams (here with a WINDOW_UPDATE overflow) instead of resetting them
// itself; the same budget applies.
func TestProvokedResets(t *testing.T) {
	app := &fakeApp{t: t}
	h := newHarness(t, Options{MaxResetsPerInterval: 3}, app)
	id := uint32(1)
	for i := 0; i < 3; i++ {
		h.post(id)
		_ = h.cfr.WriteWindowUpdate(id, 1<<31-1)
		id += 2
	}
	h.mustFlush()
	if n := len(app.streams); n != 3 || app.streams[2].resetBy != codec.ResetProtocolError {
		t.Fatalf("streams %d", n)
	}
	h.post(id)
	_ = h.cfr.WriteWindowUpdate(id, 1<<31-1)
	h.flush()
	wantGoAway(t, h, http2.ErrCodeEnhanceYourCalm)
	if st := h.c.Stats(); st.RapidResetGoAways != 1 || st.ClientResets != 0 || st.StreamErrors != 4 {
		t.Fatalf("stats %+v", st)
	}
}

// CVE-2024-27316: a header block that never ends, in many CONTINUATIONs.
func TestContinuationFlood(t *testing.T) {
	t.Run("frame count", func(t *testing.T) {
		app := &fakeApp{t: t}
		h := newHarness(t, Options{MaxHeaderBlockFrames: 10}, app)
		_ = h.cfr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: h.encode(":method", "GET"), EndHeaders: false})
		for i := 0; i < 8; i++ {
			_ = h.cfr.WriteContinuation(1, false, nil)
		}
		h.mustFlush() // 9 frames: within the cap
		_ = h.cfr.WriteContinuation(1, false, nil)
		_ = h.cfr.WriteContinuation(1, false, nil)
		h.flush()
		wantGoAway(t, h, http2.ErrCodeEnhanceYourCalm)
		if h.c.Stats().HeaderBlockTooLarge != 1 || len(app.streams) != 0 {
			t.Fatalf("stats %+v", h.c.Stats())
		}
	})
	t.Run("bytes", func(t *testing.T) {
		h := newHarness(t, Options{MaxHeaderListSize: 4096}, &fakeApp{t: t})
		// Distinct fields, each under the string limit, 24 KB in all: the
		// cap (list limit + one frame = 20 KB) is on wire bytes and is
		// checked before the second fragment is decoded.
		kv := []string{":method", "GET"}
		for i := 0; i < 8; i++ {
			// '{' has a 15-bit Huffman code, so these go out as raw literals.
			kv = append(kv, "x", strings.Repeat("{"+string(rune('a'+i)), 1500))
		}
		block := h.encode(kv...)
		_ = h.cfr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:12000], EndHeaders: false})
		_ = h.cfr.WriteContinuation(1, false, block[12000:])
		h.flush()
		wantGoAway(t, h, http2.ErrCodeEnhanceYourCalm)
		if h.c.Stats().HeaderBlockTooLarge != 1 {
			t.Fatalf("stats %+v", h.c.Stats())
		}
	})
	t.Run("interleaved frame", func(t *testing.T) {
		h := newHarness(t, Options{}, &fakeApp{t: t})
		_ = h.cfr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: h.encode(":method", "GET"), EndHeaders: false})
		_ = h.cfr.WritePing(false, [8]byte{})
		h.flush()
		wantGoAway(t, h, http2.ErrCodeProtocol)
	})
}

// An HPACK bomb: one big entry in the dynamic table, referenced many times
// with one byte each. The decoded list is capped; the request gets a 431 and
// the connection (whose HPACK state stayed in sync) keeps working.
func TestHPACKBomb(t *testing.T) {
	app := echoApp(t)
	h := newHarness(t, Options{MaxHeaderListSize: 16 << 10}, app)
	// Prime the dynamic table with a 3 KB field (indexed by default).
	h.hbuf.Reset()
	enc := hpack.NewEncoder(&h.hbuf)
	enc.SetMaxDynamicTableSizeLimit(4096)
	fields := []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"}, {Name: ":path", Value: "/"}}
	for _, f := range fields {
		_ = enc.WriteField(f)
	}
	big := hpack.HeaderField{Name: "x-bomb", Value: strings.Repeat("b", 3000)}
	for i := 0; i < 40; i++ { // 120 KB decoded from ~3 KB on the wire
		_ = enc.WriteField(big)
	}
	wire := h.hbuf.Len()
	_ = h.cfr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: h.hbuf.Bytes(), EndStream: true, EndHeaders: true})
	h.mustFlush()
	if wire > 4000 {
		t.Fatalf("bomb block is %d bytes: not a bomb", wire)
	}
	hs := responseHeaders(h.frames(), 1)
	if len(hs) != 1 || hs[0].PseudoValue("status") != "431" || !hs[0].StreamEnded() {
		t.Fatalf("want a 431, got %v", hs)
	}
	if len(app.streams) != 0 || h.c.Stats().HeaderListTooLarge != 1 {
		t.Fatalf("bomb reached the manager / stats %+v", h.c.Stats())
	}
	// The client's encoder state matches ours: the next request decodes.
	h.hbuf.Reset()
	for _, f := range fields {
		_ = enc.WriteField(f)
	}
	_ = enc.WriteField(big)
	_ = h.cfr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: h.hbuf.Bytes(), EndStream: true, EndHeaders: true})
	h.mustFlush()
	if len(app.streams) != 1 || len(mustGet(app.streams[0].h, "x-bomb")) != 3000 {
		t.Fatalf("HPACK state out of sync after the 431")
	}
}

func TestDynamicTableSizeAboveSettings(t *testing.T) {
	h := newHarness(t, Options{}, &fakeApp{t: t})
	h.hbuf.Reset()
	enc := hpack.NewEncoder(&h.hbuf)
	enc.SetMaxDynamicTableSizeLimit(1 << 20)
	enc.SetMaxDynamicTableSize(1 << 20) // we advertised the default 4096
	_ = enc.WriteField(hpack.HeaderField{Name: ":method", Value: "GET"})
	_ = h.cfr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: h.hbuf.Bytes(), EndStream: true, EndHeaders: true})
	h.flush()
	wantGoAway(t, h, http2.ErrCodeCompression)
}

// SETTINGS and PING floods from a peer that does not read: the replies we
// owe are capped.
func TestControlFrameFlood(t *testing.T) {
	for _, kind := range []string{"settings", "ping"} {
		t.Run(kind, func(t *testing.T) {
			h := newHarness(t, Options{MaxQueuedControlFrames: 100}, &fakeApp{t: t})
			h.ft.holdOutput = true
			for i := 0; i < 100; i++ {
				if kind == "ping" {
					_ = h.cfr.WritePing(false, [8]byte{byte(i)})
				} else {
					_ = h.cfr.WriteSettings()
				}
			}
			h.mustFlush() // exactly at the cap
			if kind == "ping" {
				_ = h.cfr.WritePing(false, [8]byte{})
			} else {
				_ = h.cfr.WriteSettings()
			}
			h.flush()
			wantGoAway(t, h, http2.ErrCodeEnhanceYourCalm)
			if h.c.Stats().ControlFloodGoAways != 1 {
				t.Fatalf("stats %+v", h.c.Stats())
			}
		})
	}
	t.Run("reader that drains is never cut off", func(t *testing.T) {
		h := newHarness(t, Options{MaxQueuedControlFrames: 100}, &fakeApp{t: t})
		for round := 0; round < 5; round++ {
			for i := 0; i < 100; i++ {
				_ = h.cfr.WritePing(false, [8]byte{})
			}
			h.mustFlush()
			if n := len(h.frames()); n != 100 {
				t.Fatalf("round %d: %d replies", round, n)
			}
		}
	})
}

// CVE-2019-9518: empty DATA frames cost work and carry nothing.
func TestEmptyDataFlood(t *testing.T) {
	app := &fakeApp{t: t}
	h := newHarness(t, Options{MaxConsecutiveEmptyData: 4}, app)
	h.post(1)
	for i := 0; i < 4; i++ {
		_ = h.cfr.WriteData(1, false, nil)
	}
	_ = h.cfr.WriteData(1, false, []byte("x")) // a payload resets the run
	for i := 0; i < 4; i++ {
		_ = h.cfr.WriteData(1, false, nil)
	}
	h.mustFlush()
	if app.streams[0].events != 2 {
		t.Fatalf("events %d: empty DATA must not reach the stream", app.streams[0].events)
	}
	_ = h.cfr.WriteData(1, false, nil)
	h.flush()
	wantGoAway(t, h, http2.ErrCodeEnhanceYourCalm)
	if h.c.Stats().EmptyFrameFloods != 1 {
		t.Fatalf("stats %+v", h.c.Stats())
	}
}
