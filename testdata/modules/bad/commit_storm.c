/* commit_storm: request_headers starts a thread that commits
 * STORM_COMMITS events (ids 0..N-1) as fast as it can, counting the ones
 * the ring refused, then commits the final event UINT64_MAX (retrying
 * until the ring takes it) and deletes the scheduler. on_scheduled counts
 * deliveries, checks they arrive in commit order, and resumes the request
 * on the final event. Test hook (exported):
 *   void storm_stats(uint64_t* accepted, uint64_t* rejected,
 *                    uint64_t* delivered, uint64_t* out_of_order) */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "sluice_sdk.h"

#define STORM_COMMITS 200000

SLUICE_DECLARE_MODULE(NULL)

static uint64_t accepted, rejected, delivered, out_of_order; /* __atomic */

typedef struct filter {
    uint64_t last_id; /* worker only */
    bool any;
} filter;

static int object;

void* sluice_on_http_filter_config_new(sluice_config_handle c, const uint8_t* n, size_t nl, const uint8_t* p,
                                       size_t pl) {
    (void)c, (void)n, (void)nl, (void)p, (void)pl;
    return &object;
}

void sluice_on_http_filter_config_destroy(void* c) { (void)c; }

void* sluice_on_http_filter_new(void* c, sluice_filter_handle f) {
    (void)c, (void)f;
    return calloc(1, sizeof(filter));
}

void sluice_on_http_filter_destroy(void* m) { free(m); }

static void* storm(void* arg) {
    sluice_scheduler_handle s = *(sluice_scheduler_handle*)arg;
    free(arg);
    for (uint64_t i = 0; i < STORM_COMMITS; i++) {
        if (sluice_scheduler_commit(s, i)) {
            __atomic_fetch_add(&accepted, 1, __ATOMIC_RELAXED);
        } else {
            __atomic_fetch_add(&rejected, 1, __ATOMIC_RELAXED);
        }
    }
    /* Retry the final event until the queue takes it; give up after a
     * while (the host may be shutting down). */
    for (int tries = 0; !sluice_scheduler_commit(s, UINT64_MAX) && tries < 1000000; tries++) {
        sched_yield();
    }
    sluice_scheduler_delete(s);
    return NULL;
}

sluice_headers_status sluice_on_http_filter_request_headers(void* m, sluice_filter_handle f, bool eos) {
    (void)m, (void)eos;
    sluice_scheduler_handle* s = malloc(sizeof *s);
    pthread_t t;
    if (s == NULL) return 42;
    *s = sluice_scheduler_new(f);
    if (SLUICE_HANDLE_IS_NULL(*s) || pthread_create(&t, NULL, storm, s) != 0) return 42;
    pthread_detach(t);
    return SLUICE_HEADERS_STOP_ITERATION;
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle f, bool eos) {
    (void)m, (void)f, (void)eos;
    return SLUICE_HEADERS_CONTINUE;
}

void sluice_on_http_filter_scheduled(void* m, sluice_filter_handle h, uint64_t event_id) {
    filter* f = (filter*)m;
    if (event_id == UINT64_MAX) {
        sluice_api->continue_decoding(h);
        return;
    }
    if (f->any && event_id <= f->last_id) __atomic_fetch_add(&out_of_order, 1, __ATOMIC_RELAXED);
    f->any = true;
    f->last_id = event_id;
    __atomic_fetch_add(&delivered, 1, __ATOMIC_RELAXED);
}

void storm_stats(uint64_t* a, uint64_t* r, uint64_t* d, uint64_t* o) {
    *a = __atomic_load_n(&accepted, __ATOMIC_RELAXED);
    *r = __atomic_load_n(&rejected, __ATOMIC_RELAXED);
    *d = __atomic_load_n(&delivered, __ATOMIC_RELAXED);
    *o = __atomic_load_n(&out_of_order, __ATOMIC_RELAXED);
}
