/* net_common.h — what the network test modules share: thread-affinity
 * checks counted in config-level metrics ("hooks", "affinity_violations"),
 * so a test reads them from /stats: every hook of a connection's filter
 * must run on the thread that created it (its worker). */
#ifndef NET_COMMON_H
#define NET_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sluice_json.h"
#include "sluice_sdk.h"

typedef struct net_metrics {
    sluice_config_handle handle;
    uint32_t hooks, violations;
} net_metrics;

static inline long net_tid(void) { return (long)syscall(SYS_gettid); }

/* define the affinity counters; call in config_new. */
static inline void net_define_metrics(net_metrics* m, sluice_config_handle h) {
    m->handle = h;
    m->hooks = sluice_define_counter(h, "hooks");
    m->violations = sluice_define_counter(h, "affinity_violations");
}

/* Count one hook and check it runs on the filter's thread. */
static inline void net_check(const net_metrics* m, long tid) {
    sluice_api->counter_add(m->handle, m->hooks, NULL, 0, 1);
    if (net_tid() != tid) sluice_api->counter_add(m->handle, m->violations, NULL, 0, 1);
}

static inline void net_count(const net_metrics* m, uint32_t id) { sluice_api->counter_add(m->handle, id, NULL, 0, 1); }

#endif
