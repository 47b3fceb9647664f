/* SPDX-License-Identifier: Apache-2.0 */
/* clang-format off */
/*
 * The principal index (docs/performance.md: per-connection resolution must cost O(identity),
 * not O(policy)). The hash it files entries under is in strmap.c.
 *
 * Each principal is filed under one "anchor" key (the one whose patterns are the most
 * selective), because a selector matches only when all its keys match: any one key is a
 * necessary condition, and candidates are verified against the full selector afterwards.
 * Every pattern of the anchor key goes into one open-addressing hash table under
 * (key, kind, bytes):
 *   EXACT   a literal pattern, under its whole (folded) value;
 *   PREFIX  a wildcard pattern, under its leading literal cut back to the last separator
 *           (spiffe://td/ns/x/{any} is filed under "spiffe://td/ns/x/"); for fields without
 *           a separator, cut back to a power-of-two length;
 *   SUFFIX  the same from the end ("*.example.com" -> ".example.com"), used when it is the
 *           longer of the two (DNS wildcards).
 * An identity value is then probed whole, at each separator-terminated prefix and
 * separator-started suffix (only at lengths the index holds), which walks a trie over
 * segments using hash probes. Principals with no indexable key (only `ip`, or only patterns
 * like "**") are kept in a fallback list and always verified.
 */
/* clang-format on */
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "policy_int.h"
#include "strmap.h"

/* Mixes an entry's key and kind into its hash (an odd 64-bit constant). */
#define IX_MIX 0xd6e8feb86659fd93ull

/* ---- principal index ---- */

enum { IX_EXACT = 0, IX_PREFIX = 1, IX_SUFFIX = 2, IX_KINDS = 3 };

/* clang-format off */
/*
 * What a probe hit proves, per (entry, principal). A principal with a single key (not eku) and
 * no capture that a rule needs matches as soon as one of its patterns matches one value; for
 * these simple pattern shapes the probe itself decides, and the engine skips verification:
 *   SHAPE_EXACT         the literal pattern equals the value;
 *   SHAPE_PREFIX_STAR   "<prefix>*": what follows the prefix is a match of `*`;
 *   SHAPE_PREFIX_ANY    "<prefix>**": what follows is a match of `**`;
 *   SHAPE_SUFFIX_STAR   "*<suffix>": what precedes the suffix is a match of `*`;
 *   SHAPE_SUFFIX_ANY    "**<suffix>": what precedes is a match of `**`.
 * "A match of" is asked of the matcher's own rule for the key's wildcard class
 * (mtlsauthz__pattern_wild_span()): non-empty, whole units, none the wildcard stops at. The
 * prefix is the pattern's whole leading literal, which ends on a unit boundary (pattern.h).
 */
/* clang-format on */
enum {
    SHAPE_VERIFY = 0,
    SHAPE_EXACT,
    SHAPE_PREFIX_STAR,
    SHAPE_PREFIX_ANY,
    SHAPE_SUFFIX_STAR,
    SHAPE_SUFFIX_ANY
};

/* Lengths tracked in the per-(key, kind) length bitmaps; longer entries are cut to this. */
#define IX_MAX_LEN 1024u

typedef struct ix_slot {
    uint64_t h;    /* 0 with list_n == 0: empty */
    const char *s; /* borrowed from the compiled patterns */
    uint32_t len;
    uint16_t key;
    uint16_t kind;
    uint32_t first; /* into ix->plist and ix->pshape */
    uint32_t n;
} ix_slot;

struct mtlsauthz__index {
    ix_slot *slots;
    size_t cap;
    unsigned *plist;
    unsigned char *pshape; /* SHAPE_* per plist entry */
    unsigned *fallback;
    unsigned nfallback;
    /* Which (key, kind) pairs hold entries, and at which lengths, so probes are made only
     * where an entry could be. */
    uint64_t *lens[MTLSAUTHZ__KEY_COUNT][IX_KINDS];
    unsigned char used[MTLSAUTHZ__KEY_COUNT][IX_KINDS];
};

