/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The canonical HTTP operation (include/mtlsauthz/http.h; docs/policy.md, "HTTP operations").
 *
 * Every binding builds "METHOD SP path" here, so a router and the policy cannot disagree about
 * the path: anything two routers could read differently (an encoded '/', a dot segment, an
 * empty segment, a NUL) is refused instead of normalized. One pass over the target, no
 * allocation; the output is written only while it fits, so a refusal is reported even when the
 * caller's buffer is too small.
 */
#include <string.h>

#include "internal.h"

#define METHOD_MAX ((size_t)MTLSAUTHZ_HTTP_METHOD_MAX)
#define TARGET_MAX ((size_t)MTLSAUTHZ_HTTP_TARGET_MAX)

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Output that stops writing (but keeps counting) when the caller's buffer is full. */
struct out {
    char *p;
    size_t cap;
    size_t len;
};

static void put(struct out *o, char c)
{
    if (o->len < o->cap) {
        o->p[o->len] = c;
    }
    o->len++;
}

/* Appends the canonical path of target[0..path_end) to `o`. Returns NULL, or why it is refused. */
static const char *canonical_path(struct out *o, const char *target, size_t path_end)
{
    size_t root = o->len;  /* output offset of the leading '/' */
    size_t seg_start;      /* output offset where the current segment's bytes begin */
    size_t seg_dots = 0;   /* how many decoded bytes of the current segment are '.', ... */
    int seg_only_dots = 1; /* ... and whether it has nothing else */
    size_t i;

    /* target[0] is the leading '/'; each later raw '/' closes a segment. */
    put(o, '/');
    seg_start = o->len;
    for (i = 1; i < path_end; i++) {
        unsigned char c = (unsigned char)target[i];
        if (c == '/') {
            if (o->len == seg_start) {
                return "empty segment in path";
            }
            if (seg_only_dots && seg_dots <= 2) {
                return "dot segment in path";
            }
            put(o, '/');
            seg_start = o->len;
            seg_dots = 0;
            seg_only_dots = 1;
            continue;
        }
        if (c == '%') {
            int hi;
            int lo;
            if (path_end - i < 3) {
                return "malformed percent-escape (truncated)";
            }
            hi = hex_value((unsigned char)target[i + 1]);
            lo = hex_value((unsigned char)target[i + 2]);
            if (hi < 0 || lo < 0) {
                return "malformed percent-escape";
            }
            /* Decoded once: "%2541" is "%41", never "A". */
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
            if (c == '/') {
                /* Some routers decode %2F into a separator and some do not (RFC 3986 §2.2). */
                return "encoded '/' in path";
            }
        }
        if (c == '\0') {
            return "NUL byte in path";
        }
        if (c < 0x20 || c == 0x7f) {
            return "control byte in path";
        }
        if (c == '.') {
            seg_dots++;
        } else {
            seg_only_dots = 0;
        }
        put(o, (char)c);
    }
    /* The last segment: empty means a trailing slash, removed once (except on "/"). */
    if (o->len == seg_start) {
        if (seg_start > root + 1) {
            o->len--;
        }
    } else if (seg_only_dots && seg_dots <= 2) {
        return "dot segment in path";
    }
    return NULL;
}

static int refuse(mtlsauthz_error *err, const char *why)
{
    return mtlsauthz__error_set(err, MTLSAUTHZ_EOPERATION, "HTTP request refused: %s", why);
}

static int build(struct out *o, const char *method, size_t method_len, const char *target,
                 size_t target_len, mtlsauthz_error *err)
{
    const char *q;
    const char *why;
    size_t i;

    if (target_len > TARGET_MAX) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT,
                                    "HTTP request target is %zu bytes, more than the %zu allowed",
                                    target_len, TARGET_MAX);
    }
    if (method_len == 0) {
        return refuse(err, "empty method");
    }
    if (method_len > METHOD_MAX) {
        return refuse(err, "method longer than 32 bytes");
    }
    for (i = 0; i < method_len; i++) {
        if (!mtlsauthz__is_tchar((unsigned char)method[i])) {
            return refuse(err, "method is not an HTTP token");
        }
    }
    if (target_len == 0) {
        return refuse(err, "empty request target");
    }
    /* A fragment never reaches a server in a request target (RFC 9112 §3.2); one here means
     * the binding passed something other than the raw target. */
    if (memchr(target, '#', target_len) != NULL) {
        return refuse(err, "fragment ('#') in request target");
    }
    if (target[0] != '/') {
        return refuse(err, "path is not absolute");
    }
    /* HEAD is decided as GET: routers run the GET handler for it (RFC 9110 §9.3.2 has HEAD
     * mirror GET; Go's ServeMux, Grape, Rails and nginx's proxy_cache all do), so a deny on
     * "GET /x" must hold for "HEAD /x" too (docs/policy.md, "HTTP operations"). */
    if (method_len == 4 && memcmp(method, "HEAD", 4) == 0) {
        method = "GET";
        method_len = 3;
    }
    for (i = 0; i < method_len; i++) {
        put(o, method[i]);
    }
    put(o, ' ');
    q = memchr(target, '?', target_len);
    why = canonical_path(o, target, q != NULL ? (size_t)(q - target) : target_len);
    if (why != NULL) {
        return refuse(err, why);
    }
    if (o->len >= o->cap) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT,
                                    "HTTP operation needs %zu bytes, the buffer holds %zu",
                                    o->len + 1, o->cap);
    }
    o->p[o->len] = '\0';
    return 0;
}

int mtlsauthz_http_operation(char *out, size_t out_cap, size_t *out_len, const char *method,
                             size_t method_len, const char *target, size_t target_len,
                             mtlsauthz_error *err)
{
    struct out o;
    int rc;

    if (out_len != NULL) {
        *out_len = 0;
    }
    if (out == NULL || out_len == NULL || method == NULL || target == NULL) {
        if (out != NULL && out_cap > 0) {
            out[0] = '\0';
        }
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "http operation: NULL argument");
    }
    o.p = out;
    o.cap = out_cap;
    o.len = 0;
    rc = build(&o, method, method_len, target, target_len, err);
    if (rc != 0) {
        /* Fail closed: never leave a partial operation for a caller that ignores rc. */
        if (out_cap > 0) {
            out[0] = '\0';
        }
        return rc;
    }
    *out_len = o.len;
    return 0;
}
