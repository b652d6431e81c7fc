/* ext_authz: asks an authorization service before letting a request through,
 * in the spirit of Envoy's ext_authz filter (HTTP service). For every request
 * it sends a check request to a cluster with an HTTP callout (ABI 2.1):
 *
 *   :method   the request's method
 *   :path     path_prefix followed by the request's :path
 *   headers   the request headers named in allowed_headers (no body)
 *
 * and holds the request (headers and body) until the answer decides:
 *
 *   200       the request goes on, with the auth response's headers named in
 *             allowed_upstream_headers set on it (e.g. x-user-id);
 *   401, 403  the client gets that status, with the auth response's body and
 *             its www-authenticate header;
 *   anything else, and every failure (timeout, service down, no endpoint,
 *   ...): with failure_mode_allow the request goes on (fail open); without
 *   (the default) the client gets status_on_error, 403 by default (fail
 *   closed).
 *
 *   config: {"cluster": "authz", "path_prefix": "/check", "timeout_ms": 200,
 *            "allowed_headers": ["authorization"],
 *            "allowed_upstream_headers": ["x-user-id"],
 *            "failure_mode_allow": false, "status_on_error": 403}
 *   (only "cluster" is required; timeout_ms defaults to 200)
 *
 * Metrics: decisions{decision="allowed|denied|failed_open|failed_closed"},
 * and wrong_thread (see the done hook). Build:
 *   gcc -O2 -fPIC -shared -std=c11 -I../../abi -I.. -o ext_authz.so ext_authz.c */
#define _GNU_SOURCE
#include <stdlib.h>
#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sluice_json.h"
#include "sluice_sdk.h"

SLUICE_DECLARE_MODULE(NULL)

#define MAX_NAMES 16

typedef struct config {
    sluice_config_handle handle;
    char cluster[128];
    char path_prefix[256];
    int64_t timeout_ms;
    char allowed[MAX_NAMES][64]; /* request headers sent to the service */
    size_t n_allowed;
    char upstream[MAX_NAMES][64]; /* auth response headers set on the request */
    size_t n_upstream;
    bool failure_mode_allow;
    int64_t status_on_error;
    uint32_t decisions, wrong_thread; /* metric ids */
} config;

typedef struct filter {
    config* cfg;
    long tid; /* the worker thread, seen in filter_new */
} filter;

/* Reads field key, an array of plain strings (header names), into out. */
static bool names(const sluice_json* j, const char* key, char out[][64], size_t* n, char* err, size_t errcap) {
    const char* v;
    size_t len;
    if (!sluice_json_raw(j, key, &v, &len)) return true;
    const char* end = v + len;
    if (*v != '[') goto bad;
    for (const char* p = v + 1; p < end;) {
        while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r' || *p == ',')) p++;
        if (p < end && *p == ']') return true;
        if (p == end || *p != '"') goto bad;
        const char* s = ++p;
        while (p < end && *p != '"' && *p != '\\') p++;
        if (p == end || *p == '\\' || p == s || (size_t)(p - s) >= 64) goto bad;
        if (*n == MAX_NAMES) {
            snprintf(err, errcap, "field \"%s\" has more than %d names", key, MAX_NAMES);
            return false;
        }
        memcpy(out[*n], s, (size_t)(p - s));
        out[(*n)++][p - s] = '\0';
        p++;
    }
bad:
    snprintf(err, errcap, "field \"%s\" must be an array of header names", key);
    return false;
}

