package headers

// Interner turns field values into strings for an HPACK encoder, which
// takes strings and keeps those it indexes. The values on one connection
// mostly repeat (a content-type, an authority, a user-agent), so the
// conversion is paid once per distinct short value instead of once per
// field. It holds at most maxInterned values of up to maxInternedLen
// bytes, and forgets them all when full. One connection's, not shared.
type Interner struct {
	m map[string]string
}

const (
	maxInterned    = 16
	maxInternedLen = 64
)

// Intern returns b as a string, from the set when it is there.
func (in *Interner) Intern(b []byte) string {
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(b) <= maxInternedLen {
		if in.m == nil {
			in.m = make(map[string]string, maxInterned)
		}
		if len(in.m) >= maxInterned {
			clear(in.m)
		}
		in.m[s] = s
	}
	return s
}
