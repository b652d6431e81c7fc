/*
 * sluice_abi.h — the sluice module ABI, version 2.1.
 *
 * This one header IS the ABI between the sluice proxy (the "host", written in
 * Go, loading modules with dlopen) and a filter module (a shared object
 * written in C, Rust, ...). It is C99 with fixed-width types and nothing
 * else: no inline code, no shared-memory layouts. Everything a module calls
 * is a function pointer of the host table, so the host can change how it
 * works inside without any module being rebuilt.
 *
 * Three kinds of items:
 *   - types and constants          sluice_*  / SLUICE_*
 *   - hooks the MODULE exports     sluice_on_*         (found by dlsym)
 *   - callbacks the HOST provides  sluice_host_api.*   (a function table the
 *     module receives in sluice_on_program_init; a Go binary cannot export C
 *     symbols, so the table replaces Envoy's exported callback symbols)
 *
 * Threads. "main" is the host's module main thread: ONE OS thread that runs
 * every program- and config-level hook, one at a time: program init and
 * shutdown, config_new/destroy, per_route_config_new/destroy,
 * config_scheduled and config_callout_done (never a worker, never two
 * threads). "worker" is the event-loop thread that owns a stream: every
 * hook of one filter instance, including sluice_on_http_filter_scheduled,
 * _timer and _callout_done, runs on that one OS thread. "any" means any
 * thread, including threads the module created. A hook that blocks stalls
 * every connection of its worker (or, on main, config work and
 * config-level deliveries).
 *
 * Buffers. A sluice_buffer the host hands to the module (a "host view") is
 * host-owned C memory (never Go heap): it stays valid until the hook during
 * which it was obtained returns, unless an item says otherwise. Copy what you
 * need to keep. Pointers the module passes to the host are only read during
 * the call; the host copies what it keeps. Strings are NOT NUL-terminated.
 *
 * Handles. Host objects are named by opaque 64-bit handles (id 0 is never
 * valid) into generation-checked tables, wrapped in one struct type per
 * kind so the compiler refuses a config handle where a filter handle is
 * expected. A call with a stale handle (the stream ended and was
 * destroyed, the config was closed, the scheduler was deleted) returns
 * SLUICE_ERR_INVALID_HANDLE (or false) and never crashes the host.
 * Generations never wrap: a handle, once stale, never names another object
 * again. Module objects are the void* the module returns from its *_new
 * hooks; the host passes them back and never dereferences them.
 *
 * Versioning. A module exports sluice_module_abi_version(); the host refuses
 * a different MAJOR. Minor versions only append: new hooks are optional, new
 * host callbacks are added at the END of sluice_host_api, whose first field
 * is its size (see SLUICE_HOST_API_HAS).
 *
 * Filter kinds. A module offers HTTP filters, network (L4) filters, or
 * both: it offers a kind when it exports any hook of that kind
 * (sluice_on_http_filter_* / sluice_on_network_filter_*), and must then
 * export all of that kind's required hooks, else loading fails naming the
 * missing symbol. Every module exports sluice_module_abi_version and
 * sluice_on_program_init.
 *   HTTP, required: config_new, config_destroy, new, destroy,
 *   request_headers, response_headers. Optional (absent = the default
 *   noted at each hook): request/response body and trailers,
 *   stream_complete, scheduled, timer, config_scheduled,
 *   per_route_config_new/_destroy (these two: both or neither).
 *   Network (ABI 2.1), required: config_new, config_destroy, new, destroy,
 *   new_connection, read. Optional: write, event, watermark, scheduled,
 *   timer, config_scheduled.
 *   HTTP callouts (ABI 2.1), optional: sluice_on_http_filter_callout_done,
 *   sluice_on_http_filter_config_callout_done.
 *
 * History: 2.0 (handles as structs, opaque scheduler commit); 2.1 adds
 * network (L4) filters and HTTP callouts ("HTTP callouts (ABI 2.1)":
 * callout types, three host callbacks at the end of sluice_host_api, two
 * optional hooks). Each minor only adds: a module built against an older
 * minor runs unchanged.
 */
#ifndef SLUICE_ABI_H
#define SLUICE_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                  */
/* ------------------------------------------------------------------------ */

#define SLUICE_ABI_VERSION_MAJOR 2
#define SLUICE_ABI_VERSION_MINOR 1
/* What sluice_module_abi_version() returns: major << 16 | minor. */
#define SLUICE_ABI_VERSION ((uint32_t)((SLUICE_ABI_VERSION_MAJOR << 16) | SLUICE_ABI_VERSION_MINOR))

/* ------------------------------------------------------------------------ */
/* Basic types                                                              */
/* ------------------------------------------------------------------------ */

/* Handles are passed by value; each is one 64-bit id (the same registers as
 * a uint64_t in the C calling convention). id 0 is never valid. */

/* A filter configuration (one per configured module filter). Valid from
 * sluice_on_http_filter_config_new until config_destroy returns. */
typedef struct sluice_config_handle {
    uint64_t id;
} sluice_config_handle;
/* One filter instance on one stream. Valid from sluice_on_http_filter_new
 * until sluice_on_http_filter_destroy returns; stream callbacks fail with
 * SLUICE_ERR_STREAM_ENDED once the stream has ended, and with
 * SLUICE_ERR_INVALID_HANDLE after destroy. */
typedef struct sluice_filter_handle {
    uint64_t id;
} sluice_filter_handle;
/* A scheduler (see scheduler_new). Valid from scheduler_new until the
 * module deletes it; any thread may commit through it. After delete every
 * commit through it returns false, whatever happens to the host's memory. */
typedef struct sluice_scheduler_handle {
    uint64_t id;
} sluice_scheduler_handle;

/* A one-shot timer of a filter (see timer_new). Valid until timer_delete
 * or until its filter is destroyed. */
typedef struct sluice_timer_handle {
    uint64_t id;
} sluice_timer_handle;

/* One network filter instance on one connection (ABI 2.1). Valid from
 * sluice_on_network_filter_new until sluice_on_network_filter_destroy
 * returns; connection callbacks fail with SLUICE_ERR_STREAM_ENDED once the
 * connection closed, and with SLUICE_ERR_INVALID_HANDLE after destroy. */
typedef struct sluice_network_filter_handle {
    uint64_t id;
} sluice_network_filter_handle;

/* True when a handle returned by the host names nothing (a failed *_new). */
#define SLUICE_HANDLE_IS_NULL(h) ((h).id == 0)

/* A byte string: ptr may be NULL when len == 0. */
typedef struct sluice_buffer {
    const uint8_t* ptr;
    size_t len;
} sluice_buffer;

/* One header: a lowercase name (for host views) and its value. */
typedef struct sluice_header {
    sluice_buffer name;
    sluice_buffer value;
} sluice_header;

