/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The selector keys of a principal (docs/policy.md, "Principals"): the one list of them.
 *
 * Every table about keys is generated from MTLSAUTHZ__SELECTOR_KEYS: the mtlsauthz__key enum,
 * the YAML names (mtlsauthz__key_names, which explain and lint print too), the libcyaml schema
 * entries of a principal (policy_yaml.c), and the facts below, which the compiler, the index
 * and the peer read. Adding a key is one line here plus its tests and docs (docs/internals.md,
 * "Adding a selector key").
 *
 * One row per key, in the order docs/policy.md's key table lists them:
 *   ENUM    the enum constant's suffix (MTLSAUTHZ__KEY_<ENUM>);
 *   name    the YAML key;
 *   FIELD   the identity field it reads (MTLSAUTHZ_FIELD_<FIELD>), and only that one: `dns`
 *           never falls back to the CN, `email` never reads the DN's emailAddress, `spiffe`
 *           only a valid SVID;
 *   WCLASS  what its `*`, `**` and captures may consume (MTLSAUTHZ__WC_<WCLASS>, pattern.h);
 *   FOLD    which part of a value compares case-insensitively (MTLSAUTHZ__FOLD_<FOLD>);
 *   KIND    what its entries are and which special code reads them (MTLSAUTHZ__KIND_<KIND>).
 * The special code is chosen by kind, never by key: a new key of an existing kind needs no
 * code at all.
 */
#ifndef MTLSAUTHZ_KEYS_H
#define MTLSAUTHZ_KEYS_H

#include "internal.h"
#include "pattern.h"

/* The table keeps its columns. */
/* clang-format off */
#define MTLSAUTHZ__SELECTOR_KEYS(X)                                                                \
    /* ENUM    name      FIELD       WCLASS FOLD           KIND */                                 \
    X(CN,      "cn",     CN,         ANY,   NONE,          PATTERN)                                \
    X(O,       "o",      O,          ANY,   NONE,          PATTERN)                                \
    X(OU,      "ou",     OU,         ANY,   NONE,          PATTERN)                                \
    /* RFC 4514 strings: a wildcard stays in one RDN and never splits an escape. */                \
    X(DN,      "dn",     SUBJECT_DN, DN,    NONE,          PATTERN)                                \
    X(ISSUER,  "issuer", ISSUER_DN,  DN,    NONE,          PATTERN)                                \
    X(SERIAL,  "serial", SERIAL,     ANY,   NONE,          SERIAL)                                 \
    X(SHA256,  "sha256", SHA256,     ANY,   NONE,          SHA256)                                 \
    /* SPIFFE-ID spec §2.2: `*` is one path segment. */                                            \
    X(SPIFFE,  "spiffe", SPIFFE_ID,  SLASH, NONE,          SPIFFE)                                 \
    /* RFC 4343: DNS names compare case-insensitively; `*` is one label. */                        \
    X(DNS,     "dns",    SAN_DNS,    DOT,   ALL,           PATTERN)                                \
    /* RFC 3986 §3: a wildcard stays in its component. */                                          \
    X(URI,     "uri",    SAN_URI,    URI,   NONE,          PATTERN)                                \
    /* RFC 5321 §2.4: only the domain is foldable. */                                              \
    X(EMAIL,   "email",  SAN_EMAIL,  ANY,   AFTER_LAST_AT, PATTERN)                                \
    X(IP,      "ip",     SAN_IP,     ANY,   NONE,          CIDR)                                   \
    X(EKU,     "eku",    EKU,        ANY,   NONE,          EKU)
/* clang-format on */

/* What a key's entries are. Each kind but PATTERN has its own code in compile.c (the checks
 * at load), and EKU and CIDR in the matcher (peer.c), the index and lint too. */
