/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy compiler (lib/compile.c, lib/policy.c): every semantic load error, with a
 * message naming the rule, principal, key or pattern; the accepted forms of each exact-value
 * key; and the compiled structure lint reads (lib/policy_int.h).
 */
#include <fcntl.h>
#include <unistd.h>

#include "policy_helpers.h"

static void selector_error(const char *selector, const char *key, const char *needle)
{
    const char *msg = ph_load_error(ph_selector_yaml(selector), MTLSAUTHZ_EPOLICY);
    char where[64];
    snprintf(where, sizeof(where), "key '%s'", key);
    ph_assert_contains(msg, "principal 'p'");
    ph_assert_contains(msg, where);
    if (needle != NULL) {
        ph_assert_contains(msg, needle);
    }
}

/*
 * Loads a policy that must fail with `code` at `line`:`column` (1-based): in err.line and
 * err.column, and as the message's "LINE:COLUMN: " prefix, never in its text. Returns the
 * text after the prefix (a static buffer, one at a time).
 */
static const char *error_at(const char *yaml, int code, unsigned line, unsigned column)
{
    static mtlsauthz_error err;
    mtlsauthz_policy *p = NULL;
    char prefix[32];
    int rc;
    mtlsauthz_error_clear(&err);
    rc = mtlsauthz_policy_load(&p, yaml, strlen(yaml), &err);
    cr_assert_eq(rc, code, "expected %s, got %s (%s) for\n%s", mtlsauthz_errname(code),
                 mtlsauthz_errname(rc), err.message, yaml);
    cr_assert_null(p);
    cr_assert(err.line == line && err.column == column, "expected %u:%u, got %u:%u: %s", line,
              column, err.line, err.column, err.message);
    snprintf(prefix, sizeof(prefix), "%u:%u: ", line, column);
    cr_assert(strncmp(err.message, prefix, strlen(prefix)) == 0, "no \"%s\" prefix: %s", prefix,
              err.message);
    cr_assert_null(strstr(err.message, "(line:"), "%s", err.message);
    return err.message + strlen(prefix);
}

static void selector_ok(const char *selector)
{
    mtlsauthz_policy_free(ph_load(ph_selector_yaml(selector)));
}

/* ---- the declared protocol ---- */

Test(compile, protocol_is_public)
{
    mtlsauthz_policy *p = ph_load("version: 1\nrules:\n  - {id: r, effect: allow, principals: "
                                  "[\"*\"], operations: [\"images:build\"]}\n");
    cr_assert_eq(mtlsauthz_policy_protocol(p), MTLSAUTHZ_PROTOCOL_ANY);
    mtlsauthz_policy_free(p);
    p = ph_load("version: 1\nprotocol: any\nrules:\n  - {id: r, effect: allow, principals: "
                "[\"*\"], operations: [\"GET /x\"]}\n");
    cr_assert_eq(mtlsauthz_policy_protocol(p), MTLSAUTHZ_PROTOCOL_ANY);
    mtlsauthz_policy_free(p);
    p = ph_load("version: 1\nprotocol: http\nrules:\n  - {id: r, effect: allow, principals: "
                "[\"*\"], operations: [\"GET /x\"]}\n");
    cr_assert_eq(mtlsauthz_policy_protocol(p), MTLSAUTHZ_PROTOCOL_HTTP);
    mtlsauthz_policy_free(p);
    cr_assert_eq(mtlsauthz_policy_protocol(NULL), MTLSAUTHZ_PROTOCOL_ANY);
}

/* ---- names, ids, references ---- */

Test(compile_errors, duplicate_principal_names)
{
    const char *msg = ph_load_error("version: 1\n"
                                    "principals:\n"
                                    "  - name: ops\n"
                                    "    cn: [a]\n"
                                    "  - name: dev\n"
                                    "    cn: [b]\n"
                                    "  - name: ops\n"
                                    "    cn: [c]\n"
                                    "rules:\n"
                                    "  - id: r\n"
                                    "    effect: allow\n"
                                    "    principals: [ops]\n"
                                    "    operations: [x]\n",
                                    MTLSAUTHZ_EPOLICY);
    ph_assert_contains(msg, "duplicate principal name 'ops'");
    ph_assert_contains(msg, "#1 and #3");
}

Test(compile_errors, duplicate_rule_ids)
{
    const char *msg = ph_load_error("version: 1\n"
                                    "rules:\n"
                                    "  - id: same\n"
                                    "    effect: allow\n"
                                    "    principals: [\"*\"]\n"
                                    "    operations: [x]\n"
                                    "  - id: same\n"
                                    "    effect: deny\n"
                                    "    principals: [\"*\"]\n"
                                    "    operations: [y]\n",
                                    MTLSAUTHZ_EPOLICY);
    ph_assert_contains(msg, "duplicate rule id 'same'");
}

Test(compile_errors, undefined_principal)
{
    const char *msg = ph_load_error("version: 1\n"
                                    "principals:\n"
                                    "  - name: ops\n"
                                    "    cn: [a]\n"
                                    "rules:\n"
                                    "  - id: r1\n"
                                    "    effect: allow\n"
                                    "    principals: [ops, opz]\n"
                                    "    operations: [x]\n",
                                    MTLSAUTHZ_EPOLICY);
    ph_assert_contains(msg, "rule 'r1'");
    ph_assert_contains(msg, "undefined principal 'opz'");
}

Test(compile_errors, empty_selector)
{
    const char *msg = ph_load_error("version: 1\n"
                                    "principals:\n"
                                    "  - name: nobody\n"
                                    "rules:\n"
                                    "  - id: r\n"
                                    "    effect: allow\n"
                                    "    principals: [nobody]\n"
                                    "    operations: [x]\n",
                                    MTLSAUTHZ_EPOLICY);
    ph_assert_contains(msg, "principal 'nobody'");
    ph_assert_contains(msg, "empty selector");
}

Test(compile_errors, star_is_not_a_principal_name)
{
    const char *msg = ph_load_error("version: 1\n"
                                    "principals:\n"
                                    "  - name: \"*\"\n"
                                    "    cn: [a]\n"
                                    "rules:\n"
                                    "  - id: r\n"
                                    "    effect: allow\n"
                                    "    principals: [\"*\"]\n"
                                    "    operations: [x]\n",
                                    MTLSAUTHZ_EPOLICY);
    ph_assert_contains(msg, "reserved");
}

/* ---- patterns ---- */

Test(compile_errors, malformed_identity_pattern_names_where)
{
    selector_error("    cn: [\"a***\"]\n", "cn", "a***");
    selector_error("    spiffe: [\"spiffe://td/\\\\q\"]\n", "spiffe", NULL);
    selector_error("    dns: [\"{x}*.example.com\"]\n", "dns", NULL);
    selector_error("    uri: [\"https://{bad name}/\"]\n", "uri", NULL);
}