typedef struct posting {
    uint64_t h;
    const char *s;
    uint32_t len;
    uint16_t key;
    uint16_t kind;
    unsigned principal;
    unsigned shape;
} posting;

static uint64_t ix_hash(const uint64_t seed[2], unsigned key, unsigned kind, const char *s,
                        size_t len)
{
    return mtlsauthz__hash(seed, s, len) ^ ((uint64_t)(key * IX_KINDS + kind + 1u) * IX_MIX);
}

static size_t pow2_floor(size_t n)
{
    size_t p = 1;
    while (p * 2 <= n) {
        p *= 2;
    }
    return p;
}

/* The byte a key's values are cut into segments at for probes (0: power-of-two lengths). */
static char key_sep(unsigned k)
{
    return mtlsauthz__wclass_sep(mtlsauthz__key_wclass((mtlsauthz__key)k));
}

/* How a pattern would be indexed: kind, bytes and length; score 0 = not indexable. */
typedef struct ix_choice {
    unsigned kind;
    const char *s;
    size_t len;
    size_t score;
} ix_choice;

static ix_choice choose_pattern(const mtlsauthz__pattern *pat, char sep)
{
    ix_choice c = {0, NULL, 0, 0};
    size_t plen = 0, slen = 0;
    const char *suf = NULL;

    if (pat->is_literal) {
        c.kind = IX_EXACT;
        c.s = pat->text;
        c.len = pat->text_len;
        c.score = 1000000u + pat->text_len;
        return c;
    }
    if (pat->ntoks > 0 && pat->toks[0].kind == MTLSAUTHZ__TOK_LIT) {
        const mtlsauthz__tok *t = &pat->toks[0];
        if (sep != 0) {
            for (size_t i = t->lit_len; i > 0; i--) {
                if (t->lit[i - 1] == sep) {
                    plen = i;
                    break;
                }
            }
        } else if (t->lit_len > 0) {
            plen = pow2_floor(t->lit_len);
        }
    }
    if (pat->ntoks > 1 && pat->toks[pat->ntoks - 1].kind == MTLSAUTHZ__TOK_LIT) {
        const mtlsauthz__tok *t = &pat->toks[pat->ntoks - 1];
        if (sep != 0) {
            const char *q = memchr(t->lit, sep, t->lit_len);
            if (q != NULL) {
                suf = q;
                slen = t->lit_len - (size_t)(q - t->lit);
            }
        } else if (t->lit_len > 0) {
            slen = pow2_floor(t->lit_len);
            suf = t->lit + t->lit_len - slen;
        }
    }
    if (plen > IX_MAX_LEN) {
        plen = 0; /* such long prefixes are not probed; fall back to the suffix or the list */
    }
    if (slen > IX_MAX_LEN) {
        slen = 0;
    }
    if (plen == 0 && slen == 0) {
        return c;
    }
    if (plen >= slen) {
        c.kind = IX_PREFIX;
        c.s = pat->toks[0].lit;
        c.len = plen;
        c.score = plen;
    } else {
        c.kind = IX_SUFFIX;
        c.s = suf;
        c.len = slen;
        c.score = slen;
    }
    return c;
}

/* The anchor key of a principal: KEY_COUNT when none is indexable. */
static unsigned choose_anchor(const mtlsauthz__principal *pr)
{
    unsigned best = MTLSAUTHZ__KEY_COUNT;
    size_t best_score = 0;

    for (unsigned k = 0; k < MTLSAUTHZ__KEY_COUNT; k++) {
        const mtlsauthz__ckey *ck = mtlsauthz__principal_key(pr, k);
        size_t score = SIZE_MAX;
        if (ck->n == 0 || ck->pats == NULL) {
            continue; /* absent, or `ip` */
        }
        for (unsigned i = 0; i < ck->n && score > 0; i++) {
            ix_choice c = choose_pattern(&ck->pats[i], key_sep(k));
            if (c.score < score) {
                score = c.score;
            }
        }
        /* EKU values are shared by most certificates: a last resort as an anchor. */
        if (mtlsauthz__key_kind_of((mtlsauthz__key)k) == MTLSAUTHZ__KIND_EKU && score > 0) {
            score = 1;
        }
        if (score > best_score) {
            best_score = score;
            best = k;
        }
    }
    return best;
}

