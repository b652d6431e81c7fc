package worker

import (
	"time"

	"go.uber.org/zap"
)

const (
	defaultReadBufferSize = 16 << 10
	defaultMaxReadBuffer  = 1 << 20
	defaultHighWatermark  = 1 << 20
	defaultLowWatermark   = 512 << 10

	// eventBatch is how many epoll events one epoll_wait returns at most.
	eventBatch = 256
	// acceptBatch bounds accepts per listener wake-up so one busy listener
	// cannot starve the connections already on this worker.
	acceptBatch = 32
	// readBudget bounds reads per connection per loop iteration (fairness);
	// a connection with more to read is revisited next iteration.
	readBudget = 16
	// maxIovecs bounds the buffers handed to one sendmsg.
	maxIovecs = 64
	// maxPooledBuffers caps the per-worker free list so an idle worker does
	// not keep a burst's worth of buffers forever.
	maxPooledBuffers = 512
	// acceptBackoffNanos is how long a listener rests after EMFILE/ENFILE
	// (level-triggered epoll would otherwise spin on the pending connection).
	acceptBackoffNanos = 100e6
)

// lingerTimeout bounds each phase of CloseAfterFlush: a flush that makes no
// progress for that long, then the wait for the peer's FIN, give up after
// it. (A variable so tests can shorten it.)
var lingerTimeout time.Duration = 5 * time.Second

// Options configures a Worker. The zero value is usable.
type Options struct {
	Index  int
	Logger *zap.Logger // may be nil -> zap.NewNop()
	// ReadBufferSize is the per-read chunk (and pooled buffer) size; default 16 KiB.
	ReadBufferSize int
	// MaxReadBuffer caps a connection's unconsumed input; default 1 MiB. When
	// full, reading pauses until the handler consumes.
	MaxReadBuffer int
	// IOUring batches system calls through an io_uring where the kernel
	// allows it (UsingIOUring says whether it did, or why not): the first
	// read of up to 64 connections an epoll_wait reported readable, and the
	// first send of up to 64 connections with output at the end of a loop
	// iteration, each group in one io_uring_enter instead of a read or
	// sendmsg per connection.
	IOUring bool
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.ReadBufferSize <= 0 {
		o.ReadBufferSize = defaultReadBufferSize
	}
	if o.MaxReadBuffer <= 0 {
		o.MaxReadBuffer = defaultMaxReadBuffer
	}
	if o.MaxReadBuffer < o.ReadBufferSize {
		o.MaxReadBuffer = o.ReadBufferSize
	}
	return o
}
