/*
 * sluice_sdk.h — header-only C helpers over abi/sluice_abi.h.
 *
 * Put SLUICE_DECLARE_MODULE(init_fn) in exactly one .c file of the module;
 * it defines sluice_module_abi_version, sluice_on_program_init and the
 * global `sluice_api` the helpers below use. Every helper is a thin
 * static inline wrapper: the ABI's rules (threads, buffer lifetimes) apply
 * unchanged, and are repeated here only where a helper adds something.
 */
#ifndef SLUICE_SDK_H
#define SLUICE_SDK_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The host table, set by SLUICE_DECLARE_MODULE's program init. */
extern const sluice_host_api* sluice_api;

/* Defines the two program-level symbols. init_fn is `bool fn(void)` run
 * after the table is stored, or NULL for none. */
#define SLUICE_DECLARE_MODULE(init_fn)                                          \
    const sluice_host_api* sluice_api = NULL;                                   \
    uint32_t sluice_module_abi_version(void) { return SLUICE_ABI_VERSION; }     \
    bool sluice_on_program_init(const sluice_host_api* api) {                   \
        bool (*sluice_init_fn_)(void) = (init_fn);                              \
        sluice_api = api;                                                       \
        return sluice_init_fn_ == NULL || sluice_init_fn_();                    \
    }

/* A view of a NUL-terminated C string (not copied). */
static inline sluice_buffer sluice_str(const char* s) {
    sluice_buffer b;
    b.ptr = (const uint8_t*)s;
    b.len = s == NULL ? 0 : strlen(s);
    return b;
}

/* True when the view equals the C string s. */
static inline bool sluice_buffer_eq(sluice_buffer b, const char* s) {
    size_t n = strlen(s);
    return b.len == n && (n == 0 || memcmp(b.ptr, s, n) == 0);
}

/* A malloc'd NUL-terminated copy of a view (the view dies with the hook;
 * the copy can travel to another thread). Free it with free(). */
static inline char* sluice_buffer_strdup(sluice_buffer b) {
    char* s = (char*)malloc(b.len + 1);
    if (s != NULL) {
        if (b.len > 0) memcpy(s, b.ptr, b.len);
        s[b.len] = '\0';
    }
    return s;
}

/* ---- logging (any thread) ---- */

static inline void sluice_log(sluice_log_level level, const char* msg) {
    if (sluice_api != NULL) sluice_api->log(level, (const uint8_t*)msg, strlen(msg));
}

/* printf-style; formats into a 1 KiB stack buffer (longer lines are cut). */
static inline void sluice_logf_(sluice_log_level level, const char* fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    sluice_api->log(level, (const uint8_t*)line, len);
}

/* worker: a log line with the stream's conn_id and stream_id (and the
 * filter's name) as fields. */
static inline sluice_result sluice_log_filter(sluice_filter_handle f, sluice_log_level level, const char* msg) {
    return sluice_api->log_filter(f, level, (const uint8_t*)msg, strlen(msg));
}

/* Formats only when the level is enabled. */
#define SLUICE_LOGF(level, ...)                                                  \
    do {                                                                         \
        if (sluice_api != NULL && sluice_api->log_enabled(level)) sluice_logf_((level), __VA_ARGS__); \
    } while (0)
#define SLUICE_DEBUG(...) SLUICE_LOGF(SLUICE_LOG_DEBUG, __VA_ARGS__)
#define SLUICE_INFO(...) SLUICE_LOGF(SLUICE_LOG_INFO, __VA_ARGS__)
#define SLUICE_WARN(...) SLUICE_LOGF(SLUICE_LOG_WARN, __VA_ARGS__)
#define SLUICE_ERROR(...) SLUICE_LOGF(SLUICE_LOG_ERROR, __VA_ARGS__)

/* ---- config ---- */

static inline void sluice_config_reject(sluice_config_handle cfg, const char* reason) {
    sluice_api->config_reject(cfg, (const uint8_t*)reason, strlen(reason));
}

/* ---- headers (worker) ---- */

/* First value of a header; false when absent or on error. *out is a host
 * view valid until the hook returns. */
