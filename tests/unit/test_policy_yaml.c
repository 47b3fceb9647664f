/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The YAML front end (lib/policy_yaml.c): what it loads into the AST, and every schema-level
 * load error docs/policy.md describes, including each libcyaml gap the front end closes (embedded
 * NUL, second document, numeric enums, empty and comment-only files, `cn: []`, future versions).
 * Inputs are inline where short; NUL cases pass explicit lengths.
 */
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>

#include "helpers.h"
#include "policy_ast.h"

/* ---- helpers ---- */

static int load_n(const char *yaml, size_t len, mtlsauthz__ast **out, mtlsauthz_error *err)
{
    mtlsauthz_error_clear(err);
    return mtlsauthz__ast_load(out, yaml, len, err);
}

static mtlsauthz__ast *load_ok(const char *yaml)
{
    mtlsauthz__ast *ast = NULL;
    mtlsauthz_error err;
    int rc = load_n(yaml, strlen(yaml), &ast, &err);
    cr_assert_eq(rc, 0, "load failed (%d): %s", rc, err.message);
    cr_assert_not_null(ast);
    return ast;
}

/*
 * Checks the message: the code, no position inside the text (it is in err->line and
 * err->column, and the public load puts it in front), never a bare "invalid value", and each
 * of the NULL-terminated substrings in `ap`.
 */
static void assert_message(const mtlsauthz_error *err, int code, va_list ap)
{
    const char *needle;
    cr_assert_eq(err->code, code);
    cr_assert(err->message[0] != '\0');
    cr_assert(strncmp(err->message, "policy: ", 8) != 0 && strncmp(err->message, "tests: ", 7) != 0,
              "prefixed: %s", err->message);
    cr_assert(strstr(err->message, "(line:") == NULL && strstr(err->message, "column:") == NULL,
              "position in the text: %s", err->message);
    cr_assert(strstr(err->message, "invalid value") == NULL ||
                  strstr(err->message, "invalid value '") != NULL,
              "bare invalid value: %s", err->message);
    while ((needle = va_arg(ap, const char *)) != NULL) {
        cr_assert(strstr(err->message, needle) != NULL, "message lacks \"%s\": %s", needle,
                  err->message);
    }
}

/* Asserts the error's position: 1-based line and column of the node at fault. */
static void assert_at(const mtlsauthz_error *err, unsigned line, unsigned column, int caller)
{
    cr_assert(err->line == line && err->column == column,
              "line %d: expected position %u:%u, got %u:%u: %s", caller, line, column, err->line,
              err->column, err->message);
}

#define ANY_POS UINT_MAX

/* A failed load (of a policy or test cases, called from line `caller`): `code`, *out reset to
 * NULL, the position `line`:`column` (0:0 for none, ANY_POS for not checked), and the
 * substrings in `ap`. */
static void assert_failure(int caller, int rc, int code, const void *out,
                           const mtlsauthz_error *err, unsigned line, unsigned column, va_list ap)
{
    cr_assert_eq(rc, code, "line %d: expected %s, got %s: %s", caller, mtlsauthz_errname(code),
                 mtlsauthz_errname(rc), err->message);
    cr_assert_null(out, "*out must be NULL on error");
    assert_message(err, code, ap);
    if (line != ANY_POS) {
        assert_at(err, line, column, caller);
    }
}

/* Loads `len` bytes of policy and expects the failure (assert_failure) that follows. */
static void expect_err_at_n(int caller, const char *yaml, size_t len, int code, unsigned line,
                            unsigned column, ...)
{
    mtlsauthz__ast *ast = (mtlsauthz__ast *)(uintptr_t)1; /* must be reset to NULL */
    mtlsauthz_error err;
    va_list ap;
    int rc = load_n(yaml, len, &ast, &err);
    va_start(ap, column);
    assert_failure(caller, rc, code, ast, &err, line, column, ap);
    va_end(ap);
}

#define expect_err_n(yaml, len, code, ...)                                                         \
    expect_err_at_n(__LINE__, (yaml), (len), (code), ANY_POS, ANY_POS, __VA_ARGS__)
#define expect_err(yaml, code, ...)                                                                \
    expect_err_at_n(__LINE__, (yaml), strlen(yaml), (code), ANY_POS, ANY_POS, __VA_ARGS__, NULL)
#define expect_err_at(yaml, code, line, column, ...)                                               \
    expect_err_at_n(__LINE__, (yaml), strlen(yaml), (code), (line), (column), __VA_ARGS__, NULL)

/* A valid policy with one rule, for tests that change one thing. */
#define RULE_OK "  - id: r\n    effect: allow\n    principals: [\"*\"]\n    operations: [x]\n"
#define HEAD "version: 1\nrules:\n"

/* ---- the example policy of docs/policy.md ---- */

static void assert_strv(const mtlsauthz__strv *sv, unsigned n, ...)
{
    va_list ap;
    unsigned i;
    cr_assert_eq(sv->n, n, "expected %u entries, got %u", n, sv->n);
    if (n == 0) {
        cr_assert_null(sv->v);
        return;
    }
    cr_assert_not_null(sv->v);
    va_start(ap, n);
    for (i = 0; i < n; i++) {
        const char *want = va_arg(ap, const char *);
        cr_assert_str_eq(sv->v[i], want);
    }
    va_end(ap);
}

static void assert_only_keys(const mtlsauthz__ast_principal *p, unsigned mask)
{
    unsigned k;
    for (k = 0; k < MTLSAUTHZ__KEY_COUNT; k++) {
        if (!(mask & (1u << k))) {
            cr_assert_eq(p->keys[k].n, 0, "principal %s: key %s should be absent", p->name,
                         mtlsauthz__key_names[k]);
            cr_assert_null(p->keys[k].v);
        }
    }
}

Test(policy_yaml, example_policy_loads_into_the_ast)
{
    size_t len;
    char *yaml = th_data("policies/example.yaml", &len);
    mtlsauthz__ast *ast = NULL;
    mtlsauthz_error err;
    const mtlsauthz__ast_principal *p;
    const mtlsauthz__ast_rule *r;

    cr_assert_eq(load_n(yaml, len, &ast, &err), 0, "%s", err.message);
    cr_assert_eq(ast->version, 1);
    assert_strv(&ast->sensitive, 2, "host:**", "POST /containers/*/exec");

    cr_assert_eq(ast->nprincipals, 3);
    p = &ast->principals[0];
    cr_assert_str_eq(p->name, "builder");
    assert_strv(&p->keys[MTLSAUTHZ__KEY_SPIFFE], 1, "spiffe://prod.example.com/ci/builder");
    assert_strv(&p->keys[MTLSAUTHZ__KEY_EKU], 1, "clientAuth");
    assert_only_keys(p, (1u << MTLSAUTHZ__KEY_SPIFFE) | (1u << MTLSAUTHZ__KEY_EKU));
    p = &ast->principals[1];
    cr_assert_str_eq(p->name, "ops");
    assert_strv(&p->keys[MTLSAUTHZ__KEY_O], 1, "Example Corp");
    assert_strv(&p->keys[MTLSAUTHZ__KEY_OU], 2, "ops", "sre");
    assert_only_keys(p, (1u << MTLSAUTHZ__KEY_O) | (1u << MTLSAUTHZ__KEY_OU));
    p = &ast->principals[2];
    cr_assert_str_eq(p->name, "tenant");
    assert_strv(&p->keys[MTLSAUTHZ__KEY_SPIFFE], 1, "spiffe://prod.example.com/tenant/{tenant}/*");
    assert_only_keys(p, 1u << MTLSAUTHZ__KEY_SPIFFE);

    cr_assert_eq(ast->nrules, 4);
    r = &ast->rules[0];
    cr_assert_str_eq(r->id, "build");
    cr_assert_eq(r->effect, MTLSAUTHZ__ALLOW);
    cr_assert_eq(r->mode, MTLSAUTHZ__ENFORCE, "mode defaults to enforce");
    assert_strv(&r->principals, 1, "builder");
    assert_strv(&r->operations, 2, "images:build", "images:push");
    r = &ast->rules[1];
    cr_assert_str_eq(r->id, "tenant-data");
    cr_assert_eq(r->effect, MTLSAUTHZ__ALLOW);
    assert_strv(&r->principals, 1, "tenant");
    assert_strv(&r->operations, 1, "GET /tenants/{tenant}/**");
    r = &ast->rules[2];
    cr_assert_str_eq(r->id, "no-host");
    cr_assert_eq(r->effect, MTLSAUTHZ__DENY);
    cr_assert_eq(r->mode, MTLSAUTHZ__ENFORCE);
    assert_strv(&r->principals, 1, "*");
    assert_strv(&r->operations, 1, "host:**");
    r = &ast->rules[3];
    cr_assert_str_eq(r->id, "watch-push");
    cr_assert_eq(r->effect, MTLSAUTHZ__DENY);
    cr_assert_eq(r->mode, MTLSAUTHZ__DRY_RUN);
    assert_strv(&r->principals, 1, "builder");
    assert_strv(&r->operations, 1, "images:push");

    mtlsauthz__ast_free(ast);
    free(yaml);
}