/* Result of every host callback that can fail. */
typedef int32_t sluice_result;
#define SLUICE_OK 0
/* The handle is unknown or stale (object destroyed / config closed). */
#define SLUICE_ERR_INVALID_HANDLE (-1)
/* The stream already ended (local reply sent, reset, completed): the call
 * would touch a finished stream. Also returned by header/body/control calls
 * made later in the same hook after send_response, continue_decoding or
 * continue_encoding handed the stream on, and by stream calls made from
 * sluice_on_http_filter_destroy. Reads stay allowed in stream_complete. */
#define SLUICE_ERR_STREAM_ENDED (-2)
/* The named header / metadata key / attribute is not present. */
#define SLUICE_ERR_NOT_FOUND (-3)
/* The object is not available now: response headers during the request
 * path, the received body outside a body hook, trailers not present. */
#define SLUICE_ERR_UNAVAILABLE (-4)
/* The caller's array is too small; *count_out holds the needed size and the
 * first `cap` entries were filled. */
#define SLUICE_ERR_BUFFER_TOO_SMALL (-5)
/* Bad argument: unknown kind or id, NULL out-pointer, bad status code
 * (send_response takes 100..599), CR, LF or NUL in a header name or value,
 * an empty header name, metric name reused with another kind, ... */
#define SLUICE_ERR_INVALID_ARGUMENT (-6)
/* A worker-only callback was called from another thread. Nothing happened.
 * Detected when the worker is not running a module hook at the time of the
 * call; a call racing a hook is not detected (and is a module bug). */
#define SLUICE_ERR_WRONG_THREAD (-7)
/* The call is not allowed in this phase (e.g. define_counter after
 * config_new returned). continue_decoding/continue_encoding on a stream that
 * is not stopped return OK and do nothing. */
#define SLUICE_ERR_WRONG_PHASE (-8)
/* A fixed limit was reached (e.g. metrics per config). */
#define SLUICE_ERR_LIMIT (-9)

/* Status returned by request/response header hooks (Envoy's
 * FilterHeadersStatus; same values as host/hcm HeadersStatus). */
typedef int32_t sluice_headers_status;
#define SLUICE_HEADERS_CONTINUE 0
#define SLUICE_HEADERS_STOP_ITERATION 1
/* On headers that end the stream: pass them on WITHOUT end of stream; the
 * filter then adds the body with inject_data(..., end_of_stream = true).
 * On headers that do not end the stream: the same as CONTINUE. */
#define SLUICE_HEADERS_CONTINUE_AND_DONT_END_STREAM 2
#define SLUICE_HEADERS_STOP_ALL_ITERATION_AND_BUFFER 3
#define SLUICE_HEADERS_STOP_ALL_ITERATION_AND_WATERMARK 4

/* Status returned by body hooks (Envoy's FilterDataStatus). */
typedef int32_t sluice_body_status;
#define SLUICE_BODY_CONTINUE 0
#define SLUICE_BODY_STOP_ITERATION_AND_BUFFER 1
#define SLUICE_BODY_STOP_ITERATION_AND_WATERMARK 2
#define SLUICE_BODY_STOP_ITERATION_NO_BUFFER 3

/* Status returned by trailer hooks (Envoy's FilterTrailersStatus). */
typedef int32_t sluice_trailers_status;
#define SLUICE_TRAILERS_CONTINUE 0
#define SLUICE_TRAILERS_STOP_ITERATION 1

/* Any other value returned by a status hook is contained: the stream is
 * failed with a local 500 (response flag FF), the event is counted
 * (invalid_status) and logged at most once per rate window. */

/* Kinds of metric (sluice_metric_def.kind). */
typedef uint32_t sluice_metric_kind;
#define SLUICE_METRIC_COUNTER 0
#define SLUICE_METRIC_GAUGE 1
#define SLUICE_METRIC_HISTOGRAM 2

/* A metric definition for define_metric. Names: letters, digits, '_', '.',
 * '-' (at most 128 bytes). Label names: [A-Za-z_][A-Za-z0-9_]*, not
 * "filter" or "le", at most 8. Histogram buckets: ascending upper bounds
 * (at most 64; NULL/0 = the default bounds 1, 5, 10, 25, 50, 100, 250, 500,
 * 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
 * 3600000), in whatever unit the module records. */
typedef struct sluice_metric_def {
    uint32_t size; /* sizeof(sluice_metric_def) */
    sluice_metric_kind kind;
    sluice_buffer name;
    const sluice_buffer* label_names;
    size_t n_label_names;
    const uint64_t* buckets;
    size_t n_buckets;
} sluice_metric_def;

/* Which header map a header callback addresses (Envoy's order). */
typedef uint32_t sluice_header_kind;
#define SLUICE_REQUEST_HEADERS 0
#define SLUICE_REQUEST_TRAILERS 1
#define SLUICE_RESPONSE_HEADERS 2
#define SLUICE_RESPONSE_TRAILERS 3

/* Which body a body callback addresses. "Received" is the data passed to
 * the current body hook (only inside request_body / response_body);
 * "buffered" is what earlier STOP_ITERATION_AND_BUFFER returns kept
 * (available on the worker at any time during the stream). */
typedef uint32_t sluice_body_kind;
#define SLUICE_RECEIVED_REQUEST_BODY 0
#define SLUICE_BUFFERED_REQUEST_BODY 1
#define SLUICE_RECEIVED_RESPONSE_BODY 2
#define SLUICE_BUFFERED_RESPONSE_BODY 3

/* A direction of a stream (inject_data). */
typedef uint32_t sluice_direction;
#define SLUICE_DIRECTION_REQUEST 0
#define SLUICE_DIRECTION_RESPONSE 1

/* Log levels (zap's, with trace mapped to debug). */
typedef uint32_t sluice_log_level;
#define SLUICE_LOG_TRACE 0
#define SLUICE_LOG_DEBUG 1
#define SLUICE_LOG_INFO 2
#define SLUICE_LOG_WARN 3
#define SLUICE_LOG_ERROR 4
#define SLUICE_LOG_CRITICAL 5
#define SLUICE_LOG_OFF 6

/* Stream attributes. String attributes (get_attribute_string) return a host
 * view valid until the hook returns; integer ones use get_attribute_int. */
typedef uint32_t sluice_attribute_id;
#define SLUICE_ATTR_REQUEST_METHOD 1      /* string: :method */
#define SLUICE_ATTR_REQUEST_PATH 2        /* string: :path */
#define SLUICE_ATTR_REQUEST_HOST 3        /* string: :authority */
#define SLUICE_ATTR_REQUEST_SCHEME 4      /* string: :scheme */
#define SLUICE_ATTR_REQUEST_PROTOCOL 5    /* string: "HTTP/1.1", "HTTP/2", ... */
#define SLUICE_ATTR_REQUEST_ID 6          /* string: x-request-id of the stream */
#define SLUICE_ATTR_SOURCE_ADDRESS 7      /* string: "ip:port" of the downstream peer */
#define SLUICE_ATTR_DESTINATION_ADDRESS 8 /* string: "ip:port" the peer connected to */
#define SLUICE_ATTR_SOURCE_PORT 9         /* int */
#define SLUICE_ATTR_DESTINATION_PORT 10   /* int */
#define SLUICE_ATTR_CONNECTION_ID 11      /* int: downstream connection id */
#define SLUICE_ATTR_STREAM_ID 12          /* int: stream id within the process */
#define SLUICE_ATTR_WORKER_INDEX 13       /* int: index of the owning worker */
#define SLUICE_ATTR_RESPONSE_CODE 14      /* int: :status once response headers exist */
/* ABI 2.1: the connection's TLS facts (HTTP and network filters; NOT_FOUND
 * on a cleartext connection or before the handshake completed). */
