package http1

import (
	"reflect"
	"strings"
	"testing"
)

const hostLine = "Host: example.com\r\n"

var acceptRequestCases = []struct {
	name   string
	raw    string
	events []string
	check  func(t *testing.T, heads []snapshot)
}{
	{"simple_get", "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: x\r\n\r\n",
		[]string{"head:GET /index.html?q=1", "end"},
		func(t *testing.T, h []snapshot) {
			want := snapshot{Method: "GET", Target: "/index.html?q=1", Minor: 1,
				Fields: "Host=example.com|User-Agent=x", ContentLength: -1, Body: BodyNone,
				KeepAlive: true, Host: "example.com", HasHost: true}
			if h[0] != want {
				t.Fatalf("head = %+v\nwant   %+v", h[0], want)
			}
		}},
	{"ows_trimmed", "GET / HTTP/1.1\r\nHost:example.com\r\nX-A: \t a b \t\r\nX-Empty:\r\n\r\n",
		[]string{"head:GET /", "end"},
		func(t *testing.T, h []snapshot) {
			if h[0].Fields != "Host=example.com|X-A=a b|X-Empty=" {
				t.Fatalf("fields = %q", h[0].Fields)
			}
		}},
	{"content_length_body", "POST /p HTTP/1.1\r\n" + hostLine + "Content-Length: 5\r\n\r\nhello",
		[]string{"head:POST /p", "body:hello", "end"},
		func(t *testing.T, h []snapshot) {
			if h[0].Body != BodyLength || h[0].ContentLength != 5 {
				t.Fatalf("framing = %v %d", h[0].Body, h[0].ContentLength)
			}
		}},
	{"content_length_zero", "POST /p HTTP/1.1\r\n" + hostLine + "Content-Length: 0\r\n\r\n",
		[]string{"head:POST /p", "end"}, nil},
	{"content_length_leading_zeros", "POST /p HTTP/1.1\r\n" + hostLine + "Content-Length: 003\r\n\r\nabc",
		[]string{"head:POST /p", "body:abc", "end"}, nil},
	{"chunked_with_trailers", "POST / HTTP/1.1\r\n" + hostLine + "Transfer-Encoding: chunked\r\n\r\n" +
		"5\r\nhello\r\n6;name=value;flag\r\n world\r\n0\r\nX-Checksum: abc\r\nX-B: 2\r\n\r\n",
		[]string{"head:POST /", "body:hello world", "trailers:X-Checksum=abc|X-B=2", "end"},
		func(t *testing.T, h []snapshot) {
			if h[0].Body != BodyChunked || h[0].ContentLength != -1 {
				t.Fatalf("framing = %v %d", h[0].Body, h[0].ContentLength)
			}
		}},
	{"chunked_uppercase_hex_and_quoted_ext", "POST / HTTP/1.1\r\n" + hostLine + "Transfer-Encoding: Chunked\r\n\r\n" +
		"A; a = \"q\\\"x\" ; b\r\n0123456789\r\n000\r\n\r\n",
		[]string{"head:POST /", "body:0123456789", "end"}, nil},
	{"expect_100", "PUT /u HTTP/1.1\r\n" + hostLine + "Expect: 100-Continue\r\nContent-Length: 1\r\n\r\nx",
		[]string{"head:PUT /u", "body:x", "end"},
		func(t *testing.T, h []snapshot) {
			if !h[0].Expect100 {
				t.Fatal("Expect100 not set")
			}
		}},
	{"expect_100_ignored_in_http10", "PUT /u HTTP/1.0\r\nExpect: 100-continue\r\n\r\n",
		[]string{"head:PUT /u", "end"},
		func(t *testing.T, h []snapshot) {
			if h[0].Expect100 {
				t.Fatal("Expect100 set for HTTP/1.0")
			}
		}},
	{"connection_close", "GET / HTTP/1.1\r\n" + hostLine + "Connection: foo, Close\r\n\r\n",
		[]string{"head:GET /", "end"},
		func(t *testing.T, h []snapshot) {
			if h[0].KeepAlive {
				t.Fatal("KeepAlive despite close")
			}
		}},
	{"http10_default_close", "GET / HTTP/1.0\r\n\r\n", []string{"head:GET /", "end"},
		func(t *testing.T, h []snapshot) {
			if h[0].KeepAlive || h[0].Minor != 0 || h[0].HasHost {
				t.Fatalf("head = %+v", h[0])
			}
		}},
	{"http10_keep_alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", []string{"head:GET /", "end"},
		func(t *testing.T, h []snapshot) {
			if !h[0].KeepAlive {
				t.Fatal("HTTP/1.0 keep-alive not honoured")
			}
		}},
	{"upgrade", "GET /ws HTTP/1.1\r\n" + hostLine + "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
		[]string{"head:GET /ws", "end"},
		func(t *testing.T, h []snapshot) {
			if !h[0].Upgrade {
				t.Fatal("Upgrade not set")
			}
		}},
	{"upgrade_header_without_connection_token", "GET /ws HTTP/1.1\r\n" + hostLine + "Upgrade: websocket\r\n\r\n",
		[]string{"head:GET /ws", "end"},
		func(t *testing.T, h []snapshot) {
			if h[0].Upgrade {
				t.Fatal("Upgrade set without Connection: upgrade")
			}
		}},
	{"pipelined", "GET /a HTTP/1.1\r\n" + hostLine + "\r\nPOST /b HTTP/1.1\r\n" + hostLine + "Content-Length: 2\r\n\r\nhiGET /c HTTP/1.1\r\n" + hostLine + "\r\n",
		[]string{"head:GET /a", "end", "head:POST /b", "body:hi", "end", "head:GET /c", "end"}, nil},
	{"leading_empty_lines", "\r\n\r\nGET / HTTP/1.1\r\n" + hostLine + "\r\n", []string{"head:GET /", "end"}, nil},
	{"absolute_form", "GET http://a.example:8080/x?y HTTP/1.1\r\nHost: b.example\r\n\r\n",
		[]string{"head:GET http://a.example:8080/x?y", "end"}, nil},
	{"absolute_form_no_path", "GET https://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n",
		[]string{"head:GET https://a.example", "end"}, nil},
	{"connect", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
		[]string{"head:CONNECT example.com:443", "end"}, nil},
	{"connect_ipv6", "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n",
		[]string{"head:CONNECT [::1]:443", "end"}, nil},
	{"options_asterisk", "OPTIONS * HTTP/1.1\r\n" + hostLine + "\r\n", []string{"head:OPTIONS *", "end"}, nil},
	{"empty_host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", []string{"head:GET /", "end"},
		func(t *testing.T, h []snapshot) {
			if !h[0].HasHost || h[0].Host != "" {
				t.Fatalf("host = %q present=%v", h[0].Host, h[0].HasHost)
			}
		}},
	{"obs_text_value", "GET / HTTP/1.1\r\n" + hostLine + "X-A: caf\xc3\xa9\r\n\r\n", []string{"head:GET /", "end"}, nil},
	{"lenient_target_chars", "GET /a|b{c}\"d^e`f\\g[h]<i> HTTP/1.1\r\n" + hostLine + "\r\n",
		[]string{"head:GET /a|b{c}\"d^e`f\\g[h]<i>", "end"}, nil},
	{"get_with_body", "GET / HTTP/1.1\r\n" + hostLine + "Content-Length: 3\r\n\r\nabc",
		[]string{"head:GET /", "body:abc", "end"}, nil},
}

