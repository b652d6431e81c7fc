package http2

// ClientPreface is the fixed string every HTTP/2 client connection opens with.
const ClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// IsPreface reports whether b starts with the client preface (match), or is
// a proper prefix of it so that more bytes are needed to decide (needMore).
// It lets a listener with codec_type auto pick HTTP/2 or HTTP/1.1.
func IsPreface(b []byte) (match bool, needMore bool) {
	n := len(b)
	if n > len(ClientPreface) {
		n = len(ClientPreface)
	}
	if string(b[:n]) != ClientPreface[:n] {
		return false, false
	}
	if n < len(ClientPreface) {
		return false, true
	}
	return true, false
}