static inline bool sluice_header_get(sluice_filter_handle f, sluice_header_kind kind, const char* name,
                                     sluice_buffer* out) {
    return sluice_api->header_get(f, kind, (const uint8_t*)name, strlen(name), 0, out, NULL) == SLUICE_OK;
}

static inline bool sluice_request_header(sluice_filter_handle f, const char* name, sluice_buffer* out) {
    return sluice_header_get(f, SLUICE_REQUEST_HEADERS, name, out);
}

static inline bool sluice_response_header(sluice_filter_handle f, const char* name, sluice_buffer* out) {
    return sluice_header_get(f, SLUICE_RESPONSE_HEADERS, name, out);
}

static inline sluice_result sluice_header_set(sluice_filter_handle f, sluice_header_kind kind, const char* name,
                                              const char* value) {
    return sluice_api->header_set(f, kind, (const uint8_t*)name, strlen(name), (const uint8_t*)value, strlen(value));
}

static inline sluice_result sluice_header_add(sluice_filter_handle f, sluice_header_kind kind, const char* name,
                                              const char* value) {
    return sluice_api->header_add(f, kind, (const uint8_t*)name, strlen(name), (const uint8_t*)value, strlen(value));
}

static inline sluice_result sluice_header_remove(sluice_filter_handle f, sluice_header_kind kind, const char* name) {
    return sluice_api->header_remove(f, kind, (const uint8_t*)name, strlen(name), NULL);
}

/* ---- body (worker) ---- */

/* Appends the whole body of `kind` to *buf (grown with realloc; *len and
 * *cap track it; start from {NULL,0,0}). Returns the call's result. */
static inline sluice_result sluice_body_append_to(sluice_filter_handle f, sluice_body_kind kind, uint8_t** buf,
                                                  size_t* len, size_t* cap) {
    sluice_buffer chunks[16];
    size_t count = 0;
    sluice_result r = sluice_api->body_chunks(f, kind, chunks, 16, &count);
    sluice_buffer* all = chunks;
    if (r == SLUICE_ERR_BUFFER_TOO_SMALL) {
        all = (sluice_buffer*)malloc(count * sizeof *all);
        if (all == NULL) return SLUICE_ERR_LIMIT;
        r = sluice_api->body_chunks(f, kind, all, count, &count);
    }
    for (size_t i = 0; r == SLUICE_OK && i < count; i++) {
        if (*len + all[i].len > *cap) {
            size_t ncap = *cap * 2 > *len + all[i].len ? *cap * 2 : *len + all[i].len;
            uint8_t* nb = (uint8_t*)realloc(*buf, ncap);
            if (nb == NULL) {
                r = SLUICE_ERR_LIMIT;
                break;
            }
            *buf = nb;
            *cap = ncap;
        }
        memcpy(*buf + *len, all[i].ptr, all[i].len);
        *len += all[i].len;
    }
    if (all != chunks) free(all);
    return r;
}

/* Replaces the whole body of `kind` with data. */
static inline sluice_result sluice_body_replace(sluice_filter_handle f, sluice_body_kind kind, const uint8_t* data,
                                                size_t len) {
    size_t size = 0;
    sluice_result r = sluice_api->body_size(f, kind, &size);
    if (r != SLUICE_OK) return r;
    if ((r = sluice_api->body_drain(f, kind, size)) != SLUICE_OK) return r;
    return len == 0 ? SLUICE_OK : sluice_api->body_append(f, kind, data, len);
}

/* ---- local replies (worker) ---- */

/* A header written as a literal pair of C strings. */
typedef struct sluice_kv {
    const char* name;
    const char* value;
} sluice_kv;

/* A NULL-terminated header list literal: SLUICE_KV({"cached", "yes"}). */
#define SLUICE_KV(...) ((const sluice_kv[]){__VA_ARGS__, {NULL, NULL}})

/* send_response with C strings: kv is a SLUICE_KV list or NULL, body and
 * details may be NULL. At most 32 headers. */
static inline sluice_result sluice_send_response(sluice_filter_handle f, uint32_t status, const sluice_kv* kv,
                                                 const char* body, const char* details) {
    sluice_header hs[32];
    size_t n = 0;
    for (; kv != NULL && kv[n].name != NULL; n++) {
        if (n == 32) return SLUICE_ERR_LIMIT;
        hs[n].name = sluice_str(kv[n].name);
        hs[n].value = sluice_str(kv[n].value);
    }
    sluice_buffer b = sluice_str(body), d = sluice_str(details);
    return sluice_api->send_response(f, status, n > 0 ? hs : NULL, n, b.ptr, b.len, d.ptr, d.len);
}

