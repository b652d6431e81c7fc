package http1

import "github.com/sluiceproxy/sluice/host/headers"

const crlf = "\r\n"

// AppendRequestHead writes "METHOD path HTTP/1.1\r\n", "host: <:authority>\r\n",
// every other non-pseudo field and the empty line. Framing fields
// (content-length, transfer-encoding) are written as the map holds them: the
// caller decides the framing. A CONNECT request carries :authority as its
// target. Fields that could not be sent safely are skipped (see ValidField).
func AppendRequestHead(dst []byte, h *headers.Map) []byte {
	method := h.Method()
	if len(method) == 0 {
		dst = append(dst, "GET"...) // a filter removed :method; GET is the harmless reading
	} else {
		dst = append(dst, method...)
	}
	dst = append(dst, ' ')
	authority := h.Authority()
	if string(method) == "CONNECT" {
		dst = append(dst, authority...)
	} else if path := h.Path(); len(path) > 0 {
		dst = append(dst, path...)
	} else {
		dst = append(dst, '/')
	}
	dst = append(dst, " HTTP/1.1\r\n"...)
	if len(authority) > 0 {
		dst = append(dst, "host: "...)
		dst = append(dst, authority...)
		dst = append(dst, crlf...)
	}
	dst = appendFields(dst, h, true)
	return append(dst, crlf...)
}

// AppendResponseHead writes the status line from :status with the standard
// reason phrase, the non-pseudo fields and the empty line. A missing or
// malformed :status is written as 500: the head came from a broken filter.
func AppendResponseHead(dst []byte, h *headers.Map, minor int) []byte {
	code := h.Status()
	if code < 100 {
		code = 500
	}
	dst = append(dst, "HTTP/1."...)
	if minor == 0 {
		dst = append(dst, '0')
	} else {
		dst = append(dst, '1')
	}
	dst = append(dst, ' ', byte('0'+code/100), byte('0'+code/10%10), byte('0'+code%10), ' ')
	dst = append(dst, StatusText(code)...)
	dst = append(dst, crlf...)
	dst = appendFields(dst, h, false)
	return append(dst, crlf...)
}

// AppendChunk writes one chunk; empty data writes nothing, since a zero-size
// chunk would end the body.
func AppendChunk(dst, data []byte) []byte {
	if len(data) == 0 {
		return dst
	}
	dst = appendHex(dst, uint64(len(data)))
	dst = append(dst, crlf...)
	dst = append(dst, data...)
	return append(dst, crlf...)
}

// AppendLastChunk writes the last chunk, the trailers (nil for none) and the
// empty line that ends a chunked body.
func AppendLastChunk(dst []byte, trailers *headers.Map) []byte {
	dst = append(dst, "0\r\n"...)
	if trailers != nil {
		dst = appendFields(dst, trailers, false)
	}
	return append(dst, crlf...)
}

// appendFields writes "name: value\r\n" for every non-pseudo field.
func appendFields(dst []byte, h *headers.Map, skipHost bool) []byte {
	h.Range(func(name, value []byte) bool {
		if len(name) == 0 || name[0] == ':' || (skipHost && string(name) == "host") || !ValidField(name, value) {
			return true
		}
		dst = append(dst, name...)
		dst = append(dst, ':', ' ')
		dst = append(dst, value...)
		dst = append(dst, crlf...)
		return true
	})
	return dst
}

// ValidField reports whether a field can go on the wire as it is: a token
// name and a value without CR, LF, NUL or other controls. The serializers
// drop fields that fail it, so a filter cannot split a message by putting
// CRLF into a value; callers that prefer to reject can check first.
func ValidField(name, value []byte) bool {
	if !isToken(name) {
		return false
	}
	for _, c := range value {
		if !valueTable[c] {
			return false
		}
	}
	return true
}

func appendHex(dst []byte, n uint64) []byte {
	const digits = "0123456789abcdef"
	var buf [16]byte
	i := len(buf)
	for {
		i--
		buf[i] = digits[n&0xf]
		n >>= 4
		if n == 0 {
			break
		}
	}
	return append(dst, buf[i:]...)
}