/* A dn or issuer literal that ends inside a DN escape could never match: a deny rule written so
 * would silently never apply. The same text is fine where a backslash is just a byte. */
Test(compile_errors, dn_escape_cut_short)
{
    selector_error("    dn: ['CN=a\\\\*,O=x']\n", "dn", "DN escape cut short by a wildcard");
    selector_error("    issuer: ['CN=\\\\4*']\n", "issuer", "DN escape cut short");
    selector_error("    dn: ['CN=a\\\\']\n", "dn", "DN escape with nothing after it");
    selector_ok("    dn: ['CN=a\\\\\\\\*,O=x']\n");
    selector_ok("    dn: ['CN=\\\\41*']\n");
    selector_ok("    cn: ['a\\\\*']\n");
    selector_ok("    uri: ['a\\\\*']\n");
}

Test(compile_errors, malformed_operation_pattern_names_rule)
{
    const char *msg = ph_load_error("version: 1\n"
                                    "rules:\n"
                                    "  - id: bad-op\n"
                                    "    effect: allow\n"
                                    "    principals: [\"*\"]\n"
                                    "    operations: [\"ok\", \"GET /a/***\"]\n",
                                    MTLSAUTHZ_EPOLICY);
    ph_assert_contains(msg, "rule 'bad-op'");
    ph_assert_contains(msg, "GET /a/***");
}

Test(compile_errors, malformed_sensitive_pattern)
{
    const char *msg = ph_load_error("version: 1\n"
                                    "sensitive: [\"host:\\\\x\"]\n"
                                    "rules:\n"
                                    "  - id: r\n"
                                    "    effect: allow\n"
                                    "    principals: [\"*\"]\n"
                                    "    operations: [x]\n",
                                    MTLSAUTHZ_EPOLICY);
    ph_assert_contains(msg, "sensitive pattern");
}

Test(compile_errors, spiffe_scheme_and_trust_domain_case)
{
    selector_error("    spiffe: [\"https://td/x\"]\n", "spiffe", "spiffe://");
    selector_error("    spiffe: [\"SPIFFE://td/x\"]\n", "spiffe", "spiffe://");
    selector_error("    spiffe: [\"spiffe://Prod.example.com/x\"]\n", "spiffe", "lowercase");
    selector_error("    spiffe: [\"spiffe://prod.EXAMPLE.com\"]\n", "spiffe", "lowercase");
    selector_error("    spiffe: [\"spiffe:///x\"]\n", "spiffe", "trust domain");
    /* The path may hold capitals; the trust domain may hold wildcards. */
    selector_ok("    spiffe: [\"spiffe://prod.example.com/CI/Builder\"]\n");
    selector_ok("    spiffe: [\"spiffe://*.example.com/x\"]\n");
    selector_ok("    spiffe: [\"spiffe://td\"]\n");
}

/* ---- operation patterns that can never match (docs/policy.md) ---- */

/*
 * The story's policy: admins may do anything to containers, and a deny rule takes the escape
 * hatches back from everyone. `protocol` is line 2 and the deny's second operation starts at
 * line 14, column 45, whatever is substituted.
 */
static const char *escape_policy(const char *protocol_line, const char *op)
{
    static char yaml[2048];
    snprintf(yaml, sizeof(yaml),
             "version: 1\n"
             "%s\n"
             "principals:\n"
             "  - name: admins\n"
             "    ou: [admins]\n"
             "rules:\n"
             "  - id: admin-containers\n"
             "    effect: allow\n"
             "    principals: [admins]\n"
             "    operations: [\"* /containers/**\"]\n"
             "  - id: no-container-escape\n"
             "    effect: deny\n"
             "    principals: [\"*\"]\n"
             "    operations: [\"POST /containers/*/exec\", \"%s\"]\n",
             protocol_line, op);
    return yaml;
}

static const char *const protocol_lines[] = {"# no protocol key", "protocol: any",
                                             "protocol: http"};

/* Each mistake, as a YAML double-quoted body, and what the message must say. */
static const struct {
    const char *yaml_op;
    const char *needle;
} op_mistakes[] = {
    {"POST /containers/*/exec/", "trailing '/'"},
    {"post /containers/*/attach", "write POST"},
    {"Post /containers/*/attach", "methods are case-sensitive"},
    {"POST  /containers/*/attach", "exactly one space"},
    {"POST\\t/containers/*/attach", "exactly one space"},
    {"POST /containers//attach", "empty path segment"},
    {"POST /containers/./attach", "'.' or '..' path segment"},
    {"POST /containers/*/../attach", "'.' or '..' path segment"},
    {"POST /containers/*/%61ttach", "write 'a'"},
    {"POST /containers/*/attach?stream=1", "'?' in the path"},
    {"POST /containers/*/attach#x", "'#' in the path"},
    {"POST /containers/*/att\\x01ach", "control byte 0x01"},
    {"HEAD /containers/*/secrets", "HEAD is decided as GET"},
    {"** /host/x", "'**' in the method"},
};

Test(compile_errors, operations_that_never_match_are_load_errors_with_their_line)
{
    for (size_t pl = 0; pl < MTLSAUTHZ__ARRAY_LEN(protocol_lines); pl++) {
        for (size_t i = 0; i < MTLSAUTHZ__ARRAY_LEN(op_mistakes); i++) {
            const char *msg = error_at(escape_policy(protocol_lines[pl], op_mistakes[i].yaml_op),
                                       MTLSAUTHZ_EPOLICY, 14, 45);
            ph_assert_contains(msg, "rule 'no-container-escape', operation '");
            ph_assert_contains(msg, op_mistakes[i].needle);
            cr_assert_null(strchr(msg, '\n'), "%s", msg);
        }
    }
}

Test(compile_errors, the_silent_deny_typos_are_load_errors)
{
    /* Each of these, in the deny rule, used to load and let the admin exec or attach. */
    ph_assert_contains(
        ph_load_error(escape_policy("", "POST /containers/*/exec/"), MTLSAUTHZ_EPOLICY),
        "operation 'POST /containers/*/exec/': trailing '/'");
    ph_assert_contains(
        error_at(escape_policy("", "post /containers/*/attach"), MTLSAUTHZ_EPOLICY, 14, 45),
        "write POST");
    ph_assert_contains(
        ph_load_error(escape_policy("protocol: http", "/host/**"), MTLSAUTHZ_EPOLICY),
        "operation '/host/**': a path without a method");
    ph_assert_contains(ph_load_error(escape_policy("protocol: http", "[a-z]+"), MTLSAUTHZ_EPOLICY),
                       "operation '[a-z]+': not an HTTP operation pattern");
}