/* Postings of one entry, while the index is built. */
typedef struct group {
    uint32_t post; /* its first posting */
    uint32_t n;    /* postings kept */
    uint32_t next; /* where its next one goes in plist */
    unsigned last_principal;
    unsigned last_shape;
} group;

static int same_entry(const posting *x, const posting *y)
{
    return x->h == y->h && x->key == y->key && x->kind == y->kind && x->len == y->len &&
           memcmp(x->s, y->s, x->len) == 0;
}

static ix_slot *ix_find(const struct mtlsauthz__index *ix, uint64_t h, unsigned key, unsigned kind,
                        const char *s, size_t len)
{
    size_t mask = ix->cap - 1, i = (size_t)h & mask;
    for (;;) {
        ix_slot *slot = &ix->slots[i];
        if (slot->n == 0) {
            return slot;
        }
        if (slot->h == h && slot->key == key && slot->kind == kind && slot->len == len &&
            memcmp(slot->s, s, len) == 0) {
            return slot;
        }
        i = (i + 1) & mask;
    }
}

static int is_star(const mtlsauthz__tok *t)
{
    /* A capture no rule needs matches exactly like `*`. */
    return t->kind == MTLSAUTHZ__TOK_STAR || t->kind == MTLSAUTHZ__TOK_CAPTURE;
}

static unsigned posting_shape(const mtlsauthz__principal *pr, unsigned k,
                              const mtlsauthz__pattern *pat, const ix_choice *c)
{
    const mtlsauthz__tok *t = pat->toks;
    if ((pr->key_mask & (pr->key_mask - 1u)) != 0 ||
        mtlsauthz__key_kind_of((mtlsauthz__key)k) == MTLSAUTHZ__KIND_EKU || pr->needed_caps != 0) {
        return SHAPE_VERIFY;
    }
    if (c->kind == IX_EXACT) {
        return SHAPE_EXACT;
    }
    if (pat->ntoks != 2) {
        return SHAPE_VERIFY;
    }
    if (c->kind == IX_PREFIX && t[0].kind == MTLSAUTHZ__TOK_LIT && t[0].lit_len == c->len) {
        if (t[1].kind == MTLSAUTHZ__TOK_STARSTAR) {
            return SHAPE_PREFIX_ANY;
        }
        return is_star(&t[1]) ? SHAPE_PREFIX_STAR : SHAPE_VERIFY;
    }
    if (c->kind == IX_SUFFIX && t[1].kind == MTLSAUTHZ__TOK_LIT && t[1].lit_len == c->len) {
        if (t[0].kind == MTLSAUTHZ__TOK_STARSTAR) {
            return SHAPE_SUFFIX_ANY;
        }
        return is_star(&t[0]) ? SHAPE_SUFFIX_STAR : SHAPE_VERIFY;
    }
    return SHAPE_VERIFY;
}