#define SLUICE_ATTR_TLS_SNI 15          /* string: server name the client asked for */
#define SLUICE_ATTR_TLS_ALPN 16         /* string: negotiated application protocol */
#define SLUICE_ATTR_TLS_VERSION 17      /* string: "TLSv1.2", "TLSv1.3" */
#define SLUICE_ATTR_TLS_PEER_SUBJECT 18 /* string: client certificate subject */
#define SLUICE_ATTR_TLS_PEER_SANS 19    /* string: client certificate SANs, comma-separated */

/* ABI 2.1, network filters. Status returned by new_connection, read and
 * write (Envoy's Network::FilterStatus). STOP_ITERATION stops only the
 * current pass over the filter chain: the next read iterates again from the
 * first filter (so a filter that holds a connection keeps returning it
 * until it calls network_continue_reading). Any other value is contained:
 * the connection is closed (counted as invalid_status, logged once per
 * rate window). */
typedef int32_t sluice_network_status;
#define SLUICE_NETWORK_CONTINUE 0
#define SLUICE_NETWORK_STOP_ITERATION 1

/* Connection events (sluice_on_network_filter_event). CONNECTED: the
 * transport is ready — right after the chain started for cleartext, after
 * the handshake with TLS (TLS attributes are set from then on).
 * REMOTE_CLOSE: the peer closed or reset. LOCAL_CLOSE: sluice closed it (a
 * filter, a timeout, a drain). */
typedef uint32_t sluice_network_event;
#define SLUICE_NETWORK_EVENT_CONNECTED 0
#define SLUICE_NETWORK_EVENT_REMOTE_CLOSE 1
#define SLUICE_NETWORK_EVENT_LOCAL_CLOSE 2

/* Which buffer a network buffer callback addresses. READ: inside the read
 * hook, the data it was given (the connection's read buffer: everything
 * read and not yet drained, possibly seen before; or data a filter before
 * this one injected); outside a read hook, the connection's read buffer.
 * WRITE: the chunk passed to the running write hook (UNAVAILABLE
 * elsewhere). */
typedef uint32_t sluice_network_buffer_kind;
#define SLUICE_NETWORK_READ_BUFFER 0
#define SLUICE_NETWORK_WRITE_BUFFER 1

/* How network_close closes: FLUSH sends what is queued first; ABORT closes
 * now (queued output is lost; the peer may see a reset). */
typedef uint32_t sluice_close_type;
#define SLUICE_CLOSE_FLUSH 0
#define SLUICE_CLOSE_ABORT 1

/* ------------------------------------------------------------------------ */
/* HTTP callouts (ABI 2.1): types                                           */
/* ------------------------------------------------------------------------ */

/* An HTTP request a filter (or a config) sends to a configured cluster on
 * its own behalf, e.g. to ask an authorization service; see http_callout
 * in the host table. The handle names one callout from the start call
 * until its done hook is called (the handle is stale from the moment the
 * hook starts) or until it is cancelled. */
typedef struct sluice_callout_handle {
    uint64_t id;
} sluice_callout_handle;

/* What a callout sends. Everything is copied during the start call. */
typedef struct sluice_callout_request {
    uint32_t size;       /* sizeof(sluice_callout_request) */
    uint32_t timeout_ms; /* bounds the whole exchange (connect, send, answer); 0 = 5000 */
    sluice_buffer cluster; /* the name of a cluster of the config's `clusters` */
    /* Request headers. ":method" and ":path" are required; ":authority"
     * defaults to the cluster name and ":scheme" to "http"; no other
     * pseudo-header is allowed. Names are sent lowercase. content-length
     * is set from body (a given one is replaced). */
    const sluice_header* headers;
    size_t n_headers;
    sluice_buffer body;          /* empty: no body */
    uint64_t max_response_bytes; /* response body limit; 0 = 1 MiB, at most 64 MiB */
} sluice_callout_request;

/* How a callout ended (sluice_callout_result.outcome). Only
 * SLUICE_CALLOUT_OK carries a response, whatever its status. */
typedef uint32_t sluice_callout_outcome;
#define SLUICE_CALLOUT_OK 0
/* The cluster had no endpoint to send to. */
#define SLUICE_CALLOUT_NO_HEALTHY_UPSTREAM 1
/* The cluster's circuit breakers (max_connections + max_pending_requests). */
#define SLUICE_CALLOUT_OVERFLOW 2
/* Connecting failed or timed out (connect_timeout). */
#define SLUICE_CALLOUT_CONNECT_FAILURE 3
/* The upstream closed or reset the stream before the whole answer came,
 * or answered with bytes that are not valid HTTP. */
#define SLUICE_CALLOUT_RESET 4
/* timeout_ms passed. */
#define SLUICE_CALLOUT_TIMEOUT 5
/* The response body exceeded max_response_bytes. */
#define SLUICE_CALLOUT_RESPONSE_TOO_LARGE 6
/* No cluster of that name is configured. */
#define SLUICE_CALLOUT_CLUSTER_UNKNOWN 7

/* A finished callout, lent to the done hook: the struct and every view in
 * it are host memory valid until the hook returns. */
typedef struct sluice_callout_result {
    uint32_t size; /* sizeof(sluice_callout_result) as the host was built */
    sluice_callout_outcome outcome;
    uint32_t status; /* the response's status (OK only; else 0) */
    uint32_t reserved;
    /* Response headers without pseudo-headers, lowercase, in the order
     * received (OK only; else NULL, 0). */
    const sluice_header* headers;
    size_t n_headers;
    sluice_buffer body; /* the whole response body, contiguous (OK only) */
    const sluice_header* trailers; /* response trailers, if any */
    size_t n_trailers;
    /* Why it failed, for logs (e.g. the connect error); empty on OK. */
    sluice_buffer detail;
} sluice_callout_result;

/* ------------------------------------------------------------------------ */
/* Host API table                                                           */
/* ------------------------------------------------------------------------ */

/* The host callbacks, handed to sluice_on_program_init. The table is
 * host-owned C memory valid for the life of the process: keep the pointer.
 * Thread column: "worker" = only on the filter's worker (normally inside one
 * of its hooks; see SLUICE_ERR_WRONG_THREAD for what is detected),
 * "main" = only during the config hooks, "any" = thread-safe.
 * Calls from module-created threads cost ~12 us each (the Go runtime binds
 * a thread); scheduler_commit and scheduler_delete avoid that: they run
 * entirely on the calling thread, never enter the host runtime. */
