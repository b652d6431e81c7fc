/* upgrade_probe: reports what it saw of a protocol switch. On the request
 * it copies the Upgrade and Connection values it saw into
 * x-probe-request-upgrade / x-probe-request-connection (so the upstream
 * shows them); on the response it copies the request's Upgrade, the
 * response's :status and Upgrade, and the end_stream flag into
 * x-probe-* response headers (so the client shows them). "-" stands for
 * an absent header. */
#include <stdio.h>
#include <stdlib.h>

#include "sluice_sdk.h"

SLUICE_DECLARE_MODULE(NULL)

static int config_object;

typedef struct filter {
    char request_upgrade[128];
} filter;

void* sluice_on_http_filter_config_new(sluice_config_handle config, const uint8_t* name_ptr, size_t name_len,
                                       const uint8_t* config_ptr, size_t config_len) {
    (void)config, (void)name_ptr, (void)name_len, (void)config_ptr, (void)config_len;
    return &config_object;
}

void sluice_on_http_filter_config_destroy(void* config) { (void)config; }

void* sluice_on_http_filter_new(void* config, sluice_filter_handle h) {
    (void)config, (void)h;
    return calloc(1, sizeof(filter));
}

/* copy_header writes a header's first value (or "-") into dst. */
static void copy_header(sluice_filter_handle h, sluice_header_kind kind, const char* name, char* dst, size_t cap) {
    sluice_buffer v;
    if (!sluice_header_get(h, kind, name, &v)) {
        snprintf(dst, cap, "-");
        return;
    }
    snprintf(dst, cap, "%.*s", (int)v.len, (const char*)v.ptr);
}

sluice_headers_status sluice_on_http_filter_request_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)eos;
    filter* f = (filter*)m;
    char connection[128];
    copy_header(h, SLUICE_REQUEST_HEADERS, "upgrade", f->request_upgrade, sizeof f->request_upgrade);
    copy_header(h, SLUICE_REQUEST_HEADERS, "connection", connection, sizeof connection);
    sluice_header_set(h, SLUICE_REQUEST_HEADERS, "x-probe-request-upgrade", f->request_upgrade);
    sluice_header_set(h, SLUICE_REQUEST_HEADERS, "x-probe-request-connection", connection);
    return SLUICE_HEADERS_CONTINUE;
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle h, bool eos) {
    filter* f = (filter*)m;
    char status[16], upgrade[128];
    copy_header(h, SLUICE_RESPONSE_HEADERS, ":status", status, sizeof status);
    copy_header(h, SLUICE_RESPONSE_HEADERS, "upgrade", upgrade, sizeof upgrade);
    sluice_header_set(h, SLUICE_RESPONSE_HEADERS, "x-probe-request-upgrade", f->request_upgrade);
    sluice_header_set(h, SLUICE_RESPONSE_HEADERS, "x-probe-status", status);
    sluice_header_set(h, SLUICE_RESPONSE_HEADERS, "x-probe-response-upgrade", upgrade);
    sluice_header_set(h, SLUICE_RESPONSE_HEADERS, "x-probe-end-stream", eos ? "true" : "false");
    return SLUICE_HEADERS_CONTINUE;
}

void sluice_on_http_filter_destroy(void* m) { free(m); }