Test(compile_errors, protocol_http_refuses_non_http_operations)
{
    static const char *const named[] = {"/host/**", "[a-z]+", "images:build",
                                        "host:**",  "GET *",  "/pkg.Service/Method"};
    for (size_t i = 0; i < MTLSAUTHZ__ARRAY_LEN(named); i++) {
        const char *msg =
            error_at(escape_policy("protocol: http", named[i]), MTLSAUTHZ_EPOLICY, 14, 45);
        ph_assert_contains(msg, "protocol: http");
        /* Without the key they are named operations, as before. */
        mtlsauthz_policy_free(ph_load(escape_policy("", named[i])));
        mtlsauthz_policy_free(ph_load(escape_policy("protocol: any", named[i])));
    }
}

Test(compile_ok, http_patterns_with_wildcards_and_captures_load)
{
    static const char *const ok[] = {
        "GET /",       "* /host/**",   "POST /containers/*/exec",
        "GET /a/**/b", "P* /x",        "GET /a/.../b",
        "GET /50%off", "GET /a/\\\\*", "GET /a/*.json",
        "**",          "GET **",
    };
    for (size_t pl = 0; pl < MTLSAUTHZ__ARRAY_LEN(protocol_lines); pl++) {
        for (size_t i = 0; i < MTLSAUTHZ__ARRAY_LEN(ok); i++) {
            mtlsauthz_policy_free(ph_load(escape_policy(protocol_lines[pl], ok[i])));
        }
        /* A capture the principal binds. */
        char yaml[1024];
        snprintf(yaml, sizeof(yaml),
                 "version: 1\n%s\n"
                 "principals:\n"
                 "  - name: tenant\n"
                 "    spiffe: [\"spiffe://td/tenant/{tenant}/*\"]\n"
                 "rules:\n"
                 "  - id: r\n"
                 "    effect: allow\n"
                 "    principals: [tenant]\n"
                 "    operations: [\"GET /tenants/{tenant}/**\", \"PUT /t/{tenant}/*\"]\n",
                 protocol_lines[pl]);
        mtlsauthz_policy_free(ph_load(yaml));
    }
}

Test(compile_errors, sensitive_patterns_are_checked_like_operations)
{
    static const char *const protocols[] = {"", "protocol: http\n"};
    for (size_t pl = 0; pl < MTLSAUTHZ__ARRAY_LEN(protocols); pl++) {
        for (size_t i = 0; i < MTLSAUTHZ__ARRAY_LEN(op_mistakes); i++) {
            char yaml[1024];
            const char *msg;
            snprintf(yaml, sizeof(yaml),
                     "version: 1\n"
                     "%s"
                     "sensitive: [\"* /host/**\", \"%s\"]\n"
                     "rules:\n"
                     "  - {id: r, effect: allow, principals: [\"*\"], operations: [\"GET /x\"]}\n",
                     protocols[pl], op_mistakes[i].yaml_op);
            msg = error_at(yaml, MTLSAUTHZ_EPOLICY, pl == 0 ? 2 : 3, 27);
            ph_assert_contains(msg, "sensitive pattern '");
            ph_assert_contains(msg, op_mistakes[i].needle);
        }
    }
    ph_assert_contains(ph_load_error("version: 1\nprotocol: http\nsensitive: [\"host:**\"]\n"
                                     "rules:\n  - {id: r, effect: allow, principals: [\"*\"], "
                                     "operations: [\"GET /x\"]}\n",
                                     MTLSAUTHZ_EPOLICY),
                       "sensitive pattern 'host:**': not an HTTP operation pattern");
    mtlsauthz_policy_free(ph_load("version: 1\nsensitive: [\"host:**\", \"/host/**\"]\n"
                                  "rules:\n  - {id: r, effect: allow, principals: [\"*\"], "
                                  "operations: [\"GET /x\"]}\n"));
}

/* ---- where an error is: every semantic error carries its line and column ---- */

Test(compile_errors, semantic_errors_carry_positions)
{
    /* An undefined principal, at its entry in the rule's list. */
    ph_assert_contains(error_at("version: 1\n"
                                "rules:\n"
                                "  - id: r\n"
                                "    effect: allow\n"
                                "    principals: [\"*\", ghost]\n"
                                "    operations: [x]\n",
                                MTLSAUTHZ_EPOLICY, 5, 23),
                       "undefined principal 'ghost'");
    /* A duplicate rule id, at the second one. */
    ph_assert_contains(error_at("version: 1\n"
                                "rules:\n"
                                "  - {id: same, effect: allow, principals: [\"*\"], "
                                "operations: [x]}\n"
                                "  - {id: same, effect: deny, principals: [\"*\"], "
                                "operations: [y]}\n",
                                MTLSAUTHZ_EPOLICY, 4, 10),
                       "duplicate rule id 'same' (rules #1 and #2)");
    /* A duplicate principal name, a reserved one, an empty selector: at the name. */
    ph_assert_contains(error_at("version: 1\n"
                                "principals:\n"
                                "  - name: ops\n"
                                "    cn: [a]\n"
                                "  - name: ops\n"
                                "    cn: [b]\n"
                                "rules:\n"
                                "  - {id: r, effect: allow, principals: [ops], "
                                "operations: [x]}\n",
                                MTLSAUTHZ_EPOLICY, 5, 11),
                       "duplicate principal name 'ops' (principals #1 and #2)");
    ph_assert_contains(error_at("version: 1\nprincipals:\n  - name: \"*\"\n    cn: [a]\n"
                                "rules:\n  - {id: r, effect: allow, principals: [\"*\"], "
                                "operations: [x]}\n",
                                MTLSAUTHZ_EPOLICY, 3, 11),
                       "principal #1: the name '*' is reserved");
    /* A selector entry, in a list of several keys. */
    ph_assert_contains(error_at("version: 1\n"
                                "principals:\n"
                                "  - name: a\n"
                                "    cn: [x]\n"
                                "  - name: b\n"
                                "    ip: [10.0.0.0/8,\n"
                                "         10.0.0.1/8]\n"
                                "rules:\n"
                                "  - {id: r, effect: allow, principals: [a, b], "
                                "operations: [x]}\n",
                                MTLSAUTHZ_EPOLICY, 7, 10),
                       "host bits set after the prefix length");
    ph_assert_contains(error_at("version: 1\n"
                                "principals:\n"
                                "  - name: a\n"
                                "    spiffe:\n"
                                "      - \"spiffe://td/x\"\n"
                                "      - \"spiffe://td/***\"\n"
                                "rules:\n"
                                "  - {id: r, effect: allow, principals: [a], "
                                "operations: [x]}\n",
                                MTLSAUTHZ_EPOLICY, 6, 9),
                       "principal 'a', key 'spiffe', entry 'spiffe://td/***': ");
    /* An operation that does not compile, and an unbound capture. */
    ph_assert_contains(error_at("version: 1\n"
                                "rules:\n"
                                "  - id: r\n"
                                "    effect: allow\n"
                                "    principals: [\"*\"]\n"
                                "    operations:\n"
                                "      - ok\n"
                                "      - \"GET /a/***\"\n",
                                MTLSAUTHZ_EPOLICY, 8, 9),
                       "rule 'r', operation 'GET /a/***': '***' is ambiguous (use * or **) at "
                       "byte 7");
    /* The pattern is named once, by the rule and operation, not again by pattern.c. */
    cr_assert_null(strstr(error_at("version: 1\nrules:\n  - {id: r, effect: allow, principals: "
                                   "[\"*\"], operations: [\"GET /{x\"]}\n",
                                   MTLSAUTHZ_EPOLICY, 3, 60),
                          "pattern \""));
    ph_assert_contains(error_at("version: 1\n"
                                "rules:\n"
                                "  - id: r\n"
                                "    effect: allow\n"
                                "    principals: [\"*\"]\n"
                                "    operations: [x, \"GET /{x}\"]\n",
                                MTLSAUTHZ_EPOLICY, 6, 21),
                       "rule 'r', operation 'GET /{x}': capture {x} is not bound by any of the "
                       "rule's principals; to match any one segment without binding it, write *");
}

