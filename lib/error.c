/* SPDX-License-Identifier: Apache-2.0 */
/* Error codes, messages and the caller-owned error struct. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/*
 * The codes are 0, -1, -2, ... without a gap, so that MTLSAUTHZ_ERRNO_LAST_ (counted from the
 * list in error.h) is one below the lowest: each code lies in (LAST_, 0], and the switch in
 * mtlsauthz_strerror() refuses two codes with one value, so the N codes fill the N values.
 */
#define MTLSAUTHZ__ERRNO_IN_RANGE(name, value, desc)                                               \
    _Static_assert((value) <= 0 && (value) > MTLSAUTHZ_ERRNO_LAST_,                                \
                   "MTLSAUTHZ_" #name " is not the next free code (error.h)");
MTLSAUTHZ_ERRNO_MAP(MTLSAUTHZ__ERRNO_IN_RANGE)

/* A later field lives in `reserved` and must read 0 from this library (docs/abi.md). */
static void error_reset(mtlsauthz_error *err, int code)
{
    err->code = code;
    err->line = 0;
    err->column = 0;
    for (size_t i = 0; i < sizeof(err->reserved) / sizeof(err->reserved[0]); i++) {
        err->reserved[i] = NULL;
    }
}

void mtlsauthz_error_clear(mtlsauthz_error *err)
{
    if (err == NULL) {
        return;
    }
    error_reset(err, 0);
    err->message[0] = '\0';
}

#define MTLSAUTHZ__STRERROR_CASE(name, value, desc)                                                \
    case value:                                                                                    \
        return desc;

const char *mtlsauthz_strerror(int code)
{
    switch (code) {
        MTLSAUTHZ_ERRNO_MAP(MTLSAUTHZ__STRERROR_CASE)
    default:
        return "unknown error";
    }
}

#define MTLSAUTHZ__ERRNAME_CASE(name, value, desc)                                                 \
    case value:                                                                                    \
        return "MTLSAUTHZ_" #name;

const char *mtlsauthz_errname(int code)
{
    switch (code) {
        MTLSAUTHZ_ERRNO_MAP(MTLSAUTHZ__ERRNAME_CASE)
    default:
        return "MTLSAUTHZ_EUNKNOWN";
    }
}

int mtlsauthz__error_vset(mtlsauthz_error *err, int code, const char *fmt, va_list ap)
{
    if (err == NULL) {
        return code;
    }
    error_reset(err, code);
    if (fmt == NULL) {
        snprintf(err->message, sizeof(err->message), "%s", mtlsauthz_strerror(code));
        return code;
    }
    /* Truncation is acceptable here: the message is for people, and always NUL-terminated. */
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    return code;
}

int mtlsauthz__error_set(mtlsauthz_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    code = mtlsauthz__error_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

int mtlsauthz__error_set_at(mtlsauthz_error *err, int code, unsigned line, unsigned column,
                            const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    code = mtlsauthz__error_vset(err, code, fmt, ap);
    va_end(ap);
    mtlsauthz__error_at(err, line, column);
    return code;
}

void mtlsauthz__error_at(mtlsauthz_error *err, unsigned line, unsigned column)
{
    if (err == NULL) {
        return;
    }
    /* A position without a line is no position. */
    err->line = line;
    err->column = line != 0 ? column : 0;
}

void mtlsauthz__error_locate(mtlsauthz_error *err, const char *path)
{
    char prefix[MTLSAUTHZ_ERROR_MESSAGE_SIZE];
    char text[MTLSAUTHZ_ERROR_MESSAGE_SIZE];
    size_t plen, tlen;
    int n;

    if (err == NULL || (path == NULL && err->line == 0)) {
        return;
    }
    if (path != NULL && err->line != 0) {
        n = snprintf(prefix, sizeof(prefix), "%s:%u:%u: ", path, err->line, err->column);
    } else if (path != NULL) {
        n = snprintf(prefix, sizeof(prefix), "%s: ", path);
    } else {
        n = snprintf(prefix, sizeof(prefix), "%u:%u: ", err->line, err->column);
    }
    if (n < 0) {
        return;
    }
    memcpy(text, err->message, sizeof(text));
    text[sizeof(text) - 1] = '\0';
    /* The text is cut rather than the prefix: the position is what an editor jumps to. */
    plen = strlen(prefix);
    tlen = strlen(text);
    if (tlen > sizeof(err->message) - 1 - plen) {
        tlen = sizeof(err->message) - 1 - plen;
    }
    memcpy(err->message, prefix, plen);
    memcpy(err->message + plen, text, tlen);
    err->message[plen + tlen] = '\0';
}

/* ---- "did you mean" ---- */

/* The longest name compared; longer ones are never suggested (names and keys are shorter). */
#define SUGGEST_MAX_LEN 256u

/*
 * The optimal string alignment distance between a and b (Levenshtein plus the swap of two
 * adjacent bytes: "efect" and "effect" are 1 apart, "principlas" and "principals" 1), or
 * max + 1 when it is over `max`. Bounded work: rows of the DP stop once every cell is over
 * `max`, so comparing a typo with a million names stays cheap.
 */
static size_t osa_distance(const char *a, size_t alen, const char *b, size_t blen, size_t max)
{
    size_t rows[3][SUGGEST_MAX_LEN + 1];
    size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];

    if ((alen > blen ? alen - blen : blen - alen) > max || alen > SUGGEST_MAX_LEN ||
        blen > SUGGEST_MAX_LEN) {
        return max + 1;
    }
    for (size_t j = 0; j <= blen; j++) {
        prev[j] = j;
    }
    for (size_t i = 1; i <= alen; i++) {
        size_t row_min;
        size_t *t;
        cur[0] = i;
        row_min = i;
        for (size_t j = 1; j <= blen; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t d = prev[j] + 1;
            if (cur[j - 1] + 1 < d) {
                d = cur[j - 1] + 1;
            }
            if (prev[j - 1] + cost < d) {
                d = prev[j - 1] + cost;
            }
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                prev2[j - 2] + 1 < d) {
                d = prev2[j - 2] + 1;
            }
            cur[j] = d;
            if (d < row_min) {
                row_min = d;
            }
        }
        if (row_min > max) {
            return max + 1;
        }
        t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[blen] <= max ? prev[blen] : max + 1;
}

static int equal_ignoring_case(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen) {
        return 0;
    }
    for (size_t i = 0; i < alen; i++) {
        if (mtlsauthz__lower((unsigned char)a[i]) != mtlsauthz__lower((unsigned char)b[i])) {
            return 0;
        }
    }
    return 1;
}

