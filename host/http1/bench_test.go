package http1

import (
	"testing"

	"github.com/sluiceproxy/sluice/host/headers"
)

// A typical browser GET: request line and 8 fields.
var browserGET = []byte("GET /static/app.js?v=42 HTTP/1.1\r\n" +
	"Host: www.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n" +
	"Accept: */*\r\n" +
	"Accept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Referer: https://www.example.com/\r\n" +
	"Connection: keep-alive\r\n" +
	"Cookie: session=0123456789abcdef; theme=dark\r\n" +
	"\r\n")

var typicalResponse = []byte("HTTP/1.1 200 OK\r\n" +
	"Date: Mon, 23 Nov 2026 13:00:00 GMT\r\n" +
	"Content-Type: application/javascript\r\n" +
	"Content-Length: 64\r\n" +
	"Cache-Control: max-age=3600\r\n" +
	"ETag: \"abc123\"\r\n" +
	"Vary: Accept-Encoding\r\n" +
	"\r\n" +
	"0123456789012345678901234567890123456789012345678901234567890123")

// parseOne runs a whole message through p and fails on anything unexpected.
func parseOne(tb testing.TB, p *Parser, msg []byte) {
	buf := msg
	for {
		ev, n, err := p.Next(buf)
		if err != nil || (ev == EventNeedMore && n == 0) {
			tb.Fatalf("Next = %v %v", ev, err)
		}
		buf = buf[n:]
		if ev == EventEnd {
			return
		}
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	var p Parser
	p.Init(Request, Limits{})
	chunked := []byte("POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n")
	parseOne(t, &p, browserGET) // grow the field slices once
	parseOne(t, &p, chunked)
	if n := testing.AllocsPerRun(100, func() {
		parseOne(t, &p, browserGET)
		parseOne(t, &p, chunked)
	}); n != 0 {
		t.Fatalf("allocs per run = %v", n)
	}
	var r Parser
	r.Init(Response, Limits{})
	parseOne(t, &r, typicalResponse)
	if n := testing.AllocsPerRun(100, func() { parseOne(t, &r, typicalResponse) }); n != 0 {
		t.Fatalf("response allocs per run = %v", n)
	}
}

func TestSerializeDoesNotAllocate(t *testing.T) {
	var req, resp, tr headers.Map
	var p Parser
	p.Init(Request, Limits{})
	if ev, _, err := p.Next(browserGET); ev != EventHead || err != nil {
		t.Fatal(ev, err)
	}
	HeadToMap(p.Head(), Request, "http", &req)
	resp.SetStatus(200)
	resp.AddString("content-type", "text/plain")
	tr.AddString("x-t", "1")
	dst := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() {
		HeadToMap(p.Head(), Request, "http", &req)
		b := AppendRequestHead(dst[:0], &req)
		b = AppendResponseHead(b, &resp, 1)
		b = AppendChunk(b, browserGET[:10])
		_ = AppendLastChunk(b, &tr)
	}); n != 0 {
		t.Fatalf("allocs per run = %v", n)
	}
}

func BenchmarkParseRequest(b *testing.B) {
	var p Parser
	p.Init(Request, Limits{})
	b.ReportAllocs()
	b.SetBytes(int64(len(browserGET)))
	for b.Loop() {
		parseOne(b, &p, browserGET)
	}
}

func BenchmarkParseResponse(b *testing.B) {
	var p Parser
	p.Init(Response, Limits{})
	b.ReportAllocs()
	b.SetBytes(int64(len(typicalResponse)))
	for b.Loop() {
		p.ExpectResponseTo(false)
		parseOne(b, &p, typicalResponse)
	}
}

func BenchmarkAppendResponseHead(b *testing.B) {
	var m headers.Map
	m.SetStatus(200)
	m.AddString("date", "Mon, 23 Nov 2026 13:00:00 GMT")
	m.AddString("content-type", "application/javascript")
	m.AddString("content-length", "64")
	m.AddString("cache-control", "max-age=3600")
	m.AddString("etag", "\"abc123\"")
	dst := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendResponseHead(dst[:0], &m, 1)
	}
}

func BenchmarkHeadToMap(b *testing.B) {
	var p Parser
	p.Init(Request, Limits{})
	if ev, _, err := p.Next(browserGET); ev != EventHead || err != nil {
		b.Fatal(ev, err)
	}
	var m headers.Map
	b.ReportAllocs()
	for b.Loop() {
		HeadToMap(p.Head(), Request, "http", &m)
	}
}
