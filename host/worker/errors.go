package worker

import "errors"

var (
	// ErrWorkerStopped is passed to OnClose (and to OnConnect for a dial in
	// progress) when the worker stops, and returned by Listen/Dial afterwards.
	ErrWorkerStopped = errors.New("worker: stopped")
	// ErrConnectTimeout is passed to OnConnect when a Dial's timeout expires
	// before the TCP handshake completes.
	ErrConnectTimeout = errors.New("worker: connect timed out")
	// ErrNilHandler is returned by Dial when no handler is given.
	ErrNilHandler = errors.New("worker: nil handler")
	// ErrInvalidAddr is returned by Listen/Dial for an unset or zero-port
	// (Dial) address.
	ErrInvalidAddr = errors.New("worker: invalid address")
	// ErrAddressInUse is returned by CheckAddressFree when another socket
	// (another process, or another sluice) listens on the address.
	ErrAddressInUse = errors.New("already in use by another process")
)
