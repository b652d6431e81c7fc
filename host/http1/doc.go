// Package http1 is sluice's HTTP/1.1 codec: an incremental, strict,
// allocation-free parser over the caller's byte buffer, and serializers
// that append heads and chunks to a caller's slice.
//
// # Parsing
//
// A Parser reads one direction of one connection. The caller keeps the
// bytes: it passes every unconsumed byte to Next, drops the consumed prefix
// and reads more on EventNeedMore. Heads, bodies and trailers come back as
// views into that buffer, so nothing is copied; a head is parsed only once
// it is complete, and the scan remembers how far it looked so partial heads
// are not rescanned. Pipelined messages are parsed one after the other;
// after a CONNECT, a 2xx response to CONNECT or an upgrade, the bytes that
// follow belong to another protocol and the caller stops using the parser.
//
// The parser is as strict as Envoy's and haproxy's defaults, because a
// proxy that reads a message differently from the server behind it is how
// request smuggling works. Every rejection is an *Error with the status a
// server answers (for requests) and a stable reason:
//
//	error                           status  reason                              when
//	ErrBadRequestLine               400     http1.bad_request_line              not "method SP target SP version" with single spaces (HTTP/0.9 "GET /" too)
//	ErrTooManyEmptyLines            400     http1.too_many_leading_empty_lines  more than 8 CRLFs before a request line
//	ErrBadMethod                    400     http1.invalid_method                method is not a token
//	ErrBadRequestTarget             400     http1.invalid_url                   CTL/SP/DEL/non-ASCII/'#' in the target, bad %-escape, wrong form for the method (authority-form only for CONNECT, "*" only for OPTIONS), userinfo, bad host or port
//	ErrURITooLong                   414     http1.uri_too_long                  request line longer than MaxRequestLineBytes
//	ErrBadVersion                   400     http1.invalid_version               version is not HTTP/d.d or HTTP/d
//	ErrVersionNotSupported          505     http1.version_not_supported         well-formed but not HTTP/1.0 or HTTP/1.1 (HTTP/2.0, HTTP/3, HTTP/0.9, HTTP/1.2)
//	ErrBadStatusLine                502     http1.bad_status_line               response status line malformed, status outside 100-599
//	ErrHeadersTooLarge              431     http1.headers_too_large             head (or trailer section) longer than MaxHeaderBytes
//	ErrTooManyHeaders               431     http1.too_many_headers              more than MaxHeaders fields
//	ErrBareLF                       400     http1.bare_lf                       a line ended by LF without CR (head, chunk line, trailers)
//	ErrObsFold                      400     http1.obs_fold                      a field line starting with SP/HTAB (obs-fold, or whitespace after the start line)
//	ErrInvalidHeaderName            400     http1.invalid_header_name           name empty, not a token, no colon, or space before the colon
//	ErrInvalidHeaderValue           400     http1.invalid_header_value          NUL, CR, LF or another CTL (except HTAB) or DEL in a value
//	ErrMissingHost                  400     http1.missing_host                  HTTP/1.1 request without Host
//	ErrMultipleHost                 400     http1.multiple_host                 more than one Host field
//	ErrBadHost                      400     http1.invalid_host                  Host is not uri-host[:port] (userinfo, %-escapes, bad port)
//	ErrContentLengthAndChunked      400     http1.content_length_and_chunked    Content-Length and Transfer-Encoding together
//	ErrBadContentLength             400     http1.invalid_content_length        Content-Length not 1*DIGIT within int63 (sign, space, list, empty)
//	ErrDuplicateContentLength       400     http1.multiple_content_length       more than one Content-Length field, even with equal values (Envoy's default)
//	ErrBadTransferEncoding          400     http1.invalid_transfer_encoding     empty Transfer-Encoding list element
//	ErrChunkedNotFinal              400     http1.chunked_not_final             chunked present but not the final coding (RFC 9112 6.3)
//	ErrDuplicateChunked             400     http1.chunked_applied_twice         chunked more than once (RFC 9112 7)
//	ErrUnsupportedTransferEncoding  501     http1.unsupported_transfer_encoding any coding other than chunked, e.g. "gzip, chunked" (sluice decodes none)
//	ErrTransferEncodingHTTP10       400     http1.transfer_encoding_in_http10   Transfer-Encoding in an HTTP/1.0 message (RFC 9112 6.1: faulty framing)
//	ErrBodyNotAllowed               400     http1.body_not_allowed              CONNECT with Transfer-Encoding or a non-zero Content-Length
//	ErrBadChunkSize                 400     http1.invalid_chunk_size            not 1-16 hex digits, sign, "0x", overflow, anything but ";" after the digits (also "1 ;ext", refused like net/http and llhttp do)
//	ErrBadChunkExtension            400     http1.invalid_chunk_extension       extension syntax wrong or longer than MaxChunkExtBytes
//	ErrBadChunkTerminator           400     http1.invalid_chunk_terminator      chunk data not followed by CRLF
//	ErrTruncated                    400     http1.truncated                     peer closed in the middle of a message
//
// Checks on the head happen in a fixed order, so the same bytes always give
// the same error however they were split: line endings and sizes as the
// bytes arrive (414, then 431), then the start line, the fields, and the
// framing rules (Host, then Content-Length, then Transfer-Encoding).
//
// Messages without framing: a request has no body; a response is read until
// the connection closes (and is not keep-alive). 1xx, 204 and 304 responses,
// responses to HEAD and 2xx responses to CONNECT have no body whatever they
// declare (ExpectResponseTo / ExpectResponseToMethod before each response).
//
// # Serving
//
// NewServerCodec is the downstream HTTP/1.x codec (a codec.ServerCodec over
// a codec.Transport, driven by the connection manager like http2's): one
// request at a time, pipelined requests parsed only once the response
// before them is complete and while the connection's output is below its
// high watermark; 100-continue answered by the codec; an early answer
// keeps the connection when the unread body is small (read and dropped,
// at most 64 KiB); a rejected head answered with a minimal error
// (AppendErrorResponse) and the connection closed. It also switches
// protocols: codec.Switcher (WebSocket-style upgrades, CONNECT) and
// codec.H2CUpgrader ("Upgrade: h2c").
//
// # Serializing
//
// AppendRequestHead, AppendResponseHead, AppendChunk and AppendLastChunk
// append wire bytes to dst without allocating when dst has room. They take
// the proxy's header map (pseudo-headers plus fields); HeadToMap converts a
// parsed head into that map.
package http1
