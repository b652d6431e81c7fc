/* net_tagger: a module offering both filter kinds. Its network filter tags
 * each connection with dynamic metadata (tagger.tenant from its config,
 * tagger.port = the port the client connected to); its HTTP filter, on the
 * same connection's streams, reads that metadata back and sends it
 * upstream as x-tenant and x-connection-port. The access log shows the
 * connection's metadata too.
 * On TLS connections the network filter also records, when it hears
 * CONNECTED (after the handshake), the server name and TLS version it
 * reads as attributes (tagger.sni, tagger.tls_version); the HTTP filter
 * reads the TLS attributes itself and sends them upstream as x-tls-sni,
 * x-tls-alpn, x-tls-version, x-tls-peer-subject, x-tls-peer-sans (absent
 * on cleartext connections: the attributes are NOT_FOUND there).
 * Network config: {"tenant": "acme"}. HTTP config: none. */
#define _GNU_SOURCE
#include <stdio.h>

#include "net_common.h"

SLUICE_DECLARE_MODULE(NULL)

typedef struct ncfg {
    net_metrics m;
    char tenant[64];
} ncfg;

typedef struct nfilter {
    ncfg* cfg;
    long tid;
} nfilter;

void* sluice_on_network_filter_config_new(sluice_config_handle h, const uint8_t* name, size_t name_len,
                                          const uint8_t* json, size_t json_len) {
    (void)name, (void)name_len;
    ncfg* c = calloc(1, sizeof *c);
    sluice_json j;
    char err[160];
    static const char* const fields[] = {"tenant", NULL};
    if (!sluice_json_parse(&j, json, json_len, err, sizeof err) || !sluice_json_only(&j, fields, err, sizeof err) ||
        !sluice_json_string(&j, "tenant", true, c->tenant, sizeof c->tenant, err, sizeof err)) {
        sluice_config_reject(h, err);
        free(c);
        return NULL;
    }
    net_define_metrics(&c->m, h);
    return c;
}

void sluice_on_network_filter_config_destroy(void* c) { free(c); }

void* sluice_on_network_filter_new(void* cfg, sluice_network_filter_handle h) {
    (void)h;
    nfilter* f = calloc(1, sizeof *f);
    f->cfg = cfg;
    f->tid = net_tid();
    return f;
}

void sluice_on_network_filter_destroy(void* m) { free(m); }

sluice_network_status sluice_on_network_filter_new_connection(void* m, sluice_network_filter_handle h) {
    nfilter* f = m;
    net_check(&f->cfg->m, f->tid);
    int64_t port = 0;
    sluice_network_metadata_set_string(h, "tagger", "tenant", f->cfg->tenant);
    if (sluice_network_attribute_int(h, SLUICE_ATTR_DESTINATION_PORT, &port))
        sluice_network_metadata_set_number(h, "tagger", "port", (double)port);
    return SLUICE_NETWORK_CONTINUE;
}

/* copy a host string view into dst as a C string. */
static void cstring(char* dst, size_t size, sluice_buffer b) {
    snprintf(dst, size, "%.*s", (int)b.len, (const char*)b.ptr);
}

void sluice_on_network_filter_event(void* m, sluice_network_filter_handle h, sluice_network_event ev) {
    nfilter* f = m;
    net_check(&f->cfg->m, f->tid);
    if (ev != SLUICE_NETWORK_EVENT_CONNECTED) return;
    static const struct {
        sluice_attribute_id id;
        const char* key;
    } tls[] = {{SLUICE_ATTR_TLS_SNI, "sni"}, {SLUICE_ATTR_TLS_VERSION, "tls_version"}};
    for (size_t i = 0; i < sizeof tls / sizeof tls[0]; i++) {
        sluice_buffer b;
        char v[256];
        if (sluice_network_attribute_string(h, tls[i].id, &b)) {
            cstring(v, sizeof v, b);
            sluice_network_metadata_set_string(h, "tagger", tls[i].key, v);
        }
    }
}

sluice_network_status sluice_on_network_filter_read(void* m, sluice_network_filter_handle h, size_t len, bool eos) {
    (void)h, (void)len, (void)eos;
    nfilter* f = m;
    net_check(&f->cfg->m, f->tid);
    return SLUICE_NETWORK_CONTINUE;
}

/* ---- the HTTP filter ---- */

static int http_config;

void* sluice_on_http_filter_config_new(sluice_config_handle h, const uint8_t* name, size_t name_len,
                                       const uint8_t* json, size_t json_len) {
    (void)h, (void)name, (void)name_len, (void)json, (void)json_len;
    return &http_config;
}

void sluice_on_http_filter_config_destroy(void* c) { (void)c; }

void* sluice_on_http_filter_new(void* cfg, sluice_filter_handle h) {
    (void)h;
    return cfg;
}

void sluice_on_http_filter_destroy(void* m) { (void)m; }

sluice_headers_status sluice_on_http_filter_request_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)m, (void)eos;
    sluice_buffer tenant;
    double port;
    if (sluice_connection_metadata_get_string(h, "tagger", "tenant", &tenant)) {
        char v[64];
        cstring(v, sizeof v, tenant);
        sluice_header_set(h, SLUICE_REQUEST_HEADERS, "x-tenant", v);
    }
    if (sluice_connection_metadata_get_number(h, "tagger", "port", &port)) {
        char v[16];
        snprintf(v, sizeof v, "%.0f", port);
        sluice_header_set(h, SLUICE_REQUEST_HEADERS, "x-connection-port", v);
    }
    static const struct {
        sluice_attribute_id id;
        const char* header;
    } tls[] = {{SLUICE_ATTR_TLS_SNI, "x-tls-sni"},
               {SLUICE_ATTR_TLS_ALPN, "x-tls-alpn"},
               {SLUICE_ATTR_TLS_VERSION, "x-tls-version"},
               {SLUICE_ATTR_TLS_PEER_SUBJECT, "x-tls-peer-subject"},
               {SLUICE_ATTR_TLS_PEER_SANS, "x-tls-peer-sans"}};
    for (size_t i = 0; i < sizeof tls / sizeof tls[0]; i++) {
        sluice_buffer b;
        char v[256];
        if (sluice_attribute_string(h, tls[i].id, &b)) {
            cstring(v, sizeof v, b);
            sluice_header_set(h, SLUICE_REQUEST_HEADERS, tls[i].header, v);
        }
    }
    return SLUICE_HEADERS_CONTINUE;
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)m, (void)h, (void)eos;
    return SLUICE_HEADERS_CONTINUE;
}
