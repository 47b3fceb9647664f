/* SPDX-License-Identifier: Apache-2.0 */
/* clang-format off */
/*
 * Patterns, for identity fields and operations alike (docs/policy.md, "Patterns").
 *
 *   ordinary bytes   match themselves, byte for byte
 *   *                one or more units, none that the class stops `*` at
 *   **               one or more units, none that the class stops `**` at
 *   {name}           like *, and binds `name` (name: [A-Za-z_][A-Za-z0-9_]*, at most 64 bytes)
 *   \*  \{  \\       escapes; any other backslash sequence is an error
 *
 * A lone `}` is an ordinary byte. `***` is an error (ambiguous), as are `*{x}`, `{x}*` and
 * `{a}{b}` (adjacent wildcards make captures ambiguous and the match slow).
 *
 * The wildcard class of a pattern (one per selector key, mtlsauthz__wclass) says what a unit
 * is and which units each wildcard stops at. A unit is one byte, except under MTLSAUTHZ__WC_DN,
 * where a value's backslash escape is one unit (RFC 4514 §2.4: `\` and two hex digits, or `\`
 * and any other byte), read left to right from the start of the value; a `\` that ends the
 * value is a unit no wildcard takes. A wildcard starts and ends on unit boundaries. Under
 * WC_DN a literal that ends inside an escape before a wildcard (or a lone `\` at the end)
 * could never match and is a compile error.
 *
 * Case folding is done by the caller before matching: compile lowercases the parts of the
 * pattern that compare case-insensitively (by `fold`), and the policy engine lowercases the
 * same parts of identity values once per connection. Matching itself is byte for byte.
 */
/* clang-format on */
#ifndef MTLSAUTHZ_PATTERN_H
#define MTLSAUTHZ_PATTERN_H

#include "internal.h"

#define MTLSAUTHZ__PATTERN_MAX_LEN 4096u     /* bytes of pattern source */
#define MTLSAUTHZ__PATTERN_MAX_CAPTURES 8u   /* distinct capture names in one pattern */
#define MTLSAUTHZ__PATTERN_MAX_WILDCARDS 16u /* *, ** and {x} in one pattern */

typedef enum mtlsauthz__fold {
    MTLSAUTHZ__FOLD_NONE = 0,         /* byte for byte */
    MTLSAUTHZ__FOLD_ALL = 1,          /* whole value ASCII case-insensitive (dNSName) */
    MTLSAUTHZ__FOLD_AFTER_LAST_AT = 2 /* the part after the last '@' (rfc822Name domain) */
} mtlsauthz__fold;

/* What the wildcards of a pattern may consume. */
typedef enum mtlsauthz__wclass {
    MTLSAUTHZ__WC_ANY = 0, /* * and ** take any byte: cn, o, ou, email, ... */
    MTLSAUTHZ__WC_DOT,     /* * stops at '.' (a DNS label): dns */
    MTLSAUTHZ__WC_SLASH,   /* * stops at '/' (a path segment): spiffe, operations */
    MTLSAUTHZ__WC_URI,     /* * stops at / ? # @ :, ** at ? # @ (RFC 3986 §3): uri */
    MTLSAUTHZ__WC_DN,      /* escapes are units; * stops at an unescaped , or +: dn, issuer */
    MTLSAUTHZ__WC_COUNT
} mtlsauthz__wclass;

typedef enum mtlsauthz__tok_kind {
    MTLSAUTHZ__TOK_LIT = 0,  /* literal bytes */
    MTLSAUTHZ__TOK_STAR,     /* *: 1+ units, none the class stops `*` at */
    MTLSAUTHZ__TOK_STARSTAR, /* **: 1+ units, none the class stops `**` at */
    MTLSAUTHZ__TOK_CAPTURE   /* {name}: like *, binds capture index `cap` */
} mtlsauthz__tok_kind;

typedef struct mtlsauthz__tok {
    mtlsauthz__tok_kind kind;
    unsigned cap;    /* TOK_CAPTURE: index into the pattern's capture names */
    const char *lit; /* TOK_LIT: unescaped (and folded) bytes, inside the pattern's memory */
    size_t lit_len;
} mtlsauthz__tok;

