/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmtlsauthz: compiled policies and decisions.
 *
 * A policy is loaded from YAML (see docs/policy.md), compiled once, and then answers "may this
 * identity perform this operation?". Deny wins, the default is deny, and every error is a deny:
 * a decision is set to deny before any work, and only a 0 return can carry an allow.
 *
 * Work is split so that a server does the per-connection part once:
 *   - per connection: mtlsauthz_peer_new() resolves which principals of one policy an identity
 *     matches, and what they capture;
 *   - per request: mtlsauthz_peer_decide() matches the operation only, with no allocation.
 * mtlsauthz_policy_decide() does both in one call.
 *
 * Threading and reload: a policy is immutable once loaded, and any number of threads may use
 * it at once. It is reference counted: mtlsauthz_policy_ref() takes a reference and
 * mtlsauthz_policy_free() drops one; the memory goes with the last. A peer holds a reference
 * on its policy. To reload, load a new policy, swap your shared pointer to it under your own
 * lock, and drop your reference on the old one. A reader takes its own reference
 * (mtlsauthz_policy_ref()) under the same lock (a read lock suffices), decides outside it, and
 * drops the reference after: an atomic pointer alone is not enough, since a reader could load
 * the old pointer just before the writer drops the last reference. Decisions in flight finish
 * on the old policy, and nothing is freed under them (tests/stress/reload.c). A peer holds its
 * own reference, so a server that caches peers needs the lock only to make them. A peer belongs
 * to the policy it was made with; after a swap, make new peers from the new policy.
 */
#ifndef MTLSAUTHZ_POLICY_H
#define MTLSAUTHZ_POLICY_H

#include "common.h"
#include "error.h"
#include "identity.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A compiled policy. Opaque and reference counted. */
typedef struct mtlsauthz_policy mtlsauthz_policy;

/** An identity resolved against one policy, for reuse across the requests of a connection. */
typedef struct mtlsauthz_peer mtlsauthz_peer;

/**
 * Why a decision came out as it did. The strings from mtlsauthz_reason_string() are stable
 * and shared by the CLI's JSON, the bindings and the NGINX variables. The numbers are ABI.
 */
typedef enum mtlsauthz_reason {
    MTLSAUTHZ_REASON_ERROR = 0,       /* "error": something failed; denied */
    MTLSAUTHZ_REASON_ALLOWED = 1,     /* "allowed": an allow rule matched, no deny did */
    MTLSAUTHZ_REASON_DENIED = 2,      /* "denied": an enforce-mode deny rule matched */
    MTLSAUTHZ_REASON_NO_MATCH = 3,    /* "no_match": no allow rule matched; default deny */
    MTLSAUTHZ_REASON_NO_IDENTITY = 4, /* "no_identity": no identity was given */
    MTLSAUTHZ_REASON_IDENTITY_REJECTED =
        5 /* "identity_rejected": see mtlsauthz_identity_rejected() */
} mtlsauthz_reason;

/** The stable string for `reason` ("allowed", "no_match", ...); "error" if unknown. */
MTLSAUTHZ_API const char *mtlsauthz_reason_string(mtlsauthz_reason reason);

/**
 * How many matched dry-run rule ids a decision lists by name. Part of the layout of
 * mtlsauthz_decision, so it changes only with the soname; mtlsauthz_decision_dry_run_max()
 * gives the loaded library's value to bindings that cannot read this header.
 */
#define MTLSAUTHZ_DECISION_DRY_RUN_MAX 8

/**
 * The outcome of a decision. Caller-owned (usually on the stack); it needs no initialization,
 * since every function that takes one sets all of it, `reserved` included, before any work.
 * String pointers are borrowed from the policy and live as long as a reference to it is held
 * (a peer holds one).
 *
 * Its size is fixed for the life of the soname: a later minor release adds fields only in
 * `reserved`, which this library sets to zero in every decision, so a field added later
 * reads 0 (NULL: "not reported") from this library (docs/abi.md). Do not use `reserved`.
 */
typedef struct mtlsauthz_decision {
    int allowed;             /* 1 = allow, 0 = deny */
    mtlsauthz_reason reason; /* why */
    const char *rule;        /* id of the deciding rule, or NULL: the first matching enforce-mode
                                deny rule in file order, else the first matching allow rule */
    size_t dry_run_count;    /* how many dry-run rules matched (may exceed the array) */
    const char *dry_run[MTLSAUTHZ_DECISION_DRY_RUN_MAX]; /* their ids, in file order */
    void *reserved[4]; /* room for later fields; zero (docs/abi.md) */
} mtlsauthz_decision;

