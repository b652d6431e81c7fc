/*
 * sluice_json.h — a small, strict JSON reader for filter configs (header
 * only, no allocation). sluice hands config_new the operator's `config`
 * as JSON; this reads a top-level object's fields and catches unknown
 * ones, with error texts fit for sluice_config_reject:
 *
 *   sluice_json cfg;
 *   char err[128], key[64];
 *   int64_t ttl = 60;
 *   static const char* const fields[] = {"key", "ttl", NULL};
 *   if (!sluice_json_parse(&cfg, json, json_len, err, sizeof err) ||
 *       !sluice_json_only(&cfg, fields, err, sizeof err) ||
 *       !sluice_json_string(&cfg, "key", true, key, sizeof key, err, sizeof err) ||
 *       !sluice_json_int(&cfg, "ttl", false, &ttl, err, sizeof err)) {
 *       sluice_config_reject(handle, err);
 *       return NULL;
 *   }
 *
 * The whole document is validated (strings, escapes, numbers, literals,
 * nested arrays and objects up to depth 32); fields of other types than
 * string / integer / bool are accepted and can be read raw
 * (sluice_json_raw). sluice's own configs are JSON re-encoded from YAML,
 * so `null` (no config) reads as an empty object.
 */
#ifndef SLUICE_JSON_H
#define SLUICE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SLUICE_JSON_MAX_FIELDS 64

typedef struct sluice_json_field {
    const char* key; /* raw (escaped) key, without quotes */
    size_t key_len;
    const char* value; /* the value's JSON text */
    size_t value_len;
} sluice_json_field;

typedef struct sluice_json {
    sluice_json_field fields[SLUICE_JSON_MAX_FIELDS];
    size_t n;
} sluice_json;

typedef struct sluice_json_cursor_ {
    const char* p;
    const char* end;
    char* err;
    size_t errcap;
} sluice_json_cursor_;

static inline bool sluice_json_fail_(sluice_json_cursor_* c, const char* what) {
    if (c->err != NULL && c->errcap > 0 && c->err[0] == '\0') snprintf(c->err, c->errcap, "%s", what);
    return false;
}

static inline void sluice_json_ws_(sluice_json_cursor_* c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static inline bool sluice_json_string_(sluice_json_cursor_* c) {
    if (c->p >= c->end || *c->p != '"') return sluice_json_fail_(c, "config: expected a string");
    c->p++;
    while (c->p < c->end && *c->p != '"') {
        unsigned char ch = (unsigned char)*c->p;
        if (ch < 0x20) return sluice_json_fail_(c, "config: control character in a string");
        if (ch == '\\') {
            c->p++;
            if (c->p >= c->end) break;
            if (*c->p == 'u') {
                for (int i = 1; i <= 4; i++) {
                    char h = c->p + i < c->end ? c->p[i] : 0;
                    if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F')))
                        return sluice_json_fail_(c, "config: bad \\u escape");
                }
                c->p += 4;
            } else if (strchr("\"\\/bfnrt", *c->p) == NULL) {
                return sluice_json_fail_(c, "config: bad escape in a string");
            }
        }
        c->p++;
    }
    if (c->p >= c->end) return sluice_json_fail_(c, "config: unterminated string");
    c->p++;
    return true;
}

static inline bool sluice_json_value_(sluice_json_cursor_* c, int depth);

static inline bool sluice_json_container_(sluice_json_cursor_* c, int depth, char close, bool object) {
    c->p++;
    sluice_json_ws_(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return true;
    }
    for (;;) {
        sluice_json_ws_(c);
        if (object) {
            if (!sluice_json_string_(c)) return false;
            sluice_json_ws_(c);
            if (c->p >= c->end || *c->p++ != ':') return sluice_json_fail_(c, "config: expected ':'");
        }
        if (!sluice_json_value_(c, depth + 1)) return false;
        sluice_json_ws_(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->end && *c->p == close) {
            c->p++;
            return true;
        }
        return sluice_json_fail_(c, object ? "config: expected ',' or '}'" : "config: expected ',' or ']'");
    }
}

static inline bool sluice_json_value_(sluice_json_cursor_* c, int depth) {
    if (depth > 32) return sluice_json_fail_(c, "config: nested too deeply");
    sluice_json_ws_(c);
    if (c->p >= c->end) return sluice_json_fail_(c, "config: unexpected end");
    char ch = *c->p;
    if (ch == '"') return sluice_json_string_(c);
    if (ch == '{') return sluice_json_container_(c, depth, '}', true);
    if (ch == '[') return sluice_json_container_(c, depth, ']', false);
    static const char* const literals[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(literals[i]);
        if ((size_t)(c->end - c->p) >= n && memcmp(c->p, literals[i], n) == 0) {
            c->p += n;
            return true;
        }
    }
    const char* start = c->p;
    if (c->p < c->end && *c->p == '-') c->p++;
    if (c->p >= c->end || !(*c->p >= '0' && *c->p <= '9')) return sluice_json_fail_(c, "config: unexpected character");
    if (*c->p == '0') {
        c->p++;
    } else {
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') c->p++;
    }
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (c->p >= c->end || !(*c->p >= '0' && *c->p <= '9')) return sluice_json_fail_(c, "config: bad number");
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') c->p++;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-')) c->p++;
        if (c->p >= c->end || !(*c->p >= '0' && *c->p <= '9')) return sluice_json_fail_(c, "config: bad number");
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') c->p++;
    }
    return c->p > start;
}

