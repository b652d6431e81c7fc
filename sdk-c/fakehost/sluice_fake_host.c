/* sluice_fake_host.c — see sluice_fake_host.h. Plain C11 + pthreads. */
#define _GNU_SOURCE
#include "sluice_fake_host.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* The module's hooks. Optional ones are weak: absent = NULL. */
uint32_t sluice_module_abi_version(void);
bool sluice_on_program_init(const sluice_host_api* api);
void sluice_on_program_shutdown(void) __attribute__((weak));
void* sluice_on_http_filter_config_new(sluice_config_handle, const uint8_t*, size_t, const uint8_t*, size_t);
void sluice_on_http_filter_config_destroy(void*);
void sluice_on_http_filter_config_scheduled(void*, sluice_config_handle, uint64_t) __attribute__((weak));
void* sluice_on_http_filter_new(void*, sluice_filter_handle);
void sluice_on_http_filter_destroy(void*);
sluice_headers_status sluice_on_http_filter_request_headers(void*, sluice_filter_handle, bool);
sluice_headers_status sluice_on_http_filter_response_headers(void*, sluice_filter_handle, bool);
sluice_body_status sluice_on_http_filter_request_body(void*, sluice_filter_handle, bool) __attribute__((weak));
sluice_body_status sluice_on_http_filter_response_body(void*, sluice_filter_handle, bool) __attribute__((weak));
void sluice_on_http_filter_stream_complete(void*, sluice_filter_handle) __attribute__((weak));
void sluice_on_http_filter_scheduled(void*, sluice_filter_handle, uint64_t) __attribute__((weak));
void sluice_on_http_filter_timer(void*, sluice_filter_handle, sluice_timer_handle) __attribute__((weak));
void sluice_on_http_filter_callout_done(void*, sluice_filter_handle, sluice_callout_handle,
                                        const sluice_callout_result*) __attribute__((weak));
void sluice_on_http_filter_config_callout_done(void*, sluice_config_handle, sluice_callout_handle,
                                               const sluice_callout_result*) __attribute__((weak));

#define MAX_HEADERS 64
#define MAX_OBJECTS 256
#define MAX_METRICS 64
#define QUEUE 64

typedef struct hmap {
    bool exists;
    int n;
    char* name[MAX_HEADERS];
    char* value[MAX_HEADERS];
} hmap;

typedef struct buf {
    char* p;
    size_t len;
    bool exists;
} buf;

typedef struct metric {
    char name[128];
    int kind; /* sluice_metric_kind */
    size_t labels;
    int64_t value;
} metric;

struct sluice_fake_config {
    uint64_t id;
    void* module;
    char reason[256];
    bool defining, destroyed;
    metric metrics[MAX_METRICS];
    int n_metrics;
};

struct sluice_fake_stream {
    uint64_t id;
    sluice_fake_config* cfg;
    void* module;
    bool ended, destroyed;
    hmap maps[4];
    buf received[2], buffered[2], forwarded[2];
    int reply_status;
    char* reply_body;
    char* reply_details;
    int continued[2];
    struct {
        uint64_t id;
        bool armed;
    } timers[8];
    int n_timers;
};

typedef struct sched {
    uint64_t target; /* stream or config id */
    bool config, deleted;
    uint64_t q[QUEUE];
    int n;
} sched;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static void* objects[MAX_OBJECTS]; /* id - 1 -> config or stream */
static bool is_stream[MAX_OBJECTS];
static sched scheds[MAX_OBJECTS];
static int n_scheds;
static uint64_t next_id = 1;
static uint64_t next_timer = 1;
static char last_log[1024];

