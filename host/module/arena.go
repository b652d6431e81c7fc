package module

import "unsafe"

// arena lends bytes to modules: header and body views are copied into a
// per-worker arena of C memory when a hook asks for them, and the arena is
// rewound when the outermost hook returns. Views therefore stay valid for
// the whole hook (even across later mutations of the map or body) and never
// point into the Go heap. Hooks nest (continue_decoding inside a hook can
// run another module filter's hook), so release rewinds to a mark, not to 0.
type arena struct {
	chunks [][]byte
	cur    int // chunk being filled
	off    int // fill offset in chunks[cur]
}

type arenaMark struct{ cur, off int }

const (
	arenaChunkSize = 64 << 10
	// arenaKeep is how much arena memory a worker keeps once idle; larger
	// chunks (a big body) are returned to the OS.
	arenaKeep = 1 << 20
)

func (a *arena) mark() arenaMark { return arenaMark{a.cur, a.off} }

func (a *arena) release(m arenaMark) {
	a.cur, a.off = m.cur, m.off
	if m.cur == 0 && m.off == 0 {
		a.trim()
	}
}

// trim unmaps chunks past arenaKeep bytes once nothing is lent.
func (a *arena) trim() {
	kept := 0
	for i, c := range a.chunks {
		if kept+len(c) > arenaKeep {
			for _, big := range a.chunks[i:] {
				cFree(big)
			}
			a.chunks = a.chunks[:i]
			return
		}
		kept += len(c)
	}
}

// alloc returns n bytes of C memory valid until the arena is released
// below the current mark.
func (a *arena) alloc(n int) []byte {
	if n == 0 {
		return nil
	}
	for a.cur < len(a.chunks) {
		c := a.chunks[a.cur]
		if a.off+n <= len(c) {
			b := c[a.off : a.off+n : a.off+n]
			a.off += (n + 7) &^ 7
			return b
		}
		a.cur++
		a.off = 0
	}
	size := arenaChunkSize
	if n > size {
		size = n
	}
	c, err := cAlloc(size)
	if err != nil {
		panic("module: cannot map arena memory: " + err.Error())
	}
	a.chunks = append(a.chunks, c)
	a.cur = len(a.chunks) - 1
	a.off = (n + 7) &^ 7
	return c[:n:n]
}

// copy lends a copy of p; it returns the C address (nil for empty p).
func (a *arena) copy(p []byte) unsafe.Pointer {
	if len(p) == 0 {
		return nil
	}
	b := a.alloc(len(p))
	copy(b, p)
	return unsafe.Pointer(&b[0])
}

func (a *arena) copyString(s string) unsafe.Pointer {
	if len(s) == 0 {
		return nil
	}
	b := a.alloc(len(s))
	copy(b, s)
	return unsafe.Pointer(&b[0])
}

func (a *arena) free() {
	for _, c := range a.chunks {
		cFree(c)
	}
	a.chunks = nil
	a.cur, a.off = 0, 0
}