Test(compile_errors, positions_count_rules_and_principals_before)
{
    /* Many rules before the bad one: the offset sums every earlier rule's list. */
    size_t cap = 1 << 16, off = 0;
    char *yaml = malloc(cap);
    cr_assert_not_null(yaml);
    off += (size_t)snprintf(yaml + off, cap - off, "version: 1\nrules:\n");
    for (int i = 0; i < 100; i++) {
        off += (size_t)snprintf(yaml + off, cap - off,
                                "  - {id: r%d, effect: allow, principals: [\"*\"], "
                                "operations: [\"GET /a/%d\", \"GET /b/%d\"]}\n",
                                i, i, i);
    }
    off += (size_t)snprintf(yaml + off, cap - off,
                            "  - id: bad\n    effect: deny\n    principals: [\"*\"]\n"
                            "    operations: [\"GET /a/1\",\n"
                            "                 \"GET /a/2\", \"GET /b/\"]\n");
    ph_assert_contains(error_at(yaml, MTLSAUTHZ_EPOLICY, 107, 30),
                       "rule 'bad', operation 'GET /b/': trailing '/'");
    free(yaml);
}

Test(compile_errors, long_messages_keep_their_position)
{
    /* The longest id, and an operation whose quote grows fourfold (\x01 escapes): the message
     * is cut, but never its position. */
    char id[300], op[512], yaml[2048];
    const char *msg;
    size_t n;
    memset(id, 'i', 256);
    id[256] = '\0';
    n = (size_t)snprintf(op, sizeof(op), "GET /");
    for (int i = 0; i < 80; i++) {
        n += (size_t)snprintf(op + n, sizeof(op) - n, "\\x01");
    }
    snprintf(yaml, sizeof(yaml),
             "version: 1\n"
             "rules:\n"
             "  - id: %s\n"
             "    effect: deny\n"
             "    principals: [\"*\"]\n"
             "    operations: [\"%s\"]\n",
             id, op);
    /* The prefix survives the cut (error_at checks it), and so does the start of the text. */
    msg = error_at(yaml, MTLSAUTHZ_EPOLICY, 6, 18);
    cr_assert(strlen(msg) < MTLSAUTHZ_ERROR_MESSAGE_SIZE);
    cr_assert(strncmp(msg, "rule 'iiii", 10) == 0, "%s", msg);
}

/* ---- names and ids are printable text ---- */

static const char *const control_names[] = {
    "a\\nb",       "a\\tb",     "a\\rb",   "line\\n",   "a\\x7fb",
    "a\\x1b[31mb", "a\\u0085b", "a\\x80b", "a\\u009fb",
};

Test(compile_errors, control_characters_in_principal_names)
{
    for (size_t i = 0; i < MTLSAUTHZ__ARRAY_LEN(control_names); i++) {
        char yaml[512];
        const char *msg;
        snprintf(yaml, sizeof(yaml),
                 "version: 1\n"
                 "principals:\n"
                 "  - name: ok\n"
                 "    cn: [a]\n"
                 "  - name: \"%s\"\n"
                 "    cn: [b]\n"
                 "rules:\n"
                 "  - {id: r, effect: allow, principals: [ok], operations: [x]}\n",
                 control_names[i]);
        msg = error_at(yaml, MTLSAUTHZ_EPOLICY, 5, 11);
        ph_assert_contains(msg, "principal #2");
        ph_assert_contains(msg, "control character");
        for (const char *p = msg; *p != '\0'; p++) {
            cr_assert((unsigned char)*p >= 0x20 && *p != 0x7f, "control byte in: %s", msg);
        }
    }
}

Test(compile_errors, control_characters_in_rule_ids)
{
    for (size_t i = 0; i < MTLSAUTHZ__ARRAY_LEN(control_names); i++) {
        char yaml[512];
        const char *msg;
        snprintf(yaml, sizeof(yaml),
                 "version: 1\n"
                 "rules:\n"
                 "  - {id: ok, effect: allow, principals: [\"*\"], operations: [x]}\n"
                 "  - id: \"%s\"\n"
                 "    effect: allow\n"
                 "    principals: [\"*\"]\n"
                 "    operations: [y]\n",
                 control_names[i]);
        msg = error_at(yaml, MTLSAUTHZ_EPOLICY, 4, 9);
        ph_assert_contains(msg, "rule #2");
        ph_assert_contains(msg, "control character");
        cr_assert_null(strchr(msg, '\n'), "%s", msg);
    }
}

Test(compile_errors, undefined_principal_reference_is_printed_on_one_line)
{
    const char *msg = ph_load_error("version: 1\n"
                                    "rules:\n"
                                    "  - id: r\n"
                                    "    effect: allow\n"
                                    "    principals: [\"gh\\nost\"]\n"
                                    "    operations: [x]\n",
                                    MTLSAUTHZ_EPOLICY);
    ph_assert_contains(msg, "undefined principal 'gh\\x0aost'");
}

Test(compile_ok, printable_names_and_ids_load)
{
    /* Non-ASCII letters, spaces, a no-break space (U+00A0, just past C1) and punctuation. */
    mtlsauthz_policy *p = ph_load("version: 1\n"
                                  "principals:\n"
                                  "  - name: \"caf\\u00e9 ops\\u00a0team\"\n"
                                  "    cn: [a]\n"
                                  "rules:\n"
                                  "  - id: \"r\\u00e9gle \\\"1\\\" / \\u2603\"\n"
                                  "    effect: allow\n"
                                  "    principals: [\"caf\\u00e9 ops\\u00a0team\"]\n"
                                  "    operations: [x]\n");
    cr_assert_str_eq(p->principals[0].name, "caf\xc3\xa9 ops\xc2\xa0team");
    cr_assert_str_eq(p->rules[0].id, "r\xc3\xa9gle \"1\" / \xe2\x98\x83");
    mtlsauthz_policy_free(p);
}

