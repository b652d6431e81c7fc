package cluster

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
)

// FuzzUpstreamResponse sends arbitrary bytes as an upstream's answer (then
// closes). Whatever they are, the worker must not panic, the stream must
// get exactly one final event (a second would close recorder.done twice
// and panic), the pool's bookkeeping must return to zero, and when both
// sluice and net/http accept a final response they must agree on status
// and body.
func FuzzUpstreamResponse(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: v\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
		"HTTP/1.1 101 Switching Protocols\r\n\r\n",
		"garbage",
		"",
	} {
		f.Add([]byte(seed))
	}
	next := make(chan []byte, 1)
	srv := newRawServer(f, func(_ int, c net.Conn, br *bufio.Reader) {
		if req, _ := readRequest(br); req == nil {
			return
		}
		c.Write(<-next)
	})
	ws := startWorkers(f, 1)
	c := newTestCluster(f, ws, Settings{Endpoints: []netip.AddrPort{srv.addr}})

	f.Fuzz(func(t *testing.T, resp []byte) {
		next <- resp
		r := roundTrip(t, ws[0], c, newRecorder(getReq("/")))
		var st Stats
		onLoop(t, ws[0], func() { st = c.Stats() })
		if st.RqActive != 0 || st.RqPendingActive != 0 {
			t.Fatalf("stream bookkeeping left over: %+v", st)
		}
		if r.final != "end" {
			return
		}
		want, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(resp)), nil)
		if err != nil || want.StatusCode < 200 {
			return
		}
		body, err := io.ReadAll(want.Body)
		if err != nil {
			return
		}
		if r.status != want.StatusCode || !bytes.Equal(r.got, body) {
			t.Fatalf("sluice: %d %q; net/http: %d %q", r.status, r.got, want.StatusCode, body)
		}
	})
}
