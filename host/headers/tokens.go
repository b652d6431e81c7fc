package headers

// Helpers for comma-separated header values (Connection, TE, Upgrade, …),
// shared by the codecs, the connection manager and the upstream pools.

// TrimOWS strips optional whitespace (SP, HTAB) from both ends.
func TrimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// EqualFold compares b with want, which must be lowercase, ignoring ASCII
// case.
func EqualFold(b []byte, want string) bool {
	if len(b) != len(want) {
		return false
	}
	for i := range b {
		if lower(b[i]) != want[i] {
			return false
		}
	}
	return true
}

// TokenIs reports whether tok, trimmed, is want (lowercase), ignoring case.
func TokenIs(tok []byte, want string) bool { return EqualFold(TrimOWS(tok), want) }

// EachToken calls fn for every non-empty, trimmed element of a
// comma-separated value.
func EachToken(v []byte, fn func(tok []byte)) {
	for len(v) > 0 {
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		if tok := TrimOWS(v[:i]); len(tok) > 0 {
			fn(tok)
		}
		if i == len(v) {
			return
		}
		v = v[i+1:]
	}
}

// HasToken reports whether the comma-separated list contains want
// (lowercase), ignoring case and optional whitespace.
func HasToken(list []byte, want string) bool {
	found := false
	EachToken(list, func(tok []byte) { found = found || EqualFold(tok, want) })
	return found
}