func TestAcceptRequests(t *testing.T) {
	cases := acceptRequestCases
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := parseAll(Request, c.raw, false)
			if r.err != nil {
				t.Fatalf("error %v", r.err)
			}
			if !reflect.DeepEqual(r.events, c.events) {
				t.Fatalf("events = %q\nwant     %q", r.events, c.events)
			}
			if c.check != nil {
				c.check(t, r.heads)
			}
		})
	}
}

var rejectRequestCases = []struct {
	name string
	raw  string
	want *Error
}{
	{"empty_method", " / HTTP/1.1\r\n" + hostLine + "\r\n", ErrBadRequestLine},
	{"no_spaces", "GET\r\n" + hostLine + "\r\n", ErrBadRequestLine},
	{"empty_target", "GET  HTTP/1.1\r\n" + hostLine + "\r\n", ErrBadRequestLine},
	{"version_garbage", "GET / HTTP/1.1x\r\n" + hostLine + "\r\n", ErrBadVersion},
	{"version_1_2", "GET / HTTP/1.2\r\n" + hostLine + "\r\n", ErrVersionNotSupported},
	{"version_missing_digit", "GET / HTTP/1.\r\n" + hostLine + "\r\n", ErrBadVersion},
	{"cr_in_request_line", "GET /\r HTTP/1.1\r\n" + hostLine + "\r\n", ErrBadRequestTarget},
	{"tab_separator", "GET\t/ HTTP/1.1\r\n" + hostLine + "\r\n", ErrBadMethod},
	{"percent_at_end", "GET /a% HTTP/1.1\r\n" + hostLine + "\r\n", ErrBadRequestTarget},
	{"absolute_no_authority", "GET http:///x HTTP/1.1\r\n" + hostLine + "\r\n", ErrBadRequestTarget},
	{"absolute_bad_scheme", "GET 1http://a/ HTTP/1.1\r\n" + hostLine + "\r\n", ErrBadRequestTarget},
	{"absolute_bad_port", "GET http://a:b/ HTTP/1.1\r\n" + hostLine + "\r\n", ErrBadRequestTarget},
	{"absolute_bad_ipv6", "GET http://[::g]/ HTTP/1.1\r\n" + hostLine + "\r\n", ErrBadRequestTarget},
	{"connect_origin_form", "CONNECT /x HTTP/1.1\r\n" + hostLine + "\r\n", ErrBadRequestTarget},
	{"connect_chunked", "CONNECT a.example:443 HTTP/1.1\r\n" + hostLine + "Transfer-Encoding: chunked\r\n\r\n", ErrBodyNotAllowed},
	{"host_percent", "GET / HTTP/1.1\r\nHost: a%41.example\r\n\r\n", ErrBadHost},
	{"del_in_value", "GET / HTTP/1.1\r\n" + hostLine + "X-A: a\x7fb\r\n\r\n", ErrInvalidHeaderValue},
	{"lf_only_head_end", "GET / HTTP/1.1\r\n" + hostLine + "\n", ErrBareLF},
	{"leading_bare_lf", "\nGET / HTTP/1.1\r\n" + hostLine + "\r\n", ErrBareLF},
	{"te_http10_gzip", "POST / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n", ErrTransferEncodingHTTP10},
	{"te_gzip_alone", "POST / HTTP/1.1\r\n" + hostLine + "Transfer-Encoding: gzip\r\n\r\n", ErrUnsupportedTransferEncoding},
	{"te_trailing_comma", "POST / HTTP/1.1\r\n" + hostLine + "Transfer-Encoding: chunked,\r\n\r\n", ErrBadTransferEncoding},
	{"chunk_ext_trailing_space", "POST / HTTP/1.1\r\n" + hostLine + "Transfer-Encoding: chunked\r\n\r\n1;a=b \r\nx\r\n0\r\n\r\n", ErrBadChunkExtension},
	{"chunk_ext_unterminated_quote", "POST / HTTP/1.1\r\n" + hostLine + "Transfer-Encoding: chunked\r\n\r\n1;a=\"b\r\nx\r\n0\r\n\r\n", ErrBadChunkExtension},
	{"host_port_too_long", "GET / HTTP/1.1\r\nHost: a.example:123456\r\n\r\n", ErrBadHost},
	{"host_ipv6_junk_after_bracket", "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", ErrBadHost},
	{"host_ipv4_in_brackets", "GET / HTTP/1.1\r\nHost: [127.0.0.1]\r\n\r\n", ErrBadHost},
	{"host_ipv6_unclosed", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", ErrBadHost},
	{"lone_cr_before_request_line", "\rGET / HTTP/1.1\r\n" + hostLine + "\r\n", ErrBadMethod},
	{"chunk_ext_quoted_ctl", "POST / HTTP/1.1\r\n" + hostLine + "Transfer-Encoding: chunked\r\n\r\n1;a=\"\x01\"\r\nx\r\n0\r\n\r\n", ErrBadChunkExtension},
	{"chunk_ext_quoted_bad_escape", "POST / HTTP/1.1\r\n" + hostLine + "Transfer-Encoding: chunked\r\n\r\n1;a=\"\\\x01\"\r\nx\r\n0\r\n\r\n", ErrBadChunkExtension},
	{"chunk_ext_empty_value", "POST / HTTP/1.1\r\n" + hostLine + "Transfer-Encoding: chunked\r\n\r\n1;a=\r\nx\r\n0\r\n\r\n", ErrBadChunkExtension},
	{"chunk_ext_no_name", "POST / HTTP/1.1\r\n" + hostLine + "Transfer-Encoding: chunked\r\n\r\n1;=b\r\nx\r\n0\r\n\r\n", ErrBadChunkExtension},
	{"long_request_line_bare_lf", "GET /" + strings.Repeat("a", 16400) + " HTTP/1.1\n" + hostLine + "\r\n", ErrURITooLong},
	{"chunk_space_before_ext", "POST / HTTP/1.1\r\n" + hostLine + "Transfer-Encoding: chunked\r\n\r\n1 ;a\r\nx\r\n0\r\n\r\n", ErrBadChunkSize},
	{"chunk_17_digits", "POST / HTTP/1.1\r\n" + hostLine + "Transfer-Encoding: chunked\r\n\r\n00000000000000001\r\nx\r\n0\r\n\r\n", ErrBadChunkSize},
	{"chunk_cr_not_lf", "POST / HTTP/1.1\r\n" + hostLine + "Transfer-Encoding: chunked\r\n\r\n1\r\nx\rX0\r\n\r\n", ErrBadChunkTerminator},
	{"trailer_bad_name", "POST / HTTP/1.1\r\n" + hostLine + "Transfer-Encoding: chunked\r\n\r\n0\r\nA B: c\r\n\r\n", ErrInvalidHeaderName},
	{"trailer_obs_fold", "POST / HTTP/1.1\r\n" + hostLine + "Transfer-Encoding: chunked\r\n\r\n0\r\nA: b\r\n c\r\n\r\n", ErrObsFold},
}

func TestRejectRequests(t *testing.T) {
	cases := rejectRequestCases
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := parseAll(Request, c.raw, false)
			wantError(t, r.err, c.want)
		})
	}
}