void* sluice_on_http_filter_config_new(sluice_config_handle handle, const uint8_t* name, size_t name_len,
                                       const uint8_t* json, size_t json_len) {
    (void)name, (void)name_len;
    static const char* const fields[] = {"cluster", "path_prefix", "timeout_ms", "allowed_headers",
                                         "allowed_upstream_headers", "failure_mode_allow", "status_on_error", NULL};
    char err[256] = "";
    sluice_json j;
    config* c = (config*)calloc(1, sizeof *c);
    c->timeout_ms = 200;
    c->status_on_error = 403;
    if (!sluice_json_parse(&j, json, json_len, err, sizeof err) || !sluice_json_only(&j, fields, err, sizeof err) ||
        !sluice_json_string(&j, "cluster", true, c->cluster, sizeof c->cluster, err, sizeof err) ||
        !sluice_json_string(&j, "path_prefix", false, c->path_prefix, sizeof c->path_prefix, err, sizeof err) ||
        !sluice_json_int(&j, "timeout_ms", false, &c->timeout_ms, err, sizeof err) ||
        !names(&j, "allowed_headers", c->allowed, &c->n_allowed, err, sizeof err) ||
        !names(&j, "allowed_upstream_headers", c->upstream, &c->n_upstream, err, sizeof err) ||
        !sluice_json_bool(&j, "failure_mode_allow", false, &c->failure_mode_allow, err, sizeof err) ||
        !sluice_json_int(&j, "status_on_error", false, &c->status_on_error, err, sizeof err)) {
        goto reject;
    }
    if (c->cluster[0] == '\0') {
        snprintf(err, sizeof err, "field \"cluster\" must not be empty");
    } else if (c->timeout_ms < 1 || c->timeout_ms > 60000) {
        snprintf(err, sizeof err, "field \"timeout_ms\" must be between 1 and 60000");
    } else if (c->status_on_error < 200 || c->status_on_error > 599) {
        snprintf(err, sizeof err, "field \"status_on_error\" must be between 200 and 599");
    } else if (!sluice_has_callouts()) {
        snprintf(err, sizeof err, "ext_authz needs HTTP callouts (a sluice with module ABI 2.1 or later)");
    } else {
        static const char* const decision[] = {"decision"};
        c->handle = handle;
        c->decisions = sluice_define_metric(handle, SLUICE_METRIC_COUNTER, "decisions", decision, 1, NULL, 0);
        c->wrong_thread = sluice_define_counter(handle, "wrong_thread");
        return c;
    }
reject:
    sluice_config_reject(handle, err);
    free(c);
    return NULL;
}

void sluice_on_http_filter_config_destroy(void* c) { free(c); }

static long gettid_(void) { return (long)syscall(SYS_gettid); }

void* sluice_on_http_filter_new(void* cfg, sluice_filter_handle h) {
    (void)h;
    filter* f = (filter*)calloc(1, sizeof *f);
    if (f == NULL) return NULL;
    f->cfg = (config*)cfg;
    f->tid = gettid_();
    return f;
}

/* An in-flight check needs no cleanup here: the host cancels a filter's
 * callouts when its stream ends, and never calls the done hook after. */
void sluice_on_http_filter_destroy(void* m) { free(m); }

static void count(config* c, const char* decision) {
    const char* v[] = {decision};
    sluice_counter_add_labels(c->handle, c->decisions, v, 1, 1);
}

/* No decision can be made: fail open or closed, as configured. */
static void failed(filter* f, sluice_filter_handle h, const char* why) {
    config* c = f->cfg;
    SLUICE_DEBUG("ext_authz: check failed (%s)", why);
    if (c->failure_mode_allow) {
        count(c, "failed_open");
        sluice_continue_decoding(h);
        return;
    }
    count(c, "failed_closed");
    sluice_send_response(h, (uint32_t)c->status_on_error, NULL, "authorization check failed\n", "ext_authz_error");
}

static bool is(sluice_buffer b, const char* s) { return sluice_buffer_eq(b, s); }

/* Header names are lowercase in host views; configured names may not be. */
static bool allowed(const config* c, sluice_buffer name) {
    for (size_t i = 0; i < c->n_allowed; i++) {
        if (name.len == strlen(c->allowed[i]) && strncasecmp((const char*)name.ptr, c->allowed[i], name.len) == 0)
            return true;
    }
    return false;
}