/* ---- gRPC replies (worker) ---- */

/* gRPC status codes (the same numbers in every gRPC implementation). */
typedef enum sluice_grpc_status {
    SLUICE_GRPC_OK = 0,
    SLUICE_GRPC_CANCELLED = 1,
    SLUICE_GRPC_UNKNOWN = 2,
    SLUICE_GRPC_INVALID_ARGUMENT = 3,
    SLUICE_GRPC_DEADLINE_EXCEEDED = 4,
    SLUICE_GRPC_NOT_FOUND = 5,
    SLUICE_GRPC_ALREADY_EXISTS = 6,
    SLUICE_GRPC_PERMISSION_DENIED = 7,
    SLUICE_GRPC_RESOURCE_EXHAUSTED = 8,
    SLUICE_GRPC_FAILED_PRECONDITION = 9,
    SLUICE_GRPC_ABORTED = 10,
    SLUICE_GRPC_OUT_OF_RANGE = 11,
    SLUICE_GRPC_UNIMPLEMENTED = 12,
    SLUICE_GRPC_INTERNAL = 13,
    SLUICE_GRPC_UNAVAILABLE = 14,
    SLUICE_GRPC_DATA_LOSS = 15,
    SLUICE_GRPC_UNAUTHENTICATED = 16,
} sluice_grpc_status;

/* True when the request is gRPC: content-type application/grpc, alone or
 * with a "+codec" suffix or parameters (not gRPC-Web). */
static inline bool sluice_request_is_grpc(sluice_filter_handle f) {
    sluice_buffer ct;
    static const char grpc[] = "application/grpc";
    const size_t n = sizeof grpc - 1;
    if (!sluice_request_header(f, "content-type", &ct) || ct.len < n) return false;
    for (size_t i = 0; i < n; i++) {
        char c = (char)ct.ptr[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != grpc[i]) return false;
    }
    return ct.len == n || ct.ptr[n] == '+' || ct.ptr[n] == ';';
}

/* Answers a gRPC call with a gRPC status: a trailers-only response (HTTP
 * 200, content-type application/grpc, grpc-status and grpc-message in the
 * one HEADERS block that ends the stream), built on send_response.
 * message may be NULL; it is percent-encoded here as gRPC requires.
 * details goes to the access log (NULL: none). The host answers a gRPC
 * request the same way when a module calls plain send_response with an
 * error status (403 becomes PERMISSION_DENIED, ...): this helper is for
 * choosing the exact gRPC code and message. */
static inline sluice_result sluice_send_grpc_status(sluice_filter_handle f, sluice_grpc_status code,
                                                    const char* message, const char* details) {
    static const char hex[] = "0123456789ABCDEF";
    char num[12];
    snprintf(num, sizeof num, "%u", (unsigned)code);
    size_t len = message == NULL ? 0 : strlen(message);
    char stack[512];
    char* enc = len * 3 < sizeof stack ? stack : (char*)malloc(len * 3 + 1);
    if (enc == NULL) return SLUICE_ERR_LIMIT;
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)message[i];
        if (c < 0x20 || c > 0x7e || c == '%') {
            enc[k++] = '%';
            enc[k++] = hex[c >> 4];
            enc[k++] = hex[c & 0xf];
        } else {
            enc[k++] = (char)c;
        }
    }
    enc[k] = '\0';
    sluice_result r = len > 0 ? sluice_send_response(f, 200,
                                                     SLUICE_KV({"content-type", "application/grpc"},
                                                               {"grpc-status", num}, {"grpc-message", enc}),
                                                     NULL, details)
                              : sluice_send_response(f, 200,
                                                     SLUICE_KV({"content-type", "application/grpc"},
                                                               {"grpc-status", num}),
                                                     NULL, details);
    if (enc != stack) free(enc);
    return r;
}

/* ---- scheduler ---- */

