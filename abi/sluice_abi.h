/*
 * sluice_abi.h — the sluice module ABI, version 1.0.
 *
 * This one header IS the ABI between the sluice proxy (the "host", written in
 * Go, loading modules with dlopen) and a filter module (a shared object
 * written in C, Rust, ...). It is C99 with fixed-width types; the scheduler
 * commit helper at the end uses the GCC/Clang __atomic builtins.
 *
 * Three kinds of items:
 *   - types and constants          sluice_*  / SLUICE_*
 *   - hooks the MODULE exports     sluice_on_*         (found by dlsym)
 *   - callbacks the HOST provides  sluice_host_api.*   (a function table the
 *     module receives in sluice_on_program_init; a Go binary cannot export C
 *     symbols, so the table replaces Envoy's exported callback symbols)
 *
 * Threads. "main" is the host's control goroutine (config load, module
 * load); "worker" is the event-loop thread that owns a stream: every hook of
 * one filter instance, including sluice_on_http_filter_scheduled, runs on
 * that one OS thread. "any" means any thread, including threads the module
 * created. A hook that blocks stalls every connection of its worker.
 *
 * Buffers. A sluice_buffer the host hands to the module (a "host view") is
 * host-owned C memory (never Go heap): it stays valid until the hook during
 * which it was obtained returns, unless an item says otherwise. Copy what you
 * need to keep. Pointers the module passes to the host are only read during
 * the call; the host copies what it keeps. Strings are NOT NUL-terminated.
 *
 * Handles. Host objects are named by opaque 64-bit handles (0 is never
 * valid) into generation-checked tables: a call with a stale handle (the
 * stream ended and was destroyed, the config was closed) returns
 * SLUICE_ERR_INVALID_HANDLE and never crashes the host. Module objects are
 * the void* the module returns from its *_new hooks; the host passes them
 * back and never dereferences them.
 *
 * Versioning. A module exports sluice_module_abi_version(); the host refuses
 * a different MAJOR. Minor versions only append: new hooks are optional, new
 * host callbacks are added at the END of sluice_host_api, whose first field
 * is its size (see SLUICE_HOST_API_HAS).
 *
 * Required hooks (a module offering HTTP filters must export all of them,
 * else loading fails naming the missing symbol):
 *   sluice_module_abi_version, sluice_on_program_init,
 *   sluice_on_http_filter_config_new, sluice_on_http_filter_config_destroy,
 *   sluice_on_http_filter_new, sluice_on_http_filter_destroy,
 *   sluice_on_http_filter_request_headers, sluice_on_http_filter_response_headers.
 * Optional (absent = the default noted at each hook): request/response body
 * and trailers, stream_complete, scheduled, per_route_config_new/_destroy
 * (these two: both or neither).
 */
#ifndef SLUICE_ABI_H
#define SLUICE_ABI_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                  */
/* ------------------------------------------------------------------------ */

#define SLUICE_ABI_VERSION_MAJOR 1
#define SLUICE_ABI_VERSION_MINOR 0
/* What sluice_module_abi_version() returns: major << 16 | minor. */
#define SLUICE_ABI_VERSION ((uint32_t)((SLUICE_ABI_VERSION_MAJOR << 16) | SLUICE_ABI_VERSION_MINOR))

/* ------------------------------------------------------------------------ */
/* Basic types                                                              */
/* ------------------------------------------------------------------------ */

/* A filter configuration (one per configured module filter). Valid from
 * sluice_on_http_filter_config_new until config_destroy returns. */
typedef uint64_t sluice_config_handle;
/* One filter instance on one stream. Valid from sluice_on_http_filter_new
 * until sluice_on_http_filter_destroy returns; stream callbacks fail with
 * SLUICE_ERR_STREAM_ENDED once the stream has ended, and with
 * SLUICE_ERR_INVALID_HANDLE after destroy. */
typedef uint64_t sluice_filter_handle;

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

/* ------------------------------------------------------------------------ */
/* Scheduler shared memory (read by sluice_scheduler_commit below)          */
/* ------------------------------------------------------------------------ */

/* One record of a worker's commit ring (Vyukov bounded MPMC queue cell).
 * seq is the cell's sequence number; the others are the payload. */
typedef struct sluice_sched_slot {
    uint64_t seq;                /* atomic */
    sluice_filter_handle filter; /* whose on_http_filter_scheduled runs */
    uint64_t event_id;           /* passed through verbatim */
    uint64_t reserved;           /* 0 */
} sluice_sched_slot;

