/* net_gatekeeper: a network filter that lets a connection through only
 * after a decision made on a thread of its own — seed 002's gatekeeper.
 *
 * The client's first line is "HELLO <token>\n". The filter stops the chain
 * in new_connection (so tcp_proxy after it does not connect upstream yet)
 * and keeps stopping while it waits; once the line is complete it hands the
 * token to a thread, which decides (after delay_ms) and commits through a
 * scheduler. On the worker, on_scheduled either drains the HELLO line, tags
 * the connection (metadata gatekeeper.token) and continues reading — the
 * rest of what the client sent goes on, without waiting for another byte —
 * or answers "DENIED\n" and closes.
 *
 * Config: {"allow": "<token>", "delay_ms": 20}; for the containment tests,
 * "never_decide": true (it stops and never continues) and "bad_status":
 * true (read returns 7, not a status). Metrics: allowed, denied, and the
 * affinity counters of net_common.h. */
#define _GNU_SOURCE
#include <pthread.h>
#include <time.h>

#include "net_common.h"

SLUICE_DECLARE_MODULE(NULL)

typedef struct config {
    net_metrics m;
    char allow[64];
    int64_t delay_ms;
    bool never_decide, bad_status;
    uint32_t allowed, denied;
} config;

typedef struct filter {
    config* cfg;
    long tid;
    bool asked, decided;
    sluice_scheduler_handle sched;
} filter;

void* sluice_on_network_filter_config_new(sluice_config_handle h, const uint8_t* name, size_t name_len,
                                          const uint8_t* json, size_t json_len) {
    (void)name, (void)name_len;
    config* c = calloc(1, sizeof *c);
    sluice_json j;
    char err[160];
    static const char* const fields[] = {"allow", "delay_ms", "never_decide", "bad_status", NULL};
    c->delay_ms = 20;
    if (!sluice_json_parse(&j, json, json_len, err, sizeof err) || !sluice_json_only(&j, fields, err, sizeof err) ||
        !sluice_json_string(&j, "allow", true, c->allow, sizeof c->allow, err, sizeof err) ||
        !sluice_json_int(&j, "delay_ms", false, &c->delay_ms, err, sizeof err) ||
        !sluice_json_bool(&j, "never_decide", false, &c->never_decide, err, sizeof err) ||
        !sluice_json_bool(&j, "bad_status", false, &c->bad_status, err, sizeof err)) {
        sluice_config_reject(h, err);
        free(c);
        return NULL;
    }
    net_define_metrics(&c->m, h);
    c->allowed = sluice_define_counter(h, "allowed");
    c->denied = sluice_define_counter(h, "denied");
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
    /* Deleting the scheduler is the cancel: a decision still on its way is
     * refused or dropped, never delivered to another connection. */
    sluice_scheduler_delete(f->sched);
    free(f);
}

sluice_network_status sluice_on_network_filter_new_connection(void* m, sluice_network_filter_handle h) {
    (void)h;
    filter* f = m;
    net_check(&f->cfg->m, f->tid);
    return SLUICE_NETWORK_STOP_ITERATION;
}

typedef struct job {
    sluice_scheduler_handle sched;
    bool allow;
    int64_t delay_ms;
} job;

static void* decide(void* arg) {
    job* j = arg;
    struct timespec ts = {j->delay_ms / 1000, (j->delay_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
    sluice_scheduler_commit(j->sched, j->allow ? 1 : 2);
    free(j);
    return NULL;
}

sluice_network_status sluice_on_network_filter_read(void* m, sluice_network_filter_handle h, size_t len, bool eos) {
    (void)len;
    filter* f = m;
    net_check(&f->cfg->m, f->tid);
    if (f->cfg->bad_status) return 7;
    if (f->decided) return SLUICE_NETWORK_CONTINUE;
    if (f->asked || f->cfg->never_decide) return SLUICE_NETWORK_STOP_ITERATION;
    sluice_buffer b = sluice_network_read_buffer(h);
    const uint8_t* nl = b.len > 0 ? memchr(b.ptr, '\n', b.len) : NULL;
    if (nl == NULL) {
        if (eos || b.len > 256) sluice_network_close(h, SLUICE_CLOSE_ABORT); /* no HELLO line */
        return SLUICE_NETWORK_STOP_ITERATION;
    }
    size_t line = (size_t)(nl - b.ptr);
    bool allow = line > 6 && memcmp(b.ptr, "HELLO ", 6) == 0 && line - 6 == strlen(f->cfg->allow) &&
                 memcmp(b.ptr + 6, f->cfg->allow, line - 6) == 0;
    f->sched = sluice_network_scheduler_new(h);
    job* j = malloc(sizeof *j);
    pthread_t t;
    if (SLUICE_HANDLE_IS_NULL(f->sched) || j == NULL) {
        free(j);
        sluice_network_close(h, SLUICE_CLOSE_ABORT);
        return SLUICE_NETWORK_STOP_ITERATION;
    }
    j->sched = f->sched;
    j->allow = allow;
    j->delay_ms = f->cfg->delay_ms;
    if (pthread_create(&t, NULL, decide, j) != 0) {
        free(j);
        sluice_network_close(h, SLUICE_CLOSE_ABORT);
        return SLUICE_NETWORK_STOP_ITERATION;
    }
    pthread_detach(t);
    f->asked = true;
    return SLUICE_NETWORK_STOP_ITERATION;
}

void sluice_on_network_filter_scheduled(void* m, sluice_network_filter_handle h, uint64_t event) {
    filter* f = m;
    net_check(&f->cfg->m, f->tid);
    f->decided = true;
    if (event != 1) {
        net_count(&f->cfg->m, f->cfg->denied);
        sluice_network_write_str(h, "DENIED\n", false);
        sluice_network_close(h, SLUICE_CLOSE_FLUSH);
        return;
    }
    net_count(&f->cfg->m, f->cfg->allowed);
    sluice_buffer b = sluice_network_read_buffer(h);
    const uint8_t* nl = memchr(b.ptr, '\n', b.len);
    char token[64];
    size_t n = (size_t)(nl - b.ptr) - 6;
    memcpy(token, b.ptr + 6, n < sizeof token ? n : sizeof token - 1);
    token[n < sizeof token ? n : sizeof token - 1] = '\0';
    sluice_network_drain(h, SLUICE_NETWORK_READ_BUFFER, (size_t)(nl - b.ptr) + 1);
    sluice_network_metadata_set_string(h, "gatekeeper", "token", token);
    sluice_network_log(h, SLUICE_LOG_INFO, "gatekeeper: connection allowed");
    sluice_network_continue_reading(h);
}

void sluice_on_network_filter_event(void* m, sluice_network_filter_handle h, sluice_network_event ev) {
    (void)h, (void)ev;
    filter* f = m;
    net_check(&f->cfg->m, f->tid);
}
