/* callout_probe: exercises HTTP callouts (ABI 2.1) for the Go tests. The
 * JSON config (string values) picks what request_headers does:
 *   {"scenario": "forward", "cluster": "auth", "path": "/check",
 *    "timeout_ms": "100", "max_response": "1000"}
 *     start a callout (GET path, the request's x-token forwarded), stop
 *     the request; the done hook answers the stream with 200 and
 *       x-outcome (outcome name), x-status, x-detail, x-authz (the
 *       callout response's x-authz header), x-same-thread (yes/no: gettid
 *       matches the one seen in filter_new), x-cancel-in-done (the result
 *       of cancelling the finished callout: its handle must be stale),
 *       body = the callout response body.
 *   "cancel"  start a callout, cancel it, cancel it again (results
 *             recorded), continue.
 *   "limit"   start callouts until one fails; record how many started and
 *             the failing code; cancel them all; continue.
 *   "errors"  call http_callout with bad requests; record each code;
 *             continue.
 *   "config"  config_new starts a config callout (GET path); its done hook
 *             (on main) records outcome, status, body and whether it ran
 *             on config_new's thread.
 * Metrics: done_hooks, late_hooks (a done hook for a filter that is not
 * alive: must stay 0), wrong_thread (must stay 0).
 * Test hooks (exported):
 *   int  probe_results(int64_t* out, int cap)  recorded codes
 *   void probe_reset(void)
 *   int  probe_wait_results(int n)             wait for n (20 s cap)
 *   int  probe_done_hooks(void), probe_late_hooks(void), probe_live_filters(void)
 *   int  probe_config_result(char* out, int cap)   "outcome status same_thread body"
 *   int  probe_wait_config(void)               wait for the config result
 *   int  probe_foreign_cancel(uint64_t callout)    http_callout_cancel from the caller's thread
 *   uint64_t probe_last_callout(void)          the handle of the last callout started */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "json_lite.h"
#include "sluice_sdk.h"

SLUICE_DECLARE_MODULE(NULL)

static long tid(void) { return (long)syscall(SYS_gettid); }

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int64_t results[128];
static int n_results;
static int done_hooks, late_hooks;
static char config_result[4096];
static bool config_done;
static uint64_t last_callout;

#define MAX_LIVE 4096
static void* live[MAX_LIVE];
static int n_live;

static void record(int64_t v) {
    pthread_mutex_lock(&mu);
    if (n_results < 128) results[n_results++] = v;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

int probe_results(int64_t* out, int cap) {
    pthread_mutex_lock(&mu);
    int n = n_results < cap ? n_results : cap;
    for (int i = 0; i < n; i++) out[i] = results[i];
    pthread_mutex_unlock(&mu);
    return n;
}

void probe_reset(void) {
    pthread_mutex_lock(&mu);
    n_results = 0;
    done_hooks = late_hooks = 0;
    config_done = false;
    config_result[0] = '\0';
    pthread_mutex_unlock(&mu);
}

static int wait_for(bool (*cond)(void*), void* arg) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 20;
    pthread_mutex_lock(&mu);
    int ok = 1;
    while (!cond(arg)) {
        if (pthread_cond_timedwait(&cv, &mu, &deadline) != 0) {
            ok = cond(arg);
            break;
        }
    }
    pthread_mutex_unlock(&mu);
    return ok;
}

static bool have_results(void* n) { return n_results >= *(int*)n; }
int probe_wait_results(int n) { return wait_for(have_results, &n); }

static bool have_config(void* unused) {
    (void)unused;
    return config_done;
}
int probe_wait_config(void) { return wait_for(have_config, NULL); }

int probe_config_result(char* out, int cap) {
    pthread_mutex_lock(&mu);
    int n = snprintf(out, (size_t)cap, "%s", config_result);
    pthread_mutex_unlock(&mu);
    return n;
}

int probe_done_hooks(void) {
    pthread_mutex_lock(&mu);
    int n = done_hooks;
    pthread_mutex_unlock(&mu);
    return n;
}

int probe_late_hooks(void) {
    pthread_mutex_lock(&mu);
    int n = late_hooks;
    pthread_mutex_unlock(&mu);
    return n;
}

int probe_live_filters(void) {
    pthread_mutex_lock(&mu);
    int n = n_live;
    pthread_mutex_unlock(&mu);
    return n;
}

uint64_t probe_last_callout(void) {
    pthread_mutex_lock(&mu);
    uint64_t h = last_callout;
    pthread_mutex_unlock(&mu);
    return h;
}

int probe_foreign_cancel(uint64_t h) {
    sluice_callout_handle c = {h};
    return sluice_callout_cancel(c);
}

typedef struct config {
    sluice_config_handle handle;
    char scenario[32], cluster[64], path[128], timeout_ms[16], max_response[16];
    uint32_t done_hooks, late_hooks, wrong_thread;
    long main_tid;
} config;

