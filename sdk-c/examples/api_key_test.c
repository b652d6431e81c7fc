/* Unit test of api_key.c against the fake host (no proxy):
 *   gcc -std=c11 -pthread -Iabi -Isdk-c -Isdk-c/fakehost sdk-c/examples/api_key.c \
 *       sdk-c/examples/api_key_test.c sdk-c/fakehost/sluice_fake_host.c -o api_key_test && ./api_key_test */
#include <stdio.h>
#include <string.h>

#include "sluice_fake_host.h"

static int failures;

#define CHECK(cond)                                                   \
    do {                                                              \
        if (!(cond)) {                                                \
            fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                               \
        }                                                             \
    } while (0)

int main(void) {
    CHECK(sluice_fake_init());

    const char* reason = NULL;
    CHECK(sluice_fake_config_new("api_key", "{}", &reason) == NULL);
    CHECK(reason != NULL && strcmp(reason, "\"key\" must be a non-empty string") == 0);

    sluice_fake_config* cfg = sluice_fake_config_new("api_key", "{\"key\": \"s3cret\"}", NULL);
    CHECK(cfg != NULL);

    /* No key: a local 401, counted. */
    sluice_fake_stream* s = sluice_fake_stream_new(cfg);
    sluice_fake_add_request_header(s, ":path", "/");
    CHECK(sluice_fake_request_headers(s, true) == SLUICE_HEADERS_STOP_ITERATION);
    CHECK(sluice_fake_reply_status(s) == 401);
    CHECK(strcmp(sluice_fake_reply_body(s), "missing or wrong API key\n") == 0);
    CHECK(strcmp(sluice_fake_reply_details(s), "api_key_rejected") == 0);
    CHECK(strcmp(sluice_fake_header(s, SLUICE_RESPONSE_HEADERS, "www-authenticate"), "ApiKey") == 0);
    sluice_fake_end(s);
    CHECK(sluice_fake_metric(cfg, "rejected") == 1);

    /* The right key: through, without the key, marked. */
    s = sluice_fake_stream_new(cfg);
    sluice_fake_add_request_header(s, "X-Api-Key", "s3cret");
    CHECK(sluice_fake_request_headers(s, true) == SLUICE_HEADERS_CONTINUE);
    CHECK(sluice_fake_reply_status(s) == 0);
    CHECK(sluice_fake_header(s, SLUICE_REQUEST_HEADERS, "x-api-key") == NULL);
    CHECK(strcmp(sluice_fake_header(s, SLUICE_REQUEST_HEADERS, "x-authenticated"), "yes") == 0);
    sluice_fake_end(s);
    CHECK(sluice_fake_metric(cfg, "rejected") == 1);

    sluice_fake_config_destroy(cfg);
    sluice_fake_shutdown();
    if (failures == 0) printf("api_key: ok\n");
    return failures == 0 ? 0 : 1;
}
