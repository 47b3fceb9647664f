/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy as the YAML front end (policy_yaml.c) reads it, before compilation
 * (compile.c). policy_yaml.c is the only file that includes libcyaml; it guarantees
 * everything the schema can check, and compile.c everything semantic.
 *
 * policy_yaml.c guarantees:
 *   - exactly one YAML document, no aliases or anchors, nesting within MTLSAUTHZ__YAML_MAX_DEPTH,
 *     no scalar containing a NUL, input within MTLSAUTHZ__POLICY_MAX_BYTES;
 *   - `version` read first; anything but 1 is MTLSAUTHZ_EVERSION;
 *   - no unknown keys; `effect` and `mode` are valid enum strings (never numbers);
 *   - every list present is non-empty (`cn: []` is an error naming the key);
 *   - principals and rules present and non-empty; every rule has id, effect, principals,
 *     operations; every principal has a name;
 *   - counts within the MTLSAUTHZ__POLICY_MAX_* limits.
 * compile.c checks: duplicate names and ids, control characters in names and ids, undefined
 * principals, empty selectors, patterns, CIDRs, hex, captures, SPIFFE trust-domain case, and
 * operation patterns that can never match (op_pattern.h).
 *
 * Both put the position of what an error is about into mtlsauthz_error's line and column
 * (compile.c from `where`), never into the message text; policy.c puts it in front of the
 * message (docs/policy.md, "Errors").
 */
#ifndef MTLSAUTHZ_POLICY_AST_H
#define MTLSAUTHZ_POLICY_AST_H

#include "internal.h"
#include "keys.h" /* the selector keys: mtlsauthz__key, mtlsauthz__key_names */

#define MTLSAUTHZ__POLICY_MAX_BYTES (64u * 1024u * 1024u)
#define MTLSAUTHZ__POLICY_MAX_RULES 1000000u
#define MTLSAUTHZ__POLICY_MAX_PRINCIPALS 1000000u
#define MTLSAUTHZ__POLICY_MAX_LIST 100000u /* entries in any one list */
#define MTLSAUTHZ__YAML_MAX_DEPTH 16u
#define MTLSAUTHZ__NAME_MAX_LEN 256u /* principal names and rule ids */

typedef struct mtlsauthz__strv {
    char **v; /* NUL-terminated strings (NUL-free, guaranteed by the front end) */
    unsigned n;
} mtlsauthz__strv;

typedef struct mtlsauthz__ast_principal {
    char *name;
    mtlsauthz__strv keys[MTLSAUTHZ__KEY_COUNT]; /* n == 0: key absent */
} mtlsauthz__ast_principal;

typedef enum mtlsauthz__effect { MTLSAUTHZ__ALLOW = 0, MTLSAUTHZ__DENY = 1 } mtlsauthz__effect;
typedef enum mtlsauthz__mode { MTLSAUTHZ__ENFORCE = 0, MTLSAUTHZ__DRY_RUN = 1 } mtlsauthz__mode;

typedef struct mtlsauthz__ast_rule {
    char *id;
    mtlsauthz__effect effect;
    mtlsauthz__mode mode;       /* ENFORCE when absent */
    mtlsauthz__strv principals; /* names, or "*" */
    mtlsauthz__strv operations;
} mtlsauthz__ast_rule;

/* `protocol`: what the operations are. ANY (the default) allows named operations such as
 * "images:build"; HTTP requires every operation pattern to be an HTTP operation pattern. */
typedef enum mtlsauthz__protocol {
    MTLSAUTHZ__PROTOCOL_ANY = 0,
    MTLSAUTHZ__PROTOCOL_HTTP = 1
} mtlsauthz__protocol;

/* Where a scalar starts in the YAML source, as libyaml marks it, counted from 1 (what
 * mtlsauthz_error's line and column say). line == 0: not known. */
typedef struct mtlsauthz__pos {
    uint32_t line;
    uint32_t column;
} mtlsauthz__pos;

typedef struct mtlsauthz__posv {
    mtlsauthz__pos *v;
    size_t n;
    size_t cap;
} mtlsauthz__posv;

/*
 * The positions of the scalars that semantic errors are about, which libcyaml does not keep.
 * The pre-pass appends each scalar to its list in document order, so entry j of rule i's
 * `operations` is rule_operations.v[(operations of rules 0..i-1) + j]; read them through the
 * mtlsauthz__ast_*_pos() functions. After the schema load the list lengths are checked
 * against the AST; if they disagree every list is emptied and positions read as unknown, so a
 * message never points at the wrong line.
 */
typedef struct mtlsauthz__ast_where {
    mtlsauthz__posv rule_ids;                   /* rules[i].id */
    mtlsauthz__posv rule_principals;            /* rules[i].principals[j] */
    mtlsauthz__posv rule_operations;            /* rules[i].operations[j] */
    mtlsauthz__posv principal_names;            /* principals[i].name */
    mtlsauthz__posv keys[MTLSAUTHZ__KEY_COUNT]; /* principals[i].<key>[j] */
    mtlsauthz__posv sensitive;                  /* sensitive[j] */
} mtlsauthz__ast_where;

