/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The compiled policy (compile.c), its lookup index (index.c), the per-connection peer
 * (peer.c) and the per-request decision (decide.c). Read by lint.c and explain.c. Not
 * installed.
 *
 * Everything here is immutable once mtlsauthz__policy_compile() returns, except `refs`.
 * Indices are file order: principals[i] is the i-th principal in the YAML, rules[j] the j-th
 * rule, so "first in file order" is "lowest index".
 */
#ifndef MTLSAUTHZ_POLICY_INT_H
#define MTLSAUTHZ_POLICY_INT_H

#include <stdatomic.h>
#include <stdint.h>

#include "internal.h"
#include "pattern.h"
#include "policy_ast.h"

/* Longest operation a decision accepts (bytes); longer is MTLSAUTHZ_ELIMIT and a deny. */
#define MTLSAUTHZ__OP_MAX_LEN 8192u
/* Distinct capture names one principal may bind, over all its patterns. */
#define MTLSAUTHZ__PRINCIPAL_MAX_CAPTURES 16u
/* Binding tuples a peer keeps per matched principal (and alternatives per key while
 * enumerating them). Past this the peer fails closed: every decision is deny/error. */
#define MTLSAUTHZ__PEER_MAX_TUPLES 64u
/* Pattern-matching steps allowed per principal per connection, and per request. */
#define MTLSAUTHZ__PEER_MATCH_BUDGET 1000000ul
#define MTLSAUTHZ__DECIDE_MATCH_BUDGET 100000ul

/* An `ip` entry: a CIDR block or a plain address (a /32 or /128). */
typedef struct mtlsauthz__cidr {
    unsigned char addr[16]; /* network order; host bits are zero (checked at load) */
    unsigned char len;      /* 4 (IPv4) or 16 (IPv6); families never cross */
    unsigned char prefix;   /* 0..32 or 0..128 */
} mtlsauthz__cidr;

/*
 * One selector key of a principal, e.g. `spiffe: [...]`. n == 0 means the key is absent.
 * For every key but `ip`, pats[i] is the compiled src[i] (serial, sha256 and eku are exact
 * values, so their patterns are always literal; known EKU OIDs are compiled as their names,
 * the form identity extraction gives). For `ip`, cidrs[i] is the parsed src[i] and pats is
 * NULL.
 */
typedef struct mtlsauthz__ckey {
    unsigned n;
    char **src;               /* the entries as written in the policy, NUL-terminated */
    mtlsauthz__pattern *pats; /* n entries, or NULL for `ip` */
    mtlsauthz__cidr *cidrs;   /* n entries for `ip`, else NULL */
    unsigned char (*capmap)[MTLSAUTHZ__PATTERN_MAX_CAPTURES]; /* per pattern: capture index
                                  -> slot in the principal's cap_ids; NULL if no captures */
} mtlsauthz__ckey;

typedef struct mtlsauthz__principal {
    char *name;
    mtlsauthz__pos pos; /* of the `name:` value, for lint and explain; {0, 0}: unknown */
    /* The keys the selector has, in key order. Most principals use one or two of the
     * MTLSAUTHZ__KEY_COUNT keys, so only those are stored (read them through
     * mtlsauthz__principal_key()). */
    mtlsauthz__ckey *keyv;
    unsigned char key_at[MTLSAUTHZ__KEY_COUNT]; /* key k: keyv[key_at[k] - 1]; 0 = absent */
    unsigned char nkeys;
    uint32_t key_mask; /* bit k set: key k is present (walked without touching absent keys) */
    /* Capture names bound anywhere in the selector, as policy-wide ids (see cap_names). */
    unsigned ncaps;
    unsigned cap_ids[MTLSAUTHZ__PRINCIPAL_MAX_CAPTURES];
    /* Bit i set: cap_ids[i] is used by an operation of some rule naming this principal, so
     * peers enumerate its values; other captures only have to match. */
    uint32_t needed_caps;
    /* Bit i set: cap_ids[i] is used by an operation of a deny rule naming this principal. A
     * deny must apply to every value a key binds, consistent or not, so peers keep those
     * values apart from the tuples (mtlsauthz__mprin.loose). A subset of needed_caps. */
    uint32_t deny_caps;
    /* The "used" view: rules that name this principal, ascending (file order). nrules == 0
     * means no rule names it (rules with "*" are not counted). */
    unsigned *rules;
    unsigned nrules;
} mtlsauthz__principal;