func TestErrorIsSticky(t *testing.T) {
	var p Parser
	p.Init(Request, Limits{})
	bad := []byte("GET / HTTP/1.1\r\nX A: b\r\n\r\n")
	_, _, err := p.Next(bad)
	wantError(t, err, ErrInvalidHeaderName)
	ev, n, err := p.Next([]byte("GET / HTTP/1.1\r\n" + hostLine + "\r\n"))
	if ev != EventNeedMore || n != 0 {
		t.Fatalf("after error: %v %d", ev, n)
	}
	wantError(t, err, ErrInvalidHeaderName)
	_, err = p.EOF()
	wantError(t, err, ErrInvalidHeaderName)
}

func TestLimits(t *testing.T) {
	lim := Limits{MaxRequestLineBytes: 20, MaxHeaderBytes: 64, MaxHeaders: 2, MaxChunkExtBytes: 8}
	parse := func(raw string) result {
		var p Parser
		p.Init(Request, lim)
		return drive(&p, [][]byte{[]byte(raw)}, false)
	}
	// Exactly at each limit is fine.
	ok := "GET /aaaaaaaaaaaaaa HTTP/1.1\r\nHost: h\r\nX: 12345678901234567890123\r\n\r\n"
	if len("GET /aaaaaaaaaaaaaa HTTP/1.1") != 28 || len(ok) != 69 {
		t.Fatalf("fixture sizes changed: %d", len(ok))
	}
	lim.MaxRequestLineBytes = 28
	lim.MaxHeaderBytes = 69
	if r := parse(ok); r.err != nil {
		t.Fatalf("at the limits: %v", r.err)
	}
	lim.MaxRequestLineBytes = 27
	wantError(t, parse(ok).err, ErrURITooLong)
	lim.MaxRequestLineBytes = 28
	lim.MaxHeaderBytes = 68
	wantError(t, parse(ok).err, ErrHeadersTooLarge)
	lim.MaxHeaderBytes = 69
	lim.MaxHeaders = 1
	wantError(t, parse(ok).err, ErrTooManyHeaders)

	lim = Limits{MaxChunkExtBytes: 8}
	chunked := "POST / HTTP/1.1\r\n" + hostLine + "Transfer-Encoding: chunked\r\n\r\n"
	if r := parse(chunked + "1;abc=def\r\nx\r\n0\r\n\r\n"); r.err != nil {
		t.Fatalf("8-byte extension: %v", r.err)
	}
	wantError(t, parse(chunked+"1;abc=defg\r\nx\r\n0\r\n\r\n").err, ErrBadChunkExtension)
	// Without a line end in sight the verdict is the same.
	wantError(t, parse(chunked+"1;abc=defghijklmnopqrstuvwxyz").err, ErrBadChunkExtension)

	lim = Limits{MaxHeaderBytes: 64}
	wantError(t, parse(chunked+"0\r\nX: "+strings.Repeat("a", 70)+"\r\n\r\n").err, ErrHeadersTooLarge)
}

