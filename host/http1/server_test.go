package http1

import (
	"testing"

	"github.com/sluiceproxy/sluice/host/headers"
)

// A stream that paused its request body and then answered (an early
// response from upstream, a filter's local reply) leaves the connection
// readable: the rest of its body is read and dropped, and the pipelined
// request after it is served.
func TestServerCodecResponseEndsTheStreamsPause(t *testing.T) {
	ft := &srvTransport{t: t}
	app := &srvApp{t: t, errs: map[int]string{}}
	c := NewServerCodec(ft, app, ServerOptions{Limits: DefaultLimits()})
	in := []byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab")
	n, err := c.Dispatch(in)
	if err != nil || n != len(in) {
		t.Fatalf("Dispatch = %d, %v", n, err)
	}
	s := app.streams[0]
	s.enc.ReadDisable(true)
	if ft.readOff != 1 {
		t.Fatalf("reading not paused")
	}
	var h headers.Map
	h.SetStatus(413)
	h.SetString("content-length", "0")
	s.enc.EncodeHeaders(&h, true)
	if ft.readOff != 0 {
		t.Fatalf("reading still paused after the stream's response ended")
	}
	rest := []byte("cdGET /next HTTP/1.1\r\nHost: a\r\n\r\n")
	if n, err := c.Dispatch(rest); err != nil || n != len(rest) {
		t.Fatalf("Dispatch = %d, %v", n, err)
	}
	if len(app.streams) != 2 || app.streams[1].method != "GET" {
		t.Fatalf("pipelined request not served: %d streams", len(app.streams))
	}
}
