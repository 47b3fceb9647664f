/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the stress programs in tests/stress/ (run by tests/hardening.mk, never by
 * the unit suite): they exit non-zero on the first wrong answer instead of using Criterion,
 * so a sanitizer or valgrind sees one plain process.
 */
#ifndef MTLSAUTHZ_STRESS_H
#define MTLSAUTHZ_STRESS_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtlsauthz/mtlsauthz.h"

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2), noreturn))
#endif
static inline void
st_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("FAIL: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* Reads dir/name whole into a malloc'd, NUL-terminated buffer; dies if it cannot. */
static inline char *st_read(const char *dir, const char *name, size_t *len)
{
    char path[4096];
    FILE *f;
    char *buf;
    long n;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (f == NULL) {
        st_die("cannot open %s", path);
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
        st_die("cannot size %s", path);
    }
    rewind(f);
    buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        st_die("cannot read %s", path);
    }
    buf[n] = '\0';
    fclose(f);
    if (len != NULL) {
        *len = (size_t)n;
    }
    return buf;
}

/* $name, or die naming the make target that sets it. */
static inline const char *st_env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') {
        st_die("%s is not set (run through make check-hardening)", name);
    }
    return v;
}

#endif
