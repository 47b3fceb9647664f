/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the policy engine tests (test_compile.c, test_decide.c, test_explain.c):
 * load a policy from an inline YAML string, read an identity from a generated certificate,
 * build a synthetic identity for field cases certificates make awkward, and assert on
 * decisions.
 */
#ifndef MTLSAUTHZ_TEST_POLICY_HELPERS_H
#define MTLSAUTHZ_TEST_POLICY_HELPERS_H

#include <arpa/inet.h>

#include "helpers.h"
#include "identity_int.h"
#include "policy_int.h"

static inline mtlsauthz_policy *ph_load(const char *yaml)
{
    mtlsauthz_policy *p = NULL;
    mtlsauthz_error err;
    int rc;
    mtlsauthz_error_clear(&err);
    rc = mtlsauthz_policy_load(&p, yaml, strlen(yaml), &err);
    cr_assert_eq(rc, 0, "policy did not load: %s\n%s", err.message, yaml);
    cr_assert_not_null(p);
    return p;
}

/* Loads a policy that must fail with `code`; returns the message (static buffer). */
static inline const char *ph_load_error(const char *yaml, int code)
{
    static mtlsauthz_error err;
    mtlsauthz_policy *p = NULL;
    int rc;
    mtlsauthz_error_clear(&err);
    rc = mtlsauthz_policy_load(&p, yaml, strlen(yaml), &err);
    cr_assert_eq(rc, code, "expected %s, got %s (%s) for\n%s", mtlsauthz_errname(code),
                 mtlsauthz_errname(rc), err.message, yaml);
    cr_assert_null(p);
    cr_assert_eq(err.code, code);
    return err.message;
}

static inline void ph_assert_contains(const char *hay, const char *needle)
{
    cr_assert_not_null(strstr(hay, needle), "expected \"%s\" in \"%s\"", needle, hay);
}

static inline mtlsauthz_identity *ph_cert(const char *name)
{
    char file[256];
    size_t len;
    char *pem;
    mtlsauthz_identity *id = NULL;
    mtlsauthz_error err;
    int rc;
    snprintf(file, sizeof(file), "%s.pem", name);
    pem = th_cert(file, &len);
    mtlsauthz_error_clear(&err);
    rc = mtlsauthz_identity_from_pem(&id, pem, len, &err);
    free(pem);
    cr_assert_eq(rc, 0, "identity %s: %s", name, err.message);
    return id;
}

/* ---- synthetic identities ----
 * Built straight into the internal layout (lib/identity_int.h), keeping its invariants:
 * every value NUL-followed, single-valued fields present, ip_raw parallel to SAN_IP. */

#define PH_MAX 128

typedef struct ph_ident {
    struct mtlsauthz_identity id;
    mtlsauthz__str vals[MTLSAUTHZ_FIELD_COUNT_][PH_MAX];
    mtlsauthz__str ips[PH_MAX];
    char bytes[64 * 1024];
    size_t used;
} ph_ident;

static inline const char *ph_store(ph_ident *pi, const void *p, size_t len)
{
    char *dst = pi->bytes + pi->used;
    cr_assert(pi->used + len + 1 <= sizeof(pi->bytes));
    memcpy(dst, p, len);
    dst[len] = '\0';
    pi->used += len + 1;
    return dst;
}

static inline void ph_addn(ph_ident *pi, mtlsauthz_field f, const char *v, size_t len)
{
    size_t n = pi->id.counts[f];
    cr_assert(n < PH_MAX);
    pi->vals[f][n].ptr = ph_store(pi, v, len);
    pi->vals[f][n].len = len;
    pi->id.counts[f] = n + 1;
}

static inline void ph_add(ph_ident *pi, mtlsauthz_field f, const char *v)
{
    ph_addn(pi, f, v, strlen(v));
}

/* An IP SAN: the text form and the raw bytes, kept parallel. */
static inline void ph_add_ip(ph_ident *pi, const char *text)
{
    unsigned char raw[16];
    size_t n = pi->id.counts[MTLSAUTHZ_FIELD_SAN_IP];
    int v6 = strchr(text, ':') != NULL;
    cr_assert_eq(inet_pton(v6 ? AF_INET6 : AF_INET, text, raw), 1);
    ph_add(pi, MTLSAUTHZ_FIELD_SAN_IP, text);
    pi->ips[n].ptr = ph_store(pi, raw, v6 ? 16 : 4);
    pi->ips[n].len = v6 ? 16 : 4;
}

static inline ph_ident *ph_ident_new(void)
{
    ph_ident *pi = calloc(1, sizeof(*pi));
    cr_assert_not_null(pi);
    for (unsigned f = 0; f < MTLSAUTHZ_FIELD_COUNT_; f++) {
        pi->id.values[f] = pi->vals[f];
    }
    pi->id.ip_raw = pi->ips;
    pi->id.chain_len = 1;
    ph_add(pi, MTLSAUTHZ_FIELD_SUBJECT_DN, "CN=synthetic");
    ph_add(pi, MTLSAUTHZ_FIELD_CN, "synthetic");
    ph_add(pi, MTLSAUTHZ_FIELD_ISSUER_DN, "CN=test issuer");
    ph_add(pi, MTLSAUTHZ_FIELD_SERIAL, "1");
    ph_add(pi, MTLSAUTHZ_FIELD_SHA256,
           "0000000000000000000000000000000000000000000000000000000000000000");
    ph_add(pi, MTLSAUTHZ_FIELD_NOT_BEFORE, "2020-01-01T00:00:00Z");
    ph_add(pi, MTLSAUTHZ_FIELD_NOT_AFTER, "2051-01-01T00:00:00Z");
    return pi;
}

