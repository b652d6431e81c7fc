package hcm

// bodyBuffer is a contiguous body buffer with a read offset; it implements
// Buffer. Contiguity keeps Bytes() free and lets modules read the body as
// one view; bodies are bounded by the stream buffer limit, so copying on
// growth is bounded too.
type bodyBuffer struct {
	b   []byte
	off int
}

func (b *bodyBuffer) Len() int { return len(b.b) - b.off }

func (b *bodyBuffer) Chunks(fn func(p []byte) bool) {
	if b.Len() > 0 {
		fn(b.b[b.off:])
	}
}

func (b *bodyBuffer) Append(p []byte) { b.b = append(b.b, p...) }

func (b *bodyBuffer) Prepend(p []byte) {
	if len(p) <= b.off {
		b.off -= len(p)
		copy(b.b[b.off:], p)
		return
	}
	n := b.Len()
	nb := make([]byte, len(p)+n, len(p)+n+512)
	copy(nb, p)
	copy(nb[len(p):], b.b[b.off:])
	b.b, b.off = nb, 0
}

func (b *bodyBuffer) Drain(n int) {
	if n >= b.Len() {
		b.Reset()
		return
	}
	b.off += n
}

func (b *bodyBuffer) Bytes() []byte { return b.b[b.off:] }

// Reset empties the buffer, keeping small storage for reuse and dropping
// large storage so one big body does not pin memory on an idle stream pool.
func (b *bodyBuffer) Reset() {
	if cap(b.b) > 64<<10 {
		b.b = nil
	} else {
		b.b = b.b[:0]
	}
	b.off = 0
}

// set replaces the contents with p.
func (b *bodyBuffer) set(p []byte) {
	b.Reset()
	b.b = append(b.b, p...)
}
