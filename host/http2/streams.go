package http2

// The open streams live in a slice in creation order, which is id order
// (client stream ids only grow), so a lookup is a binary search: no map,
// no allocation, and cheap with a thousand streams.

func (c *ServerCodec) findStream(id uint32) *stream {
	lo, hi := 0, len(c.streams)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if c.streams[m].id < id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(c.streams) && c.streams[lo].id == id {
		return c.streams[lo]
	}
	return nil
}

func (c *ServerCodec) removeStream(s *stream) {
	for i, x := range c.streams {
		if x == s {
			copy(c.streams[i:], c.streams[i+1:])
			c.streams[len(c.streams)-1] = nil
			c.streams = c.streams[:len(c.streams)-1]
			return
		}
	}
}

func (c *ServerCodec) rememberReset(id uint32) {
	c.recentReset[c.recentNext] = id
	c.recentNext = (c.recentNext + 1) % len(c.recentReset)
}

func (c *ServerCodec) recentlyReset(id uint32) bool {
	for _, r := range c.recentReset {
		if r == id {
			return true
		}
	}
	return false
}
