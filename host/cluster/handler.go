package cluster

import (
	"net/netip"

	"github.com/sluiceproxy/sluice/host/headers"
)

// FailureReason says why a stream never got a connection (OnPoolFailure).
type FailureReason uint8

const (
	// ConnectFailure: the TCP connect failed (refused, unreachable, reset).
	ConnectFailure FailureReason = iota
	// ConnectTimeout: the connect did not finish within connect_timeout.
	ConnectTimeout
	// Overflow: max_connections was reached and the pending queue
	// (max_pending_requests) was full.
	Overflow
	// NoHealthyUpstream: the cluster has no endpoint to pick.
	NoHealthyUpstream
)

func (r FailureReason) String() string {
	switch r {
	case ConnectFailure:
		return "connect_failure"
	case ConnectTimeout:
		return "connect_timeout"
	case Overflow:
		return "overflow"
	case NoHealthyUpstream:
		return "no_healthy_upstream"
	}
	return "unknown"
}

// ResetReason says why a stream that had a connection died (OnReset).
type ResetReason uint8

const (
	// ConnectionTermination: the upstream closed or reset the connection
	// before the response was complete.
	ConnectionTermination ResetReason = iota
	// ProtocolError: the upstream sent bytes that are not a valid HTTP/1.1
	// response (the error is the codec's *http1.Error).
	ProtocolError
	// LocalReset: the proxy itself ended the stream (worker stopping,
	// manager closing).
	LocalReset
	// RemoteReset: the HTTP/2 upstream reset the stream (RST_STREAM); the
	// error is a *StreamResetError with the code.
	RemoteReset
)

func (r ResetReason) String() string {
	switch r {
	case ConnectionTermination:
		return "connection_termination"
	case ProtocolError:
		return "protocol_error"
	case LocalReset:
		return "local_reset"
	case RemoteReset:
		return "remote_reset"
	}
	return "unknown"
}

// ResponseHandler receives the events of one upstream stream. Every method
// runs on the worker that called NewStream.
//
// Lifetime: maps and byte slices passed to these methods belong to the
// pool and are valid only during the call (copy them, e.g. with
// headers.Map.CopyFrom, to keep them). The stream is finished after the
// final event — OnPoolFailure, OnReset, or the response event that carries
// endStream (OnResponseHeaders/OnResponseData with endStream=true, or
// OnResponseTrailers) — or after Reset. Calls on a finished stream do
// nothing; in particular Reset inside or after the final event does not
// disturb the connection, which is reused if the exchange was complete.
// The connection goes back to the pool right after the final event
// returns, so a NewStream issued from inside that event cannot reuse it;
// issue follow-up requests from a later loop turn (Worker.Post).
type ResponseHandler interface {
	// OnPoolReady: a connection to host is ready; the handler may now send
	// the request (SendHeaders, ...), typically from inside this call.
	OnPoolReady(s *Stream, host netip.AddrPort)
	// OnPoolFailure: no connection could be had; the stream is finished.
	OnPoolFailure(reason FailureReason, err error)
	// OnResponseHeaders delivers the final response head (:status and the
	// fields). Informational 1xx heads are not delivered here: see
	// InformationalHandler.
	OnResponseHeaders(h *headers.Map, endStream bool)
	// OnResponseData delivers body bytes; p may be empty when endStream
	// only marks the end of the body.
	OnResponseData(p []byte, endStream bool)
	// OnResponseTrailers delivers chunked trailers; it ends the stream.
	OnResponseTrailers(t *headers.Map)
	// OnReset: the stream died after OnPoolReady; it is finished.
	OnReset(reason ResetReason, err error)
	// OnUpstreamWritable: the connection's output dropped below its low
	// watermark after SendData pushed it above the high one.
	OnUpstreamWritable()
}

// InformationalHandler is optionally implemented by a ResponseHandler that
// wants to see 1xx heads (100 Continue, 102, 103 Early Hints). Without it
// they are swallowed, which is what Envoy does unless proxy_100_continue is
// set. A 101 Switching Protocols is never informational here: it goes to an
// UpgradeHandler (tunnel.go) or resets the stream with ProtocolError.
type InformationalHandler interface {
	OnResponse1xx(h *headers.Map)
}

// StreamStorage is optionally implemented by a ResponseHandler that owns
// the memory for its upstream Stream (e.g. a router filter that is itself
// pooled per downstream stream). NewStream then uses that Stream instead of
// allocating one, which makes a pooled request/response round trip
// allocation-free. Storage that is still busy with an earlier exchange is
// not reused (a fresh Stream is allocated instead).
type StreamStorage interface {
	UpstreamStream() *Stream
}