static char* dup_n(const uint8_t* p, size_t n) {
    char* s = (char*)malloc(n + 1);
    if (n > 0) memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static uint64_t register_object(void* o, bool stream) {
    uint64_t id = next_id++;
    if (id > MAX_OBJECTS) abort(); /* a test made too many objects */
    objects[id - 1] = o;
    is_stream[id - 1] = stream;
    return id;
}

static sluice_fake_stream* stream_of(sluice_filter_handle h) {
    if (h.id == 0 || h.id > MAX_OBJECTS || !is_stream[h.id - 1]) return NULL;
    sluice_fake_stream* s = (sluice_fake_stream*)objects[h.id - 1];
    return s != NULL && !s->destroyed ? s : NULL;
}

static sluice_fake_config* config_of(sluice_config_handle h) {
    if (h.id == 0 || h.id > MAX_OBJECTS || is_stream[h.id - 1]) return NULL;
    sluice_fake_config* c = (sluice_fake_config*)objects[h.id - 1];
    return c != NULL && !c->destroyed ? c : NULL;
}

/* The ABI's rule: reads work until destroy, writes until the stream ended. */
static sluice_result lookup(sluice_filter_handle h, bool write, sluice_fake_stream** out) {
    sluice_fake_stream* s = stream_of(h);
    if (s == NULL) return SLUICE_ERR_INVALID_HANDLE;
    if (write && s->ended) return SLUICE_ERR_STREAM_ENDED;
    *out = s;
    return SLUICE_OK;
}

/* ---- process ---- */

static void cb_log(sluice_log_level level, const uint8_t* msg, size_t n) {
    (void)level;
    snprintf(last_log, sizeof last_log, "%.*s", (int)n, (const char*)msg);
}
static bool cb_log_enabled(sluice_log_level level) { return level >= SLUICE_LOG_DEBUG && level < SLUICE_LOG_OFF; }
static uint32_t cb_concurrency(void) { return 2; }

static sluice_result cb_log_filter(sluice_filter_handle f, sluice_log_level level, const uint8_t* msg, size_t n) {
    if (stream_of(f) == NULL) return SLUICE_ERR_INVALID_HANDLE;
    cb_log(level, msg, n);
    return SLUICE_OK;
}

/* ---- config and metrics ---- */

static sluice_result cb_config_reject(sluice_config_handle c, const uint8_t* reason, size_t n) {
    sluice_fake_config* cfg = config_of(c);
    if (cfg == NULL) return SLUICE_ERR_INVALID_HANDLE;
    snprintf(cfg->reason, sizeof cfg->reason, "%.*s", (int)n, (const char*)reason);
    return SLUICE_OK;
}

static sluice_result define(sluice_config_handle c, int kind, const uint8_t* name, size_t n, size_t labels,
                            uint32_t* id) {
    sluice_fake_config* cfg = config_of(c);
    if (cfg == NULL) return SLUICE_ERR_INVALID_HANDLE;
    if (id == NULL || n == 0 || n >= 128) return SLUICE_ERR_INVALID_ARGUMENT;
    if (!cfg->defining) return SLUICE_ERR_WRONG_PHASE;
    for (int i = 0; i < cfg->n_metrics; i++) {
        if (strlen(cfg->metrics[i].name) == n && memcmp(cfg->metrics[i].name, name, n) == 0) {
            if (cfg->metrics[i].kind != kind || cfg->metrics[i].labels != labels) return SLUICE_ERR_INVALID_ARGUMENT;
            *id = (uint32_t)i;
            return SLUICE_OK;
        }
    }
    if (cfg->n_metrics == MAX_METRICS) return SLUICE_ERR_LIMIT;
    metric* m = &cfg->metrics[cfg->n_metrics];
    snprintf(m->name, sizeof m->name, "%.*s", (int)n, (const char*)name);
    m->kind = kind;
    m->labels = labels;
    *id = (uint32_t)cfg->n_metrics++;
    return SLUICE_OK;
}

static sluice_result cb_define_counter(sluice_config_handle c, const uint8_t* n, size_t l, uint32_t* id) {
    return define(c, SLUICE_METRIC_COUNTER, n, l, 0, id);
}
static sluice_result cb_define_gauge(sluice_config_handle c, const uint8_t* n, size_t l, uint32_t* id) {
    return define(c, SLUICE_METRIC_GAUGE, n, l, 0, id);
}
static sluice_result cb_define_histogram(sluice_config_handle c, const uint8_t* n, size_t l, uint32_t* id) {
    return define(c, SLUICE_METRIC_HISTOGRAM, n, l, 0, id);
}
static sluice_result cb_define_metric(sluice_config_handle c, const sluice_metric_def* d, uint32_t* id) {
    if (d == NULL || d->size < sizeof *d || d->kind > SLUICE_METRIC_HISTOGRAM || d->n_label_names > 8)
        return SLUICE_ERR_INVALID_ARGUMENT;
    return define(c, (int)d->kind, d->name.ptr, d->name.len, d->n_label_names, id);
}

static sluice_result update(sluice_config_handle c, uint32_t id, int kind, size_t labels, int64_t v, bool set) {
    pthread_mutex_lock(&mu); /* metrics: any thread */
    sluice_fake_config* cfg = config_of(c);
    sluice_result r = SLUICE_OK;
    if (cfg == NULL) {
        r = SLUICE_ERR_INVALID_HANDLE;
    } else if ((int)id >= cfg->n_metrics || cfg->metrics[id].kind != kind || cfg->metrics[id].labels != labels) {
        r = SLUICE_ERR_INVALID_ARGUMENT;
    } else if (set) {
        cfg->metrics[id].value = v;
    } else {
        cfg->metrics[id].value += v;
    }
    pthread_mutex_unlock(&mu);
    return r;
}
static sluice_result cb_counter_add(sluice_config_handle c, uint32_t id, const sluice_buffer* l, size_t n,
                                    uint64_t d) {
    (void)l;
    return update(c, id, SLUICE_METRIC_COUNTER, n, (int64_t)d, false);
}
static sluice_result cb_gauge_set(sluice_config_handle c, uint32_t id, const sluice_buffer* l, size_t n, int64_t v) {
    (void)l;
    return update(c, id, SLUICE_METRIC_GAUGE, n, v, true);
}
static sluice_result cb_gauge_add(sluice_config_handle c, uint32_t id, const sluice_buffer* l, size_t n, int64_t d) {
    (void)l;
    return update(c, id, SLUICE_METRIC_GAUGE, n, d, false);
}
static sluice_result cb_histogram_record(sluice_config_handle c, uint32_t id, const sluice_buffer* l, size_t n,
                                         uint64_t v) {
    (void)l;
    return update(c, id, SLUICE_METRIC_HISTOGRAM, n, (int64_t)v, false);
}
static sluice_result cb_report_panic(sluice_config_handle c, const uint8_t* msg, size_t n) {
    if (config_of(c) == NULL) return SLUICE_ERR_INVALID_HANDLE;
    cb_log(SLUICE_LOG_ERROR, msg, n);
    return SLUICE_OK;
}

/* ---- headers ---- */

static hmap* map_of(sluice_fake_stream* s, sluice_header_kind kind, sluice_result* r) {
    if (kind > SLUICE_RESPONSE_TRAILERS) {
        *r = SLUICE_ERR_INVALID_ARGUMENT;
        return NULL;
    }
    if (!s->maps[kind].exists) {
        *r = SLUICE_ERR_UNAVAILABLE;
        return NULL;
    }
    *r = SLUICE_OK;
    return &s->maps[kind];
}

static bool name_eq(const char* stored, const uint8_t* name, size_t n) {
    return strlen(stored) == n && strncasecmp(stored, (const char*)name, n) == 0;
}

static sluice_buffer view(const char* s) {
    sluice_buffer b = {(const uint8_t*)s, strlen(s)};
    return b;
}

static bool valid_bytes(const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] == '\r' || p[i] == '\n' || p[i] == 0) return false;
    return true;
}

static sluice_result cb_header_get(sluice_filter_handle f, sluice_header_kind kind, const uint8_t* name, size_t nl,
                                   size_t index, sluice_buffer* out, size_t* count) {
    sluice_fake_stream* s;
    sluice_result r = lookup(f, false, &s);
    hmap* m = r == SLUICE_OK ? map_of(s, kind, &r) : NULL;
    if (m == NULL) return r;
    if (out == NULL) return SLUICE_ERR_INVALID_ARGUMENT;
    size_t seen = 0;
    bool found = false;
    for (int i = 0; i < m->n; i++) {
        if (!name_eq(m->name[i], name, nl)) continue;
        if (seen == index) {
            *out = view(m->value[i]);
            found = true;
        }
        seen++;
    }
    if (count != NULL) *count = seen;
    return found ? SLUICE_OK : SLUICE_ERR_NOT_FOUND;
}

