package http2

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/sluiceproxy/sluice/host/headers"
)

// FuzzHPACK sends fuzzed header blocks — request heads, and trailers on
// the last stream — over one connection, some split into CONTINUATION
// frames, and decodes the same bytes with a reference HPACK decoder that
// shares nothing with the codec's. Since the dynamic table lives across
// blocks, refused, oversized and malformed blocks must still be decoded to
// the end, or every later block is read wrong. Per block:
//
//   - the reference fails: the codec ends the connection with
//     GOAWAY(COMPRESSION_ERROR), or ENHANCE_YOUR_CALM for a string longer
//     than the header list limit, and no stream sees the block;
//   - the decoded list is over MaxHeaderListSize: 431 (request) or
//     RST_STREAM (trailers);
//   - otherwise the block reaches the stream exactly as decoded — cookie
//     crumbs joined, Host folded into :authority — or is refused with
//     RST_STREAM(PROTOCOL_ERROR), or REFUSED_STREAM past the stream limit.
func FuzzHPACK(f *testing.F) {
	var seed []byte
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	block := func(flags byte, kv ...string) {
		hb.Reset()
		for i := 0; i < len(kv); i += 2 {
			_ = enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
		}
		seed = append(seed, flags, byte(hb.Len()))
		seed = append(seed, hb.Bytes()...)
	}
	req := []string{":method", "GET", ":scheme", "http", ":path", "/a", ":authority", "a.example", "x-custom", "one"}
	block(2|8, req...)
	block(1|8, req...) // the same again: dynamic table references
	block(0, append(req[:6:6], "host", "h.example", "cookie", "a=1", "cookie", "b=2")...)
	block(4, "grpc-status", "0", "x-custom", "one")
	enc.SetMaxDynamicTableSizeLimit(64)
	enc.SetMaxDynamicTableSize(64)
	block(2|8, req...) // a table size update first
	f.Add(seed)
	f.Add([]byte{2, 3, 0x3f, 0xe1, 0x1f}) // size update above the limit
	f.Add([]byte{2, 2, 0x82, 0xbe})       // index beyond the table
	f.Fuzz(func(t *testing.T, data []byte) {
		runHPACKProgram(t, data)
	})
}

type hpackStream struct {
	h, trailers *headers.Map
	reset       bool
	ended       bool
}