typedef enum mtlsauthz__key_kind {
    MTLSAUTHZ__KIND_PATTERN = 0, /* patterns (pattern.h) over the field's values */
    MTLSAUTHZ__KIND_SPIFFE,      /* patterns that can only match a valid SPIFFE ID: "spiffe://"
                                    and a lowercase trust domain (SPIFFE-ID spec §2.1) */
    MTLSAUTHZ__KIND_SERIAL,      /* pinned serial numbers: lowercase hex, no leading zeros */
    MTLSAUTHZ__KIND_SHA256,      /* pinned certificate digests: 64 lowercase hex digits */
    MTLSAUTHZ__KIND_EKU,         /* EKU names or dotted OIDs, compiled to the identity's name
                                    (identity_int.h); every one listed must be present */
    MTLSAUTHZ__KIND_CIDR         /* CIDR blocks or addresses, matched against the raw address
                                    bytes (ip_raw), not against the text */
} mtlsauthz__key_kind;

/* Selector keys, in the order docs/policy.md lists them. */
typedef enum mtlsauthz__key {
#define MTLSAUTHZ__KEY_ENUM_(e, name, field, wclass, fold, kind) MTLSAUTHZ__KEY_##e,
    MTLSAUTHZ__SELECTOR_KEYS(MTLSAUTHZ__KEY_ENUM_)
#undef MTLSAUTHZ__KEY_ENUM_
        MTLSAUTHZ__KEY_COUNT
} mtlsauthz__key;

/* A principal's keys are a bit mask (uint32_t key_mask, policy_int.h) and an unsigned char
 * index per key. */
_Static_assert(MTLSAUTHZ__KEY_COUNT <= 32, "a principal's key_mask has 32 bits");

/* The YAML key names, indexed by mtlsauthz__key ("cn", "o", ...). */
extern const char *const mtlsauthz__key_names[MTLSAUTHZ__KEY_COUNT];

/* The facts of one key (keys.c), read through the functions below. */
typedef struct mtlsauthz__key_facts {
    mtlsauthz_field field;
    mtlsauthz__wclass wclass;
    mtlsauthz__fold fold;
    mtlsauthz__key_kind kind;
} mtlsauthz__key_facts;

extern const mtlsauthz__key_facts mtlsauthz__keys[MTLSAUTHZ__KEY_COUNT];

/* The identity field a key reads, what its wildcards may consume, its case folding and its
 * kind. `key` must be below MTLSAUTHZ__KEY_COUNT. */
static inline mtlsauthz_field mtlsauthz__key_field(mtlsauthz__key key)
{
    return mtlsauthz__keys[key].field;
}

static inline mtlsauthz__wclass mtlsauthz__key_wclass(mtlsauthz__key key)
{
    return mtlsauthz__keys[key].wclass;
}

static inline mtlsauthz__fold mtlsauthz__key_fold(mtlsauthz__key key)
{
    return mtlsauthz__keys[key].fold;
}

static inline mtlsauthz__key_kind mtlsauthz__key_kind_of(mtlsauthz__key key)
{
    return mtlsauthz__keys[key].kind;
}

/*
 * The keys that fold case, as an initializer list (`MTLSAUTHZ__KEY_DNS, MTLSAUTHZ__KEY_EMAIL,`)
 * and as a count, chosen at compile time: the peer lowercases those keys' fields once per
 * connection (mtlsauthz__fold_identity). A fold mode added to pattern.h needs a line here.
 */
#define MTLSAUTHZ__KEY_IF_FOLDS_NONE_(e)
#define MTLSAUTHZ__KEY_IF_FOLDS_ALL_(e) MTLSAUTHZ__KEY_##e,
#define MTLSAUTHZ__KEY_IF_FOLDS_AFTER_LAST_AT_(e) MTLSAUTHZ__KEY_##e,
#define MTLSAUTHZ__KEY_IF_FOLDS(e, name, field, wclass, fold, kind)                                \
    MTLSAUTHZ__KEY_IF_FOLDS_##fold##_(e)
#define MTLSAUTHZ__KEY_FOLDS_ONE_(e, name, field, wclass, fold, kind)                              \
    +(MTLSAUTHZ__FOLD_##fold != MTLSAUTHZ__FOLD_NONE)
enum { MTLSAUTHZ__KEYS_FOLDED = 0 MTLSAUTHZ__SELECTOR_KEYS(MTLSAUTHZ__KEY_FOLDS_ONE_) };

#endif