/* ---- exact-value keys ---- */

Test(compile_errors, ip_malformed)
{
    selector_error("    ip: [\"10.0.0.1/8\"]\n", "ip", "host bits");
    selector_error("    ip: [\"10.0.0.0/33\"]\n", "ip", "prefix");
    selector_error("    ip: [\"10.0.0.0/08\"]\n", "ip", "prefix");
    selector_error("    ip: [\"10.0.0.0/\"]\n", "ip", "prefix");
    selector_error("    ip: [\"10.0.0.0/-1\"]\n", "ip", "prefix");
    selector_error("    ip: [\"10.0.0\"]\n", "ip", "IPv4");
    selector_error("    ip: [\"010.0.0.1\"]\n", "ip", "IPv4");
    selector_error("    ip: [\"10.0.0.*\"]\n", "ip", NULL);
    selector_error("    ip: [\"::1/129\"]\n", "ip", "128");
    selector_error("    ip: [\"2001:db8::1/32\"]\n", "ip", "host bits");
    selector_error("    ip: [\"2001:db8:::1\"]\n", "ip", "IPv6");
    selector_error("    ip: [\"fe80::1%eth0\"]\n", "ip", "IPv6");
    selector_error("    ip: [\"/8\"]\n", "ip", NULL);
}

Test(compile_ok, ip_forms)
{
    selector_ok("    ip: [10.0.0.1, 10.0.0.0/8, 0.0.0.0/0, 10.0.0.1/32]\n");
    selector_ok("    ip: [\"::1\", \"2001:db8::/32\", \"::/0\", \"::ffff:192.0.2.0/120\"]\n");
}

Test(compile_errors, serial_malformed)
{
    selector_error("    serial: [C0FFEE]\n", "serial", "lowercase");
    selector_error("    serial: [\"00ab\"]\n", "serial", "leading zeros");
    selector_error("    serial: [\"ab:cd\"]\n", "serial", "hex");
    selector_error("    serial: [\"ab*\"]\n", "serial", "hex");
    selector_error("    serial: [\"-0\"]\n", "serial", NULL);
    selector_error("    serial: [\"-\"]\n", "serial", NULL);
    selector_error("    serial: [\"0x1f\"]\n", "serial", NULL);
}

Test(compile_ok, serial_forms)
{
    selector_ok("    serial: [\"0\", \"1\", \"c0ffee\", \"-4bab9\"]\n");
}

Test(compile_errors, sha256_malformed)
{
    const char *ok = "e6575917a4d506c272f9c7275b845b787f4ee8dcd4d490b79919ef787ec2fc5b";
    char sel[256];
    snprintf(sel, sizeof(sel), "    sha256: [\"%.63s\"]\n", ok);
    selector_error(sel, "sha256", "64");
    snprintf(sel, sizeof(sel), "    sha256: [\"%sa\"]\n", ok);
    selector_error(sel, "sha256", "64");
    snprintf(sel, sizeof(sel), "    sha256: [\"E%s\"]\n", ok + 1);
    selector_error(sel, "sha256", "lowercase");
    snprintf(sel, sizeof(sel), "    sha256: [\"%.63s*\"]\n", ok);
    selector_error(sel, "sha256", "hex");
    snprintf(sel, sizeof(sel), "    sha256: [\"%s\"]\n", ok);
    selector_ok(sel);
}

Test(compile_errors, eku_malformed)
{
    selector_error("    eku: [anyExtendedKeyUsage]\n", "eku", "extended key usage");
    selector_error("    eku: [clientauth]\n", "eku", NULL);
    selector_error("    eku: [\"client*\"]\n", "eku", NULL);
    selector_error("    eku: [\"3.1\"]\n", "eku", NULL);
    selector_error("    eku: [\"1\"]\n", "eku", NULL);
    selector_error("    eku: [\"1..2\"]\n", "eku", NULL);
    selector_error("    eku: [\"1.2.\"]\n", "eku", NULL);
    selector_error("    eku: [\"1.02\"]\n", "eku", NULL);
}

Test(compile_ok, eku_forms)
{
    selector_ok("    eku: [clientAuth, serverAuth, codeSigning, emailProtection, timeStamping, "
                "OCSPSigning]\n");
    selector_ok("    eku: [\"1.3.6.1.5.5.7.3.2\", \"2.5.29.37.0\", \"1.2.3.4.5\"]\n");
}

/* ---- captures ---- */

Test(compile_errors, unbound_capture)
{
    const char *msg = ph_load_error("version: 1\n"
                                    "principals:\n"
                                    "  - name: tenant\n"
                                    "    spiffe: [\"spiffe://td/tenant/{tenant}/*\"]\n"
                                    "  - name: ops\n"
                                    "    ou: [ops]\n"
                                    "rules:\n"
                                    "  - id: leaky\n"
                                    "    effect: allow\n"
                                    "    principals: [ops]\n"
                                    "    operations: [\"GET /tenants/{tenant}/**\"]\n",
                                    MTLSAUTHZ_EPOLICY);
    ph_assert_contains(msg, "rule 'leaky'");
    ph_assert_contains(msg, "{tenant}");
    ph_assert_contains(msg, "not bound");
}

Test(compile_errors, capture_under_star_is_unbound)
{
    const char *msg = ph_load_error("version: 1\n"
                                    "rules:\n"
                                    "  - id: any\n"
                                    "    effect: allow\n"
                                    "    principals: [\"*\"]\n"
                                    "    operations: [\"GET /{x}\"]\n",
                                    MTLSAUTHZ_EPOLICY);
    ph_assert_contains(msg, "rule 'any'");
    ph_assert_contains(msg, "{x}");
}

Test(compile_errors, capture_name_of_other_principal)
{
    const char *msg = ph_load_error("version: 1\n"
                                    "principals:\n"
                                    "  - name: a\n"
                                    "    cn: [\"{user}\"]\n"
                                    "  - name: b\n"
                                    "    cn: [\"{tenant}\"]\n"
                                    "rules:\n"
                                    "  - id: ok\n"
                                    "    effect: allow\n"
                                    "    principals: [b]\n"
                                    "    operations: [\"GET /{tenant}\"]\n"
                                    "  - id: wrong\n"
                                    "    effect: allow\n"
                                    "    principals: [a]\n"
                                    "    operations: [\"GET /{tenant}\"]\n",
                                    MTLSAUTHZ_EPOLICY);
    ph_assert_contains(msg, "rule 'wrong'");
}