/* worker, inside a hook: a scheduler for this filter (SLUICE_HANDLE_IS_NULL
 * on failure). */
static inline sluice_scheduler_handle sluice_scheduler_new(sluice_filter_handle f) {
    return sluice_api->scheduler_new(f);
}

/* any thread: queue on_http_filter_scheduled(event_id) on the filter's
 * worker. false = not queued (deleted or stale scheduler, host shutting
 * down, or 64 events of this scheduler already waiting: commit again after
 * on_scheduled ran, or coalesce). Never enters the host runtime. */
static inline bool sluice_scheduler_commit(sluice_scheduler_handle s, uint64_t event_id) {
    return sluice_api->scheduler_commit(s, event_id);
}

/* any thread, after the last commit: later commits return false. */
static inline void sluice_scheduler_delete(sluice_scheduler_handle s) { sluice_api->scheduler_delete(s); }

/* ---- metrics ---- */

static inline uint32_t sluice_define_counter(sluice_config_handle cfg, const char* name) {
    uint32_t id = UINT32_MAX;
    sluice_api->define_counter(cfg, (const uint8_t*)name, strlen(name), &id);
    return id;
}
static inline uint32_t sluice_define_gauge(sluice_config_handle cfg, const char* name) {
    uint32_t id = UINT32_MAX;
    sluice_api->define_gauge(cfg, (const uint8_t*)name, strlen(name), &id);
    return id;
}
static inline uint32_t sluice_define_histogram(sluice_config_handle cfg, const char* name) {
    uint32_t id = UINT32_MAX;
    sluice_api->define_histogram(cfg, (const uint8_t*)name, strlen(name), &id);
    return id;
}

/* Updates of metrics without labels (any thread). */
static inline sluice_result sluice_counter_add(sluice_config_handle cfg, uint32_t id, uint64_t delta) {
    return sluice_api->counter_add(cfg, id, NULL, 0, delta);
}
static inline sluice_result sluice_gauge_set(sluice_config_handle cfg, uint32_t id, int64_t value) {
    return sluice_api->gauge_set(cfg, id, NULL, 0, value);
}
static inline sluice_result sluice_gauge_add(sluice_config_handle cfg, uint32_t id, int64_t delta) {
    return sluice_api->gauge_add(cfg, id, NULL, 0, delta);
}
static inline sluice_result sluice_histogram_record(sluice_config_handle cfg, uint32_t id, uint64_t value) {
    return sluice_api->histogram_record(cfg, id, NULL, 0, value);
}

/* Labeled metrics (define_metric): labels are C strings, buckets ascending
 * upper bounds (NULL, 0 for the default; histograms only). UINT32_MAX on
 * failure (the host then refuses the config, naming the problem). */
static inline uint32_t sluice_define_metric(sluice_config_handle cfg, sluice_metric_kind kind, const char* name,
                                            const char* const* labels, size_t n_labels, const uint64_t* buckets,
                                            size_t n_buckets) {
    sluice_buffer names[8];
    uint32_t id = UINT32_MAX;
    if (n_labels > 8) return id;
    for (size_t i = 0; i < n_labels; i++) names[i] = sluice_str(labels[i]);
    sluice_metric_def def = {sizeof(sluice_metric_def), kind, sluice_str(name), n_labels > 0 ? names : NULL,
                             n_labels, buckets, n_buckets};
    sluice_api->define_metric(cfg, &def, &id);
    return id;
}

/* Updates of labeled metrics: values[0..n) are C strings in label order. */
#define SLUICE_LABELS_(values, n, bufs)                                      \
    sluice_buffer bufs[8];                                                   \
    if ((n) > 8) return SLUICE_ERR_INVALID_ARGUMENT;                         \
    for (size_t i_ = 0; i_ < (n); i_++) bufs[i_] = sluice_str((values)[i_])

