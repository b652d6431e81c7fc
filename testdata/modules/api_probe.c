/* api_probe: exercises host callbacks in the situations the ABI promises
 * to handle, recording every result code for the Go tests. The JSON config
 * {"scenario": "..."} picks what request_headers does:
 *   reply_then_calls    send_response, then header/body/continue calls
 *   continue_then_calls continue_decoding, then header calls
 *   stale_handle        call with the handle of the previous filter
 *   foreign_thread      a module thread calls worker-only and thread-safe
 *                       callbacks once the test releases it
 *   read_all            reads/writes headers, attributes, metadata, body
 *                       and records results (and values as x-probe-*)
 * Test hooks (exported):
 *   int  probe_results(int64_t* out, int cap)   results so far (count)
 *   void probe_reset(void)
 *   int  probe_wait_results(int n)              wait for n results (20 s cap)
 *   void probe_release_thread(void)             let foreign_thread go
 *   int  probe_destroys(void)                   filter destroys seen
 *   int  probe_destroy_in_hook(void)            destroys run inside a hook
 *   int  probe_per_route_destroys(void) */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "json_lite.h"
#include "sluice_sdk.h"

SLUICE_DECLARE_MODULE(NULL)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int64_t results[128];
static int n_results;
static bool released;
static int destroys, destroy_in_hook, per_route_destroys, in_hook;
static sluice_filter_handle previous_handle;

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
    released = false;
    destroys = destroy_in_hook = per_route_destroys = 0;
    previous_handle.id = 0;
    pthread_mutex_unlock(&mu);
}

/* Blocks until at least n results exist (or 20 s passed); returns the count. */
int probe_wait_results(int n) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 20;
    pthread_mutex_lock(&mu);
    while (n_results < n) {
        if (pthread_cond_timedwait(&cv, &mu, &deadline) != 0) break;
    }
    int got = n_results;
    pthread_mutex_unlock(&mu);
    return got;
}

