/* timers: request_headers holds the request and arms three timers of the
 * filter: "fire" (delay from the `x-delay-ms` header, default 20 ms),
 * "cancelled" (5 ms, then disabled) and "deleted" (5 ms, then deleted).
 * When "fire" is due, the filter answers 200 "timer fired after N ms"
 * (checking it runs on the stream's worker thread). The others must never
 * fire (if one did, the answer would be 500 "wrong timer fired"). Test hook (exported): void tm_stats(int64_t out[3]) =
 *   {fired, wrong timer fired, wrong thread} */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sluice_sdk.h"

SLUICE_DECLARE_MODULE(NULL)

static int64_t fired, wrong_timer, wrong_thread; /* __atomic */

typedef struct filter {
    sluice_timer_handle fire, cancelled;
    int64_t tid;
    uint64_t armed_at_ns;
} filter;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

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
    x->tid = (int64_t)syscall(SYS_gettid);
    return x;
}

void sluice_on_http_filter_destroy(void* m) { free(m); }

sluice_headers_status sluice_on_http_filter_request_headers(void* m, sluice_filter_handle f, bool eos) {
    (void)eos;
    filter* x = (filter*)m;
    uint64_t delay = 20;
    sluice_buffer v;
    if (sluice_request_header(f, "x-delay-ms", &v)) {
        char* s = sluice_buffer_strdup(v);
        delay = strtoull(s, NULL, 10);
        free(s);
    }
    x->fire = sluice_api->timer_new(f);
    x->cancelled = sluice_api->timer_new(f);
    sluice_timer_handle deleted = sluice_api->timer_new(f);
    if (SLUICE_HANDLE_IS_NULL(x->fire) || SLUICE_HANDLE_IS_NULL(deleted)) {
        sluice_send_response(f, 500, NULL, "no timer\n", "timers_no_timer");
        return SLUICE_HEADERS_STOP_ITERATION;
    }
    x->armed_at_ns = now_ns();
    sluice_api->timer_enable(x->fire, delay);
    sluice_api->timer_enable(x->cancelled, 5);
    sluice_api->timer_disable(x->cancelled);
    sluice_api->timer_enable(deleted, 5);
    sluice_api->timer_delete(deleted);
    return SLUICE_HEADERS_STOP_ITERATION;
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle f, bool eos) {
    (void)m, (void)f, (void)eos;
    return SLUICE_HEADERS_CONTINUE;
}

void sluice_on_http_filter_timer(void* m, sluice_filter_handle f, sluice_timer_handle t) {
    filter* x = (filter*)m;
    if ((int64_t)syscall(SYS_gettid) != x->tid) __atomic_fetch_add(&wrong_thread, 1, __ATOMIC_RELAXED);
    if (t.id != x->fire.id) {
        /* A disabled or deleted timer fired: make it visible to the client. */
        __atomic_fetch_add(&wrong_timer, 1, __ATOMIC_RELAXED);
        sluice_send_response(f, 500, NULL, "wrong timer fired\n", "timers_wrong_timer");
        return;
    }
    __atomic_fetch_add(&fired, 1, __ATOMIC_RELAXED);
    char body[64];
    snprintf(body, sizeof body, "timer fired after %llu ms\n",
             (unsigned long long)((now_ns() - x->armed_at_ns) / 1000000u));
    sluice_send_response(f, 200, NULL, body, "timer_fired");
}

void tm_stats(int64_t out[3]) {
    out[0] = __atomic_load_n(&fired, __ATOMIC_ACQUIRE);
    out[1] = __atomic_load_n(&wrong_timer, __ATOMIC_ACQUIRE);
    out[2] = __atomic_load_n(&wrong_thread, __ATOMIC_ACQUIRE);
}