static inline sluice_result sluice_counter_add_labels(sluice_config_handle cfg, uint32_t id,
                                                      const char* const* values, size_t n, uint64_t delta) {
    SLUICE_LABELS_(values, n, b);
    return sluice_api->counter_add(cfg, id, b, n, delta);
}
static inline sluice_result sluice_gauge_set_labels(sluice_config_handle cfg, uint32_t id, const char* const* values,
                                                    size_t n, int64_t value) {
    SLUICE_LABELS_(values, n, b);
    return sluice_api->gauge_set(cfg, id, b, n, value);
}
static inline sluice_result sluice_gauge_add_labels(sluice_config_handle cfg, uint32_t id, const char* const* values,
                                                    size_t n, int64_t delta) {
    SLUICE_LABELS_(values, n, b);
    return sluice_api->gauge_add(cfg, id, b, n, delta);
}
static inline sluice_result sluice_histogram_record_labels(sluice_config_handle cfg, uint32_t id,
                                                           const char* const* values, size_t n, uint64_t value) {
    SLUICE_LABELS_(values, n, b);
    return sluice_api->histogram_record(cfg, id, b, n, value);
}

/* any: count a fatal error of the module's own (module.<entry>.panics). */
static inline sluice_result sluice_report_panic(sluice_config_handle cfg, const char* msg) {
    return sluice_api->report_panic(cfg, (const uint8_t*)msg, strlen(msg));
}

/* ---- process (any thread) ---- */

static inline uint32_t sluice_concurrency(void) { return sluice_api->concurrency(); }
static inline bool sluice_log_enabled(sluice_log_level level) { return sluice_api->log_enabled(level); }

/* ---- stream control and information (worker) ---- */

static inline sluice_result sluice_continue_decoding(sluice_filter_handle f) { return sluice_api->continue_decoding(f); }
static inline sluice_result sluice_continue_encoding(sluice_filter_handle f) { return sluice_api->continue_encoding(f); }
static inline sluice_result sluice_clear_route_cache(sluice_filter_handle f) { return sluice_api->clear_route_cache(f); }

static inline sluice_result sluice_body_size(sluice_filter_handle f, sluice_body_kind kind, size_t* size) {
    return sluice_api->body_size(f, kind, size);
}

/* Pass data (a C string, or any bytes with _n) on to the filters after
 * this one; see inject_data in sluice_abi.h. */
static inline sluice_result sluice_inject_data_n(sluice_filter_handle f, sluice_direction dir, const uint8_t* data,
                                                 size_t len, bool end_of_stream) {
    return sluice_api->inject_data(f, dir, data, len, end_of_stream);
}
static inline sluice_result sluice_inject_data(sluice_filter_handle f, sluice_direction dir, const char* data,
                                               bool end_of_stream) {
    return sluice_api->inject_data(f, dir, (const uint8_t*)data, data == NULL ? 0 : strlen(data), end_of_stream);
}

static inline bool sluice_attribute_string(sluice_filter_handle f, sluice_attribute_id id, sluice_buffer* out) {
    return sluice_api->get_attribute_string(f, id, out) == SLUICE_OK;
}
static inline bool sluice_attribute_int(sluice_filter_handle f, sluice_attribute_id id, int64_t* out) {
    return sluice_api->get_attribute_int(f, id, out) == SLUICE_OK;
}

static inline sluice_result sluice_metadata_set_string(sluice_filter_handle f, const char* ns, const char* key,
                                                       const char* value) {
    return sluice_api->metadata_set_string(f, (const uint8_t*)ns, strlen(ns), (const uint8_t*)key, strlen(key),
                                           (const uint8_t*)value, strlen(value));
}
static inline sluice_result sluice_metadata_set_number(sluice_filter_handle f, const char* ns, const char* key,
                                                       double value) {
    return sluice_api->metadata_set_number(f, (const uint8_t*)ns, strlen(ns), (const uint8_t*)key, strlen(key), value);
}
static inline bool sluice_metadata_get_string(sluice_filter_handle f, const char* ns, const char* key,
                                              sluice_buffer* out) {
    return sluice_api->metadata_get_string(f, (const uint8_t*)ns, strlen(ns), (const uint8_t*)key, strlen(key), out) ==
           SLUICE_OK;
}
static inline bool sluice_metadata_get_number(sluice_filter_handle f, const char* ns, const char* key, double* out) {
    return sluice_api->metadata_get_number(f, (const uint8_t*)ns, strlen(ns), (const uint8_t*)key, strlen(key), out) ==
           SLUICE_OK;
}