static sluice_result cb_header_values(sluice_filter_handle f, sluice_header_kind kind, const uint8_t* name, size_t nl,
                                      sluice_buffer* values, size_t cap, size_t* count) {
    sluice_fake_stream* s;
    sluice_result r = lookup(f, false, &s);
    hmap* m = r == SLUICE_OK ? map_of(s, kind, &r) : NULL;
    if (m == NULL) return r;
    size_t seen = 0;
    for (int i = 0; i < m->n; i++) {
        if (!name_eq(m->name[i], name, nl)) continue;
        if (seen < cap && values != NULL) values[seen] = view(m->value[i]);
        seen++;
    }
    if (count != NULL) *count = seen;
    return cap > 0 && seen > cap ? SLUICE_ERR_BUFFER_TOO_SMALL : SLUICE_OK;
}

static sluice_result cb_headers_get(sluice_filter_handle f, sluice_header_kind kind, sluice_header* hs, size_t cap,
                                    size_t* count) {
    sluice_fake_stream* s;
    sluice_result r = lookup(f, false, &s);
    hmap* m = r == SLUICE_OK ? map_of(s, kind, &r) : NULL;
    if (m == NULL) return r;
    for (int i = 0; i < m->n && (size_t)i < cap && hs != NULL; i++) {
        hs[i].name = view(m->name[i]);
        hs[i].value = view(m->value[i]);
    }
    if (count != NULL) *count = (size_t)m->n;
    return cap > 0 && (size_t)m->n > cap ? SLUICE_ERR_BUFFER_TOO_SMALL : SLUICE_OK;
}

static void map_add(hmap* m, const char* name, size_t nl, const char* value, size_t vl) {
    if (m->n == MAX_HEADERS) return;
    char* n = dup_n((const uint8_t*)name, nl);
    for (char* p = n; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p += 'a' - 'A';
    m->name[m->n] = n;
    m->value[m->n++] = dup_n((const uint8_t*)value, vl);
}

static size_t map_remove(hmap* m, const uint8_t* name, size_t nl) {
    size_t removed = 0;
    int w = 0;
    for (int i = 0; i < m->n; i++) {
        if (name_eq(m->name[i], name, nl)) {
            free(m->name[i]);
            free(m->value[i]);
            removed++;
            continue;
        }
        m->name[w] = m->name[i];
        m->value[w++] = m->value[i];
    }
    m->n = w;
    return removed;
}

static sluice_result mutate(sluice_filter_handle f, sluice_header_kind kind, const uint8_t* name, size_t nl,
                            const uint8_t* value, size_t vl, bool replace) {
    sluice_fake_stream* s;
    sluice_result r = lookup(f, true, &s);
    hmap* m = r == SLUICE_OK ? map_of(s, kind, &r) : NULL;
    if (m == NULL) return r;
    if (nl == 0 || !valid_bytes(name, nl) || !valid_bytes(value, vl)) return SLUICE_ERR_INVALID_ARGUMENT;
    if (replace) map_remove(m, name, nl);
    map_add(m, (const char*)name, nl, (const char*)value, vl);
    return SLUICE_OK;
}

static sluice_result cb_header_set(sluice_filter_handle f, sluice_header_kind k, const uint8_t* n, size_t nl,
                                   const uint8_t* v, size_t vl) {
    return mutate(f, k, n, nl, v, vl, true);
}
static sluice_result cb_header_add(sluice_filter_handle f, sluice_header_kind k, const uint8_t* n, size_t nl,
                                   const uint8_t* v, size_t vl) {
    return mutate(f, k, n, nl, v, vl, false);
}
static sluice_result cb_header_remove(sluice_filter_handle f, sluice_header_kind kind, const uint8_t* name, size_t nl,
                                      size_t* removed) {
    sluice_fake_stream* s;
    sluice_result r = lookup(f, true, &s);
    hmap* m = r == SLUICE_OK ? map_of(s, kind, &r) : NULL;
    if (m == NULL) return r;
    size_t n = map_remove(m, name, nl);
    if (removed != NULL) *removed = n;
    return SLUICE_OK;
}

/* ---- body ---- */

static buf* body_of(sluice_fake_stream* s, sluice_body_kind kind, sluice_result* r) {
    *r = SLUICE_OK;
    switch (kind) {
    case SLUICE_RECEIVED_REQUEST_BODY:
    case SLUICE_RECEIVED_RESPONSE_BODY:
        if (!s->received[kind / 2].exists) {
            *r = SLUICE_ERR_UNAVAILABLE;
            return NULL;
        }
        return &s->received[kind / 2];
    case SLUICE_BUFFERED_REQUEST_BODY:
    case SLUICE_BUFFERED_RESPONSE_BODY:
        return &s->buffered[kind / 2];
    }
    *r = SLUICE_ERR_INVALID_ARGUMENT;
    return NULL;
}

static void buf_append(buf* b, const uint8_t* p, size_t n) {
    b->p = (char*)realloc(b->p, b->len + n + 1);
    if (n > 0) memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    b->exists = true;
}

static sluice_result cb_body_chunks(sluice_filter_handle f, sluice_body_kind kind, sluice_buffer* chunks, size_t cap,
                                    size_t* count) {
    sluice_fake_stream* s;
    sluice_result r = lookup(f, false, &s);
    buf* b = r == SLUICE_OK ? body_of(s, kind, &r) : NULL;
    if (b == NULL) return r;
    size_t n = b->len > 0 ? 1 : 0;
    if (n == 1 && cap > 0 && chunks != NULL) {
        chunks[0].ptr = (const uint8_t*)b->p;
        chunks[0].len = b->len;
    }
    if (count != NULL) *count = n;
    return SLUICE_OK;
}
static sluice_result cb_body_size(sluice_filter_handle f, sluice_body_kind kind, size_t* size) {
    sluice_fake_stream* s;
    sluice_result r = lookup(f, false, &s);
    buf* b = r == SLUICE_OK ? body_of(s, kind, &r) : NULL;
    if (b == NULL) return r;
    if (size == NULL) return SLUICE_ERR_INVALID_ARGUMENT;
    *size = b->len;
    return SLUICE_OK;
}
static sluice_result cb_body_append(sluice_filter_handle f, sluice_body_kind kind, const uint8_t* d, size_t n) {
    sluice_fake_stream* s;
    sluice_result r = lookup(f, true, &s);
    buf* b = r == SLUICE_OK ? body_of(s, kind, &r) : NULL;
    if (b == NULL) return r;
    buf_append(b, d, n);
    return SLUICE_OK;
}
static sluice_result cb_body_drain(sluice_filter_handle f, sluice_body_kind kind, size_t n) {
    sluice_fake_stream* s;
    sluice_result r = lookup(f, true, &s);
    buf* b = r == SLUICE_OK ? body_of(s, kind, &r) : NULL;
    if (b == NULL) return r;
    if (n > b->len) n = b->len;
    if (n > 0) memmove(b->p, b->p + n, b->len - n + 1);
    b->len -= n;
    return SLUICE_OK;
}
static sluice_result cb_inject_data(sluice_filter_handle f, sluice_direction d, const uint8_t* data, size_t n,
                                    bool eos) {
    (void)eos;
    sluice_fake_stream* s;
    sluice_result r = lookup(f, true, &s);
    if (r != SLUICE_OK) return r;
    if (d > SLUICE_DIRECTION_RESPONSE) return SLUICE_ERR_INVALID_ARGUMENT;
    buf_append(&s->forwarded[d], data, n);
    return SLUICE_OK;
}

/* ---- stream control ---- */

static sluice_result cb_send_response(sluice_filter_handle f, uint32_t status, const sluice_header* hs, size_t n,
                                      const uint8_t* body, size_t bl, const uint8_t* details, size_t dl) {
    sluice_fake_stream* s;
    sluice_result r = lookup(f, true, &s);
    if (r != SLUICE_OK) return r;
    if (status < 100 || status > 599 || (n > 0 && hs == NULL)) return SLUICE_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < n; i++) {
        if (hs[i].name.len == 0 || !valid_bytes(hs[i].name.ptr, hs[i].name.len) ||
            !valid_bytes(hs[i].value.ptr, hs[i].value.len))
            return SLUICE_ERR_INVALID_ARGUMENT;
    }
    s->reply_status = (int)status;
    free(s->reply_body);
    free(s->reply_details);
    s->reply_body = dup_n(body, bl);
    s->reply_details = dup_n(details, dl);
    hmap* m = &s->maps[SLUICE_RESPONSE_HEADERS];
    m->exists = true;
    for (size_t i = 0; i < n; i++)
        map_add(m, (const char*)hs[i].name.ptr, hs[i].name.len, (const char*)hs[i].value.ptr, hs[i].value.len);
    s->ended = true;
    return SLUICE_OK;
}
static sluice_result cb_continue_decoding(sluice_filter_handle f) {
    sluice_fake_stream* s;
    sluice_result r = lookup(f, true, &s);
    if (r == SLUICE_OK) s->continued[0]++;
    return r;
}
static sluice_result cb_continue_encoding(sluice_filter_handle f) {
    sluice_fake_stream* s;
    sluice_result r = lookup(f, true, &s);
    if (r == SLUICE_OK) s->continued[1]++;
    return r;
}
static sluice_result cb_clear_route_cache(sluice_filter_handle f) {
    sluice_fake_stream* s;
    return lookup(f, true, &s);
}

