package cluster

import (
	"bufio"
	"net"
	"net/netip"
	"testing"
)

// TestResponsesArrivingByteByByte sends each response one byte per write
// (TCP_NODELAY is Go's default), so the pool sees it in arbitrary small
// pieces; the delivered response must not depend on how it was split.
func TestResponsesArrivingByteByByte(t *testing.T) {
	cases := []struct {
		name, resp       string
		body, trailer    string
		status           int
		keepAliveReusing bool
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world", "hello world", "", 200, true},
		{"chunked with trailers", "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: v\r\n\r\n", "hello world", "v", 201, true},
		{"1xx then final", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", "", "", 204, true},
		{"until close", "HTTP/1.0 200 OK\r\n\r\nhello world", "hello world", "", 200, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRawServer(t, func(_ int, c net.Conn, br *bufio.Reader) {
				for {
					if req, _ := readRequest(br); req == nil {
						return
					}
					for i := range len(tc.resp) {
						if _, err := c.Write([]byte{tc.resp[i]}); err != nil {
							return
						}
					}
					if !tc.keepAliveReusing {
						return
					}
				}
			})
			ws := startWorkers(t, 1)
			c := newTestCluster(t, ws, Settings{Endpoints: []netip.AddrPort{srv.addr}})
			for range 2 {
				r := roundTrip(t, ws[0], c, newRecorder(getReq("/")))
				tr, _ := r.respTr.Get("x-t")
				if r.final != "end" || r.status != tc.status || string(r.got) != tc.body || string(tr) != tc.trailer {
					t.Fatalf("events %s body %q trailer %q", r.eventString(), r.got, tr)
				}
			}
			want := int32(1)
			if !tc.keepAliveReusing {
				want = 2
			}
			if srv.conns.Load() != want {
				t.Fatalf("conns %d want %d", srv.conns.Load(), want)
			}
		})
	}
}
