/* versioned: one source, two versions (built with -DMODULE_VERSION=1 and
 * =2 as versioned_v1.so and versioned_v2.so) for the hot-reload tests.
 * Every response gets `x-version: N`. A request with `x-hold` stops on a
 * scheduler; a thread of this version commits every held stream once the
 * file named by the config's "release_file" exists, and on_scheduled
 * continues it, so its response also gets `x-held: released-by-vN` — the
 * proof that the commit landed on the version that held it. The thread is
 * stopped and joined by sluice_on_program_shutdown, which also creates
 * "<release_file>.v<N>-shutdown" so a test sees the version unloaded. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sluice_sdk.h"

#ifndef MODULE_VERSION
#error "build with -DMODULE_VERSION=N"
#endif
#define STR2(x) #x
#define STR(x) STR2(x)
#define VERSION_STR STR(MODULE_VERSION)

#define MAX_HELD 256

static struct {
    pthread_mutex_t mu;
    sluice_scheduler_handle held[MAX_HELD];
    size_t n;
    char release_file[512];
    bool stop;
    pthread_t thread;
} st = {PTHREAD_MUTEX_INITIALIZER, {{0}}, 0, {0}, false, 0};

static bool exists(const char* path) { return path[0] != '\0' && access(path, F_OK) == 0; }

static void* releaser(void* arg) {
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&st.mu);
        if (st.stop) {
            pthread_mutex_unlock(&st.mu);
            return NULL;
        }
        if (st.n > 0 && exists(st.release_file)) {
            for (size_t i = 0; i < st.n; i++) {
                sluice_scheduler_commit(st.held[i], 1);
                sluice_scheduler_delete(st.held[i]);
            }
            st.n = 0;
        }
        pthread_mutex_unlock(&st.mu);
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static bool init(void) {
    st.stop = false;
    return pthread_create(&st.thread, NULL, releaser, NULL) == 0;
}

SLUICE_DECLARE_MODULE(init)

void sluice_on_program_shutdown(void) {
    pthread_mutex_lock(&st.mu);
    st.stop = true;
    for (size_t i = 0; i < st.n; i++) sluice_scheduler_delete(st.held[i]);
    st.n = 0;
    pthread_mutex_unlock(&st.mu);
    pthread_join(st.thread, NULL);
    if (st.release_file[0] != '\0') {
        char path[600];
        snprintf(path, sizeof path, "%s.v%s-shutdown", st.release_file, VERSION_STR);
        FILE* f = fopen(path, "w");
        if (f != NULL) fclose(f);
    }
}

static int config_object;

void* sluice_on_http_filter_config_new(sluice_config_handle config, const uint8_t* name_ptr, size_t name_len,
                                       const uint8_t* config_ptr, size_t config_len) {
    (void)config, (void)name_ptr, (void)name_len;
    /* {"release_file": "PATH"}: the path is the next quoted string. */
    char buf[600] = {0};
    memcpy(buf, config_ptr, config_len < sizeof buf - 1 ? config_len : sizeof buf - 1);
    const char* k = strstr(buf, "\"release_file\"");
    if (k != NULL) {
        const char* a = strchr(k + strlen("\"release_file\""), '"');
        const char* b = a != NULL ? strchr(a + 1, '"') : NULL;
        if (b != NULL && (size_t)(b - a - 1) < sizeof st.release_file) {
            pthread_mutex_lock(&st.mu);
            memcpy(st.release_file, a + 1, (size_t)(b - a - 1));
            st.release_file[b - a - 1] = '\0';
            pthread_mutex_unlock(&st.mu);
        }
    }
    return &config_object;
}

void sluice_on_http_filter_config_destroy(void* config) { (void)config; }

typedef struct {
    bool held;
} stream;

void* sluice_on_http_filter_new(void* config, sluice_filter_handle filter) {
    (void)config, (void)filter;
    return calloc(1, sizeof(stream));
}

void sluice_on_http_filter_destroy(void* m) { free(m); }

sluice_headers_status sluice_on_http_filter_request_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)eos;
    sluice_buffer v;
    if (!sluice_request_header(h, "x-hold", &v)) return SLUICE_HEADERS_CONTINUE;
    sluice_scheduler_handle s = sluice_scheduler_new(h);
    pthread_mutex_lock(&st.mu);
    bool ok = !SLUICE_HANDLE_IS_NULL(s) && st.n < MAX_HELD;
    if (ok) st.held[st.n++] = s;
    pthread_mutex_unlock(&st.mu);
    if (!ok) {
        sluice_scheduler_delete(s);
        sluice_send_response(h, 503, NULL, "too many held", "versioned_full");
        return SLUICE_HEADERS_STOP_ITERATION;
    }
    ((stream*)m)->held = true;
    return SLUICE_HEADERS_STOP_ITERATION;
}

void sluice_on_http_filter_scheduled(void* m, sluice_filter_handle h, uint64_t event_id) {
    (void)m, (void)event_id;
    sluice_api->continue_decoding(h);
}

sluice_headers_status sluice_on_http_filter_response_headers(void* m, sluice_filter_handle h, bool eos) {
    (void)eos;
    sluice_header_set(h, SLUICE_RESPONSE_HEADERS, "x-version", VERSION_STR);
    if (((stream*)m)->held) sluice_header_set(h, SLUICE_RESPONSE_HEADERS, "x-held", "released-by-v" VERSION_STR);
    return SLUICE_HEADERS_CONTINUE;
}
