package cluster

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"testing"

	"golang.org/x/net/http2"
)

// cannedH2Backend answers every request stream (a HEADERS frame with
// END_STREAM) with ":status: 200" and a 2-byte body. It parses only frame
// headers and writes prebuilt frames, so it adds no allocations of its own
// and the benchmark measures the client.
func cannedH2Backend(b *testing.B) *rawServer {
	return newRawServer(b, func(_ int, c net.Conn, br *bufio.Reader) {
		pre := make([]byte, len(http2.ClientPreface))
		if _, err := io.ReadFull(br, pre); err != nil {
			return
		}
		// Empty SETTINGS, then per response: HEADERS(:status 200 = static
		// index 8) and DATA "ok" with END_STREAM.
		c.Write([]byte{0, 0, 0, 4, 0, 0, 0, 0, 0})
		resp := []byte{0, 0, 1, 1, 4, 0, 0, 0, 0, 0x88, 0, 0, 2, 0, 1, 0, 0, 0, 0, 'o', 'k'}
		ack := []byte{0, 0, 0, 4, 1, 0, 0, 0, 0}
		hdr := make([]byte, 9)
		payload := make([]byte, 16384)
		for {
			if _, err := io.ReadFull(br, hdr); err != nil {
				return
			}
			n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
			if _, err := io.ReadFull(br, payload[:n]); err != nil {
				return
			}
			typ, flags := http2.FrameType(hdr[3]), http2.Flags(hdr[4])
			id := binary.BigEndian.Uint32(hdr[5:]) & (1<<31 - 1)
			switch {
			case typ == http2.FrameSettings && flags&http2.FlagSettingsAck == 0:
				c.Write(ack)
			case typ == http2.FrameHeaders && flags&http2.FlagHeadersEndStream != 0:
				binary.BigEndian.PutUint32(resp[5:], id)
				binary.BigEndian.PutUint32(resp[15:], id)
				if _, err := c.Write(resp); err != nil {
					return
				}
			}
		}
	})
}

// BenchmarkH2RoundTrip is one GET round trip on a multiplexed HTTP/2
// connection with handler-provided Stream storage (as the router uses it).
func BenchmarkH2RoundTrip(b *testing.B) {
	srv := cannedH2Backend(b)
	ws := startWorkers(b, 1)
	c := newTestCluster(b, ws, Settings{HTTP2: true, Endpoints: []netip.AddrPort{srv.addr}})
	h := &benchHandler{w: ws[0], c: c, req: getReq("/bench")}
	h.req.AddString("user-agent", "sluice-bench")
	h.req.AddString("accept", "*/*")
	rh := benchStorageHandler{h}
	h.start = func() { c.NewStream(h.w, rh) }
	run := func(n int) {
		h.left, h.done = n, make(chan struct{})
		ws[0].Post(h.start)
		<-h.done
		if h.fail != nil {
			b.Fatal(h.fail)
		}
	}
	run(100)
	b.ReportAllocs()
	b.ResetTimer()
	run(b.N)
	b.StopTimer()
	if st := c.Stats(); st.CxTotal != 1 {
		b.Fatalf("the benchmark must reuse one connection: %+v", st)
	}
}
