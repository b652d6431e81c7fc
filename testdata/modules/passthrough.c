/* passthrough: continues every phase. Exports only the required hooks, so
 * it also proves that absent optional hooks default to Continue. */
#include <stdlib.h>

#include "sluice_sdk.h"

SLUICE_DECLARE_MODULE(NULL)

static int config_object;
static int filter_object;

void* sluice_on_http_filter_config_new(sluice_config_handle config, const uint8_t* name_ptr, size_t name_len,
                                       const uint8_t* config_ptr, size_t config_len) {
    (void)config, (void)name_ptr, (void)name_len, (void)config_ptr, (void)config_len;
    return &config_object;
}

void sluice_on_http_filter_config_destroy(void* config) { (void)config; }

void* sluice_on_http_filter_new(void* config, sluice_filter_handle filter) {
    (void)config, (void)filter;
    return &filter_object;
}

sluice_headers_status sluice_on_http_filter_request_headers(void* m, sluice_filter_handle f, bool eos) {
    (void)m, (void)f, (void)eos;
    return SLUICE_HEADERS_CONTINUE;
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle f, bool eos) {
    (void)m, (void)f, (void)eos;
    return SLUICE_HEADERS_CONTINUE;
}

void sluice_on_http_filter_destroy(void* m) { (void)m; }