/**
 * MTLSAUTHZ_DECISION_DRY_RUN_MAX of the library loaded at run time, for FFI bindings that
 * check their copy of the layout at load (docs/abi.md). Thread-safe.
 */
MTLSAUTHZ_API size_t mtlsauthz_decision_dry_run_max(void);

/**
 * Loads and compiles a policy from YAML text of `len` bytes (NUL bytes inside are an error).
 * *out receives a new policy with one reference, owned by the caller (drop it with
 * mtlsauthz_policy_free()), or NULL on error: nothing is half-loaded. The text is not kept.
 * Errors: MTLSAUTHZ_EPOLICY (with the key, rule, principal or pattern, and the line, in the
 * message), MTLSAUTHZ_EVERSION, MTLSAUTHZ_ELIMIT, MTLSAUTHZ_ENOMEM, MTLSAUTHZ_EINVAL.
 * Thread-safe: concurrent loads share nothing.
 */
MTLSAUTHZ_API MTLSAUTHZ_WARN_UNUSED int
mtlsauthz_policy_load(mtlsauthz_policy **out, const char *yaml, size_t len, mtlsauthz_error *err);

/** As mtlsauthz_policy_load(), reading the file at `path`. Adds MTLSAUTHZ_EIO. */
MTLSAUTHZ_API MTLSAUTHZ_WARN_UNUSED int
mtlsauthz_policy_load_file(mtlsauthz_policy **out, const char *path, mtlsauthz_error *err);

/** Takes a reference on `policy` and returns it. NULL gives NULL. Thread-safe. */
MTLSAUTHZ_API mtlsauthz_policy *mtlsauthz_policy_ref(mtlsauthz_policy *policy);

/** Drops a reference; the last one frees the policy. NULL is a no-op. Thread-safe. */
MTLSAUTHZ_API void mtlsauthz_policy_free(mtlsauthz_policy *policy);

/**
 * What a policy's operations are: its top-level `protocol` key (docs/policy.md). The numbers
 * are ABI.
 */
typedef enum mtlsauthz_protocol {
    MTLSAUTHZ_PROTOCOL_ANY = 0, /* "any" or absent: named operations ("images:build") allowed */
    MTLSAUTHZ_PROTOCOL_HTTP = 1 /* "http": every operation pattern is "METHOD /path" */
} mtlsauthz_protocol;

/**
 * The policy's declared protocol; MTLSAUTHZ_PROTOCOL_ANY for NULL. A binding that derives
 * operations from HTTP requests warns at start-up when this is not MTLSAUTHZ_PROTOCOL_HTTP,
 * since only then are operation patterns checked to be ones an HTTP request can match.
 * Thread-safe.
 */
MTLSAUTHZ_API mtlsauthz_protocol mtlsauthz_policy_protocol(const mtlsauthz_policy *policy);

/** Number of rules in the policy (dry-run rules included). */
MTLSAUTHZ_API size_t mtlsauthz_policy_rule_count(const mtlsauthz_policy *policy);

/**
 * Resolves `id` against `policy`: which principals it matches and what they capture.
 * *out receives a new peer owned by the caller (mtlsauthz_peer_free()); it holds a reference
 * on `policy` and copies what it needs from `id`, which may be freed afterwards.
 * A NULL or rejected identity is not an error: the peer then denies every operation with
 * reason no_identity or identity_rejected.
 * Errors: MTLSAUTHZ_EINVAL, MTLSAUTHZ_ENOMEM, MTLSAUTHZ_ELIMIT.
 * Thread-safe; the peer itself is immutable and may be shared by threads.
 */
MTLSAUTHZ_API MTLSAUTHZ_WARN_UNUSED int mtlsauthz_peer_new(mtlsauthz_peer **out,
                                                           mtlsauthz_policy *policy,
                                                           const mtlsauthz_identity *id,
                                                           mtlsauthz_error *err);

/** Frees a peer and drops its policy reference. NULL is a no-op. */
MTLSAUTHZ_API void mtlsauthz_peer_free(mtlsauthz_peer *peer);

