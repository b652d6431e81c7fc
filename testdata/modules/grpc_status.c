/* grpc_status: answers every request from request_headers. The filter
 * name picks how:
 *   grpc_helper   sluice_send_grpc_status (PERMISSION_DENIED, a message
 *                 that needs percent-encoding) when the request is gRPC,
 *                 else a plain 403
 *   plain_denial  sluice_send_response(403, "denied by module"): the host
 *                 turns it into a gRPC status for gRPC requests */
#include <string.h>

#include "sluice_sdk.h"

SLUICE_DECLARE_MODULE(NULL)

static int helper_config = 1, plain_config = 2;

void* sluice_on_http_filter_config_new(sluice_config_handle config, const uint8_t* name_ptr, size_t name_len,
                                       const uint8_t* config_ptr, size_t config_len) {
    (void)config_ptr, (void)config_len;
    sluice_buffer name = {name_ptr, name_len};
    if (sluice_buffer_eq(name, "grpc_helper")) return &helper_config;
    if (sluice_buffer_eq(name, "plain_denial")) return &plain_config;
    sluice_config_reject(config, "unknown filter name");
    return NULL;
}

void sluice_on_http_filter_config_destroy(void* config) { (void)config; }

void* sluice_on_http_filter_new(void* config, sluice_filter_handle filter) {
    (void)filter;
    return config;
}

sluice_headers_status sluice_on_http_filter_request_headers(void* m, sluice_filter_handle f, bool eos) {
    (void)eos;
    if (m == &helper_config && sluice_request_is_grpc(f)) {
        sluice_send_grpc_status(f, SLUICE_GRPC_PERMISSION_DENIED, "caller not allowed: 100% sure\n", "grpc_denied");
    } else {
        sluice_send_response(f, 403, NULL, "denied by module", "module_denied");
    }
    return SLUICE_HEADERS_STOP_ITERATION;
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle f, bool eos) {
    (void)m, (void)f, (void)eos;
    return SLUICE_HEADERS_CONTINUE;
}

void sluice_on_http_filter_destroy(void* m) { (void)m; }
