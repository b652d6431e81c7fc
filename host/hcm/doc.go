// Package hcm is the HTTP connection manager: the terminal network filter
// that turns a downstream connection's bytes into streams (through a codec),
// runs each stream through its HTTP filter chain on the owning worker, and
// writes the responses back. Built-in Go filters and module filters share the
// StreamFilter interface and Envoy's continue/stop semantics.
//
// # Files
//
//   - connection.go: one downstream connection — the terminal network
//     filter of its listener's chain (NewFilter), and the codec.Transport
//     its codec writes through (so network write filters see every byte)
//     — codec choice (ALPN, codec_type, the first bytes), idle and header
//     timeouts, the h2c switch, drains. The codecs themselves live beside
//     their protocols: http1.NewServerCodec, http2.NewServerCodec.
//   - stream.go, decoder.go: one request/response exchange; edge header
//     handling (hop-by-hop, x-forwarded-*, x-request-id, via).
//   - iterate.go, filter.go, callbacks.go, buffer.go: the filter chain walk
//     with Envoy's statuses, the filter API, held bodies.
//   - router_filter.go, retry.go: the terminal filter (Envoy's router)
//     over the cluster pools, and its retries: retry_policy with back-off,
//     per-try timeouts, the request body kept for replay up to
//     per_request_buffer_limit_bytes, the cluster's retry budget, never
//     after the response started; the request's hash_policy hash and
//     previous_hosts reach the load balancer through
//     cluster.LoadBalancerContext.
//   - upgrade.go, tunnel.go: protocol switches (below).
//   - grpc.go: gRPC-aware local replies, trailers and message framing.
//   - accesslog.go, info.go, config.go: access logs, stream info and
//     response flags, the compiled config and stats.
//
// # Protocol switches
//
// An HTTP/1.1 request that asks to upgrade (Connection: upgrade and an
// Upgrade field, no body) or a CONNECT is checked against upgrade_configs
// (Config.Upgrades, overridden per route) on the route its head selects,
// before any filter runs. An allowed upgrade keeps its two fields, so
// filters and the upstream see them; the codec is told (codec.Switcher
// PrepareSwitch) to read nothing further and to close the connection
// unless the switch happens. A refused one is forwarded as a plain request
// without them.
//
// The router forwards an allowed upgrade over an HTTP/1.1 pool connection
// and takes a 101 answer as the hand-over of that connection
// (cluster.UpgradeHandler); a CONNECT on a connect_matcher route instead
// gets its own raw upstream connection (cluster.NewTunnel) and a 200 once
// it is up. That response runs through the encoder filters as the last
// response event; only when it reaches the codec (a filter may hold or
// replace it) does the codec write it (EncodeSwitch), the stream complete,
// and the connection become a tunnel: a network.Pipe (tcp_proxy's) between
// the downstream connection and the upstream socket, copying bytes each way
// with watermark backpressure, passing FINs on, ended by
// stream_idle_timeout or the drain deadline, and writing one access-log
// line at its end from the switched stream's info. A 101 that no allowed
// upgrade asked for is a 502 with details upgrade_failed (flag UPE).
// HTTP/2 streams never switch: their encoder is not a codec.Switcher, and
// a CONNECT over HTTP/2 on a connect_matcher route is answered 501.
//
// # Flush, gRPC
//
// A stream ends (no hook runs again) when the end of its response reached
// the codec, but it is logged and released only once the codec reports the
// response out (codec.FlushNotifier: HTTP/2 waits for the client's window),
// so the access log and stats count what the client got; a response the
// client did not get whole is flagged TR. stream_idle_timeout bounds the
// wait.
//
// gRPC (grpc.go): replies sluice makes itself to a gRPC request are
// trailers-only gRPC responses with a mapped grpc-status; a gRPC response
// whose upstream dies, or that times out, after it started ends with
// grpc-status trailers when it is at a message boundary (the router
// follows the message framing), else with a reset; routes with
// max_stream_duration.grpc_timeout_header_max take the call's grpc-timeout
// as their deadline.
//
// # Overload
//
// With an overload manager (Config.Overload), each connection reads its
// worker's overload.State, which the manager's messages change on that
// worker (plain memory, no lock). While shed_new_streams is on, a new
// stream gets no filter at all (creating them, module hooks included, is
// the work shedding saves) and is answered 503 "overloaded" from its
// request head (gRPC: UNAVAILABLE), flagged OM with details overload and
// counted in downstream_rq_overload_close. While disable_keepalive is on,
// a request's connection is drained as by a drain (HTTP/1 Connection:
// close, HTTP/2 GOAWAY) once its head arrives, counted in
// downstream_cx_overload_disable_keepalive.
package hcm