typedef struct filter {
    config* cfg;
    long tid;
    sluice_callout_handle callouts[64];
    int n_callouts;
} filter;

static bool field(jl* j, const char* key, void* ud) {
    config* c = (config*)ud;
    if (strcmp(key, "scenario") == 0) return jl_string(j, c->scenario, sizeof c->scenario);
    if (strcmp(key, "cluster") == 0) return jl_string(j, c->cluster, sizeof c->cluster);
    if (strcmp(key, "path") == 0) return jl_string(j, c->path, sizeof c->path);
    if (strcmp(key, "timeout_ms") == 0) return jl_string(j, c->timeout_ms, sizeof c->timeout_ms);
    if (strcmp(key, "max_response") == 0) return jl_string(j, c->max_response, sizeof c->max_response);
    snprintf(j->err, sizeof j->err, "unknown field \"%s\"", key);
    return false;
}

static void prepare(config* c, sluice_callout* co) {
    sluice_callout_init(co, c->cluster, "GET", c->path[0] ? c->path : "/");
    sluice_callout_set_timeout_ms(co, (uint32_t)strtoul(c->timeout_ms, NULL, 10));
    sluice_callout_set_max_response(co, strtoull(c->max_response, NULL, 10));
}

void* sluice_on_http_filter_config_new(sluice_config_handle handle, const uint8_t* name_ptr, size_t name_len,
                                       const uint8_t* config_ptr, size_t config_len) {
    (void)name_ptr, (void)name_len;
    config* c = (config*)calloc(1, sizeof *c);
    c->handle = handle;
    c->main_tid = tid();
    jl j = {(const char*)config_ptr, (const char*)config_ptr + config_len, {0}};
    if (!jl_object(&j, field, c)) {
        sluice_config_reject(handle, j.err);
        free(c);
        return NULL;
    }
    c->done_hooks = sluice_define_counter(handle, "done_hooks");
    c->late_hooks = sluice_define_counter(handle, "late_hooks");
    c->wrong_thread = sluice_define_counter(handle, "wrong_thread");
    if (strcmp(c->scenario, "config") == 0) {
        sluice_callout co;
        prepare(c, &co);
        sluice_callout_handle h;
        sluice_result r = sluice_config_callout_send(handle, &co, &h);
        if (r != SLUICE_OK) {
            char why[64];
            snprintf(why, sizeof why, "config callout refused: %d", r);
            sluice_config_reject(handle, why);
            free(c);
            return NULL;
        }
    }
    return c;
}

void sluice_on_http_filter_config_destroy(void* c) { free(c); }