/* ---- schedulers (commit and delete: any thread) ---- */

static sluice_scheduler_handle new_sched(uint64_t target, bool config) {
    sluice_scheduler_handle h = {0};
    pthread_mutex_lock(&mu);
    if (n_scheds < MAX_OBJECTS) {
        sched* s = &scheds[n_scheds++];
        memset(s, 0, sizeof *s);
        s->target = target;
        s->config = config;
        h.id = (uint64_t)n_scheds;
    }
    pthread_mutex_unlock(&mu);
    return h;
}
static sluice_scheduler_handle cb_scheduler_new(sluice_filter_handle f) {
    sluice_fake_stream* s;
    sluice_scheduler_handle none = {0};
    if (lookup(f, true, &s) != SLUICE_OK || sluice_on_http_filter_scheduled == NULL) return none;
    return new_sched(f.id, false);
}
static sluice_scheduler_handle cb_config_scheduler_new(sluice_config_handle c) {
    sluice_scheduler_handle none = {0};
    if (config_of(c) == NULL || sluice_on_http_filter_config_scheduled == NULL) return none;
    return new_sched(c.id, true);
}
static bool cb_scheduler_commit(sluice_scheduler_handle h, uint64_t ev) {
    bool ok = false;
    pthread_mutex_lock(&mu);
    if (h.id > 0 && h.id <= (uint64_t)n_scheds) {
        sched* s = &scheds[h.id - 1];
        void* o = objects[s->target - 1];
        bool alive = s->config ? !((sluice_fake_config*)o)->destroyed : !((sluice_fake_stream*)o)->destroyed;
        if (!s->deleted && alive && s->n < QUEUE) {
            s->q[s->n++] = ev;
            ok = true;
            pthread_cond_broadcast(&cv);
        }
    }
    pthread_mutex_unlock(&mu);
    return ok;
}
static void cb_scheduler_delete(sluice_scheduler_handle h) {
    pthread_mutex_lock(&mu);
    if (h.id > 0 && h.id <= (uint64_t)n_scheds) scheds[h.id - 1].deleted = true;
    pthread_mutex_unlock(&mu);
}

/* Takes up to cap queued events of target, waiting up to timeout_ms. */
static int take(uint64_t target, uint64_t* out, int cap, int timeout_ms) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    int n = 0;
    pthread_mutex_lock(&mu);
    for (;;) {
        for (int i = 0; i < n_scheds && n < cap; i++) {
            sched* s = &scheds[i];
            if (s->target != target) continue;
            int k = 0;
            for (; k < s->n && n < cap; k++) out[n++] = s->q[k];
            memmove(s->q, s->q + k, (size_t)(s->n - k) * sizeof s->q[0]);
            s->n -= k;
        }
        if (n > 0 || pthread_cond_timedwait(&cv, &mu, &deadline) == ETIMEDOUT) break;
    }
    pthread_mutex_unlock(&mu);
    return n;
}

int sluice_fake_run_scheduled(sluice_fake_stream* s, int want, int timeout_ms) {
    int done = 0;
    uint64_t evs[QUEUE];
    sluice_filter_handle h = {s->id};
    while (done < want) {
        int n = take(s->id, evs, QUEUE, timeout_ms);
        if (n == 0) break;
        for (int i = 0; i < n && !s->ended; i++, done++) sluice_on_http_filter_scheduled(s->module, h, evs[i]);
        if (s->ended) break;
    }
    return done;
}

int sluice_fake_config_run_scheduled(sluice_fake_config* c, int want, int timeout_ms) {
    int done = 0;
    uint64_t evs[QUEUE];
    sluice_config_handle h = {c->id};
    while (done < want) {
        int n = take(c->id, evs, QUEUE, timeout_ms);
        if (n == 0) break;
        for (int i = 0; i < n; i++, done++) sluice_on_http_filter_config_scheduled(c->module, h, evs[i]);
    }
    return done;
}

