/* header_mutator: sets and removes request and response headers as its
 * JSON config says:
 *   {"request_set": {"x-a": "1"}, "request_remove": ["x-b"],
 *    "response_set": {...}, "response_remove": [...]}
 * It also reports the request header count it saw in x-request-header-count
 * on the response, read with one batch call. */
#include <stdlib.h>

#include "json_lite.h"
#include "sluice_sdk.h"

SLUICE_DECLARE_MODULE(NULL)

#define MAX_ENTRIES 16

typedef struct mutations {
    char set[MAX_ENTRIES][2][128];
    size_t n_set;
    char remove[MAX_ENTRIES][128];
    size_t n_remove;
} mutations;

typedef struct config {
    mutations request, response;
} config;

typedef struct filter {
    config* cfg;
    size_t request_header_count;
} filter;

static bool field(jl* j, const char* key, void* ud) {
    config* c = (config*)ud;
    if (strcmp(key, "request_set") == 0) return jl_string_map(j, c->request.set, MAX_ENTRIES, &c->request.n_set);
    if (strcmp(key, "response_set") == 0) return jl_string_map(j, c->response.set, MAX_ENTRIES, &c->response.n_set);
    if (strcmp(key, "request_remove") == 0) return jl_string_list(j, c->request.remove, MAX_ENTRIES, &c->request.n_remove);
    if (strcmp(key, "response_remove") == 0)
        return jl_string_list(j, c->response.remove, MAX_ENTRIES, &c->response.n_remove);
    snprintf(j->err, sizeof j->err, "unknown field \"%s\"", key);
    return false;
}

void* sluice_on_http_filter_config_new(sluice_config_handle handle, const uint8_t* name_ptr, size_t name_len,
                                       const uint8_t* config_ptr, size_t config_len) {
    (void)name_ptr, (void)name_len;
    config* c = (config*)calloc(1, sizeof *c);
    jl j = {(const char*)config_ptr, (const char*)config_ptr + config_len, {0}};
    if (!jl_object(&j, field, c)) {
        sluice_config_reject(handle, j.err);
        free(c);
        return NULL;
    }
    return c;
}

void sluice_on_http_filter_config_destroy(void* c) { free(c); }

void* sluice_on_http_filter_new(void* cfg, sluice_filter_handle h) {
    (void)h;
    filter* f = (filter*)calloc(1, sizeof *f);
    f->cfg = (config*)cfg;
    return f;
}

static void apply(sluice_filter_handle h, sluice_header_kind kind, const mutations* m) {
    for (size_t i = 0; i < m->n_remove; i++) sluice_header_remove(h, kind, m->remove[i]);
    for (size_t i = 0; i < m->n_set; i++) sluice_header_set(h, kind, m->set[i][0], m->set[i][1]);
}

sluice_headers_status sluice_on_http_filter_request_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)eos;
    filter* f = (filter*)m;
    sluice_header all[64];
    size_t n = 0;
    sluice_api->headers_get(h, SLUICE_REQUEST_HEADERS, all, 64, &n);
    f->request_header_count = n;
    apply(h, SLUICE_REQUEST_HEADERS, &f->cfg->request);
    return SLUICE_HEADERS_CONTINUE;
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)eos;
    filter* f = (filter*)m;
    apply(h, SLUICE_RESPONSE_HEADERS, &f->cfg->response);
    char count[24];
    snprintf(count, sizeof count, "%zu", f->request_header_count);
    sluice_header_set(h, SLUICE_RESPONSE_HEADERS, "x-request-header-count", count);
    return SLUICE_HEADERS_CONTINUE;
}

void sluice_on_http_filter_destroy(void* m) { free(m); }
