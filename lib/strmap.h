/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The seeded hash and a string map (strmap.c): generic lookup pieces that know nothing of
 * policies or identities, below both the compiler and the index (docs/internals.md,
 * "Dependency order"). Not installed.
 */
#ifndef MTLSAUTHZ_STRMAP_H
#define MTLSAUTHZ_STRMAP_H

#include "internal.h"

/* Seeded 64-bit hash of `len` bytes (not cryptographic; keyed against hash flooding). */
uint64_t mtlsauthz__hash(const uint64_t seed[2], const void *p, size_t len);
/* Fills seed with random bytes (getrandom, else /dev/urandom, else a weak fallback). */
void mtlsauthz__seed(uint64_t seed[2]);

/* A string -> unsigned map (open addressing) used while compiling (names, ids). */
typedef struct mtlsauthz__strmap {
    struct mtlsauthz__strmap_slot *slots;
    size_t cap; /* power of two, or 0 */
    size_t count;
    const uint64_t *seed;
} mtlsauthz__strmap;

void mtlsauthz__strmap_init(mtlsauthz__strmap *m, const uint64_t seed[2]);
void mtlsauthz__strmap_free(mtlsauthz__strmap *m);
/* Makes room for `n` entries up front (no rehashing while they go in). 0 or ENOMEM. */
int mtlsauthz__strmap_reserve(mtlsauthz__strmap *m, size_t n);
/* Looks `s` up; if absent, inserts it with `value` (the string is borrowed, not copied).
 * Returns 1 and sets *found to the existing value if present, 0 if inserted, or ENOMEM. */
int mtlsauthz__strmap_put(mtlsauthz__strmap *m, const char *s, size_t len, unsigned value,
                          unsigned *found);
/* 1 and *value if present, else 0. */
int mtlsauthz__strmap_get(const mtlsauthz__strmap *m, const char *s, size_t len, unsigned *value);

#endif
