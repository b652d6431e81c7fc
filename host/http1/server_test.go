package http1

import (
	"fmt"
	"strings"
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

// The codec tells the connection that no more input will come (so it may
// close without waiting for the client's FIN) only when the client asked
// to close and its request was read whole, whether the answer comes
// inside Dispatch (a direct response) or later (from upstream).
func TestServerCodecInputDone(t *testing.T) {
	for _, tc := range []struct {
		name, req string
		want      bool
	}{
		{"HTTP/1.1 Connection: close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", true},
		{"HTTP/1.0", "GET / HTTP/1.0\r\n\r\n", true},
		{"with a body read whole", "POST / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 2\r\n\r\nab", true},
		{"keep-alive", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", false},
		{"body still coming", "POST / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 100000\r\n\r\nab", false}, // answered early only
		{"a request pipelined behind", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /x HTTP/1.1\r\n", false},
	} {
		for _, mode := range []byte{0, 0x10, 1} { // answer inline, answer later (posted), answer before the body
			if strings.HasPrefix(tc.name, "body still coming") && mode != 1 {
				continue // the app answers that request only early
			}
			t.Run(fmt.Sprintf("%s/mode=%#x", tc.name, mode), func(t *testing.T) {
				ft := &srvTransport{t: t}
				app := &srvApp{t: t, errs: map[int]string{}, picks: []byte{mode}}
				c := NewServerCodec(ft, app, ServerOptions{Limits: DefaultLimits()})
				n, err := c.Dispatch([]byte(tc.req))
				if err != nil {
					t.Fatalf("Dispatch = %d, %v", n, err)
				}
				ft.buffered = len(tc.req) - n
				for len(app.posted) > 0 {
					fn := app.posted[0]
					app.posted = app.posted[1:]
					fn()
				}
				want := tc.want
				if mode == 1 && strings.HasPrefix(tc.req, "POST") {
					want = false // answered before its body was read
				}
				if !app.streams[0].respEnded {
					t.Fatal("no response")
				}
				if ft.inputDone != want {
					t.Fatalf("InputDone called: %v, want %v", ft.inputDone, want)
				}
			})
		}
	}
}
