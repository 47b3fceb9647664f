/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-connection phase (docs/internals.md, "Data flow"): mtlsauthz_peer_new() resolves
 * which principals an identity matches (through the index) and what they bind, lists the rules
 * it could match and builds the peer's literal-operation table, so that a request
 * (decide.c) only matches its operation against those rules. Everything a peer holds is
 * allocated here, once per connection; mtlsauthz_policy_decide() is a peer made and dropped
 * for one request.
 *
 * Semantics (docs/policy.md): a key matches when any value of its field matches any
 * of its patterns (eku: every listed EKU is present); a selector when all its keys match.
 * A set of bindings must be consistent.
 */
#include <stdlib.h>
#include <string.h>

#include "identity_int.h"
#include "policy_int.h"

/* ---- identity values as matched ---- */

static void fold_value(char *dst, const char *src, size_t len, mtlsauthz__fold fold)
{
    size_t from = 0;
    memcpy(dst, src, len);
    dst[len] = '\0';
    if (fold == MTLSAUTHZ__FOLD_AFTER_LAST_AT) {
        const char *at = NULL;
        for (size_t i = 0; i < len; i++) {
            if (src[i] == '@') {
                at = src + i;
            }
        }
        if (at == NULL) {
            return; /* no domain part: nothing compares case-insensitively */
        }
        from = (size_t)(at - src) + 1u;
    }
    for (size_t i = from; i < len; i++) {
        dst[i] = (char)mtlsauthz__lower((unsigned char)dst[i]);
    }
}

int mtlsauthz__fold_identity(mtlsauthz__folded *f, const mtlsauthz_identity *id)
{
    /* Each folding key reads a field no other key reads (tests/unit/test_keys.c). */
    static const mtlsauthz__key folded[MTLSAUTHZ__KEYS_FOLDED] = {
        MTLSAUTHZ__SELECTOR_KEYS(MTLSAUTHZ__KEY_IF_FOLDS)};
    size_t total = 0, off = 0;

    memset(f, 0, sizeof(*f));
    for (unsigned i = 0; i < MTLSAUTHZ_FIELD_COUNT_; i++) {
        f->vals[i] = id->values[i];
        f->counts[i] = id->values[i] != NULL ? id->counts[i] : 0;
    }
    f->ip_raw = id->ip_raw;
    for (unsigned j = 0; j < MTLSAUTHZ__KEYS_FOLDED; j++) {
        mtlsauthz_field fld = mtlsauthz__key_field(folded[j]);
        for (size_t i = 0; i < f->counts[fld]; i++) {
            total += id->values[fld][i].len + 1u; /* bounded by the certificate's size */
        }
    }
    f->bytes = mtlsauthz__malloc(total);
    if (f->bytes == NULL) {
        return MTLSAUTHZ_ENOMEM;
    }
    for (unsigned j = 0; j < MTLSAUTHZ__KEYS_FOLDED; j++) {
        mtlsauthz_field fld = mtlsauthz__key_field(folded[j]);
        size_t n = f->counts[fld];
        if (n == 0) {
            continue;
        }
        f->owned[j] = mtlsauthz__calloc(n, sizeof(mtlsauthz__str));
        if (f->owned[j] == NULL) {
            mtlsauthz__folded_free(f);
            return MTLSAUTHZ_ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
            const mtlsauthz__str *v = &id->values[fld][i];
            fold_value(f->bytes + off, v->ptr, v->len, mtlsauthz__key_fold(folded[j]));
            f->owned[j][i].ptr = f->bytes + off;
            f->owned[j][i].len = v->len;
            off += v->len + 1u;
        }
        f->vals[fld] = f->owned[j];
    }
    return 0;
}

void mtlsauthz__folded_free(mtlsauthz__folded *f)
{
    for (unsigned j = 0; j < MTLSAUTHZ__KEYS_FOLDED; j++) {
        mtlsauthz__free(f->owned[j]);
    }
    mtlsauthz__free(f->bytes);
    memset(f, 0, sizeof(*f));
}

/* ---- principal matching ---- */

static int pattern_hit(const mtlsauthz__pattern *pat, const mtlsauthz__str *v,
                       unsigned long *budget)
{
    if (pat->is_literal) {
        return mtlsauthz__str_eq(v, pat->text, pat->text_len);
    }
    if (v->len < pat->min_len) {
        return 0;
    }
    return mtlsauthz__pattern_match(pat, v->ptr, v->len, NULL, NULL, NULL, budget);
}

