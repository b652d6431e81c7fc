package worker

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Worker is one event loop. Create with New, run with Run (in its own
// goroutine), end with Stop.
type Worker struct {
	index    int
	log      *zap.Logger
	readSize int
	maxRead  int

	epfd   int
	evfd   int
	events []unix.EpollEvent

	listeners    []*Listener         // open listening sockets
	sockaddr     unix.RawSockaddrAny // accept4 / getsockname scratch
	acceptPaused bool                // PauseAccepting: listeners accept nothing

	tid      atomic.Int64
	state    atomic.Int32 // stateNew -> stateRunning, or stateNew -> stateStoppedUnrun
	stopping atomic.Bool
	done     chan struct{}

	posts postQueue

	epoch   time.Time
	now     time.Time
	nowMono int64 // nanoseconds since epoch at the start of this iteration

	yieldPending bool

	// busySince is the monotonic time (ns since epoch, +1 so it is never
	// 0) at which the current iteration's work began, and 0 while the loop
	// waits in epoll_wait: a watchdog reading it can tell a worker stuck in
	// a callback from an idle one without waking it.
	busySince atomic.Int64

	timers   timerHeap
	timerSeq uint64

	fds        []fdEntry
	fdGen      uint32
	closeLater []int

	pending    []connEvent // notifications delivered at the top level
	readyQ     []*Conn     // conns to read/deliver again next iteration
	readySpare []*Conn
	flushQ     []*Conn // conns with output to send at the end of the iteration
	flushSpare []*Conn

	pool  bufPool
	iov   [maxIovecs]unix.Iovec
	msg   unix.Msghdr
	wake8 [8]byte

	// ring batches the reads and sends of an iteration (Options.IOUring); nil
	// when off or when the kernel refused io_uring. batch is its scratch.
	ring    *ioRing
	batch   *ringBatch
	ringErr error // why there is no ring although IOUring asked for one

	stats counters
}

// New creates a worker: its epoll set and its wake-up eventfd.
func New(opts Options) (*Worker, error) {
	opts = opts.withDefaults()
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("worker %d: epoll_create1: %w", opts.Index, err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("worker %d: eventfd: %w", opts.Index, err)
	}
	// The eventfd is level-triggered: it stays readable until the loop reads
	// it, so a wake-up can never be lost between epoll_wait calls.
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(evfd)
		unix.Close(epfd)
		return nil, fmt.Errorf("worker %d: epoll_ctl eventfd: %w", opts.Index, err)
	}
	now := time.Now()
	w := &Worker{
		index:    opts.Index,
		log:      opts.Logger.With(zap.Int("worker", opts.Index)),
		readSize: opts.ReadBufferSize,
		maxRead:  opts.MaxReadBuffer,
		epfd:     epfd,
		evfd:     evfd,
		events:   make([]unix.EpollEvent, eventBatch),
		done:     make(chan struct{}),
		epoch:    now,
		now:      now,
		pool:     bufPool{size: opts.ReadBufferSize, max: maxPooledBuffers},
	}
	w.pool.stats = &w.stats
	w.msg.Iov = &w.iov[0]
	if opts.IOUring {
		ring, err := newIORing()
		if err != nil {
			w.ringErr = fmt.Errorf("io_uring_setup: %w", err)
		} else {
			w.ring, w.batch = ring, new(ringBatch)
		}
	}
	return w, nil
}

// ringBatch is the memory one batch of sends names: heap memory that lives
// as long as the worker, read by the kernel only inside ioRing.sendmsgs.
type ringBatch struct {
	fds    [ringBatchMax]int
	totals [ringBatchMax]int
	res    [ringBatchMax]int32
	conns  [ringBatchMax]*Conn
	queues [ringBatchMax]*outQueue // the connection's output or, with TLS, its records
	msgs   [ringBatchMax]unix.Msghdr
	iov    [ringBatchMax][maxIovecs]unix.Iovec
}

// UsingIOUring reports whether the worker batches its reads and sends
// through io_uring, and when Options.IOUring asked for it but the kernel
// refused, why.
func (w *Worker) UsingIOUring() (bool, error) { return w.ring != nil, w.ringErr }

// Index is the worker's number, as given in Options.
func (w *Worker) Index() int { return w.index }

// TID is the OS thread id of the loop; valid once Run has started (0 before).
func (w *Worker) TID() int { return int(w.tid.Load()) }

// Done is closed when Run has returned.
func (w *Worker) Done() <-chan struct{} { return w.done }

// Now is the time cached at the start of the current loop iteration.
func (w *Worker) Now() time.Time { return w.now }

// Logger is the worker's logger (carries the worker index).
func (w *Worker) Logger() *zap.Logger { return w.log }

const (
	stateNew int32 = iota
	stateRunning
	stateStoppedUnrun
)

// Stop asks the loop to end. Safe from any goroutine, idempotent. Run closes
// every listener and connection it owns (OnClose gets ErrWorkerStopped) and
// then returns. Functions posted but not yet run when the loop ends are
// dropped: a goroutine waiting for a posted result should also select on Done.
//
// On a worker whose Run never started, Stop does that cleanup itself, on the
// calling goroutine, and closes Done; a later Run returns at once.
func (w *Worker) Stop() {
	w.stopping.Store(true)
	if w.state.CompareAndSwap(stateNew, stateStoppedUnrun) {
		w.shutdown()
		close(w.done)
		return
	}
	w.posts.signal(w)
}

