/* SPDX-License-Identifier: Apache-2.0 */
/* The CLI's growable buffer and UTF-8 decoder (buf.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void cli_buf_init(cli_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void cli_buf_free(cli_buf *b)
{
    free(b->ptr);
    cli_buf_init(b);
}

static int reserve(cli_buf *b, size_t extra)
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
    p = realloc(b->ptr, cap);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }
    b->ptr = p;
    b->cap = cap;
    return 0;
}

void cli_buf_append(cli_buf *b, const void *p, size_t len)
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

void cli_buf_puts(cli_buf *b, const char *s)
{
    cli_buf_append(b, s, strlen(s));
}

void cli_buf_printf(cli_buf *b, const char *fmt, ...)
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

size_t cli_utf8_decode(const unsigned char *p, size_t avail, uint32_t *cp)
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
