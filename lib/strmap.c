/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The seeded hash and the string map (strmap.h): generic lookup pieces with no knowledge of
 * policies, used by the compiler (names and ids), the principal index and the per-peer
 * literal-operation table.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "strmap.h"

/* ---- hash ----
 * A seeded multiply-fold hash: each 16-byte block is folded through a 64x64->128 multiply
 * with the running state, and the length and both seed words enter the final mix. Fast on
 * short strings (identity values, operations) and keyed per policy, so an attacker who
 * controls certificate names cannot aim for collisions. */

#define K0 0x9e3779b97f4a7c15ull
#define K1 0xd6e8feb86659fd93ull
#define K2 0xa0761d6478bd642full

static inline uint64_t fold_mul(uint64_t a, uint64_t b)
{
#if defined(__SIZEOF_INT128__)
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
#else
    uint64_t al = a & 0xffffffffu, ah = a >> 32, bl = b & 0xffffffffu, bh = b >> 32;
    uint64_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
    uint64_t mid = (ll >> 32) + (lh & 0xffffffffu) + (hl & 0xffffffffu);
    uint64_t lo = (ll & 0xffffffffu) | (mid << 32);
    uint64_t hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
    return lo ^ hi;
#endif
}

static inline uint64_t read64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

uint64_t mtlsauthz__hash(const uint64_t seed[2], const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = seed[0] ^ fold_mul(seed[1] ^ K0, (uint64_t)len ^ K1);
    size_t n = len;
    unsigned char tail[16];

    while (n > 16) {
        h = fold_mul(read64(p) ^ K1, read64(p + 8) ^ h);
        p += 16;
        n -= 16;
    }
    memset(tail, 0, sizeof(tail));
    if (n > 0) {
        memcpy(tail, p, n);
    }
    h = fold_mul(read64(tail) ^ K2, read64(tail + 8) ^ h ^ seed[1]);
    return fold_mul(h ^ K0, (uint64_t)len ^ K2 ^ seed[0]);
}

void mtlsauthz__seed(uint64_t seed[2])
{
    unsigned char buf[16];
    size_t got = 0;

    while (got < sizeof(buf)) {
        ssize_t n = getrandom(buf + got, sizeof(buf) - got, 0);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    if (got < sizeof(buf)) {
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            while (got < sizeof(buf)) {
                ssize_t n = read(fd, buf + got, sizeof(buf) - got);
                if (n <= 0) {
                    break;
                }
                got += (size_t)n;
            }
            close(fd);
        }
    }
    if (got < sizeof(buf)) {
        /* Weak, but only hash-flooding resistance is lost, never correctness. */
        uint64_t t = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)seed ^ (uint64_t)clock();
        seed[0] = fold_mul(t ^ K0, K1);
        seed[1] = fold_mul(t ^ K2, K0);
        return;
    }
    memcpy(&seed[0], buf, 8);
    memcpy(&seed[1], buf + 8, 8);
}

/* ---- string map ---- */

struct mtlsauthz__strmap_slot {
    const char *s; /* NULL: empty */
    size_t len;
    uint64_t h;
    unsigned value;
};

void mtlsauthz__strmap_init(mtlsauthz__strmap *m, const uint64_t seed[2])
{
    memset(m, 0, sizeof(*m));
    m->seed = seed;
}

void mtlsauthz__strmap_free(mtlsauthz__strmap *m)
{
    mtlsauthz__free(m->slots);
    m->slots = NULL;
    m->cap = 0;
    m->count = 0;
}

static struct mtlsauthz__strmap_slot *strmap_find(const mtlsauthz__strmap *m, const char *s,
                                                  size_t len, uint64_t h)
{
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    for (;;) {
        struct mtlsauthz__strmap_slot *slot = &m->slots[i];
        if (slot->s == NULL || (slot->h == h && slot->len == len && memcmp(slot->s, s, len) == 0)) {
            return slot;
        }
        i = (i + 1) & mask;
    }
}

static int strmap_grow(mtlsauthz__strmap *m)
{
    size_t ncap = m->cap == 0 ? 16 : m->cap * 2;
    struct mtlsauthz__strmap_slot *old = m->slots;
    size_t ocap = m->cap;

    if (ncap > SIZE_MAX / sizeof(*old)) {
        return MTLSAUTHZ_ENOMEM;
    }
    m->slots = mtlsauthz__calloc(ncap, sizeof(*old));
    if (m->slots == NULL) {
        m->slots = old;
        return MTLSAUTHZ_ENOMEM;
    }
    m->cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].s != NULL) {
            *strmap_find(m, old[i].s, old[i].len, old[i].h) = old[i];
        }
    }
    mtlsauthz__free(old);
    return 0;
}

int mtlsauthz__strmap_reserve(mtlsauthz__strmap *m, size_t n)
{
    while (n * 2 > m->cap) {
        if (strmap_grow(m) < 0) {
            return MTLSAUTHZ_ENOMEM;
        }
    }
    return 0;
}

int mtlsauthz__strmap_put(mtlsauthz__strmap *m, const char *s, size_t len, unsigned value,
                          unsigned *found)
{
    uint64_t h = mtlsauthz__hash(m->seed, s, len);
    struct mtlsauthz__strmap_slot *slot;

    /* Keep the load factor at or below 1/2 so probe runs stay short. */
    if ((m->count + 1) * 2 > m->cap) {
        if (strmap_grow(m) < 0) {
            return MTLSAUTHZ_ENOMEM;
        }
    }
    slot = strmap_find(m, s, len, h);
    if (slot->s != NULL) {
        *found = slot->value;
        return 1;
    }
    slot->s = s;
    slot->len = len;
    slot->h = h;
    slot->value = value;
    m->count++;
    return 0;
}

int mtlsauthz__strmap_get(const mtlsauthz__strmap *m, const char *s, size_t len, unsigned *value)
{
    const struct mtlsauthz__strmap_slot *slot;
    if (m->cap == 0) {
        return 0;
    }
    slot = strmap_find(m, s, len, mtlsauthz__hash(m->seed, s, len));
    if (slot->s == NULL) {
        return 0;
    }
    *value = slot->value;
    return 1;
}
