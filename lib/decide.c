/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-request phase (docs/internals.md, "Data flow"): mtlsauthz_peer_decide() matches an
 * operation against the rules a peer (peer.c) could match, and nothing else: no allocation,
 * no locks and no writes to shared memory. `make check` proves the first from the object
 * file: scripts/check-noalloc fails when decide.o references any allocator.
 *
 * Semantics (docs/policy.md): an operation capture is satisfied only by a binding of a
 * principal through which the identity matched this rule; a set of bindings must be
 * consistent. Deny overrides allow, the default is deny, dry-run rules are reported but never
 * decide.
 */
#include <string.h>

#include "policy_int.h"
#include "strmap.h"

/* The decision's body, inlined into both entry points (mtlsauthz_peer_decide() and
 * mtlsauthz_peer_decide_code()) as it was into the one before, so that neither pays for calls
 * inside it (bench-callgrind's `decide` row). */
#if defined(__GNUC__)
#define DECIDE_INLINE __attribute__((always_inline)) inline
#else
#define DECIDE_INLINE inline
#endif

const char *mtlsauthz_reason_string(mtlsauthz_reason reason)
{
    switch (reason) {
    case MTLSAUTHZ_REASON_ALLOWED:
        return "allowed";
    case MTLSAUTHZ_REASON_DENIED:
        return "denied";
    case MTLSAUTHZ_REASON_NO_MATCH:
        return "no_match";
    case MTLSAUTHZ_REASON_NO_IDENTITY:
        return "no_identity";
    case MTLSAUTHZ_REASON_IDENTITY_REJECTED:
        return "identity_rejected";
    case MTLSAUTHZ_REASON_ERROR:
    default:
        return "error";
    }
}

/* ---- per request ---- */

static int op_hit(const mtlsauthz__cop *o, const char *op, size_t op_len, unsigned long *budget)
{
    const mtlsauthz__pattern *pat = &o->pat;
    if (pat->is_literal) {
        return pat->text_len == op_len && memcmp(pat->text, op, op_len) == 0;
    }
    if (op_len < pat->min_len) {
        return 0;
    }
    return mtlsauthz__pattern_match(pat, op, op_len, NULL, NULL, NULL, budget);
}

/* The slot of policy-wide capture `id` in the principal's cap_ids; pr->ncaps when it binds
 * no such name. */
static unsigned cap_slot(const mtlsauthz__principal *pr, unsigned id)
{
    unsigned slot = 0;
    while (slot < pr->ncaps && pr->cap_ids[slot] != id) {
        slot++;
    }
    return slot;
}

/* A deny operation's captures, read through one matched principal: each either takes any
 * value (wild) or must equal one the principal bound to its slot. */
typedef struct deny_ctx {
    const mtlsauthz__mprin *mp;
    unsigned slots[MTLSAUTHZ__PATTERN_MAX_CAPTURES];
    uint32_t wild; /* bit k: capture k of the operation takes any value */
} deny_ctx;

static int deny_accept(void *vctx, const mtlsauthz__str *caps, unsigned ncaps)
{
    const deny_ctx *d = vctx;
    for (unsigned k = 0; k < ncaps; k++) {
        int found = 0;
        if (d->wild & ((uint32_t)1u << k)) {
            continue;
        }
        for (unsigned i = 0; i < d->mp->nloose && !found; i++) {
            const mtlsauthz__capval *cv = &d->mp->loose[i];
            found = cv->slot == d->slots[k] && mtlsauthz__str_eq(&cv->v, caps[k].ptr, caps[k].len);
        }
        if (!found) {
            return 0;
        }
    }
    return 1;
}

/*
 * A deny rule's operation with captures. A deny must not fail open because bindings are
 * missing or disagree (docs/policy.md, "Captures"), so, unlike an allow, it matches when
 * every capture equals SOME value a matched principal of the rule bound to that name, from
 * any key, consistent or not; a capture the principal can match without binding ("*" never
 * binds) takes any value. Returns 1, 0, or ELIMIT.
 */