/* The per-route config object of the selected route, or NULL. */
static inline void* sluice_per_route_config(sluice_filter_handle f) {
    void* p = NULL;
    return sluice_api->per_route_config(f, &p) == SLUICE_OK ? p : NULL;
}

/* ---- timers (worker) ---- */

static inline sluice_timer_handle sluice_timer_new(sluice_filter_handle f) { return sluice_api->timer_new(f); }
static inline sluice_result sluice_timer_enable(sluice_timer_handle t, uint64_t delay_ms) {
    return sluice_api->timer_enable(t, delay_ms);
}
static inline sluice_result sluice_timer_disable(sluice_timer_handle t) { return sluice_api->timer_disable(t); }
static inline sluice_result sluice_timer_delete(sluice_timer_handle t) { return sluice_api->timer_delete(t); }

/* ---- config-level scheduler (main, inside a config hook) ---- */

static inline sluice_scheduler_handle sluice_config_scheduler_new(sluice_config_handle cfg) {
    return sluice_api->config_scheduler_new(cfg);
}

/* ---- network (L4) filters, ABI 2.1 (worker) ---- */

/* The whole READ (or WRITE) buffer as one view (the buffers are
 * contiguous); an empty view when it is empty or on error. A host view,
 * valid until the hook returns. */
static inline sluice_buffer sluice_network_buffer(sluice_network_filter_handle f, sluice_network_buffer_kind kind) {
    sluice_buffer b = {NULL, 0};
    size_t n = 0;
    if (sluice_api->network_buffer_chunks(f, kind, &b, 1, &n) != SLUICE_OK || n == 0) {
        b.ptr = NULL;
        b.len = 0;
    }
    return b;
}
static inline sluice_buffer sluice_network_read_buffer(sluice_network_filter_handle f) {
    return sluice_network_buffer(f, SLUICE_NETWORK_READ_BUFFER);
}
static inline sluice_buffer sluice_network_write_buffer(sluice_network_filter_handle f) {
    return sluice_network_buffer(f, SLUICE_NETWORK_WRITE_BUFFER);
}
static inline sluice_result sluice_network_drain(sluice_network_filter_handle f, sluice_network_buffer_kind kind,
                                                 size_t n) {
    return sluice_api->network_buffer_drain(f, kind, n);
}
static inline sluice_result sluice_network_append(sluice_network_filter_handle f, sluice_network_buffer_kind kind,
                                                  const uint8_t* data, size_t len) {
    return sluice_api->network_buffer_append(f, kind, data, len);
}
static inline sluice_result sluice_network_prepend(sluice_network_filter_handle f, sluice_network_buffer_kind kind,
                                                   const uint8_t* data, size_t len) {
    return sluice_api->network_buffer_prepend(f, kind, data, len);
}
static inline sluice_result sluice_network_continue_reading(sluice_network_filter_handle f) {
    return sluice_api->network_continue_reading(f);
}
static inline sluice_result sluice_network_inject_read(sluice_network_filter_handle f, const uint8_t* data,
                                                       size_t len, bool end_stream) {
    return sluice_api->network_inject_read_data(f, data, len, end_stream);
}
static inline sluice_result sluice_network_inject_write(sluice_network_filter_handle f, const uint8_t* data,
                                                        size_t len, bool end_stream) {
    return sluice_api->network_inject_write_data(f, data, len, end_stream);
}
/* Send a NUL-terminated string to the client (through the write filters). */
static inline sluice_result sluice_network_write_str(sluice_network_filter_handle f, const char* s, bool end_stream) {
    return sluice_api->network_write(f, (const uint8_t*)s, s == NULL ? 0 : strlen(s), end_stream);
}
static inline sluice_result sluice_network_close(sluice_network_filter_handle f, sluice_close_type how) {
    return sluice_api->network_close(f, how);
}
static inline sluice_result sluice_network_read_disable(sluice_network_filter_handle f, bool disable) {
    return sluice_api->network_read_disable(f, disable);
}
static inline bool sluice_network_attribute_string(sluice_network_filter_handle f, sluice_attribute_id id,
                                                   sluice_buffer* out) {
    return sluice_api->network_get_attribute_string(f, id, out) == SLUICE_OK;
}
static inline bool sluice_network_attribute_int(sluice_network_filter_handle f, sluice_attribute_id id,
                                                int64_t* out) {
    return sluice_api->network_get_attribute_int(f, id, out) == SLUICE_OK;
}
static inline sluice_result sluice_network_metadata_set_string(sluice_network_filter_handle f, const char* ns,
                                                               const char* key, const char* value) {
    return sluice_api->network_metadata_set_string(f, (const uint8_t*)ns, strlen(ns), (const uint8_t*)key,
                                                   strlen(key), (const uint8_t*)value, strlen(value));
}
static inline sluice_result sluice_network_metadata_set_number(sluice_network_filter_handle f, const char* ns,
                                                               const char* key, double value) {
    return sluice_api->network_metadata_set_number(f, (const uint8_t*)ns, strlen(ns), (const uint8_t*)key,
                                                   strlen(key), value);
}
static inline bool sluice_network_metadata_get_string(sluice_network_filter_handle f, const char* ns,
                                                      const char* key, sluice_buffer* out) {
    return sluice_api->network_metadata_get_string(f, (const uint8_t*)ns, strlen(ns), (const uint8_t*)key,
                                                   strlen(key), out) == SLUICE_OK;
}
static inline bool sluice_network_metadata_get_number(sluice_network_filter_handle f, const char* ns,
                                                      const char* key, double* out) {
    return sluice_api->network_metadata_get_number(f, (const uint8_t*)ns, strlen(ns), (const uint8_t*)key,
                                                   strlen(key), out) == SLUICE_OK;
}
static inline sluice_scheduler_handle sluice_network_scheduler_new(sluice_network_filter_handle f) {
    return sluice_api->network_scheduler_new(f);
}
static inline sluice_timer_handle sluice_network_timer_new(sluice_network_filter_handle f) {
    return sluice_api->network_timer_new(f);
}
static inline sluice_result sluice_network_log(sluice_network_filter_handle f, sluice_log_level level,
                                               const char* msg) {
    return sluice_api->network_log(f, level, (const uint8_t*)msg, strlen(msg));
}

