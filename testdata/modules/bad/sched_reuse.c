/* sched_reuse: the scheduler-reuse hazard, made deterministic. Each
 * stream's request_headers creates a scheduler and stops; filter_destroy
 * deletes it (the natural "cancel") and keeps the now stale handle. The
 * test then starts another stream, whose scheduler reuses the slot, and
 * commits through the stale handle from a thread of the module. The host
 * must refuse that commit (and count it); the new stream must never see
 * the event. Test hooks (exported):
 *   int      sr_late_commit(uint64_t event_id)  commit through the stale
 *            handle from a new thread; returns the result (1/0)
 *   uint64_t sr_stale(void) / sr_current(void)  the handles (ids)
 *   int      sr_delivered(int i, uint64_t* event_id)  stream id that got
 *            delivery i (-1: none), and its event
 *   int      sr_commit_current(uint64_t event_id)  commit on the live
 *            stream's scheduler (from the calling thread) */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>

#include "sluice_sdk.h"

SLUICE_DECLARE_MODULE(NULL)

typedef struct filter {
    int id;
    sluice_scheduler_handle sched;
} filter;

static int next_id;
static sluice_scheduler_handle stale, current;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int delivered_to[64];
static uint64_t delivered_ev[64];
static int n_delivered;
static int object;

void* sluice_on_http_filter_config_new(sluice_config_handle c, const uint8_t* n, size_t nl, const uint8_t* p,
                                       size_t pl) {
    (void)c, (void)n, (void)nl, (void)p, (void)pl;
    return &object;
}

void sluice_on_http_filter_config_destroy(void* c) { (void)c; }

void* sluice_on_http_filter_new(void* c, sluice_filter_handle f) {
    (void)c, (void)f;
    filter* x = (filter*)calloc(1, sizeof *x);
    x->id = ++next_id;
    return x;
}

void sluice_on_http_filter_destroy(void* m) {
    filter* x = (filter*)m;
    sluice_scheduler_delete(x->sched);
    stale = x->sched;
    free(x);
}

sluice_headers_status sluice_on_http_filter_request_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)eos;
    filter* x = (filter*)m;
    x->sched = sluice_scheduler_new(h);
    current = x->sched;
    return SLUICE_HEADERS_STOP_ITERATION;
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)m, (void)h, (void)eos;
    return SLUICE_HEADERS_CONTINUE;
}

void sluice_on_http_filter_scheduled(void* m, sluice_filter_handle h, uint64_t event_id) {
    (void)h;
    filter* x = (filter*)m;
    pthread_mutex_lock(&mu);
    if (n_delivered < 64) {
        delivered_to[n_delivered] = x->id;
        delivered_ev[n_delivered++] = event_id;
    }
    pthread_mutex_unlock(&mu);
}

typedef struct late {
    uint64_t event_id;
    int result;
} late;

static void* late_commit(void* arg) {
    late* l = (late*)arg;
    l->result = sluice_scheduler_commit(stale, l->event_id) ? 1 : 0;
    return NULL;
}

int sr_late_commit(uint64_t event_id) {
    late l = {event_id, -1};
    pthread_t t;
    if (pthread_create(&t, NULL, late_commit, &l) != 0) return -1;
    pthread_join(t, NULL);
    return l.result;
}

uint64_t sr_stale(void) { return stale.id; }
uint64_t sr_current(void) { return current.id; }
int sr_commit_current(uint64_t event_id) { return sluice_scheduler_commit(current, event_id) ? 1 : 0; }

int sr_delivered(int i, uint64_t* event_id) {
    pthread_mutex_lock(&mu);
    int id = -1;
    if (i < n_delivered) {
        id = delivered_to[i];
        *event_id = delivered_ev[i];
    }
    pthread_mutex_unlock(&mu);
    return id;
}