void probe_release_thread(void) {
    pthread_mutex_lock(&mu);
    released = true;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

int probe_destroys(void) { return destroys; }
int probe_destroy_in_hook(void) { return destroy_in_hook; }
int probe_per_route_destroys(void) { return per_route_destroys; }

typedef struct config {
    char scenario[64];
    sluice_config_handle handle;
    uint32_t counter;
} config;

typedef struct filter {
    config* cfg;
    sluice_filter_handle handle;
} filter;

static bool field(jl* j, const char* key, void* ud) {
    config* c = (config*)ud;
    if (strcmp(key, "scenario") == 0) return jl_string(j, c->scenario, sizeof c->scenario);
    snprintf(j->err, sizeof j->err, "unknown field \"%s\"", key);
    return false;
}

void* sluice_on_http_filter_config_new(sluice_config_handle handle, const uint8_t* name_ptr, size_t name_len,
                                       const uint8_t* config_ptr, size_t config_len) {
    (void)name_ptr, (void)name_len;
    config* c = (config*)calloc(1, sizeof *c);
    jl j = {(const char*)config_ptr, (const char*)config_ptr + config_len, {0}};
    if (!jl_object(&j, field, c)) {
        sluice_config_reject(handle, j.err);
        free(c);
        return NULL;
    }
    c->handle = handle;
    c->counter = sluice_define_counter(handle, "probe_calls");
    return c;
}

void sluice_on_http_filter_config_destroy(void* c) { free(c); }

void* sluice_on_http_filter_per_route_config_new(sluice_config_handle h, void* cfg, const uint8_t* p, size_t n) {
    (void)cfg;
    if (n == 0) {
        sluice_config_reject(h, "empty per-route config");
        return NULL;
    }
    char* copy = (char*)malloc(n + 1);
    memcpy(copy, p, n);
    copy[n] = '\0';
    return copy;
}

void sluice_on_http_filter_per_route_config_destroy(void* p) {
    per_route_destroys++;
    free(p);
}

void* sluice_on_http_filter_new(void* cfg, sluice_filter_handle h) {
    filter* f = (filter*)calloc(1, sizeof *f);
    f->cfg = (config*)cfg;
    f->handle = h;
    return f;
}

void sluice_on_http_filter_destroy(void* m) {
    destroys++;
    if (in_hook > 0) destroy_in_hook++;
    filter* f = (filter*)m;
    previous_handle = f->handle;
    free(f);
}

static void* foreign(void* arg) {
    filter* f = (filter*)arg;
    sluice_filter_handle h = f->handle;
    sluice_config_handle cfg = f->cfg->handle;
    uint32_t counter = f->cfg->counter;
    pthread_mutex_lock(&mu);
    while (!released) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    sluice_buffer v;
    record(sluice_api->header_get(h, SLUICE_REQUEST_HEADERS, (const uint8_t*)"host", 4, 0, &v, NULL));
    record(sluice_api->counter_add(cfg, counter, NULL, 0, 5));
    record(sluice_api->continue_decoding(h));
    sluice_log(SLUICE_LOG_INFO, "probe foreign thread done");
    record(1000); /* end marker */
    return NULL;
}

#define HDR(s) (const uint8_t*)(s), strlen(s)

static void read_all(filter* f) {
    sluice_filter_handle h = f->handle;
    sluice_header hs[2];
    size_t count = 0;
    record(sluice_api->headers_get(h, SLUICE_REQUEST_HEADERS, hs, 2, &count)); /* too small */
    record((int64_t)count);
    sluice_buffer v;
    size_t nvals = 0;
    record(sluice_api->header_get(h, SLUICE_REQUEST_HEADERS, HDR("X-Multi"), 1, &v, &nvals));
    record((int64_t)nvals);
    char second[64] = {0};
    memcpy(second, v.ptr, v.len < 63 ? v.len : 63);
    record(sluice_api->header_get(h, SLUICE_REQUEST_HEADERS, HDR("x-multi"), 5, &v, NULL)); /* not found */
    sluice_buffer vals[4];
    record(sluice_api->header_values(h, SLUICE_REQUEST_HEADERS, HDR("x-multi"), vals, 4, &nvals));
    record((int64_t)nvals);
    record(sluice_api->header_set(h, SLUICE_REQUEST_HEADERS, HDR("x-bad"), HDR("a\r\nb"))); /* invalid */
    record(sluice_api->header_set(h, 9, HDR("x"), HDR("y")));                            /* bad kind */
    record(sluice_api->header_get(h, SLUICE_RESPONSE_HEADERS, HDR(":status"), 0, &v, NULL)); /* unavailable */
    size_t size = 0;
    record(sluice_api->body_size(h, SLUICE_RECEIVED_REQUEST_BODY, &size)); /* unavailable */
    uint32_t id = 0;
    record(sluice_api->define_counter(f->cfg->handle, HDR("late"), &id)); /* wrong phase */
    sluice_buffer method, path;
    record(sluice_api->get_attribute_string(h, SLUICE_ATTR_REQUEST_METHOD, &method));
    record(sluice_api->get_attribute_string(h, SLUICE_ATTR_REQUEST_PATH, &path));
    int64_t widx = -1, conn = -1;
    record(sluice_api->get_attribute_int(h, SLUICE_ATTR_WORKER_INDEX, &widx));
    record(widx);
    record(sluice_api->get_attribute_int(h, SLUICE_ATTR_CONNECTION_ID, &conn));
    record(conn);
    record(sluice_api->get_attribute_int(h, 999, &conn)); /* bad id */
    record(sluice_api->metadata_set_string(h, HDR("probe"), HDR("k"), HDR("v1")));
    record(sluice_api->metadata_set_number(h, HDR("probe"), HDR("n"), 2.5));
    sluice_buffer mv;
    double num = 0;
    record(sluice_api->metadata_get_string(h, HDR("probe"), HDR("k"), &mv));
    record(sluice_api->metadata_get_number(h, HDR("probe"), HDR("n"), &num));
    record((int64_t)(num * 10));
    record(sluice_api->metadata_get_string(h, HDR("probe"), HDR("missing"), &mv)); /* not found */
    void* pr = NULL;
    sluice_result prr = sluice_api->per_route_config(h, &pr);
    record(prr);
    /* values travel back as request headers */
    char* m = sluice_buffer_strdup(method);
    char* p = sluice_buffer_strdup(path);
    sluice_header_set(h, SLUICE_REQUEST_HEADERS, "x-probe-method", m);
    sluice_header_set(h, SLUICE_REQUEST_HEADERS, "x-probe-path", p);
    sluice_header_set(h, SLUICE_REQUEST_HEADERS, "x-probe-second", second);
    sluice_header_set(h, SLUICE_REQUEST_HEADERS, "x-probe-route", prr == SLUICE_OK ? (const char*)pr : "none");
    free(m);
    free(p);
    sluice_buffer host = {NULL, 0}, src = {NULL, 0}, proto = {NULL, 0};
    record(sluice_api->get_attribute_string(h, SLUICE_ATTR_REQUEST_HOST, &host));
    record(sluice_api->get_attribute_string(h, SLUICE_ATTR_SOURCE_ADDRESS, &src));
    record(sluice_api->get_attribute_string(h, SLUICE_ATTR_REQUEST_PROTOCOL, &proto));
    record(sluice_api->get_attribute_string(h, SLUICE_ATTR_REQUEST_ID, &v)); /* none set */
    char joined[256];
    snprintf(joined, sizeof joined, "%.*s|%.*s|%.*s", (int)host.len, (const char*)host.ptr, (int)src.len,
             (const char*)src.ptr, (int)proto.len, (const char*)proto.ptr);
    sluice_header_set(h, SLUICE_REQUEST_HEADERS, "x-probe-attrs", joined);
    record(sluice_api->clear_route_cache(h));
    record(sluice_api->concurrency());
    record(sluice_api->log_enabled(SLUICE_LOG_OFF) ? 1 : 0);
    record(sluice_counter_add(f->cfg->handle, f->cfg->counter, 1));
    record(1000);
}

sluice_headers_status sluice_on_http_filter_request_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)eos;
    filter* f = (filter*)m;
    const char* sc = f->cfg->scenario;
    sluice_headers_status st = SLUICE_HEADERS_CONTINUE;
    sluice_buffer v;
    size_t size;
    in_hook++;
    if (strcmp(sc, "reply_then_calls") == 0) {
        record(sluice_send_response(h, 403, SLUICE_KV({"x-probe", "1"}), "denied", "probe_denied"));
        record(sluice_api->header_get(h, SLUICE_REQUEST_HEADERS, HDR("host"), 0, &v, NULL));
        record(sluice_api->header_set(h, SLUICE_REQUEST_HEADERS, HDR("x"), HDR("y")));
        record(sluice_api->body_size(h, SLUICE_BUFFERED_REQUEST_BODY, &size));
        record(sluice_api->continue_decoding(h));
        record(sluice_send_response(h, 500, NULL, NULL, NULL));
        record(1000);
        st = SLUICE_HEADERS_CONTINUE; /* wrong after a reply: the host must stop anyway */
    } else if (strcmp(sc, "continue_then_calls") == 0) {
        record(sluice_api->continue_decoding(h));
        record(sluice_api->header_get(h, SLUICE_REQUEST_HEADERS, HDR("host"), 0, &v, NULL));
        record(sluice_api->header_remove(h, SLUICE_REQUEST_HEADERS, HDR("host"), NULL));
        record(1000);
        st = SLUICE_HEADERS_STOP_ITERATION;
    } else if (strcmp(sc, "stale_handle") == 0) {
        record(previous_handle.id != 0 ? sluice_api->header_get(previous_handle, SLUICE_REQUEST_HEADERS, HDR("host"), 0,
                                                             &v, NULL)
                                    : -100);
        /* a filter handle passed as a config handle: wrong kind */
        record(sluice_counter_add((sluice_config_handle){previous_handle.id}, f->cfg->counter, 1));
        record(sluice_api->header_get(h, SLUICE_REQUEST_HEADERS, HDR("host"), 0, &v, NULL));
        record(1000);
    } else if (strcmp(sc, "foreign_thread") == 0) {
        pthread_t t;
        pthread_create(&t, NULL, foreign, f);
        pthread_detach(t);
        st = SLUICE_HEADERS_STOP_ITERATION;
    } else if (strcmp(sc, "read_all") == 0) {
        read_all(f);
    }
    in_hook--;
    return st;
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)m, (void)h, (void)eos;
    return SLUICE_HEADERS_CONTINUE;
}

void sluice_on_http_filter_stream_complete(void* m, sluice_filter_handle h) {
    (void)m;
    /* reads still work here; writes do not once the stream ended */
    sluice_buffer v;
    record(2000);
    record(sluice_api->header_get(h, SLUICE_REQUEST_HEADERS, HDR("host"), 0, &v, NULL));
}