/* Parses a config: a JSON object (or null / empty: no fields). false with
 * err set on bad JSON, a non-object, or more than 64 fields. */
static inline bool sluice_json_parse(sluice_json* out, const uint8_t* json, size_t len, char* err, size_t errcap) {
    sluice_json_cursor_ c = {(const char*)json, (const char*)json + len, err, errcap};
    if (err != NULL && errcap > 0) err[0] = '\0';
    out->n = 0;
    sluice_json_ws_(&c);
    if (c.p == c.end || ((size_t)(c.end - c.p) >= 4 && memcmp(c.p, "null", 4) == 0)) return true;
    if (*c.p != '{') return sluice_json_fail_(&c, "config: want a JSON object");
    c.p++;
    sluice_json_ws_(&c);
    if (c.p < c.end && *c.p == '}') {
        c.p++;
    } else {
        for (;;) {
            sluice_json_ws_(&c);
            const char* key = c.p + 1;
            if (!sluice_json_string_(&c)) return false;
            size_t key_len = (size_t)(c.p - 1 - key);
            sluice_json_ws_(&c);
            if (c.p >= c.end || *c.p++ != ':') return sluice_json_fail_(&c, "config: expected ':'");
            sluice_json_ws_(&c);
            const char* value = c.p;
            if (!sluice_json_value_(&c, 1)) return false;
            if (out->n == SLUICE_JSON_MAX_FIELDS) return sluice_json_fail_(&c, "config: too many fields");
            sluice_json_field f = {key, key_len, value, (size_t)(c.p - value)};
            out->fields[out->n++] = f;
            sluice_json_ws_(&c);
            if (c.p < c.end && *c.p == ',') {
                c.p++;
                continue;
            }
            if (c.p < c.end && *c.p == '}') {
                c.p++;
                break;
            }
            return sluice_json_fail_(&c, "config: expected ',' or '}'");
        }
    }
    sluice_json_ws_(&c);
    if (c.p != c.end) return sluice_json_fail_(&c, "config: trailing characters after the object");
    return true;
}

/* The field named key, or NULL. */
static inline const sluice_json_field* sluice_json_find(const sluice_json* j, const char* key) {
    size_t n = strlen(key);
    for (size_t i = 0; i < j->n; i++) {
        if (j->fields[i].key_len == n && memcmp(j->fields[i].key, key, n) == 0) return &j->fields[i];
    }
    return NULL;
}

/* false (err: `unknown field "x" (allowed: a, b)`) when the object has a
 * field not in the NULL-terminated list `allowed`: a misspelled field is
 * an error, not silently ignored. */