/* HTTP filters: metadata network filters set on the stream's connection. */
static inline bool sluice_connection_metadata_get_string(sluice_filter_handle f, const char* ns, const char* key,
                                                         sluice_buffer* out) {
    return sluice_api->connection_metadata_get_string(f, (const uint8_t*)ns, strlen(ns), (const uint8_t*)key,
                                                      strlen(key), out) == SLUICE_OK;
}
static inline bool sluice_connection_metadata_get_number(sluice_filter_handle f, const char* ns, const char* key,
                                                         double* out) {
    return sluice_api->connection_metadata_get_number(f, (const uint8_t*)ns, strlen(ns), (const uint8_t*)key,
                                                      strlen(key), out) == SLUICE_OK;
}

/* ---- HTTP callouts (ABI 2.1) ---- */

/* True when the host offers HTTP callouts (ABI 2.1 or later): check once,
 * e.g. in config_new, and reject the config when they are needed. */
static inline bool sluice_has_callouts(void) {
    return sluice_api != NULL && SLUICE_HOST_API_HAS(sluice_api, http_callout_cancel);
}

/* A callout request with room for 32 headers. Header and body views are
 * only read by the send call: they must stay valid until then (host views
 * from the running hook qualify). */
#define SLUICE_CALLOUT_MAX_HEADERS 32
typedef struct sluice_callout {
    sluice_callout_request req;
    sluice_header headers[SLUICE_CALLOUT_MAX_HEADERS];
    bool overflow; /* an add did not fit: send refuses */
} sluice_callout;

/* Start a request of `method` for `path` to `cluster` (C strings, which
 * must stay valid until the send), timeout 0 = 5 s, response limit 1 MiB. */
static inline void sluice_callout_init(sluice_callout* c, const char* cluster, const char* method, const char* path) {
    memset(c, 0, sizeof *c);
    c->req.size = sizeof c->req;
    c->req.cluster = sluice_str(cluster);
    c->req.headers = c->headers;
    c->headers[0].name = sluice_str(":method");
    c->headers[0].value = sluice_str(method);
    c->headers[1].name = sluice_str(":path");
    c->headers[1].value = sluice_str(path);
    c->req.n_headers = 2;
}

