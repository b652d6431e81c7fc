package cluster

import (
	"errors"
	"strconv"

	"github.com/sluiceproxy/sluice/host/headers"
)

// The request head is encoded here rather than by a generic serializer
// because framing is this pool's decision (it must agree with how
// SendData/SendTrailers frame the body) and because header maps can be
// written by filters and modules: a CR or LF in a value would let them
// smuggle a second request to the upstream, so every byte is checked.

var (
	crlf      = []byte("\r\n")
	lastChunk = []byte("0\r\n\r\n")
)

// Errors for request heads the pool refuses to put on the wire; the stream
// is reset with LocalReset and the error.
var (
	ErrBadMethod      = errors.New("cluster: request :method missing or not a token")
	ErrBadPath        = errors.New("cluster: request :path missing or contains a space or control byte")
	ErrBadAuthority   = errors.New("cluster: request :authority contains a space or control byte")
	ErrConnect        = errors.New("cluster: CONNECT is not supported by the HTTP/1.1 pool")
	ErrBadHeaderName  = errors.New("cluster: request header name is not a token")
	ErrBadHeaderValue = errors.New("cluster: request header value contains CR, LF, NUL or another control byte")
)

// appendRequestHead writes the request line, Host, the fields of h (not
// the pseudo-headers, Host or Transfer-Encoding) and sluice's framing.
// Exactly one framing goes out: with chunked, Transfer-Encoding: chunked;
// with emptyBody (the request ends with its head) no body, so any
// Content-Length in h is dropped and a method whose requests normally carry
// a body gets Content-Length: 0 (as net/http does: some servers answer 411
// otherwise); else h's Content-Length. fallbackHost is used when the map
// has neither :authority nor host.
func appendRequestHead(dst []byte, h *headers.Map, chunked, emptyBody bool, fallbackHost []byte) ([]byte, error) {
	method := h.Method()
	if !isToken(method) {
		return dst, ErrBadMethod
	}
	if methodIs(method, "CONNECT") {
		return dst, ErrConnect
	}
	path := h.Path()
	if len(path) == 0 || !isTargetSafe(path) {
		return dst, ErrBadPath
	}
	host := h.Authority()
	if len(host) == 0 {
		host, _ = h.Get("host")
	}
	if len(host) == 0 {
		host = fallbackHost
	}
	if !isTargetSafe(host) {
		return dst, ErrBadAuthority
	}
	dst = append(dst, method...)
	dst = append(dst, ' ')
	dst = append(dst, path...)
	dst = append(dst, " HTTP/1.1\r\nhost: "...)
	dst = append(dst, host...)
	dst = append(dst, crlf...)

	var err error
	h.Range(func(name, value []byte) bool {
		if len(name) > 0 && name[0] == ':' {
			return true
		}
		if string(name) == "host" || string(name) == "transfer-encoding" {
			return true
		}
		if !isToken(name) {
			err = ErrBadHeaderName
			return false
		}
		if !isFieldValue(value) {
			err = ErrBadHeaderValue
			return false
		}
		if string(name) == "content-length" {
			if chunked || emptyBody {
				return true // the framing below is the only one sent
			}
		}
		dst = appendField(dst, name, value)
		return true
	})
	if err != nil {
		return dst, err
	}
	switch {
	case chunked:
		dst = append(dst, "transfer-encoding: chunked\r\n"...)
	case emptyBody && expectsBody(method):
		dst = append(dst, "content-length: 0\r\n"...)
	}
	return append(dst, crlf...), nil
}

func appendField(dst, name, value []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, ':', ' ')
	dst = append(dst, value...)
	return append(dst, crlf...)
}

// appendLastChunk ends a chunked body with trailers. Fields that may not
// be trailers (framing, routing) and invalid fields are dropped: the body
// is already on the wire, so failing here would only cut the request.
func appendLastChunk(dst []byte, t *headers.Map) []byte {
	dst = append(dst, "0\r\n"...)
	if t != nil {
		t.Range(func(name, value []byte) bool {
			if len(name) == 0 || name[0] == ':' || !isToken(name) || !isFieldValue(value) || forbiddenTrailer(name) {
				return true
			}
			dst = appendField(dst, name, value)
			return true
		})
	}
	return append(dst, crlf...)
}

func forbiddenTrailer(name []byte) bool {
	switch string(name) {
	case "content-length", "transfer-encoding", "host", "connection", "te", "trailer", "keep-alive", "upgrade":
		return true
	}
	return false
}

func appendChunkHeader(dst []byte, n int) []byte {
	dst = strconv.AppendInt(dst, int64(n), 16)
	return append(dst, crlf...)
}

// methodIs compares a method exactly (methods are case-sensitive).
func methodIs(method []byte, want string) bool { return string(method) == want }

func expectsBody(method []byte) bool {
	switch string(method) {
	case "POST", "PUT", "PATCH":
		return true
	}
	return false
}

// isReplayable: the request may be sent again after a kept-alive
// connection died without answering. Like net/http, only idempotent
// methods or requests carrying an idempotency key qualify.
func isReplayable(h *headers.Map) bool {
	switch string(h.Method()) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return h.Has("idempotency-key") || h.Has("x-idempotency-key")
}

// connectionClose reports whether the request's Connection field has the
// close token.
func connectionClose(h *headers.Map) bool {
	found := false
	h.Values("connection", func(v []byte) bool {
		found = headers.HasToken(v, "close")
		return !found
	})
	return found
}

// parseContentLength accepts 1*DIGIT that fits comfortably in an int64.
func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// tokenChars marks RFC 9110 tchar bytes.
var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenChars[c] {
			return false
		}
	}
	return true
}

// isFieldValue: no control bytes except HTAB (so no CR, LF, NUL), no DEL.
func isFieldValue(b []byte) bool {
	for _, c := range b {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// isTargetSafe: no space or control byte, so the request line cannot be
// split.
func isTargetSafe(b []byte) bool {
	for _, c := range b {
		if c <= 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}
