/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared helpers for the Criterion unit tests. Certificates are generated at test time by
 * tests/certs/gen-certs.sh into $MTLSAUTHZ_TEST_CERTS; fixed inputs live in
 * $MTLSAUTHZ_TEST_DATA (tests/data).
 */
#ifndef MTLSAUTHZ_TEST_HELPERS_H
#define MTLSAUTHZ_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads $env_var/name into a malloc'd, NUL-terminated buffer; fails the test if missing. */
static inline char *th_read(const char *env_var, const char *name, size_t *len)
{
    const char *dir = getenv(env_var);
    char path[4096];
    FILE *f;
    char *buf;
    long n;
    cr_assert(dir != NULL, "%s is not set (run the tests through make check)", env_var);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    cr_assert(f != NULL, "cannot open %s", path);
    cr_assert(fseek(f, 0, SEEK_END) == 0);
    n = ftell(f);
    cr_assert(n >= 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    cr_assert(buf != NULL);
    cr_assert(fread(buf, 1, (size_t)n, f) == (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len != NULL) {
        *len = (size_t)n;
    }
    return buf;
}

static inline char *th_cert(const char *name, size_t *len)
{
    return th_read("MTLSAUTHZ_TEST_CERTS", name, len);
}

static inline char *th_data(const char *name, size_t *len)
{
    return th_read("MTLSAUTHZ_TEST_DATA", name, len);
}

/* Builds "$MTLSAUTHZ_TEST_CERTS/name" into a static buffer (one at a time). */
static inline const char *th_cert_path(const char *name)
{
    static char path[4096];
    const char *dir = getenv("MTLSAUTHZ_TEST_CERTS");
    cr_assert(dir != NULL, "MTLSAUTHZ_TEST_CERTS is not set");
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return path;
}

#endif
