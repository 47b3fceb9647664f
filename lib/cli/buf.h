/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CLI's own small text helpers: a growable buffer for the documents it builds, and a UTF-8
 * decoder for printing values safely. The CLI is a client of the public API
 * (docs/internals.md, "File map"), so it keeps these rather than reach into the library's.
 */
#ifndef MTLSAUTHZ_CLI_BUF_H
#define MTLSAUTHZ_CLI_BUF_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define CLI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CLI_PRINTF(f, a)
#endif

typedef struct cli_buf {
    char *ptr; /* NUL-terminated after any append that succeeded */
    size_t len;
    size_t cap;
    int failed; /* sticky: set when an append could not allocate */
} cli_buf;

void cli_buf_init(cli_buf *b);
void cli_buf_free(cli_buf *b);
void cli_buf_append(cli_buf *b, const void *p, size_t len);
void cli_buf_puts(cli_buf *b, const char *s);
void cli_buf_printf(cli_buf *b, const char *fmt, ...) CLI_PRINTF(2, 3);

/* Decodes the UTF-8 sequence at `p` (RFC 3629: shortest form, no surrogates, at most
 * U+10FFFF) into *cp. Returns its length in bytes (1-4), or 0 when the bytes at `p`, within
 * `avail`, are not valid UTF-8 (then *cp is untouched). */
size_t cli_utf8_decode(const unsigned char *p, size_t avail, uint32_t *cp);

#endif
