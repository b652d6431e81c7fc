package http2

// The open streams live in a slice: at most MaxConcurrentStreams (100) of
// them, so a scan is cheaper than a map and allocates nothing.

func (c *ServerCodec) findStream(id uint32) *stream {
	for _, s := range c.streams {
		if s.id == id {
			return s
		}
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
