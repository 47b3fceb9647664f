/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal helpers shared across the library. Not installed.
 *
 * Naming: cross-file internals are mtlsauthz__name (double underscore) and never exported
 * (the library builds with -fvisibility=hidden; only MTLSAUTHZ_API names are public).
 */
#ifndef MTLSAUTHZ_INTERNAL_H
#define MTLSAUTHZ_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mtlsauthz/mtlsauthz.h"

#if defined(__GNUC__)
#define MTLSAUTHZ__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MTLSAUTHZ__PRINTF(f, a)
#endif

#define MTLSAUTHZ__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * A byte string with an explicit length. `ptr` is followed by a NUL in memory the library
 * builds itself, but `len` is what counts: values may contain NULs.
 */
typedef struct mtlsauthz__str {
    const char *ptr;
    size_t len;
} mtlsauthz__str;

/* Whether `a` holds exactly the `len` bytes at `s`. */
static inline int mtlsauthz__str_eq(const mtlsauthz__str *a, const char *s, size_t len)
{
    return a->len == len && memcmp(a->ptr, s, len) == 0;
}

/* ---- errors (error.c) ---- */

/*
 * Fills `err` (if not NULL) with `code` and a printf-formatted message, and returns `code`, so
 * callers can write `return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "...")`.
 */
int mtlsauthz__error_set(mtlsauthz_error *err, int code, const char *fmt, ...)
    MTLSAUTHZ__PRINTF(3, 4);
int mtlsauthz__error_vset(mtlsauthz_error *err, int code, const char *fmt, va_list ap);
/* The same, and the 1-based position of what the message is about (0: unknown). */
int mtlsauthz__error_set_at(mtlsauthz_error *err, int code, unsigned line, unsigned column,
                            const char *fmt, ...) MTLSAUTHZ__PRINTF(5, 6);
/* Sets the position of the error already in `err` (NULL is a no-op). */
void mtlsauthz__error_at(mtlsauthz_error *err, unsigned line, unsigned column);
/* Puts the position, and `path` if not NULL, in front of the message: "PATH:LINE:COL: ",
 * "PATH: " or "LINE:COL: " (docs/policy.md, "Errors"). Once per error, by the public load. */
void mtlsauthz__error_locate(mtlsauthz_error *err, const char *path);

/*
 * "Did you mean": feed every known name with _add (names are borrowed until the message is
 * written); _one gives the name when exactly one is close to what was typed, and list[] holds
 * the first MTLSAUTHZ__SUGGEST_LIST names (of `total`) for a message that lists them instead.
 */
#define MTLSAUTHZ__SUGGEST_LIST 5u
typedef struct mtlsauthz__suggest {
    const char *typed;
    size_t typed_len;
    const char *close;
    size_t close_len;
    size_t nclose;
    const char *list[MTLSAUTHZ__SUGGEST_LIST];
    size_t list_len[MTLSAUTHZ__SUGGEST_LIST];
    size_t nlist;
    size_t total;
} mtlsauthz__suggest;
void mtlsauthz__suggest_init(mtlsauthz__suggest *s, const char *typed, size_t len);
void mtlsauthz__suggest_add(mtlsauthz__suggest *s, const char *name, size_t len);
int mtlsauthz__suggest_one(const mtlsauthz__suggest *s, const char **name, size_t *len);

/* ---- allocation (alloc.c) ----
 * Every allocation the library makes itself goes through these, so the allocation-failure
 * tests can fail the Nth one (see mtlsauthz__alloc_fail_after in alloc.c). */
void *mtlsauthz__malloc(size_t n);
void *mtlsauthz__calloc(size_t count, size_t size);
void *mtlsauthz__realloc(void *p, size_t n);
void mtlsauthz__free(void *p);
/* Copies `len` bytes and appends a NUL. NULL on overflow or failure. */
char *mtlsauthz__memdup0(const void *p, size_t len);

/* Testing hook: fail every allocation after `n` more succeed; -1 disables (the default).
 * Process-global by design (tests only); never used on a production path. */
void mtlsauthz__alloc_fail_after(long n);

/* ---- growable byte buffer (buf.c), for JSON, explain and lint text ---- */

typedef struct mtlsauthz__buf {
    char *ptr; /* NUL-terminated when len > 0 or after any append */
    size_t len;
    size_t cap;
    int failed; /* sticky: set when an append could not allocate */
} mtlsauthz__buf;

void mtlsauthz__buf_init(mtlsauthz__buf *b);
void mtlsauthz__buf_free(mtlsauthz__buf *b);
void mtlsauthz__buf_append(mtlsauthz__buf *b, const void *p, size_t len);
void mtlsauthz__buf_puts(mtlsauthz__buf *b, const char *s);
void mtlsauthz__buf_printf(mtlsauthz__buf *b, const char *fmt, ...) MTLSAUTHZ__PRINTF(2, 3);
/* Appends `len` bytes as a JSON string literal, quotes included; NUL and every control byte
 * are escaped (\u0000), as are '"' and '\\'. Invalid UTF-8 bytes are escaped as \u00XX
 * of the byte, so the output is always valid JSON. */
void mtlsauthz__buf_json_string(mtlsauthz__buf *b, const char *p, size_t len);
/* The same without the quotes, for a string literal built from several pieces. */
void mtlsauthz__buf_json_body(mtlsauthz__buf *b, const char *p, size_t len);
/* Decodes the UTF-8 sequence at `p` (RFC 3629: shortest form, no surrogates, at most
 * U+10FFFF) into *cp. Returns its length in bytes (1-4), or 0 when the bytes at `p`, within
 * `avail`, are not valid UTF-8 (then *cp is untouched). */
size_t mtlsauthz__utf8_decode(const unsigned char *p, size_t avail, uint32_t *cp);
/* Hands the buffer's memory to the caller (NUL-terminated, never NULL on success);
 * returns MTLSAUTHZ_ENOMEM if any append failed. The buffer is reset either way. */
int mtlsauthz__buf_take(char **out, size_t *out_len, mtlsauthz__buf *b, mtlsauthz_error *err);

/* ---- files (io.c) ---- */

/* Reads a whole regular file of at most `max` bytes into a NUL-terminated buffer owned by the
 * caller (mtlsauthz__free). Errors: MTLSAUTHZ_EIO (with strerror), MTLSAUTHZ_ELIMIT,
 * MTLSAUTHZ_ENOMEM; every message but the NULL path's starts with "PATH: ". */
int mtlsauthz__read_file(char **out, size_t *out_len, const char *path, size_t max,
                         mtlsauthz_error *err);

/* ---- ASCII helpers ---- */

static inline unsigned char mtlsauthz__lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* RFC 9110 §5.6.2: tchar, the bytes of a token such as an HTTP method (http.c refuses any
 * other method; op_pattern.c refuses a method pattern that could only match those). */
static inline int mtlsauthz__is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) {
        return 1;
    }
    return c != '\0' && memchr("!#$%&'*+-.^_`|~", c, 15) != NULL;
}

#endif
