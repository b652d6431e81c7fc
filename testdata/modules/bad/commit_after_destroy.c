/* commit_after_destroy: request_headers hands a scheduler to a thread that
 * waits until the filter is destroyed, then commits (event 99) and only
 * then deletes the scheduler. The host must drop that event and count it;
 * on_scheduled must never run for it. Test hooks (exported):
 *   int  cad_wait_commit(void)     blocks until the thread committed;
 *                                  returns the commit's result (1/0)
 *   long cad_scheduled_calls(void) how many on_scheduled calls happened */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>

#include "sluice_sdk.h"

SLUICE_DECLARE_MODULE(NULL)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool destroyed, committed;
static int commit_result;
static long scheduled_calls;

static int object;

void* sluice_on_http_filter_config_new(sluice_config_handle c, const uint8_t* n, size_t nl, const uint8_t* p,
                                       size_t pl) {
    (void)c, (void)n, (void)nl, (void)p, (void)pl;
    return &object;
}

void sluice_on_http_filter_config_destroy(void* c) { (void)c; }

void* sluice_on_http_filter_new(void* c, sluice_filter_handle f) {
    (void)c, (void)f;
    pthread_mutex_lock(&mu);
    destroyed = committed = false;
    pthread_mutex_unlock(&mu);
    return &object;
}

void sluice_on_http_filter_destroy(void* m) {
    (void)m;
    pthread_mutex_lock(&mu);
    destroyed = true;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void* late_committer(void* arg) {
    sluice_scheduler_handle s = *(sluice_scheduler_handle*)arg;
    free(arg);
    pthread_mutex_lock(&mu);
    while (!destroyed) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    int r = sluice_scheduler_commit(s, 99) ? 1 : 0;
    sluice_scheduler_delete(s);
    pthread_mutex_lock(&mu);
    commit_result = r;
    committed = true;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    return NULL;
}

sluice_headers_status sluice_on_http_filter_request_headers(void* m, sluice_filter_handle f, bool eos) {
    (void)m, (void)eos;
    sluice_scheduler_handle* s = malloc(sizeof *s);
    pthread_t t;
    if (s == NULL) return 42;
    *s = sluice_scheduler_new(f);
    if (SLUICE_HANDLE_IS_NULL(*s) || pthread_create(&t, NULL, late_committer, s) != 0) return 42;
    pthread_detach(t);
    return SLUICE_HEADERS_STOP_ITERATION;
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle f, bool eos) {
    (void)m, (void)f, (void)eos;
    return SLUICE_HEADERS_CONTINUE;
}

void sluice_on_http_filter_scheduled(void* m, sluice_filter_handle f, uint64_t event_id) {
    (void)m, (void)f, (void)event_id;
    pthread_mutex_lock(&mu);
    scheduled_calls++;
    pthread_mutex_unlock(&mu);
}

int cad_wait_commit(void) {
    pthread_mutex_lock(&mu);
    while (!committed) pthread_cond_wait(&cv, &mu);
    int r = commit_result;
    pthread_mutex_unlock(&mu);
    return r;
}

long cad_scheduled_calls(void) {
    pthread_mutex_lock(&mu);
    long n = scheduled_calls;
    pthread_mutex_unlock(&mu);
    return n;
}