int mtlsauthz__index_build(mtlsauthz_policy *p, mtlsauthz_error *err)
{
    struct mtlsauthz__index *ix;
    posting *posts = NULL;
    uint32_t *gslot = NULL, *gid = NULL;
    group *groups = NULL;
    size_t nposts = 0, npost_cap = 0, ngroups = 0;
    int rc = MTLSAUTHZ_ENOMEM;

    ix = mtlsauthz__calloc(1, sizeof(*ix));
    if (ix == NULL) {
        goto fail;
    }
    for (unsigned i = 0; i < p->nprincipals; i++) {
        const mtlsauthz__principal *pr = &p->principals[i];
        unsigned k = choose_anchor(pr);
        const mtlsauthz__ckey *ck;
        if (k == MTLSAUTHZ__KEY_COUNT) {
            unsigned *grown =
                mtlsauthz__realloc(ix->fallback, (ix->nfallback + 1u) * sizeof(unsigned));
            if (grown == NULL) {
                goto fail;
            }
            ix->fallback = grown;
            ix->fallback[ix->nfallback++] = i;
            continue;
        }
        ck = mtlsauthz__principal_key(pr, k);
        for (unsigned j = 0; j < ck->n; j++) {
            ix_choice c = choose_pattern(&ck->pats[j], key_sep(k));
            if (nposts == npost_cap) {
                size_t ncap = npost_cap == 0 ? 64 : npost_cap * 2;
                posting *grown = mtlsauthz__realloc(posts, ncap * sizeof(*posts));
                if (grown == NULL) {
                    goto fail;
                }
                posts = grown;
                npost_cap = ncap;
            }
            posts[nposts].h = ix_hash(p->seed, k, c.kind, c.s, c.len);
            posts[nposts].s = c.s;
            posts[nposts].len = (uint32_t)c.len;
            posts[nposts].key = (uint16_t)k;
            posts[nposts].kind = (uint16_t)c.kind;
            posts[nposts].principal = i;
            posts[nposts].shape = posting_shape(pr, k, &ck->pats[j], &c);
            nposts++;
            if (c.kind != IX_EXACT || c.len <= IX_MAX_LEN) {
                if (ix->lens[k][c.kind] == NULL) {
                    ix->lens[k][c.kind] = mtlsauthz__calloc(IX_MAX_LEN / 64u + 1u, 8);
                    if (ix->lens[k][c.kind] == NULL) {
                        goto fail;
                    }
                }
                if (c.len <= IX_MAX_LEN) {
                    ix->lens[k][c.kind][c.len / 64u] |= (uint64_t)1u << (c.len % 64u);
                }
            }
            ix->used[k][c.kind] = 1;
        }
    }
    /*
     * Group the postings by entry, through a scratch table, in one pass in principal order.
     * (A sort by entry did this in 7% of a 100,000-rule load, docs/performance.md.) Within an
     * entry, principals stay ascending, and an entry's posting that repeats the principal and
     * shape of the one before it is dropped.
     */
    if (nposts > 0) {
        size_t gcap = 16, mask;
        while (gcap < nposts * 2u) {
            gcap *= 2;
        }
        gslot = mtlsauthz__calloc(gcap, sizeof(*gslot));
        gid = mtlsauthz__malloc(nposts * sizeof(*gid));
        groups = mtlsauthz__malloc(nposts * sizeof(*groups));
        if (gslot == NULL || gid == NULL || groups == NULL) {
            goto fail;
        }
        mask = gcap - 1;
        for (size_t i = 0; i < nposts; i++) {
            const posting *ps = &posts[i];
            size_t at = (size_t)ps->h & mask;
            group *g;
            while (gslot[at] != 0 && !same_entry(&posts[groups[gslot[at] - 1u].post], ps)) {
                at = (at + 1) & mask;
            }
            if (gslot[at] == 0) {
                groups[ngroups].post = (uint32_t)i;
                groups[ngroups].n = 0;
                gslot[at] = (uint32_t)++ngroups;
            }
            g = &groups[gslot[at] - 1u];
            if (g->n > 0 && g->last_principal == ps->principal && g->last_shape == ps->shape) {
                gid[i] = UINT32_MAX;
                continue;
            }
            g->n++;
            g->last_principal = ps->principal;
            g->last_shape = ps->shape;
            gid[i] = gslot[at] - 1u;
        }
    }
    ix->plist = mtlsauthz__malloc((nposts + 1u) * sizeof(unsigned));
    ix->pshape = mtlsauthz__malloc(nposts + 1u);
    if (ix->plist == NULL || ix->pshape == NULL) {
        goto fail;
    }
    ix->cap = 16;
    while (ix->cap < ngroups * 2u) {
        ix->cap *= 2;
    }
    ix->slots = mtlsauthz__calloc(ix->cap, sizeof(*ix->slots));
    if (ix->slots == NULL) {
        goto fail;
    }
    {
        uint32_t out = 0;
        for (size_t gi = 0; gi < ngroups; gi++) {
            const posting *ps = &posts[groups[gi].post];
            ix_slot *slot = ix_find(ix, ps->h, ps->key, ps->kind, ps->s, ps->len);
            slot->h = ps->h;
            slot->s = ps->s;
            slot->len = ps->len;
            slot->key = ps->key;
            slot->kind = ps->kind;
            slot->first = out;
            slot->n = groups[gi].n;
            groups[gi].next = out;
            out += groups[gi].n;
        }
        for (size_t i = 0; i < nposts; i++) {
            if (gid[i] != UINT32_MAX) {
                uint32_t at = groups[gid[i]].next++;
                ix->pshape[at] = (unsigned char)posts[i].shape;
                ix->plist[at] = posts[i].principal;
            }
        }
    }
    mtlsauthz__free(gslot);
    mtlsauthz__free(gid);
    mtlsauthz__free(groups);
    mtlsauthz__free(posts);
    p->index = ix;
    return 0;
fail:
    mtlsauthz__free(posts);
    mtlsauthz__free(gslot);
    mtlsauthz__free(gid);
    mtlsauthz__free(groups);
    mtlsauthz__index_free(ix);
    return mtlsauthz__error_set(err, rc, "out of memory building the policy index");
}