sluice_headers_status sluice_on_http_filter_request_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)eos;
    filter* f = (filter*)m;
    config* c = f->cfg;
    /* Every request header in one host call (views valid during this hook). */
    sluice_header stack[64];
    sluice_header* all = stack;
    size_t n = 0;
    sluice_result r = sluice_api->headers_get(h, SLUICE_REQUEST_HEADERS, all, 64, &n);
    if (r == SLUICE_ERR_BUFFER_TOO_SMALL && (all = (sluice_header*)malloc(n * sizeof *all)) != NULL)
        r = sluice_api->headers_get(h, SLUICE_REQUEST_HEADERS, all, n, &n);
    sluice_buffer method = {NULL, 0}, path = {NULL, 0};
    for (size_t i = 0; r == SLUICE_OK && i < n; i++) {
        if (is(all[i].name, ":method")) method = all[i].value;
        if (is(all[i].name, ":path")) path = all[i].value;
    }
    size_t prefix = strlen(c->path_prefix);
    char* check_path = path.len > 0 ? (char*)malloc(prefix + path.len + 1) : NULL;
    char* check_method = method.len > 0 ? sluice_buffer_strdup(method) : NULL;
    if (check_path == NULL || check_method == NULL) {
        free(check_path);
        free(check_method);
        if (all != stack) free(all);
        failed(f, h, r != SLUICE_OK ? "cannot read the request headers" : "request without :method or :path");
        return SLUICE_HEADERS_STOP_ITERATION;
    }
    memcpy(check_path, c->path_prefix, prefix);
    memcpy(check_path + prefix, path.ptr, path.len);
    check_path[prefix + path.len] = '\0';

    sluice_callout co;
    sluice_callout_init(&co, c->cluster, check_method, check_path);
    sluice_callout_set_timeout_ms(&co, (uint32_t)c->timeout_ms);
    for (size_t i = 0; i < n; i++) {
        if (allowed(c, all[i].name)) sluice_callout_add_header_buf(&co, all[i].name, all[i].value);
    }
    sluice_callout_handle callout;
    r = sluice_callout_send(h, &co, &callout);
    free(check_path); /* the host copied the request */
    free(check_method);
    if (all != stack) free(all);
    if (r != SLUICE_OK) {
        char why[48];
        snprintf(why, sizeof why, "callout refused: %d", r);
        failed(f, h, why);
        return SLUICE_HEADERS_STOP_ITERATION;
    }
    /* Hold the headers and any body here until the answer. */
    return SLUICE_HEADERS_STOP_ALL_ITERATION_AND_BUFFER;
}

void sluice_on_http_filter_callout_done(void* m, sluice_filter_handle h, sluice_callout_handle callout,
                                        const sluice_callout_result* r) {
    (void)callout;
    filter* f = (filter*)m;
    config* c = f->cfg;
    /* Like every hook of a filter, this one runs on the stream's worker
     * thread; a cheap check keeps the promise visible (and tested). */
    if (gettid_() != f->tid) sluice_counter_add(c->handle, c->wrong_thread, 1);

    if (r->outcome != SLUICE_CALLOUT_OK) {
        char why[160];
        snprintf(why, sizeof why, "%s: %.*s", sluice_callout_outcome_name(r->outcome), (int)r->detail.len,
                 (const char*)r->detail.ptr);
        failed(f, h, why);
        return;
    }
    if (r->status == 200) {
        for (size_t i = 0; i < c->n_upstream; i++) {
            sluice_buffer v;
            if (sluice_callout_header(r, c->upstream[i], &v)) {
                sluice_api->header_set(h, SLUICE_REQUEST_HEADERS, (const uint8_t*)c->upstream[i],
                                       strlen(c->upstream[i]), v.ptr, v.len);
            }
        }
        count(c, "allowed");
        sluice_continue_decoding(h);
        return;
    }
    if (r->status == 401 || r->status == 403) {
        sluice_header hs[1];
        size_t n = 0;
        if (sluice_callout_header(r, "www-authenticate", &hs[0].value)) {
            hs[0].name = sluice_str("www-authenticate");
            n = 1;
        }
        count(c, "denied");
        sluice_api->send_response(h, r->status, n > 0 ? hs : NULL, n, r->body.ptr, r->body.len,
                                  (const uint8_t*)"ext_authz_denied", 16);
        return;
    }
    char why[48];
    snprintf(why, sizeof why, "authorization service answered %u", r->status);
    failed(f, h, why);
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)m, (void)h, (void)eos;
    return SLUICE_HEADERS_CONTINUE;
}
