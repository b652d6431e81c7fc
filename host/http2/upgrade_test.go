package http2

import (
	"testing"

	"golang.org/x/net/http2"

	"github.com/sluiceproxy/sluice/host/codec"
)

func TestDecodeSettingsHeader(t *testing.T) {
	p, err := DecodeSettingsHeader([]byte("AAMAAABkAAQAAP__"))
	if err != nil || len(p) != 12 || p[1] != 3 || p[5] != 100 {
		t.Fatalf("payload %v err %v", p, err)
	}
	if p, err := DecodeSettingsHeader([]byte("AAMAAABkAAQAAP__==")); err != nil || len(p) != 12 {
		t.Fatalf("padded: %v %v", p, err)
	}
	for _, bad := range []string{"AAMAAABk!!", "AAMA", "AAMAAABkAA"} {
		if _, err := DecodeSettingsHeader([]byte(bad)); err != errBadSettingsHeader {
			t.Errorf("%q: err %v, want %v", bad, err, errBadSettingsHeader)
		}
	}
}

func TestUpgradeRejectsBadInput(t *testing.T) {
	req := newMap(":method", "GET", ":path", "/", ":authority", "x")
	// ENABLE_PUSH=2 is not a valid value.
	bad := []byte{0, 2, 0, 0, 0, 2}
	if _, err := newServerCodecFromUpgrade(&fakeTransport{}, echoApp(t), Options{}, nil, bad, req); err != errBadSettingsHeader {
		t.Fatalf("err %v", err)
	}
	if _, err := newServerCodecFromUpgrade(&fakeTransport{}, echoApp(t), Options{}, nil, []byte{0, 3, 0}, req); err != errBadSettingsHeader {
		t.Fatalf("err %v", err)
	}
	if _, err := newServerCodecFromUpgrade(&fakeTransport{}, echoApp(t), Options{}, nil, nil, newMap(":path", "/")); err == nil || err.Error() != "http2: upgrade request without :method or :path" {
		t.Fatalf("err %v", err)
	}
}

// The upgrade request becomes stream 1, half-closed by the client; its
// settings apply without an ACK; the preface still follows.
func TestUpgradeStream1(t *testing.T) {
	app := &fakeApp{t: t}
	app.onEnd = func(s *fakeStream) { respond(s, 200, []byte("up")) }
	ft := &fakeTransport{}
	// INITIAL_WINDOW_SIZE=1: the response body must be cut to one byte.
	payload := []byte{0, 4, 0, 0, 0, 1}
	c, err := newServerCodecFromUpgrade(ft, app, Options{}, nil, payload, newMap(":method", "GET", ":path", "/u", ":authority", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if len(app.streams) != 0 {
		t.Fatalf("stream 1 delivered inside the constructor")
	}
	ft.runPosted()
	if len(app.streams) != 1 || string(app.streams[0].h.Scheme()) != "http" || !app.streams[0].ended {
		t.Fatalf("stream 1 not delivered as a finished request")
	}
	fr := http2.NewFramer(nil, &ft.out)
	fr.ReadMetaHeaders = nil
	var data []byte
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			break
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && sf.IsAck() {
			t.Fatalf("SETTINGS ACK sent for HTTP2-Settings")
		}
		if d, ok := f.(*http2.DataFrame); ok && d.StreamID == 1 {
			data = append(data, d.Data()...)
		}
	}
	if string(data) != "u" {
		t.Fatalf("DATA %q, want 1 byte under the upgrade's window", data)
	}
	if _, err := c.Dispatch([]byte(ClientPreface)); err != nil {
		t.Fatal(err)
	}
	if app.streams[0].resetBy != codec.ResetReason(0) {
		t.Fatalf("stream reset")
	}
}