static void assert_pos(mtlsauthz__pos pos, uint32_t line, uint32_t column)
{
    cr_assert(pos.line == line && pos.column == column, "expected line %u column %u, got %u %u",
              line, column, pos.line, pos.column);
}

Test(policy_yaml, positions_of_the_scalars_errors_are_about)
{
    /* Block and flow style, keys in any order, quoted and plain scalars. */
    mtlsauthz__ast *ast =
        load_ok("version: 1\n"
                "rules:\n"
                "  - id: first\n"
                "    effect: allow\n"
                "    principals: [a, \"b\"]\n"
                "    operations:\n"
                "      - GET /x\n"
                "      - 'GET /y'\n"
                "  - {operations: [z], principals: ['*'], effect: deny, id: second}\n"
                "sensitive: [s1, s2]\n"
                "principals:\n"
                "  - name: a\n"
                "    cn: [x, y]\n"
                "  - ou: [o]\n"
                "    name: b\n"
                "    cn: [w]\n");
    assert_pos(mtlsauthz__ast_rule_id_pos(ast, 0), 3, 9);
    assert_pos(mtlsauthz__ast_rule_id_pos(ast, 1), 9, 60);
    assert_pos(mtlsauthz__ast_rule_principal_pos(ast, 0, 0), 5, 18);
    assert_pos(mtlsauthz__ast_rule_principal_pos(ast, 0, 1), 5, 21);
    assert_pos(mtlsauthz__ast_rule_principal_pos(ast, 1, 0), 9, 36);
    assert_pos(mtlsauthz__ast_operation_pos(ast, 0, 0), 7, 9);
    assert_pos(mtlsauthz__ast_operation_pos(ast, 0, 1), 8, 9);
    assert_pos(mtlsauthz__ast_operation_pos(ast, 1, 0), 9, 19);
    assert_pos(mtlsauthz__ast_sensitive_pos(ast, 0), 10, 13);
    assert_pos(mtlsauthz__ast_sensitive_pos(ast, 1), 10, 17);
    assert_pos(mtlsauthz__ast_principal_name_pos(ast, 0), 12, 11);
    assert_pos(mtlsauthz__ast_principal_name_pos(ast, 1), 15, 11);
    assert_pos(mtlsauthz__ast_key_pos(ast, 0, MTLSAUTHZ__KEY_CN, 0), 13, 10);
    assert_pos(mtlsauthz__ast_key_pos(ast, 0, MTLSAUTHZ__KEY_CN, 1), 13, 13);
    assert_pos(mtlsauthz__ast_key_pos(ast, 1, MTLSAUTHZ__KEY_CN, 0), 16, 10);
    assert_pos(mtlsauthz__ast_key_pos(ast, 1, MTLSAUTHZ__KEY_OU, 0), 14, 10);
    /* Out of range: unknown, never another scalar's position. */
    assert_pos(mtlsauthz__ast_operation_pos(ast, 1, 1), 0, 0);
    assert_pos(mtlsauthz__ast_sensitive_pos(ast, 2), 0, 0);
    assert_pos(mtlsauthz__ast_key_pos(ast, 1, MTLSAUTHZ__KEY_DNS, 0), 0, 0);
    mtlsauthz__ast_free(ast);
}

Test(policy_yaml, positions_ignore_nested_and_test_documents)
{
    /* Mapping keys and the scalars of other keys are not recorded; the counts agree with the
     * AST, so positions are kept. */
    mtlsauthz__ast *ast = load_ok("version: 1\n"
                                  "protocol: any\n"
                                  "rules:\n"
                                  "  - id: r\n"
                                  "    mode: dry-run\n"
                                  "    effect: deny\n"
                                  "    principals: [\"*\"]\n"
                                  "    operations: [x]\n");
    cr_assert_eq(ast->where.rule_ids.n, 1);
    cr_assert_eq(ast->where.rule_principals.n, 1);
    cr_assert_eq(ast->where.rule_operations.n, 1);
    cr_assert_eq(ast->where.principal_names.n, 0);
    cr_assert_eq(ast->where.sensitive.n, 0);
    assert_pos(mtlsauthz__ast_operation_pos(ast, 0, 0), 8, 18);
    mtlsauthz__ast_free(ast);
}

Test(policy_yaml, key_names_are_the_yaml_keys_in_order)
{
    static const char *const want[] = {"cn",     "o",      "ou",     "dn",  "issuer",
                                       "serial", "sha256", "spiffe", "dns", "uri",
                                       "email",  "ip",     "eku"};
    unsigned k;
    cr_assert_eq(MTLSAUTHZ__ARRAY_LEN(want), MTLSAUTHZ__KEY_COUNT);
    for (k = 0; k < MTLSAUTHZ__KEY_COUNT; k++) {
        cr_assert_str_eq(mtlsauthz__key_names[k], want[k]);
    }
}

Test(policy_yaml, every_selector_key_lands_in_its_own_slot)
{
    size_t len;
    char *yaml = th_data("policies/all-keys.yaml", &len);
    mtlsauthz__ast *ast = NULL;
    mtlsauthz_error err;
    unsigned k;
    char want[32];

    cr_assert_eq(load_n(yaml, len, &ast, &err), 0, "%s", err.message);
    cr_assert_eq(ast->nprincipals, 1);
    for (k = 0; k < MTLSAUTHZ__KEY_COUNT; k++) {
        const mtlsauthz__strv *sv = &ast->principals[0].keys[k];
        snprintf(want, sizeof(want), "v-%s", mtlsauthz__key_names[k]);
        cr_assert_geq(sv->n, 1, "key %s is empty", mtlsauthz__key_names[k]);
        cr_assert_str_eq(sv->v[0], want);
    }
    assert_strv(&ast->principals[0].keys[MTLSAUTHZ__KEY_EKU], 2, "v-eku", "v-eku-2");
    cr_assert_eq(ast->rules[0].mode, MTLSAUTHZ__ENFORCE);
    mtlsauthz__ast_free(ast);
    free(yaml);
}

Test(policy_yaml, principals_and_sensitive_are_optional)
{
    mtlsauthz__ast *ast = load_ok(HEAD RULE_OK);
    cr_assert_eq(ast->nprincipals, 0);
    cr_assert_null(ast->principals);
    assert_strv(&ast->sensitive, 0);
    cr_assert_eq(ast->nrules, 1);
    mtlsauthz__ast_free(ast);
}

Test(policy_yaml, accepts_document_markers_flow_style_and_quoted_version)
{
    mtlsauthz__ast *ast =
        load_ok("%YAML 1.1\n---\nversion: \"1\"\nrules: [{id: r, effect: deny, mode: dry-run, "
                "principals: ['*'], operations: ['a', \"b\"]}]\n...\n");
    cr_assert_eq(ast->version, 1);
    cr_assert_eq(ast->rules[0].effect, MTLSAUTHZ__DENY);
    cr_assert_eq(ast->rules[0].mode, MTLSAUTHZ__DRY_RUN);
    assert_strv(&ast->rules[0].operations, 2, "a", "b");
    mtlsauthz__ast_free(ast);
}

Test(policy_yaml, backslashes_reach_the_ast_unchanged)
{
    /* Pattern escapes and DN escapes are compile.c's business: single quotes keep them. */
    mtlsauthz__ast *ast = load_ok("version: 1\nprincipals:\n  - name: p\n    dn: ['CN=a\\\\,b']\n"
                                  "rules:\n  - id: r\n    effect: allow\n    principals: [p]\n"
                                  "    operations: ['a\\*b']\n");
    assert_strv(&ast->principals[0].keys[MTLSAUTHZ__KEY_DN], 1, "CN=a\\\\,b");
    assert_strv(&ast->rules[0].operations, 1, "a\\*b");
    mtlsauthz__ast_free(ast);
}

Test(policy_yaml, free_null_is_a_noop)
{
    mtlsauthz__ast_free(NULL);
    mtlsauthz__test_cases_free(NULL);
}

Test(policy_yaml, bad_arguments)
{
    mtlsauthz__ast *ast = NULL;
    mtlsauthz_error err;
    cr_assert_eq(mtlsauthz__ast_load(NULL, "version: 1", 10, &err), MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz__ast_load(&ast, NULL, 10, &err), MTLSAUTHZ_EINVAL);
    cr_assert_null(ast);
    /* A NULL err is allowed. */
    cr_assert_eq(mtlsauthz__ast_load(&ast, "", 0, NULL), MTLSAUTHZ_EPOLICY);
    cr_assert_null(ast);
}

