/* thread_affinity: records gettid() when the filter is created and checks
 * it in every hook, including on_scheduled. request_headers also starts a
 * thread that commits event 7 from outside the worker and stops the request
 * until then. A mismatch anywhere fails the stream with a local 500
 * ("thread_affinity_violation"); otherwise the response carries
 * x-thread-affinity: ok and the number of hooks checked. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sluice_sdk.h"

SLUICE_DECLARE_MODULE(NULL)

typedef struct filter {
    long tid;
    bool violated;
    int hooks;
} filter;

static long tid(void) { return (long)syscall(SYS_gettid); }

static void check(filter* f) {
    f->hooks++;
    if (tid() != f->tid) f->violated = true;
}

static int config_object;

void* sluice_on_http_filter_config_new(sluice_config_handle config, const uint8_t* name_ptr, size_t name_len,
                                       const uint8_t* config_ptr, size_t config_len) {
    (void)config, (void)name_ptr, (void)name_len, (void)config_ptr, (void)config_len;
    return &config_object;
}

void sluice_on_http_filter_config_destroy(void* config) { (void)config; }

void* sluice_on_http_filter_new(void* config, sluice_filter_handle h) {
    (void)config, (void)h;
    filter* f = (filter*)calloc(1, sizeof *f);
    f->tid = tid();
    return f;
}

void sluice_on_http_filter_destroy(void* m) { free(m); }

static void* committer(void* arg) {
    sluice_scheduler_handle s = *(sluice_scheduler_handle*)arg;
    free(arg);
    sluice_scheduler_commit(s, 7);
    sluice_scheduler_delete(s);
    return NULL;
}

sluice_headers_status sluice_on_http_filter_request_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)eos;
    filter* f = (filter*)m;
    check(f);
    sluice_scheduler_handle s = sluice_scheduler_new(h);
    sluice_scheduler_handle* arg = malloc(sizeof *arg);
    pthread_t t;
    if (arg != NULL) *arg = s;
    if (SLUICE_HANDLE_IS_NULL(s) || arg == NULL || pthread_create(&t, NULL, committer, arg) != 0) {
        free(arg);
        sluice_scheduler_delete(s);
        sluice_send_response(h, 500, NULL, "no scheduler", "thread_affinity_no_scheduler");
        return SLUICE_HEADERS_STOP_ITERATION;
    }
    pthread_detach(t);
    return SLUICE_HEADERS_STOP_ITERATION;
}

void sluice_on_http_filter_scheduled(void* m, sluice_filter_handle h, uint64_t event_id) {
    filter* f = (filter*)m;
    check(f);
    if (f->violated || event_id != 7) {
        sluice_send_response(h, 500, NULL, "thread affinity violated", "thread_affinity_violation");
        return;
    }
    sluice_api->continue_decoding(h);
}

sluice_body_status sluice_on_http_filter_request_body(void* m, sluice_filter_handle h, bool eos) {
    (void)h, (void)eos;
    check((filter*)m);
    return SLUICE_BODY_CONTINUE;
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)eos;
    filter* f = (filter*)m;
    check(f);
    if (f->violated) {
        sluice_send_response(h, 500, NULL, "thread affinity violated", "thread_affinity_violation");
        return SLUICE_HEADERS_STOP_ITERATION;
    }
    char n[16];
    snprintf(n, sizeof n, "%d", f->hooks);
    sluice_header_set(h, SLUICE_RESPONSE_HEADERS, "x-thread-affinity", "ok");
    sluice_header_set(h, SLUICE_RESPONSE_HEADERS, "x-hooks-checked", n);
    return SLUICE_HEADERS_CONTINUE;
}

sluice_body_status sluice_on_http_filter_response_body(void* m, sluice_filter_handle h, bool eos) {
    (void)h, (void)eos;
    check((filter*)m);
    return SLUICE_BODY_CONTINUE;
}

void sluice_on_http_filter_stream_complete(void* m, sluice_filter_handle h) {
    (void)h;
    check((filter*)m);
}