static inline bool sluice_json_only(const sluice_json* j, const char* const* allowed, char* err, size_t errcap) {
    for (size_t i = 0; i < j->n; i++) {
        bool known = false;
        for (const char* const* a = allowed; *a != NULL && !known; a++) {
            known = strlen(*a) == j->fields[i].key_len && memcmp(*a, j->fields[i].key, j->fields[i].key_len) == 0;
        }
        if (!known) {
            size_t off = (size_t)snprintf(err, errcap, "unknown field \"%.*s\" (allowed:", (int)j->fields[i].key_len,
                                          j->fields[i].key);
            for (const char* const* a = allowed; *a != NULL && off < errcap; a++) {
                off += (size_t)snprintf(err + off, errcap - off, "%s %s", a == allowed ? "" : ",", *a);
            }
            if (off < errcap) snprintf(err + off, errcap - off, ")");
            return false;
        }
    }
    return true;
}

/* Reads string field key into out (NUL-terminated, escapes decoded; \u
 * escapes outside ASCII are refused). A missing field: false with err
 * when required, else true leaving out as it was. */
static inline bool sluice_json_string(const sluice_json* j, const char* key, bool required, char* out, size_t cap,
                                      char* err, size_t errcap) {
    const sluice_json_field* f = sluice_json_find(j, key);
    if (f == NULL) {
        if (required) snprintf(err, errcap, "field \"%s\" is required", key);
        return !required;
    }
    if (f->value_len < 2 || f->value[0] != '"') {
        snprintf(err, errcap, "field \"%s\" must be a string", key);
        return false;
    }
    size_t n = 0;
    for (size_t i = 1; i + 1 < f->value_len; i++) {
        char ch = f->value[i];
        if (ch == '\\') {
            char e = f->value[++i];
            static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
            const char* k = strchr(from, e);
            if (e == 'u') {
                unsigned v = 0;
                for (int d = 1; d <= 4; d++) {
                    char h = f->value[i + (size_t)d];
                    v = v * 16 + (unsigned)(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
                }
                if (v == 0 || v > 0x7f) {
                    snprintf(err, errcap, "field \"%s\": only ASCII \\u escapes are supported", key);
                    return false;
                }
                ch = (char)v;
                i += 4;
            } else {
                ch = to[k - from];
            }
        }
        if (n + 1 >= cap) {
            snprintf(err, errcap, "field \"%s\" is longer than %zu bytes", key, cap - 1);
            return false;
        }
        out[n++] = ch;
    }
    out[n] = '\0';
    return true;
}

/* Reads integer field key (no fraction or exponent) into *out. */
static inline bool sluice_json_int(const sluice_json* j, const char* key, bool required, int64_t* out, char* err,
                                   size_t errcap) {
    const sluice_json_field* f = sluice_json_find(j, key);
    if (f == NULL) {
        if (required) snprintf(err, errcap, "field \"%s\" is required", key);
        return !required;
    }
    size_t i = 0;
    bool neg = f->value[0] == '-';
    if (neg) i++;
    if (i == f->value_len) goto bad;
    uint64_t v = 0;
    for (; i < f->value_len; i++) {
        char ch = f->value[i];
        if (ch < '0' || ch > '9' || v > (UINT64_C(1) << 62)) goto bad;
        v = v * 10 + (uint64_t)(ch - '0');
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
bad:
    snprintf(err, errcap, "field \"%s\" must be an integer", key);
    return false;
}

/* Reads boolean field key into *out. */
static inline bool sluice_json_bool(const sluice_json* j, const char* key, bool required, bool* out, char* err,
                                    size_t errcap) {
    const sluice_json_field* f = sluice_json_find(j, key);
    if (f == NULL) {
        if (required) snprintf(err, errcap, "field \"%s\" is required", key);
        return !required;
    }
    if (f->value_len == 4 && memcmp(f->value, "true", 4) == 0) {
        *out = true;
    } else if (f->value_len == 5 && memcmp(f->value, "false", 5) == 0) {
        *out = false;
    } else {
        snprintf(err, errcap, "field \"%s\" must be true or false", key);
        return false;
    }
    return true;
}

/* The raw JSON text of field key (an array, an object, ...), or false. */
static inline bool sluice_json_raw(const sluice_json* j, const char* key, const char** value, size_t* len) {
    const sluice_json_field* f = sluice_json_find(j, key);
    if (f == NULL) return false;
    *value = f->value;
    *len = f->value_len;
    return true;
}

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_JSON_H */
