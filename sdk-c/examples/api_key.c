/* api_key: lets a request through only with the configured API key.
 *
 *   config: {"key": "s3cret", "header": "x-api-key"}   ("header" optional)
 *
 * A request without the right key gets a local 401; an accepted request
 * loses the key header (upstreams never see it) and gains
 * x-authenticated: yes. Build:
 *   gcc -O2 -fPIC -shared -std=c11 -I../../abi -I.. -o api_key.so api_key.c */
#include <stdlib.h>

#include "sluice_sdk.h"

SLUICE_DECLARE_MODULE(NULL)

typedef struct config {
    sluice_config_handle handle; /* metrics are updated through it */
    char key[128];
    char header[64];
    uint32_t rejected; /* counter id */
} config;

/* A deliberately small parser for {"key": "...", "header": "..."}; real
 * modules would use a JSON library. */
static bool string_field(const char* json, size_t n, const char* name, char* out, size_t cap) {
    char pattern[80];
    snprintf(pattern, sizeof pattern, "\"%s\"", name);
    const char* end = json + n;
    for (const char* p = json; p + strlen(pattern) <= end; p++) {
        if (memcmp(p, pattern, strlen(pattern)) != 0) continue;
        p += strlen(pattern);
        while (p < end && (*p == ' ' || *p == ':')) p++;
        if (p == end || *p != '"') return false;
        const char* start = ++p;
        while (p < end && *p != '"') p++;
        if (p == end || (size_t)(p - start) >= cap) return false;
        memcpy(out, start, (size_t)(p - start));
        out[p - start] = '\0';
        return true;
    }
    return false;
}

void* sluice_on_http_filter_config_new(sluice_config_handle handle, const uint8_t* name, size_t name_len,
                                       const uint8_t* json, size_t json_len) {
    (void)name, (void)name_len;
    config* c = (config*)calloc(1, sizeof *c);
    if (!string_field((const char*)json, json_len, "key", c->key, sizeof c->key) || c->key[0] == '\0') {
        sluice_config_reject(handle, "\"key\" must be a non-empty string");
        free(c);
        return NULL;
    }
    if (!string_field((const char*)json, json_len, "header", c->header, sizeof c->header)) {
        strcpy(c->header, "x-api-key");
    }
    c->handle = handle;
    c->rejected = sluice_define_counter(handle, "rejected");
    return c;
}

void sluice_on_http_filter_config_destroy(void* c) { free(c); }

/* The filter keeps no per-stream state: the config is all it needs. */
void* sluice_on_http_filter_new(void* cfg, sluice_filter_handle h) {
    (void)h;
    return cfg;
}

void sluice_on_http_filter_destroy(void* m) { (void)m; }

sluice_headers_status sluice_on_http_filter_request_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)eos;
    config* c = (config*)m;
    sluice_buffer got;
    if (!sluice_request_header(h, c->header, &got) || !sluice_buffer_eq(got, c->key)) {
        sluice_counter_add(c->handle, c->rejected, 1);
        SLUICE_DEBUG("api_key: rejected a request (header %s)", c->header);
        sluice_send_response(h, 401, SLUICE_KV({"www-authenticate", "ApiKey"}), "missing or wrong API key\n",
                             "api_key_rejected");
        return SLUICE_HEADERS_STOP_ITERATION;
    }
    sluice_header_remove(h, SLUICE_REQUEST_HEADERS, c->header);
    sluice_header_set(h, SLUICE_REQUEST_HEADERS, "x-authenticated", "yes");
    return SLUICE_HEADERS_CONTINUE;
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)m, (void)h, (void)eos;
    return SLUICE_HEADERS_CONTINUE;
}