void mtlsauthz__index_free(struct mtlsauthz__index *ix)
{
    if (ix == NULL) {
        return;
    }
    for (unsigned k = 0; k < MTLSAUTHZ__KEY_COUNT; k++) {
        for (unsigned kind = 0; kind < IX_KINDS; kind++) {
            mtlsauthz__free(ix->lens[k][kind]);
        }
    }
    mtlsauthz__free(ix->slots);
    mtlsauthz__free(ix->plist);
    mtlsauthz__free(ix->pshape);
    mtlsauthz__free(ix->fallback);
    mtlsauthz__free(ix);
}

static int has_len(const struct mtlsauthz__index *ix, unsigned key, unsigned kind, size_t len)
{
    const uint64_t *bits = ix->lens[key][kind];
    return bits != NULL && len <= IX_MAX_LEN && (bits[len / 64u] >> (len % 64u)) & 1u;
}

/* The value `v` (`vlen` bytes) of a key with wildcard class `wclass` is probed at
 * [off, off + len). */
typedef struct probe_at {
    const char *v;
    size_t vlen, off, len;
    mtlsauthz__wclass wclass;
} probe_at;

static int shape_holds(unsigned shape, const probe_at *a)
{
    switch (shape) {
    case SHAPE_EXACT:
        return 1;
    case SHAPE_PREFIX_STAR:
        return mtlsauthz__pattern_wild_span(a->wclass, MTLSAUTHZ__TOK_STAR, a->v, a->len, a->vlen,
                                            a->vlen);
    case SHAPE_PREFIX_ANY:
        return mtlsauthz__pattern_wild_span(a->wclass, MTLSAUTHZ__TOK_STARSTAR, a->v, a->len,
                                            a->vlen, a->vlen);
    case SHAPE_SUFFIX_STAR:
        return mtlsauthz__pattern_wild_span(a->wclass, MTLSAUTHZ__TOK_STAR, a->v, 0, a->off,
                                            a->vlen);
    case SHAPE_SUFFIX_ANY:
        return mtlsauthz__pattern_wild_span(a->wclass, MTLSAUTHZ__TOK_STARSTAR, a->v, 0, a->off,
                                            a->vlen);
    default:
        return 0;
    }
}