void sluice_on_http_filter_config_callout_done(void* cfg, sluice_config_handle handle, sluice_callout_handle callout,
                                               const sluice_callout_result* r) {
    (void)handle, (void)callout;
    config* c = (config*)cfg;
    pthread_mutex_lock(&mu);
    snprintf(config_result, sizeof config_result, "%s %u %s %.*s", sluice_callout_outcome_name(r->outcome),
             r->status, tid() == c->main_tid ? "same_thread" : "other_thread", (int)r->body.len,
             (const char*)r->body.ptr);
    config_done = true;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

void* sluice_on_http_filter_new(void* cfg, sluice_filter_handle h) {
    (void)h;
    filter* f = (filter*)calloc(1, sizeof *f);
    f->cfg = (config*)cfg;
    f->tid = tid();
    pthread_mutex_lock(&mu);
    if (n_live < MAX_LIVE) live[n_live++] = f;
    pthread_mutex_unlock(&mu);
    return f;
}

void sluice_on_http_filter_destroy(void* m) {
    pthread_mutex_lock(&mu);
    for (int i = 0; i < n_live; i++) {
        if (live[i] == m) {
            live[i] = live[--n_live];
            break;
        }
    }
    pthread_mutex_unlock(&mu);
    free(m);
}

static bool alive(void* m) {
    for (int i = 0; i < n_live; i++)
        if (live[i] == m) return true;
    return false;
}

static sluice_headers_status forward(filter* f, sluice_filter_handle h) {
    sluice_callout co;
    prepare(f->cfg, &co);
    sluice_buffer token;
    if (sluice_request_header(h, "x-token", &token)) sluice_callout_add_header_buf(&co, sluice_str("x-token"), token);
    sluice_callout_handle c;
    sluice_result r = sluice_callout_send(h, &co, &c);
    record(r);
    if (r != SLUICE_OK) {
        char code[16];
        snprintf(code, sizeof code, "%d", r);
        sluice_send_response(h, 503, SLUICE_KV({"x-callout-refused", code}), "callout refused\n", "callout_refused");
        return SLUICE_HEADERS_STOP_ITERATION;
    }
    pthread_mutex_lock(&mu);
    last_callout = c.id;
    pthread_mutex_unlock(&mu);
    return SLUICE_HEADERS_STOP_ALL_ITERATION_AND_BUFFER;
}

static void bad_requests(filter* f, sluice_filter_handle h) {
    sluice_callout co;
    sluice_callout_handle c;
    record(sluice_api->http_callout(h, NULL, &c));
    prepare(f->cfg, &co);
    record(sluice_api->http_callout(h, &co.req, NULL));
    prepare(f->cfg, &co);
    co.req.size = 8;
    record(sluice_api->http_callout(h, &co.req, &c));
    prepare(f->cfg, &co);
    co.req.n_headers = 1; /* :method only */
    record(sluice_api->http_callout(h, &co.req, &c));
    prepare(f->cfg, &co);
    sluice_callout_add_header(&co, ":protocol", "websocket");
    record(sluice_api->http_callout(h, &co.req, &c));
    prepare(f->cfg, &co);
    sluice_callout_add_header(&co, "x-evil", "a\r\nb");
    record(sluice_api->http_callout(h, &co.req, &c));
    prepare(f->cfg, &co);
    co.req.cluster = sluice_str("");
    record(sluice_api->http_callout(h, &co.req, &c));
    prepare(f->cfg, &co);
    co.req.max_response_bytes = (uint64_t)65 << 20;
    record(sluice_api->http_callout(h, &co.req, &c));
    prepare(f->cfg, &co);
    sluice_callout_add_header(&co, ":path", "/again");
    record(sluice_api->http_callout(h, &co.req, &c));
}

sluice_headers_status sluice_on_http_filter_request_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)eos;
    filter* f = (filter*)m;
    config* c = f->cfg;
    if (strcmp(c->scenario, "forward") == 0) return forward(f, h);
    if (strcmp(c->scenario, "cancel") == 0) {
        sluice_callout co;
        prepare(c, &co);
        sluice_callout_handle callout;
        record(sluice_callout_send(h, &co, &callout));
        record(sluice_callout_cancel(callout));
        record(sluice_callout_cancel(callout));
        return SLUICE_HEADERS_CONTINUE;
    }
    if (strcmp(c->scenario, "limit") == 0) {
        sluice_result r = SLUICE_OK;
        while (f->n_callouts < 64) {
            sluice_callout co;
            prepare(c, &co);
            if ((r = sluice_callout_send(h, &co, &f->callouts[f->n_callouts])) != SLUICE_OK) break;
            f->n_callouts++;
        }
        record(f->n_callouts);
        record(r);
        for (int i = 0; i < f->n_callouts; i++) sluice_callout_cancel(f->callouts[i]);
        return SLUICE_HEADERS_CONTINUE;
    }
    if (strcmp(c->scenario, "errors") == 0) {
        bad_requests(f, h);
        return SLUICE_HEADERS_CONTINUE;
    }
    return SLUICE_HEADERS_CONTINUE;
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)m, (void)h, (void)eos;
    return SLUICE_HEADERS_CONTINUE;
}

void sluice_on_http_filter_callout_done(void* m, sluice_filter_handle h, sluice_callout_handle callout,
                                        const sluice_callout_result* r) {
    pthread_mutex_lock(&mu);
    done_hooks++;
    bool late = !alive(m);
    if (late) late_hooks++;
    pthread_mutex_unlock(&mu);
    if (late) return; /* m is not ours to touch */
    filter* f = (filter*)m;
    config* c = f->cfg;
    sluice_counter_add(c->handle, c->done_hooks, 1);
    bool same = tid() == f->tid;
    if (!same) sluice_counter_add(c->handle, c->wrong_thread, 1);
    char status[16], cancel[16], detail[256];
    snprintf(status, sizeof status, "%u", r->status);
    snprintf(cancel, sizeof cancel, "%d", sluice_callout_cancel(callout));
    snprintf(detail, sizeof detail, "%.*s", (int)r->detail.len, (const char*)r->detail.ptr);
    char authz[128] = "";
    sluice_buffer v;
    if (sluice_callout_header(r, "x-authz", &v)) snprintf(authz, sizeof authz, "%.*s", (int)v.len, (const char*)v.ptr);
    sluice_header hs[6] = {
        {sluice_str("x-outcome"), sluice_str(sluice_callout_outcome_name(r->outcome))},
        {sluice_str("x-status"), sluice_str(status)},
        {sluice_str("x-detail"), sluice_str(detail)},
        {sluice_str("x-authz"), sluice_str(authz)},
        {sluice_str("x-same-thread"), sluice_str(same ? "yes" : "no")},
        {sluice_str("x-cancel-in-done"), sluice_str(cancel)},
    };
    sluice_api->send_response(h, 200, hs, 6, r->body.ptr, r->body.len, (const uint8_t*)"callout", 7);
}
