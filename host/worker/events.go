package worker

import "golang.org/x/sys/unix"

type connEventKind uint8

const (
	evClose connEventKind = iota
	evConnect
	evWritable
)

// connEvent is a notification raised while user code was running (e.g. a
// write error inside Flush) and delivered once that code has returned.
type connEvent struct {
	c    *Conn
	kind connEventKind
	err  error
}

func (w *Worker) enqueue(c *Conn, kind connEventKind, err error) {
	w.pending = append(w.pending, connEvent{c: c, kind: kind, err: err})
}

// deliverPending runs queued notifications in order, including ones raised
// by the callbacks it runs. Only called at the top level of the loop.
func (w *Worker) deliverPending() {
	for i := 0; i < len(w.pending); i++ {
		ev := w.pending[i]
		w.pending[i] = connEvent{}
		c := ev.c
		switch ev.kind {
		case evClose:
			if c.h != nil {
				c.h.OnClose(c, ev.err)
			}
		case evConnect:
			// A success queued by Dial is void if the owner closed meanwhile.
			if ev.err == nil && (c.closed || c.closing) {
				continue
			}
			c.h.OnConnect(c, ev.err)
		case evWritable:
			// Re-check: the owner may have closed, or written above the
			// high watermark again, since the event was raised.
			if !c.closed && !c.closing && !c.above {
				c.h.OnWritable(c)
			}
		}
	}
	w.pending = w.pending[:0]
}

// markReady schedules c for serviceRead in the next ready phase.
func (w *Worker) markReady(c *Conn) {
	if !c.inReady {
		c.inReady = true
		w.readyQ = append(w.readyQ, c)
	}
}

// runReady services connections that were resumed, had input room freed, or
// exhausted their read budget. Conns marked during this phase wait for the
// next iteration (the poll timeout is then 0).
func (w *Worker) runReady() {
	q := w.readyQ
	w.readyQ = w.readySpare[:0]
	for i, c := range q {
		q[i] = nil
		c.inReady = false
		if c.closed || c.closing {
			continue
		}
		force := c.redeliver
		c.redeliver = false
		c.serviceRead(force)
		w.deliverPending()
	}
	w.readySpare = q[:0]
}

// flushAll sends the output written during this iteration: many small
// writes from one iteration leave in one sendmsg.
func (w *Worker) flushAll() {
	for round := 0; round < 4 && len(w.flushQ) > 0; round++ {
		q := w.flushQ
		w.flushQ = w.flushSpare[:0]
		if w.ring != nil && len(q) > 1 {
			w.flushBatched(q)
		}
		for i, c := range q {
			q[i] = nil
			c.inFlush = false
			c.flush()
		}
		w.flushSpare = q[:0]
		w.deliverPending()
	}
}

// flushBatched makes the first send of every connection in q that has
// output (TLS: records, encrypted here as flush would) and room for it,
// up to ringBatchMax at a time, in one io_uring_enter (ioRing), and applies
// each result as send would. The caller then flushes every connection of q
// as usual, which finishes each: output beyond the batch's iovecs,
// watermarks, a queued shutdown or close.
func (w *Worker) flushBatched(q []*Conn) {
	b := w.batch
	for len(q) > 0 {
		k, i := 0, 0
		for ; i < len(q) && k < ringBatchMax; i++ {
			c := q[i]
			if c.closed || c.connecting || c.handshaking || !c.writable {
				continue
			}
			out := &c.out
			if c.tls != nil {
				// TLS sends records: encrypt first, as flush does.
				if !c.encrypt() {
					continue // failed and closed
				}
				out = &c.tls.out
			}
			if out.size == 0 {
				continue
			}
			n, total := out.fill(&b.iov[k])
			b.msgs[k].Iov = &b.iov[k][0]
			b.msgs[k].SetIovlen(n)
			b.fds[k], b.totals[k], b.conns[k], b.queues[k] = c.fd, total, c, out
			k++
		}
		if k > 1 {
			w.ring.sendmsgs(b.fds[:k], b.msgs[:k], b.res[:k])
			w.stats.ringBatches.Add(1)
			for j := 0; j < k; j++ {
				c, out, r := b.conns[j], b.queues[j], b.res[j]
				b.conns[j], b.queues[j] = nil, nil
				switch {
				case r == resNotRun:
					w.stats.ringRefused.Add(1) // flush sends it with sendmsg
				case r < 0:
					w.stats.ringSends.Add(1)
					c.sent(out, 0, b.totals[j], unix.Errno(-r))
				default:
					w.stats.ringSends.Add(1)
					c.sent(out, int(r), b.totals[j], 0)
				}
			}
		} else if k == 1 {
			b.conns[0], b.queues[0] = nil, nil // one send gains nothing from the ring: flush makes it
		}
		q = q[i:]
	}
}

// readBatched makes the first read for every event of the batch that
// reports a plain connection readable (up to ringBatchMax of them) in one
// io_uring_enter, and applies each result as readOnce would. Dispatch then
// finds the read made (Conn.prefetched) and delivers it; a connection the
// batch left out (TLS, paused, closing, full input) reads as before.
func (w *Worker) readBatched(events []unix.EpollEvent) {
	b := w.batch
	k := 0
	for i := range events {
		if k == ringBatchMax {
			break
		}
		ev := &events[i]
		if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP) == 0 || ev.Events&unix.EPOLLERR != 0 {
			continue
		}
		c := w.connOf(ev)
		if c == nil || c.tls != nil || c.connecting || c.handshaking || c.closed || c.closing ||
			c.lingering || c.paused || c.eof || c.prefetched {
			continue
		}
		space := c.readSpace()
		if space == nil {
			continue
		}
		if ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP) != 0 {
			c.peerHup = true // as onEvents would: the FIN came, read until 0
		}
		w.ring.prepRecv(uint32(k), c.fd, space)
		b.conns[k], b.totals[k] = c, len(space)
		k++
	}
	if k < 2 {
		// One read gains nothing from the ring: dispatch makes it.
		b.conns[0] = nil
		return
	}
	w.ring.run(uint32(k), b.res[:k])
	w.stats.ringBatches.Add(1)
	for j := 0; j < k; j++ {
		c, r := b.conns[j], b.res[j]
		b.conns[j] = nil
		if r == resNotRun || r == -int32(unix.EINTR) {
			w.stats.ringRefused.Add(1) // dispatch reads it
			continue
		}
		w.stats.ringReads.Add(1)
		c.readable = true // as onEvents would before reading
		n, err := int(r), error(nil)
		if r < 0 {
			n, err = 0, unix.Errno(-r)
		}
		c.prefetched = true
		c.prefetchedBytes = c.readResult(n, err, b.totals[j]) > 0
	}
}