typedef struct sluice_host_api {
    /* sizeof(sluice_host_api) as the host was built: a callback exists iff
     * SLUICE_HOST_API_HAS(api, field). */
    uint32_t size;
    /* Host ABI version, major << 16 | minor. */
    uint32_t abi_version;

    /* --- process ------------------------------------------------------ */

    /* any: log msg at level (zap logger "module"). */
    void (*log)(sluice_log_level level, const uint8_t* msg, size_t msg_len);
    /* any: cheap check before formatting a message. */
    bool (*log_enabled)(sluice_log_level level);
    /* any: number of workers. */
    uint32_t (*concurrency)(void);

    /* --- config (main, during sluice_on_http_filter_config_new) ---------- */

    /* main: the reason shown in the error when config_new (or
     * per_route_config_new) returns NULL: `module "<path>", filter "<name>":
     * config rejected by the module: <reason>`. Last call wins. */
    sluice_result (*config_reject)(sluice_config_handle config, const uint8_t* reason, size_t reason_len);
    /* main, during config_new only: define a metric named name; *id_out
     * receives its id. The host shows it as "module.<entry>.<name>" in
     * /stats, where <entry> is the `name` of the http_filters entry (not
     * the filter_name). Defining the same name and kind again returns the
     * same id. */
    sluice_result (*define_counter)(sluice_config_handle config, const uint8_t* name, size_t name_len, uint32_t* id_out);
    sluice_result (*define_gauge)(sluice_config_handle config, const uint8_t* name, size_t name_len, uint32_t* id_out);
    sluice_result (*define_histogram)(sluice_config_handle config, const uint8_t* name, size_t name_len, uint32_t* id_out);
    /* any: update metric id of config. labels[0..n_labels) are the values
     * of the metric's labels, in the order they were defined (NULL, 0 for a
     * metric without labels; a count that differs from the definition is
     * INVALID_ARGUMENT). Values are copied. */
    sluice_result (*counter_add)(sluice_config_handle config, uint32_t id, const sluice_buffer* labels,
                                 size_t n_labels, uint64_t delta);
    sluice_result (*gauge_set)(sluice_config_handle config, uint32_t id, const sluice_buffer* labels, size_t n_labels,
                               int64_t value);
    sluice_result (*gauge_add)(sluice_config_handle config, uint32_t id, const sluice_buffer* labels, size_t n_labels,
                               int64_t delta);
    sluice_result (*histogram_record)(sluice_config_handle config, uint32_t id, const sluice_buffer* labels,
                                      size_t n_labels, uint64_t value);

    /* --- headers and trailers (worker) ----------------------------------- */

    /* Value number `index` (0-based) of header `name` (any case). *value_out
     * is a host view; *count_out (may be NULL) receives how many values the
     * name has. NOT_FOUND when index >= count. */
    sluice_result (*header_get)(sluice_filter_handle filter, sluice_header_kind kind, const uint8_t* name,
                                size_t name_len, size_t index, sluice_buffer* value_out, size_t* count_out);
    /* All values of `name` into values[0..cap); *count_out = how many exist
     * (OK with *count_out = 0 when absent). cap 0 (values may be NULL) only
     * counts and returns OK; 0 < cap < count returns BUFFER_TOO_SMALL. */
    sluice_result (*header_values)(sluice_filter_handle filter, sluice_header_kind kind, const uint8_t* name,
                                   size_t name_len, sluice_buffer* values, size_t cap, size_t* count_out);
    /* Every header in order into headers[0..cap) in one call; *count_out =
     * total. Pass cap 0 (headers may be NULL) to learn the size: OK; with
     * 0 < cap < total the first cap are filled and BUFFER_TOO_SMALL is
     * returned. Views are host views, in the map's order; pseudo-headers
     * (:method, :path, :authority, :scheme; :status) are ordinary entries. */
    sluice_result (*headers_get)(sluice_filter_handle filter, sluice_header_kind kind, sluice_header* headers,
                                 size_t cap, size_t* count_out);
    /* Replace every value of name with one value (adds it when absent). */
    sluice_result (*header_set)(sluice_filter_handle filter, sluice_header_kind kind, const uint8_t* name,
                                size_t name_len, const uint8_t* value, size_t value_len);
    /* Append one more value. */
    sluice_result (*header_add)(sluice_filter_handle filter, sluice_header_kind kind, const uint8_t* name,
                                size_t name_len, const uint8_t* value, size_t value_len);
    /* Remove every value of name; *removed_out (may be NULL) = how many. */
    sluice_result (*header_remove)(sluice_filter_handle filter, sluice_header_kind kind, const uint8_t* name,
                                   size_t name_len, size_t* removed_out);

    /* --- body (worker) ---------------------------------------------------- */

    /* Views of the body's contiguous chunks into chunks[0..cap);
     * *count_out = number of chunks (cap semantics as headers_get). Host
     * views (copies), valid until the hook returns: a later append/drain
     * does not change them. An empty buffered body has 0 chunks. */
    sluice_result (*body_chunks)(sluice_filter_handle filter, sluice_body_kind kind, sluice_buffer* chunks, size_t cap,
                                 size_t* count_out);
    /* Total body length in bytes. */
    sluice_result (*body_size)(sluice_filter_handle filter, sluice_body_kind kind, size_t* size_out);
    /* Append data at the end (copied). For a buffered body that does not
     * exist yet: created when this filter holds the stopped headers of that
     * direction (a body for a request or response that had none; it goes
     * on when the filter continues), else UNAVAILABLE. */
    sluice_result (*body_append)(sluice_filter_handle filter, sluice_body_kind kind, const uint8_t* data, size_t len);
    /* Remove n bytes from the front (n > size drains all). */
    sluice_result (*body_drain)(sluice_filter_handle filter, sluice_body_kind kind, size_t n);

    /* --- stream control (worker) ----------------------------------------- */

    /* Answer the stream locally: status 100..599, headers[0..n_headers),
     * body, and details (recorded in the access log, e.g. "cached"). All
     * copied. After OK the stream has ended: later stream calls in this
     * hook return SLUICE_ERR_STREAM_ENDED. */
    sluice_result (*send_response)(sluice_filter_handle filter, uint32_t status, const sluice_header* headers,
                                   size_t n_headers, const uint8_t* body, size_t body_len, const uint8_t* details,
                                   size_t details_len);
    /* Resume a request / response this filter stopped (typically from
     * on_http_filter_scheduled). */
    sluice_result (*continue_decoding)(sluice_filter_handle filter);
    sluice_result (*continue_encoding)(sluice_filter_handle filter);
    /* Re-select the route after header changes that affect routing. */
    sluice_result (*clear_route_cache)(sluice_filter_handle filter);

    /* --- scheduler ---------------------------------------------------------- */

    /* worker: a scheduler for this filter (id 0 on failure: stale handle,
     * wrong thread, stream already ended, the module lacks
     * sluice_on_http_filter_scheduled, or the worker's limit of 262144
     * schedulers). The module deletes it once it is done with it. */
    sluice_scheduler_handle (*scheduler_new)(sluice_filter_handle filter);
    /* any thread: ask for sluice_on_http_filter_scheduled(filter, event_id)
     * on the filter's worker. Runs entirely on the calling thread: it never
     * enters the host runtime, never blocks, never raises a signal, and
     * leaves errno unchanged.
     *
     * Returns true when the event was queued. It is delivered in commit
     * order (per scheduler) if the stream is still running then; otherwise
     * it is dropped and counted (module.scheduler_commits_dropped).
     *
     * Returns false, counted, when nothing was queued:
     *  - the scheduler was deleted, its filter is being or was destroyed
     *    (from the moment the destroy hook is called), or the handle
     *    never existed: a stale handle never reaches another stream, even
     *    after the host reused the scheduler's slot
     *    (module.scheduler_commits_rejected_stale);
     *  - the host is shutting down (..._rejected_closed);
     *  - this scheduler already has 64 events waiting for delivery
     *    (..._rejected_full). Each scheduler has its own queue, so a storm
     *    on one scheduler never makes another scheduler's commit fail.
     *    Remedy: commit again after on_http_filter_scheduled has run (e.g.
     *    let it signal your thread), or coalesce events (one commit meaning
     *    "look at my queue") instead of one commit per item. */
    bool (*scheduler_commit)(sluice_scheduler_handle scheduler, uint64_t event_id);
    /* any thread, like commit (never enters the host runtime): later commits
     * through the scheduler return false. Events committed before delete are
     * still delivered, so "commit, then delete" is the normal last use. A
     * second delete, or a delete of a stale handle, does nothing. */
    void (*scheduler_delete)(sluice_scheduler_handle scheduler);

    /* --- stream information (worker) --------------------------------------- */

    sluice_result (*get_attribute_string)(sluice_filter_handle filter, sluice_attribute_id id, sluice_buffer* value_out);
    sluice_result (*get_attribute_int)(sluice_filter_handle filter, sluice_attribute_id id, int64_t* value_out);
    /* Dynamic metadata by namespace + key; strings copied in, host views out. */
    sluice_result (*metadata_set_string)(sluice_filter_handle filter, const uint8_t* ns, size_t ns_len,
                                         const uint8_t* key, size_t key_len, const uint8_t* value, size_t value_len);
    sluice_result (*metadata_set_number)(sluice_filter_handle filter, const uint8_t* ns, size_t ns_len,
                                         const uint8_t* key, size_t key_len, double value);
    sluice_result (*metadata_get_string)(sluice_filter_handle filter, const uint8_t* ns, size_t ns_len,
                                         const uint8_t* key, size_t key_len, sluice_buffer* value_out);
    /* A string value that parses as a number is returned as that number;
     * any other type mismatch is INVALID_ARGUMENT. */
    sluice_result (*metadata_get_number)(sluice_filter_handle filter, const uint8_t* ns, size_t ns_len,
                                         const uint8_t* key, size_t key_len, double* value_out);
    /* The per-route config object (what per_route_config_new returned) that
     * the selected route carries for this filter, or NOT_FOUND. */
    sluice_result (*per_route_config)(sluice_filter_handle filter, void** config_out);

    /* --- config-level scheduler (main) ------------------------------------ */

    /* main, inside a config hook: a scheduler whose commits run
     * sluice_on_http_filter_config_scheduled(config, event_id) on the main
     * thread; for config-wide background work (cache refresh, key rotation)
     * done by the module's threads. Commit and delete are scheduler_commit
     * and scheduler_delete, with the same guarantees. Commits are refused
     * once the config is destroyed. id 0 on failure: stale handle, not on
     * the main thread, or the module lacks
     * sluice_on_http_filter_config_scheduled. */
    sluice_scheduler_handle (*config_scheduler_new)(sluice_config_handle config);

    /* --- logging with stream context (worker) ----------------------------- */

    /* Like log, with the stream's conn_id and stream_id and the filter's
     * name as fields of the log line (the same conn_id/stream_id as
     * sluice's own lines and the access log). */
    sluice_result (*log_filter)(sluice_filter_handle filter, sluice_log_level level, const uint8_t* msg,
                                size_t msg_len);

    /* --- timers (worker) --------------------------------------------------- */

    /* A one-shot timer on the filter's worker: once enabled and due,
     * sluice_on_http_filter_timer(filter, timer) runs there (after the hook
     * that is running, never inside it). Created disarmed. id 0 on failure:
     * stale handle, wrong thread, stream ended, or the module lacks
     * sluice_on_http_filter_timer. The host deletes a filter's timers when
     * the filter is destroyed (their handles are stale then). */
    sluice_timer_handle (*timer_new)(sluice_filter_handle filter);
    /* Arm the timer to fire delay_ms milliseconds from now (0: at the next
     * loop iteration); re-arming an armed timer moves its deadline. */
    sluice_result (*timer_enable)(sluice_timer_handle timer, uint64_t delay_ms);
    /* Disarm it (OK if it is not armed). */
    sluice_result (*timer_disable)(sluice_timer_handle timer);
    /* Disarm and free it; the handle is stale afterwards. */
    sluice_result (*timer_delete)(sluice_timer_handle timer);

    /* --- metrics with labels and buckets; panics -------------------------- */

    /* main, during config_new only: define a counter, gauge or histogram
     * with labels (and, for histograms, bucket bounds); *id_out receives
     * its id for counter_add & co., whose label values follow the order of
     * def->label_names. In /stats/prometheus a metric is the family
     * sluice_module_metric_<name> with the labels filter="<entry>" and its
     * own; in /stats "module.<entry>.<name>{label="value",...}". The same
     * entry and name again (e.g. the same filter in two listeners) shares
     * one metric. A definition that gives a name another kind, other labels
     * or other buckets, or that would export under a family another name
     * already uses (names differing only in '.' vs '_'), is refused
     * (INVALID_ARGUMENT) and makes the config fail to load, naming the
     * collision. "panics" and "invalid_status" are the host's per-filter
     * counters: refused too. At most 1024 label-value combinations per
     * metric (LIMIT beyond). */
    sluice_result (*define_metric)(sluice_config_handle config, const sluice_metric_def* def, uint32_t* id_out);
    /* any: the module caught a fatal error of its own (the Rust SDK: a
     * panic) in code of this config; counted as module.<entry>.panics
     * (sluice_module_filter_panics{filter="<entry>"}) and logged (at most
     * once per 10 s) with msg. */
    sluice_result (*report_panic)(sluice_config_handle config, const uint8_t* msg, size_t msg_len);

    /* --- body injection (worker) ------------------------------------------ */

    /* Pass data (copied) from this filter to the filters after it, and on
     * to the upstream (request) or the client (response), as if it had
     * arrived there; end_of_stream ends that direction. Allowed once this
     * filter has passed that direction's headers on: after it returned
     * SLUICE_HEADERS_CONTINUE_AND_DONT_END_STREAM on headers that ended the
     * stream (the direction then ends only with data injected with
     * end_of_stream), or from a body hook returning
     * SLUICE_BODY_STOP_ITERATION_NO_BUFFER to forward data at its own pace.
     * WRONG_PHASE otherwise (headers still held here, direction ended). */
    sluice_result (*inject_data)(sluice_filter_handle filter, sluice_direction direction, const uint8_t* data,
                                 size_t len, bool end_of_stream);

    /* --- ABI 2.1: network filters (worker) ---------------------------------
     * Every call takes the filter's handle and runs on the worker that
     * owns the connection (SLUICE_ERR_WRONG_THREAD as for HTTP calls).
     * Calls that act on the connection return STREAM_ENDED once it
     * closed; reads (attributes, metadata) stay allowed in the
     * LOCAL_CLOSE/REMOTE_CLOSE event and in destroy. */

    /* Views of the buffer's contiguous chunks into chunks[0..cap);
     * *count_out = how many chunks (cap semantics as headers_get). Host
     * views (copies) valid until the hook returns. */
    sluice_result (*network_buffer_chunks)(sluice_network_filter_handle filter, sluice_network_buffer_kind kind,
                                           sluice_buffer* chunks, size_t cap, size_t* count_out);
    sluice_result (*network_buffer_size)(sluice_network_filter_handle filter, sluice_network_buffer_kind kind,
                                         size_t* size_out);
    /* Remove n bytes from the front (n > size drains all): consumed, they
     * go no further. A filter that forwards or rewrites data drains what it
     * handled; the terminal filter (tcp_proxy) drains the read buffer. */
    sluice_result (*network_buffer_drain)(sluice_network_filter_handle filter, sluice_network_buffer_kind kind,
                                          size_t n);
    /* Add data (copied) at the end / the front of the buffer. */
    sluice_result (*network_buffer_append)(sluice_network_filter_handle filter, sluice_network_buffer_kind kind,
                                           const uint8_t* data, size_t len);
    sluice_result (*network_buffer_prepend)(sluice_network_filter_handle filter, sluice_network_buffer_kind kind,
                                            const uint8_t* data, size_t len);
    /* Resume the read pass this filter stopped: the filters after it get
     * new_connection (if they have not yet) and read with the read buffer
     * as it is now, without waiting for another byte. From inside this
     * filter's own hook it takes effect when the hook returns (as if it
     * returned CONTINUE). The usual call: from on_network_filter_scheduled
     * once the module's thread decided. */
    sluice_result (*network_continue_reading)(sluice_network_filter_handle filter);
    /* Pass data (copied) to the filters after this one as if it had been
     * read (it does not enter the read buffer; what they leave of it is
     * dropped). For a filter that held data back (drained it) and now
     * releases it: a throttler, a decoder. */
    sluice_result (*network_inject_read_data)(sluice_network_filter_handle filter, const uint8_t* data, size_t len,
                                              bool end_stream);
    /* Pass data (copied) to the write filters between this one and the
     * client, then to the client. */
    sluice_result (*network_inject_write_data)(sluice_network_filter_handle filter, const uint8_t* data, size_t len,
                                               bool end_stream);
    /* Send data (copied) to the client through every write filter (as the
     * terminal filter's output would go); end_stream sends a FIN after
     * it. */
    sluice_result (*network_write)(sluice_network_filter_handle filter, const uint8_t* data, size_t len,
                                   bool end_stream);
    /* Close the connection (FLUSH or ABORT). The filters hear LOCAL_CLOSE;
     * the connection's handles go stale after destroy. */
    sluice_result (*network_close)(sluice_network_filter_handle filter, sluice_close_type how);
    /* Stop (true) or resume (false) reading the client's socket; counted
     * (every disable needs its enable). While reading is stopped the
     * kernel pushes back on the client. */
    sluice_result (*network_read_disable)(sluice_network_filter_handle filter, bool disable);
    /* Connection attributes: SOURCE_ADDRESS, DESTINATION_ADDRESS (strings,
     * the PROXY protocol's when a listener filter read one),
     * SOURCE_PORT, DESTINATION_PORT, CONNECTION_ID, WORKER_INDEX (ints),
     * and the TLS ones; other ids are INVALID_ARGUMENT. */
    sluice_result (*network_get_attribute_string)(sluice_network_filter_handle filter, sluice_attribute_id id,
                                                  sluice_buffer* value_out);
    sluice_result (*network_get_attribute_int)(sluice_network_filter_handle filter, sluice_attribute_id id,
                                               int64_t* value_out);
    /* Connection-level dynamic metadata: the connection's HTTP filters read
     * it (connection_metadata_get_*), and it is in the access logs
     * ("connection_metadata"). */
    sluice_result (*network_metadata_set_string)(sluice_network_filter_handle filter, const uint8_t* ns,
                                                 size_t ns_len, const uint8_t* key, size_t key_len,
                                                 const uint8_t* value, size_t value_len);
    sluice_result (*network_metadata_set_number)(sluice_network_filter_handle filter, const uint8_t* ns,
                                                 size_t ns_len, const uint8_t* key, size_t key_len, double value);
    sluice_result (*network_metadata_get_string)(sluice_network_filter_handle filter, const uint8_t* ns,
                                                 size_t ns_len, const uint8_t* key, size_t key_len,
                                                 sluice_buffer* value_out);
    sluice_result (*network_metadata_get_number)(sluice_network_filter_handle filter, const uint8_t* ns,
                                                 size_t ns_len, const uint8_t* key, size_t key_len,
                                                 double* value_out);
    /* A scheduler for this filter: scheduler_commit from any thread runs
     * sluice_on_network_filter_scheduled on the connection's worker, with
     * every guarantee of the HTTP scheduler (never misdelivered, refused
     * once stale, per-scheduler queue). id 0 on failure (as scheduler_new;
     * the module must export sluice_on_network_filter_scheduled). */
    sluice_scheduler_handle (*network_scheduler_new)(sluice_network_filter_handle filter);
    /* A timer for this filter, firing sluice_on_network_filter_timer; arm,
     * disarm and delete it with timer_enable/_disable/_delete. */
    sluice_timer_handle (*network_timer_new)(sluice_network_filter_handle filter);
    /* Log with the connection's conn_id and the filter's name. */
    sluice_result (*network_log)(sluice_network_filter_handle filter, sluice_log_level level, const uint8_t* msg,
                                 size_t msg_len);

    /* --- ABI 2.1: HTTP filters read their connection's metadata ----------- */

    /* The dynamic metadata network filters set on the stream's connection
     * (network_metadata_set_*). NOT_FOUND when absent. */
    sluice_result (*connection_metadata_get_string)(sluice_filter_handle filter, const uint8_t* ns, size_t ns_len,
                                                    const uint8_t* key, size_t key_len, sluice_buffer* value_out);
    sluice_result (*connection_metadata_get_number)(sluice_filter_handle filter, const uint8_t* ns, size_t ns_len,
                                                    const uint8_t* key, size_t key_len, double* value_out);

    /* ===== HTTP callouts (ABI 2.1) ===================================== */
    /* Check with SLUICE_HOST_API_HAS(api, http_callout) before use: a 2.0
     * host has none of these three. */

    /* worker, inside a hook of the filter: send request to a cluster.
     * On OK, *callout_out names it and exactly one
     * sluice_on_http_filter_callout_done(filter, callout, result) follows
     * on this filter's worker, never inside another hook (not even inside
     * this call), unless the callout is cancelled first: by
     * http_callout_cancel, or by the stream ending (the host cancels every
     * callout of a filter when the stream ends: no done hook ever reaches
     * a finished stream or a destroyed filter). Errors (nothing started,
     * no hook):
     *  INVALID_HANDLE, WRONG_THREAD, STREAM_ENDED as for stream calls;
     *  INVALID_ARGUMENT: NULL request or callout_out, request->size too
     *    small, empty cluster name, :method or :path missing or empty, a
     *    pseudo-header other than :method/:path/:authority/:scheme, an
     *    empty header name, CR/LF/NUL in a name or value,
     *    max_response_bytes above 64 MiB;
     *  UNAVAILABLE: the module does not export
     *    sluice_on_http_filter_callout_done;
     *  LIMIT: this filter already has 16 callouts in flight, or its worker
     *    4096 (counted: module.<entry>.callouts_over_limit).
     * An unknown cluster name is not an error here: the done hook reports
     * SLUICE_CALLOUT_CLUSTER_UNKNOWN. */
    sluice_result (*http_callout)(sluice_filter_handle filter, const sluice_callout_request* request,
                                  sluice_callout_handle* callout_out);
    /* main, inside a config hook: the same for config-wide background work
     * (cache refresh, key rotation). The request runs on one of the
     * workers' connection pools; the result comes back to the main thread
     * as sluice_on_http_filter_config_callout_done(config, callout,
     * result). The host cancels the config's callouts when the config is
     * destroyed. Errors as above (WRONG_THREAD when not on the main
     * thread inside a config hook; UNAVAILABLE also when there are no
     * workers); LIMIT at 64 callouts in flight for the config. */
    sluice_result (*config_http_callout)(sluice_config_handle config, const sluice_callout_request* request,
                                         sluice_callout_handle* callout_out);
    /* The thread that started the callout (the filter's worker inside one
     * of its hooks, or main inside a config hook): abandon it; its done
     * hook will not be called. INVALID_HANDLE when the callout already
     * finished (its hook ran), was cancelled, or never existed. */
    sluice_result (*http_callout_cancel)(sluice_callout_handle callout);
    /* ===== end of HTTP callouts (ABI 2.1) ============================== */
} sluice_host_api;