/* ---- timers (worker) ---- */

static sluice_fake_stream* timer_owner(sluice_timer_handle t, int* slot) {
    for (uint64_t i = 0; i < next_id - 1; i++) {
        if (!is_stream[i]) continue;
        sluice_fake_stream* s = (sluice_fake_stream*)objects[i];
        if (s == NULL || s->destroyed) continue;
        for (int k = 0; k < s->n_timers; k++) {
            if (s->timers[k].id == t.id) {
                *slot = k;
                return s;
            }
        }
    }
    return NULL;
}
static sluice_timer_handle cb_timer_new(sluice_filter_handle f) {
    sluice_fake_stream* s;
    sluice_timer_handle none = {0};
    if (lookup(f, true, &s) != SLUICE_OK || sluice_on_http_filter_timer == NULL || s->n_timers == 8) return none;
    sluice_timer_handle t = {next_timer++};
    s->timers[s->n_timers].id = t.id;
    s->timers[s->n_timers++].armed = false;
    return t;
}
static sluice_result cb_timer_enable(sluice_timer_handle t, uint64_t ms) {
    (void)ms;
    int k;
    sluice_fake_stream* s = timer_owner(t, &k);
    if (s == NULL) return SLUICE_ERR_INVALID_HANDLE;
    s->timers[k].armed = true;
    return SLUICE_OK;
}
static sluice_result cb_timer_disable(sluice_timer_handle t) {
    int k;
    sluice_fake_stream* s = timer_owner(t, &k);
    if (s == NULL) return SLUICE_ERR_INVALID_HANDLE;
    s->timers[k].armed = false;
    return SLUICE_OK;
}
static sluice_result cb_timer_delete(sluice_timer_handle t) {
    int k;
    sluice_fake_stream* s = timer_owner(t, &k);
    if (s == NULL) return SLUICE_ERR_INVALID_HANDLE;
    s->timers[k] = s->timers[--s->n_timers];
    return SLUICE_OK;
}

int sluice_fake_fire_timers(sluice_fake_stream* s) {
    int fired = 0;
    for (int k = 0; k < s->n_timers && !s->ended; k++) {
        if (!s->timers[k].armed) continue;
        s->timers[k].armed = false;
        sluice_timer_handle t = {s->timers[k].id};
        sluice_filter_handle h = {s->id};
        sluice_on_http_filter_timer(s->module, h, t);
        fired++;
    }
    return fired;
}

/* ---- HTTP callouts (worker / main) ---- */

#define MAX_CALLOUTS 256
#define CALLOUTS_PER_OWNER 16

typedef struct fake_callout {
    uint64_t owner; /* stream or config id */
    bool config, over, cancelled;
    char* cluster;
    hmap headers;
    buf body;
    uint32_t timeout_ms;
} fake_callout;

static fake_callout callouts[MAX_CALLOUTS]; /* handle id - 1 */
static int n_callouts;

static int in_flight(uint64_t owner) {
    int n = 0;
    for (int i = 0; i < n_callouts; i++)
        if (callouts[i].owner == owner && !callouts[i].over) n++;
    return n;
}

static sluice_result start_callout(uint64_t owner, bool config, const sluice_callout_request* r,
                                   sluice_callout_handle* out) {
    if (r == NULL || out == NULL || r->size < sizeof *r || r->cluster.len == 0) return SLUICE_ERR_INVALID_ARGUMENT;
    bool method = false, path = false;
    for (size_t i = 0; i < r->n_headers; i++) {
        const sluice_buffer* n = &r->headers[i].name;
        const sluice_buffer* v = &r->headers[i].value;
        if (n->len == 0 || !valid_bytes(n->ptr, n->len) || !valid_bytes(v->ptr, v->len))
            return SLUICE_ERR_INVALID_ARGUMENT;
        if (name_eq(":method", n->ptr, n->len)) method = v->len > 0;
        else if (name_eq(":path", n->ptr, n->len)) path = v->len > 0;
        else if (n->ptr[0] == ':' && !name_eq(":authority", n->ptr, n->len) && !name_eq(":scheme", n->ptr, n->len))
            return SLUICE_ERR_INVALID_ARGUMENT;
    }
    if (!method || !path || r->max_response_bytes > ((uint64_t)64 << 20)) return SLUICE_ERR_INVALID_ARGUMENT;
    if (config ? sluice_on_http_filter_config_callout_done == NULL : sluice_on_http_filter_callout_done == NULL)
        return SLUICE_ERR_UNAVAILABLE;
    if (in_flight(owner) >= CALLOUTS_PER_OWNER || n_callouts == MAX_CALLOUTS) return SLUICE_ERR_LIMIT;
    fake_callout* c = &callouts[n_callouts++];
    memset(c, 0, sizeof *c);
    c->owner = owner;
    c->config = config;
    c->cluster = dup_n(r->cluster.ptr, r->cluster.len);
    c->timeout_ms = r->timeout_ms;
    for (size_t i = 0; i < r->n_headers; i++)
        map_add(&c->headers, (const char*)r->headers[i].name.ptr, r->headers[i].name.len,
                (const char*)r->headers[i].value.ptr, r->headers[i].value.len);
    buf_append(&c->body, r->body.ptr, r->body.len);
    out->id = (uint64_t)n_callouts;
    return SLUICE_OK;
}

static sluice_result cb_http_callout(sluice_filter_handle f, const sluice_callout_request* r,
                                     sluice_callout_handle* out) {
    sluice_fake_stream* s;
    sluice_result res = lookup(f, true, &s);
    return res != SLUICE_OK ? res : start_callout(f.id, false, r, out);
}

static sluice_result cb_config_http_callout(sluice_config_handle c, const sluice_callout_request* r,
                                            sluice_callout_handle* out) {
    return config_of(c) == NULL ? SLUICE_ERR_INVALID_HANDLE : start_callout(c.id, true, r, out);
}

static sluice_result cb_http_callout_cancel(sluice_callout_handle h) {
    if (h.id == 0 || h.id > (uint64_t)n_callouts || callouts[h.id - 1].over) return SLUICE_ERR_INVALID_HANDLE;
    callouts[h.id - 1].over = callouts[h.id - 1].cancelled = true;
    return SLUICE_OK;
}