static int deny_op_hit(const mtlsauthz_peer *peer, const mtlsauthz__cand *c,
                       const mtlsauthz__rule *r, const mtlsauthz__cop *o, const char *op,
                       size_t op_len, unsigned long *budget)
{
    const mtlsauthz_policy *p = peer->policy;
    if (r->any_principal) {
        return mtlsauthz__pattern_match(&o->pat, op, op_len, NULL, NULL, NULL, budget);
    }
    for (unsigned m = 0; m < c->nmp; m++) {
        deny_ctx d;
        const mtlsauthz__principal *pr;
        int rc;
        d.mp = &peer->mp[peer->cand_mp[c->first_mp + m]];
        d.wild = 0;
        pr = &p->principals[d.mp->principal];
        for (unsigned k = 0; k < o->pat.ncaps; k++) {
            unsigned slot = cap_slot(pr, o->cap_ids[k]);
            d.slots[k] = slot;
            if (slot == pr->ncaps || (d.mp->deny_wild & ((uint32_t)1u << slot))) {
                d.wild |= (uint32_t)1u << k;
            }
        }
        if (d.wild == ((uint32_t)1u << o->pat.ncaps) - 1u) {
            rc = mtlsauthz__pattern_match(&o->pat, op, op_len, NULL, NULL, NULL, budget);
        } else {
            rc = mtlsauthz__pattern_match(&o->pat, op, op_len, NULL, deny_accept, &d, budget);
        }
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

int mtlsauthz__cand_match(const mtlsauthz_peer *peer, const mtlsauthz__cand *c, const char *op,
                          size_t op_len, unsigned long *budget, int explain)
{
    const mtlsauthz_policy *p = peer->policy;
    const mtlsauthz__rule *r = &p->rules[c->rule];
    int result = MTLSAUTHZ__RULE_NO_OP;

    for (unsigned i = 0; i < r->nops; i++) {
        const mtlsauthz__cop *o = &r->ops[i];
        int rc;
        if (o->pat.ncaps == 0) {
            rc = op_hit(o, op, op_len, budget);
            if (rc != 0) {
                return rc; /* MATCH, or ELIMIT */
            }
            continue;
        }
        if (op_len < o->pat.min_len) {
            continue;
        }
        if (c->flags & MTLSAUTHZ__CAND_DENY) {
            rc = deny_op_hit(peer, c, r, o, op, op_len, budget);
            if (rc != 0) {
                return rc;
            }
            goto next_op;
        }
        /* Captures: only bindings of a principal through which the identity matched THIS
         * rule count ("*" binds nothing), and all of an operation's captures must come from
         * one consistent tuple. */
        for (unsigned m = 0; m < c->nmp; m++) {
            const mtlsauthz__mprin *mp = &peer->mp[peer->cand_mp[c->first_mp + m]];
            const mtlsauthz__principal *pr = &p->principals[mp->principal];
            unsigned slots[MTLSAUTHZ__PATTERN_MAX_CAPTURES];
            int usable = 1;
            for (unsigned k = 0; k < o->pat.ncaps && usable; k++) {
                slots[k] = cap_slot(pr, o->cap_ids[k]);
                usable = slots[k] < pr->ncaps;
            }
            if (!usable) {
                continue; /* this principal does not bind every name the operation uses */
            }
            for (unsigned t = 0; t < mp->ntuples; t++) {
                const mtlsauthz__str *row = &mp->tuples[(size_t)t * pr->ncaps];
                mtlsauthz__str bound[MTLSAUTHZ__PATTERN_MAX_CAPTURES];
                int complete = 1;
                for (unsigned k = 0; k < o->pat.ncaps; k++) {
                    bound[k] = row[slots[k]];
                    complete &= bound[k].ptr != NULL;
                }
                if (!complete) {
                    continue;
                }
                rc = mtlsauthz__pattern_match(&o->pat, op, op_len, bound, NULL, NULL, budget);
                if (rc != 0) {
                    return rc;
                }
            }
        }
    next_op:
        if (explain && result == MTLSAUTHZ__RULE_NO_OP) {
            /* Did the shape match, with the bindings being what failed? */
            rc = mtlsauthz__pattern_match(&o->pat, op, op_len, NULL, NULL, NULL, budget);
            if (rc < 0) {
                return rc;
            }
            if (rc == 1) {
                result = MTLSAUTHZ__RULE_NO_CAPTURE;
            }
        }
    }
    return result;
}

/* The running outcome of one decision. */
typedef struct outcome {
    const char *deny, *allow;       /* ids of the first matching enforce rules, NULL: none yet */
    unsigned deny_cand, allow_cand; /* their indices in peer->cands, valid with the ids */
    size_t ndry;
} outcome;

/* 1 when candidate flags `f` can no longer change the outcome: once an enforce deny matched
 * only dry-run rules matter, and once an allow matched only deny and dry-run rules do. */
static inline int settled(const outcome *o, unsigned f)
{
    if (f & MTLSAUTHZ__CAND_DRY_RUN) {
        return 0;
    }
    if (o->deny != NULL) {
        return 1;
    }
    return !(f & MTLSAUTHZ__CAND_DENY) && o->allow != NULL;
}

/* `rules`: also keep the candidate's index (a constant where this is inlined, so that
 * mtlsauthz_peer_decide(), which does not need it, does not pay for it). */
static inline void record(outcome *o, mtlsauthz_decision *d, unsigned flags, const char *id,
                          unsigned cand, int rules)
{
    if (flags & MTLSAUTHZ__CAND_DRY_RUN) {
        if (o->ndry < MTLSAUTHZ_DECISION_DRY_RUN_MAX) {
            d->dry_run[o->ndry] = id;
        }
        o->ndry++;
    } else if (flags & MTLSAUTHZ__CAND_DENY) {
        o->deny = id;
        if (rules) {
            o->deny_cand = cand;
        }
    } else {
        o->allow = id;
        if (rules) {
            o->allow_cand = cand;
        }
    }
}

/* Matches candidate `c` against the operation, unless the outcome is already settled for its
 * kind of rule, and records a match. Returns 0, or a negative code (budget). */
static int match_and_record(outcome *o, mtlsauthz_decision *d, const mtlsauthz_peer *peer,
                            const mtlsauthz__cand *c, const char *op, size_t op_len,
                            unsigned long *budget)
{
    int rc;
    if (settled(o, c->flags)) {
        return 0;
    }
    rc = mtlsauthz__cand_match(peer, c, op, op_len, budget, 0);
    if (rc < 0) {
        return rc;
    }
    if (rc == MTLSAUTHZ__RULE_MATCH) {
        record(o, d, c->flags, c->id, (unsigned)(c - peer->cands), 1);
    }
    return 0;
}

/* Candidates are visited in file order either way, so "first matching" is the first seen. */
static DECIDE_INLINE int decide_scan(outcome *o, mtlsauthz_decision *d, const mtlsauthz_peer *peer,
                                     const char *op, size_t op_len, unsigned long *budget)
{
    for (unsigned i = 0; i < peer->ncands; i++) {
        int rc = match_and_record(o, d, peer, &peer->cands[i], op, op_len, budget);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

static DECIDE_INLINE int decide_table(outcome *o, mtlsauthz_decision *d, const mtlsauthz_peer *peer,
                                      const char *op, size_t op_len, unsigned long *budget,
                                      int rules)
{
    uint64_t h = mtlsauthz__hash(peer->seed, op, op_len);
    const mtlsauthz__opslot *slot = mtlsauthz__op_find(peer->op_slots, peer->op_cap, h, op, op_len);
    const mtlsauthz__ophit *lit = peer->op_hits + slot->first;
    unsigned nlit = slot->n, i = 0, j = 0;

    /* Merge the candidates whose literal equals the operation (matched) with those that must
     * be matched (slow), both ascending. */
    while (i < nlit || j < peer->nslow) {
        if (j >= peer->nslow || (i < nlit && lit[i].cand <= peer->slow[j])) {
            if (j < peer->nslow && peer->slow[j] == lit[i].cand) {
                j++;
            }
            if (!settled(o, lit[i].flags)) {
                record(o, d, lit[i].flags, lit[i].id, lit[i].cand, rules);
            }
            i++;
        } else {
            int rc =
                match_and_record(o, d, peer, &peer->cands[peer->slow[j++]], op, op_len, budget);
            if (rc < 0) {
                return rc;
            }
        }
    }
    return 0;
}

/* mtlsauthz_peer_decide(), leaving the outcome in *o for mtlsauthz_peer_decide_code(), with
 * the deciding candidate's index when `rules` (see record()). */
static DECIDE_INLINE int decide(mtlsauthz_decision *decision, outcome *o,
                                const mtlsauthz_peer *peer, const char *op, size_t op_len,
                                mtlsauthz_error *err, int rules)
{
    unsigned long budget = MTLSAUTHZ__DECIDE_MATCH_BUDGET;
    int rc;

    if (decision == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "decide: decision is NULL");
    }
    mtlsauthz__decision_reset(decision);
    if (peer == NULL || (op == NULL && op_len > 0)) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "decide: peer or operation is NULL");
    }
    if (op == NULL) {
        op = "";
    }
    if (op_len > MTLSAUTHZ__OP_MAX_LEN) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT,
                                    "operation of %zu bytes exceeds the limit of %u", op_len,
                                    MTLSAUTHZ__OP_MAX_LEN);
    }
    /* An operation is text; a NUL would let "host:x\0..." pass for whatever precedes it in a
     * caller that later treats it as a C string. */
    if (op_len > 0 && memchr(op, '\0', op_len) != NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EOPERATION, "NUL byte in the operation");
    }
    if (peer->state == MTLSAUTHZ_REASON_ERROR) {
        if (peer->state_code != MTLSAUTHZ_ELIMIT) {
            return mtlsauthz__error_set(err, peer->state_code,
                                        "resolving the identity failed; denied");
        }
        return mtlsauthz__error_set(err, peer->state_code,
                                    "identity exceeds the matching limits (more than %u capture "
                                    "bindings per principal, or the work budget); denied",
                                    MTLSAUTHZ__PEER_MAX_TUPLES);
    }
    if (peer->state != MTLSAUTHZ_REASON_ALLOWED) {
        decision->reason = peer->state;
        return 0;
    }
    rc = peer->op_cap > 0 ? decide_table(o, decision, peer, op, op_len, &budget, rules)
                          : decide_scan(o, decision, peer, op, op_len, &budget);
    if (rc < 0) {
        mtlsauthz__decision_reset(decision);
        return mtlsauthz__error_set(err, rc, "operation matching exceeded its work budget");
    }
    decision->dry_run_count = o->ndry;
    if (o->deny != NULL) {
        decision->reason = MTLSAUTHZ_REASON_DENIED;
        decision->rule = o->deny;
    } else if (o->allow != NULL) {
        decision->allowed = 1;
        decision->reason = MTLSAUTHZ_REASON_ALLOWED;
        decision->rule = o->allow;
    } else {
        decision->reason = MTLSAUTHZ_REASON_NO_MATCH;
    }
    return 0;
}