/* Key k of a principal; an absent key reads as an empty one (n == 0). */
static inline const mtlsauthz__ckey *mtlsauthz__principal_key(const mtlsauthz__principal *pr,
                                                              unsigned k)
{
    static const mtlsauthz__ckey absent = {0, NULL, NULL, NULL, NULL};
    return pr->key_at[k] == 0 ? &absent : &pr->keyv[pr->key_at[k] - 1u];
}

/* One operation pattern of a rule. */
typedef struct mtlsauthz__cop {
    char *src;                                         /* as written */
    mtlsauthz__pattern pat;                            /* MTLSAUTHZ__WC_SLASH, no folding */
    unsigned cap_ids[MTLSAUTHZ__PATTERN_MAX_CAPTURES]; /* pat capture i -> policy-wide id */
    uint64_t lit_hash; /* pat.is_literal: mtlsauthz__hash(policy seed, pat.text) */
} mtlsauthz__cop;

typedef struct mtlsauthz__rule {
    char *id;
    mtlsauthz__effect effect;
    mtlsauthz__mode mode;
    int any_principal;    /* "*" is among its principals: any accepted identity */
    unsigned nprincipals; /* (beside any_principal, so that `pos` below costs no padding) */
    unsigned *principals; /* indices into policy->principals, as listed, without duplicates
                             and without "*" */
    mtlsauthz__cop *ops;
    unsigned nops;
    int has_captures;   /* some operation has a capture */
    mtlsauthz__pos pos; /* of the `id:` value, for lint and explain; {0, 0}: unknown */
} mtlsauthz__rule;

struct mtlsauthz__index;       /* index.c */
struct mtlsauthz__arena_block; /* compile.c */

struct mtlsauthz_policy {
    atomic_size_t refs;
    mtlsauthz__protocol protocol;
    mtlsauthz__principal *principals;
    unsigned nprincipals;
    mtlsauthz__rule *rules;
    unsigned nrules;
    /* `sensitive` (used by lint), compiled like operations. */
    char **sensitive_src;
    mtlsauthz__pattern *sensitive;
    mtlsauthz__pos *sensitive_pos; /* of each entry; {0, 0}: unknown */
    unsigned nsensitive;
    /* Policy-wide capture names: id -> name. */
    char **cap_names;
    unsigned ncap_names;
    /* Rules whose principals include "*", ascending. */
    unsigned *any_rules;
    unsigned nany_rules;
    uint64_t seed[2]; /* per-policy random hash seed (hash-flooding resistance) */
    struct mtlsauthz__index *index;
    /* The blocks that hold the principals' and rules' small pieces: names, ids, the entries
     * as written, their compiled patterns (shared by every entry with the same text under the
     * same key) and the small arrays. Freed together, never one piece at a time
     * (docs/internals.md, "The compiled policy's memory"). */
    struct mtlsauthz__arena_block *arena;
};

/* ---- compile.c ---- */

/* Compiles `ast` into a new policy with one reference (*out), or fails with nothing
 * half-built. The AST is not kept. Errors: EPOLICY with the rule/principal/key/pattern named,
 * ELIMIT, ENOMEM. */
int mtlsauthz__policy_compile(mtlsauthz_policy **out, const mtlsauthz__ast *ast,
                              mtlsauthz_error *err);
/* Frees a compiled policy regardless of its reference count (compile's own cleanup, and the
 * last mtlsauthz_policy_free()). */
void mtlsauthz__policy_destroy(mtlsauthz_policy *p);

/* 1 if the raw address (4 or 16 bytes) lies in the block; families never cross. */
int mtlsauthz__cidr_contains(const mtlsauthz__cidr *c, const unsigned char *addr, size_t len);

/* ---- index.c ---- */

/* Builds p->index from the compiled principals. */
int mtlsauthz__index_build(mtlsauthz_policy *p, mtlsauthz_error *err);
void mtlsauthz__index_free(struct mtlsauthz__index *ix);

