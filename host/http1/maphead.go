package http1

import "github.com/sluiceproxy/sluice/host/headers"

// HeadToMap resets m and fills it with a parsed head in the HTTP/2 shape
// the rest of the proxy uses.
//
// Requests: :method; :scheme (the absolute-form's scheme, else the given
// one); :authority (absolute-form's authority, which wins over Host as
// RFC 9112 3.2.2 requires, else Host); :path (origin-form as is,
// absolute-form's path or "/", "*" for OPTIONS). CONNECT gets :method and
// :authority only, as in HTTP/2. The Host field itself is dropped: it lives
// on as :authority. Responses: :status. Then every field in order.
func HeadToMap(h *Head, kind Kind, scheme string, m *headers.Map) {
	m.Reset()
	if kind == Response {
		m.SetStatus(h.Status)
		addFields(m, h.Fields, false)
		return
	}
	m.Add(pseudoMethod, h.Method)
	switch {
	case string(h.Method) == "CONNECT":
		m.Add(pseudoAuthority, h.Target)
	case h.Target[0] == '/' || string(h.Target) == "*":
		m.AddString(":scheme", scheme)
		if h.Host != nil {
			m.Add(pseudoAuthority, h.Host)
		}
		m.Add(pseudoPath, h.Target)
	default:
		absScheme, authority, pathQuery, _ := splitAbsolute(h.Target)
		var lower [16]byte
		if len(absScheme) <= len(lower) {
			for i, c := range absScheme {
				lower[i] = lowerByte(c)
			}
			absScheme = lower[:len(absScheme)]
		}
		m.Add(pseudoScheme, absScheme)
		m.Add(pseudoAuthority, authority)
		switch {
		case len(pathQuery) > 0 && pathQuery[0] == '/':
			m.Add(pseudoPath, pathQuery)
		case string(h.Method) == "OPTIONS" && len(pathQuery) == 0:
			m.AddString(":path", "*")
		default: // "http://host" or "http://host?q": the path is "/"
			var buf [128]byte
			m.Add(pseudoPath, append(append(buf[:0], '/'), pathQuery...))
		}
	}
	addFields(m, h.Fields, true)
}

var (
	pseudoMethod    = []byte(":method")
	pseudoScheme    = []byte(":scheme")
	pseudoAuthority = []byte(":authority")
	pseudoPath      = []byte(":path")
)

func addFields(m *headers.Map, fields []Field, dropHost bool) {
	for _, f := range fields {
		if dropHost && equalFoldLower(f.Name, "host") {
			continue
		}
		m.Add(f.Name, f.Value)
	}
}
