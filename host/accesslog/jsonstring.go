package accesslog

import "unicode/utf8"

// AppendJSONString appends s as a JSON string literal. Request fields are
// the client's bytes, not necessarily UTF-8: each invalid byte becomes
// U+FFFD, control characters are escaped, and so are U+2028 and U+2029
// (valid JSON, but they end a line in JavaScript), so every access log line
// is one valid JSON object whatever the client sent. The output is what
// encoding/json writes with HTML escaping off; unlike it, nothing here
// allocates.
func AppendJSONString[S ~string | ~[]byte](b []byte, s S) []byte {
	b = append(b, '"')
	done := 0 // s[:done] is in b
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[done:i]...)
			b = appendEscapedASCII(b, c)
			i++
			done = i
			continue
		}
		// At most one rune's bytes are converted: small enough for the
		// compiler to keep on the stack when s is a byte slice.
		r, size := utf8.DecodeRuneInString(string(s[i:min(len(s), i+utf8.UTFMax)]))
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[done:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[done:i]...)
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		done = i
	}
	b = append(b, s[done:]...)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendEscapedASCII escapes a quote, a backslash or a control character.
func appendEscapedASCII(b []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(b, '\\', c)
	case '\b':
		return append(b, '\\', 'b')
	case '\f':
		return append(b, '\\', 'f')
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	}
	return append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}