/** The policy a peer was resolved against (borrowed). */
MTLSAUTHZ_API mtlsauthz_policy *mtlsauthz_peer_policy(const mtlsauthz_peer *peer);

/**
 * Decides whether the peer may perform operation `op` (`op_len` bytes; not NUL-terminated).
 * *decision is set to deny with reason error first, then filled. Returns 0 when a decision was
 * reached (allow or deny), or a negative code (decision stays deny/error): MTLSAUTHZ_EINVAL,
 * MTLSAUTHZ_ELIMIT (operation too long), MTLSAUTHZ_EOPERATION (NUL byte in the operation).
 * No allocation. Thread-safe.
 */
MTLSAUTHZ_API MTLSAUTHZ_WARN_UNUSED int mtlsauthz_peer_decide(mtlsauthz_decision *decision,
                                                              const mtlsauthz_peer *peer,
                                                              const char *op, size_t op_len,
                                                              mtlsauthz_error *err);

/**
 * As mtlsauthz_peer_decide(), for bindings that keep one result object per outcome and want
 * no struct to read back: returns the decision as a non-negative *code*, or a negative error
 * code (a deny; the same codes and messages as mtlsauthz_peer_decide()). `decision` may be
 * NULL; when given it is filled as by mtlsauthz_peer_decide(), for the dry-run ids, which the
 * code does not carry. The code's fields (the layout is ABI, read it with the macros below):
 *   bit 0      1 for an allow (MTLSAUTHZ_DECISION_CODE_ALLOWED);
 *   bits 1-4   the mtlsauthz_reason (MTLSAUTHZ_DECISION_CODE_REASON);
 *   bit 5      1 when a dry-run rule matched (MTLSAUTHZ_DECISION_CODE_DRY_RUN);
 *   bits 6-30  1 + the deciding rule's index in file order, 0 when no rule decided
 *              (MTLSAUTHZ_DECISION_CODE_RULE).
 * Equal codes from peers of one policy are equal decisions apart from the dry-run ids, so a
 * binding can cache its result per (policy, code) (docs/api.md, "Decisions"). No allocation.
 * Thread-safe.
 */
MTLSAUTHZ_API MTLSAUTHZ_WARN_UNUSED int mtlsauthz_peer_decide_code(mtlsauthz_decision *decision,
                                                                   const mtlsauthz_peer *peer,
                                                                   const char *op, size_t op_len,
                                                                   mtlsauthz_error *err);

/** The fields of a code from mtlsauthz_peer_decide_code() (a non-negative int). */
#define MTLSAUTHZ_DECISION_CODE_ALLOWED(code) ((int)((code)&1))
#define MTLSAUTHZ_DECISION_CODE_REASON(code) ((mtlsauthz_reason)(((code) >> 1) & 0xf))
#define MTLSAUTHZ_DECISION_CODE_DRY_RUN(code) ((int)(((code) >> 5) & 1))
#define MTLSAUTHZ_DECISION_CODE_RULE(code) ((size_t)((unsigned)(code) >> 6))

/**
 * mtlsauthz_peer_new() and mtlsauthz_peer_decide() in one call, for one-off decisions.
 * `id` may be NULL (denied, no_identity).
 */
MTLSAUTHZ_API MTLSAUTHZ_WARN_UNUSED int mtlsauthz_policy_decide(mtlsauthz_decision *decision,
                                                                mtlsauthz_policy *policy,
                                                                const mtlsauthz_identity *id,
                                                                const char *op, size_t op_len,
                                                                mtlsauthz_error *err);

/**
 * The form of a report (mtlsauthz_policy_lint_report(), mtlsauthz_policy_explain_report()).
 * The numbers are ABI.
 */
typedef enum mtlsauthz_format {
    MTLSAUTHZ_FORMAT_TEXT = 0, /* lines for people (and, for lint, for editors and CI) */
    MTLSAUTHZ_FORMAT_JSON = 1  /* one JSON document (docs/policy.md gives its fields) */
} mtlsauthz_format;

