/* lifecycle: the module "main" thread, config-level schedulers, stream
 * context in logs, and the program shutdown hook.
 *  - every program/config hook checks it runs on the one thread that ran
 *    program_init (violations are counted);
 *  - config_new creates a config-level scheduler and a background thread
 *    that commits 3 "refresh" events, then waits; config_scheduled counts
 *    them (on the main thread);
 *  - request_headers logs through log_filter;
 *  - program_shutdown stops and joins the background threads; a commit
 *    made after config_destroy is refused (counted).
 * Test hooks (exported): void lc_stats(int64_t out[7]) =
 *   {main tid, violations, config events, shutdowns, threads running,
 *    inits, commits refused after destroy} */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sluice_sdk.h"

static int64_t main_tid, violations, config_events, shutdowns, running, inits, refused_after_destroy; /* __atomic */

static int64_t tid(void) { return (int64_t)syscall(SYS_gettid); }

static void check_main(void) {
    if (tid() != __atomic_load_n(&main_tid, __ATOMIC_ACQUIRE)) __atomic_fetch_add(&violations, 1, __ATOMIC_RELAXED);
}

static bool init(void) {
    __atomic_store_n(&main_tid, tid(), __ATOMIC_RELEASE);
    __atomic_fetch_add(&inits, 1, __ATOMIC_RELAXED);
    return true;
}

SLUICE_DECLARE_MODULE(init)

typedef struct config {
    sluice_scheduler_handle sched;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool destroyed, stop;
    struct config* next; /* every config ever made, for shutdown */
} config;

static pthread_mutex_t all_mu = PTHREAD_MUTEX_INITIALIZER;
static config* all;

static void* background(void* arg) {
    config* c = (config*)arg;
    for (uint64_t i = 1; i <= 3; i++) sluice_scheduler_commit(c->sched, i);
    pthread_mutex_lock(&c->mu);
    while (!c->destroyed && !c->stop) pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
    /* The config is gone: the host refuses this one. */
    if (!sluice_scheduler_commit(c->sched, 99)) __atomic_fetch_add(&refused_after_destroy, 1, __ATOMIC_RELAXED);
    sluice_scheduler_delete(c->sched);
    pthread_mutex_lock(&c->mu);
    while (!c->stop) pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
    __atomic_fetch_sub(&running, 1, __ATOMIC_RELAXED);
    return NULL;
}

void* sluice_on_http_filter_config_new(sluice_config_handle h, const uint8_t* n, size_t nl, const uint8_t* p,
                                       size_t pl) {
    (void)n, (void)nl, (void)p, (void)pl;
    check_main();
    config* c = (config*)calloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->sched = sluice_api->config_scheduler_new(h);
    if (SLUICE_HANDLE_IS_NULL(c->sched)) {
        sluice_config_reject(h, "no config scheduler");
        free(c);
        return NULL;
    }
    __atomic_fetch_add(&running, 1, __ATOMIC_RELAXED);
    pthread_create(&c->thread, NULL, background, c);
    pthread_mutex_lock(&all_mu);
    c->next = all;
    all = c;
    pthread_mutex_unlock(&all_mu);
    return c;
}

void sluice_on_http_filter_config_scheduled(void* cfg, sluice_config_handle h, uint64_t event_id) {
    (void)cfg, (void)h, (void)event_id;
    check_main();
    __atomic_fetch_add(&config_events, 1, __ATOMIC_RELAXED);
}

/* Freed at shutdown, after the thread is joined. */
void sluice_on_http_filter_config_destroy(void* cfg) {
    check_main();
    config* c = (config*)cfg;
    pthread_mutex_lock(&c->mu);
    c->destroyed = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

void sluice_on_program_shutdown(void) {
    check_main();
    pthread_mutex_lock(&all_mu);
    config* c = all;
    all = NULL;
    pthread_mutex_unlock(&all_mu);
    while (c != NULL) {
        pthread_mutex_lock(&c->mu);
        c->stop = true;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->thread, NULL);
        config* next = c->next;
        free(c);
        c = next;
    }
    __atomic_fetch_add(&shutdowns, 1, __ATOMIC_RELAXED);
    SLUICE_INFO("lifecycle shutdown: background threads joined (%lld config events)",
                (long long)__atomic_load_n(&config_events, __ATOMIC_ACQUIRE));
}

void* sluice_on_http_filter_new(void* c, sluice_filter_handle f) {
    (void)f;
    return c;
}

void sluice_on_http_filter_destroy(void* m) { (void)m; }

sluice_headers_status sluice_on_http_filter_request_headers(void* m, sluice_filter_handle f, bool eos) {
    (void)m, (void)eos;
    sluice_log_filter(f, SLUICE_LOG_INFO, "lifecycle saw the request");
    return SLUICE_HEADERS_CONTINUE;
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle f, bool eos) {
    (void)m, (void)f, (void)eos;
    return SLUICE_HEADERS_CONTINUE;
}

void lc_stats(int64_t out[7]) {
    out[0] = __atomic_load_n(&main_tid, __ATOMIC_ACQUIRE);
    out[1] = __atomic_load_n(&violations, __ATOMIC_ACQUIRE);
    out[2] = __atomic_load_n(&config_events, __ATOMIC_ACQUIRE);
    out[3] = __atomic_load_n(&shutdowns, __ATOMIC_ACQUIRE);
    out[4] = __atomic_load_n(&running, __ATOMIC_ACQUIRE);
    out[5] = __atomic_load_n(&inits, __ATOMIC_ACQUIRE);
    out[6] = __atomic_load_n(&refused_after_destroy, __ATOMIC_ACQUIRE);
}