/* One ring per worker, in host-owned anonymous mmap memory. Producer and
 * consumer fields live on separate 64-byte lines. Modules only touch it
 * through sluice_scheduler_commit. */
typedef struct sluice_sched_ring {
    /* line 0: written once by the host, read-only afterwards */
    sluice_sched_slot* slots; /* capacity = mask + 1, a power of two */
    uint64_t mask;
    int32_t wake_fd;       /* the worker's scheduler eventfd (write 8 bytes: 1) */
    uint32_t worker_index; /* informational */
    uint64_t pad0[5];
    /* line 1: producers */
    uint64_t enqueue_pos; /* atomic */
    uint64_t pad1[7];
    /* line 2: the worker (consumer) */
    uint64_t dequeue_pos;
    uint64_t pad2[7];
    /* line 3: wake-up and rare counters */
    uint32_t wake_pending;   /* atomic: 1 = an eventfd write is outstanding */
    uint32_t closed;         /* atomic: 1 = host shutting down, commits fail */
    uint64_t rejected_full;  /* atomic: commits refused because the ring was full */
    uint64_t wakes;          /* atomic: eventfd writes done by committers */
    uint64_t pad3[5];
} sluice_sched_ring;

/* A scheduler: created on the worker by host_api.scheduler_new inside a
 * hook, then usable from ANY thread. Host-owned C memory that stays valid
 * until the module deletes it (sluice_scheduler_delete or
 * host_api.scheduler_delete), even after the stream ended. Using it after
 * delete is a module bug: the memory may be reused for another stream. */
typedef struct sluice_scheduler {
    sluice_sched_ring* ring;     /* ring of the worker owning the filter */
    sluice_filter_handle filter; /* generation-checked on delivery */
    uint32_t deleted;            /* atomic: set once by delete */
    uint32_t reserved;
} sluice_scheduler;

/* ------------------------------------------------------------------------ */
/* Host API table                                                           */
/* ------------------------------------------------------------------------ */

/* The host callbacks, handed to sluice_on_program_init. The table is
 * host-owned C memory valid for the life of the process: keep the pointer.
 * Thread column: "worker" = only on the filter's worker (normally inside one
 * of its hooks; see SLUICE_ERR_WRONG_THREAD for what is detected),
 * "main" = only during the config hooks, "any" = thread-safe.
 * Calls from module-created threads cost ~12 us each (the Go runtime binds
 * a thread); only commit avoids that (it never enters the host runtime). */
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
    /* main, during config_new only: define a metric named name (scoped by
     * the host as "<filter_name>.<name>"); *id_out receives its id.
     * Defining the same name and kind again returns the same id. */
    sluice_result (*define_counter)(sluice_config_handle config, const uint8_t* name, size_t name_len, uint32_t* id_out);
    sluice_result (*define_gauge)(sluice_config_handle config, const uint8_t* name, size_t name_len, uint32_t* id_out);
    sluice_result (*define_histogram)(sluice_config_handle config, const uint8_t* name, size_t name_len, uint32_t* id_out);
    /* any: update a metric. handle is the config handle or a filter handle
     * of that config (ids are per config). */
    sluice_result (*counter_add)(uint64_t handle, uint32_t id, uint64_t delta);
    sluice_result (*gauge_set)(uint64_t handle, uint32_t id, int64_t value);
    sluice_result (*gauge_add)(uint64_t handle, uint32_t id, int64_t delta);
    sluice_result (*histogram_record)(uint64_t handle, uint32_t id, uint64_t value);

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
    /* Append data at the end (copied). UNAVAILABLE for a buffered body
     * that does not exist (nothing was buffered yet). */
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

    /* worker: a scheduler for this filter (NULL on failure: stale handle,
     * wrong thread, stream already ended, or the module lacks
     * sluice_on_http_filter_scheduled).
     * The module must delete it exactly once. */
    sluice_scheduler* (*scheduler_new)(sluice_filter_handle filter);
    /* any: same as the inline sluice_scheduler_delete (prefer that one: it
     * does not enter the host runtime). */
    void (*scheduler_delete)(sluice_scheduler* scheduler);

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
} sluice_host_api;

/* True when the host's table contains `field` (a minor-version addition). */
#define SLUICE_HOST_API_HAS(api, field) \
    ((api)->size >= offsetof(sluice_host_api, field) + sizeof((api)->field))

/* ------------------------------------------------------------------------ */
/* Hooks the module exports                                                 */
/* ------------------------------------------------------------------------ */

/* REQUIRED. Any thread, before anything else: return SLUICE_ABI_VERSION. */
uint32_t sluice_module_abi_version(void);