/* ---- empty input (libcyaml: OK with NULL data) ---- */

Test(policy_yaml, empty_inputs_are_refused)
{
    expect_err_n("", 0, MTLSAUTHZ_EPOLICY, "empty policy", NULL);
    expect_err_n(NULL, 0, MTLSAUTHZ_EPOLICY, "empty policy", NULL);
    expect_err("   \n\n\t\n", MTLSAUTHZ_EPOLICY, "empty policy");
    expect_err("# just a comment\n# and another\n", MTLSAUTHZ_EPOLICY, "empty policy");
    expect_err("---\n", MTLSAUTHZ_EPOLICY, "empty policy");
    expect_err("--- # nothing here\n...\n", MTLSAUTHZ_EPOLICY, "empty policy");
}

/* ---- not YAML, or not a mapping ---- */

Test(policy_yaml, non_yaml_input_is_refused_with_a_location)
{
    static const char png[] = "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01";
    expect_err_at_n(__LINE__, png, sizeof(png) - 1, MTLSAUTHZ_EPOLICY, 1, 1, "not valid YAML text",
                    "invalid leading UTF-8 octet", NULL);
    /* Where libyaml stopped, said for people. */
    expect_err_at("[unclosed\n", MTLSAUTHZ_EPOLICY, 2, 1,
                  "expected ',' or ']' here: the list opened with '[' at line 1, column 1 is not "
                  "closed");
    /* A quoted value that never ends: at its opening quote, not at the end of the file. */
    expect_err_at(HEAD "  - id: \"unterminated\n", MTLSAUTHZ_EPOLICY, 3, 9,
                  "this quoted value has no closing quote");
    expect_err_at("version: 1\n  rules: bad indent\n", MTLSAUTHZ_EPOLICY, 2, 8,
                  "this line is indented more than the key 'version' on line 1, so it reads as "
                  "more of that key's value; indent it to column 1, like 'version'");
    expect_err_at("version: 1: 2\n", MTLSAUTHZ_EPOLICY, 1, 11,
                  "':' followed by a space cannot appear in a plain value here; quote the value");
    expect_err_at("version: 1\nrules:\n  - id: \"a\\q\"\n", MTLSAUTHZ_EPOLICY, 3, 11,
                  "unknown escape in a double-quoted value");
    expect_err_at("version: 1\nrules: [a,,b]\n", MTLSAUTHZ_EPOLICY, 2, 11, "expected a value here");
    /* The file ends inside a list: at its '['. */
    expect_err_at("version: 1\nrules: [a, b,\n", MTLSAUTHZ_EPOLICY, 2, 8,
                  "this '[' is never closed (the file ends first)");
    expect_err_at("version: 1\nrules: {a: 1\n", MTLSAUTHZ_EPOLICY, 3, 1,
                  "expected ',' or '}' here: the mapping opened with '{' at line 2, column 8");
    expect_err_at("version: 1\nrules:\n  - id: @a\n", MTLSAUTHZ_EPOLICY, 3, 9,
                  "'@' cannot start a plain value; put the value in quotes");
    expect_err_at("version: 1\nrules: - a\n", MTLSAUTHZ_EPOLICY, 2, 8,
                  "a list cannot start on the line of its key");
    expect_err_at("version: 1\nrules:\n  - id: a\n  -id: b\n", MTLSAUTHZ_EPOLICY, 4, 3,
                  "a list entry needs a space after '-'");
    expect_err_at("version: 1\nrules:\n  - id: a\n  x\n", MTLSAUTHZ_EPOLICY, 4, 3,
                  "this line has no ':' after its key");
}

Test(policy_yaml, tabs_are_named)
{
    /* libyaml says "found character that cannot start any token" or "a tab character that
     * violates indentation"; either way the author needs to hear "tab". */
    expect_err_at("version: 1\nrules:\n\t- id: a\n", MTLSAUTHZ_EPOLICY, 3, 1,
                  "tabs cannot indent YAML; use spaces");
    expect_err_at("version: 1\nprincipals:\n  - name: admin\n\tou: [admins]\nrules: []\n",
                  MTLSAUTHZ_EPOLICY, 4, 1, "tabs cannot indent YAML; use spaces");
    expect_err_at("version: 1\nrules:\n  - id: a\n    operations: |\n\t x\n", MTLSAUTHZ_EPOLICY, 5,
                  1, "tabs cannot indent YAML; use spaces");
}

Test(policy_yaml, a_bad_indent_names_the_block_it_broke)
{
    /* One space short of the entry's keys: libyaml's "did not find expected '-' indicator". */
    expect_err_at("version: 1\nprincipals:\n  - name: admin\n   ou: [admins]\nrules: []\n",
                  MTLSAUTHZ_EPOLICY, 4, 4,
                  "this line is indented differently from the list 'principals' at line 3: its "
                  "entries start with '-' at column 3, and the keys of its last entry at column "
                  "5; indent it like the lines it belongs with, with spaces");
    /* A rule's next key one space in from its mapping: "did not find expected key". */
    expect_err_at(
        HEAD "  - id: r\n    effect: allow\n    principals:\n      - a\n     operations: [x]\n",
        MTLSAUTHZ_EPOLICY, 7, 6,
        "this line is indented differently from rule 'r' at line 3: its keys start at "
        "column 5, and the entries of 'principals' at column 7");
    /* A new rule one space out from the list. */
    expect_err_at(HEAD RULE_OK " - id: s\n", MTLSAUTHZ_EPOLICY, 7, 2,
                  "this line is indented differently from the top level at line 1: its keys "
                  "start at column 1, and the entries of 'rules' at column 3");
    /* Deeper than the keys above: it continues the value before it. */
    expect_err_at(HEAD "  - id: r\n    effect: allow\n      principals: [\"*\"]\n",
                  MTLSAUTHZ_EPOLICY, 5, 17,
                  "this line is indented more than the key 'effect' on line 4, so it reads as "
                  "more of that key's value; indent it to column 5, like 'effect'");
    /* Top-level keys that do not line up. */
    expect_err_at("  version: 1\nrules: x\n", MTLSAUTHZ_EPOLICY, 2, 1,
                  "this line is indented differently from the top-level keys, which start at "
                  "column 3");
}

Test(policy_yaml, enum_values_suggest_the_close_one)
{
    expect_err_at(HEAD
                  "  - id: r\n    effect: alow\n    principals: [\"*\"]\n    operations: [x]\n",
                  MTLSAUTHZ_EPOLICY, 4, 13,
                  "invalid value 'alow' for 'effect' in rule 'r' (expected allow or deny); did "
                  "you mean 'allow'?");
    expect_err_at(HEAD "  - id: r\n    effect: allow\n    mode: dryrun\n    principals: [\"*\"]\n"
                       "    operations: [x]\n",
                  MTLSAUTHZ_EPOLICY, 5, 11,
                  "invalid value 'dryrun' for 'mode' in rule 'r' (expected enforce or dry-run); "
                  "did you mean 'dry-run'?");
    expect_err_at("version: 1\nprotocol: htp\nrules:\n" RULE_OK, MTLSAUTHZ_EPOLICY, 2, 11,
                  "invalid value 'htp' for 'protocol' (expected http or any); did you mean "
                  "'http'?");
    /* Nothing close: no guess. */
    expect_err_at(HEAD
                  "  - id: r\n    effect: permit\n    principals: [\"*\"]\n    operations: [x]\n",
                  MTLSAUTHZ_EPOLICY, 4, 13,
                  "invalid value 'permit' for 'effect' in rule 'r' (expected allow or deny)");
}

Test(policy_yaml, top_level_must_be_a_mapping)
{
    expect_err_at("- version: 1\n", MTLSAUTHZ_EPOLICY, 1, 1, "top level must be a mapping",
                  "not a list");
    expect_err("hello\n", MTLSAUTHZ_EPOLICY, "top level must be a mapping", "not a scalar");
    expect_err("\"1\"\n", MTLSAUTHZ_EPOLICY, "top level must be a mapping");
}

/* ---- second document (libcyaml: silently ignored) ---- */

Test(policy_yaml, second_document_is_refused)
{
    expect_err_at(HEAD RULE_OK "---\nversion: 1\n", MTLSAUTHZ_EPOLICY, 7, 1,
                  "second YAML document");
    /* Even an empty second document: the file is not one document. */
    expect_err(HEAD RULE_OK "...\n---\n", MTLSAUTHZ_EPOLICY, "second YAML document");
    /* And when the first one is the bad one, the pass still stops at the first problem. */
    expect_err_at("---\nversion: 1\n---\n", MTLSAUTHZ_EPOLICY, 3, 1, "second YAML document");
}

