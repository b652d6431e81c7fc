/* One source for the no_<hook> modules: built with -DOMIT_<hook>, it lacks
 * exactly that required symbol, so each load error can be asserted. */
/* Also included by init_failure.c and abi_major_mismatch.c, which set
 * PROGRAM_INIT_RESULT / MODULE_ABI_VERSION. */
#include "sluice_abi.h"

#ifndef MODULE_ABI_VERSION
#define MODULE_ABI_VERSION SLUICE_ABI_VERSION
#endif
#ifndef PROGRAM_INIT_RESULT
#define PROGRAM_INIT_RESULT true
#endif

#ifndef OMIT_module_abi_version
uint32_t sluice_module_abi_version(void) { return MODULE_ABI_VERSION; }
#endif

#ifndef OMIT_program_init
bool sluice_on_program_init(const sluice_host_api* api) { return api != NULL && PROGRAM_INIT_RESULT; }
#endif

static int object;

#ifndef OMIT_http_filter_config_new
void* sluice_on_http_filter_config_new(sluice_config_handle c, const uint8_t* n, size_t nl, const uint8_t* p,
                                       size_t pl) {
    (void)c, (void)n, (void)nl, (void)p, (void)pl;
    return &object;
}
#endif

#ifndef OMIT_http_filter_config_destroy
void sluice_on_http_filter_config_destroy(void* c) { (void)c; }
#endif

#ifndef OMIT_http_filter_new
void* sluice_on_http_filter_new(void* c, sluice_filter_handle f) {
    (void)c, (void)f;
    return &object;
}
#endif

#ifndef OMIT_http_filter_destroy
void sluice_on_http_filter_destroy(void* m) { (void)m; }
#endif

#ifndef OMIT_http_filter_request_headers
sluice_headers_status sluice_on_http_filter_request_headers(void* m, sluice_filter_handle f, bool eos) {
    (void)m, (void)f, (void)eos;
    return SLUICE_HEADERS_CONTINUE;
}
#endif

#ifndef OMIT_http_filter_response_headers
sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle f, bool eos) {
    (void)m, (void)f, (void)eos;
    return SLUICE_HEADERS_CONTINUE;
}
#endif

#ifdef EXTRA_HOOK
/* A function named like a hook that this ABI does not have. */
void EXTRA_HOOK(void* m, sluice_filter_handle f) { (void)m, (void)f; }
#endif
