/* Error codes, messages and the caller-owned error struct. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

void mtlsauthz_error_clear(mtlsauthz_error *err)
{
    if (err == NULL) {
        return;
    }
    err->code = 0;
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
    err->code = code;
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