/* True when the host's table contains `field` (a minor-version addition). */
#define SLUICE_HOST_API_HAS(api, field) \
    ((api)->size >= offsetof(sluice_host_api, field) + sizeof((api)->field))

/* ------------------------------------------------------------------------ */
/* Hooks the module exports                                                 */
/* ------------------------------------------------------------------------ */

/* REQUIRED. Any thread, before anything else: return SLUICE_ABI_VERSION. */
uint32_t sluice_module_abi_version(void);

/* REQUIRED. main, once per module version (file content) when sluice loads
 * it — at start-up, or when a reload finds a new version — after the ABI
 * check, before any config hook. Keep `api` (valid forever). Return false
 * to fail the load ("program init failed"). */
bool sluice_on_program_init(const sluice_host_api* api);

/* OPTIONAL. main, once, when sluice stops, or when a reload replaced or
 * dropped this version and its last filter and config are gone, so the
 * module can stop and join its threads (another version of the module may
 * be running beside it, with its own globals). Order at shutdown: listeners close and streams drain; every
 * filter is destroyed (filter_destroy, on its worker); per-route configs
 * and configs are destroyed (per_route_config_destroy, config_destroy);
 * commits are refused from then on (they return false); then this hook
 * runs. After it returns the module must not call the host except
 * scheduler_commit / scheduler_delete (refused, harmless). The library
 * stays loaded; a later load in the same process runs program_init again. */