/* ---- aliases and anchors ---- */

Test(policy_yaml, alias_is_refused)
{
    expect_err_at("version: 1\nrules: *r\n", MTLSAUTHZ_EPOLICY, 2, 8, "alias '*r'");
}

Test(policy_yaml, anchor_is_refused)
{
    expect_err_at("version: 1\nrules: &r\n" RULE_OK, MTLSAUTHZ_EPOLICY, 2, 8, "anchor '&r'");
    expect_err_at(HEAD "  - id: &i r\n    effect: allow\n    principals: [\"*\"]\n"
                       "    operations: [x]\n",
                  MTLSAUTHZ_EPOLICY, 3, 9, "anchor '&i'");
}

Test(policy_yaml, billion_laughs_fails_fast)
{
    /* Nine levels of ten aliases each would expand to 10^9 strings; refused at the first
     * anchor, before anything is expanded. The test only needs to return. */
    static const char bomb[] =
        "version: 1\n"
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
        "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
        "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
        "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
        "rules: *i\n";
    expect_err_at(bomb, MTLSAUTHZ_EPOLICY, 2, 4, "anchor '&a'");
    /* The same bomb written for a future version: still refused, not version-checked. */
    expect_err(bomb + strlen("version: 1\n"), MTLSAUTHZ_EPOLICY, "anchor");
}

/* ---- NUL inside scalars (libcyaml: silently truncated) ---- */

Test(policy_yaml, escaped_nul_in_double_quotes_is_refused)
{
    /* "host:\0**" would load as "host:" and, as a deny pattern, match less than written. */
    expect_err_at(HEAD "  - id: r\n    effect: deny\n    principals: [\"*\"]\n"
                       "    operations: [\"host:\\0**\"]\n",
                  MTLSAUTHZ_EPOLICY, 6, 18, "NUL byte", "'operations'", "'host:'");
    /* Every spelling of NUL that YAML double quotes allow. */
    expect_err_at(HEAD "  - id: \"r\\x00\"\n    effect: deny\n    principals: [\"*\"]\n"
                       "    operations: [x]\n",
                  MTLSAUTHZ_EPOLICY, 3, 9, "NUL byte", "key 'id'");
    expect_err_at("version: 1\nprincipals:\n  - name: \"a\\u0000b\"\n    cn: [x]\nrules:\n" RULE_OK,
                  MTLSAUTHZ_EPOLICY, 3, 11, "NUL byte", "key 'name'");
    expect_err_at(
        "version: 1\nprincipals:\n  - name: a\n    cn: [\"\\U00000000\"]\nrules:\n" RULE_OK,
        MTLSAUTHZ_EPOLICY, 4, 10, "NUL byte", "'cn'");
    /* In a key. */
    expect_err_at("version: 1\n\"rul\\0es\": []\n", MTLSAUTHZ_EPOLICY, 2, 1, "NUL byte",
                  "mapping key");
}

Test(policy_yaml, raw_nul_byte_is_refused)
{
    static const char raw[] = "version: 1\nrules:\n  - id: r\n    effect: deny\n"
                              "    principals: [\"*\"]\n    operations: [\"host:\0**\"]\n";
    static const char raw_plain[] = "version: 1\nrules:\n  - id: r\0x\n";
    expect_err_at_n(__LINE__, raw, sizeof(raw) - 1, MTLSAUTHZ_EPOLICY, 6, 24, "NUL byte",
                    "operations", NULL);
    expect_err_at_n(__LINE__, raw_plain, sizeof(raw_plain) - 1, MTLSAUTHZ_EPOLICY, 3, 10,
                    "NUL byte", "id: r", NULL);
    /* A trailing NUL counted in the length (a common off-by-one in callers) is refused too. */
    expect_err_n(HEAD RULE_OK, sizeof(HEAD RULE_OK), MTLSAUTHZ_EPOLICY, "NUL byte", NULL);
}

/* ---- enums (libcyaml: numbers accepted unless STRICT) ---- */

Test(policy_yaml, enum_as_number_is_refused)
{
    expect_err_at(HEAD "  - id: r\n    effect: 1\n    principals: [\"*\"]\n    operations: [x]\n",
                  MTLSAUTHZ_EPOLICY, 4, 13, "invalid value '1'", "'effect'", "allow or deny");
    expect_err(HEAD "  - id: r\n    effect: 0\n    principals: [\"*\"]\n    operations: [x]\n",
               MTLSAUTHZ_EPOLICY, "'0'", "'effect'");
    expect_err_at(HEAD "  - id: r\n    effect: allow\n    mode: 1\n    principals: [\"*\"]\n"
                       "    operations: [x]\n",
                  MTLSAUTHZ_EPOLICY, 5, 11, "invalid value '1'", "'mode'", "enforce or dry-run");
}

Test(policy_yaml, unknown_enum_values_are_refused)
{
    expect_err_at(HEAD
                  "  - id: r\n    effect: permit\n    principals: [\"*\"]\n    operations: [x]\n",
                  MTLSAUTHZ_EPOLICY, 4, 13, "'permit'", "'effect'", "allow or deny", "in rule 'r'");
    /* Case matters: "Allow" is not "allow". */
    expect_err(HEAD "  - id: r\n    effect: Allow\n    principals: [\"*\"]\n    operations: [x]\n",
               MTLSAUTHZ_EPOLICY, "'Allow'");
    expect_err(HEAD "  - id: r\n    effect: allow\n    mode: dryrun\n    principals: [\"*\"]\n"
                    "    operations: [x]\n",
               MTLSAUTHZ_EPOLICY, "'dryrun'", "'mode'", "enforce or dry-run");
    expect_err(HEAD "  - id: r\n    effect: [allow]\n    principals: [\"*\"]\n"
                    "    operations: [x]\n",
               MTLSAUTHZ_EPOLICY, "'effect' must be allow or deny", "not a list");
}

/* ---- protocol ---- */

Test(policy_yaml, protocol_is_optional_and_read)
{
    mtlsauthz__ast *ast = load_ok(HEAD RULE_OK);
    cr_assert_eq(ast->protocol, MTLSAUTHZ__PROTOCOL_ANY, "absent means any");
    mtlsauthz__ast_free(ast);
    ast = load_ok("version: 1\nprotocol: http\nrules:\n" RULE_OK);
    cr_assert_eq(ast->protocol, MTLSAUTHZ__PROTOCOL_HTTP);
    mtlsauthz__ast_free(ast);
    ast = load_ok("version: 1\nprotocol: any\nrules:\n" RULE_OK);
    cr_assert_eq(ast->protocol, MTLSAUTHZ__PROTOCOL_ANY);
    mtlsauthz__ast_free(ast);
}

Test(policy_yaml, protocol_values_are_strict)
{
    expect_err_at("version: 1\nprotocol: HTTP\nrules:\n" RULE_OK, MTLSAUTHZ_EPOLICY, 2, 11,
                  "'HTTP'", "'protocol'", "http or any");
    expect_err("version: 1\nprotocol: grpc\nrules:\n" RULE_OK, MTLSAUTHZ_EPOLICY, "'grpc'",
               "http or any");
    expect_err("version: 1\nprotocol: 1\nrules:\n" RULE_OK, MTLSAUTHZ_EPOLICY, "'1'", "'protocol'");
    expect_err("version: 1\nprotocol: [http]\nrules:\n" RULE_OK, MTLSAUTHZ_EPOLICY,
               "'protocol' must be http or any");
}

/* ---- empty lists (libcyaml: same as an absent key) ---- */

Test(policy_yaml, empty_lists_are_refused_by_key)
{
    expect_err_at("version: 1\nprincipals:\n  - name: a\n    cn: []\nrules:\n" RULE_OK,
                  MTLSAUTHZ_EPOLICY, 4, 9, "empty list for key 'cn'");
    expect_err_at(HEAD
                  "  - id: r\n    effect: allow\n    principals: [\"*\"]\n    operations: []\n",
                  MTLSAUTHZ_EPOLICY, 6, 17, "empty list", "'operations'");
    expect_err_at(HEAD "  - id: r\n    effect: allow\n    principals: []\n    operations: [x]\n",
                  MTLSAUTHZ_EPOLICY, 5, 17, "empty list", "'principals'");
    expect_err_at("version: 1\nrules: []\n", MTLSAUTHZ_EPOLICY, 2, 8, "empty list", "'rules'");
    expect_err("version: 1\nprincipals: []\nrules:\n" RULE_OK, MTLSAUTHZ_EPOLICY, "empty list",
               "'principals'");
    expect_err("version: 1\nsensitive: []\nrules:\n" RULE_OK, MTLSAUTHZ_EPOLICY, "empty list",
               "'sensitive'");
}