/* ---- decisions ---- */

/* Every decision a test makes is made again through mtlsauthz_peer_decide_code(): the code
 * must say what the struct says, and the struct it fills must be the same. */
static inline void ph_check_code(mtlsauthz_policy *p, const mtlsauthz_identity *id, const char *op,
                                 const mtlsauthz_decision *want)
{
    mtlsauthz_peer *peer = NULL;
    mtlsauthz_decision d;
    mtlsauthz_error err;
    size_t rule;
    int code;
    mtlsauthz_error_clear(&err);
    cr_assert_eq(mtlsauthz_peer_new(&peer, p, id, &err), 0, "peer: %s", err.message);
    code = mtlsauthz_peer_decide_code(&d, peer, op, strlen(op), &err);
    cr_assert_geq(code, 0, "decide_code '%s': %s", op, err.message);
    cr_assert_eq(MTLSAUTHZ_DECISION_CODE_ALLOWED(code), want->allowed, "'%s'", op);
    cr_assert_eq(MTLSAUTHZ_DECISION_CODE_REASON(code), want->reason, "'%s'", op);
    cr_assert_eq(MTLSAUTHZ_DECISION_CODE_DRY_RUN(code), want->dry_run_count > 0, "'%s'", op);
    rule = MTLSAUTHZ_DECISION_CODE_RULE(code);
    if (want->rule == NULL) {
        cr_assert_eq(rule, 0, "'%s': code names rule %zu", op, rule);
    } else {
        cr_assert(rule >= 1 && rule <= p->nrules, "'%s': rule %zu", op, rule);
        cr_assert_str_eq(p->rules[rule - 1].id, want->rule, "'%s'", op);
    }
    cr_assert_eq(d.allowed, want->allowed);
    cr_assert_eq(d.reason, want->reason);
    cr_assert_eq(d.rule, want->rule);
    cr_assert_eq(d.dry_run_count, want->dry_run_count);
    for (size_t i = 0; i < MTLSAUTHZ_DECISION_DRY_RUN_MAX; i++) {
        cr_assert_eq(d.dry_run[i], want->dry_run[i]);
    }
    cr_assert_eq(mtlsauthz_peer_decide_code(NULL, peer, op, strlen(op), NULL), code);
    mtlsauthz_peer_free(peer);
}

static inline mtlsauthz_decision ph_decide(mtlsauthz_policy *p, const mtlsauthz_identity *id,
                                           const char *op)
{
    mtlsauthz_decision d;
    mtlsauthz_error err;
    int rc;
    mtlsauthz_error_clear(&err);
    rc = mtlsauthz_policy_decide(&d, p, id, op, strlen(op), &err);
    cr_assert_eq(rc, 0, "decide '%s': %s", op, err.message);
    ph_check_code(p, id, op, &d);
    return d;
}

/* Asserts allow/deny, the reason and the deciding rule (NULL: none). */
static inline void ph_expect(mtlsauthz_policy *p, const mtlsauthz_identity *id, const char *op,
                             int allowed, mtlsauthz_reason reason, const char *rule)
{
    mtlsauthz_decision d = ph_decide(p, id, op);
    cr_assert_eq(d.allowed, allowed, "'%s': expected %s, got %s (rule %s, %s)", op,
                 allowed ? "allow" : "deny", d.allowed ? "allow" : "deny", d.rule ? d.rule : "none",
                 mtlsauthz_reason_string(d.reason));
    cr_assert_eq(d.reason, reason, "'%s': expected reason %s, got %s", op,
                 mtlsauthz_reason_string(reason), mtlsauthz_reason_string(d.reason));
    if (rule == NULL) {
        cr_assert_null(d.rule, "'%s': expected no rule, got %s", op, d.rule);
    } else {
        cr_assert_not_null(d.rule, "'%s': expected rule %s, got none", op, rule);
        cr_assert_str_eq(d.rule, rule, "'%s'", op);
    }
}

static inline void ph_allow(mtlsauthz_policy *p, const mtlsauthz_identity *id, const char *op,
                            const char *rule)
{
    ph_expect(p, id, op, 1, MTLSAUTHZ_REASON_ALLOWED, rule);
}

static inline void ph_no_match(mtlsauthz_policy *p, const mtlsauthz_identity *id, const char *op)
{
    ph_expect(p, id, op, 0, MTLSAUTHZ_REASON_NO_MATCH, NULL);
}

/* The YAML of a policy with one principal `p` (the given selector lines, indented 4) and one
 * allow rule `r` using it for operation "x". Returns a static buffer (one at a time). */
static inline const char *ph_selector_yaml(const char *selector)
{
    static char yaml[4096];
    snprintf(yaml, sizeof(yaml),
             "version: 1\n"
             "principals:\n"
             "  - name: p\n"
             "%s"
             "rules:\n"
             "  - id: r\n"
             "    effect: allow\n"
             "    principals: [p]\n"
             "    operations: [\"x\"]\n",
             selector);
    return yaml;
}

/* 1 if the identity matches the selector (through a whole decision). */
static inline int ph_selects(const char *selector, const mtlsauthz_identity *id)
{
    mtlsauthz_policy *p = ph_load(ph_selector_yaml(selector));
    mtlsauthz_decision d = ph_decide(p, id, "x");
    mtlsauthz_policy_free(p);
    return d.allowed;
}

#endif