/*
 * Calls `visit` once or more for every principal that might match an identity with these
 * field values (vals[f] has counts[f] entries, already case-folded per key), so only those
 * need verifying: principals reachable by an exact or prefix/suffix probe, plus those with
 * no indexable key. May report a principal more than once. `matched` is 1 when the probe alone
 * proves the selector matches (a single-key principal with a simple pattern shape and no
 * capture a rule needs), so verifying it can be skipped; 0: verify. A nonzero return from
 * visit stops the walk and is returned.
 */
typedef int (*mtlsauthz__index_visit)(void *ctx, unsigned principal, int matched);
int mtlsauthz__index_candidates(const mtlsauthz_policy *p,
                                const mtlsauthz__str *const vals[MTLSAUTHZ_FIELD_COUNT_],
                                const size_t counts[MTLSAUTHZ_FIELD_COUNT_],
                                mtlsauthz__index_visit visit, void *ctx);

/* ---- peer.c: the per-connection phase (folding and matching are used by explain.c too) ---- */

/* Identity values as the policy matches them: the fields of the keys that fold case (keys.h)
 * folded as those keys fold (DNS names lowercased, email domains lowercased), owned by the
 * struct. */
typedef struct mtlsauthz__folded {
    const mtlsauthz__str *vals[MTLSAUTHZ_FIELD_COUNT_];
    size_t counts[MTLSAUTHZ_FIELD_COUNT_];
    const mtlsauthz__str *ip_raw;
    mtlsauthz__str *owned[MTLSAUTHZ__KEYS_FOLDED]; /* folded copies, per folding key */
    char *bytes;
} mtlsauthz__folded;

int mtlsauthz__fold_identity(mtlsauthz__folded *f, const mtlsauthz_identity *id);
void mtlsauthz__folded_free(mtlsauthz__folded *f);

/* Which key of principal `pi` fails for the identity: KEY_COUNT if the selector matches,
 * else the first failing key. ELIMIT (negative) if the match budget ran out. */
int mtlsauthz__principal_failing_key(const mtlsauthz_policy *p, unsigned pi,
                                     const mtlsauthz__folded *f);

typedef struct mtlsauthz__capval {
    unsigned slot; /* index into the principal's cap_ids */
    mtlsauthz__str v;
} mtlsauthz__capval;

/* A principal the peer's identity matched, with its binding tuples: ntuples rows of
 * principal->ncaps values each (a slot not needed by any rule, or not bound by the keys
 * that matched, has ptr == NULL). For the slots in the principal's deny_caps, also every
 * value any key bound (loose, nloose entries, consistent or not) and, in deny_wild, the slots
 * the principal can match without binding: a deny rule reads those as any value. Values are
 * owned by the peer. */
typedef struct mtlsauthz__mprin {
    unsigned principal;
    unsigned ntuples;
    mtlsauthz__str *tuples;
    uint32_t deny_wild;
    unsigned nloose;
    mtlsauthz__capval *loose;
} mtlsauthz__mprin;

/* A rule the peer may match: one of its principals matched, or it lists "*". */
typedef struct mtlsauthz__cand {
    unsigned rule;
    unsigned first_mp; /* its matched principals: peer->cand_mp[first_mp .. first_mp + nmp) */
    unsigned nmp;
    unsigned flags; /* MTLSAUTHZ__CAND_*: the rule's effect and mode, and its id, kept here so */
    const char *id; /* a decision need not touch the (large) rule array at all */
} mtlsauthz__cand;

#define MTLSAUTHZ__CAND_DENY 1u
#define MTLSAUTHZ__CAND_DRY_RUN 2u

/* Above this many candidate rules a peer indexes their literal operations: one hash probe
 * per request in peer-local memory instead of a scan through the (large, cold) rule array.
 * 0: always, which keeps a decision's cost the same at 10 rules and at 100,000. */
#define MTLSAUTHZ__PEER_OP_TABLE_MIN 0u

/* A slot of a peer's literal-operation table: the candidates (indices into peer->cands,
 * ascending) that have an operation pattern equal to these bytes. n == 0: empty. */
typedef struct mtlsauthz__opslot {
    uint64_t h;
    const char *s; /* a copy inside op_block */
    uint32_t len;
    uint32_t first; /* into peer->op_hits */
    uint32_t n;
} mtlsauthz__opslot;