// Run runs the loop on the calling goroutine, locked to its OS thread, until
// Stop. Call it once, in its own goroutine.
func (w *Worker) Run() {
	if !w.state.CompareAndSwap(stateNew, stateRunning) {
		if w.state.Load() == stateStoppedUnrun {
			return
		}
		panic("worker: Run called twice")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(w.done)
	w.tid.Store(int64(unix.Gettid()))
	w.tick()
	w.busySince.Store(w.nowMono + 1)
	for !w.stopping.Load() {
		w.iterate()
	}
	w.shutdown()
}

// BusyFor is how long the loop has been running callbacks without
// returning to epoll_wait (0 while it waits there, or before Run). A healthy
// loop goes back within microseconds to milliseconds; a large value means a
// callback blocks (a module hook sleeping, a filter in a loop). Safe from
// any goroutine.
func (w *Worker) BusyFor() time.Duration {
	since := w.busySince.Load()
	if since == 0 {
		return 0
	}
	return time.Duration(max(w.monoNow()-(since-1), 0))
}

// tick refreshes the cached clock.
func (w *Worker) tick() {
	w.now = time.Now()
	w.nowMono = int64(w.now.Sub(w.epoch))
}

// monoNow is a fresh (uncached) monotonic reading, used for timer deadlines.
func (w *Worker) monoNow() int64 { return int64(time.Since(w.epoch)) }

func (w *Worker) iterate() {
	// Anything queued before Run (or by a previous phase) goes first.
	w.deliverPending()
	w.busySince.Store(0)
	n, err := w.poll(w.pollTimeout())
	if err != nil {
		// EINTR is routine: Go's preemption signal (SIGURG) interrupts
		// epoll_wait, which the kernel never restarts.
		if err != unix.EINTR {
			// EBADF/EINVAL/EFAULT: the epoll set itself is broken; retrying
			// would spin. Shut down so the owner sees Done.
			w.log.Error("epoll_wait failed; stopping worker", zap.Error(err))
			w.stopping.Store(true)
		}
		n = 0
	}
	w.tick()
	w.busySince.Store(w.nowMono + 1)
	w.stats.iterations.Add(1)
	if w.ring != nil && n > 1 {
		w.readBatched(w.events[:n])
	}
	for i := 0; i < n; i++ {
		w.dispatch(&w.events[i])
		w.deliverPending()
	}
	w.runTimers()
	w.runReady()
	w.flushAll()
	w.closeDeferred()
}

// poll waits for events. If a callback asked for it (YieldBeforeSleep), it
// first yields the P once when nothing is ready; see YieldBeforeSleep. The
// request is spent either way: while the loop keeps running, an idle P's
// spinning thread can steal the woken goroutine.
func (w *Worker) poll(timeout int) (int, error) {
	if timeout != 0 && w.yieldPending {
		w.yieldPending = false
		n, err := unix.EpollWait(w.epfd, w.events, 0)
		if n != 0 || (err != nil && err != unix.EINTR) {
			return n, err
		}
		runtime.Gosched()
		if timeout > 0 {
			timeout = w.pollTimeout()
		}
	}
	return unix.EpollWait(w.epfd, w.events, timeout)
}

// YieldBeforeSleep is for loop code that wakes a goroutine (a channel send,
// a sync.Cond signal, e.g. to a TLS helper or a waiting control-plane
// caller). A woken goroutine is queued on this thread's P, and while the
// thread sleeps in epoll_wait only sysmon would hand it to another thread
// (20 µs to 10 ms later). After this call the loop, before it next sleeps,
// yields the P once so the goroutine runs at once. It costs nothing while
// the loop has events to handle. Loop thread only.
func (w *Worker) YieldBeforeSleep() { w.yieldPending = true }

// pollTimeout is the epoll_wait timeout in milliseconds: 0 when work is
// queued, the nearest timer deadline (rounded up) otherwise, -1 for none.
func (w *Worker) pollTimeout() int {
	if len(w.pending) > 0 || len(w.readyQ) > 0 || len(w.flushQ) > 0 || w.stopping.Load() {
		return 0
	}
	next, ok := w.timers.next()
	if !ok {
		return -1
	}
	d := next - w.monoNow()
	if d <= 0 {
		return 0
	}
	ms := (d + int64(time.Millisecond) - 1) / int64(time.Millisecond)
	if ms > 1<<30 {
		ms = 1 << 30
	}
	return int(ms)
}

// closeDeferred closes the fds released during this iteration. Closing only
// after the event batch is done means a number cannot be reused (by accept
// or Dial) while events for its previous owner are still being dispatched.
func (w *Worker) closeDeferred() {
	for i, fd := range w.closeLater {
		unix.Close(fd)
		w.closeLater[i] = -1
	}
	w.closeLater = w.closeLater[:0]
}

// shutdown closes every fd the worker owns, delivers the resulting OnClose
// (and OnConnect) callbacks, and releases the epoll set and the eventfd.
func (w *Worker) shutdown() {
	w.posts.close()
	w.tick()
	for fd := range w.fds {
		e := &w.fds[fd]
		switch e.kind {
		case kindListener:
			e.ln.Close()
		case kindConn:
			e.conn.fail(ErrWorkerStopped)
		case kindRaw:
			// Raw fds belong to whoever added them; only forget them.
			*e = fdEntry{}
		}
	}
	w.deliverPending()
	w.timers.clear()
	w.readyQ = w.readyQ[:0]
	w.flushQ = w.flushQ[:0]
	w.closeDeferred()
	if w.ring != nil {
		w.ring.close()
		w.ring = nil
	}
	unix.Close(w.evfd)
	unix.Close(w.epfd)
}
