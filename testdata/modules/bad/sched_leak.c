/* sched_leak: a module that never deletes its schedulers and keeps
 * committing through them from a thread of its own, for as long as the
 * process lives (through drain and exit). Each stream's request_headers
 * creates LEAK_PER_STREAM schedulers, hands their handles to the thread
 * and continues; nothing ever deletes them. The thread commits through
 * every handle it was given, round after round, stale ones included.
 * The config is the number of schedulers per stream (default 3).
 * on_scheduled counts deliveries. Test hooks (exported):
 *   void leak_stats(uint64_t* created, uint64_t* accepted,
 *                   uint64_t* refused, uint64_t* delivered)
 *   void leak_stop(void)  ends the thread and waits for it (in-process
 *                         tests, so it outlives no host it should not) */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "sluice_sdk.h"

#define LEAK_MAX_HANDLES 65536

SLUICE_DECLARE_MODULE(NULL)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static sluice_scheduler_handle handles[LEAK_MAX_HANDLES]; /* under mu */
static size_t n_handles;                                  /* under mu */
static pthread_once_t thread_once = PTHREAD_ONCE_INIT;
static pthread_t thread;
static int started, stop; /* __atomic */
static uint64_t created, accepted, refused, delivered; /* __atomic */
static int object;
static int per_stream = 3;

static void* committer(void* arg) {
    (void)arg;
    for (uint64_t round = 0; !__atomic_load_n(&stop, __ATOMIC_ACQUIRE); round++) {
        pthread_mutex_lock(&mu);
        size_t n = n_handles;
        pthread_mutex_unlock(&mu);
        for (size_t i = 0; i < n; i++) {
            pthread_mutex_lock(&mu);
            sluice_scheduler_handle h = handles[i];
            pthread_mutex_unlock(&mu);
            if (sluice_scheduler_commit(h, round)) {
                __atomic_fetch_add(&accepted, 1, __ATOMIC_RELAXED);
            } else {
                __atomic_fetch_add(&refused, 1, __ATOMIC_RELAXED);
            }
        }
        struct timespec ts = {0, 2000000}; /* 2 ms between rounds */
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void start_committer(void) {
    if (pthread_create(&thread, NULL, committer, NULL) == 0) __atomic_store_n(&started, 1, __ATOMIC_RELEASE);
}

void leak_stop(void) {
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    if (__atomic_exchange_n(&started, 0, __ATOMIC_ACQ_REL)) pthread_join(thread, NULL);
}

void leak_stats(uint64_t* c, uint64_t* a, uint64_t* r, uint64_t* d) {
    *c = __atomic_load_n(&created, __ATOMIC_RELAXED);
    *a = __atomic_load_n(&accepted, __ATOMIC_RELAXED);
    *r = __atomic_load_n(&refused, __ATOMIC_RELAXED);
    *d = __atomic_load_n(&delivered, __ATOMIC_RELAXED);
}

void* sluice_on_http_filter_config_new(sluice_config_handle c, const uint8_t* n, size_t nl, const uint8_t* p,
                                       size_t pl) {
    (void)c, (void)n, (void)nl;
    int k = 0;
    for (size_t i = 0; i < pl && p[i] >= '0' && p[i] <= '9'; i++) k = k * 10 + (p[i] - '0');
    if (k > 0 && k <= 1024) per_stream = k;
    pthread_once(&thread_once, start_committer);
    return &object;
}

void sluice_on_http_filter_config_destroy(void* c) { (void)c; }

void* sluice_on_http_filter_new(void* c, sluice_filter_handle f) {
    (void)c, (void)f;
    return &object;
}

void sluice_on_http_filter_destroy(void* m) { (void)m; } /* deletes nothing */

sluice_headers_status sluice_on_http_filter_request_headers(void* m, sluice_filter_handle f, bool eos) {
    (void)m, (void)eos;
    for (int i = 0; i < per_stream; i++) {
        sluice_scheduler_handle s = sluice_scheduler_new(f);
        if (SLUICE_HANDLE_IS_NULL(s)) continue;
        __atomic_fetch_add(&created, 1, __ATOMIC_RELAXED);
        pthread_mutex_lock(&mu);
        if (n_handles < LEAK_MAX_HANDLES) handles[n_handles++] = s;
        pthread_mutex_unlock(&mu);
    }
    return SLUICE_HEADERS_CONTINUE;
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle f, bool eos) {
    (void)m, (void)f, (void)eos;
    return SLUICE_HEADERS_CONTINUE;
}

void sluice_on_http_filter_scheduled(void* m, sluice_filter_handle h, uint64_t event_id) {
    (void)m, (void)h, (void)event_id;
    __atomic_fetch_add(&delivered, 1, __ATOMIC_RELAXED);
}
