/* net_throttler: holds every chunk back for delay_ms, in both directions,
 * then releases it in order — with a timer on the connection's worker and
 * inject_read_data / inject_write_data. What it holds it drains (read) or
 * keeps a copy of (write) and returns STOP_ITERATION; a FIN is held and
 * released after the bytes before it. Config: {"delay_ms": 50}. Metrics:
 * timer_fires and the affinity counters. */
#define _GNU_SOURCE
#include "net_common.h"

SLUICE_DECLARE_MODULE(NULL)

typedef struct config {
    net_metrics m;
    int64_t delay_ms;
    uint32_t fires;
} config;

typedef struct queue {
    uint8_t* data;
    size_t len, cap;
    bool eos;      /* a FIN waits after the data */
    bool released; /* the FIN went on */
} queue;

typedef struct filter {
    config* cfg;
    long tid;
    sluice_timer_handle timer;
    bool armed;
    queue in, out;
} filter;

void* sluice_on_network_filter_config_new(sluice_config_handle h, const uint8_t* name, size_t name_len,
                                          const uint8_t* json, size_t json_len) {
    (void)name, (void)name_len;
    config* c = calloc(1, sizeof *c);
    sluice_json j;
    char err[160];
    static const char* const fields[] = {"delay_ms", NULL};
    c->delay_ms = 50;
    if (!sluice_json_parse(&j, json, json_len, err, sizeof err) || !sluice_json_only(&j, fields, err, sizeof err) ||
        !sluice_json_int(&j, "delay_ms", false, &c->delay_ms, err, sizeof err)) {
        sluice_config_reject(h, err);
        free(c);
        return NULL;
    }
    net_define_metrics(&c->m, h);
    c->fires = sluice_define_counter(h, "timer_fires");
    return c;
}

void sluice_on_network_filter_config_destroy(void* c) { free(c); }

void* sluice_on_network_filter_new(void* cfg, sluice_network_filter_handle h) {
    (void)h;
    filter* f = calloc(1, sizeof *f);
    f->cfg = cfg;
    f->tid = net_tid();
    return f;
}

void sluice_on_network_filter_destroy(void* m) {
    filter* f = m;
    net_check(&f->cfg->m, f->tid);
    free(f->in.data);
    free(f->out.data);
    free(f); /* the host deletes the timer with the filter */
}

static void push(queue* q, sluice_buffer b, bool eos) {
    if (q->len + b.len > q->cap) {
        size_t cap = q->cap * 2 > q->len + b.len ? q->cap * 2 : q->len + b.len;
        q->data = realloc(q->data, cap);
        q->cap = cap;
    }
    if (b.len > 0) memcpy(q->data + q->len, b.ptr, b.len);
    q->len += b.len;
    q->eos = q->eos || eos;
}

static void arm(filter* f, sluice_network_filter_handle h) {
    if (SLUICE_HANDLE_IS_NULL(f->timer)) f->timer = sluice_network_timer_new(h);
    if (!f->armed && !SLUICE_HANDLE_IS_NULL(f->timer)) {
        sluice_timer_enable(f->timer, (uint64_t)f->cfg->delay_ms);
        f->armed = true;
    }
}

sluice_network_status sluice_on_network_filter_new_connection(void* m, sluice_network_filter_handle h) {
    (void)h;
    filter* f = m;
    net_check(&f->cfg->m, f->tid);
    return SLUICE_NETWORK_CONTINUE;
}

sluice_network_status sluice_on_network_filter_read(void* m, sluice_network_filter_handle h, size_t len, bool eos) {
    (void)len;
    filter* f = m;
    net_check(&f->cfg->m, f->tid);
    if (f->in.released) return SLUICE_NETWORK_STOP_ITERATION;
    sluice_buffer b = sluice_network_read_buffer(h);
    if (b.len == 0 && (!eos || f->in.eos)) return SLUICE_NETWORK_STOP_ITERATION;
    push(&f->in, b, eos);
    sluice_network_drain(h, SLUICE_NETWORK_READ_BUFFER, b.len);
    arm(f, h);
    return SLUICE_NETWORK_STOP_ITERATION;
}

sluice_network_status sluice_on_network_filter_write(void* m, sluice_network_filter_handle h, size_t len, bool eos) {
    (void)len;
    filter* f = m;
    net_check(&f->cfg->m, f->tid);
    push(&f->out, sluice_network_write_buffer(h), eos);
    arm(f, h);
    return SLUICE_NETWORK_STOP_ITERATION;
}

void sluice_on_network_filter_timer(void* m, sluice_network_filter_handle h, sluice_timer_handle t) {
    (void)t;
    filter* f = m;
    net_check(&f->cfg->m, f->tid);
    net_count(&f->cfg->m, f->cfg->fires);
    f->armed = false;
    if (f->in.len > 0 || (f->in.eos && !f->in.released)) {
        bool eos = f->in.eos;
        f->in.released = eos;
        size_t n = f->in.len;
        f->in.len = 0;
        sluice_network_inject_read(h, f->in.data, n, eos);
    }
    if (f->out.len > 0 || (f->out.eos && !f->out.released)) {
        bool eos = f->out.eos;
        f->out.released = eos;
        size_t n = f->out.len;
        f->out.len = 0;
        sluice_network_inject_write(h, f->out.data, n, eos);
    }
}
