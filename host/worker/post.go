package worker

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// postQueue carries functions from any goroutine to the loop. Two slices are
// swapped so steady-state posting does not allocate.
type postQueue struct {
	mu     sync.Mutex
	fns    []func()
	spare  []func()
	closed bool
	// signalled is true from the eventfd write until the loop has read it:
	// while set, further posts skip the syscall (wake coalescing).
	signalled atomic.Bool
}

var eventfdOne = [8]byte{1, 0, 0, 0, 0, 0, 0, 0}

// Post runs fn on the loop soon, in FIFO order with other posts. Safe from
// any goroutine (including the loop itself, which then runs fn in a later
// iteration). After the worker has stopped, fn is dropped.
func (w *Worker) Post(fn func()) {
	q := &w.posts
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.fns = append(q.fns, fn)
	if q.signalled.CompareAndSwap(false, true) {
		unix.Write(w.evfd, eventfdOne[:])
		w.stats.wakes.Add(1)
	}
	q.mu.Unlock()
}

// signal wakes the loop unless a wake-up is already outstanding. The eventfd
// is written under the lock so it cannot race with shutdown closing it (a
// closed number may already belong to someone else).
func (q *postQueue) signal(w *Worker) {
	q.mu.Lock()
	if !q.closed && q.signalled.CompareAndSwap(false, true) {
		unix.Write(w.evfd, eventfdOne[:])
		w.stats.wakes.Add(1)
	}
	q.mu.Unlock()
}

func (q *postQueue) close() {
	q.mu.Lock()
	q.closed = true
	clear(q.fns)
	q.fns = q.fns[:0]
	q.mu.Unlock()
}

// onWake runs on the loop when the eventfd is readable: reset it, then run
// the queued functions in order.
func (w *Worker) onWake() {
	unix.Read(w.evfd, w.wake8[:])
	q := &w.posts
	// Clear the flag before taking the batch: a post appended after the swap
	// then writes the eventfd again, one appended before is in this batch.
	q.signalled.Store(false)
	q.mu.Lock()
	batch := q.fns
	q.fns = q.spare[:0]
	q.mu.Unlock()
	for i, fn := range batch {
		batch[i] = nil
		if w.stopping.Load() {
			continue
		}
		fn()
		w.stats.postsRun.Add(1)
		w.deliverPending()
	}
	q.mu.Lock()
	q.spare = batch[:0]
	q.mu.Unlock()
}
