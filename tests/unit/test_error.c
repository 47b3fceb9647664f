/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error codes and the caller-owned error struct (lib/error.c): the sentinel follows from the
 * X-macro, and the reserved space reads zero after every write (docs/abi.md).
 */
#include "helpers.h"
#include "mtlsauthz/mtlsauthz.h"

#define COUNT_ONE(name, value, desc) +1
static const int n_codes = 0 MTLSAUTHZ_ERRNO_MAP(COUNT_ONE);

Test(error, sentinel_is_one_below_the_lowest_code)
{
    int lowest = 0;
#define LOWEST(name, value, desc) lowest = (value) < lowest ? (value) : lowest;
    MTLSAUTHZ_ERRNO_MAP(LOWEST)
#undef LOWEST
    cr_assert_eq(MTLSAUTHZ_ERRNO_LAST_, lowest - 1);
    cr_assert_eq(MTLSAUTHZ_ERRNO_LAST_, -n_codes);
    /* Every value in the range is a known code, and the sentinel is not one. */
    for (int c = 0; c > MTLSAUTHZ_ERRNO_LAST_; c--) {
        cr_assert_str_neq(mtlsauthz_errname(c), "MTLSAUTHZ_EUNKNOWN", "code %d", c);
        cr_assert_str_neq(mtlsauthz_strerror(c), "unknown error", "code %d", c);
    }
    cr_assert_str_eq(mtlsauthz_errname(MTLSAUTHZ_ERRNO_LAST_), "MTLSAUTHZ_EUNKNOWN");
    cr_assert_str_eq(mtlsauthz_strerror(MTLSAUTHZ_ERRNO_LAST_), "unknown error");
    cr_assert_str_eq(mtlsauthz_errname(1), "MTLSAUTHZ_EUNKNOWN");
}

Test(error, zero_initializer_keeps_working)
{
    mtlsauthz_error err = {0};
    cr_assert_eq(err.code, 0);
    cr_assert_eq(err.line, 0);
    cr_assert_eq(err.column, 0);
    cr_assert_eq(err.message[0], '\0');
    for (size_t i = 0; i < sizeof(err.reserved) / sizeof(err.reserved[0]); i++) {
        cr_assert_null(err.reserved[i]);
    }
}

static void assert_reserved_zero(const mtlsauthz_error *err)
{
    for (size_t i = 0; i < sizeof(err->reserved) / sizeof(err->reserved[0]); i++) {
        cr_assert_null(err->reserved[i], "reserved[%zu] was left as the caller had it", i);
    }
}

Test(error, failure_zeroes_reserved_space)
{
    mtlsauthz_error err;
    mtlsauthz_policy *p = NULL;
    memset(&err, 0xa5, sizeof(err));
    cr_assert_eq(mtlsauthz_policy_load(&p, NULL, 1, &err), MTLSAUTHZ_EINVAL);
    cr_assert_eq(err.code, MTLSAUTHZ_EINVAL);
    assert_reserved_zero(&err);

    /* A load error with a position takes the same path. */
    memset(&err, 0xa5, sizeof(err));
    cr_assert_eq(mtlsauthz_policy_load(&p, "version: 1\nrulez: []\n", 21, &err), MTLSAUTHZ_EPOLICY);
    cr_assert_eq(err.line, 2);
    assert_reserved_zero(&err);
}

Test(error, clear_zeroes_everything)
{
    mtlsauthz_error err;
    memset(&err, 0xa5, sizeof(err));
    mtlsauthz_error_clear(&err);
    cr_assert_eq(err.code, 0);
    cr_assert_eq(err.line, 0);
    cr_assert_eq(err.column, 0);
    cr_assert_eq(err.message[0], '\0');
    assert_reserved_zero(&err);
    mtlsauthz_error_clear(NULL);
}
