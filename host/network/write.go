package network

// Write sends p (and, with endStream, then a FIN) to the peer through the
// write filters, last filter of the chain first. The bytes are copied
// before Write returns. Dropped once the connection is closed or its write
// side ended.
func (nc *Connection) Write(p []byte, endStream bool) {
	nc.writeFrom(len(nc.filters)-1, p, endStream)
}

// writeFrom passes a chunk through the write filters at index from and
// below, then to the socket.
func (nc *Connection) writeFrom(from int, p []byte, end bool) {
	if nc.closed || nc.writeEnded {
		return
	}
	if !nc.hasWriter {
		nc.toSocket(p, end)
		return
	}
	b := chunk(p)
	for i := min(from, len(nc.filters)-1); i >= 0; i-- {
		s := &nc.filters[i]
		if s.write == nil {
			continue
		}
		if nc.call(i, func() FilterStatus { return s.write.OnWrite(&b, end) }) == StopIteration || nc.closed {
			nc.unwind()
			return
		}
	}
	nc.toSocket(b.Bytes(), end)
	nc.unwind()
}

func (nc *Connection) toSocket(p []byte, end bool) {
	nc.c.Write(p)
	if end {
		nc.writeEnded = true
		nc.c.CloseWrite()
		if nc.eofSeen && nc.halfClose {
			nc.closeBothEnded(LocalClose)
			return
		}
	}
	if !nc.above && nc.c.AboveHighWatermark() {
		nc.above = true
		for i := range nc.filters {
			if h := nc.filters[i].watermark; h != nil && nc.filters[i].started() {
				nc.depth++
				h.OnAboveWriteBufferHighWatermark()
				nc.depth--
			}
		}
	}
}