Test(compile_ok, capture_bound_by_one_of_several_principals)
{
    mtlsauthz_policy_free(ph_load("version: 1\n"
                                  "principals:\n"
                                  "  - name: a\n"
                                  "    cn: [plain]\n"
                                  "  - name: b\n"
                                  "    cn: [\"{tenant}\"]\n"
                                  "rules:\n"
                                  "  - id: ok\n"
                                  "    effect: allow\n"
                                  "    principals: [a, b, \"*\"]\n"
                                  "    operations: [\"GET /{tenant}/{tenant}\"]\n"));
}

/* ---- front-end errors surface unchanged ---- */

Test(compile_errors, front_end_errors)
{
    ph_load_error("version: 2\nrules: []\n", MTLSAUTHZ_EVERSION);
    ph_load_error("", MTLSAUTHZ_EPOLICY);
    ph_load_error("version: 1\n"
                  "rules:\n"
                  "  - id: r\n"
                  "    effect: permit\n"
                  "    principals: [\"*\"]\n"
                  "    operations: [x]\n",
                  MTLSAUTHZ_EPOLICY);
}

Test(compile_errors, arguments_and_files)
{
    mtlsauthz_policy *p = (mtlsauthz_policy *)1;
    mtlsauthz_error err;
    cr_assert_eq(mtlsauthz_policy_load(&p, NULL, 0, &err), MTLSAUTHZ_EINVAL);
    cr_assert_null(p);
    cr_assert_eq(mtlsauthz_policy_load(NULL, "x", 1, &err), MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_policy_load_file(&p, "/nonexistent/policy.yaml", &err), MTLSAUTHZ_EIO);
    ph_assert_contains(err.message, "/nonexistent/policy.yaml");
    cr_assert_eq(mtlsauthz_policy_load_file(&p, NULL, &err), MTLSAUTHZ_EINVAL);
}