/* Add a header given as views (e.g. a request header's value). */
static inline bool sluice_callout_add_header_buf(sluice_callout* c, sluice_buffer name, sluice_buffer value) {
    if (c->req.n_headers == SLUICE_CALLOUT_MAX_HEADERS) {
        c->overflow = true;
        return false;
    }
    c->headers[c->req.n_headers].name = name;
    c->headers[c->req.n_headers].value = value;
    c->req.n_headers++;
    return true;
}

static inline bool sluice_callout_add_header(sluice_callout* c, const char* name, const char* value) {
    return sluice_callout_add_header_buf(c, sluice_str(name), sluice_str(value));
}

static inline void sluice_callout_set_body(sluice_callout* c, const uint8_t* body, size_t len) {
    c->req.body.ptr = body;
    c->req.body.len = len;
}

static inline void sluice_callout_set_timeout_ms(sluice_callout* c, uint32_t ms) { c->req.timeout_ms = ms; }
static inline void sluice_callout_set_max_response(sluice_callout* c, uint64_t bytes) {
    c->req.max_response_bytes = bytes;
}

/* worker, inside a hook of f: send it; on OK *out names the callout and
 * sluice_on_http_filter_callout_done follows (see http_callout in
 * sluice_abi.h). SLUICE_ERR_UNAVAILABLE on a host without callouts,
 * SLUICE_ERR_LIMIT when more than SLUICE_CALLOUT_MAX_HEADERS were added. */
static inline sluice_result sluice_callout_send(sluice_filter_handle f, const sluice_callout* c,
                                                sluice_callout_handle* out) {
    if (!sluice_has_callouts()) return SLUICE_ERR_UNAVAILABLE;
    if (c->overflow) return SLUICE_ERR_LIMIT;
    return sluice_api->http_callout(f, &c->req, out);
}

/* main, inside a config hook: the same for a config callout
 * (sluice_on_http_filter_config_callout_done follows on main). */
static inline sluice_result sluice_config_callout_send(sluice_config_handle cfg, const sluice_callout* c,
                                                       sluice_callout_handle* out) {
    if (!sluice_has_callouts()) return SLUICE_ERR_UNAVAILABLE;
    if (c->overflow) return SLUICE_ERR_LIMIT;
    return sluice_api->config_http_callout(cfg, &c->req, out);
}

/* Abandon a callout (on the thread that started it): no done hook. */
static inline sluice_result sluice_callout_cancel(sluice_callout_handle h) {
    if (!sluice_has_callouts()) return SLUICE_ERR_UNAVAILABLE;
    return sluice_api->http_callout_cancel(h);
}

/* First value of a response header of a finished callout (any case). */
static inline bool sluice_callout_header(const sluice_callout_result* r, const char* name, sluice_buffer* out) {
    size_t n = strlen(name);
    for (size_t i = 0; i < r->n_headers; i++) {
        const sluice_buffer* k = &r->headers[i].name;
        if (k->len != n) continue;
        size_t j = 0;
        for (; j < n; j++) {
            char a = (char)k->ptr[j], b = name[j];
            if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
            if (b >= 'A' && b <= 'Z') b = (char)(b - 'A' + 'a');
            if (a != b) break;
        }
        if (j == n) {
            *out = r->headers[i].value;
            return true;
        }
    }
    return false;
}

/* The outcome as the reason label sluice uses in its stats. */
static inline const char* sluice_callout_outcome_name(sluice_callout_outcome o) {
    switch (o) {
    case SLUICE_CALLOUT_OK: return "ok";
    case SLUICE_CALLOUT_NO_HEALTHY_UPSTREAM: return "no_healthy_upstream";
    case SLUICE_CALLOUT_OVERFLOW: return "overflow";
    case SLUICE_CALLOUT_CONNECT_FAILURE: return "connect_failure";
    case SLUICE_CALLOUT_RESET: return "reset";
    case SLUICE_CALLOUT_TIMEOUT: return "timeout";
    case SLUICE_CALLOUT_RESPONSE_TOO_LARGE: return "response_too_large";
    case SLUICE_CALLOUT_CLUSTER_UNKNOWN: return "cluster_unknown";
    }
    return "unknown";
}

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_SDK_H */