/* The i-th callout of owner, or NULL. */
static fake_callout* nth_callout(uint64_t owner, bool config, int i, uint64_t* id) {
    for (int k = 0; k < n_callouts; k++) {
        if (callouts[k].owner != owner || callouts[k].config != config) continue;
        if (i-- == 0) {
            if (id != NULL) *id = (uint64_t)k + 1;
            return &callouts[k];
        }
    }
    return NULL;
}

static int count_callouts(uint64_t owner, bool config) {
    int n = 0;
    for (int k = 0; k < n_callouts; k++)
        if (callouts[k].owner == owner && callouts[k].config == config) n++;
    return n;
}

static void cancel_all(uint64_t owner) {
    for (int k = 0; k < n_callouts; k++)
        if (callouts[k].owner == owner && !callouts[k].over) callouts[k].over = callouts[k].cancelled = true;
}

/* Ends callout i of owner and runs its done hook with result r. */
static bool finish_callout(uint64_t owner, bool config, void* module, int i, sluice_callout_result* r) {
    uint64_t id;
    fake_callout* c = nth_callout(owner, config, i, &id);
    if (c == NULL || c->over) return false;
    c->over = true;
    r->size = sizeof *r;
    sluice_callout_handle h = {id};
    if (config) {
        sluice_config_handle ch = {owner};
        sluice_on_http_filter_config_callout_done(module, ch, h, r);
    } else {
        sluice_filter_handle fh = {owner};
        sluice_on_http_filter_callout_done(module, fh, h, r);
    }
    return true;
}

static bool respond(uint64_t owner, bool config, void* module, int i, uint32_t status, const char* const* hs,
                    const char* body) {
    sluice_header list[64];
    size_t n = 0;
    for (; hs != NULL && hs[2 * n] != NULL && n < 64; n++) {
        list[n].name = view(hs[2 * n]);
        list[n].value = view(hs[2 * n + 1]);
    }
    sluice_callout_result r;
    memset(&r, 0, sizeof r);
    r.outcome = SLUICE_CALLOUT_OK;
    r.status = status;
    r.headers = n > 0 ? list : NULL;
    r.n_headers = n;
    r.body = view(body == NULL ? "" : body);
    return finish_callout(owner, config, module, i, &r);
}

static bool fail(uint64_t owner, bool config, void* module, int i, sluice_callout_outcome o, const char* detail) {
    sluice_callout_result r;
    memset(&r, 0, sizeof r);
    r.outcome = o;
    r.detail = view(detail == NULL ? "" : detail);
    return finish_callout(owner, config, module, i, &r);
}

int sluice_fake_callout_count(sluice_fake_stream* s) { return count_callouts(s->id, false); }
const char* sluice_fake_callout_cluster(sluice_fake_stream* s, int i) {
    fake_callout* c = nth_callout(s->id, false, i, NULL);
    return c == NULL ? NULL : c->cluster;
}
static const char* map_get(hmap* m, const char* name) {
    for (int k = 0; k < m->n; k++)
        if (strcasecmp(m->name[k], name) == 0) return m->value[k];
    return NULL;
}
const char* sluice_fake_callout_header(sluice_fake_stream* s, int i, const char* name) {
    fake_callout* c = nth_callout(s->id, false, i, NULL);
    return c == NULL ? NULL : map_get(&c->headers, name);
}
const char* sluice_fake_callout_body(sluice_fake_stream* s, int i) {
    fake_callout* c = nth_callout(s->id, false, i, NULL);
    return c == NULL ? NULL : c->body.p != NULL ? c->body.p : "";
}
uint32_t sluice_fake_callout_timeout_ms(sluice_fake_stream* s, int i) {
    fake_callout* c = nth_callout(s->id, false, i, NULL);
    return c == NULL ? 0 : c->timeout_ms;
}
bool sluice_fake_callout_cancelled(sluice_fake_stream* s, int i) {
    fake_callout* c = nth_callout(s->id, false, i, NULL);
    return c != NULL && c->cancelled;
}
bool sluice_fake_callout_respond(sluice_fake_stream* s, int i, uint32_t status, const char* const* headers,
                                 const char* body) {
    return !s->ended && respond(s->id, false, s->module, i, status, headers, body);
}
bool sluice_fake_callout_fail(sluice_fake_stream* s, int i, sluice_callout_outcome outcome, const char* detail) {
    return !s->ended && fail(s->id, false, s->module, i, outcome, detail);
}
int sluice_fake_config_callout_count(sluice_fake_config* c) { return count_callouts(c->id, true); }
const char* sluice_fake_config_callout_header(sluice_fake_config* c, int i, const char* name) {
    fake_callout* co = nth_callout(c->id, true, i, NULL);
    return co == NULL ? NULL : map_get(&co->headers, name);
}
bool sluice_fake_config_callout_cancelled(sluice_fake_config* c, int i) {
    fake_callout* co = nth_callout(c->id, true, i, NULL);
    return co != NULL && co->cancelled;
}
bool sluice_fake_config_callout_respond(sluice_fake_config* c, int i, uint32_t status, const char* const* headers,
                                        const char* body) {
    return !c->destroyed && respond(c->id, true, c->module, i, status, headers, body);
}
bool sluice_fake_config_callout_fail(sluice_fake_config* c, int i, sluice_callout_outcome outcome, const char* detail) {
    return !c->destroyed && fail(c->id, true, c->module, i, outcome, detail);
}

/* ---- stream information ---- */