Test(compile_ok, load_file)
{
    char path[] = "/tmp/mtlsauthz-test-policy-XXXXXX";
    const char *yaml = "version: 1\n"
                       "rules:\n"
                       "  - id: r\n"
                       "    effect: allow\n"
                       "    principals: [\"*\"]\n"
                       "    operations: [x]\n";
    int fd = mkstemp(path);
    mtlsauthz_policy *p = NULL;
    mtlsauthz_error err;
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    cr_assert_eq(mtlsauthz_policy_load_file(&p, path, &err), 0, "%s", err.message);
    cr_assert_eq(mtlsauthz_policy_rule_count(p), 1);
    mtlsauthz_policy_free(p);
    /* An error in a file names the file. */
    fd = open(path, O_WRONLY | O_TRUNC);
    cr_assert(fd >= 0);
    yaml = "version: 1\nrules:\n  - id: r\n    effect: allow\n"
           "    principals: [ghost]\n    operations: [x]\n";
    cr_assert_eq(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    cr_assert_eq(mtlsauthz_policy_load_file(&p, path, &err), MTLSAUTHZ_EPOLICY);
    {
        /* "PATH:LINE:COL: text", the path once, and the position in the struct too. */
        char want[256];
        snprintf(want, sizeof(want), "%s:5:18: rule 'r': undefined principal 'ghost'", path);
        cr_assert(strncmp(err.message, want, strlen(want)) == 0, "%s", err.message);
        cr_assert_eq(err.line, 5);
        cr_assert_eq(err.column, 18);
        cr_assert_null(strstr(err.message + strlen(path), path), "%s", err.message);
    }
    /* Without a position: "PATH: text". */
    fd = open(path, O_WRONLY | O_TRUNC);
    cr_assert(fd >= 0);
    close(fd);
    cr_assert_eq(mtlsauthz_policy_load_file(&p, path, &err), MTLSAUTHZ_EPOLICY);
    {
        char want[256];
        snprintf(want, sizeof(want), "%s: empty policy", path);
        cr_assert(strncmp(err.message, want, strlen(want)) == 0, "%s", err.message);
        cr_assert_eq(err.line, 0);
        cr_assert_eq(err.column, 0);
    }
    unlink(path);
    /* An unreadable file is named once, by the reader. */
    cr_assert_eq(mtlsauthz_policy_load_file(&p, path, &err), MTLSAUTHZ_EIO);
    {
        char want[256];
        snprintf(want, sizeof(want), "%s: ", path);
        cr_assert(strncmp(err.message, want, strlen(want)) == 0, "%s", err.message);
        cr_assert_null(strstr(err.message + strlen(path), path), "%s", err.message);
        cr_assert_eq(err.line, 0);
    }
}

Test(compile_errors, a_buffer_load_puts_the_position_in_front)
{
    mtlsauthz_policy *p = NULL;
    mtlsauthz_error err;
    static const char y[] = "version: 1\nrules: []\n";
    cr_assert_eq(mtlsauthz_policy_load(&p, y, strlen(y), &err), MTLSAUTHZ_EPOLICY);
    cr_assert_str_eq(err.message,
                     "2:8: empty list for key 'rules'; a list needs at least one entry");
    /* No position: the bare text. */
    cr_assert_eq(mtlsauthz_policy_load(&p, "", 0, &err), MTLSAUTHZ_EPOLICY);
    cr_assert_eq(err.line, 0);
    cr_assert(strncmp(err.message, "empty policy", 12) == 0, "%s", err.message);
    /* A later error that has no position leaves none behind from an earlier one. */
    cr_assert_eq(mtlsauthz_policy_load(&p, NULL, 0, &err), MTLSAUTHZ_EINVAL);
    cr_assert_eq(err.line, 0);
    cr_assert_eq(err.column, 0);
    mtlsauthz_error_clear(&err);
    cr_assert(err.code == 0 && err.line == 0 && err.column == 0 && err.message[0] == '\0');
}

/* ---- "did you mean" for an undefined principal ---- */

/* A policy with the principals `names` (YAML list body) and one rule naming `ref` on line
 * 4 + (number of principals * 2), column 18. */
static const char *refs_yaml(const char *const *names, size_t n, const char *ref)
{
    static char yaml[4096];
    size_t o = (size_t)snprintf(yaml, sizeof(yaml), "version: 1\nprincipals:\n");
    for (size_t i = 0; i < n; i++) {
        o += (size_t)snprintf(yaml + o, sizeof(yaml) - o, "  - name: %s\n    cn: [x]\n", names[i]);
    }
    snprintf(yaml + o, sizeof(yaml) - o,
             "rules:\n  - id: r\n    effect: allow\n    principals: [%s]\n    operations: [x]\n",
             ref);
    return yaml;
}

Test(compile_errors, undefined_principal_suggests_the_close_name)
{
    static const char *const names[] = {"admin", "ops", "builder"};
    /* At the reference, with the name meant. */
    cr_assert_str_eq(error_at(refs_yaml(names, 3, "admins"), MTLSAUTHZ_EPOLICY, 12, 18),
                     "rule 'r': undefined principal 'admins'; did you mean 'admin'?");
    cr_assert_str_eq(error_at(refs_yaml(names, 3, "biulder"), MTLSAUTHZ_EPOLICY, 12, 18),
                     "rule 'r': undefined principal 'biulder'; did you mean 'builder'?");
    /* Nothing close: the names defined. */
    cr_assert_str_eq(error_at(refs_yaml(names, 3, "deployers"), MTLSAUTHZ_EPOLICY, 12, 18),
                     "rule 'r': undefined principal 'deployers' (defined: admin, ops, builder)");
    /* A short name is not "close" to everything: "op" vs "ops" is one edit in two letters. */
    ph_assert_contains(error_at(refs_yaml(names, 3, "op"), MTLSAUTHZ_EPOLICY, 12, 18),
                       "(defined: admin, ops, builder)");
}

Test(compile_errors, undefined_principal_lists_five_names_when_two_are_close)
{
    static const char *const names[] = {"team-a", "team-b", "c", "d", "e", "f"};
    /* "team-x" is one edit from both: no guess, the list (five, then "..."). */
    cr_assert_str_eq(error_at(refs_yaml(names, 6, "team-x"), MTLSAUTHZ_EPOLICY, 18, 18),
                     "rule 'r': undefined principal 'team-x' (defined: team-a, team-b, c, d, e, "
                     "...)");
}

/* ---- every semantic error kind, at its node ---- */

Test(compile_errors, selector_values_are_reported_at_the_entry)
{
    static const struct {
        const char *line; /* the selector, line 5 of the policy */
        unsigned column;
        const char *text;
    } cases[] = {
        {"    ip: [10.0.0.1/8]\n", 10,
         "principal 'p', key 'ip', entry '10.0.0.1/8': host bits set after the prefix length"},
        {"    ip: [\"10.0.0.256\"]\n", 10,
         "principal 'p', key 'ip', entry '10.0.0.256': not a valid IPv4 address"},
        {"    spiffe: [\"https://td/x\"]\n", 14,
         "principal 'p', key 'spiffe', entry 'https://td/x': a spiffe pattern must start with "
         "\"spiffe://\""},
        {"    spiffe: [\"spiffe://TD/x\"]\n", 14,
         "principal 'p', key 'spiffe', entry 'spiffe://TD/x': the trust domain must be "
         "lowercase"},
        {"    eku: [clientauth]\n", 11,
         "principal 'p', key 'eku', entry 'clientauth': not a known extended key usage"},
        {"    serial: [\"0A\"]\n", 14,
         "principal 'p', key 'serial', entry '0A': serial must be lowercase hex"},
        {"    sha256: [abc]\n", 14,
         "principal 'p', key 'sha256', entry 'abc': sha256 must be exactly 64 hex digits"},
        {"    cn: [\"a***\"]\n", 10, "principal 'p', key 'cn', entry 'a***': "},
    };
    for (size_t i = 0; i < MTLSAUTHZ__ARRAY_LEN(cases); i++) {
        const char *msg =
            error_at(ph_selector_yaml(cases[i].line), MTLSAUTHZ_EPOLICY, 4, cases[i].column);
        cr_assert(strncmp(msg, cases[i].text, strlen(cases[i].text)) == 0, "%s", msg);
    }
}

Test(compile_errors, an_empty_selector_is_reported_at_the_name)
{
    cr_assert_str_eq(error_at("version: 1\nprincipals:\n  - name: nobody\nrules:\n"
                              "  - {id: r, effect: allow, principals: [nobody], operations: [x]}\n",
                              MTLSAUTHZ_EPOLICY, 3, 11),
                     "principal 'nobody': empty selector (it needs at least one key besides "
                     "name)");
}

/* ---- the compiled structure (what lint reads) ---- */

Test(compiled, structure)
{
    mtlsauthz_policy *p = ph_load("version: 1\n"
                                  "sensitive: [\"host:**\"]\n"
                                  "principals:\n"
                                  "  - name: a\n"
                                  "    cn: [\"{who}\"]\n"
                                  "    o: [Example Corp]\n"
                                  "  - name: unused\n"
                                  "    ip: [10.0.0.0/8]\n"
                                  "  - name: b\n"
                                  "    eku: [\"1.3.6.1.5.5.7.3.2\"]\n"
                                  "rules:\n"
                                  "  - id: r0\n"
                                  "    effect: deny\n"
                                  "    mode: dry-run\n"
                                  "    principals: [b, a, b]\n"
                                  "    operations: [\"GET /{who}\", \"x\"]\n"
                                  "  - id: r1\n"
                                  "    effect: allow\n"
                                  "    principals: [\"*\"]\n"
                                  "    operations: [\"GET /healthz\"]\n"
                                  "  - id: r2\n"
                                  "    effect: allow\n"
                                  "    principals: [a]\n"
                                  "    operations: [\"y\"]\n");
    cr_assert_eq(p->nprincipals, 3);
    cr_assert_eq(p->nrules, 3);
    cr_assert_str_eq(p->principals[0].name, "a");
    cr_assert_eq(mtlsauthz__principal_key(&p->principals[0], MTLSAUTHZ__KEY_CN)->n, 1);
    cr_assert_str_eq(mtlsauthz__principal_key(&p->principals[0], MTLSAUTHZ__KEY_CN)->src[0],
                     "{who}");
    cr_assert_eq(mtlsauthz__principal_key(&p->principals[0], MTLSAUTHZ__KEY_O)->n, 1);
    cr_assert_eq(mtlsauthz__principal_key(&p->principals[0], MTLSAUTHZ__KEY_DNS)->n, 0);
    /* Only present keys are stored: cn and o, in key order. */
    cr_assert_eq(p->principals[0].nkeys, 2);
    cr_assert_eq(p->principals[0].key_mask, (1u << MTLSAUTHZ__KEY_CN) | (1u << MTLSAUTHZ__KEY_O));
    cr_assert_eq(p->principals[0].key_at[MTLSAUTHZ__KEY_DNS], 0);
    cr_assert_eq(p->principals[0].ncaps, 1);
    cr_assert_eq(p->principals[0].needed_caps, 1u);
    /* The used view. */
    cr_assert_eq(p->principals[0].nrules, 2);
    cr_assert_eq(p->principals[0].rules[0], 0);
    cr_assert_eq(p->principals[0].rules[1], 2);
    cr_assert_eq(p->principals[1].nrules, 0);
    cr_assert_eq(p->principals[2].nrules, 1);
    cr_assert_not_null(mtlsauthz__principal_key(&p->principals[1], MTLSAUTHZ__KEY_IP)->cidrs);
    cr_assert_eq(mtlsauthz__principal_key(&p->principals[1], MTLSAUTHZ__KEY_IP)->cidrs[0].prefix,
                 8);
    /* EKU OIDs of known purposes compile to their names. */
    cr_assert_str_eq(mtlsauthz__principal_key(&p->principals[2], MTLSAUTHZ__KEY_EKU)->pats[0].text,
                     "clientAuth");
    /* Rules: principals deduplicated in listed order, "*" as a flag. */
    cr_assert_eq(p->rules[0].nprincipals, 2);
    cr_assert_eq(p->rules[0].principals[0], 2);
    cr_assert_eq(p->rules[0].principals[1], 0);
    cr_assert_eq(p->rules[0].effect, MTLSAUTHZ__DENY);
    cr_assert_eq(p->rules[0].mode, MTLSAUTHZ__DRY_RUN);
    cr_assert(p->rules[0].has_captures);
    cr_assert_eq(p->rules[0].nops, 2);
    cr_assert_str_eq(p->rules[0].ops[1].src, "x");
    cr_assert(p->rules[1].any_principal);
    cr_assert_eq(p->rules[1].nprincipals, 0);
    cr_assert_eq(p->nany_rules, 1);
    cr_assert_eq(p->any_rules[0], 1);
    cr_assert_eq(p->nsensitive, 1);
    cr_assert_str_eq(p->sensitive_src[0], "host:**");
    mtlsauthz_policy_free(p);
}

Test(compiled, nothing_half_loaded_under_allocation_failure)
{
    /* Fail every allocation from the Nth on: each load either succeeds or fails cleanly
     * (valgrind/ASan see no leak), and never returns a policy with an error. */
    const char *yaml = "version: 1\n"
                       "sensitive: [\"host:**\"]\n"
                       "principals:\n"
                       "  - name: t\n"
                       "    spiffe: [\"spiffe://td/tenant/{tenant}/*\"]\n"
                       "    ip: [10.0.0.0/8]\n"
                       "rules:\n"
                       "  - id: r\n"
                       "    effect: allow\n"
                       "    principals: [t, \"*\"]\n"
                       "    operations: [\"GET /{tenant}\", \"x\"]\n";
    int succeeded = 0;
    for (long n = 0; n < 400 && !succeeded; n++) {
        mtlsauthz_policy *p = NULL;
        int rc;
        mtlsauthz__alloc_fail_after(n);
        rc = mtlsauthz_policy_load(&p, yaml, strlen(yaml), NULL);
        mtlsauthz__alloc_fail_after(-1);
        if (rc == 0) {
            cr_assert_not_null(p);
            succeeded = 1;
        } else {
            cr_assert_null(p);
        }
        mtlsauthz_policy_free(p);
    }
    cr_assert(succeeded);
}

Test(compiled, many_rules)
{
    size_t cap = 4u << 20, off = 0;
    char *yaml = malloc(cap);
    mtlsauthz_policy *p;
    mtlsauthz_identity *id = ph_cert("builder");
    off += (size_t)snprintf(yaml + off, cap - off, "version: 1\nprincipals:\n");
    for (int i = 0; i < 20000; i++) {
        off += (size_t)snprintf(yaml + off, cap - off,
                                "  - name: p%d\n    spiffe: [\"spiffe://prod.example.com/s/%d\"]\n",
                                i, i);
    }
    off += (size_t)snprintf(yaml + off, cap - off,
                            "  - name: builder\n"
                            "    spiffe: [\"spiffe://prod.example.com/ci/builder\"]\n"
                            "rules:\n");
    for (int i = 0; i < 20000; i++) {
        off += (size_t)snprintf(yaml + off, cap - off,
                                "  - id: r%d\n    effect: allow\n    principals: [p%d]\n"
                                "    operations: [\"op:%d\"]\n",
                                i, i, i % 32);
    }
    off += (size_t)snprintf(yaml + off, cap - off,
                            "  - id: last\n    effect: allow\n    principals: [builder]\n"
                            "    operations: [\"op:1\"]\n");
    p = ph_load(yaml);
    free(yaml);
    cr_assert_eq(mtlsauthz_policy_rule_count(p), 20001);
    ph_allow(p, id, "op:1", "last");
    ph_no_match(p, id, "op:2");
    mtlsauthz_identity_free(id);
    mtlsauthz_policy_free(p);
}

/* ---- the compiled policy's memory (docs/internals.md, "The compiled policy's memory") ---- */

/* An operation or selector entry written twice is compiled once and shared; the same text
 * under another key is compiled with that key's rules, and every rule's checks still run. */
Test(compile, repeated_entries_share_one_compiled_pattern)
{
    mtlsauthz_policy *p = ph_load(
        "version: 1\n"
        "principals:\n"
        "  - {name: a, dns: [\"Web.example.com\"], cn: [\"Web.example.com\"]}\n"
        "  - {name: b, dns: [\"Web.example.com\"]}\n"
        "rules:\n"
        "  - {id: r1, effect: allow, principals: [a], operations: [\"GET /x\", \"GET /y\"]}\n"
        "  - {id: r2, effect: deny, principals: [b], operations: [\"GET /x\"]}\n");
    const mtlsauthz__ckey *dns_a = mtlsauthz__principal_key(&p->principals[0], MTLSAUTHZ__KEY_DNS);
    const mtlsauthz__ckey *dns_b = mtlsauthz__principal_key(&p->principals[1], MTLSAUTHZ__KEY_DNS);
    const mtlsauthz__ckey *cn_a = mtlsauthz__principal_key(&p->principals[0], MTLSAUTHZ__KEY_CN);
    cr_assert_eq(p->rules[0].ops[0].src, p->rules[1].ops[0].src);
    cr_assert_eq(p->rules[0].ops[0].pat.text, p->rules[1].ops[0].pat.text);
    cr_assert_neq(p->rules[0].ops[0].src, p->rules[0].ops[1].src);
    cr_assert_eq(dns_a->pats[0].text, dns_b->pats[0].text);
    /* dns folds case and cn does not: the same entry, two patterns. */
    cr_assert_str_eq(dns_a->pats[0].text, "web.example.com");
    cr_assert_str_eq(cn_a->pats[0].text, "Web.example.com");
    cr_assert_str_eq(dns_a->src[0], "Web.example.com");
    cr_assert_str_eq(cn_a->src[0], "Web.example.com");
    mtlsauthz_policy_free(p);

    /* The second rule's `GET /{x}` is the first's pattern, and its principal binds no {x}. */
    cr_assert_str_eq(
        error_at("version: 1\n"
                 "principals:\n"
                 "  - {name: a, spiffe: [\"spiffe://td/{x}\"]}\n"
                 "  - {name: b, spiffe: [\"spiffe://td/b\"]}\n"
                 "rules:\n"
                 "  - {id: r1, effect: allow, principals: [a], operations: [\"GET /{x}\"]}\n"
                 "  - {id: r2, effect: allow, principals: [b], operations: [\"GET /{x}\"]}\n",
                 MTLSAUTHZ_EPOLICY, 7, 59),
        "rule 'r2', operation 'GET /{x}': capture {x} is not bound by any of the "
        "rule's principals; to match any one segment without binding it, write *");
}
