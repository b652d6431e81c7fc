package worker

// bufPool is a per-worker free list of fixed-size buffers. It needs no lock
// (loop thread only) and, unlike sync.Pool, is not emptied by GC cycles, so
// steady-state reads and writes do not allocate.
type bufPool struct {
	size  int
	max   int
	free  [][]byte
	stats *counters
}

// get returns a buffer of len == cap == size.
func (p *bufPool) get() []byte {
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		p.stats.buffersFree.Store(int64(len(p.free)))
		return b
	}
	p.stats.buffers.Add(1)
	return make([]byte, p.size)
}

// put returns a buffer; odd-sized (grown) buffers and surplus go to the GC.
func (p *bufPool) put(b []byte) {
	if cap(b) != p.size || len(p.free) >= p.max {
		return
	}
	p.free = append(p.free, b[:p.size])
	p.stats.buffersFree.Store(int64(len(p.free)))
}