/* The slot holding the `len` bytes at `s` (hash h), or the empty slot where they would go.
 * The table is never full (peer.c gives it at least twice as many slots as entries), so the
 * probe ends. */
static inline const mtlsauthz__opslot *mtlsauthz__op_find(const mtlsauthz__opslot *slots,
                                                          size_t cap, uint64_t h, const char *s,
                                                          size_t len)
{
    size_t mask = cap - 1, i = (size_t)h & mask;
    for (;;) {
        const mtlsauthz__opslot *slot = &slots[i];
        if (slot->n == 0 || (slot->h == h && slot->len == len && memcmp(slot->s, s, len) == 0)) {
            return slot;
        }
        i = (i + 1) & mask;
    }
}

/* A candidate whose literal operation is in a slot, with what a decision needs of it. */
typedef struct mtlsauthz__ophit {
    unsigned cand; /* index into peer->cands */
    unsigned flags;
    const char *id;
} mtlsauthz__ophit;

struct mtlsauthz_peer {
    mtlsauthz_policy *policy; /* holds a reference */
    /* ALLOWED (0 would be ERROR): the identity may be decided on. Otherwise every decision is
     * a deny with this reason (NO_IDENTITY, IDENTITY_REJECTED, or ERROR after a limit). */
    mtlsauthz_reason state;
    int state_code;       /* with state ERROR: the code peer_decide returns */
    mtlsauthz__mprin *mp; /* ascending principal index */
    unsigned nmp;
    mtlsauthz__cand *cands; /* ascending rule index (file order) */
    unsigned ncands;
    unsigned *cand_mp; /* indices into mp */
    char *arena;       /* captured values */
    /* With more than MTLSAUTHZ__PEER_OP_TABLE_MIN candidates: the literal-operation table
     * (op_cap slots, a power of two; 0 = none, scan cands instead), and the candidates that
     * have a non-literal operation and so must always be matched ("slow"), ascending. */
    mtlsauthz__opslot *op_slots;
    size_t op_cap;
    mtlsauthz__ophit *op_hits;
    unsigned *slow;
    unsigned nslow;
    /* op_slots, op_hits, slow and the literals' bytes live in one block (op_block_len bytes):
     * while resolving in op_block; in a finished peer right after the struct (op_block NULL),
     * so a request touches a few adjacent cache lines. */
    void *op_block;
    size_t op_block_len;
    uint64_t seed[2]; /* the policy's hash seed, copied so a request reads only the peer */
};

/* ---- decide.c: the per-request phase, which makes no allocation ---- */

/* Sets a decision to deny/error with nothing matched, before any work (fail closed). Field by
 * field: cheaper than memset on the request path, and just as complete. `reserved` is zeroed
 * too, so a field a later release puts there reads 0 from this one (docs/abi.md). */
static inline void mtlsauthz__decision_reset(mtlsauthz_decision *d)
{
    d->allowed = 0;
    d->reason = MTLSAUTHZ_REASON_ERROR;
    d->rule = NULL;
    d->dry_run_count = 0;
    for (size_t i = 0; i < MTLSAUTHZ_DECISION_DRY_RUN_MAX; i++) {
        d->dry_run[i] = NULL;
    }
    for (size_t i = 0; i < sizeof(d->reserved) / sizeof(d->reserved[0]); i++) {
        d->reserved[i] = NULL;
    }
}

/* Outcome of one rule against one operation for a peer. */
typedef enum mtlsauthz__rule_result {
    MTLSAUTHZ__RULE_MATCH = 1,
    MTLSAUTHZ__RULE_NO_OP = 0,     /* no operation pattern matched the operation */
    MTLSAUTHZ__RULE_NO_CAPTURE = 2 /* an operation matched only with bindings no matched
                                       principal of this rule supplies */
} mtlsauthz__rule_result;

/* Matches candidate `c` of `peer` against `op`. Returns a mtlsauthz__rule_result, or
 * MTLSAUTHZ_ELIMIT when *budget runs out. No allocation. RULE_NO_CAPTURE is told apart from
 * RULE_NO_OP only when `explain` is set (it costs another match). */
int mtlsauthz__cand_match(const mtlsauthz_peer *peer, const mtlsauthz__cand *c, const char *op,
                          size_t op_len, unsigned long *budget, int explain);

#endif