void sluice_on_program_shutdown(void);

/* REQUIRED. main. Create the module's object for one configured filter.
 * name/config are host views valid during the call (config is the JSON the
 * operator wrote under `config`). Return NULL to reject the config; call
 * api->config_reject first to say why. Metrics are defined here. */
void* sluice_on_http_filter_config_new(sluice_config_handle config, const uint8_t* name_ptr, size_t name_len,
                                       const uint8_t* config_ptr, size_t config_len);

/* REQUIRED. main, once, after every stream using the config has been
 * destroyed. The config handle is invalid from now on; the config's
 * schedulers refuse commits. */
void sluice_on_http_filter_config_destroy(void* config);

/* OPTIONAL (needed for config_scheduler_new). main, for each commit through
 * a config-level scheduler, in commit order, while the config exists. */
void sluice_on_http_filter_config_scheduled(void* config, sluice_config_handle handle, uint64_t event_id);

/* OPTIONAL (with _destroy). main. A per-route config for this filter;
 * NULL = rejected (api->config_reject(config, ...) explains). */
void* sluice_on_http_filter_per_route_config_new(sluice_config_handle config, void* filter_config,
                                                 const uint8_t* config_ptr, size_t config_len);
/* OPTIONAL. main, always (never on a worker), after no stream uses it. */
void sluice_on_http_filter_per_route_config_destroy(void* per_route_config);

