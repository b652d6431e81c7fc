package network

// iterate runs the read filters from index from: a filter that has not
// seen OnNewConnection gets it first; then OnData when there is data or
// the stream ended. It stops at a StopIteration, or when the connection
// closes. buf nil means the connection's read buffer; injected data comes
// in a buffer of its own.
func (nc *Connection) iterate(from int, buf *Buffer, end bool) {
	if buf == nil {
		buf = &nc.readBuf
	}
	for i := from; i < len(nc.filters) && !nc.closed; i++ {
		s := &nc.filters[i]
		if s.read == nil {
			continue
		}
		if !s.init {
			s.init = true
			if i == nc.lastReader() {
				nc.terminalUp = true
				if nc.startTimer != nil {
					nc.startTimer.Stop()
				}
			}
			if nc.call(i, func() FilterStatus { return s.read.OnNewConnection() }) == StopIteration {
				break
			}
			if nc.closed {
				break
			}
		}
		if buf.Len() == 0 && !end {
			continue
		}
		if nc.call(i, func() FilterStatus { return s.read.OnData(buf, end) }) == StopIteration {
			break
		}
	}
	nc.unwind()
}

// call runs one hook of filter i, with the bookkeeping that lets the
// filter continue from inside it.
func (nc *Connection) call(i int, hook func() FilterStatus) FilterStatus {
	prevFilter, prevPending := nc.curFilter, nc.contPending
	nc.curFilter, nc.contPending = i, false
	nc.depth++
	st := hook()
	nc.depth--
	if nc.contPending {
		st = Continue
	}
	nc.curFilter, nc.contPending = prevFilter, prevPending
	return st
}

// unwind runs what was deferred while hooks were on the stack: a
// ContinueReading asked for from elsewhere, and the destruction of a
// connection closed meanwhile.
func (nc *Connection) unwind() {
	if nc.depth > 0 {
		return
	}
	if nc.closed {
		nc.destroy()
		return
	}
	for nc.resumeFrom >= 0 && !nc.closed {
		from := nc.resumeFrom
		nc.resumeFrom = -1
		nc.iterate(from, nil, nc.eofSeen)
	}
	if nc.closed {
		nc.destroy()
	}
}

// lastReader is the index of the chain's last read filter (the terminal
// one), -1 when there is none.
func (nc *Connection) lastReader() int {
	for i := len(nc.filters) - 1; i >= 0; i-- {
		if nc.filters[i].read != nil {
			return i
		}
	}
	return -1
}

func (nc *Connection) continueReading(idx int) {
	if nc.closed {
		return
	}
	if nc.depth > 0 {
		if nc.curFilter == idx {
			nc.contPending = true // its own hook: done when it returns
			return
		}
		if nc.resumeFrom < 0 || idx+1 < nc.resumeFrom {
			nc.resumeFrom = idx + 1
		}
		return
	}
	nc.iterate(idx+1, nil, nc.eofSeen)
}

func (nc *Connection) injectRead(idx int, data []byte, end bool) {
	if nc.closed {
		return
	}
	b := chunk(data)
	nc.iterate(idx+1, &b, end)
}