Test(policy_yaml, absent_optional_key_is_not_an_empty_list)
{
    mtlsauthz__ast *ast =
        load_ok("version: 1\nprincipals:\n  - name: a\n    cn: [x]\nrules:\n" RULE_OK);
    assert_strv(&ast->principals[0].keys[MTLSAUTHZ__KEY_CN], 1, "x");
    assert_strv(&ast->principals[0].keys[MTLSAUTHZ__KEY_O], 0);
    mtlsauthz__ast_free(ast);
}

/* ---- version (libcyaml: a future file fails as "unexpected key") ---- */

Test(policy_yaml, future_version_with_unknown_keys_is_eversion)
{
    /* At the version's value. */
    expect_err_at("version: 2\nconditions: {time: weekdays}\nrules:\n  - id: r\n    when: now\n",
                  MTLSAUTHZ_EVERSION, 1, 10,
                  "unsupported policy version 2 (this library reads version 1)");
    /* Empty lists and unknown layouts are v2's business. */
    expect_err_at("version: 2\nnew_list: []\n", MTLSAUTHZ_EVERSION, 1, 10, "version 2");
    expect_err_at("rules: x\nversion: 7\n", MTLSAUTHZ_EVERSION, 2, 10, "version 7");
    expect_err_at("version: 0\nrules:\n" RULE_OK, MTLSAUTHZ_EVERSION, 1, 10, "version 0");
}

Test(policy_yaml, missing_or_malformed_version_is_epolicy)
{
    /* A missing key is reported at the mapping that lacks it. */
    expect_err_at("rules:\n" RULE_OK, MTLSAUTHZ_EPOLICY, 1, 1,
                  "missing key 'version' at the top level (a policy starts with version: 1)");
    expect_err_at("version: one\nrules:\n" RULE_OK, MTLSAUTHZ_EPOLICY, 1, 10, "'one'", "'version'");
    expect_err_at("version: -1\nrules:\n" RULE_OK, MTLSAUTHZ_EPOLICY, 1, 10, "'-1'", "'version'");
    expect_err_at("version: [1]\nrules:\n" RULE_OK, MTLSAUTHZ_EPOLICY, 1, 10, "'version'");
    /* A duplicate key at the second one. */
    expect_err_at("version: 1\nversion: 1\nrules:\n" RULE_OK, MTLSAUTHZ_EPOLICY, 2, 1,
                  "duplicate key 'version' at the top level");
    expect_err_at("version: 2\nversion: 1\nrules:\n" RULE_OK, MTLSAUTHZ_EPOLICY, 2, 1,
                  "duplicate key 'version'");
}

/* ---- unknown keys, missing keys, wrong types ---- */

Test(policy_yaml, unknown_keys_are_refused_at_the_key)
{
    /* At the key itself, not at the value before it (libcyaml's position), with the key
     * meant when exactly one known key is close. */
    expect_err_at("version: 1\npricipals: []\nrules:\n" RULE_OK, MTLSAUTHZ_EPOLICY, 2, 1,
                  "unknown key 'pricipals' at the top level; did you mean 'principals'?");
    expect_err_at(
        "version: 1\nsensitive:\n  - \"DELETE /x\"\npricipals:\n  - name: a\nrules:\n" RULE_OK,
        MTLSAUTHZ_EPOLICY, 4, 1,
        "unknown key 'pricipals' at the top level; did you mean 'principals'?");
    expect_err_at(
        HEAD "  - id: r\n    effect: allow\n    pricipals: [\"*\"]\n    operations: [x]\n",
        MTLSAUTHZ_EPOLICY, 5, 5, "unknown key 'pricipals' in rule 'r'; did you mean 'principals'?");
    expect_err_at(
        HEAD "  - id: r\n    efect: allow\n    principals: [\"*\"]\n    operations: [x]\n",
        MTLSAUTHZ_EPOLICY, 4, 5, "unknown key 'efect' in rule 'r'; did you mean 'effect'?");
    expect_err_at(HEAD "  - effect: allow\n    principls: [\"*\"]\n", MTLSAUTHZ_EPOLICY, 4, 5,
                  "unknown key 'principls' in a rule; did you mean 'principals'?");
    /* Nothing close: the known keys, five at most. */
    expect_err_at(HEAD "  - id: r\n    when: now\n", MTLSAUTHZ_EPOLICY, 4, 5,
                  "unknown key 'when' in rule 'r' (known keys: id, effect, mode, principals, "
                  "operations)");
    expect_err_at("version: 1\nprincipals:\n  - name: a\n    commonName: [x]\nrules:\n" RULE_OK,
                  MTLSAUTHZ_EPOLICY, 4, 5,
                  "unknown key 'commonName' in principal 'a' (known keys: name, cn, o, ou, dn, "
                  "...)");
    /* Two known keys as close ("o" and "ou" from "u"... and none for a short key). */
    expect_err_at("version: 1\nprincipals:\n  - name: a\n    cm: [x]\nrules:\n" RULE_OK,
                  MTLSAUTHZ_EPOLICY, 4, 5, "unknown key 'cm' in principal 'a' (known keys: ");
    /* Keys are case-sensitive. */
    expect_err_at("version: 1\nRules:\n" RULE_OK, MTLSAUTHZ_EPOLICY, 2, 1,
                  "unknown key 'Rules' at the top level; did you mean 'rules'?");
}

Test(policy_yaml, missing_required_keys_are_named_at_their_mapping)
{
    expect_err_at("version: 1\n", MTLSAUTHZ_EPOLICY, 1, 1, "missing key 'rules' at the top level");
    expect_err_at(HEAD "  - effect: allow\n    principals: [\"*\"]\n    operations: [x]\n",
                  MTLSAUTHZ_EPOLICY, 3, 5, "missing key 'id' in a rule");
    expect_err_at(HEAD "  - id: r\n    principals: [\"*\"]\n    operations: [x]\n",
                  MTLSAUTHZ_EPOLICY, 3, 5, "missing key 'effect' in rule 'r'");
    expect_err_at(HEAD RULE_OK "  - id: s\n    effect: allow\n    operations: [x]\n",
                  MTLSAUTHZ_EPOLICY, 7, 5, "missing key 'principals' in rule 's'");
    expect_err_at(HEAD "  - id: r\n    effect: allow\n    principals: [\"*\"]\n", MTLSAUTHZ_EPOLICY,
                  3, 5, "missing key 'operations' in rule 'r'");
    expect_err_at("version: 1\nprincipals:\n  - cn: [x]\nrules:\n" RULE_OK, MTLSAUTHZ_EPOLICY, 3, 5,
                  "missing key 'name' in a principal");
    expect_err_at(HEAD "  - {}\n", MTLSAUTHZ_EPOLICY, 3, 5, "missing key 'id' in a rule");
}

Test(policy_yaml, wrong_types_are_refused_at_the_value)
{
    expect_err_at("version: 1\nprincipals: builder\nrules:\n" RULE_OK, MTLSAUTHZ_EPOLICY, 2, 13,
                  "'principals' must be a list, not a scalar");
    expect_err_at(HEAD
                  "  - id: r\n    effect: allow\n    principals: builder\n    operations: [x]\n",
                  MTLSAUTHZ_EPOLICY, 5, 17, "'principals' must be a list, not a scalar");
    expect_err_at("version: 1\nprincipals: [builder]\nrules:\n" RULE_OK, MTLSAUTHZ_EPOLICY, 2, 14,
                  "an entry of 'principals' must be a mapping, not a scalar");
    expect_err_at("version: 1\nrules: {id: r}\n", MTLSAUTHZ_EPOLICY, 2, 8,
                  "'rules' must be a list, not a mapping");
    expect_err_at(HEAD "  - id: [r]\n    effect: allow\n    principals: [\"*\"]\n"
                       "    operations: [x]\n",
                  MTLSAUTHZ_EPOLICY, 3, 9, "'id' must be a string, not a list");
    expect_err_at(HEAD "  - id: r\n    effect: allow\n    principals: [\"*\"]\n"
                       "    operations: [[x]]\n",
                  MTLSAUTHZ_EPOLICY, 6, 18,
                  "an entry of 'operations' must be a string, not a list");
    expect_err_at(HEAD "  - id: r\n    effect: allow\n    principals: [\"*\"]\n    operations:\n",
                  MTLSAUTHZ_EPOLICY, 6, 16, "'operations' must be a list, not an empty value");
    expect_err_at("version: 1\n? [complex, key]\n: 1\nrules:\n" RULE_OK, MTLSAUTHZ_EPOLICY, 2, 3,
                  "mapping key must be a plain string");
}

