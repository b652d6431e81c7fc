/* blocker: sleeps inside the request-headers hook for the milliseconds
 * named by the x-block-ms request header — the mistake the ABI warns
 * against (a hook that blocks stalls its whole worker). Tests use it to
 * prove that the watchdog notices a stuck worker. */
#include <stdlib.h>
#include <time.h>

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
    (void)m, (void)eos;
    sluice_buffer v;
    if (sluice_request_header(f, "x-block-ms", &v)) {
        long ms = 0;
        for (size_t i = 0; i < v.len && v.ptr[i] >= '0' && v.ptr[i] <= '9'; i++) ms = ms * 10 + (v.ptr[i] - '0');
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0) {
        }
    }
    return SLUICE_HEADERS_CONTINUE;
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle f, bool eos) {
    (void)m, (void)f, (void)eos;
    return SLUICE_HEADERS_CONTINUE;
}

void sluice_on_http_filter_destroy(void* m) { (void)m; }
