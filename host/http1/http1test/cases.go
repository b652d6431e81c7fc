package http1test

import "strings"

// Case is one raw request and the answer sluice must give it. Status 0 with
// an empty Reason means the request must be accepted (and, for the proxy,
// forwarded); otherwise the parser rejects it with exactly this status and
// reason and the proxy answers Status and closes the connection.
type Case struct {
	Name   string
	Raw    string
	Status int
	Reason string
}

// Accepted reports whether the case must be accepted.
func (c Case) Accepted() bool { return c.Status == 0 }

const host = "Host: example.com\r\n"

// Smuggling is a table of request-smuggling and malformed-request cases:
// each targets a place where two HTTP/1.1 parsers have disagreed in the
// wild (CL.TE, TE.CL, TE.TE and friends). Statuses follow Envoy's and
// haproxy's defaults; the reasons are sluice's.
var Smuggling = []Case{
	// Content-Length and Transfer-Encoding together, either order.
	{"cl_then_te", "POST / HTTP/1.1\r\n" + host + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "http1.content_length_and_chunked"},
	{"te_then_cl", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", 400, "http1.content_length_and_chunked"},
	{"cl_zero_and_te", "POST / HTTP/1.1\r\n" + host + "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "http1.content_length_and_chunked"},

	// Content-Length shapes.
	{"duplicate_cl_differing", "POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400, "http1.multiple_content_length"},
	{"duplicate_cl_identical", "POST / HTTP/1.1\r\n" + host + "Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd", 400, "http1.multiple_content_length"},
	{"cl_list", "POST / HTTP/1.1\r\n" + host + "Content-Length: 4, 4\r\n\r\nabcd", 400, "http1.invalid_content_length"},
	{"cl_plus_sign", "POST / HTTP/1.1\r\n" + host + "Content-Length: +4\r\n\r\nabcd", 400, "http1.invalid_content_length"},
	{"cl_minus_sign", "POST / HTTP/1.1\r\n" + host + "Content-Length: -1\r\n\r\n", 400, "http1.invalid_content_length"},
	{"cl_inner_space", "POST / HTTP/1.1\r\n" + host + "Content-Length: 1 2\r\n\r\nabcdefghijkl", 400, "http1.invalid_content_length"},
	{"cl_hex", "POST / HTTP/1.1\r\n" + host + "Content-Length: 0x10\r\n\r\n", 400, "http1.invalid_content_length"},
	{"cl_empty", "POST / HTTP/1.1\r\n" + host + "Content-Length:\r\n\r\n", 400, "http1.invalid_content_length"},
	{"cl_overflow", "POST / HTTP/1.1\r\n" + host + "Content-Length: 9223372036854775808\r\n\r\n", 400, "http1.invalid_content_length"},

	// Transfer-Encoding shapes.
	{"te_chunked_not_final", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400, "http1.chunked_not_final"},
	{"te_chunked_twice", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400, "http1.chunked_applied_twice"},
	{"te_two_fields_chunked", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "http1.chunked_applied_twice"},
	{"te_gzip_chunked", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501, "http1.unsupported_transfer_encoding"},
	{"te_identity", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: identity\r\n\r\n", 501, "http1.unsupported_transfer_encoding"},
	{"te_xchunked", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 501, "http1.unsupported_transfer_encoding"},
	{"te_chunked_with_param", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n", 501, "http1.unsupported_transfer_encoding"},
	{"te_empty_element", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: , chunked\r\n\r\n0\r\n\r\n", 400, "http1.invalid_transfer_encoding"},
	{"te_obs_fold", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400, "http1.obs_fold"},
	{"te_space_before_colon", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400, "http1.invalid_header_name"},
	{"te_vertical_tab", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n", 400, "http1.invalid_header_value"},
	{"te_in_http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "http1.transfer_encoding_in_http10"},

	// Chunked body.
	{"chunk_size_overflow", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", 400, "http1.invalid_chunk_size"},
	{"chunk_size_int64_overflow", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n8000000000000000\r\n", 400, "http1.invalid_chunk_size"},
	{"chunk_size_negative", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n-1\r\n", 400, "http1.invalid_chunk_size"},
	{"chunk_size_0x_prefix", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", 400, "http1.invalid_chunk_size"},
	{"chunk_size_leading_space", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n", 400, "http1.invalid_chunk_size"},
	{"chunk_size_trailing_space", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", 400, "http1.invalid_chunk_size"},
	{"chunk_size_empty", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n", 400, "http1.invalid_chunk_size"},
	{"chunk_size_bare_lf", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400, "http1.bare_lf"},
	{"chunk_data_bare_lf", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", 400, "http1.bare_lf"},
	{"chunk_data_too_long", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", 400, "http1.invalid_chunk_terminator"},
	{"chunk_ext_bad", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n5;a\"b\r\nhello\r\n0\r\n\r\n", 400, "http1.invalid_chunk_extension"},
	{"chunk_ext_too_long", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n5;a=" + strings.Repeat("x", 5000) + "\r\nhello\r\n0\r\n\r\n", 400, "http1.invalid_chunk_extension"},
	{"last_chunk_bare_lf_trailer", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n0\r\nX: y\n\r\n", 400, "http1.bare_lf"},

	// Field syntax.
	{"nul_in_value", "GET / HTTP/1.1\r\n" + host + "X-A: a\x00b\r\n\r\n", 400, "http1.invalid_header_value"},
	{"cr_in_value", "GET / HTTP/1.1\r\n" + host + "X-A: a\rb\r\n\r\n", 400, "http1.invalid_header_value"},
	{"bare_lf_in_head", "GET / HTTP/1.1\r\n" + host + "X-A: b\n\r\n", 400, "http1.bare_lf"},
	{"bare_lf_request_line", "GET / HTTP/1.1\n" + host + "\r\n", 400, "http1.bare_lf"},
	{"bad_name_char", "GET / HTTP/1.1\r\n" + host + "X(A): b\r\n\r\n", 400, "http1.invalid_header_name"},
	{"empty_name", "GET / HTTP/1.1\r\n" + host + ": b\r\n\r\n", 400, "http1.invalid_header_name"},
	{"no_colon", "GET / HTTP/1.1\r\n" + host + "X-A b\r\n\r\n", 400, "http1.invalid_header_name"},
	{"whitespace_after_request_line", "GET / HTTP/1.1\r\n " + host + "\r\n", 400, "http1.obs_fold"},
	{"obs_fold_value", "GET / HTTP/1.1\r\n" + host + "X-A: a\r\n\tb\r\n\r\n", 400, "http1.obs_fold"},

	// Limits.
	{"request_line_too_long", "GET /" + strings.Repeat("a", 16400) + " HTTP/1.1\r\n" + host + "\r\n", 414, "http1.uri_too_long"},
	{"too_many_headers", "GET / HTTP/1.1\r\n" + host + strings.Repeat("X-A: b\r\n", 100) + "\r\n", 431, "http1.too_many_headers"},
	{"huge_header", "GET / HTTP/1.1\r\n" + host + "X-A: " + strings.Repeat("b", 61440) + "\r\n\r\n", 431, "http1.headers_too_large"},

	// Request line.
	{"http09_request_line", "GET /\r\n\r\n", 400, "http1.bad_request_line"},
	{"http09_version", "GET / HTTP/0.9\r\n\r\n", 505, "http1.version_not_supported"},
	{"http2_version", "GET / HTTP/2.0\r\n" + host + "\r\n", 505, "http1.version_not_supported"},
	{"http3_version", "GET / HTTP/3\r\n" + host + "\r\n", 505, "http1.version_not_supported"},
	{"lowercase_version", "GET / http/1.1\r\n" + host + "\r\n", 400, "http1.invalid_version"},
	{"version_trailing_space", "GET / HTTP/1.1 \r\n" + host + "\r\n", 400, "http1.invalid_version"},
	{"double_space", "GET  / HTTP/1.1\r\n" + host + "\r\n", 400, "http1.bad_request_line"},
	{"method_bad_chars", "G(ET / HTTP/1.1\r\n" + host + "\r\n", 400, "http1.invalid_method"},
	{"method_nul", "G\x00ET / HTTP/1.1\r\n" + host + "\r\n", 400, "http1.invalid_method"},
	{"target_ctl", "GET /a\x01b HTTP/1.1\r\n" + host + "\r\n", 400, "http1.invalid_url"},
	{"target_fragment", "GET /a#b HTTP/1.1\r\n" + host + "\r\n", 400, "http1.invalid_url"},
	{"target_bad_escape", "GET /a%zz HTTP/1.1\r\n" + host + "\r\n", 400, "http1.invalid_url"},
	{"target_non_ascii", "GET /caf\xc3\xa9 HTTP/1.1\r\n" + host + "\r\n", 400, "http1.invalid_url"},
	{"target_no_slash", "GET a/b HTTP/1.1\r\n" + host + "\r\n", 400, "http1.invalid_url"},
	{"asterisk_not_options", "GET * HTTP/1.1\r\n" + host + "\r\n", 400, "http1.invalid_url"},
	{"absolute_userinfo", "GET http://user@example.com/ HTTP/1.1\r\n" + host + "\r\n", 400, "http1.invalid_url"},
	{"connect_without_port", "CONNECT example.com HTTP/1.1\r\n" + host + "\r\n", 400, "http1.invalid_url"},
	{"connect_with_body", "CONNECT example.com:443 HTTP/1.1\r\n" + host + "Content-Length: 5\r\n\r\nhello", 400, "http1.body_not_allowed"},
	{"too_many_empty_lines", strings.Repeat("\r\n", 9) + "GET / HTTP/1.1\r\n" + host + "\r\n", 400, "http1.too_many_leading_empty_lines"},

	// Host.
	{"missing_host", "GET / HTTP/1.1\r\n\r\n", 400, "http1.missing_host"},
	{"two_hosts", "GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n", 400, "http1.multiple_host"},
	{"host_userinfo", "GET / HTTP/1.1\r\nHost: user@example.com\r\n\r\n", 400, "http1.invalid_host"},
	{"host_bad_port", "GET / HTTP/1.1\r\nHost: example.com:80x\r\n\r\n", 400, "http1.invalid_host"},
	{"host_space", "GET / HTTP/1.1\r\nHost: exa mple.com\r\n\r\n", 400, "http1.invalid_host"},

	// Accepted: the RFC's answer is to use the absolute-form's authority
	// and ignore Host (RFC 9112 3.2.2).
	{"absolute_form_mismatched_host", "GET http://a.example/x HTTP/1.1\r\nHost: b.example\r\n\r\n", 0, ""},
	{"http10_without_host", "GET / HTTP/1.0\r\n\r\n", 0, ""},
	{"one_leading_empty_line", "\r\nGET / HTTP/1.1\r\n" + host + "\r\n", 0, ""},
}
