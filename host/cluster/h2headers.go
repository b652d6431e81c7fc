package cluster

import (
	"golang.org/x/net/http2/hpack"

	"github.com/sluiceproxy/sluice/host/headers"
)

// HTTP/2 header translation. The pseudo-headers come from the map
// (:method, :scheme, :authority, :path); connection-specific fields are
// dropped (RFC 9113 8.2.2: sending them would make the request malformed),
// except "te: trailers", which gRPC needs. Every name and value is checked
// as for HTTP/1.1, since filters and modules write these maps.

// encodeRequestHead HPACK-encodes h as a request head into enc's buffer,
// values through the connection's interner. fallbackAuthority is used
// when h has neither :authority nor Host.
func encodeRequestHead(enc *hpack.Encoder, values *headers.Interner, h *headers.Map, fallbackAuthority string) error {
	method := h.Method()
	if !isToken(method) {
		return ErrBadMethod
	}
	if methodIs(method, "CONNECT") {
		return ErrConnect
	}
	path := h.Path()
	if len(path) == 0 || !isTargetSafe(path) {
		return ErrBadPath
	}
	authority := h.Authority()
	if len(authority) == 0 {
		authority, _ = h.Get("host")
	}
	if !isTargetSafe(authority) {
		return ErrBadAuthority
	}
	scheme := h.Scheme()
	if len(scheme) == 0 {
		scheme = []byte("http")
	} else if !isToken(scheme) {
		return ErrBadPath
	}
	var err error
	h.Range(func(name, value []byte) bool {
		if len(name) > 0 && name[0] == ':' {
			return true
		}
		if !isLowerToken(name) {
			err = ErrBadHeaderName
			return false
		}
		if !isFieldValue(value) {
			err = ErrBadHeaderValue
			return false
		}
		return true
	})
	if err != nil {
		return err
	}
	// Validation is done before the first field is encoded: a refused head
	// must not leave the connection's HPACK state half-updated.
	write(enc, values, ":method", method)
	write(enc, values, ":scheme", scheme)
	if len(authority) > 0 {
		write(enc, values, ":authority", authority)
	} else {
		_ = enc.WriteField(hpack.HeaderField{Name: ":authority", Value: fallbackAuthority})
	}
	write(enc, values, ":path", path)
	sentTE := false
	h.Range(func(name, value []byte) bool {
		if string(name) == "te" {
			// HTTP/2 allows only "trailers" in TE: keep that token alone.
			if !sentTE && headers.HasToken(value, "trailers") {
				sentTE = true
				_ = enc.WriteField(hpack.HeaderField{Name: "te", Value: "trailers"})
			}
			return true
		}
		if len(name) > 0 && name[0] == ':' || connectionSpecific(name, value) || string(name) == "host" {
			return true
		}
		write(enc, values, internName(name), value)
		return true
	})
	return nil
}

// encodeTrailers encodes request trailers; fields that may not be
// trailers or are invalid are dropped (the body is already on the wire).
func encodeTrailers(enc *hpack.Encoder, values *headers.Interner, t *headers.Map) {
	t.Range(func(name, value []byte) bool {
		if len(name) == 0 || name[0] == ':' || !isLowerToken(name) || !isFieldValue(value) ||
			forbiddenTrailer(name) || connectionSpecific(name, value) {
			return true
		}
		write(enc, values, internName(name), value)
		return true
	})
}

func write(enc *hpack.Encoder, values *headers.Interner, name string, value []byte) {
	f := hpack.HeaderField{Name: name, Value: values.Intern(value)}
	// Authorization and cookies stay out of the dynamic table, as
	// net/http's client does, so they cannot be probed by compression.
	f.Sensitive = name == "authorization" || name == "proxy-authorization"
	_ = enc.WriteField(f)
}

// connectionSpecific: fields HTTP/2 forbids; "te" only passes as
// "trailers".
func connectionSpecific(name, value []byte) bool {
	switch string(name) {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "http2-settings":
		return true
	case "te":
		return string(headers.TrimOWS(value)) != "trailers"
	}
	return false
}

func isLowerToken(b []byte) bool {
	if !isToken(b) {
		return false
	}
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			return false
		}
	}
	return true
}

// validResponseField: a response field is malformed with an uppercase or
// non-token name, a control byte in its value, or a connection-specific
// name (RFC 9113 8.2).
func validResponseField(name, value string) bool {
	if !isLowerToken([]byte(name)) || !isFieldValue([]byte(value)) {
		return false
	}
	switch name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		return false
	}
	return true
}

// The HPACK encoder keeps the strings it indexes, so fields are handed to
// it as strings; common names come from constants instead of a conversion
// (switch on string(b) does not allocate), values from the connection's
// headers.Interner.

func internName(b []byte) string {
	switch string(b) {
	case "accept":
		return "accept"
	case "accept-encoding":
		return "accept-encoding"
	case "content-type":
		return "content-type"
	case "content-length":
		return "content-length"
	case "user-agent":
		return "user-agent"
	case "te":
		return "te"
	case "x-request-id":
		return "x-request-id"
	case "x-forwarded-for":
		return "x-forwarded-for"
	case "x-forwarded-proto":
		return "x-forwarded-proto"
	case "grpc-timeout":
		return "grpc-timeout"
	case "grpc-encoding":
		return "grpc-encoding"
	case "grpc-accept-encoding":
		return "grpc-accept-encoding"
	case "grpc-status":
		return "grpc-status"
	case "grpc-message":
		return "grpc-message"
	}
	return string(b)
}
