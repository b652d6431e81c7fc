package headers

// entry locates one header inside the arena.
type entry struct {
	nameOff, nameLen uint32
	valOff, valLen   uint32
	deleted          bool
}

// Map is an ordered multi-map of header names to values. Names are stored
// lowercase. The zero value is ready to use. A Map is not safe for concurrent
// use; it belongs to one stream on one worker.
type Map struct {
	arena   []byte
	entries []entry
	live    int
	garbage int // arena bytes no entry points at any more
	// names has the nameBit of every name added since the last Reset
	// (deletions leave their bit): a lookup of a name whose bit is clear
	// answers "absent" without scanning. The proxy looks up about twenty
	// names per request that are nearly never there (the hop-by-hop
	// headers in both directions, te, x-request-id, ...).
	names uint64
}

// nameBit maps a name of any case to one of 64 bits from its length and
// its first and last bytes: cheap, and the hop-by-hop names do not collide
// with the pseudo-headers and the usual request and response headers.
func nameBit[N string | []byte](name N) uint64 {
	n := len(name)
	if n == 0 {
		return 1
	}
	return 1 << ((uint(n) + 5*uint(lower(name[0])) + uint(lower(name[n-1]))) & 63)
}

// mayHave is false when name is certainly absent.
func mayHave[N string | []byte](m *Map, name N) bool { return m.names&nameBit(name) != 0 }

// Reset empties the map but keeps its storage for reuse.
func (m *Map) Reset() {
	m.arena = m.arena[:0]
	m.entries = m.entries[:0]
	m.live = 0
	m.garbage = 0
	m.names = 0
}

// ArenaCap is how many bytes of name and value storage the map holds,
// used or not: what keeping it for reuse retains.
func (m *Map) ArenaCap() int { return cap(m.arena) }

// Len is the number of headers (counting each value of a repeated name).
func (m *Map) Len() int { return m.live }

// ByteSize is the wire-ish size of the headers: names plus values.
func (m *Map) ByteSize() int {
	n := 0
	for i := range m.entries {
		e := &m.entries[i]
		if !e.deleted {
			n += int(e.nameLen + e.valLen)
		}
	}
	return n
}

