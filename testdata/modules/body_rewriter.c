/* body_rewriter: replaces every occurrence of config "from" with "to" in
 * request and response bodies, even when an occurrence spans chunks: it
 * buffers the body (STOP_ITERATION_AND_BUFFER) until end of stream, then
 * rewrites it and re-emits it as the received chunk, with the buffered body
 * emptied. Content-Length is removed in the header hooks because the length
 * changes.  Config: {"from": "foo", "to": "bar"}. */
#include <stdlib.h>

#include "json_lite.h"
#include "sluice_sdk.h"

SLUICE_DECLARE_MODULE(NULL)

typedef struct config {
    char from[128];
    char to[128];
} config;

static bool field(jl* j, const char* key, void* ud) {
    config* c = (config*)ud;
    if (strcmp(key, "from") == 0) return jl_string(j, c->from, sizeof c->from);
    if (strcmp(key, "to") == 0) return jl_string(j, c->to, sizeof c->to);
    snprintf(j->err, sizeof j->err, "unknown field \"%s\"", key);
    return false;
}

void* sluice_on_http_filter_config_new(sluice_config_handle handle, const uint8_t* name_ptr, size_t name_len,
                                       const uint8_t* config_ptr, size_t config_len) {
    (void)name_ptr, (void)name_len;
    config* c = (config*)calloc(1, sizeof *c);
    jl j = {(const char*)config_ptr, (const char*)config_ptr + config_len, {0}};
    if (!jl_object(&j, field, c) || c->from[0] == '\0') {
        sluice_config_reject(handle, j.err[0] ? j.err : "\"from\" must be a non-empty string");
        free(c);
        return NULL;
    }
    return c;
}

void sluice_on_http_filter_config_destroy(void* c) { free(c); }

void* sluice_on_http_filter_new(void* cfg, sluice_filter_handle h) {
    (void)h;
    return cfg; /* stateless per stream */
}

void sluice_on_http_filter_destroy(void* m) { (void)m; }

sluice_headers_status sluice_on_http_filter_request_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)m;
    if (!eos) sluice_header_remove(h, SLUICE_REQUEST_HEADERS, "content-length");
    return SLUICE_HEADERS_CONTINUE;
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)m;
    if (!eos) sluice_header_remove(h, SLUICE_RESPONSE_HEADERS, "content-length");
    return SLUICE_HEADERS_CONTINUE;
}

/* out = in with every `from` replaced by `to`; returns malloc'd bytes. */
static uint8_t* replace_all(const config* c, const uint8_t* in, size_t n, size_t* out_len) {
    size_t fl = strlen(c->from), tl = strlen(c->to);
    size_t cap = n + 1, len = 0;
    uint8_t* out = (uint8_t*)malloc(cap);
    for (size_t i = 0; i < n;) {
        bool hit = i + fl <= n && memcmp(in + i, c->from, fl) == 0;
        size_t add = hit ? tl : 1;
        if (len + add > cap) {
            cap = (len + add) * 2;
            out = (uint8_t*)realloc(out, cap);
        }
        if (hit) {
            memcpy(out + len, c->to, tl);
            i += fl;
        } else {
            out[len] = in[i++];
        }
        len += add;
    }
    *out_len = len;
    return out;
}

static sluice_body_status on_body(config* c, sluice_filter_handle h, bool eos, sluice_body_kind received,
                                  sluice_body_kind buffered) {
    if (!eos) return SLUICE_BODY_STOP_ITERATION_AND_BUFFER;
    uint8_t* all = NULL;
    size_t len = 0, cap = 0;
    if (sluice_body_append_to(h, buffered, &all, &len, &cap) != SLUICE_OK) len = 0;
    sluice_body_append_to(h, received, &all, &len, &cap);
    size_t out_len = 0;
    uint8_t* out = replace_all(c, all, len, &out_len);
    sluice_body_replace(h, buffered, NULL, 0);
    sluice_body_replace(h, received, out, out_len);
    free(all);
    free(out);
    return SLUICE_BODY_CONTINUE;
}

sluice_body_status sluice_on_http_filter_request_body(void* m, sluice_filter_handle h, bool eos) {
    return on_body((config*)m, h, eos, SLUICE_RECEIVED_REQUEST_BODY, SLUICE_BUFFERED_REQUEST_BODY);
}

sluice_body_status sluice_on_http_filter_response_body(void* m, sluice_filter_handle h, bool eos) {
    return on_body((config*)m, h, eos, SLUICE_RECEIVED_RESPONSE_BODY, SLUICE_BUFFERED_RESPONSE_BODY);
}