Test(policy_yaml, duplicate_keys_are_refused)
{
    expect_err_at(HEAD "  - id: r\n    id: s\n    effect: allow\n    principals: [\"*\"]\n"
                       "    operations: [x]\n",
                  MTLSAUTHZ_EPOLICY, 4, 5, "duplicate key 'id'");
    expect_err(HEAD RULE_OK "rules:\n" RULE_OK, MTLSAUTHZ_EPOLICY, "duplicate key 'rules'");
}

Test(policy_yaml, empty_names_are_refused)
{
    expect_err_at(HEAD "  - id: \"\"\n    effect: allow\n    principals: [\"*\"]\n"
                       "    operations: [x]\n",
                  MTLSAUTHZ_EPOLICY, 3, 9, "'id' must not be empty");
    expect_err("version: 1\nprincipals:\n  - name: ''\n    cn: [x]\nrules:\n" RULE_OK,
               MTLSAUTHZ_EPOLICY, "'name' must not be empty");
}

/* ---- limits ---- */

Test(policy_yaml, nesting_depth_is_capped)
{
    char yaml[256];
    char *p = yaml;
    unsigned i;
    /* version 2 so that an accepted depth shows as EVERSION, not as a schema error. */
    p += sprintf(p, "version: 2\nx: ");
    /* The top-level mapping is level 1, so 15 more lists reach the limit exactly. */
    for (i = 0; i < MTLSAUTHZ__YAML_MAX_DEPTH - 1; i++) {
        *p++ = '[';
    }
    *p++ = '1';
    for (i = 0; i < MTLSAUTHZ__YAML_MAX_DEPTH - 1; i++) {
        *p++ = ']';
    }
    strcpy(p, "\n");
    expect_err(yaml, MTLSAUTHZ_EVERSION, "version 2");

    p = yaml;
    p += sprintf(p, "version: 2\nx: ");
    for (i = 0; i < MTLSAUTHZ__YAML_MAX_DEPTH; i++) {
        *p++ = '[';
    }
    *p++ = '1';
    for (i = 0; i < MTLSAUTHZ__YAML_MAX_DEPTH; i++) {
        *p++ = ']';
    }
    strcpy(p, "\n");
    expect_err_at(yaml, MTLSAUTHZ_ELIMIT, 2, 19, "nested deeper than 16");
}

Test(policy_yaml, deep_nesting_attack_fails_fast)
{
    /* 100k open brackets: refused at level 17, without recursing or allocating per level. */
    size_t n = 100000, i;
    char *yaml = malloc(n + 4);
    cr_assert_not_null(yaml);
    memcpy(yaml, "a: ", 3);
    for (i = 0; i < n; i++) {
        yaml[3 + i] = '[';
    }
    expect_err_n(yaml, n + 3, MTLSAUTHZ_ELIMIT, "nested deeper", NULL);
    free(yaml);
}

Test(policy_yaml, size_limit_is_checked_before_reading)
{
    /* The length is checked before a byte is read, so a small buffer with an oversized
     * length proves it without allocating 64 MiB. */
    static const char small[] = "version: 1\n";
    expect_err_n(small, (size_t)MTLSAUTHZ__POLICY_MAX_BYTES + 1, MTLSAUTHZ_ELIMIT, "size limit",
                 NULL);
    expect_err_n(small, SIZE_MAX, MTLSAUTHZ_ELIMIT, "size limit", NULL);
}

Test(policy_yaml, size_limit_boundary_is_accepted)
{
    /* Exactly the limit passes the size check (and is then an empty, comment-only file). */
    size_t n = MTLSAUTHZ__POLICY_MAX_BYTES;
    char *yaml = malloc(n);
    cr_assert_not_null(yaml);
    memset(yaml, ' ', n);
    yaml[0] = '#';
    yaml[n - 1] = '\n';
    expect_err_n(yaml, n, MTLSAUTHZ_EPOLICY, "empty policy", NULL);
    free(yaml);
}

/* Builds "version: 1\n<key>: [a,a,...]\n" (or the list under a rule) with `n` entries. */
static char *list_of(const char *head, size_t n, const char *tail, size_t *len)
{
    size_t hl = strlen(head), tl = strlen(tail), i;
    char *yaml = malloc(hl + 2 * n + tl + 2);
    char *p = yaml;
    cr_assert_not_null(yaml);
    memcpy(p, head, hl);
    p += hl;
    *p++ = '[';
    for (i = 0; i < n; i++) {
        *p++ = 'a';
        *p++ = i + 1 < n ? ',' : ']';
    }
    memcpy(p, tail, tl);
    p += tl;
    *len = (size_t)(p - yaml);
    return yaml;
}

Test(policy_yaml, rule_count_limit)
{
    size_t len;
    char *yaml = list_of("version: 1\nrules: ", MTLSAUTHZ__POLICY_MAX_RULES + 1, "\n", &len);
    expect_err_n(yaml, len, MTLSAUTHZ_ELIMIT, "too many entries in 'rules'", "1000000", NULL);
    free(yaml);
    /* At the limit, the count passes and the schema reports the real problem. */
    yaml = list_of("version: 1\nrules: ", MTLSAUTHZ__POLICY_MAX_RULES, "\n", &len);
    expect_err_n(yaml, len, MTLSAUTHZ_EPOLICY, "must be a mapping", NULL);
    free(yaml);
}

Test(policy_yaml, principal_count_limit)
{
    size_t len;
    char *yaml =
        list_of("version: 1\nprincipals: ", MTLSAUTHZ__POLICY_MAX_PRINCIPALS + 1, "\n", &len);
    expect_err_n(yaml, len, MTLSAUTHZ_ELIMIT, "too many entries in 'principals'", NULL);
    free(yaml);
}

Test(policy_yaml, list_length_limit)
{
    size_t len;
    char *yaml = list_of(HEAD "  - id: r\n    effect: allow\n    principals: [\"*\"]\n"
                              "    operations: ",
                         MTLSAUTHZ__POLICY_MAX_LIST + 1, "\n", &len);
    expect_err_at_n(__LINE__, yaml, len, MTLSAUTHZ_ELIMIT, 6, 200018,
                    "too many entries in 'operations'", "100000", NULL);
    free(yaml);
    yaml = list_of(HEAD "  - id: r\n    effect: allow\n    principals: [\"*\"]\n"
                        "    operations: ",
                   MTLSAUTHZ__POLICY_MAX_LIST, "\n", &len);
    {
        mtlsauthz__ast *ast = NULL;
        mtlsauthz_error err;
        cr_assert_eq(load_n(yaml, len, &ast, &err), 0, "%s", err.message);
        cr_assert_eq(ast->rules[0].operations.n, MTLSAUTHZ__POLICY_MAX_LIST);
        mtlsauthz__ast_free(ast);
    }
    free(yaml);
}

Test(policy_yaml, name_length_limit)
{
    char yaml[1024];
    char name[MTLSAUTHZ__NAME_MAX_LEN + 2];
    mtlsauthz__ast *ast;
    memset(name, 'n', sizeof(name) - 1);
    name[MTLSAUTHZ__NAME_MAX_LEN] = '\0';
    snprintf(yaml, sizeof(yaml),
             HEAD "  - id: %s\n    effect: allow\n    principals: [\"*\"]\n    operations: [x]\n",
             name);
    ast = load_ok(yaml);
    cr_assert_eq(strlen(ast->rules[0].id), MTLSAUTHZ__NAME_MAX_LEN);
    mtlsauthz__ast_free(ast);

    name[MTLSAUTHZ__NAME_MAX_LEN] = 'n';
    name[MTLSAUTHZ__NAME_MAX_LEN + 1] = '\0';
    snprintf(yaml, sizeof(yaml),
             HEAD "  - id: %s\n    effect: allow\n    principals: [\"*\"]\n    operations: [x]\n",
             name);
    expect_err_at(yaml, MTLSAUTHZ_ELIMIT, 3, 9, "'id' is longer than 256 bytes");
    snprintf(yaml, sizeof(yaml),
             "version: 1\nprincipals:\n  - name: %s\n    cn: [x]\nrules:\n" RULE_OK, name);
    expect_err(yaml, MTLSAUTHZ_ELIMIT, "'name' is longer than 256 bytes");
}

Test(policy_yaml, long_values_are_cut_in_messages)
{
    /* A huge unknown key must not push the location out of the 512-byte message. */
    char yaml[4096];
    char key[1001]; /* libyaml caps implicit keys at 1024 characters */
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    snprintf(yaml, sizeof(yaml), HEAD "  - id: r\n    %s: 1\n", key);
    expect_err_at(yaml, MTLSAUTHZ_EPOLICY, 4, 5, "unknown key 'kkkk", "...' in rule 'r'");
}

