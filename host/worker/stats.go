package worker

import "sync/atomic"

// Stats is a snapshot of a worker's counters. Safe from any goroutine.
type Stats struct {
	Index        int
	OpenConns    int64  // connections currently open (inbound + outbound)
	Listeners    int64  // listeners currently open
	Accepted     uint64 // connections accepted
	Dialed       uint64 // outbound connections started
	ConnectFails uint64 // dials that ended in OnConnect with an error
	Closed       uint64 // connections closed, for any reason
	AcceptErrors uint64 // accept4 failures other than EAGAIN
	BytesRead    uint64
	BytesWritten uint64
	TxBuffered   int64  // output bytes queued for sockets, not yet sent (all connections)
	Iterations   uint64 // loop iterations (epoll_wait returns)
	PostsRun     uint64
	Wakes        uint64 // eventfd writes by Post/Stop (coalesced: at most one per loop wake)
	TimersFired  uint64
	BuffersMade  uint64 // pooled buffers ever allocated
	BuffersFree  int64  // buffers in the free list
	// TLSHandshakes counts handshakes started (server and client);
	// TLSHandshakeFails those that failed, timed out or were cut short.
	TLSHandshakes     uint64
	TLSHandshakeFails uint64
	// ClosedWithoutLinger counts CloseAfterFlush closes that needed no
	// half-close and wait for the peer's FIN (Conn.InputDone).
	ClosedWithoutLinger uint64
	// With Options.IOUring: RingBatches counts io_uring_enter calls
	// that carried sends or reads, RingSends and RingReads the sends and
	// reads they made, RingRefused the requests the kernel would not take
	// (made with sendmsg or read instead).
	RingBatches, RingSends, RingReads, RingRefused uint64
}

type counters struct {
	openConns, listeners, buffersFree, txBuffered                       atomic.Int64
	accepted, dialed, connectFails, closed, acceptErrors                atomic.Uint64
	bytesRead, bytesWritten, iterations, postsRun, timersFired, buffers atomic.Uint64
	wakes, tlsHandshakes, tlsHandshakeFails, closedWithoutLinger        atomic.Uint64
	ringBatches, ringSends, ringReads, ringRefused                      atomic.Uint64
}

// Stats returns the worker's counters.
func (w *Worker) Stats() Stats {
	c := &w.stats
	return Stats{
		Index:        w.index,
		OpenConns:    c.openConns.Load(),
		Listeners:    c.listeners.Load(),
		Accepted:     c.accepted.Load(),
		Dialed:       c.dialed.Load(),
		ConnectFails: c.connectFails.Load(),
		Closed:       c.closed.Load(),
		AcceptErrors: c.acceptErrors.Load(),
		BytesRead:    c.bytesRead.Load(),
		BytesWritten: c.bytesWritten.Load(),
		TxBuffered:   c.txBuffered.Load(),
		Iterations:   c.iterations.Load(),
		PostsRun:     c.postsRun.Load(),
		Wakes:        c.wakes.Load(),
		TimersFired:  c.timersFired.Load(),
		BuffersMade:  c.buffers.Load(),
		BuffersFree:  c.buffersFree.Load(),

		TLSHandshakes:       c.tlsHandshakes.Load(),
		TLSHandshakeFails:   c.tlsHandshakeFails.Load(),
		ClosedWithoutLinger: c.closedWithoutLinger.Load(),

		RingBatches: c.ringBatches.Load(),
		RingSends:   c.ringSends.Load(),
		RingReads:   c.ringReads.Load(),
		RingRefused: c.ringRefused.Load(),
	}
}
