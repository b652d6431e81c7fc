// Package cluster holds sluice's upstream clusters, as in Envoy: endpoints
// (static, DNS, or from a watched file), load balancing, active health
// checks, outlier detection, circuit breakers and retry budgets, and one
// connection pool per worker per cluster. A pool speaks HTTP/1.1, or HTTP/2
// when the cluster has http2_protocol_options (see "HTTP/2 upstreams"
// below).
//
// # Threading
//
// A Manager is built on the main goroutine; Start launches what keeps the
// clusters current. Each Cluster has one workerPool per worker; everything
// a pool does (picking, dialing, parsing responses, idle timers, the
// pending queue) runs on its worker's loop thread, without locks.
//
// Membership and health belong to the cluster's control goroutine
// (control.go): DNS answers (discovery_dns.go, through host/dns), the
// endpoint file (discovery_eds.go), health-check results (healthcheck.go,
// probes from host/healthcheck on goroutines of their own), outlier
// ejections (outlier.go) and slow-start progress all run there. After a
// change it builds a hostSet (hostset.go) — the hosts by priority, each
// priority's share of traffic and pick set, and the load-balancer tables —
// and posts the same immutable value to every worker (Worker.Post); the
// worker installs it between two events (update.go). A pick therefore
// reads only worker-local state and never waits on another goroutine.
// The shared mutable state is atomic: the statistics, the per-host
// in-flight counts that least_request compares, the outlier run counters
// workers bump on every answer, the health flags (read by admin), and the
// circuit breakers.
//
// # Files
//
//   - cluster.go, manager.go, settings.go, config.go: the cluster, its
//     settings and their conversion from config.
//   - host.go: Host (shared) and hostSlot (one worker's idle connections
//     and counters for a host, padded to its own cache lines).
//   - hostset.go, lb.go, edf.go, ringhash.go, maglev.go: host sets and
//     the per-worker picker.
//   - control.go, update.go, discovery_dns.go, discovery_eds.go,
//     healthcheck.go, outlier.go, status.go: the control side and what
//     workers do with its messages; /clusters data.
//   - pool.go, conn.go, stream.go, request.go, response.go, retry.go,
//     breaker.go, retrybudget.go, tunnel.go, callout.go: the HTTP/1.1
//     pool, the stale-connection retry, circuit breakers, the router's
//     retry budget, tunnels and callouts; h2*.go: HTTP/2.
//
// # Load balancing
//
// Picks follow Envoy: a priority is chosen by its share of the traffic
// (health × overprovisioning factor 1.4, spilling over to the next
// priority), then a host among that priority's healthy hosts, or all of
// them in panic (fewer healthy than healthy_panic_threshold). Policies:
// round_robin (cursor, or earliest-deadline-first with weights),
// random, least_request (choice_count draws, or EDF by weight/(active+1)),
// ring_hash and maglev (the handler's LoadBalancerContext.HashKey). The
// ring gives each unit of weight a stable number of entries so that a
// host leaving moves only its own keys (see ringhash.go). A handler that
// implements LoadBalancerContext can also ask for hosts it already tried
// to be avoided (retries). No pick allocates.
//
// # Membership changes
//
// A host that leaves takes no new requests; its idle connections close
// when the worker installs the new set, busy ones close after their
// exchange (hostSlot.gone), HTTP/2 connections drain (h2Conn.retired). A
// host that stays, by address, keeps its connections and state.
//
// # Pool rules
//
//   - HTTP/1.1 keep-alive, one stream in flight per connection (no
//     pipelining). Idle connections are reused last-in first-out, so a
//     lightly loaded pool keeps few connections warm and the rest reach
//     their idle timeout.
//   - A connection goes back to the pool only when the response is complete,
//     the request was fully sent, both sides keep it alive (no
//     "Connection: close", no HTTP/1.0 without keep-alive), nothing follows
//     the response and max_requests_per_connection is not reached.
//     Otherwise it is closed when the response ends. A response that ends
//     before the request was fully sent ends the stream and closes the
//     connection (as Envoy's router does).
//   - An idle connection that receives EOF or any byte is closed and
//     dropped; connections are also checked when taken from the pool.
//   - Stale-connection retry: a kept-alive connection can be closed by the
//     upstream at the moment a request is written to it. When a reused
//     connection closes before any response byte arrived, the request is
//     sent again, once, on a fresh connection to the same endpoint,
//     invisibly to the handler. Like net/http's transport, only requests
//     that are safe to replay qualify: idempotent methods (GET, HEAD,
//     OPTIONS, TRACE, PUT, DELETE) or a request carrying an Idempotency-Key,
//     fully sent, at most 64 KiB. The retry inherits the dead connection's
//     max_connections slot. Counted as upstream_rq_retry_stale_connection.
//   - max_connections and max_pending_requests are cluster-wide (atomic,
//     across workers). A stream that finds no idle connection and no free
//     connection slot uses an idle connection to another endpoint if this
//     worker has one, else waits in its worker's FIFO pending queue; when
//     the queue places are exhausted it fails with Overflow. A freed slot
//     or connection serves the local queue first and then wakes other
//     workers whose queues are non-empty.
//   - Fairness across workers: while every slot is taken and another
//     worker has requests queued, a worker keeps at most its fair share of
//     connections (max_connections / workers, at least one) even with a
//     queue of its own, and idles none: a connection that frees up beyond
//     that is closed and its slot handed directly to a waiting worker
//     (handoffSlot), and a worker that queues asks the others to shed an
//     idle connection. Without this one busy worker could keep every slot
//     and starve the others. The price is a new TCP connection per handoff
//     under contention at the limit.
//   - A stream waiting for its own new connection that fails to connect
//     gets OnPoolFailure (ConnectFailure, or ConnectTimeout after
//     connect_timeout); the freed slot then dials for the next queued
//     stream, which succeeds or fails on its own.
//   - Pending, in the stats, is every stream that found no ready
//     connection: queued, or waiting for a connection being established
//     (its own dial, an HTTP/2 connection's SETTINGS), as in Envoy. Each is
//     counted once in upstream_rq_pending_total, is in
//     upstream_rq_pending_active while it waits, and, if it fails before
//     getting a connection, in upstream_rq_pending_failure_eject. The
//     max_pending_requests breaker bounds the queue only.
//   - Response heads and trailers are bounded by max_response_headers_kb
//     (Settings.MaxResponseHeaderBytes), which HTTP/2 also advertises as
//     SETTINGS_MAX_HEADER_LIST_SIZE; over it the stream is reset with
//     ProtocolError and a *HeadersTooLargeError.
//   - Responses: 1xx heads are swallowed unless the handler implements
//     InformationalHandler (then they are passed on; 100 Continue
//     forwarding is the router's choice). A 101 hands the connection over
//     to a tunnel when the request asked to upgrade and the handler
//     implements UpgradeHandler (see "Tunnels"); any other 101 is a
//     protocol error (ErrUnexpected101). HEAD responses have no body
//     whatever their Content-Length says; bodies delimited by the
//     connection close are supported. Bad response bytes reset the stream
//     with ProtocolError.
//
// # Tunnels
//
// A Tunnel is an HTTP/1.1 pool connection that leaves the pool for good to
// carry raw bytes for its new owner (the connection manager's WebSocket and
// CONNECT tunnels):
//
//   - Upgrades: a request that asks to switch protocols (an Upgrade field,
//     "upgrade" among its Connection options, no body) goes out with those
//     fields. A 101 answer ends the stream as completed, and the
//     connection, with any bytes that followed the 101, is handed to
//     UpgradeHandler.OnUpgrade. Any other answer is an ordinary response,
//     after which the connection is closed instead of pooled: the upstream
//     may have begun to switch.
//   - CONNECT: Cluster.NewTunnel dials a new connection to an endpoint the
//     load balancer picks. It never takes an idle pooled connection, nor
//     queues: it needs a free max_connections slot, or closes an idle
//     connection of its worker to use that one's, else fails with Overflow.
//   - A tunnel keeps its max_connections slot and counts in
//     upstream_cx_active until its owner calls Release; upstream_cx_tunnel_total
//     and upstream_cx_tunnel_active count them. Until the owner takes the
//     socket (SetHandler) the pool keeps reading paused and only notices
//     the socket dying. Tunnels are HTTP/1.1 only: HTTP/2 clusters neither
//     forward upgrade requests as upgrades nor answer NewTunnel differently
//     (NewTunnel dials HTTP/1.1's way: TCP, or TLS as below).
//
// # TLS
//
// With Settings.TLS every connection (pooled, HTTP/2, tunnel) is dialed
// with worker.DialTLS: OnConnect comes after the handshake, so the pool is
// unchanged above it. connect_timeout covers connect and handshake; a
// failed handshake is a connect failure whose error is a
// *worker.HandshakeError (the router words it as TLS_error:…), and an
// endpoint that negotiates, by ALPN, another protocol than the cluster's
// fails with ErrALPN. Health checks of the cluster use the same TLS
// config. The config is read per connection, so a reloaded certificate
// applies to new connections only.
//
// # HTTP/2 upstreams
//
// With Settings.HTTP2 (config: http2_protocol_options: {}) the pool speaks
// HTTP/2 with prior knowledge (h2c) over the same worker connections, with
// sluice's own client state machine on golang.org/x/net/http2's Framer and
// hpack (h2conn.go, h2stream.go). A frame is parsed only once it is fully
// buffered, so nothing blocks the worker. The Stream/ResponseHandler API is
// the same; the router does not know which protocol runs underneath.
//
//   - Connections are per worker per endpoint and carry up to
//     min(max_concurrent_streams, the peer's SETTINGS_MAX_CONCURRENT_STREAMS)
//     streams. A stream goes to a connection to the picked endpoint with
//     room, else to a new connection within max_connections, else to any
//     connection with room, else to the pending queue, which is served as
//     streams end. Streams wait for the peer's first SETTINGS before they
//     open (one round trip per new connection, never per stream).
//   - Flow control, sending: body bytes are framed as far as the stream
//     window, the connection window, the peer's frame size and the socket's
//     high watermark allow; the rest is held per stream. AboveWriteWatermark
//     is true while more than 256 KiB is held (or the socket is above its
//     mark), and OnUpstreamWritable follows when it drained below 64 KiB.
//   - Flow control, receiving: the connection window is credited as bytes
//     arrive; a stream's window only as its bytes are delivered. While the
//     handler paused the response, the stream holds what arrives, which its
//     window (initial_stream_window_size) bounds, and credits nothing.
//   - Request trailers go out as a final HEADERS frame; response trailers
//     (gRPC's status) arrive through OnResponseTrailers. Connection-specific
//     request fields are dropped, "te: trailers" is kept; :authority falls
//     back to Host, then to the endpoint address; :scheme to "http".
//   - RST_STREAM from the upstream resets the stream with RemoteReset
//     (error *StreamResetError); other streams go on. RST_STREAM(NO_ERROR)
//     after the whole response arrived only stops the upload (RFC 9113
//     8.1): a response still held for a paused handler is delivered. Stream.Reset sends
//     RST_STREAM(CANCEL) and leaves the connection alone. A response that
//     completes before the request ends cancels the rest of the upload.
//   - GOAWAY: the connection takes no new streams and closes when its last
//     stream ends. Streams above last-stream-id, and streams refused with
//     REFUSED_STREAM, were not processed by the upstream: they are sent
//     again, once, on another connection (or a new one), invisibly to the
//     handler, when the whole request was sent and recorded (at most 64
//     KiB of body, any method: unprocessed means safe) and no response byte
//     came; otherwise they are reset with ConnectionTermination (ErrGoAway).
//     Counted as upstream_rq_retry_stale_connection.
//   - Losing the connection resets its open streams with
//     ConnectionTermination; streams still waiting for its SETTINGS fail
//     with ConnectFailure. A protocol violation sends GOAWAY and resets the
//     streams with ProtocolError; a malformed response head resets only its
//     stream (RST_STREAM PROTOCOL_ERROR).
//   - A connection without streams is idle: idle_timeout closes it (with
//     GOAWAY), and another worker's queue can make it shed. The fair-share
//     rule applies per connection: when every slot is taken and another
//     worker has streams queued, a worker above its share stops giving new
//     streams to a connection whose stream just ended (it drains) and hands
//     the slot over when it is empty. A new connection, and one whose
//     SETTINGS arrive, take the worker's queued streams up to their limit.
//   - PING is answered, never sent; no priorities; no server push (it is
//     disabled in our SETTINGS).
//
// # Requests
//
// The request head is encoded by this package (request.go): framing is the
// pool's decision (Content-Length kept and enforced, else chunked when a
// body follows) and every byte of the method, path, authority and fields is
// checked so that a filter or module cannot split the request. Hop-by-hop
// headers other than Transfer-Encoding are the router's business.
//
// # Allocation
//
// Connections keep their parser, header maps and scratch buffers. A Stream
// lives in memory its handler provides (StreamStorage), so a keep-alive
// request/response round trip does not allocate in steady state (see
// BenchmarkPooledRoundTrip); a handler without storage costs one small
// allocation per stream. Stream objects are deliberately not recycled
// through a pool-owned free list: a handler holding a finished *Stream
// could otherwise reset an unrelated request that was handed the same
// object.
//
// # Not done (yet)
//
// Choosing HTTP/1.1 or HTTP/2 per connection by ALPN (Envoy's
// auto_config: the cluster's protocol is fixed), upgrades over HTTP/2
// (extended CONNECT), forwarding CONNECT requests as HTTP (the
// pool refuses them: ErrConnect), HTTP/2 keepalive PINGs; localities and
// zone-aware routing; success-rate and failure-percentage outlier
// detection; more than one health check per cluster; the HIGH
// circuit-breaker priority; an xDS client (the endpoint file is the
// dynamic source).
// Streams still queued when their worker stops get no callback (their
// downstream connections die with the worker), and a slot handed to a
// worker that is stopping is lost with it.
package cluster