func TestDefaultLimits(t *testing.T) {
	d := DefaultLimits()
	if d != (Limits{16384, 61440, 100, 4096}) {
		t.Fatalf("defaults = %+v", d)
	}
	if got := (Limits{}).withDefaults(); got != d {
		t.Fatalf("zero limits = %+v", got)
	}
	// A request line must fit in the head with its CRLF and the final one.
	if got := (Limits{MaxHeaderBytes: 100}).withDefaults(); got.MaxRequestLineBytes != 96 {
		t.Fatalf("request line limit = %d", got.MaxRequestLineBytes)
	}
	if got := (Limits{MaxHeaderBytes: 2}).withDefaults(); got.MaxHeaderBytes != 8 || got.MaxRequestLineBytes != 4 {
		t.Fatalf("tiny limits = %+v", got)
	}
}

var responseCases = []struct {
	name    string
	method  string
	raw     string
	eof     bool
	events  []string
	body    BodyKind
	keep    bool
	wantErr *Error
}{
	{"content_length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", false,
		[]string{"head:200", "body:hi", "end"}, BodyLength, true, nil},
	{"chunked_trailers", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nGrpc-Status: 0\r\n\r\n", false,
		[]string{"head:200", "body:hi", "trailers:Grpc-Status=0", "end"}, BodyChunked, true, nil},
	{"until_close", "GET", "HTTP/1.1 200 OK\r\n\r\nabc", true,
		[]string{"head:200", "body:abc", "end"}, BodyUntilClose, false, nil},
	{"until_close_empty", "GET", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", true,
		[]string{"head:200", "end"}, BodyUntilClose, false, nil},
	{"head_response", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", false,
		[]string{"head:200", "end"}, BodyNone, true, nil},
	{"head_response_chunked", "HEAD", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false,
		[]string{"head:200", "end"}, BodyNone, true, nil},
	{"no_content", "GET", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", false,
		[]string{"head:204", "end"}, BodyNone, true, nil},
	{"not_modified", "GET", "HTTP/1.1 304 Not Modified\r\n\r\n", false,
		[]string{"head:304", "end"}, BodyNone, true, nil},
	{"continue_then_final", "POST", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx", false,
		[]string{"head:100", "end", "head:201", "body:x", "end"}, BodyLength, true, nil},
	{"connect_established", "CONNECT", "HTTP/1.1 200 Connection Established\r\n\r\n", false,
		[]string{"head:200", "end"}, BodyNone, true, nil},
	{"connect_refused_has_body", "CONNECT", "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno", false,
		[]string{"head:403", "body:no", "end"}, BodyLength, true, nil},
	{"http10_close", "GET", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false,
		[]string{"head:200", "end"}, BodyLength, false, nil},
	{"connection_close", "GET", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", false,
		[]string{"head:200", "end"}, BodyLength, false, nil},
	{"no_reason", "GET", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false,
		[]string{"head:200", "end"}, BodyLength, true, nil},
	{"empty_reason", "GET", "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", false,
		[]string{"head:200", "end"}, BodyLength, true, nil},
	{"truncated_body", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", true,
		nil, 0, false, ErrTruncated},
	{"bad_status", "GET", "HTTP/1.1 2000 OK\r\n\r\n", false, nil, 0, false, ErrBadStatusLine},
	{"status_too_low", "GET", "HTTP/1.1 099 X\r\n\r\n", false, nil, 0, false, ErrBadStatusLine},
	{"bad_version", "GET", "HTTP/2.0 200 OK\r\n\r\n", false, nil, 0, false, ErrBadStatusLine},
	{"no_space_before_reason", "GET", "HTTP/1.1 200OK\r\n\r\n", false, nil, 0, false, ErrBadStatusLine},
	{"status_letters", "GET", "HTTP/1.1 2x0 OK\r\n\r\n", false, nil, 0, false, ErrBadStatusLine},
	{"reason_ctl", "GET", "HTTP/1.1 200 O\x01K\r\n\r\n", false, nil, 0, false, ErrBadStatusLine},
	{"cl_and_te", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", false, nil, 0, false, ErrContentLengthAndChunked},
}

func TestResponses(t *testing.T) {
	cases := responseCases
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p Parser
			p.Init(Response, Limits{})
			p.ExpectResponseToMethod([]byte(c.method))
			r := drive(&p, [][]byte{[]byte(c.raw)}, c.eof)
			if c.wantErr != nil {
				wantError(t, r.err, c.wantErr)
				return
			}
			if r.err != nil {
				t.Fatalf("error %v", r.err)
			}
			if !reflect.DeepEqual(r.events, c.events) {
				t.Fatalf("events = %q\nwant     %q", r.events, c.events)
			}
			last := r.heads[len(r.heads)-1]
			if last.Body != c.body || last.KeepAlive != c.keep {
				t.Fatalf("body %v keep-alive %v, want %v %v", last.Body, last.KeepAlive, c.body, c.keep)
			}
		})
	}
}

