/* inject: gives bodies to requests and responses that had none, from a
 * timer of the filter (10 ms later). Config:
 *   {"request": "inject"}  request headers that end the stream go on with
 *                          CONTINUE_AND_DONT_END_STREAM; the timer injects
 *                          "injected request body" with end_of_stream
 *   {"request": "add"}     they are held (STOP_ITERATION); the timer adds
 *                          "added request body" as the buffered body and
 *                          continues
 *   {"response": "inject"} response headers that end the stream lose
 *                          content-length and go on with
 *                          CONTINUE_AND_DONT_END_STREAM; the timer injects
 *                          "injected response body\n" with end_of_stream */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice_sdk.h"

SLUICE_DECLARE_MODULE(NULL)

typedef struct config {
    bool req_inject, req_add, resp_inject;
} config;

typedef struct filter {
    config* cfg;
    sluice_timer_handle req_timer, resp_timer;
} filter;

/* True when the JSON has "key":"value" (with or without a space). */
static bool has(const char* json, size_t n, const char* key, const char* value) {
    char a[64], b[64];
    snprintf(a, sizeof a, "\"%s\":\"%s\"", key, value);
    snprintf(b, sizeof b, "\"%s\": \"%s\"", key, value);
    return memmem(json, n, a, strlen(a)) != NULL || memmem(json, n, b, strlen(b)) != NULL;
}

void* sluice_on_http_filter_config_new(sluice_config_handle c, const uint8_t* n, size_t nl, const uint8_t* p,
                                       size_t pl) {
    (void)c, (void)n, (void)nl;
    config* cfg = (config*)calloc(1, sizeof *cfg);
    const char* json = (const char*)p;
    cfg->req_inject = has(json, pl, "request", "inject");
    cfg->req_add = has(json, pl, "request", "add");
    cfg->resp_inject = has(json, pl, "response", "inject");
    return cfg;
}

void sluice_on_http_filter_config_destroy(void* c) { free(c); }

void* sluice_on_http_filter_new(void* c, sluice_filter_handle f) {
    (void)f;
    filter* x = (filter*)calloc(1, sizeof *x);
    x->cfg = (config*)c;
    return x;
}

void sluice_on_http_filter_destroy(void* m) { free(m); }

sluice_headers_status sluice_on_http_filter_request_headers(void* m, sluice_filter_handle f, bool eos) {
    filter* x = (filter*)m;
    if (!eos || !(x->cfg->req_inject || x->cfg->req_add)) return SLUICE_HEADERS_CONTINUE;
    x->req_timer = sluice_api->timer_new(f);
    sluice_api->timer_enable(x->req_timer, 10);
    return x->cfg->req_inject ? SLUICE_HEADERS_CONTINUE_AND_DONT_END_STREAM : SLUICE_HEADERS_STOP_ITERATION;
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle f, bool eos) {
    filter* x = (filter*)m;
    if (!eos || !x->cfg->resp_inject) return SLUICE_HEADERS_CONTINUE;
    sluice_header_remove(f, SLUICE_RESPONSE_HEADERS, "content-length");
    x->resp_timer = sluice_api->timer_new(f);
    sluice_api->timer_enable(x->resp_timer, 10);
    return SLUICE_HEADERS_CONTINUE_AND_DONT_END_STREAM;
}

void sluice_on_http_filter_timer(void* m, sluice_filter_handle f, sluice_timer_handle t) {
    filter* x = (filter*)m;
    if (t.id == x->req_timer.id && x->cfg->req_inject) {
        const char* b = "injected request body";
        if (sluice_api->inject_data(f, SLUICE_DIRECTION_REQUEST, (const uint8_t*)b, strlen(b), true) != SLUICE_OK)
            sluice_send_response(f, 500, NULL, "inject failed\n", "inject_failed");
    } else if (t.id == x->req_timer.id) {
        const char* b = "added request body";
        if (sluice_api->body_append(f, SLUICE_BUFFERED_REQUEST_BODY, (const uint8_t*)b, strlen(b)) != SLUICE_OK) {
            sluice_send_response(f, 500, NULL, "add failed\n", "add_failed");
            return;
        }
        sluice_api->continue_decoding(f);
    } else if (t.id == x->resp_timer.id) {
        const char* b = "injected response body\n";
        sluice_api->inject_data(f, SLUICE_DIRECTION_RESPONSE, (const uint8_t*)b, strlen(b), true);
    }
}