/* REQUIRED. worker. A filter for a new stream; `filter` is its handle.
 * NULL fails the stream with a local 500. */
void* sluice_on_http_filter_new(void* config, sluice_filter_handle filter);

/* REQUIRED. worker. Request headers arrived (read them through
 * api->headers_get etc.). */
sluice_headers_status sluice_on_http_filter_request_headers(void* filter_module, sluice_filter_handle filter,
                                                            bool end_of_stream);
/* OPTIONAL (absent = CONTINUE). worker. A request body chunk arrived: it is
 * the SLUICE_RECEIVED_REQUEST_BODY during this hook. */
sluice_body_status sluice_on_http_filter_request_body(void* filter_module, sluice_filter_handle filter,
                                                      bool end_of_stream);
/* OPTIONAL (absent = CONTINUE). worker. */
sluice_trailers_status sluice_on_http_filter_request_trailers(void* filter_module, sluice_filter_handle filter);
/* REQUIRED. worker. */
sluice_headers_status sluice_on_http_filter_response_headers(void* filter_module, sluice_filter_handle filter,
                                                             bool end_of_stream);
/* OPTIONAL (absent = CONTINUE). worker. */
sluice_body_status sluice_on_http_filter_response_body(void* filter_module, sluice_filter_handle filter,
                                                       bool end_of_stream);