static int probe(const mtlsauthz_policy *p, unsigned key, unsigned kind, const probe_at *a,
                 mtlsauthz__index_visit visit, void *ctx)
{
    const struct mtlsauthz__index *ix = p->index;
    const char *s = a->v + a->off;
    uint64_t h = ix_hash(p->seed, key, kind, s, a->len);
    const ix_slot *slot = ix_find(ix, h, key, kind, s, a->len);
    for (uint32_t i = 0; i < slot->n; i++) {
        int rc =
            visit(ctx, ix->plist[slot->first + i], shape_holds(ix->pshape[slot->first + i], a));
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

int mtlsauthz__index_candidates(const mtlsauthz_policy *p,
                                const mtlsauthz__str *const vals[MTLSAUTHZ_FIELD_COUNT_],
                                const size_t counts[MTLSAUTHZ_FIELD_COUNT_],
                                mtlsauthz__index_visit visit, void *ctx)
{
    const struct mtlsauthz__index *ix = p->index;
    int rc;

    for (unsigned i = 0; i < ix->nfallback; i++) {
        rc = visit(ctx, ix->fallback[i], 0);
        if (rc != 0) {
            return rc;
        }
    }
    for (unsigned k = 0; k < MTLSAUTHZ__KEY_COUNT; k++) {
        mtlsauthz_field f;
        mtlsauthz__wclass wclass;
        char sep;
        if (!ix->used[k][IX_EXACT] && !ix->used[k][IX_PREFIX] && !ix->used[k][IX_SUFFIX]) {
            continue;
        }
        f = mtlsauthz__key_field((mtlsauthz__key)k);
        wclass = mtlsauthz__key_wclass((mtlsauthz__key)k);
        sep = mtlsauthz__wclass_sep(wclass);
        for (size_t v = 0; v < counts[f]; v++) {
            probe_at a;
            a.v = vals[f][v].ptr;
            a.vlen = vals[f][v].len;
            a.wclass = wclass;
            if (ix->used[k][IX_EXACT]) {
                a.off = 0;
                a.len = a.vlen;
                rc = probe(p, k, IX_EXACT, &a, visit, ctx);
                if (rc != 0) {
                    return rc;
                }
            }
            if (sep != 0) {
                for (size_t i = 0; i < a.vlen; i++) {
                    if (a.v[i] != sep) {
                        continue;
                    }
                    if (has_len(ix, k, IX_PREFIX, i + 1)) {
                        a.off = 0;
                        a.len = i + 1;
                        rc = probe(p, k, IX_PREFIX, &a, visit, ctx);
                        if (rc != 0) {
                            return rc;
                        }
                    }
                    if (has_len(ix, k, IX_SUFFIX, a.vlen - i)) {
                        a.off = i;
                        a.len = a.vlen - i;
                        rc = probe(p, k, IX_SUFFIX, &a, visit, ctx);
                        if (rc != 0) {
                            return rc;
                        }
                    }
                }
            } else {
                for (size_t l = 1; l <= a.vlen && l <= IX_MAX_LEN; l *= 2) {
                    if (has_len(ix, k, IX_PREFIX, l)) {
                        a.off = 0;
                        a.len = l;
                        rc = probe(p, k, IX_PREFIX, &a, visit, ctx);
                        if (rc != 0) {
                            return rc;
                        }
                    }
                    if (has_len(ix, k, IX_SUFFIX, l)) {
                        a.off = a.vlen - l;
                        a.len = l;
                        rc = probe(p, k, IX_SUFFIX, &a, visit, ctx);
                        if (rc != 0) {
                            return rc;
                        }
                    }
                }
            }
        }
    }
    return 0;
}
