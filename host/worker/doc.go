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
// See RATIONALE.md for the design choices and measurements.
package worker