/* 1 if key k of pr matches, 0 if not, ELIMIT when the budget ran out. */
static int key_matches(const mtlsauthz__principal *pr, mtlsauthz__key k, const mtlsauthz__folded *f,
                       unsigned long *budget)
{
    const mtlsauthz__ckey *ck = mtlsauthz__principal_key(pr, k);
    mtlsauthz_field fld = mtlsauthz__key_field(k);
    const mtlsauthz__str *vals = f->vals[fld];
    size_t nvals = f->counts[fld];

    if (mtlsauthz__key_kind_of(k) == MTLSAUTHZ__KIND_EKU) {
        /* Every listed EKU must be present (RFC 5280 §4.2.1.12); no extension, no EKUs. */
        for (unsigned i = 0; i < ck->n; i++) {
            int found = 0;
            for (size_t j = 0; j < nvals && !found; j++) {
                found = mtlsauthz__str_eq(&vals[j], ck->pats[i].text, ck->pats[i].text_len);
            }
            if (!found) {
                return 0;
            }
        }
        return 1;
    }
    if (mtlsauthz__key_kind_of(k) == MTLSAUTHZ__KIND_CIDR) {
        for (size_t j = 0; j < nvals; j++) {
            if (f->ip_raw == NULL) {
                return 0;
            }
            for (unsigned i = 0; i < ck->n; i++) {
                if (mtlsauthz__cidr_contains(&ck->cidrs[i], (const unsigned char *)f->ip_raw[j].ptr,
                                             f->ip_raw[j].len)) {
                    return 1;
                }
            }
        }
        return 0;
    }
    for (size_t j = 0; j < nvals; j++) {
        for (unsigned i = 0; i < ck->n; i++) {
            int rc = pattern_hit(&ck->pats[i], &vals[j], budget);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

static int key_needs_captures(const mtlsauthz__principal *pr, mtlsauthz__key k)
{
    const mtlsauthz__ckey *ck = mtlsauthz__principal_key(pr, k);
    if (ck->capmap == NULL || pr->needed_caps == 0) {
        return 0;
    }
    for (unsigned i = 0; i < ck->n; i++) {
        for (unsigned c = 0; c < ck->pats[i].ncaps; c++) {
            if (pr->needed_caps & ((uint32_t)1u << ck->capmap[i][c])) {
                return 1;
            }
        }
    }
    return 0;
}

int mtlsauthz__principal_failing_key(const mtlsauthz_policy *p, unsigned pi,
                                     const mtlsauthz__folded *f)
{
    const mtlsauthz__principal *pr = &p->principals[pi];
    for (unsigned k = 0; k < MTLSAUTHZ__KEY_COUNT; k++) {
        unsigned long budget = MTLSAUTHZ__PEER_MATCH_BUDGET;
        int rc;
        if (mtlsauthz__principal_key(pr, k)->n == 0) {
            continue;
        }
        rc = key_matches(pr, (mtlsauthz__key)k, f, &budget);
        if (rc < 0) {
            return rc;
        }
        if (rc == 0) {
            return (int)k;
        }
    }
    return MTLSAUTHZ__KEY_COUNT;
}

/* ---- binding enumeration ----
 * A row is one consistent assignment of the principal's capture slots (ptr NULL: unbound).
 * Keys whose captures some rule needs each give a set of alternative rows (one per distinct
 * way a value matches a pattern); the principal's tuples are the consistent combinations,
 * one alternative per key. Both sets are capped at MTLSAUTHZ__PEER_MAX_TUPLES. */

typedef mtlsauthz__str row_t[MTLSAUTHZ__PRINCIPAL_MAX_CAPTURES];

typedef struct rowset {
    row_t *rows;
    unsigned n;
} rowset;

typedef struct enum_ctx {
    rowset *set;
    const unsigned char *capmap;
    uint32_t needed;
    unsigned nslots;
    int overflow;
} enum_ctx;

static int row_eq(const row_t a, const row_t b, unsigned nslots)
{
    for (unsigned i = 0; i < nslots; i++) {
        if ((a[i].ptr == NULL) != (b[i].ptr == NULL)) {
            return 0;
        }
        if (a[i].ptr != NULL && !mtlsauthz__str_eq(&a[i], b[i].ptr, b[i].len)) {
            return 0;
        }
    }
    return 1;
}

/* 1 added, 0 duplicate, -1 full. */
static int rowset_add(rowset *s, const row_t r, unsigned nslots)
{
    for (unsigned i = 0; i < s->n; i++) {
        if (row_eq(s->rows[i], r, nslots)) {
            return 0;
        }
    }
    if (s->n == MTLSAUTHZ__PEER_MAX_TUPLES) {
        return -1;
    }
    memcpy(s->rows[s->n++], r, sizeof(row_t));
    return 1;
}

static int enum_cb(void *vctx, const mtlsauthz__str *caps, unsigned ncaps)
{
    enum_ctx *e = vctx;
    row_t r;
    memset(r, 0, sizeof(r));
    for (unsigned i = 0; i < ncaps; i++) {
        unsigned slot = e->capmap[i];
        if (e->needed & ((uint32_t)1u << slot)) {
            r[slot] = caps[i];
        }
    }
    if (rowset_add(e->set, r, e->nslots) < 0) {
        e->overflow = 1;
        return 1; /* stop: the caller fails closed */
    }
    return 0; /* keep enumerating the other ways of matching */
}

/* Fills `alts` with every binding alternative of key k. Returns 0, or ELIMIT. */
static int key_alternatives(const mtlsauthz__principal *pr, mtlsauthz__key k,
                            const mtlsauthz__folded *f, rowset *alts, unsigned long *budget)
{
    const mtlsauthz__ckey *ck = mtlsauthz__principal_key(pr, k);
    mtlsauthz_field fld = mtlsauthz__key_field(k);
    enum_ctx e;

    alts->n = 0;
    e.set = alts;
    e.needed = pr->needed_caps;
    e.nslots = pr->ncaps;
    e.overflow = 0;
    for (size_t j = 0; j < f->counts[fld]; j++) {
        const mtlsauthz__str *v = &f->vals[fld][j];
        for (unsigned i = 0; i < ck->n; i++) {
            const mtlsauthz__pattern *pat = &ck->pats[i];
            int rc;
            if (pat->ncaps == 0) {
                rc = pattern_hit(pat, v, budget);
                if (rc < 0) {
                    return rc;
                }
                if (rc == 1) {
                    row_t empty;
                    memset(empty, 0, sizeof(empty));
                    if (rowset_add(alts, empty, pr->ncaps) < 0) {
                        return MTLSAUTHZ_ELIMIT;
                    }
                }
                continue;
            }
            if (v->len < pat->min_len) {
                continue;
            }
            e.capmap = ck->capmap[i];
            rc = mtlsauthz__pattern_match(pat, v->ptr, v->len, NULL, enum_cb, &e, budget);
            if (rc < 0) {
                return rc;
            }
            if (e.overflow) {
                return MTLSAUTHZ_ELIMIT;
            }
        }
    }
    return 0;
}

/* Combines `tuples` with `alts` into `out` (consistent merges only). 0 or ELIMIT. */
static int rows_join(rowset *out, const rowset *tuples, const rowset *alts, unsigned nslots)
{
    out->n = 0;
    for (unsigned t = 0; t < tuples->n; t++) {
        for (unsigned a = 0; a < alts->n; a++) {
            row_t r;
            int ok = 1;
            memcpy(r, tuples->rows[t], sizeof(row_t));
            for (unsigned s = 0; s < nslots && ok; s++) {
                const mtlsauthz__str *x = &alts->rows[a][s];
                if (x->ptr == NULL) {
                    continue;
                }
                if (r[s].ptr == NULL) {
                    r[s] = *x;
                } else {
                    ok = mtlsauthz__str_eq(&r[s], x->ptr, x->len);
                }
            }
            if (ok && rowset_add(out, r, nslots) < 0) {
                return MTLSAUTHZ_ELIMIT;
            }
        }
    }
    return 0;
}

static unsigned lowest_bit(uint32_t m)
{
    unsigned k = 0;
    while (!(m & 1u)) {
        m >>= 1;
        k++;
    }
    return k;
}

typedef struct scratch {
    rowset tuples, alts, tmp;
    /* The principal's deny values (see mtlsauthz__mprin): at most MTLSAUTHZ__PEER_MAX_TUPLES
     * distinct ones, past which the peer fails closed like an overflowing tuple set. */
    mtlsauthz__capval loose[MTLSAUTHZ__PEER_MAX_TUPLES];
    unsigned nloose;
    uint32_t deny_wild;
} scratch;

/* Adds every value an alternative binds to a deny slot, once; narrows deny_wild to the slots
 * some alternative leaves unbound (a principal matches without binding a slot only if every
 * key can). 0, or ELIMIT when the values overflow. */
static int collect_deny_values(scratch *s, const mtlsauthz__principal *pr, const rowset *alts)
{
    uint32_t unbound = 0;
    for (unsigned a = 0; a < alts->n; a++) {
        for (uint32_t m = pr->deny_caps; m != 0; m &= m - 1) {
            unsigned slot = lowest_bit(m);
            const mtlsauthz__str *v = &alts->rows[a][slot];
            unsigned i;
            if (v->ptr == NULL) {
                unbound |= (uint32_t)1u << slot;
                continue;
            }
            for (i = 0; i < s->nloose; i++) {
                if (s->loose[i].slot == slot && mtlsauthz__str_eq(&s->loose[i].v, v->ptr, v->len)) {
                    break;
                }
            }
            if (i < s->nloose) {
                continue;
            }
            if (s->nloose == MTLSAUTHZ__PEER_MAX_TUPLES) {
                return MTLSAUTHZ_ELIMIT;
            }
            s->loose[s->nloose].slot = slot;
            s->loose[s->nloose].v = *v;
            s->nloose++;
        }
    }
    s->deny_wild &= unbound;
    return 0;
}

/* 1 matched (tuples in s->tuples), 0 not, or ELIMIT. */
static int principal_resolve(const mtlsauthz__principal *pr, const mtlsauthz__folded *f, scratch *s)
{
    unsigned long budget = MTLSAUTHZ__PEER_MATCH_BUDGET;
    int rc;

    /* Keys without needed captures first: they only have to match, and usually decide. */
    for (uint32_t m = pr->key_mask; m != 0; m &= m - 1) {
        unsigned k = lowest_bit(m);
        if (key_needs_captures(pr, (mtlsauthz__key)k)) {
            continue;
        }
        rc = key_matches(pr, (mtlsauthz__key)k, f, &budget);
        if (rc <= 0) {
            return rc;
        }
    }
    s->tuples.n = 0;
    s->nloose = 0;
    s->deny_wild = pr->deny_caps;
    if (pr->needed_caps == 0) {
        return 1;
    }
    memset(s->tuples.rows[0], 0, sizeof(row_t));
    s->tuples.n = 1;
    for (uint32_t m = pr->key_mask; m != 0; m &= m - 1) {
        unsigned k = lowest_bit(m);
        rowset swap;
        if (!key_needs_captures(pr, (mtlsauthz__key)k)) {
            continue;
        }
        rc = key_alternatives(pr, (mtlsauthz__key)k, f, &s->alts, &budget);
        if (rc < 0) {
            return rc;
        }
        if (s->alts.n == 0) {
            return 0; /* the key does not match */
        }
        if (pr->deny_caps != 0) {
            rc = collect_deny_values(s, pr, &s->alts);
            if (rc < 0) {
                return rc;
            }
        }
        rc = rows_join(&s->tmp, &s->tuples, &s->alts, pr->ncaps);
        if (rc < 0) {
            return rc;
        }
        swap = s->tuples;
        s->tuples = s->tmp;
        s->tmp = swap;
        /* No consistent set of bindings: the selector still matches (every key does), but no
         * capture-using operation can; s->tuples stays empty. */
    }
    return 1;
}

/* ---- peers ---- */

typedef struct cand_ctx {
    unsigned *v;
    size_t n, cap;
    int failed;
} cand_ctx;

/* Candidates are kept as principal * 2 + (verify ? 1 : 0), so after sorting a principal's
 * "already proven" entry comes first. */
static int collect_candidate(void *vctx, unsigned principal, int matched)
{
    cand_ctx *c = vctx;
    if (c->n == c->cap) {
        size_t ncap = c->cap == 0 ? 16 : c->cap * 2;
        unsigned *grown = mtlsauthz__realloc(c->v, ncap * sizeof(unsigned));
        if (grown == NULL) {
            c->failed = 1;
            return 1;
        }
        c->v = grown;
        c->cap = ncap;
    }
    c->v[c->n++] = principal * 2u + (matched ? 0u : 1u);
    return 0;
}

static int cmp_unsigned(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? -1 : (x > y);
}

/* (rule, matched principal) pairs as rule << 32 | mp; mp UINT32_MAX: listed through "*". */
#define PAIR(rule, mp) (((uint64_t)(rule) << 32) | (uint64_t)(mp))

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : (x > y);
}

/* Few elements are the common case: insertion sort beats qsort's indirect calls there. */
static void sort_u64(uint64_t *v, size_t n)
{
    if (n > 48) {
        qsort(v, n, sizeof(*v), cmp_u64);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        uint64_t x = v[i];
        size_t j = i;
        while (j > 0 && v[j - 1] > x) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

static void peer_fail_closed(mtlsauthz_peer *peer, int code)
{
    peer->state = MTLSAUTHZ_REASON_ERROR;
    peer->state_code = code;
}

/* ---- the per-peer literal-operation table ----
 * Most operation patterns are literal ("images:build", "GET /containers"). For a peer with
 * many candidate rules, a request then costs one hash of the operation and one probe, which
 * yields exactly the candidates with that literal; only candidates that also have a wildcard
 * or capture operation are matched one by one. Built in two passes over the candidates (in
 * file order, so every slot's list comes out ascending without sorting): count per slot,
 * then fill. */

static int op_is_literal(const mtlsauthz__cop *o)
{
    return o->pat.is_literal && o->pat.text_len <= MTLSAUTHZ__OP_MAX_LEN;
}

static int build_op_table(mtlsauthz_peer *peer)
{
    const mtlsauthz_policy *p = peer->policy;
    size_t nlits = 0, nbytes = 0, off_hits, off_slow, off_bytes, total, out = 0;
    uint32_t fill_small[64]; /* per-slot counters, on the stack for small tables */
    uint32_t *fill = NULL;
    char *bytes;
    unsigned ns = 0;

    for (unsigned i = 0; i < peer->ncands; i++) {
        const mtlsauthz__rule *r = &p->rules[peer->cands[i].rule];
        int slow = 0;
        for (unsigned j = 0; j < r->nops; j++) {
            if (op_is_literal(&r->ops[j])) {
                nlits++;
            } else {
                slow = 1;
            }
        }
        peer->nslow += slow ? 1u : 0u;
    }
    /* Size the table by distinct literals, not by all of them: it is read on every request,
     * and a small one stays in cache. Up to 8 literals fit the smallest table anyway. */
    peer->op_cap = 16;
    if (nlits <= 8) {
        for (unsigned i = 0; i < peer->ncands; i++) {
            const mtlsauthz__rule *r = &p->rules[peer->cands[i].rule];
            for (unsigned j = 0; j < r->nops; j++) {
                nbytes += op_is_literal(&r->ops[j]) ? r->ops[j].pat.text_len : 0u;
            }
        }
    } else {
        size_t tcap = 16, ndistinct = 0;
        const mtlsauthz__cop **seen;
        while (tcap < nlits * 2u) {
            tcap *= 2;
        }
        seen = mtlsauthz__calloc(tcap, sizeof(*seen));
        if (seen == NULL) {
            peer->nslow = 0;
            return MTLSAUTHZ_ENOMEM;
        }
        for (unsigned i = 0; i < peer->ncands; i++) {
            const mtlsauthz__rule *r = &p->rules[peer->cands[i].rule];
            for (unsigned j = 0; j < r->nops; j++) {
                const mtlsauthz__cop *o = &r->ops[j];
                size_t k;
                if (!op_is_literal(o)) {
                    continue;
                }
                for (k = (size_t)o->lit_hash & (tcap - 1); seen[k] != NULL;
                     k = (k + 1) & (tcap - 1)) {
                    if (seen[k]->lit_hash == o->lit_hash &&
                        seen[k]->pat.text_len == o->pat.text_len &&
                        memcmp(seen[k]->pat.text, o->pat.text, o->pat.text_len) == 0) {
                        break;
                    }
                }
                if (seen[k] == NULL) {
                    seen[k] = o;
                    ndistinct++;
                    nbytes += o->pat.text_len;
                }
            }
        }
        mtlsauthz__free(seen);
        while (peer->op_cap < ndistinct * 2u) {
            peer->op_cap *= 2;
        }
    }
    off_hits = peer->op_cap * sizeof(mtlsauthz__opslot);
    off_slow = off_hits + nlits * sizeof(mtlsauthz__ophit);
    off_bytes = off_slow + peer->nslow * sizeof(unsigned);
    total = off_bytes + nbytes;
    peer->op_block = mtlsauthz__calloc(1, total);
    fill = peer->op_cap <= MTLSAUTHZ__ARRAY_LEN(fill_small)
               ? fill_small
               : mtlsauthz__calloc(peer->op_cap, sizeof(uint32_t));
    if (fill == fill_small) {
        memset(fill_small, 0, sizeof(fill_small));
    }
    if (peer->op_block == NULL || fill == NULL) {
        if (fill != fill_small) {
            mtlsauthz__free(fill);
        }
        mtlsauthz__free(peer->op_block);
        peer->op_block = NULL;
        peer->op_cap = 0;
        peer->nslow = 0;
        return MTLSAUTHZ_ENOMEM;
    }
    peer->op_block_len = total;
    peer->op_slots = (mtlsauthz__opslot *)peer->op_block;
    peer->op_hits = (mtlsauthz__ophit *)((char *)peer->op_block + off_hits);
    peer->slow = (unsigned *)((char *)peer->op_block + off_slow);
    bytes = (char *)peer->op_block + off_bytes;

    /* Pass 1: one slot per distinct literal, counting its candidates (a rule that lists the
     * same literal twice is counted once: it is the last one counted for that slot). */
    for (unsigned i = 0; i < peer->ncands; i++) {
        const mtlsauthz__rule *r = &p->rules[peer->cands[i].rule];
        int slow = 0;
        for (unsigned j = 0; j < r->nops; j++) {
            const mtlsauthz__cop *o = &r->ops[j];
            mtlsauthz__opslot *slot;
            if (!op_is_literal(o)) {
                slow = 1;
                continue;
            }
            slot = (mtlsauthz__opslot *)mtlsauthz__op_find(
                peer->op_slots, peer->op_cap, o->lit_hash, o->pat.text, o->pat.text_len);
            if (slot->n == 0) {
                memcpy(bytes, o->pat.text, o->pat.text_len);
                slot->h = o->lit_hash;
                slot->s = bytes;
                slot->len = (uint32_t)o->pat.text_len;
                bytes += o->pat.text_len;
            } else if (fill[slot - peer->op_slots] == i + 1u) {
                continue;
            }
            fill[slot - peer->op_slots] = i + 1u;
            slot->n++;
        }
        if (slow) {
            peer->slow[ns++] = i;
        }
    }
    for (size_t k = 0; k < peer->op_cap; k++) {
        peer->op_slots[k].first = (uint32_t)out;
        out += peer->op_slots[k].n;
        fill[k] = 0;
    }
    /* Pass 2: fill each slot's list, ascending because candidates are. */
    for (unsigned i = 0; i < peer->ncands; i++) {
        const mtlsauthz__cand *c = &peer->cands[i];
        const mtlsauthz__rule *r = &p->rules[c->rule];
        for (unsigned j = 0; j < r->nops; j++) {
            const mtlsauthz__cop *o = &r->ops[j];
            const mtlsauthz__opslot *slot;
            mtlsauthz__ophit *hit;
            size_t k;
            if (!op_is_literal(o)) {
                continue;
            }
            slot = mtlsauthz__op_find(peer->op_slots, peer->op_cap, o->lit_hash, o->pat.text,
                                      o->pat.text_len);
            k = (size_t)(slot - peer->op_slots);
            if (fill[k] > 0 && peer->op_hits[slot->first + fill[k] - 1].cand == i) {
                continue;
            }
            hit = &peer->op_hits[slot->first + fill[k]++];
            hit->cand = i;
            hit->flags = c->flags;
            hit->id = c->id;
        }
    }
    if (fill != fill_small) {
        mtlsauthz__free(fill);
    }
    return 0;
}

/* Resolves principals and candidate rules. Returns 0 (peer complete or failed closed) or
 * ENOMEM. */
static int peer_resolve(mtlsauthz_peer *peer, const mtlsauthz__folded *f)
{
    const mtlsauthz_policy *p = peer->policy;
    cand_ctx cands = {NULL, 0, 0, 0};
    scratch s;
    uint64_t *pairs = NULL;
    size_t npairs = 0, arena_len = 0, arena_off = 0;
    mtlsauthz__str **tuple_tmp = NULL;
    int rc = MTLSAUTHZ_ENOMEM;

    memset(&s, 0, sizeof(s));
    (void)mtlsauthz__index_candidates(p, f->vals, f->counts, collect_candidate, &cands);
    if (cands.failed) {
        goto out;
    }
    if (cands.n > 1) {
        qsort(cands.v, cands.n, sizeof(unsigned), cmp_unsigned);
    }
    if (cands.n > 0) {
        peer->mp = mtlsauthz__calloc(cands.n, sizeof(*peer->mp));
        tuple_tmp = mtlsauthz__calloc(cands.n, sizeof(*tuple_tmp));
        if (peer->mp == NULL || tuple_tmp == NULL) {
            goto out;
        }
    }
    for (size_t i = 0; i < cands.n; i++) {
        unsigned pi = cands.v[i] / 2u;
        const mtlsauthz__principal *pr = &p->principals[pi];
        mtlsauthz__mprin *m;
        int hit;
        if (i > 0 && cands.v[i - 1] / 2u == pi) {
            continue;
        }
        if ((cands.v[i] & 1u) == 0) {
            /* The index proved it (no captures needed, so no tuples either). */
            m = &peer->mp[peer->nmp++];
            m->principal = pi;
            m->ntuples = 0;
            continue;
        }
        if (pr->needed_caps != 0 && s.tuples.rows == NULL) {
            /* Scratch for binding enumeration, only when some rule needs captured values. */
            s.tuples.rows = mtlsauthz__malloc(MTLSAUTHZ__PEER_MAX_TUPLES * sizeof(row_t));
            s.alts.rows = mtlsauthz__malloc(MTLSAUTHZ__PEER_MAX_TUPLES * sizeof(row_t));
            s.tmp.rows = mtlsauthz__malloc(MTLSAUTHZ__PEER_MAX_TUPLES * sizeof(row_t));
            if (s.tuples.rows == NULL || s.alts.rows == NULL || s.tmp.rows == NULL) {
                goto out;
            }
        }
        hit = principal_resolve(pr, f, &s);
        if (hit < 0) {
            peer_fail_closed(peer, hit);
            rc = 0;
            goto out;
        }
        if (hit == 0) {
            continue;
        }
        m = &peer->mp[peer->nmp];
        m->principal = pi;
        m->ntuples = s.tuples.n;
        if (s.tuples.n > 0) {
            size_t cells = (size_t)s.tuples.n * pr->ncaps;
            tuple_tmp[peer->nmp] = mtlsauthz__calloc(cells, sizeof(mtlsauthz__str));
            if (tuple_tmp[peer->nmp] == NULL) {
                goto out;
            }
            for (unsigned t = 0; t < s.tuples.n; t++) {
                for (unsigned c = 0; c < pr->ncaps; c++) {
                    tuple_tmp[peer->nmp][t * pr->ncaps + c] = s.tuples.rows[t][c];
                    if (s.tuples.rows[t][c].ptr != NULL) {
                        arena_len += s.tuples.rows[t][c].len + 1u;
                    }
                }
            }
        }
        m->deny_wild = s.deny_wild;
        m->nloose = s.nloose;
        if (s.nloose > 0) {
            m->loose = mtlsauthz__malloc(s.nloose * sizeof(*m->loose));
            if (m->loose == NULL) {
                goto out;
            }
            memcpy(m->loose, s.loose, s.nloose * sizeof(*m->loose));
            for (unsigned v = 0; v < s.nloose; v++) {
                arena_len += s.loose[v].v.len + 1u;
            }
        }
        peer->nmp++;
    }
    /* Copy captured values out of the (temporary) folded identity. */
    peer->arena = mtlsauthz__malloc(arena_len);
    if (peer->arena == NULL) {
        goto out;
    }
    for (unsigned i = 0; i < peer->nmp; i++) {
        mtlsauthz__mprin *m = &peer->mp[i];
        size_t cells = (size_t)m->ntuples * p->principals[m->principal].ncaps;
        m->tuples = tuple_tmp[i];
        tuple_tmp[i] = NULL;
        for (size_t c = 0; c < cells + m->nloose; c++) {
            mtlsauthz__str *v = c < cells ? &m->tuples[c] : &m->loose[c - cells].v;
            if (v->ptr == NULL) {
                continue;
            }
            memcpy(peer->arena + arena_off, v->ptr, v->len);
            peer->arena[arena_off + v->len] = '\0';
            v->ptr = peer->arena + arena_off;
            arena_off += v->len + 1u;
        }
    }
    /* Candidate rules: those naming a matched principal, and those listing "*". */
    npairs = p->nany_rules;
    for (unsigned i = 0; i < peer->nmp; i++) {
        npairs += p->principals[peer->mp[i].principal].nrules;
    }
    if (npairs == 0) {
        rc = 0;
        goto out;
    }
    pairs = mtlsauthz__malloc(npairs * sizeof(*pairs));
    peer->cands = mtlsauthz__malloc(npairs * sizeof(*peer->cands));
    peer->cand_mp = mtlsauthz__malloc(npairs * sizeof(unsigned));
    if (pairs == NULL || peer->cands == NULL || peer->cand_mp == NULL) {
        goto out;
    }
    npairs = 0;
    for (unsigned i = 0; i < p->nany_rules; i++) {
        pairs[npairs++] = PAIR(p->any_rules[i], UINT32_MAX);
    }
    for (unsigned i = 0; i < peer->nmp; i++) {
        const mtlsauthz__principal *pr = &p->principals[peer->mp[i].principal];
        for (unsigned j = 0; j < pr->nrules; j++) {
            pairs[npairs++] = PAIR(pr->rules[j], i);
        }
    }
    sort_u64(pairs, npairs);
    {
        unsigned nmp_out = 0;
        for (size_t i = 0; i < npairs; i++) {
            unsigned rule = (unsigned)(pairs[i] >> 32), mpi = (unsigned)pairs[i];
            mtlsauthz__cand *c;
            if (i == 0 || (pairs[i - 1] >> 32) != rule) {
                const mtlsauthz__rule *r = &p->rules[rule];
                c = &peer->cands[peer->ncands++];
                c->rule = rule;
                c->first_mp = nmp_out;
                c->nmp = 0;
                c->flags = (r->effect == MTLSAUTHZ__DENY ? MTLSAUTHZ__CAND_DENY : 0u) |
                           (r->mode == MTLSAUTHZ__DRY_RUN ? MTLSAUTHZ__CAND_DRY_RUN : 0u);
                c->id = r->id;
            }
            c = &peer->cands[peer->ncands - 1];
            if (mpi != UINT32_MAX) {
                peer->cand_mp[nmp_out++] = mpi;
                c->nmp++;
            }
        }
    }
    rc = peer->ncands > MTLSAUTHZ__PEER_OP_TABLE_MIN ? build_op_table(peer) : 0;
out:
    if (tuple_tmp != NULL) {
        for (size_t i = 0; i < cands.n; i++) {
            mtlsauthz__free(tuple_tmp[i]);
        }
    }
    mtlsauthz__free(tuple_tmp);
    mtlsauthz__free(pairs);
    mtlsauthz__free(cands.v);
    mtlsauthz__free(s.tuples.rows);
    mtlsauthz__free(s.alts.rows);
    mtlsauthz__free(s.tmp.rows);
    return rc;
}

/* Frees what a peer owns, not the peer itself. */
static void peer_release(mtlsauthz_peer *peer)
{
    if (peer->mp != NULL) {
        for (unsigned i = 0; i < peer->nmp; i++) {
            mtlsauthz__free(peer->mp[i].tuples);
            mtlsauthz__free(peer->mp[i].loose);
        }
    }
    mtlsauthz__free(peer->mp);
    mtlsauthz__free(peer->cands);
    mtlsauthz__free(peer->cand_mp);
    mtlsauthz__free(peer->arena);
    mtlsauthz__free(peer->op_block);
    mtlsauthz_policy_free(peer->policy);
}

/* Moves a resolved peer into its final allocation, with the operation table right after the
 * struct: a request then reads a few adjacent cache lines. Takes over `tmp` either way. */
static int peer_pack(mtlsauthz_peer **out, mtlsauthz_peer *tmp)
{
    size_t head = (sizeof(*tmp) + 63u) & ~(size_t)63u;
    mtlsauthz_peer *peer = mtlsauthz__malloc(head + tmp->op_block_len);
    char *old = tmp->op_block, *nb;

    if (peer == NULL) {
        peer_release(tmp);
        return MTLSAUTHZ_ENOMEM;
    }
    *peer = *tmp;
    if (old != NULL) {
        nb = (char *)peer + head;
        memcpy(nb, old, tmp->op_block_len);
        peer->op_slots = (mtlsauthz__opslot *)(nb + ((char *)tmp->op_slots - old));
        peer->op_hits = (mtlsauthz__ophit *)(nb + ((char *)tmp->op_hits - old));
        peer->slow = (unsigned *)(nb + ((char *)tmp->slow - old));
        for (size_t i = 0; i < peer->op_cap; i++) {
            if (peer->op_slots[i].n > 0) {
                peer->op_slots[i].s = nb + (peer->op_slots[i].s - old);
            }
        }
        peer->op_block = NULL; /* embedded: freed with the peer */
        mtlsauthz__free(old);
    }
    *out = peer;
    return 0;
}

int mtlsauthz_peer_new(mtlsauthz_peer **out, mtlsauthz_policy *policy, const mtlsauthz_identity *id,
                       mtlsauthz_error *err)
{
    mtlsauthz_peer tmp;
    mtlsauthz__folded f;
    int rc;

    if (out == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "peer_new: out is NULL");
    }
    *out = NULL;
    if (policy == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "peer_new: policy is NULL");
    }
    memset(&tmp, 0, sizeof(tmp));
    tmp.policy = mtlsauthz_policy_ref(policy);
    tmp.seed[0] = policy->seed[0];
    tmp.seed[1] = policy->seed[1];
    if (id == NULL) {
        tmp.state = MTLSAUTHZ_REASON_NO_IDENTITY;
    } else if (id->rejected != NULL) {
        /* A rejected identity is denied everything, even under "*" (docs/policy.md): otherwise a
         * name an attacker smuggled past one key could still ride an allow on another. */
        tmp.state = MTLSAUTHZ_REASON_IDENTITY_REJECTED;
    } else {
        tmp.state = MTLSAUTHZ_REASON_ALLOWED;
        rc = mtlsauthz__fold_identity(&f, id);
        if (rc < 0) {
            peer_release(&tmp);
            return mtlsauthz__error_set(err, rc, "out of memory");
        }
        rc = peer_resolve(&tmp, &f);
        mtlsauthz__folded_free(&f);
        if (rc < 0) {
            peer_release(&tmp);
            return mtlsauthz__error_set(err, rc, "out of memory resolving the identity");
        }
    }
    rc = peer_pack(out, &tmp);
    if (rc < 0) {
        return mtlsauthz__error_set(err, rc, "out of memory");
    }
    return 0;
}

void mtlsauthz_peer_free(mtlsauthz_peer *peer)
{
    if (peer == NULL) {
        return;
    }
    peer_release(peer);
    mtlsauthz__free(peer);
}

mtlsauthz_policy *mtlsauthz_peer_policy(const mtlsauthz_peer *peer)
{
    return peer != NULL ? peer->policy : NULL;
}

int mtlsauthz_policy_decide(mtlsauthz_decision *decision, mtlsauthz_policy *policy,
                            const mtlsauthz_identity *id, const char *op, size_t op_len,
                            mtlsauthz_error *err)
{
    mtlsauthz_peer *peer = NULL;
    int rc;

    if (decision == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "decide: decision is NULL");
    }
    mtlsauthz__decision_reset(decision);
    rc = mtlsauthz_peer_new(&peer, policy, id, err);
    if (rc < 0) {
        return rc;
    }
    rc = mtlsauthz_peer_decide(decision, peer, op, op_len, err);
    mtlsauthz_peer_free(peer);
    return rc;
}
