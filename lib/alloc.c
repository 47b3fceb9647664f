/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The library's allocator. Every allocation the library makes itself comes through here, so
 * the allocation-failure tests can fail the Nth one. (libyaml allocates on its own and is
 * outside this net; libcyaml's allocations are routed here through its mem_fn.)
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* -1: never fail. n >= 0: n more allocations succeed, then every one fails. */
static _Atomic long fail_after = -1;

void mtlsauthz__alloc_fail_after(long n)
{
    atomic_store(&fail_after, n);
}

static int should_fail(void)
{
    long cur = atomic_load_explicit(&fail_after, memory_order_relaxed);
    while (cur >= 0) {
        if (cur == 0) {
            return 1;
        }
        if (atomic_compare_exchange_weak(&fail_after, &cur, cur - 1)) {
            return 0;
        }
    }
    return 0;
}

void *mtlsauthz__malloc(size_t n)
{
    if (should_fail()) {
        return NULL;
    }
    return malloc(n == 0 ? 1 : n);
}

void *mtlsauthz__calloc(size_t count, size_t size)
{
    if (should_fail()) {
        return NULL;
    }
    if (count == 0 || size == 0) {
        count = 1;
        size = 1;
    }
    return calloc(count, size);
}

void *mtlsauthz__realloc(void *p, size_t n)
{
    if (should_fail()) {
        return NULL;
    }
    return realloc(p, n == 0 ? 1 : n);
}

void mtlsauthz__free(void *p)
{
    free(p);
}

char *mtlsauthz__memdup0(const void *p, size_t len)
{
    char *s;
    if (len == SIZE_MAX) {
        return NULL;
    }
    s = mtlsauthz__malloc(len + 1);
    if (s == NULL) {
        return NULL;
    }
    if (len > 0) {
        memcpy(s, p, len);
    }
    s[len] = '\0';
    return s;
}

void mtlsauthz_string_free(char *s)
{
    mtlsauthz__free(s);
}