Test(policy_yaml, control_bytes_in_messages_are_neutralized)
{
    mtlsauthz__ast *ast = NULL;
    mtlsauthz_error err;
    static const char y[] = HEAD "  - id: r\n    \"evil\\nkey\\e[31m\": 1\n";
    cr_assert_eq(load_n(y, strlen(y), &ast, &err), MTLSAUTHZ_EPOLICY);
    cr_assert(strchr(err.message, '\n') == NULL, "%s", err.message);
    cr_assert(strchr(err.message, '\x1b') == NULL, "%s", err.message);
    cr_assert(strstr(err.message, "evil?key") != NULL, "%s", err.message);
}

/* ---- allocation failure and threads ---- */

/*
 * Fails the Nth allocation for every N until a load succeeds: each failure must be ENOMEM with
 * *out NULL, and valgrind checks that nothing leaks. libyaml's own allocations are outside
 * this net (they bypass the library allocator). `try_load` loads, checks, and frees.
 */
static long fail_each_allocation(const char *fixture, int (*try_load)(const char *, size_t))
{
    size_t len;
    char *yaml = th_data(fixture, &len);
    long n;
    int rc = -1;
    for (n = 0; n < 100000; n++) {
        mtlsauthz__alloc_fail_after(n);
        rc = try_load(yaml, len);
        mtlsauthz__alloc_fail_after(-1);
        if (rc == 0) {
            break;
        }
        cr_assert_eq(rc, MTLSAUTHZ_ENOMEM, "allocation %ld: %s", n, mtlsauthz_errname(rc));
    }
    cr_assert_eq(rc, 0);
    free(yaml);
    return n;
}

static int try_policy(const char *yaml, size_t len)
{
    mtlsauthz__ast *ast = NULL;
    mtlsauthz_error err;
    int rc = load_n(yaml, len, &ast, &err);
    if (rc == 0) {
        cr_assert_eq(ast->nrules, 4);
        mtlsauthz__ast_free(ast);
    } else {
        cr_assert_null(ast);
        cr_assert(strstr(err.message, "out of memory") != NULL, "%s", err.message);
    }
    return rc;
}

Test(policy_yaml, every_allocation_failure_is_clean)
{
    long n = fail_each_allocation("policies/example.yaml", try_policy);
    cr_assert_gt(n, 10, "the load should need many allocations, saw %ld", n);
}

typedef struct thread_case {
    const char *yaml;
    const char *needle;
    int ok;
} thread_case;

static void *load_many(void *arg)
{
    thread_case *tc = arg;
    int i;
    tc->ok = 1;
    for (i = 0; i < 300; i++) {
        mtlsauthz__ast *ast = NULL;
        mtlsauthz_error err;
        int rc = load_n(tc->yaml, strlen(tc->yaml), &ast, &err);
        if (rc != MTLSAUTHZ_EPOLICY || strstr(err.message, tc->needle) == NULL) {
            tc->ok = 0;
        }
        mtlsauthz__ast_free(ast);
    }
    return NULL;
}

