/* metrics: defines a counter, a gauge and a histogram per config and keeps
 * them current: requests_total counts request_headers calls, active_filters
 * is the number of live filters, request_header_count records each
 * request's header count. config_new also bumps background_ticks once from
 * a thread of its own, with the config handle (metrics are thread-safe).
 * With define_metric: requests_by_method (counter, label "method") and
 * header_bytes (histogram, buckets 8/64/512, label "method") record each
 * request's method and the size of its header names and values. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>

#include "sluice_sdk.h"

SLUICE_DECLARE_MODULE(NULL)

typedef struct config {
    sluice_config_handle handle;
    uint32_t requests, active, header_count, ticks, by_method, header_bytes;
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
    sluice_buffer method_label = sluice_str("method");
    sluice_metric_def by_method = {sizeof(sluice_metric_def), SLUICE_METRIC_COUNTER, sluice_str("requests_by_method"),
                                   &method_label, 1, NULL, 0};
    static const uint64_t bounds[] = {8, 64, 512};
    sluice_metric_def bytes = {sizeof(sluice_metric_def), SLUICE_METRIC_HISTOGRAM, sluice_str("header_bytes"),
                               &method_label, 1, bounds, 3};
    if (sluice_api->define_metric(handle, &by_method, &c->by_method) != SLUICE_OK ||
        sluice_api->define_metric(handle, &bytes, &c->header_bytes) != SLUICE_OK) {
        sluice_config_reject(handle, "define_metric failed");
        free(c);
        return NULL;
    }
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
    sluice_buffer method;
    if (sluice_request_header(h, ":method", &method)) {
        sluice_header hs[64];
        size_t count = 0, size = 0;
        sluice_api->headers_get(h, SLUICE_REQUEST_HEADERS, hs, 64, &count);
        for (size_t i = 0; i < count && i < 64; i++) size += hs[i].name.len + hs[i].value.len;
        sluice_api->counter_add(f->cfg->handle, f->cfg->by_method, &method, 1, 1);
        sluice_api->histogram_record(f->cfg->handle, f->cfg->header_bytes, &method, 1, size);
    }
    return SLUICE_HEADERS_CONTINUE;
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)m, (void)h, (void)eos;
    return SLUICE_HEADERS_CONTINUE;
}
