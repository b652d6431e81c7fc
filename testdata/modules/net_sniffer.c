/* net_sniffer: counts the messages of a length-prefixed protocol (4-byte
 * big-endian length, then that many bytes) in both directions, however the
 * bytes are split across reads and writes (the tests feed it one byte at a
 * time). Like Envoy's protocol stats filters it must sit directly before
 * tcp_proxy, which drains the read buffer, so each read shows only new
 * bytes. Counts go to the metrics requests / responses and to connection
 * metadata sniffer.requests / sniffer.responses (the access log shows
 * them). No config. */
#define _GNU_SOURCE
#include "net_common.h"

SLUICE_DECLARE_MODULE(NULL)

typedef struct parser {
    uint8_t hdr[4];
    size_t have;      /* header bytes seen */
    uint64_t remain;  /* payload bytes still to come */
    uint64_t messages;
} parser;

typedef struct config {
    net_metrics m;
    uint32_t requests, responses;
} config;

typedef struct filter {
    config* cfg;
    long tid;
    parser in, out;
} filter;

/* feed advances p over data and reports how many messages completed. */
static uint64_t feed(parser* p, const uint8_t* data, size_t len) {
    uint64_t done = 0;
    size_t i = 0;
    while (i < len) {
        if (p->have < 4) {
            p->hdr[p->have++] = data[i++];
            if (p->have == 4) {
                p->remain = (uint64_t)p->hdr[0] << 24 | (uint64_t)p->hdr[1] << 16 | (uint64_t)p->hdr[2] << 8 | p->hdr[3];
                if (p->remain == 0) {
                    p->have = 0;
                    done++;
                }
            }
            continue;
        }
        size_t take = len - i < p->remain ? len - i : (size_t)p->remain;
        i += take;
        p->remain -= take;
        if (p->remain == 0) {
            p->have = 0;
            done++;
        }
    }
    p->messages += done;
    return done;
}

void* sluice_on_network_filter_config_new(sluice_config_handle h, const uint8_t* name, size_t name_len,
                                          const uint8_t* json, size_t json_len) {
    (void)name, (void)name_len, (void)json, (void)json_len;
    config* c = calloc(1, sizeof *c);
    net_define_metrics(&c->m, h);
    c->requests = sluice_define_counter(h, "requests");
    c->responses = sluice_define_counter(h, "responses");
    return c;
}

void sluice_on_network_filter_config_destroy(void* c) { free(c); }

void* sluice_on_network_filter_new(void* cfg, sluice_network_filter_handle h) {
    (void)h;
    filter* f = calloc(1, sizeof *f);
    f->cfg = cfg;
    f->tid = net_tid();
    return f;
}

void sluice_on_network_filter_destroy(void* m) {
    filter* f = m;
    net_check(&f->cfg->m, f->tid);
    free(f);
}

sluice_network_status sluice_on_network_filter_new_connection(void* m, sluice_network_filter_handle h) {
    filter* f = m;
    net_check(&f->cfg->m, f->tid);
    sluice_network_metadata_set_number(h, "sniffer", "requests", 0);
    sluice_network_metadata_set_number(h, "sniffer", "responses", 0);
    return SLUICE_NETWORK_CONTINUE;
}

static void count(filter* f, sluice_network_filter_handle h, parser* p, uint32_t metric, const char* key,
                  sluice_network_buffer_kind kind) {
    sluice_buffer b = sluice_network_buffer(h, kind);
    uint64_t done = feed(p, b.ptr, b.len);
    for (uint64_t i = 0; i < done; i++) net_count(&f->cfg->m, metric);
    if (done > 0) sluice_network_metadata_set_number(h, "sniffer", key, (double)p->messages);
}

sluice_network_status sluice_on_network_filter_read(void* m, sluice_network_filter_handle h, size_t len, bool eos) {
    (void)len, (void)eos;
    filter* f = m;
    net_check(&f->cfg->m, f->tid);
    count(f, h, &f->in, f->cfg->requests, "requests", SLUICE_NETWORK_READ_BUFFER);
    return SLUICE_NETWORK_CONTINUE;
}

sluice_network_status sluice_on_network_filter_write(void* m, sluice_network_filter_handle h, size_t len, bool eos) {
    (void)len, (void)eos;
    filter* f = m;
    net_check(&f->cfg->m, f->tid);
    count(f, h, &f->out, f->cfg->responses, "responses", SLUICE_NETWORK_WRITE_BUFFER);
    return SLUICE_NETWORK_CONTINUE;
}