/* REQUIRED. main, exactly once per process per module file, after the ABI
 * check. Keep `api` (valid forever). Return false to fail the load
 * ("program init failed"). */
bool sluice_on_program_init(const sluice_host_api* api);

/* REQUIRED. main. Create the module's object for one configured filter.
 * name/config are host views valid during the call (config is the JSON the
 * operator wrote under `config`). Return NULL to reject the config; call
 * api->config_reject first to say why. Metrics are defined here. */
void* sluice_on_http_filter_config_new(sluice_config_handle config, const uint8_t* name_ptr, size_t name_len,
                                       const uint8_t* config_ptr, size_t config_len);

/* REQUIRED. main, once, after every stream using the config has been
 * destroyed. The config handle is invalid from now on. */
void sluice_on_http_filter_config_destroy(void* config);

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
 * (metrics still accept the handle); the handle is stale afterwards.
 * Schedulers of the filter stay valid until the module deletes them. */
void sluice_on_http_filter_destroy(void* filter_module);
/* OPTIONAL (needed to use schedulers). worker that owns the filter, in
 * commit order per scheduler, for each commit made while the stream was
 * alive; commits delivered after the stream ended or the filter was
 * destroyed are dropped (and counted). */
void sluice_on_http_filter_scheduled(void* filter_module, sluice_filter_handle filter, uint64_t event_id);

/* ------------------------------------------------------------------------ */
/* Scheduler commit and delete: inline, never enter the host runtime         */
/* ------------------------------------------------------------------------ */

/* any thread. Ask for sluice_on_http_filter_scheduled(filter, event_id) on
 * the filter's worker. Lock-free: one slot claimed in the worker's ring, then
 * an eventfd write only when the worker is not already being woken (so
 * bursts cost one syscall). Never raises a signal (eventfd writes cannot
 * SIGPIPE) and preserves errno.
 * Returns false when the scheduler was deleted, the host is shutting down,
 * or the ring is full (the host counts that as
 * commits_rejected_ring_full: a commit storm is contained, the worker keeps
 * serving; the module may retry later). Returns true when queued; the event
 * is still dropped (and counted) if the stream is destroyed before delivery.
 * The module must stop committing before the host shuts down. */
static inline bool sluice_scheduler_commit(sluice_scheduler* s, uint64_t event_id) {
    if (s == NULL || __atomic_load_n(&s->deleted, __ATOMIC_ACQUIRE) != 0) {
        return false;
    }
    sluice_sched_ring* r = s->ring;
    if (__atomic_load_n(&r->closed, __ATOMIC_ACQUIRE) != 0) {
        return false;
    }
    uint64_t pos = __atomic_load_n(&r->enqueue_pos, __ATOMIC_RELAXED);
    sluice_sched_slot* slot;
    for (;;) {
        slot = &r->slots[pos & r->mask];
        uint64_t seq = __atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE);
        int64_t dif = (int64_t)(seq - pos);
        if (dif == 0) {
            if (__atomic_compare_exchange_n(&r->enqueue_pos, &pos, pos + 1, true, __ATOMIC_RELAXED,
                                            __ATOMIC_RELAXED)) {
                break;
            }
        } else if (dif < 0) {
            __atomic_fetch_add(&r->rejected_full, 1, __ATOMIC_RELAXED);
            return false;
        } else {
            pos = __atomic_load_n(&r->enqueue_pos, __ATOMIC_RELAXED);
        }
    }
    slot->filter = s->filter;
    slot->event_id = event_id;
    slot->reserved = 0;
    __atomic_store_n(&slot->seq, pos + 1, __ATOMIC_RELEASE);
    /* The worker stores wake_pending = 0 (seq_cst) before it drains, so
     * either it sees our slot in that drain or we see 0 here and wake it. */
    if (__atomic_exchange_n(&r->wake_pending, 1, __ATOMIC_SEQ_CST) == 0) {
        int saved_errno = errno;
        uint64_t one = 1;
        while (write(r->wake_fd, &one, sizeof one) < 0 && errno == EINTR) {
        }
        __atomic_fetch_add(&r->wakes, 1, __ATOMIC_RELAXED);
        errno = saved_errno;
    }
    return true;
}

/* any thread, exactly once per scheduler. Later commits through it return
 * false; the host reclaims the memory once the stream is also gone. */
static inline void sluice_scheduler_delete(sluice_scheduler* s) {
    if (s != NULL) {
        __atomic_store_n(&s->deleted, 1, __ATOMIC_RELEASE);
    }
}

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_ABI_H */