int mtlsauthz_peer_decide(mtlsauthz_decision *decision, const mtlsauthz_peer *peer, const char *op,
                          size_t op_len, mtlsauthz_error *err)
{
    outcome o;
    o.deny = o.allow = NULL; /* the indices are read only with their ids */
    o.ndry = 0;
    return decide(decision, &o, peer, op, op_len, err, 0);
}

/* The code's rule field holds a rule index + 1 below 2^25. */
_Static_assert(MTLSAUTHZ__POLICY_MAX_RULES < (1u << 25), "rule index too wide for a code");

int mtlsauthz_peer_decide_code(mtlsauthz_decision *decision, const mtlsauthz_peer *peer,
                               const char *op, size_t op_len, mtlsauthz_error *err)
{
    mtlsauthz_decision local;
    mtlsauthz_decision *d = decision != NULL ? decision : &local;
    outcome o = {NULL, NULL, 0, 0, 0};
    unsigned rule = 0;
    int rc = decide(d, &o, peer, op, op_len, err, 1);

    if (rc < 0) {
        return rc;
    }
    /* As decide() chose the rule: deny overrides allow. */
    if (o.deny != NULL) {
        rule = peer->cands[o.deny_cand].rule + 1u;
    } else if (o.allow != NULL) {
        rule = peer->cands[o.allow_cand].rule + 1u;
    }
    return (int)((rule << 6) | (d->dry_run_count > 0 ? 1u << 5 : 0u) | ((unsigned)d->reason << 1) |
                 (d->allowed ? 1u : 0u));
}