func runHPACKProgram(t *testing.T, data []byte) {
	const maxList = 2048
	app := &fakeApp{t: t}
	opts := Options{MaxConcurrentStreams: 2, MaxHeaderListSize: maxList}
	h := newHarness(t, opts, app)
	// The reference stops emitting where the codec does (past the list
	// limit, and for blocks it only decodes to keep the table), because
	// HPACK then skips decoding strings that do not enter the table.
	var fields []hpack.HeaderField
	var size uint32
	var ref *hpack.Decoder
	ref = hpack.NewDecoder(4096, func(f hpack.HeaderField) {
		if size += f.Size(); size > maxList {
			ref.SetEmitEnabled(false)
			return
		}
		fields = append(fields, f)
	})
	ref.SetMaxStringLength(maxList)

	var id uint32 = 1
	var last *fakeStream // the stream that trailers go to
	for len(data) >= 2 {
		flags, n := data[0], int(data[1])
		data = data[2:]
		n = min(n, len(data))
		frag := data[:n]
		data = data[n:]

		trailers := flags&4 != 0 && last != nil && !last.ended && last.resetBy == 0
		sid := id
		if trailers {
			sid = last.enc.(*stream).id
		}
		endStream := trailers || flags&2 != 0
		if flags&1 != 0 && len(frag) > 1 {
			cut := int(flags>>4) % len(frag)
			_ = h.cfr.WriteHeaders(http2.HeadersFrameParam{StreamID: sid, BlockFragment: frag[:cut], EndStream: endStream})
			_ = h.cfr.WriteContinuation(sid, true, frag[cut:])
		} else {
			_ = h.cfr.WriteHeaders(http2.HeadersFrameParam{StreamID: sid, BlockFragment: frag, EndStream: endStream, EndHeaders: true})
		}
		if flags&8 != 0 {
			app.onHeaders = func(s *fakeStream) { respond(s, 200, nil) }
		} else {
			app.onHeaders = nil
		}
		full := h.c.ActiveStreams() >= int(opts.MaxConcurrentStreams)
		before := len(app.streams)

		fields, size = fields[:0], 0
		ref.SetEmitEnabled(trailers || !full)
		_, refErr := ref.Write(frag)
		if refErr == nil {
			refErr = ref.Close()
		}
		err := h.flush()
		out := h.frames()

		if refErr != nil {
			code := http2.ErrCodeCompression
			if errors.Is(refErr, hpack.ErrStringLength) {
				code = http2.ErrCodeEnhanceYourCalm
			}
			g := findGoAway(out)
			if g == nil || g.ErrCode != code || err == nil {
				t.Fatalf("reference decoder: %v; codec: error %v, GOAWAY %v", refErr, err, g)
			}
			return
		}
		if err != nil {
			t.Fatalf("block %x decodes (%v) but the codec ended the connection: %v", frag, fields, err)
		}
		if trailers {
			code, rst := findRST(out, sid)
			switch {
			case size > maxList && !rst:
				t.Fatalf("trailers of %d bytes (limit %d) not refused", size, maxList)
			case rst && code != http2.ErrCodeProtocol:
				t.Fatalf("trailers refused with %v", code)
			case !rst:
				if last.trailers == nil {
					t.Fatalf("trailers %v neither delivered nor refused", fields)
				}
				if got, want := mapString(last.trailers), fieldsString(fields, false); got != want {
					t.Fatalf("trailers decoded as\n%s\nreference\n%s", got, want)
				}
			}
			continue
		}
		id += 2
		code, rst := findRST(out, sid)
		opened := len(app.streams) > before
		switch {
		case full:
			if opened || !rst || code != http2.ErrCodeRefusedStream {
				t.Fatalf("stream over the limit: opened %v, RST %v %v", opened, rst, code)
			}
		case size > maxList:
			if opened || !has431(out, sid) {
				t.Fatalf("header list of %d bytes (limit %d): opened %v, frames %v", size, maxList, opened, out)
			}
		case opened:
			s := app.streams[len(app.streams)-1]
			if got, want := mapString(s.h), fieldsString(fields, true); got != want {
				t.Fatalf("request decoded as\n%s\nreference\n%s", got, want)
			}
			if flags&8 == 0 && !s.ended {
				last = s // still reading its request: trailers may follow
			}
		case !rst || code != http2.ErrCodeProtocol:
			t.Fatalf("request %v neither opened nor refused (RST %v %v)", fields, rst, code)
		}
	}
}

func has431(fs []http2.Frame, id uint32) bool {
	for _, m := range responseHeaders(fs, id) {
		if m.PseudoValue("status") == "431" {
			return true
		}
	}
	return false
}

func mapString(m *headers.Map) string {
	var b bytes.Buffer
	m.Range(func(name, value []byte) bool {
		fmt.Fprintf(&b, "%s: %q\n", name, value)
		return true
	})
	return b.String()
}

// fieldsString renders decoded fields as a request stream gets them:
// cookie crumbs joined into one field and Host kept only as :authority
// (when there is none), both after the other fields.
func fieldsString(fs []hpack.HeaderField, request bool) string {
	var b bytes.Buffer
	var cookie, host []byte
	sawCookie, sawAuthority, sawHost := false, false, false
	for _, f := range fs {
		if request {
			switch f.Name {
			case "cookie":
				if sawCookie {
					cookie = append(cookie, "; "...)
				}
				sawCookie = true
				cookie = append(cookie, f.Value...)
				continue
			case "host":
				sawHost = true
				host = []byte(f.Value)
				continue
			case ":authority":
				sawAuthority = true
			}
		}
		fmt.Fprintf(&b, "%s: %q\n", f.Name, f.Value)
	}
	if sawCookie && len(cookie) > 0 {
		fmt.Fprintf(&b, "cookie: %q\n", cookie)
	}
	if sawHost && !sawAuthority && len(host) > 0 {
		fmt.Fprintf(&b, ":authority: %q\n", host)
	}
	return b.String()
}
