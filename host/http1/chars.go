package http1

// Byte classes as 256-entry tables: one load per byte on the hot path.
var (
	tokenTable  [256]bool // tchar, RFC 9110 5.6.2
	valueTable  [256]bool // field-vchar / SP / HTAB / obs-text, RFC 9110 5.5
	targetTable [256]bool // request-target bytes we pass on (see validPathQuery)
	hostTable   [256]bool // reg-name without pct-encoding, RFC 3986 3.2.2
	hexValue    [256]int8 // -1 when not a hex digit
)

func init() {
	for c := 0; c < 256; c++ {
		b := byte(c)
		alnum := ('a' <= b && b <= 'z') || ('A' <= b && b <= 'Z') || ('0' <= b && b <= '9')
		tokenTable[c] = alnum || containsByte("!#$%&'*+-.^_`|~", b)
		valueTable[c] = b == '\t' || (b >= 0x20 && b != 0x7f)
		// Visible ASCII except '#': a fragment never belongs in a request,
		// and '%' is checked separately for a following hex pair. The few
		// printable characters RFC 3986 forbids ('"', '<', '{', '|', ...)
		// are what browsers leave unescaped, so Envoy passes them too.
		targetTable[c] = b > 0x20 && b < 0x7f && b != '#'
		hostTable[c] = alnum || containsByte("-._~!$&'()*+,;=", b)
		hexValue[c] = -1
		switch {
		case '0' <= b && b <= '9':
			hexValue[c] = int8(b - '0')
		case 'a' <= b && b <= 'f':
			hexValue[c] = int8(b - 'a' + 10)
		case 'A' <= b && b <= 'F':
			hexValue[c] = int8(b - 'A' + 10)
		}
	}
}

func containsByte(s string, b byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return true
		}
	}
	return false
}

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenTable[c] {
			return false
		}
	}
	return true
}

func lowerByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFoldLower compares b (any case) with lower, which is already lowercase.
func equalFoldLower(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		if lowerByte(b[i]) != lower[i] {
			return false
		}
	}
	return true
}

func isOWS(c byte) bool { return c == ' ' || c == '\t' }

func trimOWS(b []byte) []byte {
	for len(b) > 0 && isOWS(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isOWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// nextListElement splits a comma-separated field value (RFC 9110 5.6.1):
// it returns the first element, OWS-trimmed, and the rest after the comma.
func nextListElement(v []byte) (elem, rest []byte) {
	for i, c := range v {
		if c == ',' {
			return trimOWS(v[:i]), v[i+1:]
		}
	}
	return trimOWS(v), nil
}
