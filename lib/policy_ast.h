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
 * compile.c checks: duplicate names and ids, undefined principals, empty selectors, patterns,
 * CIDRs, hex, captures, SPIFFE trust-domain case.
 */
#ifndef MTLSAUTHZ_POLICY_AST_H
#define MTLSAUTHZ_POLICY_AST_H

#include "internal.h"

#define MTLSAUTHZ__POLICY_MAX_BYTES (64u * 1024u * 1024u)
#define MTLSAUTHZ__POLICY_MAX_RULES 1000000u
#define MTLSAUTHZ__POLICY_MAX_PRINCIPALS 1000000u
#define MTLSAUTHZ__POLICY_MAX_LIST 100000u /* entries in any one list */
#define MTLSAUTHZ__YAML_MAX_DEPTH 16u
#define MTLSAUTHZ__NAME_MAX_LEN 256u /* principal names and rule ids */

/* Selector keys, in the order docs/policy.md lists them. */
typedef enum mtlsauthz__key {
    MTLSAUTHZ__KEY_CN = 0,
    MTLSAUTHZ__KEY_O,
    MTLSAUTHZ__KEY_OU,
    MTLSAUTHZ__KEY_DN,
    MTLSAUTHZ__KEY_ISSUER,
    MTLSAUTHZ__KEY_SERIAL,
    MTLSAUTHZ__KEY_SHA256,
    MTLSAUTHZ__KEY_SPIFFE,
    MTLSAUTHZ__KEY_DNS,
    MTLSAUTHZ__KEY_URI,
    MTLSAUTHZ__KEY_EMAIL,
    MTLSAUTHZ__KEY_IP,
    MTLSAUTHZ__KEY_EKU,
    MTLSAUTHZ__KEY_COUNT
} mtlsauthz__key;

/* The YAML key names, indexed by mtlsauthz__key ("cn", "o", ...). */
extern const char *const mtlsauthz__key_names[MTLSAUTHZ__KEY_COUNT];

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

typedef struct mtlsauthz__ast {
    unsigned version;
    mtlsauthz__protocol protocol; /* ANY when absent */
    mtlsauthz__strv sensitive;    /* n == 0 when absent */
    mtlsauthz__ast_principal *principals;
    unsigned nprincipals; /* may be 0 when `principals` is absent (rules may use "*") */
    mtlsauthz__ast_rule *rules;
    unsigned nrules;
    void *priv; /* front-end bookkeeping */
} mtlsauthz__ast;

/* Parses and schema-checks `len` bytes of YAML. *out is owned by the caller
 * (mtlsauthz__ast_free). Errors: EPOLICY (message with libcyaml's path and line), EVERSION,
 * ELIMIT, ENOMEM. */
int mtlsauthz__ast_load(mtlsauthz__ast **out, const char *yaml, size_t len, mtlsauthz_error *err);
void mtlsauthz__ast_free(mtlsauthz__ast *ast);

/* Policy test cases (`mtlsauthz test POLICY TESTS.yaml`): a YAML list of
 *   - {name?: str, cert: path, chain?: path, op: str, expect: allow|deny, rule?: str}
 * with the same strictness as the policy loader. */
typedef struct mtlsauthz__test_case {
    char *name; /* may be NULL */
    char *cert;
    char *chain; /* may be NULL */
    char *op;
    int expect_allow;
    char *rule; /* may be NULL */
} mtlsauthz__test_case;

typedef struct mtlsauthz__test_cases {
    mtlsauthz__test_case *cases;
    unsigned ncases;
    void *priv;
} mtlsauthz__test_cases;

int mtlsauthz__test_cases_load(mtlsauthz__test_cases **out, const char *yaml, size_t len,
                               mtlsauthz_error *err);
void mtlsauthz__test_cases_free(mtlsauthz__test_cases *tc);

#endif