/**
 * A human-readable account of one decision: which principals and rules matched, and why the
 * others did not; under a principal that did not match, the identity's values for the key that
 * failed and the key's patterns (the first few of each, control and non-ASCII bytes escaped).
 * *out receives a NUL-terminated string owned by the caller (mtlsauthz_string_free()), or NULL
 * on error. The decision itself is written to `decision` if not NULL: deny/error before any
 * work, and still deny/error on error. A NULL or rejected identity is not an error; the account
 * says so. Nothing passed in is kept.
 * Errors: MTLSAUTHZ_EINVAL (`out` or `policy` NULL, or `op` NULL with a length),
 * MTLSAUTHZ_ELIMIT (the identity exceeds the matching limits, or the operation is too long),
 * MTLSAUTHZ_EOPERATION (a NUL byte in the operation), MTLSAUTHZ_ENOMEM: those of
 * mtlsauthz_peer_new() and mtlsauthz_peer_decide(), with the same messages.
 * Thread-safe: the policy and the identity are only read, so any number of threads may explain
 * while others decide on the same policy. Not for the request path: it allocates, and matches
 * every principal and rule.
 */
MTLSAUTHZ_API MTLSAUTHZ_WARN_UNUSED int
mtlsauthz_policy_explain(char **out, mtlsauthz_decision *decision, mtlsauthz_policy *policy,
                         const mtlsauthz_identity *id, const char *op, size_t op_len,
                         mtlsauthz_error *err);

/**
 * mtlsauthz_policy_explain() in a given form: MTLSAUTHZ_FORMAT_TEXT gives the same text, and
 * MTLSAUTHZ_FORMAT_JSON one JSON object with the decision ("decision", "rule", "reason",
 * "dry_run", as `mtlsauthz check --format json` prints them) and the account ("operation",
 * "identity", "principals", "rules"; docs/policy.md, "Explain"), ending in a newline.
 * Ownership, errors and threading as mtlsauthz_policy_explain(); an unknown `format` is
 * MTLSAUTHZ_EINVAL.
 */
MTLSAUTHZ_API MTLSAUTHZ_WARN_UNUSED int
mtlsauthz_policy_explain_report(char **out, mtlsauthz_decision *decision, mtlsauthz_policy *policy,
                                const mtlsauthz_identity *id, const char *op, size_t op_len,
                                mtlsauthz_format format, mtlsauthz_error *err);

/**
 * Static checks of a policy. *out receives one finding per line, "kind: message (line: N,
 * column: M)" (the kinds are listed in docs/policy.md, "Lint"; the message starts with the
 * rule, principal or `sensitive` entry it is about, and the position is that of its `id:`,
 * `name:` or entry, left out when unknown), in file order, owned by the caller
 * (mtlsauthz_string_free()); *count the number of findings (0 = clean, and *out is "").
 * On error *out is NULL and *count 0 (when they are not NULL themselves). Nothing passed in is
 * kept. Errors: MTLSAUTHZ_EINVAL (`out`, `count` or `policy` NULL), MTLSAUTHZ_ENOMEM.
 * Thread-safe: the policy is only read, so any number of threads may lint it while others
 * decide on it. Not for the request path: it allocates, and compares every pair of rules.
 */
MTLSAUTHZ_API MTLSAUTHZ_WARN_UNUSED int mtlsauthz_policy_lint(char **out, size_t *count,
                                                              const mtlsauthz_policy *policy,
                                                              mtlsauthz_error *err);

/**
 * mtlsauthz_policy_lint() in a given form, for tools. `file` (may be NULL) names the policy
 * file in the report; it is not opened.
 *   - MTLSAUTHZ_FORMAT_TEXT: one line per finding, "FILE:LINE:COL: warning: kind: message", as
 *     compilers write diagnostics (a part that is not known is left out, with its colon);
 *   - MTLSAUTHZ_FORMAT_JSON: {"file": FILE or null, "count": N, "findings": [{"kind", "rule",
 *     "principal", "line", "column", "message"}, ...]} and a newline; "rule" and "principal"
 *     name the subject (null when it is not one), "line" and "column" are null when unknown,
 *     and "message" is the message of the text forms.
 * Ownership, order, errors and threading as mtlsauthz_policy_lint(); an unknown `format` is
 * MTLSAUTHZ_EINVAL.
 */
MTLSAUTHZ_API MTLSAUTHZ_WARN_UNUSED int
mtlsauthz_policy_lint_report(char **out, size_t *count, const mtlsauthz_policy *policy,
                             const char *file, mtlsauthz_format format, mtlsauthz_error *err);

#ifdef __cplusplus
}
#endif

#endif
