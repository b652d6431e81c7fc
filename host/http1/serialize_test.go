package http1

import (
	"reflect"
	"testing"

	"github.com/sluiceproxy/sluice/host/headers"
)

func TestAppendRequestHead(t *testing.T) {
	var m headers.Map
	m.AddString(":method", "POST")
	m.AddString(":scheme", "http")
	m.AddString(":authority", "example.com:8080")
	m.AddString(":path", "/a?b=c")
	m.AddString("Host", "stale.example") // replaced by :authority
	m.AddString("Content-Length", "3")
	m.AddString("X-Multi", "1")
	m.AddString("x-multi", "2")
	m.AddString("X-Evil", "a\r\nInjected: yes") // dropped, never split
	m.AddString("Bad Name", "x")                // dropped
	got := string(AppendRequestHead(nil, &m))
	want := "POST /a?b=c HTTP/1.1\r\nhost: example.com:8080\r\ncontent-length: 3\r\nx-multi: 1\r\nx-multi: 2\r\n\r\n"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}

	m.Reset()
	m.AddString(":method", "CONNECT")
	m.AddString(":authority", "example.com:443")
	if got := string(AppendRequestHead([]byte("prefix|"), &m)); got != "prefix|CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n" {
		t.Fatalf("CONNECT: %q", got)
	}
	m.Reset()
	m.AddString(":method", "GET")
	if got := string(AppendRequestHead(nil, &m)); got != "GET / HTTP/1.1\r\n\r\n" {
		t.Fatalf("no path: %q", got)
	}
}

func TestAppendResponseHead(t *testing.T) {
	var m headers.Map
	m.SetStatus(404)
	m.AddString("Content-Type", "text/plain")
	if got := string(AppendResponseHead(nil, &m, 1)); got != "HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\n\r\n" {
		t.Fatalf("got %q", got)
	}
	m.SetStatus(599)
	if got := string(AppendResponseHead(nil, &m, 0)); got != "HTTP/1.0 599 \r\ncontent-type: text/plain\r\n\r\n" {
		t.Fatalf("unknown status: %q", got)
	}
	m.Reset()
	if got := string(AppendResponseHead(nil, &m, 1)); got != "HTTP/1.1 500 Internal Server Error\r\n\r\n" {
		t.Fatalf("missing status: %q", got)
	}
}

func TestAppendChunks(t *testing.T) {
	b := AppendChunk(nil, []byte("hello"))
	b = AppendChunk(b, nil)
	b = AppendChunk(b, make([]byte, 26))
	var tr headers.Map
	tr.AddString("grpc-status", "0")
	tr.AddString(":pseudo", "dropped")
	b = AppendLastChunk(b, &tr)
	want := "5\r\nhello\r\n1a\r\n" + string(make([]byte, 26)) + "\r\n0\r\ngrpc-status: 0\r\n\r\n"
	if string(b) != want {
		t.Fatalf("got %q", b)
	}
	if got := string(AppendLastChunk(nil, nil)); got != "0\r\n\r\n" {
		t.Fatalf("no trailers: %q", got)
	}
}

// What the serializers write, the parser reads back unchanged.
func TestSerializeParseRoundTrip(t *testing.T) {
	var m headers.Map
	m.AddString(":method", "PUT")
	m.AddString(":authority", "example.com")
	m.AddString(":path", "/x")
	m.AddString("transfer-encoding", "chunked")
	m.AddString("x-a", "b")
	wire := AppendRequestHead(nil, &m)
	wire = AppendChunk(wire, []byte("abc"))
	var tr headers.Map
	tr.AddString("x-t", "1")
	wire = AppendLastChunk(wire, &tr)
	r := parseAll(Request, string(wire), false)
	want := []string{"head:PUT /x", "body:abc", "trailers:x-t=1", "end"}
	if r.err != nil || !reflect.DeepEqual(r.events, want) {
		t.Fatalf("events %q err %v", r.events, r.err)
	}
	if r.heads[0].Fields != "host=example.com|transfer-encoding=chunked|x-a=b" {
		t.Fatalf("fields %q", r.heads[0].Fields)
	}
}

func TestStatusText(t *testing.T) {
	for code, want := range map[int]string{200: "OK", 204: "No Content", 413: "Content Too Large", 431: "Request Header Fields Too Large", 505: "HTTP Version Not Supported", 299: ""} {
		if got := StatusText(code); got != want {
			t.Fatalf("StatusText(%d) = %q", code, got)
		}
	}
}

func TestHeadToMap(t *testing.T) {
	cases := []struct {
		name, raw, scheme string
		want              string // name=value pairs in order
	}{
		{"origin", "GET /p?q HTTP/1.1\r\nHost: h.example\r\nX-A: 1\r\n\r\n", "https",
			":method=GET|:scheme=https|:authority=h.example|:path=/p?q|x-a=1"},
		{"absolute", "GET HTTP://A.example:81/p HTTP/1.1\r\nHost: other\r\n\r\n", "http",
			":method=GET|:scheme=http|:authority=A.example:81|:path=/p"},
		{"absolute_no_path", "GET https://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n", "http",
			":method=GET|:scheme=https|:authority=a.example|:path=/"},
		{"absolute_query_only", "GET http://a.example?x=1 HTTP/1.1\r\nHost: a.example\r\n\r\n", "http",
			":method=GET|:scheme=http|:authority=a.example|:path=/?x=1"},
		{"absolute_options", "OPTIONS http://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n", "http",
			":method=OPTIONS|:scheme=http|:authority=a.example|:path=*"},
		{"asterisk", "OPTIONS * HTTP/1.1\r\nHost: a.example\r\n\r\n", "http",
			":method=OPTIONS|:scheme=http|:authority=a.example|:path=*"},
		{"connect", "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", "http",
			":method=CONNECT|:authority=a.example:443"},
		{"http10_no_host", "GET / HTTP/1.0\r\n\r\n", "http", ":method=GET|:scheme=http|:path=/"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p Parser
			p.Init(Request, Limits{})
			if ev, _, err := p.Next([]byte(c.raw)); ev != EventHead || err != nil {
				t.Fatalf("Next = %v %v", ev, err)
			}
			var m headers.Map
			m.AddString("stale", "x")
			HeadToMap(p.Head(), Request, c.scheme, &m)
			if got := dumpMap(&m); got != c.want {
				t.Fatalf("got  %s\nwant %s", got, c.want)
			}
		})
	}

	var p Parser
	p.Init(Response, Limits{})
	if ev, _, err := p.Next([]byte("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")); ev != EventHead || err != nil {
		t.Fatalf("Next = %v %v", ev, err)
	}
	var m headers.Map
	HeadToMap(p.Head(), Response, "", &m)
	if got := dumpMap(&m); got != ":status=201|content-length=0" {
		t.Fatalf("response map %s", got)
	}
}

func dumpMap(m *headers.Map) string {
	var s string
	m.Range(func(n, v []byte) bool {
		if s != "" {
			s += "|"
		}
		s += string(n) + "=" + string(v)
		return true
	})
	return s
}

func TestStatusTextCoversCommonCodes(t *testing.T) {
	for _, code := range []int{100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
		300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410,
		411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451,
		500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511} {
		if StatusText(code) == "" {
			t.Fatalf("StatusText(%d) empty", code)
		}
	}
}
