// Package worker is sluice's event loop: one goroutine locked to its OS
// thread, sleeping in a raw epoll_wait on its own epoll set (never in the Go
// netpoller), that owns listening sockets, TCP connections, timers and raw
// file descriptors. Every callback a worker makes (accept, data, writable,
// close, connect, timers, posted functions, fd events) runs on that one
// thread, so a connection's whole life — codecs, filter chains, module hooks,
// upstream I/O — needs no locks and no cross-thread handoff.
//
// Work from other goroutines enters through Post (a mutex-guarded FIFO plus a
// coalesced eventfd wake-up). Everything else (Listen, Dial, AfterFunc,
// AddFD, all Conn and Listener methods) is loop-thread only: call it from a
// callback, from a posted function, or before Run starts.
//
// Callbacks are never re-entrant: methods the owner calls (Write, Flush,
// Close, Consume, ResumeReading, ...) only change state and queue
// notifications; the loop delivers those after the current callback returns.
//
// TLS (tls.go): StartTLS on an accepted connection, DialTLS for an
// outbound one. The owner's API does not change — Input is plaintext,
// Write takes plaintext, watermarks count everything not yet on the wire —
// and OnConnect reports the end of the handshake (a *HandshakeError or
// ErrHandshakeTimeout when it failed; the connection is then closed). The
// handshake runs on a helper goroutine that does the socket's I/O itself
// and sleeps on a channel the loop kicks from its epoll events; afterwards
// crypto/tls's record layer runs on the loop, an empty socket being a
// temporary error, so nothing on the loop ever waits for it.
//
// See RATIONALE.md for the design choices and measurements.
package worker
