package http2

import (
	"bytes"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
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
