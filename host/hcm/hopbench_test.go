package hcm

import (
	"testing"

	"github.com/sluiceproxy/sluice/host/headers"
)

// BenchmarkStripHopByHop: the hop-by-hop pass over a typical request head
// and a typical upstream response head (no hop-by-hop header in either, the
// common case), as the connection manager runs it on every request. With
// nothing to strip the pass changes nothing, so the heads are filled once.
func BenchmarkStripHopByHop(b *testing.B) {
	var req, resp headers.Map
	var scratch []byte
	fill := func() {
		req.Reset()
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "example.com"},
			{":path", "/"}, {"user-agent", "wrk"}, {"accept", "*/*"}} {
			req.AddString(f[0], f[1])
		}
		resp.Reset()
		for _, f := range [][2]string{{":status", "200"}, {"server", "nginx"}, {"date", "Sun, 06 Dec 2026 04:00:00 GMT"},
			{"content-type", "text/plain"}, {"content-length", "13"}} {
			resp.AddString(f[0], f[1])
		}
	}
	fill()
	b.ReportAllocs()
	for b.Loop() {
		stripHopByHop(&req, &scratch)
		stripHopByHop(&resp, &scratch)
	}
}
