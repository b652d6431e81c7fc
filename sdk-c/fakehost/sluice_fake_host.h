/*
 * sluice_fake_host.h — a fake sluice host for unit tests of C modules,
 * without the proxy. Compile the module's source together with
 * sluice_fake_host.c and a test program; the test drives the module's
 * hooks through the functions below, and the module's calls land in an
 * in-memory stream that follows the ABI's rules (stale handles, ended
 * streams, worker-only calls refused after the end, scheduler and timer
 * semantics). Build:
 *
 *   gcc -std=c11 -pthread -Iabi -Isdk-c -Isdk-c/fakehost \
 *       my_filter.c my_filter_test.c sdk-c/fakehost/sluice_fake_host.c -o my_filter_test
 *
 * Every hook runs on the calling thread (the test plays the worker and the
 * main thread); scheduler commits may come from any thread.
 */
#ifndef SLUICE_FAKE_HOST_H
#define SLUICE_FAKE_HOST_H

#include "sluice_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sluice_fake_config sluice_fake_config;
typedef struct sluice_fake_stream sluice_fake_stream;

/* The fake host's table, as handed to sluice_on_program_init. */
const sluice_host_api* sluice_fake_api(void);

/* sluice_on_program_init with the fake table; false if it failed. */
bool sluice_fake_init(void);
/* sluice_on_program_shutdown, if the module exports it. */
void sluice_fake_shutdown(void);

/* config_new for filter_name with JSON config; NULL when rejected, with
 * *reason (may be NULL) set to the module's reason. */
sluice_fake_config* sluice_fake_config_new(const char* filter_name, const char* json, const char** reason);
/* config_destroy. */
void sluice_fake_config_destroy(sluice_fake_config* c);
/* A metric's value by name: counters and gauges (summed over label
 * values), histograms: the sum of recorded values. 0 when undefined. */
int64_t sluice_fake_metric(sluice_fake_config* c, const char* name);
/* Run the config-level events committed so far (config_scheduled). */
int sluice_fake_config_run_scheduled(sluice_fake_config* c, int n, int timeout_ms);

/* filter_new; NULL when it returned NULL (the host would answer 500). */
sluice_fake_stream* sluice_fake_stream_new(sluice_fake_config* c);
/* Add a request / response header before the hooks run. */
void sluice_fake_add_request_header(sluice_fake_stream* s, const char* name, const char* value);
void sluice_fake_add_response_header(sluice_fake_stream* s, const char* name, const char* value);

/* Run a hook; returns the module's status. */
sluice_headers_status sluice_fake_request_headers(sluice_fake_stream* s, bool end_of_stream);
sluice_body_status sluice_fake_request_body(sluice_fake_stream* s, const char* chunk, bool end_of_stream);
sluice_headers_status sluice_fake_response_headers(sluice_fake_stream* s, bool end_of_stream);
sluice_body_status sluice_fake_response_body(sluice_fake_stream* s, const char* chunk, bool end_of_stream);

/* Deliver scheduled events (waiting up to timeout_ms for n of them), as
 * the worker does; returns how many were delivered. */
int sluice_fake_run_scheduled(sluice_fake_stream* s, int n, int timeout_ms);
/* Fire every armed timer of the stream (the fake has no clock); returns
 * how many fired. */
int sluice_fake_fire_timers(sluice_fake_stream* s);

/* What the module did. Strings are owned by the stream. */
const char* sluice_fake_header(sluice_fake_stream* s, sluice_header_kind kind, const char* name); /* NULL: absent */
int sluice_fake_reply_status(sluice_fake_stream* s);       /* 0: no local reply */
const char* sluice_fake_reply_body(sluice_fake_stream* s); /* "" without one */
const char* sluice_fake_reply_details(sluice_fake_stream* s);
int sluice_fake_continue_decoding_calls(sluice_fake_stream* s);
int sluice_fake_continue_encoding_calls(sluice_fake_stream* s);
/* Body bytes passed on (injected) in a direction, NUL-terminated. */
const char* sluice_fake_forwarded(sluice_fake_stream* s, sluice_direction d);

/* HTTP callouts (ABI 2.1). The fake records each callout a stream starts
 * (0, 1, ... in order) and the test answers it; nothing goes on the wire.
 * Like sluice, it refuses bad requests (INVALID_ARGUMENT), more than 16
 * callouts in flight per stream (LIMIT), and a module without the done
 * hook (UNAVAILABLE); ending the stream cancels its callouts. */
int sluice_fake_callout_count(sluice_fake_stream* s);
/* What callout i asked for: the cluster name, a header (":method",
 * ":path", or any other, any case; NULL when absent) and the body. */
const char* sluice_fake_callout_cluster(sluice_fake_stream* s, int i);
const char* sluice_fake_callout_header(sluice_fake_stream* s, int i, const char* name);
const char* sluice_fake_callout_body(sluice_fake_stream* s, int i);
uint32_t sluice_fake_callout_timeout_ms(sluice_fake_stream* s, int i);
/* Whether callout i was cancelled (by the module, or the stream ending). */
bool sluice_fake_callout_cancelled(sluice_fake_stream* s, int i);
/* Answer callout i with a response: headers is NULL or a NULL-terminated
 * list of name, value C strings; runs the done hook as the worker would.
 * false (no hook) when the callout was cancelled or already answered. */
bool sluice_fake_callout_respond(sluice_fake_stream* s, int i, uint32_t status, const char* const* headers,
                                 const char* body);
/* End callout i with a failure outcome (SLUICE_CALLOUT_TIMEOUT, ...). */
bool sluice_fake_callout_fail(sluice_fake_stream* s, int i, sluice_callout_outcome outcome, const char* detail);
/* The same for config callouts (the done hook runs as on main). */
int sluice_fake_config_callout_count(sluice_fake_config* c);
const char* sluice_fake_config_callout_header(sluice_fake_config* c, int i, const char* name);
bool sluice_fake_config_callout_cancelled(sluice_fake_config* c, int i);
bool sluice_fake_config_callout_respond(sluice_fake_config* c, int i, uint32_t status, const char* const* headers,
                                        const char* body);
bool sluice_fake_config_callout_fail(sluice_fake_config* c, int i, sluice_callout_outcome outcome, const char* detail);

/* stream_complete then destroy; frees s. */
void sluice_fake_end(sluice_fake_stream* s);

/* The last line the module logged (log or log_filter), "" if none. */
const char* sluice_fake_last_log(void);

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_FAKE_HOST_H */