Test(policy_yaml, error_capture_is_per_load_across_threads)
{
    /* libcyaml's log lines go to a buffer per load; two threads failing differently at once
     * must each get their own message. */
    thread_case a = {HEAD "  - id: r\n    effect: allow\n    alpha: 1\n", "'alpha'", 0};
    thread_case b = {HEAD "  - id: r\n    effect: allow\n    beta: 1\n", "'beta'", 0};
    pthread_t ta, tb;
    cr_assert_eq(pthread_create(&ta, NULL, load_many, &a), 0);
    cr_assert_eq(pthread_create(&tb, NULL, load_many, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    cr_assert(a.ok);
    cr_assert(b.ok);
}

/* ---- policy test cases ---- */

static int tc_load(const char *yaml, size_t len, mtlsauthz__test_cases **out, mtlsauthz_error *err)
{
    mtlsauthz_error_clear(err);
    return mtlsauthz__test_cases_load(out, yaml, len, err);
}

static void tc_expect_err_at_n(int caller, const char *yaml, size_t len, int code, unsigned line,
                               unsigned column, ...)
{
    mtlsauthz__test_cases *tc = (mtlsauthz__test_cases *)(uintptr_t)1;
    mtlsauthz_error err;
    va_list ap;
    int rc = tc_load(yaml, len, &tc, &err);
    va_start(ap, column);
    assert_failure(caller, rc, code, tc, &err, line, column, ap);
    va_end(ap);
}

#define tc_expect_err_n(yaml, len, code, ...)                                                      \
    tc_expect_err_at_n(__LINE__, (yaml), (len), (code), ANY_POS, ANY_POS, __VA_ARGS__)
#define tc_expect_err(yaml, code, ...)                                                             \
    tc_expect_err_at_n(__LINE__, (yaml), strlen(yaml), (code), ANY_POS, ANY_POS, __VA_ARGS__, NULL)
#define tc_expect_err_at(yaml, code, line, column, ...)                                            \
    tc_expect_err_at_n(__LINE__, (yaml), strlen(yaml), (code), (line), (column), __VA_ARGS__, NULL)

#define CASE_OK "- cert: a.pem\n  op: x\n  expect: deny\n"

Test(policy_tests, example_loads)
{
    size_t len;
    char *yaml = th_data("policies/example-tests.yaml", &len);
    mtlsauthz__test_cases *tc = NULL;
    mtlsauthz_error err;
    const mtlsauthz__test_case *c;
    cr_assert_eq(tc_load(yaml, len, &tc, &err), 0, "%s", err.message);
    cr_assert_eq(tc->ncases, 2);
    c = &tc->cases[0];
    cr_assert_str_eq(c->name, "builder may push");
    cr_assert_str_eq(c->cert, "builder.pem");
    cr_assert_str_eq(c->chain, "ca.pem");
    cr_assert_str_eq(c->op, "images:push");
    cr_assert_eq(c->expect, MTLSAUTHZ__EXPECT_ALLOW);
    cr_assert_str_eq(c->rule, "build");
    c = &tc->cases[1];
    cr_assert_null(c->name);
    cr_assert_str_eq(c->cert, "ops.pem");
    cr_assert_null(c->chain);
    cr_assert_str_eq(c->op, "host:mount");
    cr_assert_eq(c->expect, MTLSAUTHZ__EXPECT_DENY);
    cr_assert_null(c->rule);
    mtlsauthz__test_cases_free(tc);
    free(yaml);
}

Test(policy_tests, expect_is_a_strict_enum)
{
    tc_expect_err_at("- cert: a.pem\n  op: x\n  expect: 1\n", MTLSAUTHZ_EPOLICY, 3, 11, "'1'",
                     "'expect'", "allow, deny or error");
    tc_expect_err("- cert: a.pem\n  op: x\n  expect: true\n", MTLSAUTHZ_EPOLICY, "'true'");
    tc_expect_err("- cert: a.pem\n  op: x\n  expect: allowed\n", MTLSAUTHZ_EPOLICY, "'allowed'");
}

Test(policy_tests, empty_and_non_list_inputs_are_refused)
{
    tc_expect_err_n("", 0, MTLSAUTHZ_EPOLICY, "empty test file", NULL);
    tc_expect_err("# nothing\n", MTLSAUTHZ_EPOLICY, "empty test file");
    tc_expect_err("[]\n", MTLSAUTHZ_EPOLICY, "no test cases");
    tc_expect_err("cert: a.pem\n", MTLSAUTHZ_EPOLICY, "list of test cases", "not a mapping");
    tc_expect_err_at("- [unclosed\n", MTLSAUTHZ_EPOLICY, 2, 1,
                     "the list opened with '[' at line 1, column 3 is not closed");
    tc_expect_err_at("- a.pem\n", MTLSAUTHZ_EPOLICY, 1, 3, "a test case must be a mapping");
}

Test(policy_tests, same_strictness_as_policies)
{
    tc_expect_err_at(CASE_OK "---\n" CASE_OK, MTLSAUTHZ_EPOLICY, 4, 1, "second YAML document");
    tc_expect_err_at("- &c {cert: a.pem, op: x, expect: deny}\n- *c\n", MTLSAUTHZ_EPOLICY, 1, 3,
                     "anchor '&c'");
    tc_expect_err_at("- cert: a.pem\n  op: \"GET /\\0admin\"\n  expect: deny\n", MTLSAUTHZ_EPOLICY,
                     2, 7, "NUL byte", "key 'op'", "'GET /'");
    {
        static const char raw[] = "- cert: a.pem\n  op: \"x\0y\"\n  expect: deny\n";
        tc_expect_err_at_n(__LINE__, raw, sizeof(raw) - 1, MTLSAUTHZ_EPOLICY, 2, 9, "NUL byte",
                           NULL);
    }
    tc_expect_err_at(CASE_OK "  extra: 1\n", MTLSAUTHZ_EPOLICY, 4, 3,
                     "unknown key 'extra' in a test case (known keys: name, cert, chain, identity, "
                     "op, ...)");
    tc_expect_err_at("- cert: a.pem\n  expect: deny\n", MTLSAUTHZ_EPOLICY, 1, 3,
                     "case 1: missing key 'op' or 'request'");
    tc_expect_err_at("- op: x\n  expect: deny\n", MTLSAUTHZ_EPOLICY, 1, 3, "missing key 'cert'");
    tc_expect_err_at("- name: n\n  cert: a.pem\n  op: x\n", MTLSAUTHZ_EPOLICY, 1, 3,
                     "missing key 'expect' in test case 'n'");
    tc_expect_err_at("- cert: [a.pem]\n  op: x\n  expect: deny\n", MTLSAUTHZ_EPOLICY, 1, 9,
                     "'cert' must be a string");
    tc_expect_err_n(CASE_OK, (size_t)MTLSAUTHZ__POLICY_MAX_BYTES + 1, MTLSAUTHZ_ELIMIT,
                    "size limit", NULL);
}

Test(policy_tests, bad_arguments)
{
    mtlsauthz__test_cases *tc = NULL;
    cr_assert_eq(mtlsauthz__test_cases_load(NULL, CASE_OK, strlen(CASE_OK), NULL),
                 MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz__test_cases_load(&tc, NULL, 3, NULL), MTLSAUTHZ_EINVAL);
    cr_assert_null(tc);
}

static int try_tests(const char *yaml, size_t len)
{
    mtlsauthz__test_cases *tc = NULL;
    mtlsauthz_error err;
    int rc = tc_load(yaml, len, &tc, &err);
    if (rc == 0) {
        cr_assert_eq(tc->ncases, 2);
        mtlsauthz__test_cases_free(tc);
    } else {
        cr_assert_null(tc);
    }
    return rc;
}

Test(policy_tests, every_allocation_failure_is_clean)
{
    cr_assert_gt(fail_each_allocation("policies/example-tests.yaml", try_tests), 3);
}

/* ---- the fast pre-pass (policy_yaml.c): the libyaml pre-pass's result, or it gives up ---- */

static const char *const prepass_files[] = {
    "policies/all-keys.yaml",
    "policies/example.yaml",
    "policies/example-tests.yaml",
    "../fuzz/corpus/policy/alias.yaml",
    "../fuzz/corpus/policy/all-keys.yaml",
    "../fuzz/corpus/policy/captures.yaml",
    "../fuzz/corpus/policy/crash-newline-name.yaml",
    "../fuzz/corpus/policy/deep.yaml",
    "../fuzz/corpus/policy/errors.yaml",
    "../fuzz/corpus/policy/every-key.yaml",
    "../fuzz/corpus/policy/example-tests.yaml",
    "../fuzz/corpus/policy/example.yaml",
    "../fuzz/corpus/policy/http-protocol.yaml",
    "../fuzz/corpus/policy/never-match.yaml",
    "../fuzz/corpus/policy/newline-reference.yaml",
    "../fuzz/corpus/policy/quoted-names.yaml",
    "../fuzz/corpus/policy/shadow.yaml",
    "../fuzz/corpus/policy/sloppy.yaml",
    "../fuzz/corpus/policy/tests.yaml",
    "../fuzz/corpus/policy/version2.yaml",
    "../fuzz/corpus/policy/wildcard-classes.yaml",
    "../../examples/policy.yaml",
    "../../examples/policy-tests.yaml",
};

static int prepass_check(const char *yaml, size_t len)
{
    int as_policy = mtlsauthz__prepass_fast_check(yaml, len, 0);
    int as_tests = mtlsauthz__prepass_fast_check(yaml, len, 1);
    cr_assert_neq(as_policy, -1, "the fast pre-pass disagrees with libyaml's on a policy:\n%.*s",
                  (int)len, yaml);
    cr_assert_neq(as_tests, -1, "the fast pre-pass disagrees with libyaml's on a test file:\n%.*s",
                  (int)len, yaml);
    return as_policy > as_tests ? as_policy : as_tests;
}

/* Every policy and test file of the tree, and thousands of one-byte edits of each (a byte
 * deleted, or a space, an indicator or a letter put in), read by the fast scanner either as
 * libyaml reads them or not at all. */
Test(prepass_fast, agrees_with_libyaml_on_the_tree_and_its_edits)
{
    static const char inserts[] = " :-#[]\"',a\n{}&*!|>?";
    unsigned fast_read = 0;
    for (size_t i = 0; i < MTLSAUTHZ__ARRAY_LEN(prepass_files); i++) {
        size_t len;
        char *yaml = th_data(prepass_files[i], &len);
        char *edit = malloc(len + 2);
        cr_assert_not_null(edit);
        fast_read += (unsigned)prepass_check(yaml, len);
        for (size_t at = 0; at < len; at++) {
            memcpy(edit, yaml, at);
            memcpy(edit + at, yaml + at + 1, len - at - 1);
            prepass_check(edit, len - 1);
            for (size_t k = 0; k < sizeof(inserts) - 1; k += (at % 3) + 1) {
                memcpy(edit, yaml, at);
                edit[at] = inserts[k];
                memcpy(edit + at + 1, yaml + at, len - at);
                prepass_check(edit, len + 1);
            }
        }
        free(edit);
        free(yaml);
    }
    /* The subset is the common case: most of the tree's files are read fast. */
    cr_assert_geq(fast_read, 10, "the fast pre-pass read only %u of the files", fast_read);
}

/* The shapes the fast scanner reads, and must: a test fails if it gives them up. */
Test(prepass_fast, reads_the_common_shapes)
{
    static const char *const yes[] = {
        "version: 1\nprincipals:\n  - name: p0\n    spiffe: [\"spiffe://td/ns/a\"]\nrules:\n"
        "  - id: r0\n    effect: allow\n    principals: [p0]\n    operations: [\"GET /a\", "
        "\"PUT /b\"]\n",
        "# a comment\nversion: 1   # trailing\n\nrules:\n - id: r\n   effect: deny\n"
        "   principals:\n     - '*'\n   operations:\n    # between\n    - GET /x/*\n"
        "    - \"POST /y\"  \n",
        "version: 1\nprotocol: http\nsensitive: [\"GET /admin/**\"]\nprincipals:\n"
        "    -   name: web\n        dns: [web.example.com, '*.example.com']\n"
        "        spiffe:\n          - spiffe://example.org/ns/prod/sa/web\nrules:\n"
        "    - id: a b\n      effect: allow\n      mode: dry-run\n      principals: [web]\n"
        "      operations: [GET /a/x]",
        "- name: c\n  op: GET /a\n  expect: allow\n  identity:\n    spiffe: spiffe://a/b\n",
    };
    for (size_t i = 0; i < MTLSAUTHZ__ARRAY_LEN(yes); i++) {
        cr_assert_eq(prepass_check(yes[i], strlen(yes[i])), 1, "gave up on:\n%s", yes[i]);
    }
}

/* What is outside the subset goes to libyaml, which reads it differently than a line
 * scanner would: continued plain scalars, flow lists over several lines, escapes, ':' then
 * '?' in a flow list, tabs, CR, UTF-8, indentless lists, directives and markers, anchors. */
Test(prepass_fast, gives_up_outside_the_subset)
{
    static const char *const no[] = {
        "version: 1\nrules:\n  - id: r0\n    effect: allow\n      more\n",
        "version: 1\nrules:\n  - id: r0\n    operations: [\"GET /a\",\n      \"GET /b\"]\n",
        "version: 1\nrules:\n  - id: \"r\\u0030\"\n",
        "version: 1\nrules:\n  - id: 'it''s'\n",
        "version: 1\nrules:\n  - operations: [a:?b]\n",
        "version: 1\nrules:\n\t- id: r0\n",
        "version: 1\r\nrules: []\r\n",
        "version: 1\nrules:\n  - id: r\xc3\xa9\n",
        "version: 1\nrules:\n- id: r0\n",
        "---\nversion: 1\n",
        "%YAML 1.1\n---\nversion: 1\n",
        "version: 1\nrules: &a\n  - id: r0\n",
        "version: 1\nrules:\n",
        "version: 2\n",
        "version: 1\nrules: []\n",
        "version: 1\nrules:\n  - id:r0\n",
        "version: 1\nrules:\n  - id: r0 #x\n    effect: allow\n  # ok\n   bad: 1\n",
    };
    for (size_t i = 0; i < MTLSAUTHZ__ARRAY_LEN(no); i++) {
        cr_assert_eq(prepass_check(no[i], strlen(no[i])), 0, "read:\n%s", no[i]);
    }
}
