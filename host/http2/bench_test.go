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

// benchApp answers every request with the same reused head and body, so the
// benchmark counts the codec's allocations, not the app's.
type benchApp struct {
	enc  codec.ResponseEncoder
	resp headers.Map
	body []byte
	last *headers.Map
}

// AcquireHeaders recycles the previous request's map, as the connection
// manager does.
func (a *benchApp) AcquireHeaders() *headers.Map {
	m := a.last
	if m == nil {
		return new(headers.Map)
	}
	a.last = nil
	m.Reset()
	return m
}

func (a *benchApp) NewStream(enc codec.ResponseEncoder) codec.RequestDecoder {
	a.enc = enc
	return a
}

func (a *benchApp) DecodeHeaders(h *headers.Map, end bool) {
	a.last = h
	if end {
		a.enc.EncodeHeaders(&a.resp, false)
		a.enc.EncodeData(a.body, true)
		// Done with the stream, as the connection manager is when it
		// destroys its own: the codec may reuse the encoder.
		a.enc.(codec.Releaser).Release()
		a.enc = nil
	}
}
func (a *benchApp) DecodeData(p []byte, end bool)    {}
func (a *benchApp) DecodeTrailers(t *headers.Map)    {}
func (a *benchApp) OnReset(reason codec.ResetReason) {}

// BenchmarkSmallRequestResponse: one GET (HPACK-indexed, as a browser's
// repeat request is) and a 200 with a 5-byte body, one stream each, on a
// warmed-up connection; the client returns the connection window as it goes.
func BenchmarkSmallRequestResponse(b *testing.B) {
	app := &benchApp{body: []byte("hello")}
	app.resp.SetStatus(200)
	app.resp.SetString("content-type", "text/plain")
	ft := &fakeTransport{now: time.Unix(1000, 0)}
	c := newServerCodec(ft, app, Options{}, nil)

	var wire bytes.Buffer
	fr := http2.NewFramer(&wire, nil)
	var hb bytes.Buffer
	henc := hpack.NewEncoder(&hb)
	block := func() []byte {
		hb.Reset()
		for _, f := range []hpack.HeaderField{
			{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"},
			{Name: ":authority", Value: "example.com"}, {Name: ":path", Value: "/index.html"},
			{Name: "user-agent", Value: "bench/1.0"}, {Name: "accept", Value: "*/*"},
		} {
			_ = henc.WriteField(f)
		}
		return hb.Bytes()
	}
	wire.WriteString(ClientPreface)
	_ = fr.WriteSettings()
	_ = fr.WriteSettingsAck()
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(), EndStream: true, EndHeaders: true})
	if _, err := c.Dispatch(wire.Bytes()); err != nil {
		b.Fatal(err)
	}
	// From now on the block is all dynamic-table references: identical bytes
	// every time, so one frame can be replayed with a new stream id.
	wire.Reset()
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block(), EndStream: true, EndHeaders: true})
	_ = fr.WriteWindowUpdate(0, uint32(len(app.body)))
	req := append([]byte(nil), wire.Bytes()...)
	ft.out.Reset()

	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := uint32(2*i + 3)
		req[5], req[6], req[7], req[8] = byte(id>>24), byte(id>>16), byte(id>>8), byte(id)
		if n, err := c.Dispatch(req); err != nil || n != len(req) {
			b.Fatalf("Dispatch: %d %v", n, err)
		}
		ft.out.Reset()
	}
	b.StopTimer()
	if c.ActiveStreams() != 0 {
		b.Fatalf("%d streams left open", c.ActiveStreams())
	}
}

// BenchmarkRequestBodyData: 16 KiB DATA frames on one long upload stream,
// delivered to the stream and credited back (the steady-state body path).
func BenchmarkRequestBodyData(b *testing.B) {
	app := &benchApp{}
	ft := &fakeTransport{now: time.Unix(1000, 0)}
	c := newServerCodec(ft, app, Options{}, nil)
	var wire bytes.Buffer
	fr := http2.NewFramer(&wire, nil)
	var hb bytes.Buffer
	henc := hpack.NewEncoder(&hb)
	for _, f := range []hpack.HeaderField{{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"}, {Name: ":path", Value: "/up"}} {
		_ = henc.WriteField(f)
	}
	wire.WriteString(ClientPreface)
	_ = fr.WriteSettings()
	_ = fr.WriteSettingsAck()
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true})
	if _, err := c.Dispatch(wire.Bytes()); err != nil {
		b.Fatal(err)
	}
	wire.Reset()
	_ = fr.WriteData(1, false, make([]byte, 16384))
	frame := append([]byte(nil), wire.Bytes()...)
	ft.out.Reset()
	b.SetBytes(16384)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Dispatch(frame); err != nil {
			b.Fatal(err)
		}
		ft.out.Reset()
	}
}
