/* SPDX-License-Identifier: Apache-2.0 */
/* Bounded whole-file reads. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

int mtlsauthz__read_file(char **out, size_t *out_len, const char *path, size_t max,
                         mtlsauthz_error *err)
{
    FILE *f = NULL;
    char *data = NULL;
    size_t len = 0, cap = 0, n;
    struct stat st;
    int rc;

    *out = NULL;
    *out_len = 0;
    if (path == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "no file name given");
    }
    f = fopen(path, "rb");
    if (f == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EIO, "%s: %s", path, strerror(errno));
    }
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_EIO, "%s: is a directory", path);
        goto fail;
    }
    /* Read in chunks rather than trusting st_size: the file may be a pipe or change size. */
    for (;;) {
        if (len == cap) {
            char *p;
            size_t ncap = cap ? cap * 2 : 64 * 1024;
            if (ncap > max + 1) {
                ncap = max + 1;
            }
            if (ncap <= cap) {
                rc = mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT, "%s: larger than %zu bytes", path,
                                          max);
                goto fail;
            }
            p = mtlsauthz__realloc(data, ncap + 1);
            if (p == NULL) {
                rc = mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "%s: out of memory", path);
                goto fail;
            }
            data = p;
            cap = ncap;
        }
        n = fread(data + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            break;
        }
        if (len > max) {
            rc =
                mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT, "%s: larger than %zu bytes", path, max);
            goto fail;
        }
    }
    if (ferror(f)) {
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_EIO, "%s: read error", path);
        goto fail;
    }
    if (data == NULL) {
        data = mtlsauthz__malloc(1);
        if (data == NULL) {
            rc = mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "%s: out of memory", path);
            goto fail;
        }
    }
    data[len] = '\0';
    fclose(f);
    *out = data;
    *out_len = len;
    return 0;
fail:
    mtlsauthz__free(data);
    fclose(f);
    return rc;
}