void mtlsauthz__suggest_init(mtlsauthz__suggest *s, const char *typed, size_t len)
{
    memset(s, 0, sizeof(*s));
    s->typed = typed;
    s->typed_len = len;
}

void mtlsauthz__suggest_add(mtlsauthz__suggest *s, const char *name, size_t len)
{
    /* Close: at most 2 edits and fewer than half the typed length ("cm" is not a typo of
     * "cn", "efect" is one of "effect"), or the same letters in another case ("Allow"). */
    size_t max = s->typed_len > 0 ? (s->typed_len - 1) / 2 : 0; /* 2 * max < typed_len */
    if (max > 2) {
        max = 2;
    }
    if (s->nlist < MTLSAUTHZ__SUGGEST_LIST) {
        s->list[s->nlist] = name;
        s->list_len[s->nlist] = len;
        s->nlist++;
    }
    s->total++;
    if (equal_ignoring_case(s->typed, s->typed_len, name, len) ||
        (max > 0 && osa_distance(s->typed, s->typed_len, name, len, max) <= max)) {
        s->close = name;
        s->close_len = len;
        s->nclose++;
    }
}

int mtlsauthz__suggest_one(const mtlsauthz__suggest *s, const char **name, size_t *len)
{
    if (s->nclose != 1) {
        return 0;
    }
    *name = s->close;
    *len = s->close_len;
    return 1;
}
