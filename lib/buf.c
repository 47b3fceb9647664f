/* SPDX-License-Identifier: Apache-2.0 */
/* A growable byte buffer for the text the library renders (JSON, explain, lint). */
#include <stdio.h>
#include <string.h>

#include "internal.h"

void mtlsauthz__buf_init(mtlsauthz__buf *b)
{
    memset(b, 0, sizeof(*b));
}

void mtlsauthz__buf_free(mtlsauthz__buf *b)
{
    mtlsauthz__free(b->ptr);
    mtlsauthz__buf_init(b);
}

static int reserve(mtlsauthz__buf *b, size_t extra)
{
    size_t need, cap;
    char *p;
    if (b->failed) {
        return -1;
    }
    if (extra > SIZE_MAX - b->len - 1) {
        b->failed = 1;
        return -1;
    }
    need = b->len + extra + 1;
    if (need <= b->cap) {
        return 0;
    }
    cap = b->cap ? b->cap : 128;
    while (cap < need) {
        cap = (cap > SIZE_MAX / 2) ? need : cap * 2;
    }
    p = mtlsauthz__realloc(b->ptr, cap);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }
    b->ptr = p;
    b->cap = cap;
    return 0;
}

void mtlsauthz__buf_append(mtlsauthz__buf *b, const void *p, size_t len)
{
    if (reserve(b, len) != 0) {
        return;
    }
    if (len > 0) {
        memcpy(b->ptr + b->len, p, len);
    }
    b->len += len;
    b->ptr[b->len] = '\0';
}

void mtlsauthz__buf_puts(mtlsauthz__buf *b, const char *s)
{
    mtlsauthz__buf_append(b, s, strlen(s));
}

void mtlsauthz__buf_printf(mtlsauthz__buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, (size_t)n) != 0) {
        b->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

size_t mtlsauthz__utf8_decode(const unsigned char *p, size_t avail, uint32_t *cp)
{
    unsigned char c;
    size_t n, i;
    uint32_t v;
    if (avail == 0) {
        return 0;
    }
    c = p[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        v = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        v = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        v = c & 0x07;
    } else {
        return 0;
    }
    if (avail < n) {
        return 0;
    }
    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
        v = (v << 6) | (p[i] & 0x3f);
    }
    if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10ffff)) ||
        (v >= 0xd800 && v <= 0xdfff)) {
        return 0;
    }
    *cp = v;
    return n;
}

void mtlsauthz__buf_json_string(mtlsauthz__buf *b, const char *p, size_t len)
{
    mtlsauthz__buf_append(b, "\"", 1);
    mtlsauthz__buf_json_body(b, p, len);
    mtlsauthz__buf_append(b, "\"", 1);
}

void mtlsauthz__buf_json_body(mtlsauthz__buf *b, const char *p, size_t len)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0, run;
    uint32_t cp;
    while (i < len) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            mtlsauthz__buf_append(b, "\\", 1);
            mtlsauthz__buf_append(b, &s[i], 1);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            mtlsauthz__buf_printf(b, "\\u%04x", c);
            i++;
        } else if (c < 0x80) {
            mtlsauthz__buf_append(b, &s[i], 1);
            i++;
        } else if ((run = mtlsauthz__utf8_decode(s + i, len - i, &cp)) > 0) {
            mtlsauthz__buf_append(b, &s[i], run);
            i += run;
        } else {
            /* Not UTF-8: show the byte as the code point of the same number, so the JSON stays
             * valid and the byte is still visible. */
            mtlsauthz__buf_printf(b, "\\u%04x", c);
            i++;
        }
    }
}

int mtlsauthz__buf_take(char **out, size_t *out_len, mtlsauthz__buf *b, mtlsauthz_error *err)
{
    *out = NULL;
    if (out_len != NULL) {
        *out_len = 0;
    }
    if (b->ptr == NULL && !b->failed) {
        mtlsauthz__buf_append(b, "", 0);
    }
    if (b->failed) {
        mtlsauthz__buf_free(b);
        return mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
    }
    *out = b->ptr;
    if (out_len != NULL) {
        *out_len = b->len;
    }
    mtlsauthz__buf_init(b);
    return 0;
}