static sluice_result cb_attr_string(sluice_filter_handle f, sluice_attribute_id id, sluice_buffer* out) {
    sluice_fake_stream* s;
    sluice_result r = lookup(f, false, &s);
    if (r != SLUICE_OK) return r;
    if (out == NULL) return SLUICE_ERR_INVALID_ARGUMENT;
    const char* pseudo = id == SLUICE_ATTR_REQUEST_METHOD   ? ":method"
                         : id == SLUICE_ATTR_REQUEST_PATH   ? ":path"
                         : id == SLUICE_ATTR_REQUEST_HOST   ? ":authority"
                         : id == SLUICE_ATTR_REQUEST_SCHEME ? ":scheme"
                                                            : NULL;
    if (pseudo == NULL) return id == SLUICE_ATTR_REQUEST_PROTOCOL ? (*out = view("HTTP/1.1"), SLUICE_OK)
                                                                 : SLUICE_ERR_NOT_FOUND;
    return cb_header_get(f, SLUICE_REQUEST_HEADERS, (const uint8_t*)pseudo, strlen(pseudo), 0, out, NULL);
}
static sluice_result cb_attr_int(sluice_filter_handle f, sluice_attribute_id id, int64_t* out) {
    sluice_fake_stream* s;
    sluice_result r = lookup(f, false, &s);
    if (r != SLUICE_OK) return r;
    if (out == NULL) return SLUICE_ERR_INVALID_ARGUMENT;
    switch (id) {
    case SLUICE_ATTR_CONNECTION_ID: *out = 1; return SLUICE_OK;
    case SLUICE_ATTR_STREAM_ID: *out = (int64_t)s->id; return SLUICE_OK;
    case SLUICE_ATTR_WORKER_INDEX: *out = 0; return SLUICE_OK;
    case SLUICE_ATTR_RESPONSE_CODE:
        if (s->reply_status == 0) return SLUICE_ERR_NOT_FOUND;
        *out = s->reply_status;
        return SLUICE_OK;
    }
    return SLUICE_ERR_NOT_FOUND;
}
/* Metadata lives in the request trailers' slot of an extra map, keyed
 * "ns\x1fkey" (the fake keeps it simple). */
static hmap metadata;
static sluice_result meta_set(sluice_filter_handle f, const uint8_t* ns, size_t nl, const uint8_t* k, size_t kl,
                              const char* v) {
    sluice_fake_stream* s;
    sluice_result r = lookup(f, false, &s);
    if (r != SLUICE_OK) return r;
    if (nl == 0 || kl == 0) return SLUICE_ERR_INVALID_ARGUMENT;
    char key[256];
    snprintf(key, sizeof key, "%.*s\x1f%.*s", (int)nl, (const char*)ns, (int)kl, (const char*)k);
    map_remove(&metadata, (const uint8_t*)key, strlen(key));
    map_add(&metadata, key, strlen(key), v, strlen(v));
    return SLUICE_OK;
}
static sluice_result cb_meta_set_string(sluice_filter_handle f, const uint8_t* ns, size_t nl, const uint8_t* k,
                                        size_t kl, const uint8_t* v, size_t vl) {
    char* val = dup_n(v, vl);
    sluice_result r = meta_set(f, ns, nl, k, kl, val);
    free(val);
    return r;
}
static sluice_result cb_meta_set_number(sluice_filter_handle f, const uint8_t* ns, size_t nl, const uint8_t* k,
                                        size_t kl, double v) {
    char val[64];
    snprintf(val, sizeof val, "%.17g", v);
    return meta_set(f, ns, nl, k, kl, val);
}
static sluice_result cb_meta_get_string(sluice_filter_handle f, const uint8_t* ns, size_t nl, const uint8_t* k,
                                        size_t kl, sluice_buffer* out) {
    sluice_fake_stream* s;
    sluice_result r = lookup(f, false, &s);
    if (r != SLUICE_OK) return r;
    char key[256];
    snprintf(key, sizeof key, "%.*s\x1f%.*s", (int)nl, (const char*)ns, (int)kl, (const char*)k);
    for (int i = 0; i < metadata.n; i++) {
        if (strcmp(metadata.name[i], key) == 0) {
            *out = view(metadata.value[i]);
            return SLUICE_OK;
        }
    }
    return SLUICE_ERR_NOT_FOUND;
}
static sluice_result cb_meta_get_number(sluice_filter_handle f, const uint8_t* ns, size_t nl, const uint8_t* k,
                                        size_t kl, double* out) {
    sluice_buffer v;
    sluice_result r = cb_meta_get_string(f, ns, nl, k, kl, &v);
    if (r != SLUICE_OK) return r;
    char* end;
    *out = strtod((const char*)v.ptr, &end);
    return end == (const char*)v.ptr ? SLUICE_ERR_INVALID_ARGUMENT : SLUICE_OK;
}
static sluice_result cb_per_route_config(sluice_filter_handle f, void** out) {
    sluice_fake_stream* s;
    sluice_result r = lookup(f, false, &s);
    (void)out;
    return r != SLUICE_OK ? r : SLUICE_ERR_NOT_FOUND;
}

static const sluice_host_api table = {
    .size = sizeof(sluice_host_api),
    .abi_version = SLUICE_ABI_VERSION,
    .log = cb_log,
    .log_enabled = cb_log_enabled,
    .concurrency = cb_concurrency,
    .config_reject = cb_config_reject,
    .define_counter = cb_define_counter,
    .define_gauge = cb_define_gauge,
    .define_histogram = cb_define_histogram,
    .counter_add = cb_counter_add,
    .gauge_set = cb_gauge_set,
    .gauge_add = cb_gauge_add,
    .histogram_record = cb_histogram_record,
    .header_get = cb_header_get,
    .header_values = cb_header_values,
    .headers_get = cb_headers_get,
    .header_set = cb_header_set,
    .header_add = cb_header_add,
    .header_remove = cb_header_remove,
    .body_chunks = cb_body_chunks,
    .body_size = cb_body_size,
    .body_append = cb_body_append,
    .body_drain = cb_body_drain,
    .send_response = cb_send_response,
    .continue_decoding = cb_continue_decoding,
    .continue_encoding = cb_continue_encoding,
    .clear_route_cache = cb_clear_route_cache,
    .scheduler_new = cb_scheduler_new,
    .scheduler_commit = cb_scheduler_commit,
    .scheduler_delete = cb_scheduler_delete,
    .get_attribute_string = cb_attr_string,
    .get_attribute_int = cb_attr_int,
    .metadata_set_string = cb_meta_set_string,
    .metadata_set_number = cb_meta_set_number,
    .metadata_get_string = cb_meta_get_string,
    .metadata_get_number = cb_meta_get_number,
    .per_route_config = cb_per_route_config,
    .config_scheduler_new = cb_config_scheduler_new,
    .log_filter = cb_log_filter,
    .timer_new = cb_timer_new,
    .timer_enable = cb_timer_enable,
    .timer_disable = cb_timer_disable,
    .timer_delete = cb_timer_delete,
    .define_metric = cb_define_metric,
    .report_panic = cb_report_panic,
    .inject_data = cb_inject_data,
    .http_callout = cb_http_callout,
    .config_http_callout = cb_config_http_callout,
    .http_callout_cancel = cb_http_callout_cancel,
};

