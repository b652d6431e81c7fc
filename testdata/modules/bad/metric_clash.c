/* metric_clash: defines one metric chosen by its config, to show how the
 * host refuses a metric that would mean two things:
 *   {"define": "hits-counter"}  counter "hits"
 *   {"define": "hits-gauge"}    gauge "hits"        (clashes with the above)
 *   {"define": "dotted"}        counter "req.total"
 *   {"define": "underscored"}   counter "req_total" (same Prometheus family)
 *   {"define": "reserved"}      counter "panics"    (the host's own)
 * The module ignores define errors, as a careless module would: the host
 * still refuses the config. */
#define _GNU_SOURCE
#include <string.h>

#include "sluice_sdk.h"

SLUICE_DECLARE_MODULE(NULL)

static int object;

void* sluice_on_http_filter_config_new(sluice_config_handle c, const uint8_t* n, size_t nl, const uint8_t* p,
                                       size_t pl) {
    (void)n, (void)nl;
    const char* json = (const char*)p;
    if (memmem(json, pl, "hits-gauge", 10) != NULL) {
        sluice_define_gauge(c, "hits");
    } else if (memmem(json, pl, "hits-counter", 12) != NULL) {
        sluice_define_counter(c, "hits");
    } else if (memmem(json, pl, "underscored", 11) != NULL) {
        sluice_define_counter(c, "req_total");
    } else if (memmem(json, pl, "dotted", 6) != NULL) {
        sluice_define_counter(c, "req.total");
    } else if (memmem(json, pl, "reserved", 8) != NULL) {
        sluice_define_counter(c, "panics");
    }
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
    return SLUICE_HEADERS_CONTINUE;
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle f, bool eos) {
    (void)m, (void)f, (void)eos;
    return SLUICE_HEADERS_CONTINUE;
}
