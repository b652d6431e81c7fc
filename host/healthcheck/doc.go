// Package healthcheck probes one endpoint once, the way Envoy's active
// health checkers do: an HTTP request whose status must be expected, a TCP
// connect with optional bytes to send and to find in the answer, or the
// gRPC health protocol (grpc.health.v1.Health/Check). Scheduling, jitter,
// thresholds and what a result means for the endpoint are the cluster's
// business (host/cluster): this package only answers "did this one probe
// pass, and if not, why".
//
// Probes run on ordinary goroutines with net and net/http, never on a
// worker: a probe that hangs costs its goroutine, bounded by Timeout.
// An HTTP or gRPC prober keeps its connection alive between probes, as
// Envoy does; a TCP probe opens a new connection each time.
//
// # Failures
//
// Probe returns nil for a pass. A failure is either a *ResponseError (the
// endpoint answered, wrongly: an unexpected status, a gRPC status other
// than SERVING, missing bytes) or any other error (connect refused,
// timeout, reset): Envoy counts the latter also as network failures.
package healthcheck