/* ---- the driver ---- */

const sluice_host_api* sluice_fake_api(void) { return &table; }

bool sluice_fake_init(void) { return sluice_on_program_init(&table); }

void sluice_fake_shutdown(void) {
    if (sluice_on_program_shutdown != NULL) sluice_on_program_shutdown();
}

sluice_fake_config* sluice_fake_config_new(const char* filter_name, const char* json, const char** reason) {
    sluice_fake_config* c = (sluice_fake_config*)calloc(1, sizeof *c);
    c->id = register_object(c, false);
    c->defining = true;
    sluice_config_handle h = {c->id};
    c->module = sluice_on_http_filter_config_new(h, (const uint8_t*)filter_name, strlen(filter_name),
                                                 (const uint8_t*)json, strlen(json));
    c->defining = false;
    if (c->module == NULL) {
        static char last_reason[256];
        snprintf(last_reason, sizeof last_reason, "%s", c->reason[0] ? c->reason : "(no reason given)");
        if (reason != NULL) *reason = last_reason;
        c->destroyed = true;
        return NULL;
    }
    return c;
}

void sluice_fake_config_destroy(sluice_fake_config* c) {
    sluice_on_http_filter_config_destroy(c->module);
    cancel_all(c->id);
    pthread_mutex_lock(&mu);
    c->destroyed = true;
    pthread_mutex_unlock(&mu);
}

int64_t sluice_fake_metric(sluice_fake_config* c, const char* name) {
    int64_t v = 0;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < c->n_metrics; i++)
        if (strcmp(c->metrics[i].name, name) == 0) v = c->metrics[i].value;
    pthread_mutex_unlock(&mu);
    return v;
}

sluice_fake_stream* sluice_fake_stream_new(sluice_fake_config* c) {
    sluice_fake_stream* s = (sluice_fake_stream*)calloc(1, sizeof *s);
    s->cfg = c;
    s->id = register_object(s, true);
    s->maps[SLUICE_REQUEST_HEADERS].exists = true;
    sluice_filter_handle h = {s->id};
    s->module = sluice_on_http_filter_new(c->module, h);
    if (s->module == NULL) {
        s->destroyed = true;
        return NULL;
    }
    return s;
}

void sluice_fake_add_request_header(sluice_fake_stream* s, const char* name, const char* value) {
    map_add(&s->maps[SLUICE_REQUEST_HEADERS], name, strlen(name), value, strlen(value));
}

void sluice_fake_add_response_header(sluice_fake_stream* s, const char* name, const char* value) {
    s->maps[SLUICE_RESPONSE_HEADERS].exists = true;
    map_add(&s->maps[SLUICE_RESPONSE_HEADERS], name, strlen(name), value, strlen(value));
}

sluice_headers_status sluice_fake_request_headers(sluice_fake_stream* s, bool eos) {
    sluice_filter_handle h = {s->id};
    return sluice_on_http_filter_request_headers(s->module, h, eos);
}

sluice_headers_status sluice_fake_response_headers(sluice_fake_stream* s, bool eos) {
    sluice_filter_handle h = {s->id};
    s->maps[SLUICE_RESPONSE_HEADERS].exists = true;
    return sluice_on_http_filter_response_headers(s->module, h, eos);
}

static sluice_body_status body_hook(sluice_fake_stream* s, int dir, const char* chunk, bool eos) {
    if ((dir == 0 ? sluice_on_http_filter_request_body : sluice_on_http_filter_response_body) == NULL)
        return SLUICE_BODY_CONTINUE;
    buf* r = &s->received[dir];
    free(r->p);
    memset(r, 0, sizeof *r);
    buf_append(r, (const uint8_t*)chunk, strlen(chunk));
    sluice_filter_handle h = {s->id};
    sluice_body_status st = dir == 0 ? sluice_on_http_filter_request_body(s->module, h, eos)
                                     : sluice_on_http_filter_response_body(s->module, h, eos);
    if (st == SLUICE_BODY_STOP_ITERATION_AND_BUFFER || st == SLUICE_BODY_STOP_ITERATION_AND_WATERMARK) {
        buf_append(&s->buffered[dir], (const uint8_t*)r->p, r->len);
    } else if (st == SLUICE_BODY_CONTINUE) {
        buf_append(&s->forwarded[dir], (const uint8_t*)s->buffered[dir].p, s->buffered[dir].len);
        buf_append(&s->forwarded[dir], (const uint8_t*)r->p, r->len);
        s->buffered[dir].len = 0;
    }
    r->exists = false;
    return st;
}

sluice_body_status sluice_fake_request_body(sluice_fake_stream* s, const char* chunk, bool eos) {
    return body_hook(s, 0, chunk, eos);
}

sluice_body_status sluice_fake_response_body(sluice_fake_stream* s, const char* chunk, bool eos) {
    return body_hook(s, 1, chunk, eos);
}

const char* sluice_fake_header(sluice_fake_stream* s, sluice_header_kind kind, const char* name) {
    hmap* m = &s->maps[kind];
    for (int i = 0; i < m->n; i++)
        if (strcasecmp(m->name[i], name) == 0) return m->value[i];
    return NULL;
}

int sluice_fake_reply_status(sluice_fake_stream* s) { return s->reply_status; }
const char* sluice_fake_reply_body(sluice_fake_stream* s) { return s->reply_body ? s->reply_body : ""; }
const char* sluice_fake_reply_details(sluice_fake_stream* s) { return s->reply_details ? s->reply_details : ""; }
int sluice_fake_continue_decoding_calls(sluice_fake_stream* s) { return s->continued[0]; }
int sluice_fake_continue_encoding_calls(sluice_fake_stream* s) { return s->continued[1]; }
const char* sluice_fake_forwarded(sluice_fake_stream* s, sluice_direction d) {
    return s->forwarded[d].p ? s->forwarded[d].p : "";
}

void sluice_fake_end(sluice_fake_stream* s) {
    sluice_filter_handle h = {s->id};
    s->ended = true;
    if (sluice_on_http_filter_stream_complete != NULL) sluice_on_http_filter_stream_complete(s->module, h);
    sluice_on_http_filter_destroy(s->module);
    cancel_all(s->id);
    pthread_mutex_lock(&mu);
    s->destroyed = true; /* the object stays: stale handles must fail, not crash */
    pthread_mutex_unlock(&mu);
}

const char* sluice_fake_last_log(void) { return last_log; }
