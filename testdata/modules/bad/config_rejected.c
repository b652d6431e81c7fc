/* config_rejected: rejects every config, giving a reason, unless the
 * config is exactly {"ok":true}. Filters pass through. */
#include <string.h>

#include "sluice_sdk.h"

SLUICE_DECLARE_MODULE(NULL)

static int object;

void* sluice_on_http_filter_config_new(sluice_config_handle c, const uint8_t* n, size_t nl, const uint8_t* p,
                                       size_t pl) {
    (void)n, (void)nl;
    const char* ok = "{\"ok\":true}";
    if (pl == strlen(ok) && memcmp(p, ok, pl) == 0) return &object;
    sluice_config_reject(c, "field \"ok\" must be true");
    return NULL;
}

void sluice_on_http_filter_config_destroy(void* c) { (void)c; }

void* sluice_on_http_filter_new(void* c, sluice_filter_handle f) {
    (void)c, (void)f;
    return &object;
}

void sluice_on_http_filter_destroy(void* m) { (void)m; }

sluice_headers_status sluice_on_http_filter_request_headers(void* m, sluice_filter_handle f, bool eos) {
    (void)m, (void)f, (void)eos;
    return SLUICE_HEADERS_CONTINUE;
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle f, bool eos) {
    (void)m, (void)f, (void)eos;
    return SLUICE_HEADERS_CONTINUE;
}
