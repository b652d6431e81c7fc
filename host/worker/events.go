package worker

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
		for i, c := range q {
			q[i] = nil
			c.inFlush = false
			c.flush()
		}
		w.flushSpare = q[:0]
		w.deliverPending()
	}
}
