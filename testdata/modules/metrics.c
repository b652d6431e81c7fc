/* metrics: defines a counter, a gauge and a histogram per config and keeps
 * them current: requests_total counts request_headers calls, active_filters
 * is the number of live filters, request_header_count records each
 * request's header count. config_new also bumps background_ticks once from
 * a thread of its own, with the config handle (metrics are thread-safe). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>

#include "sluice_sdk.h"

SLUICE_DECLARE_MODULE(NULL)

typedef struct config {
    sluice_config_handle handle;
    uint32_t requests, active, header_count, ticks;
} config;

typedef struct filter {
    config* cfg;
    sluice_filter_handle handle;
} filter;

static void* tick(void* arg) {
    config* c = (config*)arg;
    sluice_counter_add(c->handle, c->ticks, 1);
    return NULL;
}

void* sluice_on_http_filter_config_new(sluice_config_handle handle, const uint8_t* name_ptr, size_t name_len,
                                       const uint8_t* config_ptr, size_t config_len) {
    (void)name_ptr, (void)name_len, (void)config_ptr, (void)config_len;
    config* c = (config*)calloc(1, sizeof *c);
    c->handle = handle;
    c->requests = sluice_define_counter(handle, "requests_total");
    c->active = sluice_define_gauge(handle, "active_filters");
    c->header_count = sluice_define_histogram(handle, "request_header_count");
    c->ticks = sluice_define_counter(handle, "background_ticks");
    pthread_t t;
    if (pthread_create(&t, NULL, tick, c) != 0) {
        sluice_config_reject(handle, "cannot start thread");
        free(c);
        return NULL;
    }
    pthread_join(t, NULL);
    return c;
}

void sluice_on_http_filter_config_destroy(void* c) { free(c); }

void* sluice_on_http_filter_new(void* cfg, sluice_filter_handle h) {
    filter* f = (filter*)calloc(1, sizeof *f);
    f->cfg = (config*)cfg;
    f->handle = h;
    sluice_gauge_add(f->cfg->handle, f->cfg->active, 1);
    return f;
}

void sluice_on_http_filter_destroy(void* m) {
    filter* f = (filter*)m;
    sluice_gauge_add(f->cfg->handle, f->cfg->active, -1);
    free(f);
}

sluice_headers_status sluice_on_http_filter_request_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)eos;
    filter* f = (filter*)m;
    size_t n = 0;
    sluice_api->headers_get(h, SLUICE_REQUEST_HEADERS, NULL, 0, &n);
    sluice_counter_add(f->cfg->handle, f->cfg->requests, 1);
    sluice_histogram_record(f->cfg->handle, f->cfg->header_count, n);
    return SLUICE_HEADERS_CONTINUE;
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)m, (void)h, (void)eos;
    return SLUICE_HEADERS_CONTINUE;
}
