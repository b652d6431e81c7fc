/* Unit test of ext_authz.c against the fake host (no proxy, no network):
 *   gcc -std=c11 -pthread -Iabi -Isdk-c -Isdk-c/fakehost sdk-c/examples/ext_authz.c \
 *       sdk-c/examples/ext_authz_test.c sdk-c/fakehost/sluice_fake_host.c -o ext_authz_test && ./ext_authz_test */
#include <stdio.h>
#include <string.h>

#include "sluice_fake_host.h"

static int failures;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond);         \
            failures++;                                                                \
        }                                                                              \
    } while (0)

static bool eq(const char* got, const char* want) { return got != NULL && strcmp(got, want) == 0; }

/* A request through the filter up to its check. */
static sluice_fake_stream* checked(sluice_fake_config* cfg, const char* auth) {
    sluice_fake_stream* s = sluice_fake_stream_new(cfg);
    sluice_fake_add_request_header(s, ":method", "POST");
    sluice_fake_add_request_header(s, ":path", "/orders?id=7");
    if (auth != NULL) sluice_fake_add_request_header(s, "authorization", auth);
    sluice_fake_add_request_header(s, "cookie", "secret");
    CHECK(sluice_fake_request_headers(s, false) == SLUICE_HEADERS_STOP_ALL_ITERATION_AND_BUFFER);
    CHECK(sluice_fake_callout_count(s) == 1);
    return s;
}

int main(void) {
    CHECK(sluice_fake_init());

    const char* reason = NULL;
    CHECK(sluice_fake_config_new("ext_authz", "{}", &reason) == NULL);
    CHECK(eq(reason, "field \"cluster\" is required"));
    CHECK(sluice_fake_config_new("ext_authz", "{\"cluster\": \"a\", \"allowed_headers\": [\"x\", 1]}", &reason) == NULL);
    CHECK(eq(reason, "field \"allowed_headers\" must be an array of header names"));

    sluice_fake_config* cfg = sluice_fake_config_new(
        "ext_authz",
        "{\"cluster\": \"authz\", \"path_prefix\": \"/check\", \"timeout_ms\": 250,"
        " \"allowed_headers\": [\"authorization\"], \"allowed_upstream_headers\": [\"x-user-id\"]}",
        &reason);
    CHECK(cfg != NULL);

    /* The check request: method, prefixed path, only the allowed header. */
    sluice_fake_stream* s = checked(cfg, "Bearer good");
    CHECK(eq(sluice_fake_callout_cluster(s, 0), "authz"));
    CHECK(eq(sluice_fake_callout_header(s, 0, ":method"), "POST"));
    CHECK(eq(sluice_fake_callout_header(s, 0, ":path"), "/check/orders?id=7"));
    CHECK(eq(sluice_fake_callout_header(s, 0, "authorization"), "Bearer good"));
    CHECK(sluice_fake_callout_header(s, 0, "cookie") == NULL);
    CHECK(sluice_fake_callout_timeout_ms(s, 0) == 250);

    /* 200: the request goes on, with x-user-id from the answer. */
    static const char* const ok_headers[] = {"x-user-id", "alice", "x-other", "no", NULL};
    CHECK(sluice_fake_callout_respond(s, 0, 200, ok_headers, ""));
    CHECK(sluice_fake_continue_decoding_calls(s) == 1);
    CHECK(eq(sluice_fake_header(s, SLUICE_REQUEST_HEADERS, "x-user-id"), "alice"));
    CHECK(sluice_fake_header(s, SLUICE_REQUEST_HEADERS, "x-other") == NULL);
    CHECK(sluice_fake_reply_status(s) == 0);
    sluice_fake_end(s);

    /* 401: answered with the service's status, body and challenge. */
    s = checked(cfg, NULL);
    static const char* const challenge[] = {"www-authenticate", "Bearer", NULL};
    CHECK(sluice_fake_callout_respond(s, 0, 401, challenge, "who are you?"));
    CHECK(sluice_fake_reply_status(s) == 401);
    CHECK(eq(sluice_fake_reply_body(s), "who are you?"));
    CHECK(eq(sluice_fake_reply_details(s), "ext_authz_denied"));
    CHECK(eq(sluice_fake_header(s, SLUICE_RESPONSE_HEADERS, "www-authenticate"), "Bearer"));
    sluice_fake_end(s);

    /* A failure fails closed with 403 by default. */
    s = checked(cfg, "Bearer slow");
    CHECK(sluice_fake_callout_fail(s, 0, SLUICE_CALLOUT_TIMEOUT, "cluster: callout timed out"));
    CHECK(sluice_fake_reply_status(s) == 403);
    CHECK(eq(sluice_fake_reply_details(s), "ext_authz_error"));
    sluice_fake_end(s);

    /* A 500 from the service is a failure too. */
    s = checked(cfg, "Bearer boom");
    CHECK(sluice_fake_callout_respond(s, 0, 500, NULL, ""));
    CHECK(sluice_fake_reply_status(s) == 403);
    sluice_fake_end(s);

    /* The client leaves mid-check: the stream's end cancels the callout,
     * and an answer arriving later reaches no hook. */
    s = checked(cfg, "Bearer good");
    sluice_fake_end(s);
    CHECK(sluice_fake_callout_cancelled(s, 0));
    CHECK(!sluice_fake_callout_respond(s, 0, 200, NULL, ""));

    CHECK(sluice_fake_metric(cfg, "decisions") == 4);
    CHECK(sluice_fake_metric(cfg, "wrong_thread") == 0);
    sluice_fake_config_destroy(cfg);

    /* failure_mode_allow: a failure lets the request through. */
    cfg = sluice_fake_config_new("ext_authz", "{\"cluster\": \"authz\", \"failure_mode_allow\": true}", &reason);
    CHECK(cfg != NULL);
    s = checked(cfg, "Bearer good");
    CHECK(eq(sluice_fake_callout_header(s, 0, ":path"), "/orders?id=7"));
    CHECK(sluice_fake_callout_header(s, 0, "authorization") == NULL);
    CHECK(sluice_fake_callout_fail(s, 0, SLUICE_CALLOUT_CONNECT_FAILURE, "connection refused"));
    CHECK(sluice_fake_continue_decoding_calls(s) == 1);
    CHECK(sluice_fake_reply_status(s) == 0);
    sluice_fake_end(s);
    sluice_fake_config_destroy(cfg);

    sluice_fake_shutdown();
    if (failures == 0) printf("ext_authz: ok\n");
    return failures == 0 ? 0 : 1;
}
