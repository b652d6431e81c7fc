/* polite: a well-behaved async filter. Each stream's request_headers starts
 * a thread that commits POLITE_COMMITS events (fewer than a scheduler
 * queues), counting any commit the host refuses, and then deletes the
 * scheduler; on_scheduled resumes the request on the last event. Test
 * hooks (exported): uint64_t polite_refused(void), polite_delivered(void). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>

#include "sluice_sdk.h"

#define POLITE_COMMITS 16

SLUICE_DECLARE_MODULE(NULL)

static uint64_t refused, delivered; /* __atomic */
static int object;

uint64_t polite_refused(void) { return __atomic_load_n(&refused, __ATOMIC_ACQUIRE); }
uint64_t polite_delivered(void) { return __atomic_load_n(&delivered, __ATOMIC_ACQUIRE); }

void* sluice_on_http_filter_config_new(sluice_config_handle c, const uint8_t* n, size_t nl, const uint8_t* p,
                                       size_t pl) {
    (void)c, (void)n, (void)nl, (void)p, (void)pl;
    return &object;
}

void sluice_on_http_filter_config_destroy(void* c) { (void)c; }

void* sluice_on_http_filter_new(void* c, sluice_filter_handle f) {
    (void)c, (void)f;
    return &object;
}

void sluice_on_http_filter_destroy(void* m) { (void)m; }

static void* worker(void* arg) {
    sluice_scheduler_handle s = *(sluice_scheduler_handle*)arg;
    free(arg);
    for (uint64_t i = 1; i <= POLITE_COMMITS; i++) {
        if (!sluice_scheduler_commit(s, i)) __atomic_fetch_add(&refused, 1, __ATOMIC_RELEASE);
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
    if (SLUICE_HANDLE_IS_NULL(*s) || pthread_create(&t, NULL, worker, s) != 0) return 42;
    pthread_detach(t);
    return SLUICE_HEADERS_STOP_ITERATION;
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle f, bool eos) {
    (void)m, (void)f, (void)eos;
    return SLUICE_HEADERS_CONTINUE;
}

void sluice_on_http_filter_scheduled(void* m, sluice_filter_handle f, uint64_t event_id) {
    (void)m;
    __atomic_fetch_add(&delivered, 1, __ATOMIC_RELEASE);
    if (event_id == POLITE_COMMITS) sluice_api->continue_decoding(f);
}
