package h2frame

import (
	"bytes"
	"testing"

	"golang.org/x/net/http2"
)

// FuzzParseMatchesFramer: for any bytes read as one frame, Parse accepts
// only what the x/net Framer accepts and reads the same fields, and it
// accepts every HEADERS frame with END_HEADERS and every WINDOW_UPDATE the
// Framer accepts.
func FuzzParseMatchesFramer(f *testing.F) {
	var b bytes.Buffer
	fr := http2.NewFramer(&b, nil)
	fr.AllowIllegalWrites = true
	seed := func(write func()) {
		b.Reset()
		write()
		f.Add(append([]byte(nil), b.Bytes()...))
	}
	block := []byte{0x82, 0x86, 0x84}
	seed(func() {
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndStream: true, EndHeaders: true})
	})
	seed(func() {
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block, EndHeaders: true, PadLength: 9,
			Priority: http2.PriorityParam{StreamDep: 1, Exclusive: true, Weight: 200}})
	})
	seed(func() { _ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: block}) })
	seed(func() { _ = fr.WriteWindowUpdate(0, 1) })
	seed(func() { _ = fr.WriteWindowUpdate(7, 1<<31-1) })
	seed(func() { _ = fr.WriteRawFrame(http2.FrameWindowUpdate, 0, 1, []byte{0x80, 0, 0, 0}) })
	seed(func() {
		_ = fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersPadded, 1, []byte{4, 1})
	})
	seed(func() {
		_ = fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersPriority, 1, []byte{1, 2})
	})
	seed(func() { _ = fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 0, block) })
	seed(func() { _ = fr.WriteData(1, true, []byte("x")) })
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < HeaderLen {
			if _, ok := Parse(in); ok {
				t.Fatal("accepted a short frame")
			}
			return
		}
		// One frame: the length field says what the input holds.
		n := len(in) - HeaderLen
		if n > 1<<14 {
			n = 1 << 14
			in = in[:HeaderLen+n]
		}
		in[0], in[1], in[2] = byte(n>>16), byte(n>>8), byte(n)
		got, ok := Parse(in)
		want, err := http2.NewFramer(nil, bytes.NewReader(in)).ReadFrame()
		switch w := want.(type) {
		case *http2.HeadersFrame:
			if err == nil && w.HeadersEnded() != ok {
				t.Fatalf("Framer read HEADERS (end headers %v), Parse ok=%v", w.HeadersEnded(), ok)
			}
			if ok && (got.StreamID != w.StreamID || got.Flags != w.Flags || !bytes.Equal(got.Fragment, w.HeaderBlockFragment()) ||
				w.HasPriority() && got.PriorityDep != w.Priority.StreamDep) {
				t.Fatalf("Parse %+v, Framer %+v", got, w)
			}
		case *http2.WindowUpdateFrame:
			if err == nil && !ok {
				t.Fatalf("Framer read %v, Parse refused it", w)
			}
			if ok && (got.StreamID != w.StreamID || got.Increment != w.Increment) {
				t.Fatalf("Parse %+v, Framer %+v", got, w)
			}
		default:
			if ok {
				t.Fatalf("Parse accepted what the Framer read as %T (err %v)", want, err)
			}
		}
	})
}

func TestParseDoesNotAllocate(t *testing.T) {
	var b bytes.Buffer
	_ = http2.NewFramer(&b, nil).WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x82}, EndHeaders: true})
	frame := b.Bytes()
	if n := testing.AllocsPerRun(100, func() { Parse(frame) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