/* OPTIONAL (absent = CONTINUE). worker. */
sluice_trailers_status sluice_on_http_filter_response_trailers(void* filter_module, sluice_filter_handle filter);
/* OPTIONAL. worker, once, when the stream ended for any reason, before
 * destroy. Read-only calls (attributes, headers) still work here. */
void sluice_on_http_filter_stream_complete(void* filter_module, sluice_filter_handle filter);
/* REQUIRED. worker, exactly once, after the hook that ended the stream has
 * returned. Free filter_module. Stream callbacks return STREAM_ENDED here
 * the handle is stale afterwards. Commits through the filter's schedulers
 * are refused from here on; deleting them here is the natural way to
 * cancel pending work (or soon after, from the module's thread). Undeleted
 * ones are bounded: past 4096 per worker the host reclaims the oldest
 * (counted, logged once); deleting a reclaimed one is harmless. */
void sluice_on_http_filter_destroy(void* filter_module);
/* OPTIONAL (needed for timer_new). worker that owns the filter: an enabled
 * timer of this filter is due. Re-arm it with timer_enable to fire again. */
void sluice_on_http_filter_timer(void* filter_module, sluice_filter_handle filter, sluice_timer_handle timer);

/* OPTIONAL (needed to use schedulers). worker that owns the filter, in
 * commit order per scheduler, for each commit made while the stream was
 * alive; commits delivered after the stream ended or the filter was
 * destroyed are dropped (and counted). */
void sluice_on_http_filter_scheduled(void* filter_module, sluice_filter_handle filter, uint64_t event_id);

/* ===== HTTP callouts (ABI 2.1): hooks ================================== */

/* OPTIONAL (needed for http_callout). worker that owns the filter, once
 * per callout started with http_callout that was not cancelled, while the
 * stream is running. result and its views are valid until the hook
 * returns; `callout` is already stale here (it only identifies which
 * callout ended). Typically resumes the stopped request
 * (continue_decoding) or answers it (send_response). */
void sluice_on_http_filter_callout_done(void* filter_module, sluice_filter_handle filter,
                                        sluice_callout_handle callout, const sluice_callout_result* result);

/* OPTIONAL (needed for config_http_callout). main, once per config
 * callout that was not cancelled, while the config exists. */
void sluice_on_http_filter_config_callout_done(void* config, sluice_config_handle handle,
                                               sluice_callout_handle callout, const sluice_callout_result* result);
/* ===== end of HTTP callouts (ABI 2.1) ================================== */

/* ------------------------------------------------------------------------ */
/* Network (L4) filter hooks — ABI 2.1                                      */
/* ------------------------------------------------------------------------ */

/* A network filter sees a connection's bytes, Envoy's L4 model: listener
 * -> network filters in order -> a terminal filter (tcp_proxy or the HTTP
 * connection manager). Read path: every read appends to the connection's
 * read buffer and runs the filters in order with the WHOLE buffer until one
 * returns STOP_ITERATION; what no filter drained stays, so a filter may see
 * the same bytes again. Write path: what goes to the client passes the
 * filters from the last to the first, one chunk at a time; STOP_ITERATION
 * keeps a chunk from going further (keep a copy and inject it later to
 * delay it). All hooks of one filter run on the worker that owns its
 * connection. The read buffer is bounded by the listener's
 * per_connection_buffer_limit_bytes (reading pauses at the limit), and
 * network_filters_timeout closes a connection whose filters keep the
 * terminal filter from starting. */

/* REQUIRED (network). main. As sluice_on_http_filter_config_new, for one
 * configured network filter. */
void* sluice_on_network_filter_config_new(sluice_config_handle config, const uint8_t* name_ptr, size_t name_len,
                                          const uint8_t* config_ptr, size_t config_len);
/* REQUIRED (network). main, once, after every connection using the config
 * was destroyed. */
void sluice_on_network_filter_config_destroy(void* config);
/* OPTIONAL (needed for config_scheduler_new on a network config). main. */
void sluice_on_network_filter_config_scheduled(void* config, sluice_config_handle handle, uint64_t event_id);
/* REQUIRED (network). worker. A filter for a new connection; NULL closes
 * the connection (counted as network_filter_refused). */
void* sluice_on_network_filter_new(void* config, sluice_network_filter_handle filter);
/* REQUIRED (network). worker, exactly once, after the connection closed
 * (and its events were delivered) and no hook of this filter is running.
 * Free filter_module; delete your schedulers (their pending events are
 * dropped) and timers (the host deletes them too). */
void sluice_on_network_filter_destroy(void* filter_module);
/* REQUIRED (network). worker, once, before the filter's first read: when
 * the connection is set up, or — behind a filter that stopped — when the
 * read pass first reaches this filter. STOP_ITERATION keeps the filters
 * after this one from starting until this filter continues (a gatekeeper
 * asking its own thread: tcp_proxy after it does not connect upstream
 * meanwhile, and bytes the client sends wait in the read buffer). */
sluice_network_status sluice_on_network_filter_new_connection(void* filter_module,
                                                              sluice_network_filter_handle filter);
/* REQUIRED (network). worker. A read pass reached this filter: data_length
 * bytes are in the READ buffer (see sluice_network_buffer_kind);
 * end_stream: the client half-closed (no byte follows). */
sluice_network_status sluice_on_network_filter_read(void* filter_module, sluice_network_filter_handle filter,
                                                    size_t data_length, bool end_stream);
/* OPTIONAL (absent = CONTINUE). worker. A chunk of data_length bytes on
 * its way to the client is in the WRITE buffer; end_stream: a FIN follows
 * it. */
sluice_network_status sluice_on_network_filter_write(void* filter_module, sluice_network_filter_handle filter,
                                                     size_t data_length, bool end_stream);
/* OPTIONAL. worker. A connection event (filters that have started, i.e.
 * saw new_connection, hear them; one behind a filter that stopped or
 * closed the connection never does). */
void sluice_on_network_filter_event(void* filter_module, sluice_network_filter_handle filter,
                                    sluice_network_event event);
/* OPTIONAL. worker. The output to the client went above its high watermark
 * (above = true), or drained to the low one (false). */
void sluice_on_network_filter_watermark(void* filter_module, sluice_network_filter_handle filter, bool above);
/* OPTIONAL (needed for network_scheduler_new). worker that owns the
 * connection, in commit order per scheduler, while the connection is open;
 * later events are dropped (and counted). */
void sluice_on_network_filter_scheduled(void* filter_module, sluice_network_filter_handle filter,
                                        uint64_t event_id);
/* OPTIONAL (needed for network_timer_new). worker: an enabled timer is
 * due (only while the connection is open). */
void sluice_on_network_filter_timer(void* filter_module, sluice_network_filter_handle filter,
                                    sluice_timer_handle timer);

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_ABI_H */