typedef struct mtlsauthz__ast {
    unsigned version;
    mtlsauthz__protocol protocol; /* ANY when absent */
    mtlsauthz__strv sensitive;    /* n == 0 when absent */
    mtlsauthz__ast_principal *principals;
    unsigned nprincipals; /* may be 0 when `principals` is absent (rules may use "*") */
    mtlsauthz__ast_rule *rules;
    unsigned nrules;
    void *priv;                 /* front-end bookkeeping */
    mtlsauthz__ast_where where; /* not in the schema: filled and freed by policy_yaml.c */
} mtlsauthz__ast;

/* Parses and schema-checks `len` bytes of YAML. *out is owned by the caller
 * (mtlsauthz__ast_free). Errors: EPOLICY, EVERSION, ELIMIT (with the position of the node at
 * fault in err->line and err->column when there is one), ENOMEM. */
int mtlsauthz__ast_load(mtlsauthz__ast **out, const char *yaml, size_t len, mtlsauthz_error *err);
void mtlsauthz__ast_free(mtlsauthz__ast *ast);

/* For tests: runs the pre-pass over `yaml` twice, through the fast line scanner and through
 * libyaml (policy_yaml.c, "the fast pre-pass"), as a policy or, with `test_file`, as a policy
 * test file. 1: the fast scanner read it, and both found nothing and recorded the same
 * positions and version; 0: the fast scanner gave up (the load uses libyaml's pre-pass);
 * -1: the fast scanner read it and the two disagree, which is a bug. */
int mtlsauthz__prepass_fast_check(const char *yaml, size_t len, int test_file);

/* Positions of AST scalars (see mtlsauthz__ast_where); {0, 0} when not known. Each is
 * linear in the number of rules or principals before the one asked about: they are for
 * error messages, not for loops. */
mtlsauthz__pos mtlsauthz__ast_rule_id_pos(const mtlsauthz__ast *ast, unsigned rule);
mtlsauthz__pos mtlsauthz__ast_rule_principal_pos(const mtlsauthz__ast *ast, unsigned rule,
                                                 unsigned j);
mtlsauthz__pos mtlsauthz__ast_operation_pos(const mtlsauthz__ast *ast, unsigned rule, unsigned j);
mtlsauthz__pos mtlsauthz__ast_principal_name_pos(const mtlsauthz__ast *ast, unsigned principal);
mtlsauthz__pos mtlsauthz__ast_key_pos(const mtlsauthz__ast *ast, unsigned principal,
                                      mtlsauthz__key key, unsigned j);
mtlsauthz__pos mtlsauthz__ast_sensitive_pos(const mtlsauthz__ast *ast, unsigned j);

/*
 * Policy test cases (mtlsauthz_policy_test_load(), which policy_test.c builds on;
 * docs/policy.md, "Policy tests"): a YAML list of mappings, read with the same strictness as a
 * policy. mtlsauthz__test_cases_load guarantees, beyond the schema, that every case has
 * exactly one of `cert` and `identity`, `chain` only with `cert`, exactly one of `op` and
 * `request`, a `request` of the form "METHOD TARGET" (one space, no other blank), neither
 * `rule` nor `dry_run` with `expect: error`, at most MTLSAUTHZ_DECISION_DRY_RUN_MAX ids in
 * `dry_run` and none twice, and no NUL byte in any value. The values of an inline identity are
 * checked when it is built (identity_inline.h).
 */
typedef enum mtlsauthz__expect {
    MTLSAUTHZ__EXPECT_DENY = 0,
    MTLSAUTHZ__EXPECT_ALLOW = 1,
    MTLSAUTHZ__EXPECT_ERROR = 2 /* the request is refused, or the decision fails */
} mtlsauthz__expect;

/* An inline identity (identity_inline.h); lists with n == 0 are absent. */
typedef struct mtlsauthz__test_identity {
    char *spiffe; /* may be NULL */
    mtlsauthz__strv cn, o, ou, dns, uri, email, ip, eku;
    char *serial; /* may be NULL */
    char *sha256; /* may be NULL */
} mtlsauthz__test_identity;

typedef struct mtlsauthz__test_case {
    char *name;                         /* may be NULL */
    char *cert;                         /* NULL when `identity` is given */
    char *chain;                        /* may be NULL */
    mtlsauthz__test_identity *identity; /* NULL when `cert` is given */
    char *op;                           /* NULL when `request` is given */
    char *request;                      /* "METHOD TARGET", or NULL */
    mtlsauthz__expect expect;
    char *rule;              /* may be NULL */
    mtlsauthz__strv dry_run; /* n == 0: not asserted */
    mtlsauthz__pos where;    /* where the case starts; not in the schema */
} mtlsauthz__test_case;

typedef struct mtlsauthz__test_cases {
    mtlsauthz__test_case *cases;
    unsigned ncases;
    void *priv;
} mtlsauthz__test_cases;

/* Parses and checks `len` bytes of YAML. *out is owned by the caller
 * (mtlsauthz__test_cases_free). Errors as mtlsauthz__ast_load(), the position in err->line and
 * err->column, never in the message. */
int mtlsauthz__test_cases_load(mtlsauthz__test_cases **out, const char *yaml, size_t len,
                               mtlsauthz_error *err);
void mtlsauthz__test_cases_free(mtlsauthz__test_cases *tc);

/* Fails with `code` and "case N 'name': <why>" at the position of case `index`, the form of
 * the loader's own errors about a case, for what is checked after the load (an inline
 * identity that cannot be built). Returns `code`. */
int mtlsauthz__test_case_fail(const mtlsauthz__test_cases *tcs, unsigned index, int code,
                              const char *why, mtlsauthz_error *err);

#endif
