/* external_cache: the Envoy scheduler example. request_headers reads
 * `cache-key`, hands the lookup to a small fixed thread pool and stops; the
 * pool thread commits event 1 (hit: the key is "existing") or 0 (miss) and
 * deletes the scheduler it owns. on_scheduled answers a hit locally (200,
 * cached: yes, body "cached_response_body") and resumes a miss with
 * continue_decoding. Requests without the header pass through. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>

#include "sluice_sdk.h"

#define POOL_THREADS 2
#define QUEUE_CAP 1024

typedef struct job {
    sluice_scheduler_handle sched; /* owned by the job: the pool thread deletes it */
    char* key;
} job;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job q[QUEUE_CAP];
    size_t head, len;
    pthread_t threads[POOL_THREADS];
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {{{0}, NULL}}, 0, 0, {0}};

static void* pool_main(void* arg) {
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&pool.mu);
        while (pool.len == 0) pthread_cond_wait(&pool.cv, &pool.mu);
        job j = pool.q[pool.head];
        pool.head = (pool.head + 1) % QUEUE_CAP;
        pool.len--;
        pthread_mutex_unlock(&pool.mu);
        /* The "lookup": a real module would ask Redis, S3, ... here. */
        uint64_t hit = strcmp(j.key, "existing") == 0 ? 1 : 0;
        sluice_scheduler_commit(j.sched, hit);
        sluice_scheduler_delete(j.sched);
        free(j.key);
    }
    return NULL;
}

static bool submit(job j) {
    pthread_mutex_lock(&pool.mu);
    bool ok = pool.len < QUEUE_CAP;
    if (ok) {
        pool.q[(pool.head + pool.len) % QUEUE_CAP] = j;
        pool.len++;
        pthread_cond_signal(&pool.cv);
    }
    pthread_mutex_unlock(&pool.mu);
    return ok;
}

static bool init(void) {
    for (int i = 0; i < POOL_THREADS; i++) {
        if (pthread_create(&pool.threads[i], NULL, pool_main, NULL) != 0) return false;
        pthread_detach(pool.threads[i]);
    }
    return true;
}

SLUICE_DECLARE_MODULE(init)

static int config_object;

void* sluice_on_http_filter_config_new(sluice_config_handle config, const uint8_t* name_ptr, size_t name_len,
                                       const uint8_t* config_ptr, size_t config_len) {
    (void)config, (void)name_ptr, (void)name_len, (void)config_ptr, (void)config_len;
    return &config_object;
}

void sluice_on_http_filter_config_destroy(void* config) { (void)config; }

void* sluice_on_http_filter_new(void* config, sluice_filter_handle filter) {
    (void)config, (void)filter;
    return calloc(1, 1);
}

void sluice_on_http_filter_destroy(void* m) { free(m); }

sluice_headers_status sluice_on_http_filter_request_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)m, (void)eos;
    sluice_buffer key;
    if (!sluice_request_header(h, "cache-key", &key)) return SLUICE_HEADERS_CONTINUE;
    job j = {sluice_scheduler_new(h), sluice_buffer_strdup(key)};
    if (SLUICE_HANDLE_IS_NULL(j.sched) || !submit(j)) {
        sluice_scheduler_delete(j.sched);
        free(j.key);
        sluice_send_response(h, 503, NULL, "cache busy", "external_cache_busy");
        return SLUICE_HEADERS_STOP_ITERATION;
    }
    return SLUICE_HEADERS_STOP_ITERATION;
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)m, (void)h, (void)eos;
    return SLUICE_HEADERS_CONTINUE;
}

void sluice_on_http_filter_scheduled(void* m, sluice_filter_handle h, uint64_t event_id) {
    (void)m;
    if (event_id == 1) {
        sluice_send_response(h, 200, SLUICE_KV({"cached", "yes"}), "cached_response_body", "cache_hit");
    } else {
        sluice_api->continue_decoding(h);
    }
}