// A response parser forgets HEAD after the final response, not after 1xx.
func TestHeadExpectationLastsUntilFinalResponse(t *testing.T) {
	var p Parser
	p.Init(Response, Limits{})
	p.ExpectResponseTo(true)
	r := drive(&p, [][]byte{[]byte("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")}, false)
	want := []string{"head:103", "end", "head:200", "end", "head:200", "body:abc", "end"}
	if r.err != nil || !reflect.DeepEqual(r.events, want) {
		t.Fatalf("events = %q err %v\nwant %q", r.events, r.err, want)
	}
}

func TestEOF(t *testing.T) {
	var p Parser
	p.Init(Request, Limits{})
	if !p.Idle() {
		t.Fatal("new parser not idle")
	}
	if ev, err := p.EOF(); ev != EventNeedMore || err != nil {
		t.Fatalf("EOF when idle = %v %v", ev, err)
	}
	p.Init(Request, Limits{})
	r := drive(&p, [][]byte{[]byte("GET / HTTP/1.1\r\n" + hostLine + "\r\nGET /b HT")}, false)
	if r.err != nil || len(r.events) != 2 || p.Idle() {
		t.Fatalf("events %q err %v idle %v", r.events, r.err, p.Idle())
	}
	_, err := p.EOF()
	wantError(t, err, ErrTruncated)

	p.Init(Request, Limits{})
	r = drive(&p, [][]byte{[]byte("POST / HTTP/1.1\r\n" + hostLine + "Transfer-Encoding: chunked\r\n\r\n5\r\nhel")}, true)
	wantError(t, r.err, ErrTruncated)
}

func TestNextConsumesLeadingLinesWhileWaiting(t *testing.T) {
	var p Parser
	p.Init(Request, Limits{})
	ev, n, err := p.Next([]byte("\r\n\r\nGE"))
	if ev != EventNeedMore || n != 4 || err != nil {
		t.Fatalf("Next = %v %d %v", ev, n, err)
	}
	ev, n, err = p.Next([]byte("GET / HTTP/1.1\r\n" + hostLine + "\r\n"))
	if ev != EventHead || n != 37 || err != nil {
		t.Fatalf("Next = %v %d %v", ev, n, err)
	}
}