func lower(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

func push[N, V string | []byte](m *Map, name N, value V) {
	nameOff := uint32(len(m.arena))
	for i := 0; i < len(name); i++ {
		m.arena = append(m.arena, lower(name[i]))
	}
	valOff := uint32(len(m.arena))
	m.arena = append(m.arena, value...)
	m.entries = append(m.entries, entry{nameOff: nameOff, nameLen: uint32(len(name)), valOff: valOff, valLen: uint32(len(value))})
	m.live++
	m.names |= nameBit(name)
}

// Add appends a header; the name is lowercased, the bytes are copied.
func (m *Map) Add(name, value []byte) { push(m, name, value) }

// AddString is Add for strings.
func (m *Map) AddString(name, value string) { push(m, name, value) }

func (m *Map) name(e *entry) []byte {
	return m.arena[e.nameOff : e.nameOff+e.nameLen : e.nameOff+e.nameLen]
}
func (m *Map) value(e *entry) []byte {
	return m.arena[e.valOff : e.valOff+e.valLen : e.valOff+e.valLen]
}

// equalFold compares a stored lowercase name with a caller's name of any case.
func equalFold[N string | []byte](stored []byte, name N) bool {
	if len(stored) != len(name) {
		return false
	}
	for i := 0; i < len(name); i++ {
		if stored[i] != lower(name[i]) {
			return false
		}
	}
	return true
}

// Get returns the first value of name (any case). The slice aliases the map's
// storage and is valid until the map is next modified or reset.
func (m *Map) Get(name string) ([]byte, bool) { return get(m, name) }

// GetBytes is Get for a byte-slice name.
func (m *Map) GetBytes(name []byte) ([]byte, bool) { return get(m, name) }

func get[N string | []byte](m *Map, name N) ([]byte, bool) {
	if !mayHave(m, name) {
		return nil, false
	}
	for i := range m.entries {
		e := &m.entries[i]
		if !e.deleted && equalFold(m.name(e), name) {
			return m.value(e), true
		}
	}
	return nil, false
}

// Has reports whether name is present.
func (m *Map) Has(name string) bool { _, ok := m.Get(name); return ok }

// Count returns how many values name has.
func (m *Map) Count(name string) int {
	if !mayHave(m, name) {
		return 0
	}
	n := 0
	for i := range m.entries {
		e := &m.entries[i]
		if !e.deleted && equalFold(m.name(e), name) {
			n++
		}
	}
	return n
}

// Values calls fn for each value of name, in order, until fn returns false.
func (m *Map) Values(name string, fn func(value []byte) bool) {
	if !mayHave(m, name) {
		return
	}
	for i := range m.entries {
		e := &m.entries[i]
		if !e.deleted && equalFold(m.name(e), name) {
			if !fn(m.value(e)) {
				return
			}
		}
	}
}

// AppendList appends every value of name to dst as one comma-separated
// list (how RFC 9110 combines repeated list fields) and returns it: a copy
// that stays valid while the map changes.
func (m *Map) AppendList(dst []byte, name string) []byte {
	if !mayHave(m, name) {
		return dst
	}
	first := true
	for i := range m.entries {
		e := &m.entries[i]
		if !e.deleted && equalFold(m.name(e), name) {
			if !first {
				dst = append(dst, ',')
			}
			dst = append(dst, m.value(e)...)
			first = false
		}
	}
	return dst
}

// Range calls fn for every header in order until fn returns false.
func (m *Map) Range(fn func(name, value []byte) bool) {
	for i := range m.entries {
		e := &m.entries[i]
		if !e.deleted {
			if !fn(m.name(e), m.value(e)) {
				return
			}
		}
	}
}

// Del removes every value of name and reports how many were removed.
func (m *Map) Del(name string) int { return del(m, name) }

// DelBytes is Del for a byte-slice name.
func (m *Map) DelBytes(name []byte) int { return del(m, name) }

func del[N string | []byte](m *Map, name N) int {
	if !mayHave(m, name) {
		return 0
	}
	n := 0
	for i := range m.entries {
		e := &m.entries[i]
		if !e.deleted && equalFold(m.name(e), name) {
			e.deleted = true
			n++
		}
	}
	m.live -= n
	m.maybeCompact()
	return n
}

// Set replaces every value of name with one value, keeping the position of
// the first occurrence when there was one.
func (m *Map) Set(name string, value []byte) { set(m, name, value) }

// SetString is Set for strings.
func (m *Map) SetString(name, value string) { set(m, name, value) }

func set[V string | []byte](m *Map, name string, value V) {
	if !mayHave(m, name) {
		push(m, name, value)
		return
	}
	for i := range m.entries {
		e := &m.entries[i]
		if e.deleted || !equalFold(m.name(e), name) {
			continue
		}
		if len(value) <= int(e.valLen) {
			// Fits where the old value was: rewriting a header in a loop
			// does not grow the arena.
			m.garbage += int(e.valLen) - len(value)
			copy(m.arena[e.valOff:], value)
			e.valLen = uint32(len(value))
		} else {
			m.garbage += int(e.valLen)
			valOff := uint32(len(m.arena))
			m.arena = append(m.arena, value...)
			e.valOff, e.valLen = valOff, uint32(len(value))
		}
		for j := i + 1; j < len(m.entries); j++ {
			f := &m.entries[j]
			if !f.deleted && equalFold(m.name(f), name) {
				f.deleted = true
				m.live--
			}
		}
		m.maybeCompact()
		return
	}
	push(m, name, value)
}

// maybeCompact rewrites the arena once deleted entries dominate it, so a
// filter that rewrites a header in a loop cannot grow the arena without bound.
func (m *Map) maybeCompact() {
	manyDeleted := len(m.entries) >= 16 && m.live*2 <= len(m.entries)
	muchGarbage := len(m.arena) >= 4096 && m.garbage*2 > len(m.arena)
	if manyDeleted || muchGarbage {
		m.compact()
	}
}

func (m *Map) compact() {
	old := m.arena
	arena := make([]byte, 0, len(old))
	kept := m.entries[:0]
	for _, e := range m.entries {
		if e.deleted {
			continue
		}
		n := uint32(len(arena))
		arena = append(arena, old[e.nameOff:e.nameOff+e.nameLen]...)
		v := uint32(len(arena))
		arena = append(arena, old[e.valOff:e.valOff+e.valLen]...)
		kept = append(kept, entry{nameOff: n, nameLen: e.nameLen, valOff: v, valLen: e.valLen})
	}
	m.arena, m.entries = arena, kept
	m.garbage = 0
}

// CopyFrom replaces m's contents with src's. src's names are already
// lowercase, so its storage is copied whole (two memmoves, no per-byte
// folding); deleted entries come along as garbage and are compacted as
// usual.
func (m *Map) CopyFrom(src *Map) {
	m.arena = append(m.arena[:0], src.arena...)
	m.entries = append(m.entries[:0], src.entries...)
	m.live, m.garbage, m.names = src.live, src.garbage, src.names
}

// Method, Path, Authority, Scheme and Status read the pseudo-headers.
func (m *Map) Method() []byte    { v, _ := m.Get(":method"); return v }
func (m *Map) Path() []byte      { v, _ := m.Get(":path"); return v }
func (m *Map) Authority() []byte { v, _ := m.Get(":authority"); return v }
func (m *Map) Scheme() []byte    { v, _ := m.Get(":scheme"); return v }

// Status returns the numeric :status, or 0 when absent or malformed.
func (m *Map) Status() int {
	v, ok := m.Get(":status")
	if !ok || len(v) != 3 {
		return 0
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// SetStatus sets :status from a number without allocating.
func (m *Map) SetStatus(code int) {
	var b [3]byte
	b[0] = byte('0' + code/100%10)
	b[1] = byte('0' + code/10%10)
	b[2] = byte('0' + code%10)
	m.Set(":status", b[:])
}
