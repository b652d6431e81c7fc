/* sched_bench: measures the scheduler from the module side. Each stream's
 * request_headers creates a scheduler (kept in a global table) and stops.
 * Exported for the Go benchmarks:
 *   int      sb_schedulers(void)                   how many exist
 *   void     sb_latency(int idx, int n, uint64_t* out_ns, int spin)
 *            n commits on scheduler idx, one at a time: out_ns[i] is the
 *            time from just before commit to the start of on_scheduled;
 *            between events the producer sleeps (spin 0) or spins (1)
 *   uint64_t sb_throughput(int threads, uint64_t per_thread)
 *            threads module threads commit per_thread events each, round
 *            robin over the schedulers (retrying when a ring is full);
 *            returns ns until every event was delivered (0: not all
 *            delivered within 20 s)
 *   int      sb_commit_once(int idx)               one commit, its result
 *   void     sb_reset(void)                        delete all schedulers */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "sluice_sdk.h"

SLUICE_DECLARE_MODULE(NULL)

#define MAX_SCHEDS 16

static sluice_scheduler_handle scheds[MAX_SCHEDS];
static int n_scheds;
static uint64_t delivered;  /* __atomic */
static uint64_t commit_ns;  /* __atomic: latency mode, time of the pending commit */
static uint64_t latency_ns; /* __atomic: last measured latency, 0 = pending */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int sb_schedulers(void) { return n_scheds; }

void sb_reset(void) {
    for (int i = 0; i < n_scheds; i++) sluice_scheduler_delete(scheds[i]);
    n_scheds = 0;
    __atomic_store_n(&delivered, 0, __ATOMIC_SEQ_CST);
}

/* One commit on scheduler idx; returns its result (1 queued, 0 refused). */
int sb_commit_once(int idx) { return sluice_scheduler_commit(scheds[idx], 3) ? 1 : 0; }

/* Between events the producer either sleeps on a condvar (like a pool
 * thread waiting for its next job) or spins with sched_yield. */
static pthread_mutex_t lat_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t lat_cv = PTHREAD_COND_INITIALIZER;

void sb_latency(int idx, int n, uint64_t* out, int spin) {
    for (int i = 0; i < n; i++) {
        __atomic_store_n(&latency_ns, 0, __ATOMIC_SEQ_CST);
        __atomic_store_n(&commit_ns, now_ns(), __ATOMIC_SEQ_CST);
        sluice_scheduler_commit(scheds[idx], 1);
        if (spin) {
            while (__atomic_load_n(&latency_ns, __ATOMIC_ACQUIRE) == 0) sched_yield();
        } else {
            pthread_mutex_lock(&lat_mu);
            while (__atomic_load_n(&latency_ns, __ATOMIC_ACQUIRE) == 0) pthread_cond_wait(&lat_cv, &lat_mu);
            pthread_mutex_unlock(&lat_mu);
        }
        out[i] = __atomic_load_n(&latency_ns, __ATOMIC_ACQUIRE);
    }
}

typedef struct job {
    int index;
    uint64_t count;
} job;

static void* producer(void* arg) {
    job* j = (job*)arg;
    sluice_scheduler_handle s = scheds[j->index % n_scheds];
    for (uint64_t i = 0; i < j->count; i++) {
        while (!sluice_scheduler_commit(s, 2)) sched_yield();
    }
    return NULL;
}

uint64_t sb_throughput(int threads, uint64_t per_thread) {
    pthread_t ts[16];
    job jobs[16];
    if (threads > 16) threads = 16;
    uint64_t start_delivered = __atomic_load_n(&delivered, __ATOMIC_ACQUIRE);
    uint64_t total = (uint64_t)threads * per_thread;
    uint64_t t0 = now_ns();
    for (int i = 0; i < threads; i++) {
        jobs[i].index = i;
        jobs[i].count = per_thread;
        pthread_create(&ts[i], NULL, producer, &jobs[i]);
    }
    for (int i = 0; i < threads; i++) pthread_join(ts[i], NULL);
    while (__atomic_load_n(&delivered, __ATOMIC_ACQUIRE) - start_delivered < total) {
        if (now_ns() - t0 > 20000000000u) return 0; /* lost events: give up after 20 s */
        sched_yield();
    }
    return now_ns() - t0;
}

static int object;
static uint32_t bench_counter;

/* The counter sb_counter_loop may use (defined by config_new). */
uint32_t sb_counter_id(void) { return bench_counter; }

void* sluice_on_http_filter_config_new(sluice_config_handle c, const uint8_t* n, size_t nl, const uint8_t* p,
                                       size_t pl) {
    (void)n, (void)nl, (void)p, (void)pl;
    bench_counter = sluice_define_counter(c, "bench");
    return &object;
}

void sluice_on_http_filter_config_destroy(void* c) { (void)c; }

void* sluice_on_http_filter_new(void* c, sluice_filter_handle f) {
    (void)c, (void)f;
    return &object;
}

void sluice_on_http_filter_destroy(void* m) { (void)m; }

sluice_headers_status sluice_on_http_filter_request_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)m, (void)eos;
    if (n_scheds < MAX_SCHEDS) {
        sluice_scheduler_handle s = sluice_scheduler_new(h);
        if (!SLUICE_HANDLE_IS_NULL(s)) scheds[n_scheds++] = s;
    }
    return SLUICE_HEADERS_STOP_ITERATION;
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)m, (void)h, (void)eos;
    return SLUICE_HEADERS_CONTINUE;
}

void sluice_on_http_filter_scheduled(void* m, sluice_filter_handle h, uint64_t event_id) {
    (void)m, (void)h;
    if (event_id == 1) {
        uint64_t l = now_ns() - __atomic_load_n(&commit_ns, __ATOMIC_ACQUIRE) + 1;
        pthread_mutex_lock(&lat_mu);
        __atomic_store_n(&latency_ns, l, __ATOMIC_RELEASE);
        pthread_cond_signal(&lat_cv);
        pthread_mutex_unlock(&lat_mu);
    } else {
        __atomic_fetch_add(&delivered, 1, __ATOMIC_RELEASE);
    }
}

/* A module-side loop over a thread-safe host callback (C -> Go on the
 * calling thread), for the callback benchmark. */
void sb_counter_loop(uint64_t handle, uint32_t id, int n) {
    sluice_config_handle c = {handle};
    for (int i = 0; i < n; i++) sluice_api->counter_add(c, id, NULL, 0, 1);
}

