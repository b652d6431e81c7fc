/* invalid_status: request_headers returns 42, which no status enum has. */
#include "sluice_sdk.h"

SLUICE_DECLARE_MODULE(NULL)

static int object;

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

sluice_headers_status sluice_on_http_filter_request_headers(void* m, sluice_filter_handle f, bool eos) {
    (void)m, (void)f, (void)eos;
    return 42;
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle f, bool eos) {
    (void)m, (void)f, (void)eos;
    return SLUICE_HEADERS_CONTINUE;
}
