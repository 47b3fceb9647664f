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

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, surrogates or > U+10FFFF),
 * or 0 if it is not valid. */
static size_t utf8_seq_len(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    size_t n, i;
    unsigned long cp;
    if (c < 0x80) {
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
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
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return n;
}

void mtlsauthz__buf_json_string(mtlsauthz__buf *b, const char *p, size_t len)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0, run;
    mtlsauthz__buf_append(b, "\"", 1);
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
        } else if ((run = utf8_seq_len(s + i, len - i)) > 0) {
            mtlsauthz__buf_append(b, &s[i], run);
            i += run;
        } else {
            /* Not UTF-8: show the byte as the code point of the same number, so the JSON stays
             * valid and the byte is still visible. */
            mtlsauthz__buf_printf(b, "\\u%04x", c);
            i++;
        }
    }
    mtlsauthz__buf_append(b, "\"", 1);
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
