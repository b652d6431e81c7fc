package hcm

import (
	"strconv"

	"github.com/sluiceproxy/sluice/host/headers"
)

// gRPC awareness. gRPC clients read a call's outcome from grpc-status, not
// from the HTTP status: a plain "503 text/plain" reaches them as
// "unexpected HTTP status code" instead of UNAVAILABLE, which their retry
// policies never match. So, as Envoy does, sluice's own replies to a gRPC
// request are trailers-only gRPC responses (HTTP 200, grpc-status and
// grpc-message in the one HEADERS block that ends the stream), and a
// response that dies after it started ends with a grpc-status trailer
// where that is still well formed.

// gRPC status codes used here (google.golang.org/grpc/codes).
const (
	grpcUnknown           = 2
	grpcDeadlineExceeded  = 4
	grpcPermissionDenied  = 7
	grpcResourceExhausted = 8
	grpcUnimplemented     = 12
	grpcInternal          = 13
	grpcUnavailable       = 14
	grpcUnauthenticated   = 16
)

// isGRPC reports a gRPC content type: "application/grpc", optionally with
// a "+codec" suffix or parameters. gRPC-Web ("application/grpc-web…")
// carries its trailers in the body and is not converted.
func isGRPC(h *headers.Map) bool {
	if h == nil {
		return false
	}
	ct, ok := h.Get("content-type")
	const grpc = "application/grpc"
	if !ok || len(ct) < len(grpc) || !headers.EqualFold(ct[:len(grpc)], grpc) {
		return false
	}
	return len(ct) == len(grpc) || ct[len(grpc)] == '+' || ct[len(grpc)] == ';'
}

// grpcStatusForHTTP maps the HTTP status of a local reply to the gRPC
// status a gRPC client gets: gRPC's own HTTP mapping (400 INTERNAL, 401
// UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 UNIMPLEMENTED, 429/502/503
// UNAVAILABLE, otherwise UNKNOWN), refined for what sluice's replies mean:
// its timeouts (408, 504) are DEADLINE_EXCEEDED, a body or header over a
// limit (413, 431) RESOURCE_EXHAUSTED, a broken filter (500) INTERNAL.
func grpcStatusForHTTP(status int) int {
	switch status {
	case 400, 500:
		return grpcInternal
	case 401:
		return grpcUnauthenticated
	case 403:
		return grpcPermissionDenied
	case 404, 501:
		return grpcUnimplemented
	case 408, 504:
		return grpcDeadlineExceeded
	case 413, 431:
		return grpcResourceExhausted
	case 429, 502, 503:
		return grpcUnavailable
	}
	return grpcUnknown
}

// grpcLocalReply turns the local reply in rh (status and headers set, body
// not yet sent) into a trailers-only gRPC response, when the request is
// gRPC and the reply is an error (status >= 300) or already carries a
// grpc-status (a module answering with a gRPC status). grpc-message is the
// reply's own grpc-message, else its body, else details. It reports whether
// it converted (the body is then dropped).
func grpcLocalReply(rh *headers.Map, body []byte, details string) bool {
	status := rh.Status()
	gs, hasStatus := rh.Get("grpc-status")
	if !hasStatus && status < 300 {
		return false
	}
	code := grpcStatusForHTTP(status)
	if hasStatus {
		if n, err := strconv.Atoi(string(gs)); err == nil && n >= 0 {
			code = n
		}
	}
	rh.SetStatus(200)
	if !isGRPC(rh) {
		rh.SetString("content-type", "application/grpc")
	}
	rh.Set("grpc-status", strconv.AppendInt(nil, int64(code), 10))
	if !rh.Has("grpc-message") {
		msg := body
		if len(msg) == 0 {
			msg = []byte(details)
		}
		if len(msg) > 0 {
			rh.Set("grpc-message", AppendGRPCMessage(nil, msg))
		}
	}
	rh.Del("content-length")
	return true
}

// AppendGRPCMessage appends msg percent-encoded as a grpc-message value:
// bytes outside printable ASCII, and '%', become %XX (gRPC over HTTP/2).
func AppendGRPCMessage(dst, msg []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range msg {
		if c < 0x20 || c > 0x7e || c == '%' {
			dst = append(dst, '%', hex[c>>4], hex[c&0xf])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// grpcTrailers fills t with the trailers that end a gRPC response which
// cannot complete normally.
func grpcTrailers(t *headers.Map, code int, msg string) {
	t.Reset()
	t.Set("grpc-status", strconv.AppendInt(nil, int64(code), 10))
	t.Set("grpc-message", AppendGRPCMessage(nil, []byte(msg)))
}

// grpcFramer follows the 5-byte length prefixes of a gRPC response body,
// to know whether the bytes seen so far end on a message boundary.
type grpcFramer struct {
	hdr  [5]byte
	hdrN int    // prefix bytes of the next message seen so far
	left uint64 // payload bytes of the current message still to come
}

func (g *grpcFramer) reset() { *g = grpcFramer{} }

func (g *grpcFramer) feed(p []byte) {
	for len(p) > 0 {
		if g.left > 0 {
			n := min(uint64(len(p)), g.left)
			g.left -= n
			p = p[n:]
			continue
		}
		k := copy(g.hdr[g.hdrN:], p)
		g.hdrN += k
		p = p[k:]
		if g.hdrN == len(g.hdr) {
			g.hdrN = 0
			g.left = uint64(g.hdr[1])<<24 | uint64(g.hdr[2])<<16 | uint64(g.hdr[3])<<8 | uint64(g.hdr[4])
		}
	}
}

// atBoundary: no message is partly sent.
func (g *grpcFramer) atBoundary() bool { return g.hdrN == 0 && g.left == 0 }
