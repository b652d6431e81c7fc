/* json_lite.h — just enough JSON for the test modules' configs: one object
 * whose values are strings, arrays of strings, or objects of strings.
 * Errors are written to p->err so config_new can pass them to
 * config_reject. */
#ifndef JSON_LITE_H
#define JSON_LITE_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct jl {
    const char* p;
    const char* end;
    char err[160];
} jl;

static inline void jl_ws(jl* j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r')) j->p++;
}

static inline bool jl_fail(jl* j, const char* what) {
    if (j->err[0] == '\0') snprintf(j->err, sizeof j->err, "%s", what);
    return false;
}

/* Consumes c (after whitespace) when present. */
static inline bool jl_accept(jl* j, char c) {
    jl_ws(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return true;
    }
    return false;
}

static inline bool jl_expect(jl* j, char c) {
    if (jl_accept(j, c)) return true;
    char msg[40];
    snprintf(msg, sizeof msg, "invalid JSON: expected '%c'", c);
    return jl_fail(j, msg);
}

/* Reads a string into out (NUL-terminated, at most cap-1 bytes). */
static inline bool jl_string(jl* j, char* out, size_t cap) {
    if (!jl_expect(j, '"')) return false;
    size_t n = 0;
    while (j->p < j->end && *j->p != '"') {
        char c = *j->p++;
        if (c == '\\') {
            if (j->p == j->end) break;
            c = *j->p++;
            if (c == 'n') c = '\n';
            else if (c == 't') c = '\t';
            else if (c != '"' && c != '\\' && c != '/') return jl_fail(j, "invalid JSON: unsupported escape");
        }
        if (n + 1 >= cap) return jl_fail(j, "string too long");
        out[n++] = c;
    }
    if (!jl_expect(j, '"')) return false;
    out[n] = '\0';
    return true;
}

/* Parses the top-level object; for each member calls field(j, key, ud),
 * which must consume the value. Empty input counts as {}. */
static inline bool jl_object(jl* j, bool (*field)(jl* j, const char* key, void* ud), void* ud) {
    jl_ws(j);
    if (j->p == j->end) return true;
    if (!jl_expect(j, '{')) return false;
    if (jl_accept(j, '}')) return true;
    do {
        char key[64];
        if (!jl_string(j, key, sizeof key) || !jl_expect(j, ':') || !field(j, key, ud)) return false;
    } while (jl_accept(j, ','));
    return jl_expect(j, '}');
}

/* A value that is an object of string values: pairs[i][0]=name, [1]=value. */
static inline bool jl_string_map(jl* j, char pairs[][2][128], size_t max, size_t* n) {
    if (!jl_expect(j, '{')) return false;
    if (jl_accept(j, '}')) return true;
    do {
        if (*n == max) return jl_fail(j, "too many entries");
        if (!jl_string(j, pairs[*n][0], 128) || !jl_expect(j, ':') || !jl_string(j, pairs[*n][1], 128)) return false;
        (*n)++;
    } while (jl_accept(j, ','));
    return jl_expect(j, '}');
}

/* A value that is an array of strings. */
static inline bool jl_string_list(jl* j, char items[][128], size_t max, size_t* n) {
    if (!jl_expect(j, '[')) return false;
    if (jl_accept(j, ']')) return true;
    do {
        if (*n == max) return jl_fail(j, "too many entries");
        if (!jl_string(j, items[*n], 128)) return false;
        (*n)++;
    } while (jl_accept(j, ','));
    return jl_expect(j, ']');
}

#endif
