package cluster

import (
	"errors"
	"testing"

	"github.com/sluiceproxy/sluice/host/headers"
)

func reqMap(kv ...string) *headers.Map {
	m := &headers.Map{}
	for i := 0; i < len(kv); i += 2 {
		m.AddString(kv[i], kv[i+1])
	}
	return m
}

func TestAppendRequestHead(t *testing.T) {
	fallback := []byte("10.0.0.1:80")
	cases := []struct {
		name            string
		h               *headers.Map
		chunked, noBody bool
		want            string
	}{
		{"get", reqMap(":method", "GET", ":path", "/a?b=c", ":authority", "example.com", ":scheme", "http", "accept", "*/*"),
			false, true, "GET /a?b=c HTTP/1.1\r\nhost: example.com\r\naccept: */*\r\n\r\n"},
		{"post without body gets content-length 0", reqMap(":method", "POST", ":path", "/", ":authority", "x"),
			false, true, "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n"},
		{"chunked replaces transfer-encoding", reqMap(":method", "PUT", ":path", "/u", ":authority", "x", "Transfer-Encoding", "gzip, chunked", "x-a", "1"),
			true, false, "PUT /u HTTP/1.1\r\nhost: x\r\nx-a: 1\r\ntransfer-encoding: chunked\r\n\r\n"},
		{"content-length kept", reqMap(":method", "POST", ":path", "/", ":authority", "x", "content-length", "5"),
			false, false, "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\n"},
		{"content-length dropped when the request ends with its head", reqMap(":method", "POST", ":path", "/", ":authority", "x", "content-length", "5"),
			false, true, "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n"},
		{"content-length dropped when chunked", reqMap(":method", "POST", ":path", "/", ":authority", "x", "content-length", "5x"),
			true, false, "POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"},
		{"get ending with its head drops content-length", reqMap(":method", "GET", ":path", "/", ":authority", "x", "content-length", "0"),
			false, true, "GET / HTTP/1.1\r\nhost: x\r\n\r\n"},
		{"host field used without authority", reqMap(":method", "GET", ":path", "/", "host", "h.example", "x-b", "2"),
			false, true, "GET / HTTP/1.1\r\nhost: h.example\r\nx-b: 2\r\n\r\n"},
		{"authority wins over host field", reqMap(":method", "GET", ":path", "/", ":authority", "a.example", "host", "h.example"),
			false, true, "GET / HTTP/1.1\r\nhost: a.example\r\n\r\n"},
		{"fallback host", reqMap(":method", "GET", ":path", "/"),
			false, true, "GET / HTTP/1.1\r\nhost: 10.0.0.1:80\r\n\r\n"},
		{"tab allowed in value", reqMap(":method", "GET", ":path", "/", ":authority", "x", "x-t", "a\tb"),
			false, true, "GET / HTTP/1.1\r\nhost: x\r\nx-t: a\tb\r\n\r\n"},
	}
	for _, tc := range cases {
		got, err := appendRequestHead(nil, tc.h, tc.chunked, tc.noBody, fallback)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s:\n got %q, %v\nwant %q", tc.name, got, err, tc.want)
		}
	}
}

func TestAppendRequestHeadRejects(t *testing.T) {
	cases := []struct {
		name string
		h    *headers.Map
		want error
	}{
		{"no method", reqMap(":path", "/"), ErrBadMethod},
		{"method with space", reqMap(":method", "GE T", ":path", "/"), ErrBadMethod},
		{"connect", reqMap(":method", "CONNECT", ":authority", "x:443", ":path", "x:443"), ErrConnect},
		{"no path", reqMap(":method", "GET"), ErrBadPath},
		{"path with space", reqMap(":method", "GET", ":path", "/a HTTP/1.1\r\nx: y"), ErrBadPath},
		{"authority with CRLF", reqMap(":method", "GET", ":path", "/", ":authority", "x\r\nevil: 1"), ErrBadAuthority},
		{"value with CRLF", reqMap(":method", "GET", ":path", "/", "x-a", "1\r\n\r\nGET /smuggled HTTP/1.1"), ErrBadHeaderValue},
		{"value with NUL", reqMap(":method", "GET", ":path", "/", "x-a", "a\x00b"), ErrBadHeaderValue},
		{"value with DEL", reqMap(":method", "GET", ":path", "/", "x-a", "a\x7fb"), ErrBadHeaderValue},
		{"name with space", reqMap(":method", "GET", ":path", "/", "x a", "1"), ErrBadHeaderName},
		{"name with colon", reqMap(":method", "GET", ":path", "/", "x:a", "1"), ErrBadHeaderName},
		{"empty name", reqMap(":method", "GET", ":path", "/", "", "1"), ErrBadHeaderName},
	}
	for _, tc := range cases {
		_, err := appendRequestHead(nil, tc.h, false, true, nil)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestAppendLastChunkDropsForbiddenTrailers(t *testing.T) {
	tr := reqMap("x-checksum", "abc", "content-length", "3", "host", "x", "bad name", "1", "x-v", "a\nb", "grpc-status", "0")
	got := string(appendLastChunk(nil, tr))
	want := "0\r\nx-checksum: abc\r\ngrpc-status: 0\r\n\r\n"
	if got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	if got := string(appendLastChunk(nil, nil)); got != "0\r\n\r\n" {
		t.Fatalf("nil trailers: %q", got)
	}
	if got := string(appendChunkHeader(nil, 0x1a2b)); got != "1a2b\r\n" {
		t.Fatalf("chunk header %q", got)
	}
}

func TestConnectionCloseAndReplayable(t *testing.T) {
	for _, tc := range []struct {
		vals []string
		want bool
	}{
		{nil, false}, {[]string{"keep-alive"}, false}, {[]string{"Close"}, true},
		{[]string{"upgrade, close"}, true}, {[]string{"te", " CLOSE "}, true}, {[]string{"closed"}, false},
	} {
		m := reqMap(":method", "GET")
		for _, v := range tc.vals {
			m.AddString("connection", v)
		}
		if got := connectionClose(m); got != tc.want {
			t.Errorf("connection %q: close=%v want %v", tc.vals, got, tc.want)
		}
	}
	for method, want := range map[string]bool{"GET": true, "HEAD": true, "PUT": true, "DELETE": true, "POST": false, "PATCH": false} {
		if got := isReplayable(reqMap(":method", method)); got != want {
			t.Errorf("%s replayable=%v", method, got)
		}
	}
	if !isReplayable(reqMap(":method", "POST", "idempotency-key", "k1")) {
		t.Error("POST with Idempotency-Key must be replayable")
	}
}

func TestParseContentLength(t *testing.T) {
	for v, want := range map[string]int64{"0": 0, "12": 12, "999999999999": 999999999999} {
		if n, ok := parseContentLength([]byte(v)); !ok || n != want {
			t.Errorf("%q -> %d %v", v, n, ok)
		}
	}
	for _, v := range []string{"", "-1", "+1", "1 ", "0x10", "1,1", "1234567890123456789"} {
		if _, ok := parseContentLength([]byte(v)); ok {
			t.Errorf("%q accepted", v)
		}
	}
}

func TestAppendRequestHeadDoesNotAllocate(t *testing.T) {
	h := reqMap(":method", "GET", ":path", "/index.html", ":authority", "example.com", "accept", "*/*", "user-agent", "bench")
	buf := make([]byte, 0, 512)
	if a := testing.AllocsPerRun(100, func() { buf, _ = appendRequestHead(buf[:0], h, false, true, nil) }); a != 0 {
		t.Fatalf("%v allocs", a)
	}
}