typedef struct mtlsauthz__pattern {
    char *text; /* the unescaped, folded literal bytes, NUL-terminated */
    mtlsauthz__tok *toks;
    size_t ntoks;
    size_t text_len;
    size_t min_len;       /* a value shorter than this cannot match */
    char **cap_names;     /* ncaps names, NUL-terminated, owned; NULL when ncaps == 0 */
    unsigned ncaps;       /* distinct capture names */
    int is_literal;       /* no wildcard at all: `text`/`text_len` is the exact value */
    unsigned char wclass; /* mtlsauthz__wclass: what the wildcards may consume */
} mtlsauthz__pattern;

/*
 * Compiles `src` (`len` bytes) into `out` (caller storage, zeroed by this function).
 * `wclass` says what `*`, `**` and captures may consume.
 * On error returns MTLSAUTHZ_EPOLICY (or ELIMIT/ENOMEM) with a message that quotes the pattern
 * and says what is wrong and where (byte offset); `out` is then left cleared.
 */
int mtlsauthz__pattern_compile(mtlsauthz__pattern *out, const char *src, size_t len,
                               mtlsauthz__wclass wclass, mtlsauthz__fold fold,
                               mtlsauthz_error *err);

/* Frees what compile allocated and zeroes `p`. Safe on a zeroed or cleared pattern. */
void mtlsauthz__pattern_clear(mtlsauthz__pattern *p);

/*
 * Called for each way the pattern matches. caps[i] is the value bound to capture i
 * (pointing into the matched string). Return nonzero to accept that match and stop.
 */
typedef int (*mtlsauthz__pattern_cb)(void *ctx, const mtlsauthz__str *caps, unsigned ncaps);

/*
 * Matches `s` (`len` bytes, may contain any byte) against `p`.
 *
 * `bound` is NULL or an array of p->ncaps entries: an entry with a non-NULL ptr forces that
 * capture to equal those bytes exactly (it then matches only where those bytes are a valid `*`
 * match: non-empty, whole units, none that `*` stops at). Unbound captures match like `*`.
 *
 * `cb` may be NULL (accept the first match). With a cb, every distinct way of matching is
 * offered until one is accepted.
 *
 * Returns 1 (matched and accepted), 0 (no match), or MTLSAUTHZ_ELIMIT when the work budget
 * (`*budget` steps, decremented; NULL means a default) runs out. Never allocates.
 * Without captures, the cost is O(len * ntoks) at worst.
 */
int mtlsauthz__pattern_match(const mtlsauthz__pattern *p, const char *s, size_t len,
                             const mtlsauthz__str *bound, mtlsauthz__pattern_cb cb, void *ctx,
                             unsigned long *budget);

/*
 * 1 if v[from..to) is what one wildcard of `kind` (TOK_STAR and TOK_CAPTURE alike, or
 * TOK_STARSTAR) may match when it starts at `from` under `wclass`, as the matcher decides it:
 * non-empty, whole units, none the wildcard stops at. `from` must be a unit boundary of the
 * value; v[0..lim) is readable (lim >= to), since the unit that ends a span may depend on the
 * bytes after it. Used by the index to decide a match without the matcher.
 */
int mtlsauthz__pattern_wild_span(mtlsauthz__wclass wclass, mtlsauthz__tok_kind kind, const char *v,
                                 size_t from, size_t to, size_t lim);

/* The byte the index cuts a value into segments at, for prefix and suffix probes: '.', '/',
 * or 0 for none (probes at power-of-two lengths then). */
char mtlsauthz__wclass_sep(mtlsauthz__wclass wclass);

/* 1 if the two patterns could both match some string (used by lint), 0 if not. Conservative:
 * may say 1 when unsure, never 0 when an overlap exists. */
int mtlsauthz__pattern_may_overlap(const mtlsauthz__pattern *a, const mtlsauthz__pattern *b);

/* 1 if every string `narrow` matches is also matched by `wide` (used by lint to find
 * shadowed rules). Conservative: may say 0 when unsure, never 1 when it is not so. */
int mtlsauthz__pattern_covers(const mtlsauthz__pattern *wide, const mtlsauthz__pattern *narrow);

#endif
