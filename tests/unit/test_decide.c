/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decisions (lib/peer.c, lib/decide.c, lib/index.c): every selector key, every pattern form,
 * captures, deny-overrides, dry-run, rejected and missing identities, operation limits,
 * reference counting, and the per-connection/per-request split agreeing with the one-shot
 * call.
 */
#include <pthread.h>

#include "policy_helpers.h"

static const char issue_policy[] = "version: 1\n"
                                   "sensitive: [\"host:**\", \"POST /containers/*/exec\"]\n"
                                   "principals:\n"
                                   "  - name: builder\n"
                                   "    spiffe: [\"spiffe://prod.example.com/ci/builder\"]\n"
                                   "    eku: [clientAuth]\n"
                                   "  - name: ops\n"
                                   "    o: [Example Corp]\n"
                                   "    ou: [ops, sre]\n"
                                   "  - name: tenant\n"
                                   "    spiffe: [\"spiffe://prod.example.com/tenant/{tenant}/*\"]\n"
                                   "rules:\n"
                                   "  - id: build\n"
                                   "    effect: allow\n"
                                   "    principals: [builder]\n"
                                   "    operations: [\"images:build\", \"images:push\"]\n"
                                   "  - id: tenant-data\n"
                                   "    effect: allow\n"
                                   "    principals: [tenant]\n"
                                   "    operations: [\"GET /tenants/{tenant}/**\"]\n"
                                   "  - id: list\n"
                                   "    effect: allow\n"
                                   "    principals: [ops]\n"
                                   "    operations: [\"GET /containers\"]\n"
                                   "  - id: healthz\n"
                                   "    effect: allow\n"
                                   "    principals: [\"*\"]\n"
                                   "    operations: [\"GET /healthz\"]\n"
                                   "  - id: no-host\n"
                                   "    effect: deny\n"
                                   "    principals: [\"*\"]\n"
                                   "    operations: [\"host:**\"]\n"
                                   "  - id: watch-push\n"
                                   "    effect: deny\n"
                                   "    mode: dry-run\n"
                                   "    principals: [builder]\n"
                                   "    operations: [\"images:push\"]\n";

/* ---- the issue's example ---- */

Test(decide, issue_example)
{
    mtlsauthz_policy *p = ph_load(issue_policy);
    mtlsauthz_identity *builder = ph_cert("builder");
    mtlsauthz_identity *ops = ph_cert("ops");
    mtlsauthz_identity *sre = ph_cert("sre");
    mtlsauthz_identity *plain = ph_cert("plain");

    ph_allow(p, builder, "images:build", "build");
    ph_allow(p, builder, "images:push", "build");
    ph_no_match(p, builder, "GET /containers");
    ph_no_match(p, builder, "images:buildx");
    ph_no_match(p, builder, "images:buil");
    ph_expect(p, builder, "host:/var/run/docker.sock", 0, MTLSAUTHZ_REASON_DENIED, "no-host");
    ph_allow(p, ops, "GET /containers", "list");
    ph_allow(p, sre, "GET /containers", "list");
    ph_no_match(p, ops, "images:build");
    ph_no_match(p, ops, "GET /containers/");
    ph_allow(p, plain, "GET /healthz", "healthz");
    ph_no_match(p, plain, "GET /containers");
    ph_expect(p, plain, "host:x", 0, MTLSAUTHZ_REASON_DENIED, "no-host");
    cr_assert_eq(mtlsauthz_policy_rule_count(p), 6);

    mtlsauthz_identity_free(builder);
    mtlsauthz_identity_free(ops);
    mtlsauthz_identity_free(sre);
    mtlsauthz_identity_free(plain);
    mtlsauthz_policy_free(p);
}

Test(decide, eku_required_by_selector)
{
    mtlsauthz_policy *p = ph_load(issue_policy);
    mtlsauthz_identity *noeku = ph_cert("builder-noeku");
    /* Same SPIFFE ID, no EKU extension: `eku: [clientAuth]` fails, so no rule applies. */
    ph_no_match(p, noeku, "images:build");
    mtlsauthz_identity_free(noeku);
    mtlsauthz_policy_free(p);
}

/* ---- deny overrides, order, dry-run ---- */

Test(decide, deny_overrides_allow_regardless_of_order)
{
    mtlsauthz_policy *p = ph_load("version: 1\n"
                                  "principals:\n"
                                  "  - name: b\n"
                                  "    cn: [builder]\n"
                                  "rules:\n"
                                  "  - id: allow-all\n"
                                  "    effect: allow\n"
                                  "    principals: [b]\n"
                                  "    operations: [\"**\"]\n"
                                  "  - id: allow-images\n"
                                  "    effect: allow\n"
                                  "    principals: [b]\n"
                                  "    operations: [\"images:*\"]\n"
                                  "  - id: deny-push\n"
                                  "    effect: deny\n"
                                  "    principals: [b]\n"
                                  "    operations: [\"images:push\"]\n"
                                  "  - id: deny-push-2\n"
                                  "    effect: deny\n"
                                  "    principals: [\"*\"]\n"
                                  "    operations: [\"images:push\"]\n");
    mtlsauthz_identity *b = ph_cert("builder");
    /* The first matching allow in file order decides an allow... */
    ph_allow(p, b, "images:build", "allow-all");
    /* ...but any enforce deny wins, and the first in file order is named. */
    ph_expect(p, b, "images:push", 0, MTLSAUTHZ_REASON_DENIED, "deny-push");
    mtlsauthz_identity_free(b);
    mtlsauthz_policy_free(p);
}

Test(decide, dry_run_never_decides_but_is_listed)
{
    mtlsauthz_policy *p = ph_load(issue_policy);
    mtlsauthz_identity *b = ph_cert("builder");
    mtlsauthz_decision d = ph_decide(p, b, "images:push");
    cr_assert_eq(d.allowed, 1);
    cr_assert_str_eq(d.rule, "build");
    cr_assert_eq(d.dry_run_count, 1);
    cr_assert_str_eq(d.dry_run[0], "watch-push");
    d = ph_decide(p, b, "images:build");
    cr_assert_eq(d.dry_run_count, 0);
    mtlsauthz_identity_free(b);
    mtlsauthz_policy_free(p);
}

Test(decide, dry_run_allow_does_not_allow_and_many_are_counted)
{
    char yaml[16384];
    size_t off = 0;
    mtlsauthz_policy *p;
    mtlsauthz_identity *b = ph_cert("builder");
    mtlsauthz_decision d;

    off += (size_t)snprintf(yaml + off, sizeof(yaml) - off,
                            "version: 1\nprincipals:\n  - name: b\n    cn: [builder]\nrules:\n");
    for (int i = 0; i < 12; i++) {
        off += (size_t)snprintf(yaml + off, sizeof(yaml) - off,
                                "  - id: dry-%02d\n    effect: %s\n    mode: dry-run\n"
                                "    principals: [%s]\n    operations: [\"x:*\"]\n",
                                i, i % 2 ? "deny" : "allow", i % 3 ? "b" : "\"*\"");
    }
    off += (size_t)snprintf(yaml + off, sizeof(yaml) - off,
                            "  - id: dry-deny-other\n    effect: deny\n    mode: dry-run\n"
                            "    principals: [b]\n    operations: [\"y:*\"]\n");
    p = ph_load(yaml);
    d = ph_decide(p, b, "x:1");
    /* A dry-run allow never allows. */
    cr_assert_eq(d.allowed, 0);
    cr_assert_eq(d.reason, MTLSAUTHZ_REASON_NO_MATCH);
    cr_assert_null(d.rule);
    cr_assert_eq(d.dry_run_count, 12);
    for (int i = 0; i < MTLSAUTHZ_DECISION_DRY_RUN_MAX; i++) {
        char want[16];
        snprintf(want, sizeof(want), "dry-%02d", i);
        cr_assert_str_eq(d.dry_run[i], want);
    }
    mtlsauthz_identity_free(b);
    mtlsauthz_policy_free(p);
}

Test(decide, dry_run_listed_with_enforce_deny)
{
    mtlsauthz_policy *p = ph_load("version: 1\n"
                                  "principals:\n"
                                  "  - name: b\n"
                                  "    cn: [builder]\n"
                                  "rules:\n"
                                  "  - id: deny\n"
                                  "    effect: deny\n"
                                  "    principals: [b]\n"
                                  "    operations: [\"**\"]\n"
                                  "  - id: later-dry\n"
                                  "    effect: deny\n"
                                  "    mode: dry-run\n"
                                  "    principals: [b]\n"
                                  "    operations: [\"a\"]\n");
    mtlsauthz_identity *b = ph_cert("builder");
    mtlsauthz_decision d = ph_decide(p, b, "a");
    cr_assert_eq(d.allowed, 0);
    cr_assert_str_eq(d.rule, "deny");
    cr_assert_eq(d.dry_run_count, 1);
    cr_assert_str_eq(d.dry_run[0], "later-dry");
    mtlsauthz_identity_free(b);
    mtlsauthz_policy_free(p);
}

/* ---- selector keys, one by one, positive and negative ---- */

Test(decide_keys, cn_o_ou)
{
    mtlsauthz_identity *ops = ph_cert("ops"), *sre = ph_cert("sre"), *full = ph_cert("full");
    cr_assert(ph_selects("    cn: [alice]\n", ops));
    cr_assert(!ph_selects("    cn: [Alice]\n", ops)); /* byte for byte */
    cr_assert(!ph_selects("    cn: [alic]\n", ops));
    cr_assert(ph_selects("    cn: [\"al*\"]\n", ops));
    cr_assert(ph_selects("    o: [Example Corp]\n", ops));
    cr_assert(ph_selects("    o: [Second Org]\n", full)); /* any value of the field */
    cr_assert(!ph_selects("    o: [Example]\n", ops));
    cr_assert(ph_selects("    ou: [oncall]\n", sre));
    cr_assert(!ph_selects("    ou: [oncall]\n", ops));
    /* All keys must match. */
    cr_assert(ph_selects("    o: [Example Corp]\n    ou: [ops]\n", ops));
    cr_assert(!ph_selects("    o: [Example Corp]\n    ou: [ops]\n", sre));
    cr_assert(!ph_selects("    o: [Other]\n    ou: [ops]\n", ops));
    mtlsauthz_identity_free(ops);
    mtlsauthz_identity_free(sre);
    mtlsauthz_identity_free(full);
}

Test(decide_keys, dn_and_issuer)
{
    mtlsauthz_identity *ops = ph_cert("ops");
    cr_assert(ph_selects("    dn: [\"CN=alice,OU=ops,O=Example Corp\"]\n", ops));
    cr_assert(!ph_selects("    dn: [\"CN=alice,OU=ops\"]\n", ops));
    cr_assert(ph_selects("    dn: [\"CN=alice,**\"]\n", ops));
    cr_assert(
        ph_selects("    issuer: [\"CN=mtlsauthz Test Intermediate CA,O=Example Corp\"]\n", ops));
    cr_assert(!ph_selects("    issuer: [\"CN=mtlsauthz Test Root CA,O=Example Corp\"]\n", ops));
    /* dn reads the subject, not the issuer. */
    cr_assert(!ph_selects("    dn: [\"CN=mtlsauthz Test Intermediate CA,O=Example Corp\"]\n", ops));
    mtlsauthz_identity_free(ops);
}

Test(decide_keys, dn_injection_is_not_a_match)
{
    /* A CN containing ",OU=ops" is escaped in the RFC 4514 string, so it cannot forge RDNs. */
    ph_ident *pi = ph_ident_new();
    pi->id.counts[MTLSAUTHZ_FIELD_SUBJECT_DN] = 0;
    ph_add(pi, MTLSAUTHZ_FIELD_SUBJECT_DN, "CN=alice\\,OU=ops,O=Example Corp");
    cr_assert(!ph_selects("    dn: [\"CN=alice,OU=ops,O=Example Corp\"]\n", &pi->id));
    cr_assert(ph_selects("    dn: ['CN=alice\\\\,OU=ops,O=Example Corp']\n", &pi->id));
    free(pi);
}

/* ---- wildcards in DNs and URIs stay inside one RDN, one URI component ---- */

/* 1 if a synthetic identity whose only value of `field` is `v` matches `selector`. */
static int one_value_selects(const char *selector, mtlsauthz_field field, const char *v)
{
    ph_ident *pi = ph_ident_new();
    int r;
    pi->id.counts[field] = 0;
    ph_add(pi, field, v);
    r = ph_selects(selector, &pi->id);
    free(pi);
    return r;
}

static int dn_selects(const char *selector, mtlsauthz_field field, const char *dn)
{
    return one_value_selects(selector, field, dn);
}

/* A requester who picks the CN must not pose as a member of an OU. With no OU and the CN
 * "mallory,OU=ops", the DN is `CN=mallory\,OU=ops,O=Example Corp`: a `*` that took "mallory\"
 * would leave the escaped comma to match the pattern's RDN separator. */
Test(decide_keys, dn_star_never_crosses_an_escaped_comma)
{
    static const char dn[] = "CN=mallory\\,OU=ops,O=Example Corp";
    const mtlsauthz_field s = MTLSAUTHZ_FIELD_SUBJECT_DN, i = MTLSAUTHZ_FIELD_ISSUER_DN;
    cr_assert(!dn_selects("    dn: [\"CN=*,OU=ops,O=Example Corp\"]\n", s, dn));
    cr_assert(!dn_selects("    issuer: [\"CN=*,OU=ops,O=Example Corp\"]\n", i, dn));
    cr_assert(!dn_selects("    dn: [\"**,OU=ops,O=Example Corp\"]\n", s, dn));
    cr_assert(!dn_selects("    dn: [\"CN=*,OU=*,O=Example Corp\"]\n", s, dn));
    /* The escaped comma belongs to the CN, so patterns for "any CN" still match it. */
    cr_assert(dn_selects("    dn: [\"CN=*,O=Example Corp\"]\n", s, dn));
    cr_assert(dn_selects("    issuer: [\"CN=*,O=Example Corp\"]\n", i, dn));
    cr_assert(dn_selects("    dn: [\"**,O=Example Corp\"]\n", s, dn));
    cr_assert(dn_selects("    dn: ['CN=*\\\\,OU=ops,O=Example Corp']\n", s, dn));
}

/* OpenSSL prints a multi-valued RDN with '+' between its attributes: `*` stops there too. */
Test(decide_keys, dn_star_never_crosses_a_multi_valued_rdn)
{
    const mtlsauthz_field s = MTLSAUTHZ_FIELD_SUBJECT_DN;
    cr_assert(!dn_selects("    dn: [\"CN=*,O=x\"]\n", s, "CN=a+OU=ops,O=x"));
    cr_assert(!dn_selects("    dn: [\"OU=ops+*,O=x\"]\n", s, "OU=ops+CN=a+CN=b,O=x"));
    cr_assert(dn_selects("    dn: [\"CN=*+OU=ops,O=x\"]\n", s, "CN=a+OU=ops,O=x"));
    cr_assert(dn_selects("    dn: [\"**,O=x\"]\n", s, "CN=a+OU=ops,O=x"));
    /* An escaped '+' is part of the value. */
    cr_assert(dn_selects("    dn: [\"CN=*,O=x\"]\n", s, "CN=a\\+OU=ops,O=x"));
}

/* The index's "prefix then `*`" proof must not claim what the matcher refuses. */
Test(decide_keys, dn_index_prefix_proof_respects_rdn_separators)
{
    const mtlsauthz_field s = MTLSAUTHZ_FIELD_SUBJECT_DN;
    cr_assert(!dn_selects("    dn: [\"CN=x*\"]\n", s, "CN=xa,O=y"));
    cr_assert(!dn_selects("    dn: [\"CN=x*\"]\n", s, "CN=xa+O=y"));
    cr_assert(dn_selects("    dn: [\"CN=x*\"]\n", s, "CN=xa\\,O=y"));
    cr_assert(!dn_selects("    dn: [\"*=x\"]\n", s, "O=y,CN=x"));
    cr_assert(dn_selects("    dn: [\"*=x\"]\n", s, "CN=x"));
}

/* A deny rule on "any CN in this O" must still catch a CN with escaped specials. */
Test(decide_keys, dn_deny_catches_escaped_specials)
{
    static const char policy[] = "version: 1\n"
                                 "principals:\n"
                                 "  - name: any-o\n"
                                 "    o: [\"*\"]\n"
                                 "  - name: corp\n"
                                 "    dn: [\"CN=*,O=Example Corp\"]\n"
                                 "rules:\n"
                                 "  - id: all\n"
                                 "    effect: allow\n"
                                 "    principals: [any-o]\n"
                                 "    operations: [\"**\"]\n"
                                 "  - id: no-corp\n"
                                 "    effect: deny\n"
                                 "    principals: [corp]\n"
                                 "    operations: [\"**\"]\n";
    static const char *const dns[] = {"CN=a\\,b,O=Example Corp", "CN=a\\+b,O=Example Corp",
                                      "CN=a\\\\,O=Example Corp", "CN=\\#a\\0A\\ ,O=Example Corp"};
    mtlsauthz_policy *p = ph_load(policy);
    for (size_t k = 0; k < MTLSAUTHZ__ARRAY_LEN(dns); k++) {
        ph_ident *pi = ph_ident_new();
        pi->id.counts[MTLSAUTHZ_FIELD_SUBJECT_DN] = 0;
        ph_add(pi, MTLSAUTHZ_FIELD_SUBJECT_DN, dns[k]);
        ph_add(pi, MTLSAUTHZ_FIELD_O, "Example Corp");
        ph_expect(p, &pi->id, "x", 0, MTLSAUTHZ_REASON_DENIED, "no-corp");
        free(pi);
    }
    mtlsauthz_policy_free(p);
}

static int uri_selects(const char *selector, const char *uri)
{
    return one_value_selects(selector, MTLSAUTHZ_FIELD_SAN_URI, uri);
}

/* `*` in a URI never leaves its component (RFC 3986 §3): not into the query, the fragment,
 * the userinfo, the port or the next path segment. */
Test(decide_keys, uri_star_stays_in_its_component)
{
    static const char star[] = "    uri: [\"https://*.example.com/deploy\"]\n";
    static const char starstar[] = "    uri: [\"https://**.example.com/deploy\"]\n";
    cr_assert(uri_selects(star, "https://a.example.com/deploy"));
    cr_assert(!uri_selects(star, "https://attacker.net?.example.com/deploy"));
    cr_assert(!uri_selects(star, "https://attacker.net#.example.com/deploy"));
    cr_assert(!uri_selects(star, "https://attacker.net@x.example.com/deploy"));
    cr_assert(!uri_selects(star, "https://attacker.net:1.example.com/deploy"));
    cr_assert(!uri_selects(star, "https://attacker.net/.example.com/deploy"));
    /* `**` crosses '/' (and ':'), never '?', '#' or '@'. */
    cr_assert(uri_selects(starstar, "https://a.b.example.com/deploy"));
    cr_assert(uri_selects(starstar, "https://attacker.net/.example.com/deploy"));
    cr_assert(!uri_selects(starstar, "https://attacker.net?.example.com/deploy"));
    cr_assert(!uri_selects(starstar, "https://attacker.net#.example.com/deploy"));
    cr_assert(!uri_selects(starstar, "https://attacker.net@x.example.com/deploy"));
    cr_assert(uri_selects("    uri: [\"https://**/deploy\"]\n", "https://h:8443/a/deploy"));
    /* The index's "prefix then `*`" and "prefix then `**`" proofs hold to the same rules. */
    cr_assert(!uri_selects("    uri: [\"https://h/*\"]\n", "https://h/a?b"));
    cr_assert(!uri_selects("    uri: [\"https://h/*\"]\n", "https://h/a:b"));
    cr_assert(uri_selects("    uri: [\"https://h/*\"]\n", "https://h/a"));
    cr_assert(!uri_selects("    uri: [\"https://h/**\"]\n", "https://h/a/b#c"));
    cr_assert(uri_selects("    uri: [\"https://h/**\"]\n", "https://h/a/b"));
    cr_assert(!uri_selects("    uri: [\"*/deploy\"]\n", "x?/deploy"));
}

Test(decide_keys, serial_and_sha256)
{
    mtlsauthz_identity *full = ph_cert("full"), *ops = ph_cert("ops");
    const char *sha;
    size_t len;
    char sel[256];
    cr_assert(ph_selects("    serial: [c0ffee0123456789abcdef]\n", full));
    cr_assert(!ph_selects("    serial: [c0ffee0123456789abcdef]\n", ops));
    cr_assert(!ph_selects("    serial: [c0ffee0123456789abcde]\n", full));
    cr_assert_eq(mtlsauthz_identity_get(&sha, &len, full, MTLSAUTHZ_FIELD_SHA256, 0), 0);
    snprintf(sel, sizeof(sel), "    sha256: [%s]\n", sha);
    cr_assert(ph_selects(sel, full));
    cr_assert(!ph_selects(sel, ops));
    mtlsauthz_identity_free(full);
    mtlsauthz_identity_free(ops);
}

Test(decide_keys, serial_negative_and_zero)
{
    ph_ident *pi = ph_ident_new();
    pi->id.counts[MTLSAUTHZ_FIELD_SERIAL] = 0;
    ph_add(pi, MTLSAUTHZ_FIELD_SERIAL, "-4bab9");
    cr_assert(ph_selects("    serial: [\"-4bab9\"]\n", &pi->id));
    cr_assert(!ph_selects("    serial: [4bab9]\n", &pi->id));
    free(pi);
}

Test(decide_keys, spiffe_reads_only_valid_svid)
{
    mtlsauthz_identity *b = ph_cert("builder"), *full = ph_cert("full");
    cr_assert(ph_selects("    spiffe: [\"spiffe://prod.example.com/ci/builder\"]\n", b));
    cr_assert(ph_selects("    spiffe: [\"spiffe://prod.example.com/**\"]\n", b));
    cr_assert(ph_selects("    spiffe: [\"spiffe://prod.example.com/*/builder\"]\n", b));
    cr_assert(!ph_selects("    spiffe: [\"spiffe://prod.example.com/*\"]\n", b));
    cr_assert(!ph_selects("    spiffe: [\"spiffe://prod.example.com/ci/build\"]\n", b));
    /* full has a non-SPIFFE URI: `spiffe` never reads other URIs. */
    cr_assert(!ph_selects("    spiffe: [\"spiffe://**\"]\n", full));
    mtlsauthz_identity_free(b);
    mtlsauthz_identity_free(full);
}

Test(decide_keys, spiffe_ignores_uri_san_without_valid_svid)
{
    /* A URI SAN that looks like SPIFFE but no SPIFFE_ID (e.g. a CA certificate): no match. */
    ph_ident *pi = ph_ident_new();
    ph_add(pi, MTLSAUTHZ_FIELD_SAN_URI, "spiffe://td/ns/web/x");
    cr_assert(!ph_selects("    spiffe: [\"spiffe://td/ns/web/x\"]\n", &pi->id));
    cr_assert(ph_selects("    uri: [\"spiffe://td/ns/web/x\"]\n", &pi->id));
    free(pi);
}

Test(decide_keys, uri)
{
    mtlsauthz_identity *full = ph_cert("full");
    cr_assert(ph_selects("    uri: [\"https://example.com/x\"]\n", full));
    cr_assert(ph_selects("    uri: [\"https://example.com/*\"]\n", full));
    cr_assert(!ph_selects("    uri: [\"https://*\"]\n", full)); /* '*' stops at '/' */
    cr_assert(ph_selects("    uri: [\"https://**\"]\n", full));
    cr_assert(!ph_selects("    uri: [\"https://EXAMPLE.com/x\"]\n", full)); /* byte for byte */
    mtlsauthz_identity_free(full);
}

Test(decide_keys, dns_case_insensitive_and_never_cn)
{
    mtlsauthz_identity *full = ph_cert("full");
    cr_assert(ph_selects("    dns: [web.example.com]\n", full));
    cr_assert(ph_selects("    dns: [api.example.com]\n", full)); /* SAN is API.Example.COM */
    cr_assert(ph_selects("    dns: [API.EXAMPLE.COM]\n", full));
    cr_assert(ph_selects("    dns: [\"*.EXAMPLE.com\"]\n", full));
    cr_assert(!ph_selects("    dns: [full.example.com]\n", full)); /* that is the CN */
    cr_assert(!ph_selects("    dns: [example.com]\n", full));
    mtlsauthz_identity_free(full);
}

Test(decide_keys, dns_wildcard_segment_boundaries)
{
    mtlsauthz_identity *w = ph_cert("dns-wild"); /* a.b.example.com and example.com */
    ph_ident *one = ph_ident_new();
    ph_add(one, MTLSAUTHZ_FIELD_SAN_DNS, "a.example.com");
    cr_assert(!ph_selects("    dns: [\"*.example.com\"]\n", w));
    cr_assert(ph_selects("    dns: [\"*.example.com\"]\n", &one->id));
    cr_assert(ph_selects("    dns: [\"**.example.com\"]\n", w));
    cr_assert(ph_selects("    dns: [\"*.b.example.com\"]\n", w));
    cr_assert(ph_selects("    dns: [example.com]\n", w));
    cr_assert(!ph_selects("    dns: [\"*example.com\"]\n", &one->id)); /* '*' cannot eat '.' */
    free(one);
    mtlsauthz_identity_free(w);
}

Test(decide_keys, email_local_part_case_sensitive_domain_not)
{
    mtlsauthz_identity *full = ph_cert("full"); /* SAN alice@Example.COM */
    cr_assert(ph_selects("    email: [alice@example.com]\n", full));
    cr_assert(ph_selects("    email: [alice@EXAMPLE.com]\n", full));
    cr_assert(!ph_selects("    email: [Alice@example.com]\n", full));
    cr_assert(ph_selects("    email: [\"*@example.com\"]\n", full));
    cr_assert(!ph_selects("    email: [\"*@example.org\"]\n", full));
    mtlsauthz_identity_free(full);
}

Test(decide_keys, email_never_reads_dn_email_address)
{
    ph_ident *pi = ph_ident_new();
    pi->id.counts[MTLSAUTHZ_FIELD_SUBJECT_DN] = 0;
    ph_add(pi, MTLSAUTHZ_FIELD_SUBJECT_DN, "emailAddress=alice@example.com,CN=x");
    cr_assert(!ph_selects("    email: [alice@example.com]\n", &pi->id));
    ph_add(pi, MTLSAUTHZ_FIELD_SAN_EMAIL, "Bob@Example.ORG");
    cr_assert(ph_selects("    email: [Bob@example.org]\n", &pi->id));
    cr_assert(!ph_selects("    email: [bob@example.org]\n", &pi->id));
    free(pi);
}

Test(decide_keys, ip_v4_v6_and_families_never_cross)
{
    mtlsauthz_identity *full = ph_cert("full"), *v6 = ph_cert("ipv6");
    cr_assert(ph_selects("    ip: [192.0.2.10]\n", full));
    cr_assert(ph_selects("    ip: [192.0.2.0/24]\n", full));
    cr_assert(ph_selects("    ip: [0.0.0.0/0]\n", full));
    cr_assert(!ph_selects("    ip: [192.0.3.0/24]\n", full));
    cr_assert(ph_selects("    ip: [\"2001:db8::/32\"]\n", full));
    cr_assert(ph_selects("    ip: [\"2001:db8::1\"]\n", full));
    cr_assert(!ph_selects("    ip: [\"2001:db9::/32\"]\n", full));
    /* ipv6 holds ::ffff:192.0.2.10 and no IPv4 SAN: a v4 block never matches it. */
    cr_assert(!ph_selects("    ip: [192.0.2.10]\n", v6));
    cr_assert(!ph_selects("    ip: [192.0.2.0/24]\n", v6));
    cr_assert(!ph_selects("    ip: [0.0.0.0/0]\n", v6));
    cr_assert(ph_selects("    ip: [\"::ffff:192.0.2.10\"]\n", v6));
    cr_assert(ph_selects("    ip: [\"::ffff:192.0.2.0/120\"]\n", v6));
    cr_assert(ph_selects("    ip: [\"fe80::/10\"]\n", v6));
    cr_assert(ph_selects("    ip: [\"::/0\"]\n", v6));
    mtlsauthz_identity_free(full);
    mtlsauthz_identity_free(v6);
}

Test(decide_keys, ip_v4_never_matches_v6_block)
{
    ph_ident *pi = ph_ident_new();
    ph_add_ip(pi, "10.1.2.3");
    cr_assert(ph_selects("    ip: [10.0.0.0/8]\n", &pi->id));
    cr_assert(!ph_selects("    ip: [\"::/0\"]\n", &pi->id));
    cr_assert(!ph_selects("    ip: [\"::ffff:10.0.0.0/104\"]\n", &pi->id));
    cr_assert(ph_selects("    ip: [10.1.2.2/31]\n", &pi->id));
    cr_assert(!ph_selects("    ip: [10.1.2.4/31]\n", &pi->id));
    free(pi);
}

Test(decide_keys, eku_all_listed_must_be_present)
{
    mtlsauthz_identity *full = ph_cert("full"), *b = ph_cert("builder"), *plain = ph_cert("plain");
    cr_assert(ph_selects("    eku: [clientAuth]\n", b));
    cr_assert(ph_selects("    eku: [clientAuth, serverAuth]\n", full));
    cr_assert(!ph_selects("    eku: [clientAuth, serverAuth]\n", b));
    cr_assert(ph_selects("    eku: [\"1.2.3.4.5\"]\n", full));
    cr_assert(ph_selects("    eku: [\"1.3.6.1.5.5.7.3.2\"]\n", b)); /* clientAuth by OID */
    cr_assert(!ph_selects("    eku: [clientAuth]\n", plain));       /* no extension */
    cr_assert(!ph_selects("    eku: [codeSigning]\n", full));
    mtlsauthz_identity_free(full);
    mtlsauthz_identity_free(b);
    mtlsauthz_identity_free(plain);
}

Test(decide_keys, any_eku_is_not_a_wildcard)
{
    ph_ident *pi = ph_ident_new();
    ph_add(pi, MTLSAUTHZ_FIELD_EKU, "2.5.29.37.0");
    cr_assert(!ph_selects("    eku: [clientAuth]\n", &pi->id));
    cr_assert(ph_selects("    eku: [\"2.5.29.37.0\"]\n", &pi->id));
    free(pi);
}

Test(decide_keys, multi_valued_field_any_value)
{
    mtlsauthz_identity *m = ph_cert("multi-ou"); /* zeta, alpha, mid, alpha */
    cr_assert(ph_selects("    ou: [mid]\n", m));
    cr_assert(ph_selects("    ou: [nope, zeta]\n", m));
    cr_assert(!ph_selects("    ou: [beta]\n", m));
    mtlsauthz_identity_free(m);
}

/* ---- pattern forms and pitfalls, through the engine ---- */

Test(decide_patterns, segment_boundary_web_vs_web_admin)
{
    mtlsauthz_policy *p = ph_load("version: 1\n"
                                  "principals:\n"
                                  "  - name: web\n"
                                  "    spiffe: [\"spiffe://td/ns/web/*\"]\n"
                                  "  - name: webish\n"
                                  "    spiffe: [\"spiffe://td/ns/web*/*\"]\n"
                                  "rules:\n"
                                  "  - id: web\n"
                                  "    effect: allow\n"
                                  "    principals: [web]\n"
                                  "    operations: [\"web:*\"]\n"
                                  "  - id: webish\n"
                                  "    effect: allow\n"
                                  "    principals: [webish]\n"
                                  "    operations: [\"webish:*\"]\n");
    mtlsauthz_identity *web = ph_cert("web"), *admin = ph_cert("web-admin");
    ph_allow(p, web, "web:x", "web");
    ph_no_match(p, admin, "web:x");
    ph_allow(p, admin, "webish:x", "webish");
    ph_no_match(p, web, "webish:x"); /* '*' needs at least one byte after "web" */
    mtlsauthz_identity_free(web);
    mtlsauthz_identity_free(admin);
    mtlsauthz_policy_free(p);
}

Test(decide_patterns, operation_forms)
{
    mtlsauthz_policy *p = ph_load("version: 1\n"
                                  "principals:\n"
                                  "  - name: b\n"
                                  "    cn: [builder]\n"
                                  "rules:\n"
                                  "  - id: star\n"
                                  "    effect: allow\n"
                                  "    principals: [b]\n"
                                  "    operations: [\"GET /a/*\"]\n"
                                  "  - id: starstar\n"
                                  "    effect: allow\n"
                                  "    principals: [b]\n"
                                  "    operations: [\"GET /b/**\"]\n"
                                  "  - id: escaped\n"
                                  "    effect: allow\n"
                                  "    principals: [b]\n"
                                  "    operations: [\"lit:\\\\*\\\\{x}\\\\\\\\\"]\n"
                                  "  - id: mid\n"
                                  "    effect: allow\n"
                                  "    principals: [b]\n"
                                  "    operations: [\"POST /containers/*/exec\"]\n");
    mtlsauthz_identity *b = ph_cert("builder");
    ph_allow(p, b, "GET /a/x", "star");
    ph_no_match(p, b, "GET /a/x/y");
    ph_no_match(p, b, "GET /a/");
    ph_allow(p, b, "GET /b/x/y/z", "starstar");
    ph_no_match(p, b, "GET /b/");
    ph_no_match(p, b, "GET /b");
    ph_allow(p, b, "lit:*{x}\\", "escaped");
    ph_no_match(p, b, "lit:a{x}\\");
    ph_allow(p, b, "POST /containers/abc/exec", "mid");
    ph_no_match(p, b, "POST /containers/a/b/exec");
    ph_no_match(p, b, "POST /containers//exec");
    mtlsauthz_identity_free(b);
    mtlsauthz_policy_free(p);
}

Test(decide_patterns, operation_case_is_exact)
{
    mtlsauthz_policy *p = ph_load(issue_policy);
    mtlsauthz_identity *ops = ph_cert("ops"), *b = ph_cert("builder");
    ph_no_match(p, ops, "get /containers");
    ph_no_match(p, b, "Images:build");
    /* A deny on host:** is not dodged by case: it simply does not match, and nothing allows. */
    ph_no_match(p, b, "HOST:x");
    mtlsauthz_identity_free(ops);
    mtlsauthz_identity_free(b);
    mtlsauthz_policy_free(p);
}

/* ---- captures ---- */

static const char tenant_policy[] =
    "version: 1\n"
    "principals:\n"
    "  - name: tenant\n"
    "    spiffe: [\"spiffe://prod.example.com/tenant/{tenant}/*\"]\n"
    "  - name: builder\n"
    "    spiffe: [\"spiffe://prod.example.com/ci/builder\"]\n"
    "  - name: acme-org\n"
    "    o: [Acme]\n"
    "  - name: tenant-web\n"
    "    spiffe: [\"spiffe://prod.example.com/tenant/{tenant}/web\"]\n"
    "  - name: twice\n"
    "    spiffe: [\"spiffe://prod.example.com/tenant/{tenant}/*\"]\n"
    "    o: [\"{tenant}\"]\n"
    "rules:\n"
    "  - id: tenant-data\n"
    "    effect: allow\n"
    "    principals: [tenant]\n"
    "    operations: [\"GET /tenants/{tenant}/**\"]\n"
    "  - id: mixed\n"
    "    effect: allow\n"
    "    principals: [builder, tenant]\n"
    "    operations: [\"PUT /tenants/{tenant}/x\", \"PUT /shared\"]\n"
    "  - id: only-nonbinding-matches\n"
    "    effect: allow\n"
    "    principals: [acme-org, tenant-web]\n"
    "    operations: [\"POST /tenants/{tenant}/y\", \"POST /org\"]\n"
    "  - id: same-twice\n"
    "    effect: allow\n"
    "    principals: [tenant]\n"
    "    operations: [\"COPY /{tenant}/{tenant}\"]\n"
    "  - id: consistent\n"
    "    effect: allow\n"
    "    principals: [twice]\n"
    "    operations: [\"TWICE /{tenant}\", \"TWICE-ANY\"]\n";

Test(decide_captures, tenant_isolation)
{
    mtlsauthz_policy *p = ph_load(tenant_policy);
    mtlsauthz_identity *acme = ph_cert("tenant-acme"), *globex = ph_cert("tenant-globex");
    ph_allow(p, acme, "GET /tenants/acme/x", "tenant-data");
    ph_allow(p, acme, "GET /tenants/acme/x/y", "tenant-data");
    ph_no_match(p, acme, "GET /tenants/globex/x");
    ph_no_match(p, acme, "GET /tenants/acmex/x");
    ph_no_match(p, acme, "GET /tenants/acm/x");
    ph_allow(p, globex, "GET /tenants/globex/x", "tenant-data");
    ph_no_match(p, globex, "GET /tenants/acme/x");
    mtlsauthz_identity_free(acme);
    mtlsauthz_identity_free(globex);
    mtlsauthz_policy_free(p);
}

Test(decide_captures, principal_that_binds_nothing)
{
    mtlsauthz_policy *p = ph_load(tenant_policy);
    mtlsauthz_identity *b = ph_cert("builder"), *acme = ph_cert("tenant-acme");
    /* builder matches `mixed` but binds no {tenant}: the capture operation cannot match... */
    ph_no_match(p, b, "PUT /tenants/acme/x");
    ph_no_match(p, b, "PUT /tenants/builder/x");
    /* ...while the rule's capture-free operation does. */
    ph_allow(p, b, "PUT /shared", "mixed");
    /* Through `tenant`, the same rule binds acme. */
    ph_allow(p, acme, "PUT /tenants/acme/x", "mixed");
    ph_no_match(p, acme, "PUT /tenants/globex/x");
    mtlsauthz_identity_free(b);
    mtlsauthz_identity_free(acme);
    mtlsauthz_policy_free(p);
}

Test(decide_captures, matched_only_through_nonbinding_principal)
{
    mtlsauthz_policy *p = ph_load(tenant_policy);
    mtlsauthz_identity *acme = ph_cert("tenant-acme"); /* O=Acme; SPIFFE .../acme/api */
    /* acme matches acme-org (binds nothing), not tenant-web (.../web): no binding exists. */
    ph_no_match(p, acme, "POST /tenants/acme/y");
    ph_allow(p, acme, "POST /org", "only-nonbinding-matches");
    mtlsauthz_identity_free(acme);
    mtlsauthz_policy_free(p);
}

Test(decide_captures, same_name_twice_must_agree)
{
    mtlsauthz_policy *p = ph_load(tenant_policy);
    mtlsauthz_identity *acme = ph_cert("tenant-acme");
    ph_allow(p, acme, "COPY /acme/acme", "same-twice");
    ph_no_match(p, acme, "COPY /acme/globex");
    ph_no_match(p, acme, "COPY /globex/acme");
    mtlsauthz_identity_free(acme);
    mtlsauthz_policy_free(p);
}

Test(decide_captures, bindings_across_keys_must_be_consistent)
{
    mtlsauthz_policy *p = ph_load(tenant_policy);
    mtlsauthz_identity *acme = ph_cert("tenant-acme"); /* O=Acme vs "acme" in the SPIFFE ID */
    /* `twice` matches (every key does) but binds tenant=acme and tenant=Acme: inconsistent. */
    ph_allow(p, acme, "TWICE-ANY", "consistent");
    ph_no_match(p, acme, "TWICE /acme");
    ph_no_match(p, acme, "TWICE /Acme");
    mtlsauthz_identity_free(acme);
    mtlsauthz_policy_free(p);
}

Test(decide_captures, consistent_across_keys)
{
    mtlsauthz_policy *p = ph_load(tenant_policy);
    ph_ident *pi = ph_ident_new();
    ph_add(pi, MTLSAUTHZ_FIELD_SPIFFE_ID, "spiffe://prod.example.com/tenant/acme/api");
    ph_add(pi, MTLSAUTHZ_FIELD_SAN_URI, "spiffe://prod.example.com/tenant/acme/api");
    ph_add(pi, MTLSAUTHZ_FIELD_O, "globex");
    ph_add(pi, MTLSAUTHZ_FIELD_O, "acme");
    ph_allow(p, &pi->id, "TWICE /acme", "consistent");
    ph_no_match(p, &pi->id, "TWICE /globex");
    free(pi);
    mtlsauthz_policy_free(p);
}

Test(decide_captures, several_candidate_bindings_and_case_folding)
{
    mtlsauthz_policy *p = ph_load("version: 1\n"
                                  "principals:\n"
                                  "  - name: sub\n"
                                  "    dns: [\"{sub}.example.com\"]\n"
                                  "  - name: mail\n"
                                  "    email: [\"{user}@{dom}.com\"]\n"
                                  "rules:\n"
                                  "  - id: sub\n"
                                  "    effect: allow\n"
                                  "    principals: [sub]\n"
                                  "    operations: [\"GET /{sub}\"]\n"
                                  "  - id: mail\n"
                                  "    effect: allow\n"
                                  "    principals: [mail]\n"
                                  "    operations: [\"MAIL /{user}/{dom}\"]\n");
    mtlsauthz_identity *full = ph_cert("full"); /* web.example.com, API.Example.COM */
    ph_allow(p, full, "GET /web", "sub");
    ph_allow(p, full, "GET /api", "sub"); /* captured from a DNS name: lowercased */
    ph_no_match(p, full, "GET /API");
    ph_no_match(p, full, "GET /full");
    /* alice@Example.COM: the local part keeps its case, the domain is folded. */
    ph_allow(p, full, "MAIL /alice/example", "mail");
    ph_no_match(p, full, "MAIL /alice/Example");
    mtlsauthz_identity_free(full);
    mtlsauthz_policy_free(p);
}

Test(decide_captures, star_principal_binds_nothing)
{
    mtlsauthz_policy *p = ph_load("version: 1\n"
                                  "principals:\n"
                                  "  - name: tenant\n"
                                  "    spiffe: [\"spiffe://prod.example.com/tenant/{tenant}/*\"]\n"
                                  "rules:\n"
                                  "  - id: r\n"
                                  "    effect: allow\n"
                                  "    principals: [\"*\", tenant]\n"
                                  "    operations: [\"GET /t/{tenant}\"]\n");
    mtlsauthz_identity *acme = ph_cert("tenant-acme"), *b = ph_cert("builder");
    ph_allow(p, acme, "GET /t/acme", "r");
    ph_no_match(p, acme, "GET /t/globex");
    ph_no_match(p, b, "GET /t/builder"); /* matched only through "*" */
    mtlsauthz_identity_free(acme);
    mtlsauthz_identity_free(b);
    mtlsauthz_policy_free(p);
}

Test(decide_captures, too_many_bindings_fail_closed)
{
    mtlsauthz_policy *p = ph_load("version: 1\n"
                                  "principals:\n"
                                  "  - name: h\n"
                                  "    dns: [\"{h}.example.com\"]\n"
                                  "rules:\n"
                                  "  - id: h\n"
                                  "    effect: allow\n"
                                  "    principals: [h]\n"
                                  "    operations: [\"GET /{h}\", \"GET /any\"]\n");
    ph_ident *pi = ph_ident_new();
    mtlsauthz_peer *peer = NULL;
    mtlsauthz_decision d;
    mtlsauthz_error err;
    char name[64];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "h%d.example.com", i);
        ph_add(pi, MTLSAUTHZ_FIELD_SAN_DNS, name);
    }
    cr_assert_eq(mtlsauthz_peer_new(&peer, p, &pi->id, &err), 0);
    /* Every decision of this peer is deny/error, even one that needs no capture. */
    cr_assert_eq(mtlsauthz_peer_decide(&d, peer, "GET /any", 8, &err), MTLSAUTHZ_ELIMIT);
    cr_assert_eq(d.allowed, 0);
    cr_assert_eq(d.reason, MTLSAUTHZ_REASON_ERROR);
    cr_assert_eq(mtlsauthz_peer_decide(&d, peer, "GET /h1", 7, &err), MTLSAUTHZ_ELIMIT);
    cr_assert_eq(d.allowed, 0);
    mtlsauthz_peer_free(peer);
    /* Within the cap it works. */
    pi->id.counts[MTLSAUTHZ_FIELD_SAN_DNS] = 10;
    ph_allow(p, &pi->id, "GET /h9", "h");
    ph_no_match(p, &pi->id, "GET /h10");
    free(pi);
    mtlsauthz_policy_free(p);
}

/* ---- captures in deny rules fail closed ----
 * A deny applies when ANY value a matched principal of the rule binds agrees with the
 * operation, consistent or not, and as a wildcard where the principal matched without binding
 * the name: missing or disagreeing bindings never let a request past a deny
 * (docs/policy.md, "Captures"). */

static const char deny_capture_policy[] =
    "version: 1\n"
    "principals:\n"
    "  - name: twice\n"
    "    spiffe: [\"spiffe://prod.example.com/tenant/{t}/*\"]\n"
    "    o: [\"{t}\"]\n"
    "  - name: tenant-or-ci\n"
    "    spiffe: [\"spiffe://prod.example.com/tenant/{t}/api\", "
    "\"spiffe://prod.example.com/ci/*\"]\n"
    "  - name: ops\n"
    "    ou: [ops]\n"
    "rules:\n"
    "  - id: all-tenants\n"
    "    effect: allow\n"
    "    principals: [twice, tenant-or-ci, ops]\n"
    "    operations: [\"* /tenants/**\"]\n"
    "  - id: no-self-delete\n"
    "    effect: deny\n"
    "    principals: [twice]\n"
    "    operations: [\"DELETE /tenants/{t}/**\"]\n"
    "  - id: no-own-secret\n"
    "    effect: deny\n"
    "    principals: [tenant-or-ci, ops]\n"
    "    operations: [\"GET /tenants/{t}/secret\"]\n"
    "  - id: watch-self\n"
    "    effect: deny\n"
    "    mode: dry-run\n"
    "    principals: [twice]\n"
    "    operations: [\"PUT /tenants/{t}/x\"]\n";

Test(decide_captures, deny_applies_to_any_binding_when_keys_disagree)
{
    mtlsauthz_policy *p = ph_load(deny_capture_policy);
    mtlsauthz_identity *acme = ph_cert("tenant-acme"); /* SPIFFE .../acme/api, O=Acme */
    /* `twice` binds t=acme (SPIFFE) and t=Acme (O): no consistent tuple, but the deny holds
     * for both values. */
    ph_expect(p, acme, "DELETE /tenants/acme/x", 0, MTLSAUTHZ_REASON_DENIED, "no-self-delete");
    ph_expect(p, acme, "DELETE /tenants/Acme/x", 0, MTLSAUTHZ_REASON_DENIED, "no-self-delete");
    /* A value nothing binds is not denied by it; the allow still applies. */
    ph_allow(p, acme, "DELETE /tenants/globex/x", "all-tenants");
    ph_allow(p, acme, "GET /tenants/acme/x", "all-tenants");
    mtlsauthz_identity_free(acme);
    mtlsauthz_policy_free(p);
}

Test(decide_captures, deny_binding_consistent_keys)
{
    mtlsauthz_policy *p = ph_load(deny_capture_policy);
    ph_ident *pi = ph_ident_new();
    ph_add(pi, MTLSAUTHZ_FIELD_SPIFFE_ID, "spiffe://prod.example.com/tenant/acme/api");
    ph_add(pi, MTLSAUTHZ_FIELD_SAN_URI, "spiffe://prod.example.com/tenant/acme/api");
    ph_add(pi, MTLSAUTHZ_FIELD_O, "acme");
    ph_expect(p, &pi->id, "DELETE /tenants/acme/x", 0, MTLSAUTHZ_REASON_DENIED, "no-self-delete");
    ph_allow(p, &pi->id, "DELETE /tenants/initech/x", "all-tenants");
    free(pi);
    mtlsauthz_policy_free(p);
}

Test(decide_captures, deny_unbound_capture_is_a_wildcard)
{
    mtlsauthz_policy *p = ph_load(deny_capture_policy);
    mtlsauthz_identity *acme = ph_cert("tenant-acme"), *b = ph_cert("builder"),
                       *ops = ph_cert("ops");
    /* tenant-or-ci binds t=acme for the tenant... */
    ph_expect(p, acme, "GET /tenants/acme/secret", 0, MTLSAUTHZ_REASON_DENIED, "no-own-secret");
    ph_allow(p, acme, "GET /tenants/globex/secret", "all-tenants");
    /* ...but the builder matches it through the pattern without {t}, and ops binds nothing:
     * not knowing t, the deny holds for every value. */
    ph_expect(p, b, "GET /tenants/acme/secret", 0, MTLSAUTHZ_REASON_DENIED, "no-own-secret");
    ph_expect(p, b, "GET /tenants/x/secret", 0, MTLSAUTHZ_REASON_DENIED, "no-own-secret");
    ph_expect(p, ops, "GET /tenants/globex/secret", 0, MTLSAUTHZ_REASON_DENIED, "no-own-secret");
    ph_allow(p, ops, "GET /tenants/globex/public", "all-tenants");
    mtlsauthz_identity_free(acme);
    mtlsauthz_identity_free(b);
    mtlsauthz_identity_free(ops);
    mtlsauthz_policy_free(p);
}

/* A deny keeps every value its principal binds; past MTLSAUTHZ__PEER_MAX_TUPLES distinct ones
 * the peer fails closed, as it does when the tuples overflow (docs/limits.md). */
Test(decide_captures, deny_values_over_the_limit_fail_closed)
{
    mtlsauthz_policy *p = ph_load("version: 1\n"
                                  "principals:\n"
                                  "  - name: h\n"
                                  "    dns: [\"{h}.example.com\"]\n"
                                  "    uri: [\"https://{h}/\"]\n"
                                  "rules:\n"
                                  "  - {id: all, effect: allow, principals: [h], operations: "
                                  "[\"* /**\"]}\n"
                                  "  - {id: own, effect: deny, principals: [h], operations: "
                                  "[\"DELETE /{h}\"]}\n");
    ph_ident *pi = ph_ident_new();
    mtlsauthz_peer *peer = NULL;
    mtlsauthz_decision d;
    mtlsauthz_error err;
    char name[64];
    /* 33 DNS and 32 URI values, all distinct: no consistent tuple, 65 deny values. */
    for (int i = 0; i < 33; i++) {
        snprintf(name, sizeof(name), "d%d.example.com", i);
        ph_add(pi, MTLSAUTHZ_FIELD_SAN_DNS, name);
    }
    for (int i = 0; i < 32; i++) {
        snprintf(name, sizeof(name), "https://u%d/", i);
        ph_add(pi, MTLSAUTHZ_FIELD_SAN_URI, name);
    }
    cr_assert_eq(mtlsauthz_peer_new(&peer, p, &pi->id, &err), 0);
    cr_assert_eq(mtlsauthz_peer_decide(&d, peer, "GET /x", 6, &err), MTLSAUTHZ_ELIMIT);
    cr_assert_eq(d.allowed, 0);
    cr_assert_eq(d.reason, MTLSAUTHZ_REASON_ERROR);
    mtlsauthz_peer_free(peer);
    /* At the limit it works: the deny holds for each value, the allow for the rest. */
    pi->id.counts[MTLSAUTHZ_FIELD_SAN_DNS] = 32;
    ph_expect(p, &pi->id, "DELETE /d31", 0, MTLSAUTHZ_REASON_DENIED, "own");
    ph_expect(p, &pi->id, "DELETE /u0", 0, MTLSAUTHZ_REASON_DENIED, "own");
    ph_allow(p, &pi->id, "DELETE /d32", "all");
    ph_allow(p, &pi->id, "GET /x", "all");
    free(pi);
    mtlsauthz_policy_free(p);
}

Test(decide_captures, dry_run_deny_reports_any_binding)
{
    mtlsauthz_policy *p = ph_load(deny_capture_policy);
    mtlsauthz_identity *acme = ph_cert("tenant-acme");
    mtlsauthz_decision d;
    mtlsauthz_error err;
    cr_assert_eq(mtlsauthz_policy_decide(&d, p, acme, "PUT /tenants/Acme/x", 19, &err), 0);
    cr_assert_eq(d.allowed, 1);
    cr_assert_eq(d.dry_run_count, 1);
    cr_assert_str_eq(d.dry_run[0], "watch-self");
    mtlsauthz_identity_free(acme);
    mtlsauthz_policy_free(p);
}

/* ---- rejected and missing identities ---- */

static const char star_policy[] = "version: 1\n"
                                  "rules:\n"
                                  "  - id: all\n"
                                  "    effect: allow\n"
                                  "    principals: [\"*\"]\n"
                                  "    operations: [\"**\"]\n";

Test(decide_identity, rejected_denied_even_under_star)
{
    const char *names[] = {"nul-cn", "nul-dns", "spiffe-two-uri", "spiffe-upper-td", "spiffe-ca"};
    mtlsauthz_policy *p = ph_load(star_policy);
    mtlsauthz_identity *ok = ph_cert("plain");
    ph_allow(p, ok, "anything", "all");
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        mtlsauthz_identity *id = ph_cert(names[i]);
        cr_assert_not_null(mtlsauthz_identity_rejected(id), "%s should be rejected", names[i]);
        ph_expect(p, id, "anything", 0, MTLSAUTHZ_REASON_IDENTITY_REJECTED, NULL);
        mtlsauthz_identity_free(id);
    }
    mtlsauthz_identity_free(ok);
    mtlsauthz_policy_free(p);
}

Test(decide_identity, rejected_cannot_dodge_deny)
{
    /* nul-cn's CN is "admin\0.evil.com": were it not rejected, a deny on cn "admin" would be
     * dodged while the "*" allow still matched. */
    mtlsauthz_policy *p = ph_load("version: 1\n"
                                  "principals:\n"
                                  "  - name: admin\n"
                                  "    cn: [admin]\n"
                                  "rules:\n"
                                  "  - id: no-admin\n"
                                  "    effect: deny\n"
                                  "    principals: [admin]\n"
                                  "    operations: [\"**\"]\n"
                                  "  - id: all\n"
                                  "    effect: allow\n"
                                  "    principals: [\"*\"]\n"
                                  "    operations: [\"**\"]\n");
    mtlsauthz_identity *id = ph_cert("nul-cn");
    ph_expect(p, id, "x", 0, MTLSAUTHZ_REASON_IDENTITY_REJECTED, NULL);
    mtlsauthz_identity_free(id);
    mtlsauthz_policy_free(p);
}

Test(decide_identity, synthetic_rejected)
{
    mtlsauthz_policy *p = ph_load(star_policy);
    ph_ident *pi = ph_ident_new();
    ph_allow(p, &pi->id, "x", "all");
    pi->id.rejected = "NUL byte in subject CN";
    ph_expect(p, &pi->id, "x", 0, MTLSAUTHZ_REASON_IDENTITY_REJECTED, NULL);
    free(pi);
    mtlsauthz_policy_free(p);
}

Test(decide_identity, no_identity)
{
    mtlsauthz_policy *p = ph_load(star_policy);
    mtlsauthz_peer *peer = NULL;
    mtlsauthz_decision d;
    ph_expect(p, NULL, "x", 0, MTLSAUTHZ_REASON_NO_IDENTITY, NULL);
    cr_assert_eq(mtlsauthz_peer_new(&peer, p, NULL, NULL), 0);
    cr_assert_eq(mtlsauthz_peer_decide(&d, peer, "x", 1, NULL), 0);
    cr_assert_eq(d.allowed, 0);
    cr_assert_eq(d.reason, MTLSAUTHZ_REASON_NO_IDENTITY);
    mtlsauthz_peer_free(peer);
    mtlsauthz_policy_free(p);
}

/* ---- operations ---- */

Test(decide_operation, nul_byte_refused)
{
    mtlsauthz_policy *p = ph_load(star_policy);
    mtlsauthz_identity *id = ph_cert("plain");
    mtlsauthz_decision d;
    mtlsauthz_error err;
    int rc = mtlsauthz_policy_decide(&d, p, id, "GET /a\0b", 8, &err);
    cr_assert_eq(rc, MTLSAUTHZ_EOPERATION);
    cr_assert_eq(d.allowed, 0);
    cr_assert_eq(d.reason, MTLSAUTHZ_REASON_ERROR);
    cr_assert_null(d.rule);
    rc = mtlsauthz_policy_decide(&d, p, id, "\0", 1, &err);
    cr_assert_eq(rc, MTLSAUTHZ_EOPERATION);
    cr_assert_eq(d.allowed, 0);
    mtlsauthz_identity_free(id);
    mtlsauthz_policy_free(p);
}

Test(decide_operation, length_limit)
{
    mtlsauthz_policy *p = ph_load(star_policy);
    mtlsauthz_identity *id = ph_cert("plain");
    mtlsauthz_decision d;
    mtlsauthz_error err;
    char *op = malloc(MTLSAUTHZ__OP_MAX_LEN + 1);
    memset(op, 'a', MTLSAUTHZ__OP_MAX_LEN + 1);
    cr_assert_eq(mtlsauthz_policy_decide(&d, p, id, op, MTLSAUTHZ__OP_MAX_LEN, &err), 0);
    cr_assert_eq(d.allowed, 1);
    cr_assert_eq(mtlsauthz_policy_decide(&d, p, id, op, MTLSAUTHZ__OP_MAX_LEN + 1, &err),
                 MTLSAUTHZ_ELIMIT);
    cr_assert_eq(d.allowed, 0);
    cr_assert_eq(d.reason, MTLSAUTHZ_REASON_ERROR);
    free(op);
    mtlsauthz_identity_free(id);
    mtlsauthz_policy_free(p);
}

Test(decide_operation, bad_arguments)
{
    mtlsauthz_policy *p = ph_load(star_policy);
    mtlsauthz_identity *id = ph_cert("plain");
    mtlsauthz_decision d;
    mtlsauthz_peer *peer = NULL;
    d.allowed = 1;
    cr_assert_eq(mtlsauthz_policy_decide(&d, p, id, NULL, 3, NULL), MTLSAUTHZ_EINVAL);
    cr_assert_eq(d.allowed, 0);
    d.allowed = 1;
    cr_assert_eq(mtlsauthz_policy_decide(&d, NULL, id, "x", 1, NULL), MTLSAUTHZ_EINVAL);
    cr_assert_eq(d.allowed, 0);
    cr_assert_eq(mtlsauthz_peer_decide(&d, NULL, "x", 1, NULL), MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_policy_decide(NULL, p, id, "x", 1, NULL), MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_peer_new(NULL, p, id, NULL), MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_peer_new(&peer, NULL, id, NULL), MTLSAUTHZ_EINVAL);
    cr_assert_null(peer);
    /* The empty operation is a valid input (and matches nothing here but "**" needs 1+). */
    ph_no_match(p, id, "");
    mtlsauthz_peer_free(NULL);
    mtlsauthz_identity_free(id);
    mtlsauthz_policy_free(p);
}

/* ---- reference counting and the per-connection split ---- */

Test(decide_refcount, peer_outlives_policy_reference)
{
    mtlsauthz_policy *p = ph_load(issue_policy);
    mtlsauthz_identity *b = ph_cert("builder");
    mtlsauthz_peer *peer = NULL;
    mtlsauthz_decision d;
    cr_assert_eq(mtlsauthz_peer_new(&peer, p, b, NULL), 0);
    cr_assert_eq(mtlsauthz_peer_policy(peer), p);
    /* The identity and the caller's only policy reference go away; the peer still works. */
    mtlsauthz_identity_free(b);
    mtlsauthz_policy_free(p);
    cr_assert_eq(mtlsauthz_peer_decide(&d, peer, "images:push", 11, NULL), 0);
    cr_assert_eq(d.allowed, 1);
    cr_assert_str_eq(d.rule, "build");
    cr_assert_str_eq(d.dry_run[0], "watch-push");
    mtlsauthz_peer_free(peer); /* frees the policy (valgrind checks) */
}

Test(decide_refcount, ref_and_free)
{
    mtlsauthz_policy *p = ph_load(star_policy);
    cr_assert_eq(mtlsauthz_policy_ref(p), p);
    mtlsauthz_policy_free(p);
    cr_assert_eq(mtlsauthz_policy_rule_count(p), 1); /* still alive: one reference left */
    mtlsauthz_policy_free(p);
    cr_assert_null(mtlsauthz_policy_ref(NULL));
    mtlsauthz_policy_free(NULL);
    cr_assert_eq(mtlsauthz_policy_rule_count(NULL), 0);
}

static void same_decision(mtlsauthz_policy *p, const mtlsauthz_identity *id, const char *op)
{
    mtlsauthz_peer *peer = NULL;
    mtlsauthz_decision a, b;
    int ra, rb;
    cr_assert_eq(mtlsauthz_peer_new(&peer, p, id, NULL), 0);
    ra = mtlsauthz_peer_decide(&a, peer, op, strlen(op), NULL);
    rb = mtlsauthz_policy_decide(&b, p, id, op, strlen(op), NULL);
    cr_assert_eq(ra, rb);
    cr_assert_eq(a.allowed, b.allowed, "%s", op);
    cr_assert_eq(a.reason, b.reason);
    cr_assert((a.rule == NULL && b.rule == NULL) ||
              (a.rule != NULL && b.rule != NULL && strcmp(a.rule, b.rule) == 0));
    cr_assert_eq(a.dry_run_count, b.dry_run_count);
    mtlsauthz_peer_free(peer);
}

Test(decide_split, peer_decide_equals_policy_decide)
{
    const char *certs[] = {"builder",       "builder-noeku", "ops",  "sre",   "tenant-acme",
                           "tenant-globex", "plain",         "full", "nul-cn"};
    const char *ops[] = {"images:build",
                         "images:push",
                         "GET /containers",
                         "GET /tenants/acme/x",
                         "GET /tenants/globex/x",
                         "GET /healthz",
                         "host:x",
                         "nothing",
                         ""};
    mtlsauthz_policy *p = ph_load(issue_policy);
    for (size_t i = 0; i < sizeof(certs) / sizeof(certs[0]); i++) {
        mtlsauthz_identity *id = ph_cert(certs[i]);
        for (size_t j = 0; j < sizeof(ops) / sizeof(ops[0]); j++) {
            same_decision(p, id, ops[j]);
        }
        mtlsauthz_identity_free(id);
    }
    same_decision(p, NULL, "GET /healthz");
    mtlsauthz_policy_free(p);
}

typedef struct thread_arg {
    mtlsauthz_peer *peer;
    int ok;
} thread_arg;

static void *decide_thread(void *v)
{
    thread_arg *a = v;
    a->ok = 1;
    for (int i = 0; i < 20000; i++) {
        mtlsauthz_decision d;
        if (mtlsauthz_peer_decide(&d, a->peer, "images:build", 12, NULL) != 0 || !d.allowed) {
            a->ok = 0;
        }
        if (mtlsauthz_peer_decide(&d, a->peer, "host:x", 6, NULL) != 0 || d.allowed) {
            a->ok = 0;
        }
    }
    return NULL;
}

Test(decide_split, shared_peer_across_threads)
{
    mtlsauthz_policy *p = ph_load(issue_policy);
    mtlsauthz_identity *b = ph_cert("builder");
    mtlsauthz_peer *peer = NULL;
    pthread_t t[4];
    thread_arg args[4];
    cr_assert_eq(mtlsauthz_peer_new(&peer, p, b, NULL), 0);
    for (int i = 0; i < 4; i++) {
        args[i].peer = peer;
        cr_assert_eq(pthread_create(&t[i], NULL, decide_thread, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert(args[i].ok);
    }
    mtlsauthz_peer_free(peer);
    mtlsauthz_identity_free(b);
    mtlsauthz_policy_free(p);
}

/* ---- the index agrees with a full scan ---- */

Test(decide_index, resolution_matches_full_scan)
{
    /* Many principals of every indexable shape (exact, prefix, suffix, power-of-two prefix,
     * fallback), and identities that hit, nearly hit and miss them. The peer's matched set,
     * found through the index, must equal a scan of every principal. */
    static const char *shapes[] = {
        "    spiffe: [\"spiffe://td%d/ns/s%d\"]\n",
        "    spiffe: [\"spiffe://td%d/ns/*\"]\n    cn: [\"c%d\"]\n",
        "    spiffe: [\"spiffe://td%d/**\"]\n    o: [\"o%d\"]\n",
        "    dns: [\"*.d%d.example.com\"]\n    ou: [\"u%d\"]\n",
        "    cn: [\"name-%d-*\"]\n    o: [\"o%d\"]\n",
        "    cn: [\"*-tail%d\"]\n    ou: [\"u%d\"]\n",
        "    ip: [\"10.%d.0.0/16\"]\n    o: [\"o%d\"]\n",
        "    uri: [\"**\"]\n    o: [\"o%d-%d\"]\n",
        "    eku: [clientAuth]\n    serial: [\"f%x%x\"]\n",
        "    email: [\"u%d@D%d.example.com\"]\n",
        /* Single-key principals whose index hit alone decides (no verification). */
        "    spiffe: [\"spiffe://td%d/ns/*\"]\n",
        "    dns: [\"*.d%d.example.com\"]\n",
        "    spiffe: [\"spiffe://td%d/**\"]\n",
        "    cn: [\"nm%d-*\"]\n",
        "    uri: [\"**/s%d\"]\n",
        "    email: [\"*@d%d.example.com\"]\n",
        /* The same, for the wildcard classes of uri and dn: the proof must be the matcher's. */
        "    uri: [\"https://h%d/*\"]\n",
        "    uri: [\"*/u%d\"]\n",
        "    dn: [\"CN=%d*\"]\n",
        "    dn: [\"*,O=%d\"]\n",
    };
    enum { NSHAPES = sizeof(shapes) / sizeof(shapes[0]) };
    size_t cap = 1u << 20, off = 0;
    char *yaml = malloc(cap);
    const int n = 400;
    unsigned total = 0, shape_hits[NSHAPES] = {0};
    mtlsauthz_policy *p;

    off += (size_t)snprintf(yaml + off, cap - off, "version: 1\nprincipals:\n");
    for (int i = 0; i < n; i++) {
        char line[256];
        snprintf(line, sizeof(line), shapes[i % NSHAPES], i % 7, i + 1);
        off += (size_t)snprintf(yaml + off, cap - off, "  - name: p%d\n%s", i, line);
    }
    off += (size_t)snprintf(yaml + off, cap - off, "rules:\n");
    for (int i = 0; i < n; i++) {
        off += (size_t)snprintf(yaml + off, cap - off,
                                "  - id: r%d\n    effect: allow\n    principals: [p%d]\n"
                                "    operations: [\"op%d\"]\n",
                                i, i, i);
    }
    p = ph_load(yaml);
    free(yaml);
    for (int t = 0; t < 300; t++) {
        ph_ident *pi = ph_ident_new();
        mtlsauthz_peer *peer = NULL;
        mtlsauthz__folded f;
        char v[128];
        unsigned m = 0, expected = 0;
        int td = t % 7, k = t;
        snprintf(v, sizeof(v), t % 3 ? "spiffe://td%d/ns/s%d" : "spiffe://td%d/ns/s%d/x", td,
                 k + 1);
        ph_add(pi, MTLSAUTHZ_FIELD_SPIFFE_ID, v);
        ph_add(pi, MTLSAUTHZ_FIELD_SAN_URI, v);
        snprintf(v, sizeof(v), "c%d", k + 1);
        ph_add(pi, MTLSAUTHZ_FIELD_CN, v);
        snprintf(v, sizeof(v), "name-%d-x", k % 50);
        ph_add(pi, MTLSAUTHZ_FIELD_CN, v);
        snprintf(v, sizeof(v), "x-tail%d", k % 60);
        ph_add(pi, MTLSAUTHZ_FIELD_CN, v);
        snprintf(v, sizeof(v), "o%d", k + 1);
        ph_add(pi, MTLSAUTHZ_FIELD_O, v);
        snprintf(v, sizeof(v), "o%d-%d", td, k + 1);
        ph_add(pi, MTLSAUTHZ_FIELD_O, v);
        snprintf(v, sizeof(v), "u%d", k + 1);
        ph_add(pi, MTLSAUTHZ_FIELD_OU, v);
        snprintf(v, sizeof(v), "h.D%d.Example.com", td);
        ph_add(pi, MTLSAUTHZ_FIELD_SAN_DNS, v);
        snprintf(v, sizeof(v), "a.b.d%d.example.com", (td + 1) % 7); /* two labels: '*' no */
        ph_add(pi, MTLSAUTHZ_FIELD_SAN_DNS, v);
        snprintf(v, sizeof(v), "nm%d-x", (k / 3) % 7);
        ph_add(pi, MTLSAUTHZ_FIELD_CN, v);
        snprintf(v, sizeof(v), "u%d@d%d.EXAMPLE.com", td, k + 1);
        ph_add(pi, MTLSAUTHZ_FIELD_SAN_EMAIL, v);
        snprintf(v, sizeof(v), "10.%d.1.2", td);
        ph_add_ip(pi, v);
        snprintf(v, sizeof(v), "https://h%d/a", td);
        ph_add(pi, MTLSAUTHZ_FIELD_SAN_URI, v);
        snprintf(v, sizeof(v), "https://h%d/a?b", (td + 1) % 7); /* `*` stops at '?' */
        ph_add(pi, MTLSAUTHZ_FIELD_SAN_URI, v);
        snprintf(v, sizeof(v), t % 2 ? "x/u%d" : "x:/u%d", k + 1);
        ph_add(pi, MTLSAUTHZ_FIELD_SAN_URI, v);
        /* One RDN, two RDNs, or one RDN whose value holds an escaped ",O=". */
        pi->id.counts[MTLSAUTHZ_FIELD_SUBJECT_DN] = 0;
        snprintf(v, sizeof(v),
                 t % 3 == 0   ? "CN=%dx"
                 : t % 3 == 1 ? "CN=%dx,O=%d"
                              : "CN=%dx\\,O=%d",
                 td, td);
        ph_add(pi, MTLSAUTHZ_FIELD_SUBJECT_DN, v);
        ph_add(pi, MTLSAUTHZ_FIELD_EKU, "clientAuth");
        pi->id.counts[MTLSAUTHZ_FIELD_SERIAL] = 0;
        snprintf(v, sizeof(v), "f%x%x", td, k + 1);
        ph_add(pi, MTLSAUTHZ_FIELD_SERIAL, v);

        cr_assert_eq(mtlsauthz_peer_new(&peer, p, &pi->id, NULL), 0);
        cr_assert_eq(mtlsauthz__fold_identity(&f, &pi->id), 0);
        for (unsigned j = 0; j < p->nprincipals; j++) {
            int key = mtlsauthz__principal_failing_key(p, j, &f);
            cr_assert_geq(key, 0);
            if (key != MTLSAUTHZ__KEY_COUNT) {
                continue;
            }
            expected++;
            shape_hits[j % NSHAPES]++;
            cr_assert_lt(m, peer->nmp, "identity %d: principal p%u matched by scan only", t, j);
            cr_assert_eq(peer->mp[m].principal, j, "identity %d: p%u vs p%u", t,
                         peer->mp[m].principal, j);
            m++;
        }
        cr_assert_eq(m, peer->nmp, "identity %d: index found %u principals, scan %u", t, peer->nmp,
                     expected);
        total += expected;
        mtlsauthz__folded_free(&f);
        mtlsauthz_peer_free(peer);
        free(pi);
    }
    /* A test that matched nothing would prove nothing: every shape must be hit. */
    for (int j = 0; j < NSHAPES; j++) {
        cr_assert_gt(shape_hits[j], 0, "shape %d never matched", j);
    }
    cr_assert_gt(total, 150);
    mtlsauthz_policy_free(p);
}

/* ---- many candidates: the per-peer literal-operation table agrees with a reference ---- */

typedef struct ref_rule {
    int deny, dry, wild; /* wild: "op:*" instead of the literal "op:<k>" */
    int k, k2;           /* literal operations; k2 < 0: only one */
} ref_rule;

static int ref_matches(const ref_rule *r, const char *op)
{
    char a[32], b[32];
    if (r->wild) {
        return strncmp(op, "op:", 3) == 0 && op[3] != '\0' && strchr(op + 3, '/') == NULL;
    }
    snprintf(a, sizeof(a), "op:%d", r->k);
    snprintf(b, sizeof(b), "op:%d", r->k2);
    return strcmp(op, a) == 0 || (r->k2 >= 0 && strcmp(op, b) == 0);
}

Test(decide_split, many_candidates_match_reference)
{
    enum { NR = 60 };
    ref_rule rules[NR];
    unsigned long long seed = 7;
    size_t cap = 1u << 16, off = 0;
    char *yaml = malloc(cap);
    mtlsauthz_identity *b = ph_cert("builder");
    mtlsauthz_peer *peer = NULL;
    mtlsauthz_policy *p;

    for (int round = 0; round < 20; round++) {
        off = 0;
        off += (size_t)snprintf(yaml + off, cap - off,
                                "version: 1\nprincipals:\n  - name: b\n    cn: [builder]\n"
                                "  - name: other\n    cn: [other]\nrules:\n");
        for (int i = 0; i < NR; i++) {
            ref_rule *r = &rules[i];
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            r->deny = (seed >> 40) % 7 == 0;
            r->dry = (seed >> 44) % 5 == 0;
            r->wild = (seed >> 48) % 9 == 0;
            r->k = (int)((seed >> 20) % 12);
            r->k2 = (seed >> 52) % 2 ? (int)((seed >> 30) % 12) : -1;
            off += (size_t)snprintf(yaml + off, cap - off,
                                    "  - id: r%d\n    effect: %s\n    mode: %s\n"
                                    "    principals: [%s]\n",
                                    i, r->deny ? "deny" : "allow", r->dry ? "dry-run" : "enforce",
                                    (seed >> 56) % 3 == 0 ? "\"*\"" : "b, other");
            if (r->wild) {
                off += (size_t)snprintf(yaml + off, cap - off, "    operations: [\"op:*\"]\n");
            } else if (r->k2 >= 0) {
                off += (size_t)snprintf(yaml + off, cap - off,
                                        "    operations: [\"op:%d\", \"op:%d\"]\n", r->k, r->k2);
            } else {
                off +=
                    (size_t)snprintf(yaml + off, cap - off, "    operations: [\"op:%d\"]\n", r->k);
            }
        }
        p = ph_load(yaml);
        cr_assert_eq(mtlsauthz_peer_new(&peer, p, b, NULL), 0);
        cr_assert_eq(peer->ncands, NR);
        cr_assert_gt(peer->op_cap, 0, "the table path must be the one under test");
        for (int k = -1; k < 14; k++) {
            char op[32];
            mtlsauthz_decision d;
            int first_deny = -1, first_allow = -1;
            size_t ndry = 0;
            const char *dry[MTLSAUTHZ_DECISION_DRY_RUN_MAX];
            snprintf(op, sizeof(op), k < 0 ? "op:x/y" : "op:%d", k);
            for (int i = 0; i < NR; i++) {
                if (!ref_matches(&rules[i], op)) {
                    continue;
                }
                if (rules[i].dry) {
                    if (ndry < MTLSAUTHZ_DECISION_DRY_RUN_MAX) {
                        dry[ndry] = p->rules[i].id;
                    }
                    ndry++;
                } else if (rules[i].deny) {
                    first_deny = first_deny < 0 ? i : first_deny;
                } else {
                    first_allow = first_allow < 0 ? i : first_allow;
                }
            }
            cr_assert_eq(mtlsauthz_peer_decide(&d, peer, op, strlen(op), NULL), 0);
            cr_assert_eq(d.dry_run_count, ndry, "round %d %s", round, op);
            for (size_t i = 0; i < ndry && i < MTLSAUTHZ_DECISION_DRY_RUN_MAX; i++) {
                cr_assert_eq(d.dry_run[i], dry[i]);
            }
            if (first_deny >= 0) {
                cr_assert_eq(d.allowed, 0);
                cr_assert_str_eq(d.rule, p->rules[first_deny].id);
            } else if (first_allow >= 0) {
                cr_assert_eq(d.allowed, 1, "round %d %s", round, op);
                cr_assert_str_eq(d.rule, p->rules[first_allow].id);
            } else {
                cr_assert_eq(d.allowed, 0);
                cr_assert_eq(d.reason, MTLSAUTHZ_REASON_NO_MATCH);
            }
            same_decision(p, b, op);
        }
        mtlsauthz_peer_free(peer);
        mtlsauthz_policy_free(p);
    }
    free(yaml);
    mtlsauthz_identity_free(b);
}

Test(decide_split, allocation_failures_fail_closed)
{
    /* Every allocation of peer_new (folding, candidates, tuples, the op table) may fail: the
     * call then fails with ENOMEM, or a decision is still exactly right. Never an allow that
     * should not be. */
    char yaml[8192];
    size_t off = 0;
    mtlsauthz_policy *p;
    mtlsauthz_identity *acme = ph_cert("tenant-acme");
    int completed = 0;
    off +=
        (size_t)snprintf(yaml + off, sizeof(yaml) - off, "%s",
                         "version: 1\nprincipals:\n"
                         "  - name: t\n    spiffe: [\"spiffe://prod.example.com/tenant/{t}/*\"]\n"
                         "rules:\n");
    for (int i = 0; i < 12; i++) {
        off += (size_t)snprintf(yaml + off, sizeof(yaml) - off,
                                "  - id: r%d\n    effect: %s\n    principals: [t]\n"
                                "    operations: [\"GET /%d/{t}\", \"op%d\"]\n",
                                i, i == 5 ? "deny" : "allow", i, i);
    }
    p = ph_load(yaml);
    for (long n = 0; n < 200 && !completed; n++) {
        mtlsauthz_decision d1, d2;
        int r1, r2;
        mtlsauthz__alloc_fail_after(n);
        r1 = mtlsauthz_policy_decide(&d1, p, acme, "GET /3/acme", 11, NULL);
        r2 = mtlsauthz_policy_decide(&d2, p, acme, "op5", 3, NULL);
        mtlsauthz__alloc_fail_after(-1);
        if (r1 < 0) {
            cr_assert_eq(r1, MTLSAUTHZ_ENOMEM);
            cr_assert_eq(d1.allowed, 0);
            cr_assert_eq(d1.reason, MTLSAUTHZ_REASON_ERROR);
        } else {
            cr_assert_eq(d1.allowed, 1);
            cr_assert_str_eq(d1.rule, "r3");
        }
        if (r2 < 0) {
            cr_assert_eq(d2.allowed, 0);
        } else {
            cr_assert_eq(d2.allowed, 0);
            cr_assert_str_eq(d2.rule, "r5");
            completed = r1 == 0;
        }
    }
    cr_assert(completed);
    mtlsauthz_identity_free(acme);
    mtlsauthz_policy_free(p);
}

/* ---- rules that mix literal and wildcard operations, against a reference ----
 * A rule with a wildcard operation is a "slow" candidate of the peer's table: its literal
 * operations are compared one by one (op_hit) on the table path as on the scan path, while
 * literal-only rules are found by one probe of the table. Either compare must look at every
 * byte: were one to skip the last, a rule allowing `GET /a` and any `POST` below `/b/` would
 * allow `GET /b`. So every literal is probed along with its near misses of the same length
 * (first, a middle or the last byte changed) and one byte longer or shorter, on both paths. */

static const char *const mix_literals[] = {
    "GET /a",       "POST /b/c", "PUT /items/42", "DELETE /users/7/keys",
    "images:build", "GET /abc",  "GET /ab",
};
static const char *const mix_wildcards[] = {
    "POST /b/*", "GET /w/**", "* /x", "PATCH /items/*/tags", "jobs:*",
};
/* Operations that only the wildcards above match, and ones no pattern matches. */
static const char *const mix_extra_ops[] = {
    "POST /b/q", "GET /w/1/2", "OPTIONS /x", "get /x",  "PATCH /items/9/tags", "jobs:run",
    "GET /b",    "POST /b",    "POST /b/",   "GET /w/", "PATCH /items//tags",  "",
};

enum { MIX_MAX_OPS = 3 };

typedef struct mix_rule {
    int deny, dry;
    unsigned nops;
    const char *ops[MIX_MAX_OPS];
} mix_rule;

/* The reference matcher for the operation patterns above: `*` is one or more bytes other
 * than '/', `**` one or more bytes (docs/policy.md, "Patterns"). */
static int mix_glob(const char *p, const char *s)
{
    if (*p == '\0') {
        return *s == '\0';
    }
    if (*p == '*') {
        int dbl = p[1] == '*';
        const char *rest = p + (dbl ? 2 : 1);
        for (size_t n = 1; s[n - 1] != '\0' && (dbl || s[n - 1] != '/'); n++) {
            if (mix_glob(rest, s + n)) {
                return 1;
            }
        }
        return 0;
    }
    return *s == *p && mix_glob(p + 1, s + 1);
}

static int mix_rule_matches(const mix_rule *r, const char *op)
{
    for (unsigned i = 0; i < r->nops; i++) {
        if (mix_glob(r->ops[i], op)) {
            return 1;
        }
    }
    return 0;
}

/* Decides `op` on `peer` and checks it against the reference: the first enforce deny that
 * matches, else the first enforce allow, else no match; and every dry-run rule, in order. */
static void mix_expect(mtlsauthz_policy *p, mtlsauthz_peer *peer, const mix_rule *rules,
                       unsigned nrules, const char *op, const char *path)
{
    mtlsauthz_decision d;
    int first_deny = -1, first_allow = -1;
    size_t ndry = 0;
    const char *dry[MTLSAUTHZ_DECISION_DRY_RUN_MAX];
    for (unsigned i = 0; i < nrules; i++) {
        if (!mix_rule_matches(&rules[i], op)) {
            continue;
        }
        if (rules[i].dry) {
            if (ndry < MTLSAUTHZ_DECISION_DRY_RUN_MAX) {
                dry[ndry] = p->rules[i].id;
            }
            ndry++;
        } else if (rules[i].deny) {
            first_deny = first_deny < 0 ? (int)i : first_deny;
        } else {
            first_allow = first_allow < 0 ? (int)i : first_allow;
        }
    }
    cr_assert_eq(mtlsauthz_peer_decide(&d, peer, op, strlen(op), NULL), 0);
    if (first_deny >= 0) {
        cr_assert_eq(d.allowed, 0, "%s path, '%s': want deny by %s", path, op,
                     p->rules[first_deny].id);
        cr_assert_str_eq(d.rule, p->rules[first_deny].id, "%s path, '%s'", path, op);
    } else if (first_allow >= 0) {
        cr_assert_eq(d.allowed, 1, "%s path, '%s': want allow by %s, got %s", path, op,
                     p->rules[first_allow].id, mtlsauthz_reason_string(d.reason));
        cr_assert_str_eq(d.rule, p->rules[first_allow].id, "%s path, '%s'", path, op);
    } else {
        cr_assert_eq(d.allowed, 0, "%s path, '%s': want no match, got allow by %s", path, op,
                     d.rule ? d.rule : "none");
        cr_assert_eq(d.reason, MTLSAUTHZ_REASON_NO_MATCH, "%s path, '%s': reason %s", path, op,
                     mtlsauthz_reason_string(d.reason));
    }
    cr_assert_eq(d.dry_run_count, ndry, "%s path, '%s'", path, op);
    for (size_t i = 0; i < ndry && i < MTLSAUTHZ_DECISION_DRY_RUN_MAX; i++) {
        cr_assert_str_eq(d.dry_run[i], dry[i], "%s path, '%s'", path, op);
    }
}

/* Outside the reference: no rule of these policies allows `op` (rule m0's near miss). */
static void mix_no_allow(mtlsauthz_peer *peer, const char *op, const char *path)
{
    mtlsauthz_decision d;
    cr_assert_eq(mtlsauthz_peer_decide(&d, peer, op, strlen(op), NULL), 0);
    cr_assert_eq(d.allowed, 0, "%s path: '%s' allowed by %s", path, op, d.rule);
}

/* The operations probed for one policy: each literal, its near misses, and the extras. */
static unsigned mix_probes(char probes[][40], unsigned cap)
{
    unsigned n = 0;
    for (size_t i = 0; i < sizeof(mix_literals) / sizeof(mix_literals[0]); i++) {
        const char *lit = mix_literals[i];
        size_t len = strlen(lit);
        size_t at[3] = {0, len / 2, len - 1}; /* first, a middle and the last byte */
        cr_assert(n + 6 <= cap && len + 2 <= 40);
        snprintf(probes[n++], 40, "%s", lit);
        for (size_t j = 0; j < 3; j++) {
            snprintf(probes[n], 40, "%s", lit);
            probes[n][at[j]] = (char)(probes[n][at[j]] + 1);
            n++;
        }
        snprintf(probes[n++], 40, "%sa", lit);                /* one byte longer */
        snprintf(probes[n++], 40, "%.*s", (int)len - 1, lit); /* one byte shorter */
    }
    for (size_t i = 0; i < sizeof(mix_extra_ops) / sizeof(mix_extra_ops[0]); i++) {
        cr_assert(n < cap);
        snprintf(probes[n++], 40, "%s", mix_extra_ops[i]);
    }
    return n;
}

Test(decide_split, mixed_literal_and_wildcard_rules_match_reference)
{
    enum {
        NR = 40,
        NLIT = sizeof(mix_literals) / sizeof(mix_literals[0]),
        NWILD = sizeof(mix_wildcards) / sizeof(mix_wildcards[0])
    };
    mix_rule rules[NR];
    char probes[128][40];
    unsigned nprobes = mix_probes(probes, 128);
    unsigned long long seed = 12345;
    size_t cap = 1u << 16;
    char *yaml = malloc(cap);
    mtlsauthz_identity *b = ph_cert("builder");
    unsigned mixed_allows = 0;

    cr_assert_not_null(yaml);
    for (int round = 0; round < 12; round++) {
        size_t off = 0;
        mtlsauthz_peer *peer = NULL;
        mtlsauthz_policy *p;
        size_t op_cap;

        off += (size_t)snprintf(yaml + off, cap - off,
                                "version: 1\nprincipals:\n  - name: b\n    cn: [builder]\n"
                                "  - name: other\n    cn: [other]\nrules:\n");
        for (unsigned i = 0; i < NR; i++) {
            mix_rule *r = &rules[i];
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            if (i == 0) {
                /* The rule that fails open if a literal's last byte goes unread. */
                r->deny = r->dry = 0;
                r->nops = 2;
                r->ops[0] = "GET /a";
                r->ops[1] = "POST /b/*";
            } else {
                unsigned kind = (unsigned)(seed >> 33) % 4; /* 0: literals only; else mixed */
                r->deny = (seed >> 40) % 5 == 0;
                r->dry = (seed >> 44) % 6 == 0;
                r->nops = 1 + (unsigned)(seed >> 48) % MIX_MAX_OPS;
                for (unsigned j = 0; j < r->nops; j++) {
                    unsigned pick = (unsigned)(seed >> (8 + 7 * j)) % 97;
                    r->ops[j] = (kind != 0 && j == r->nops - 1) || (kind == 3 && j == 0)
                                    ? mix_wildcards[pick % NWILD]
                                    : mix_literals[pick % NLIT];
                }
                if (kind != 0 && r->nops == 1) {
                    r->ops[r->nops++] = mix_literals[(seed >> 20) % NLIT];
                }
            }
            if (!r->deny && !r->dry) {
                unsigned nwild = 0;
                for (unsigned j = 0; j < r->nops; j++) {
                    nwild += strchr(r->ops[j], '*') != NULL;
                }
                mixed_allows += nwild > 0 && nwild < r->nops;
            }
            off += (size_t)snprintf(yaml + off, cap - off,
                                    "  - id: m%u\n    effect: %s\n    mode: %s\n"
                                    "    principals: [%s]\n    operations: [",
                                    i, r->deny ? "deny" : "allow", r->dry ? "dry-run" : "enforce",
                                    (seed >> 56) % 3 == 0 ? "\"*\"" : "b, other");
            for (unsigned j = 0; j < r->nops; j++) {
                off +=
                    (size_t)snprintf(yaml + off, cap - off, "%s\"%s\"", j ? ", " : "", r->ops[j]);
            }
            off += (size_t)snprintf(yaml + off, cap - off, "]\n");
            cr_assert_lt(off, cap);
        }
        p = ph_load(yaml);
        cr_assert_eq(mtlsauthz_peer_new(&peer, p, b, NULL), 0);
        cr_assert_eq(peer->ncands, NR);
        cr_assert_gt(peer->ncands, MTLSAUTHZ__PEER_OP_TABLE_MIN);
        cr_assert_gt(peer->op_cap, 0, "the table path must be under test");
        cr_assert_gt(peer->nslow, 0, "rules with wildcards must be under test");
        for (unsigned k = 0; k < nprobes; k++) {
            mix_expect(p, peer, rules, NR, probes[k], "table");
            same_decision(p, b, probes[k]);
        }
        mix_no_allow(peer, "GET /b", "table");
        /* The same candidates without the table: every rule is matched by scanning. */
        op_cap = peer->op_cap;
        peer->op_cap = 0;
        for (unsigned k = 0; k < nprobes; k++) {
            mix_expect(p, peer, rules, NR, probes[k], "scan");
        }
        mix_no_allow(peer, "GET /b", "scan");
        peer->op_cap = op_cap;
        mtlsauthz_peer_free(peer);
        mtlsauthz_policy_free(p);
    }
    /* Enough enforce allows that mix a literal and a wildcard for a skipped byte to show. */
    cr_assert_gt(mixed_allows, 100);
    free(yaml);
    mtlsauthz_identity_free(b);
}

/* ---- CIDR blocks at their edges ----
 * For prefix lengths that are not a multiple of 8 (the mask of a partial byte) and ones just
 * short of or past a byte boundary, the first and last address of each block and the
 * addresses just outside it, including one that differs only in the last whole byte the
 * prefix covers. */

typedef struct cidr_case {
    const char *block;
    const char *in[3];
    const char *out[4];
} cidr_case;

static const cidr_case cidr_cases[] = {
    {"128.0.0.0/1", {"128.0.0.0", "255.255.255.255"}, {"127.255.255.255", "0.0.0.0"}},
    {"0.0.0.0/1", {"0.0.0.0", "127.255.255.255"}, {"128.0.0.0", "255.255.255.255"}},
    {"10.128.0.0/9",
     {"10.128.0.0", "10.255.255.255"},
     {"10.127.255.255", "11.128.0.0", "138.128.0.0", "10.0.0.0"}},
    {"10.0.0.0/9", {"10.0.0.0", "10.127.255.255"}, {"10.128.0.0", "9.255.255.255", "11.0.0.0"}},
    {"192.0.2.2/31",
     {"192.0.2.2", "192.0.2.3"},
     {"192.0.2.1", "192.0.2.4", "192.0.3.2", "192.1.2.2"}},
    {"192.0.2.3/32", {"192.0.2.3"}, {"192.0.2.2", "193.0.2.3"}},
    {"8000::/1",
     {"8000::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
     {"7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::"}},
    {"fe80::/9",
     {"fe80::", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
     {"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ff80::", "7e80::"}},
    {"2001:db8:8000::/33",
     {"2001:db8:8000::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"},
     {"2001:db8:7fff:ffff:ffff:ffff:ffff:ffff", "2001:db9:8000::", "2001:db8::"}},
    {"2001:db8::/33",
     {"2001:db8::", "2001:db8:7fff:ffff:ffff:ffff:ffff:ffff"},
     {"2001:db8:8000::", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::"}},
    {"2001:db8::2/127",
     {"2001:db8::2", "2001:db8::3"},
     {"2001:db8::1", "2001:db8::4", "2001:db8::102", "2001:db9::2"}},
    {"2001:db8::3/128", {"2001:db8::3"}, {"2001:db8::2", "2001:db8::103"}},
    /* IPv4-mapped addresses are IPv6 addresses: the block's family decides. */
    {"::ffff:192.0.2.2/127",
     {"::ffff:192.0.2.2", "::ffff:192.0.2.3"},
     {"::ffff:192.0.2.4", "::ffff:192.0.2.1", "192.0.2.2"}},
};

static int cidr_selects(const char *block, const char *addr)
{
    char sel[128];
    ph_ident *pi = ph_ident_new();
    int r;
    ph_add_ip(pi, addr);
    snprintf(sel, sizeof(sel), "    ip: [\"%s\"]\n", block);
    r = ph_selects(sel, &pi->id);
    free(pi);
    return r;
}

Test(decide_keys, ip_prefix_edges)
{
    for (size_t i = 0; i < sizeof(cidr_cases) / sizeof(cidr_cases[0]); i++) {
        const cidr_case *c = &cidr_cases[i];
        for (size_t j = 0; j < 3 && c->in[j] != NULL; j++) {
            cr_assert(cidr_selects(c->block, c->in[j]), "%s must contain %s", c->block, c->in[j]);
        }
        for (size_t j = 0; j < 4 && c->out[j] != NULL; j++) {
            cr_assert(!cidr_selects(c->block, c->out[j]), "%s must not contain %s", c->block,
                      c->out[j]);
        }
    }
}

Test(decide_keys, ip_prefix_edges_on_certificates)
{
    /* full holds 192.0.2.10, 2001:db8::1 and ::ffff:192.0.2.10; ipv6 holds fe80::,
     * ::ffff:192.0.2.10 and six more IPv6 addresses (none in fe00::/9), and no IPv4 one. */
    mtlsauthz_identity *full = ph_cert("full"), *v6 = ph_cert("ipv6");
    cr_assert(ph_selects("    ip: [192.0.2.10/31]\n", full));
    cr_assert(!ph_selects("    ip: [192.0.2.8/31]\n", full));
    cr_assert(!ph_selects("    ip: [192.0.2.12/31]\n", full));
    cr_assert(ph_selects("    ip: [128.0.0.0/1]\n", full));
    cr_assert(!ph_selects("    ip: [0.0.0.0/1]\n", full));
    cr_assert(ph_selects("    ip: [\"2001:db8::/127\"]\n", full));
    cr_assert(!ph_selects("    ip: [\"2001:db8::2/127\"]\n", full));
    cr_assert(ph_selects("    ip: [\"2001:db8::/33\"]\n", full));
    cr_assert(!ph_selects("    ip: [\"2001:db8:8000::/33\"]\n", full));
    cr_assert(ph_selects("    ip: [\"::/1\"]\n", full));
    cr_assert(!ph_selects("    ip: [\"8000::/1\"]\n", full));
    cr_assert(ph_selects("    ip: [\"fe80::/9\"]\n", v6));
    cr_assert(!ph_selects("    ip: [\"fe00::/9\"]\n", v6));
    cr_assert(ph_selects("    ip: [\"::ffff:192.0.2.10/127\"]\n", v6));
    cr_assert(!ph_selects("    ip: [\"::ffff:192.0.2.8/127\"]\n", v6));
    cr_assert(!ph_selects("    ip: [192.0.2.10/31]\n", v6)); /* families never cross */
    mtlsauthz_identity_free(full);
    mtlsauthz_identity_free(v6);
}

/* ---- letter case, key by key ---- */

static int email_selects(const char *pattern, const char *companion, const ph_ident *pi)
{
    char sel[256];
    snprintf(sel, sizeof(sel), "    email: [\"%s\"]\n%s", pattern, companion);
    return ph_selects(sel, &pi->id);
}

Test(decide_keys, email_local_part_keeps_its_case_both_ways)
{
    /* The local part is compared byte for byte and only the domain folds (RFC 5321 §2.4), in
     * the pattern and in the certificate, whichever of them has the capitals; alone, and with
     * a second key that the identity matches and the index files the principal under (the
     * 64-byte fingerprint outranks the address), so that email is checked key by key too. */
    static const char *const companions[] = {
        "", "    sha256: [\"0000000000000000000000000000000000000000000000000000000000000000\"]\n"};
    ph_ident *upper = ph_ident_new(), *lower = ph_ident_new();
    ph_add(upper, MTLSAUTHZ_FIELD_SAN_EMAIL, "Alice.Smith@Example.COM");
    ph_add(lower, MTLSAUTHZ_FIELD_SAN_EMAIL, "alice.smith@example.com");
    for (size_t i = 0; i < 2; i++) {
        const char *c = companions[i];
        /* An uppercase local part in the pattern, a lowercase one in the certificate... */
        cr_assert(!email_selects("Alice.Smith@example.com", c, lower));
        cr_assert(!email_selects("ALICE.SMITH@EXAMPLE.COM", c, lower));
        cr_assert(!email_selects("Alice.*@example.com", c, lower));
        cr_assert(!email_selects("*.Smith@example.com", c, lower));
        /* ...and the reverse. */
        cr_assert(!email_selects("alice.smith@example.com", c, upper));
        cr_assert(!email_selects("alice.smith@Example.COM", c, upper));
        cr_assert(!email_selects("alice.*@example.com", c, upper));
        cr_assert(!email_selects("*.smith@example.com", c, upper));
        /* The same local part matches whatever the case of either domain. */
        cr_assert(email_selects("Alice.Smith@example.com", c, upper));
        cr_assert(email_selects("Alice.Smith@EXAMPLE.COM", c, upper));
        cr_assert(email_selects("Alice.*@example.com", c, upper));
        cr_assert(email_selects("alice.smith@EXAMPLE.com", c, lower));
        cr_assert(email_selects("*.smith@Example.Com", c, lower));
    }
    free(upper);
    free(lower);
}

/* One row per key: an uppercase pattern against a lowercase value, and a lowercase pattern
 * against an uppercase value, with the outcome docs/policy.md gives for the key. */
enum { FOLD_NO = 0, FOLD_MATCH = 1, FOLD_LOAD_ERROR = -1 };

typedef struct fold_case {
    const char *key;
    mtlsauthz_field field;
    const char *upper_pattern, *lower_value;
    int upper_vs_lower;
    const char *lower_pattern, *upper_value;
    int lower_vs_upper;
} fold_case;

#define FOLD_SHA_LOWER "e6575917a4d506c272f9c7275b845b787f4ee8dcd4d490b79919ef787ec2fc5b"
#define FOLD_SHA_UPPER "E6575917A4D506C272F9C7275B845B787F4EE8DCD4D490B79919EF787EC2FC5B"

static const fold_case fold_cases[] = {
    {"cn", MTLSAUTHZ_FIELD_CN, "ALICE", "alice", FOLD_NO, "alice", "ALICE", FOLD_NO},
    {"o", MTLSAUTHZ_FIELD_O, "EXAMPLE CORP", "example corp", FOLD_NO, "example corp",
     "EXAMPLE CORP", FOLD_NO},
    {"ou", MTLSAUTHZ_FIELD_OU, "OPS", "ops", FOLD_NO, "ops", "OPS", FOLD_NO},
    {"dn", MTLSAUTHZ_FIELD_SUBJECT_DN, "CN=ALICE,O=EXAMPLE", "CN=alice,O=example", FOLD_NO,
     "CN=alice,O=example", "CN=ALICE,O=EXAMPLE", FOLD_NO},
    {"issuer", MTLSAUTHZ_FIELD_ISSUER_DN, "CN=CA,O=EXAMPLE", "CN=ca,O=example", FOLD_NO,
     "CN=ca,O=example", "CN=CA,O=EXAMPLE", FOLD_NO},
    /* spiffe: the path is exact; an uppercase trust domain could never match a valid ID. */
    {"spiffe", MTLSAUTHZ_FIELD_SPIFFE_ID, "spiffe://td/NS/WEB", "spiffe://td/ns/web", FOLD_NO,
     "spiffe://td/ns/web", "spiffe://td/NS/WEB", FOLD_NO},
    {"spiffe", MTLSAUTHZ_FIELD_SPIFFE_ID, "spiffe://TD/ns/web", "spiffe://td/ns/web",
     FOLD_LOAD_ERROR, "spiffe://td/ns/web", "spiffe://TD/ns/web", FOLD_NO},
    {"dns", MTLSAUTHZ_FIELD_SAN_DNS, "WEB.EXAMPLE.COM", "web.example.com", FOLD_MATCH,
     "web.example.com", "WEB.EXAMPLE.COM", FOLD_MATCH},
    {"dns", MTLSAUTHZ_FIELD_SAN_DNS, "*.EXAMPLE.COM", "web.example.com", FOLD_MATCH,
     "*.example.com", "WEB.EXAMPLE.COM", FOLD_MATCH},
    {"uri", MTLSAUTHZ_FIELD_SAN_URI, "HTTPS://EXAMPLE.COM/X", "https://example.com/x", FOLD_NO,
     "https://example.com/x", "HTTPS://EXAMPLE.COM/X", FOLD_NO},
    /* email: the local part is exact, the domain folds; without an '@' in the pattern nothing
     * says which part is the domain, so capitals there are a load error. */
    {"email", MTLSAUTHZ_FIELD_SAN_EMAIL, "ALICE@example.com", "alice@example.com", FOLD_NO,
     "alice@example.com", "ALICE@example.com", FOLD_NO},
    {"email", MTLSAUTHZ_FIELD_SAN_EMAIL, "alice@EXAMPLE.COM", "alice@example.com", FOLD_MATCH,
     "alice@example.com", "alice@EXAMPLE.COM", FOLD_MATCH},
    {"email", MTLSAUTHZ_FIELD_SAN_EMAIL, "*EXAMPLE.COM", "alice@example.com", FOLD_LOAD_ERROR,
     "*example.com", "alice@EXAMPLE.COM", FOLD_MATCH},
    /* The pinning keys hold lowercase hex; an uppercase pattern is a load error, and a value is
     * compared exactly. */
    {"serial", MTLSAUTHZ_FIELD_SERIAL, "C0FFEE", "c0ffee", FOLD_LOAD_ERROR, "c0ffee", "C0FFEE",
     FOLD_NO},
    {"sha256", MTLSAUTHZ_FIELD_SHA256, FOLD_SHA_UPPER, FOLD_SHA_LOWER, FOLD_LOAD_ERROR,
     FOLD_SHA_LOWER, FOLD_SHA_UPPER, FOLD_NO},
    /* EKU names are exact: another spelling is not a known EKU. */
    {"eku", MTLSAUTHZ_FIELD_EKU, "CLIENTAUTH", "clientAuth", FOLD_LOAD_ERROR, "clientAuth",
     "CLIENTAUTH", FOLD_NO},
    /* Addresses compare as bytes: hex digits have no case. */
    {"ip", MTLSAUTHZ_FIELD_SAN_IP, "2001:DB8::AB", "2001:db8::ab", FOLD_MATCH, "2001:db8::ab",
     "2001:DB8::AB", FOLD_MATCH},
};

/* A synthetic identity whose `field` holds `value` (the only value, for a single-valued
 * field; a SPIFFE ID is also a URI SAN, as in a valid SVID). */
static ph_ident *fold_ident(mtlsauthz_field field, const char *value)
{
    ph_ident *pi = ph_ident_new();
    switch (field) {
    case MTLSAUTHZ_FIELD_SUBJECT_DN:
    case MTLSAUTHZ_FIELD_ISSUER_DN:
    case MTLSAUTHZ_FIELD_SERIAL:
    case MTLSAUTHZ_FIELD_SHA256:
        pi->id.counts[field] = 0;
        ph_add(pi, field, value);
        break;
    case MTLSAUTHZ_FIELD_SAN_IP:
        ph_add_ip(pi, value);
        break;
    case MTLSAUTHZ_FIELD_SPIFFE_ID:
        ph_add(pi, MTLSAUTHZ_FIELD_SAN_URI, value);
        ph_add(pi, field, value);
        break;
    default:
        ph_add(pi, field, value);
        break;
    }
    return pi;
}

/* FOLD_MATCH or FOLD_NO through a whole decision, or FOLD_LOAD_ERROR when the policy does not
 * load (then the message must name the key). `companion` is a second selector line that the
 * identity matches, so the key is also checked after another key of the principal indexed it. */
static int fold_outcome(const fold_case *c, const char *pattern, const char *value,
                        const char *companion)
{
    char sel[512];
    const char *yaml;
    mtlsauthz_policy *p = NULL;
    mtlsauthz_error err;
    ph_ident *pi;
    int rc, r;
    snprintf(sel, sizeof(sel), "    %s: [\"%s\"]\n%s", c->key, pattern, companion);
    yaml = ph_selector_yaml(sel);
    mtlsauthz_error_clear(&err);
    rc = mtlsauthz_policy_load(&p, yaml, strlen(yaml), &err);
    if (rc != 0) {
        char where[64];
        cr_assert_eq(rc, MTLSAUTHZ_EPOLICY, "%s: %s", c->key, err.message);
        cr_assert_null(p);
        snprintf(where, sizeof(where), "key '%s'", c->key);
        ph_assert_contains(err.message, where);
        return FOLD_LOAD_ERROR;
    }
    pi = fold_ident(c->field, value);
    r = ph_decide(p, &pi->id, "x").allowed ? FOLD_MATCH : FOLD_NO;
    free(pi);
    mtlsauthz_policy_free(p);
    return r;
}

static const char *fold_name(int outcome)
{
    return outcome == FOLD_MATCH ? "match" : outcome == FOLD_NO ? "no match" : "load error";
}

Test(decide_keys, letter_case_per_key)
{
    const char *companion_sha =
        "    sha256: [\"0000000000000000000000000000000000000000000000000000000000000000\"]\n";
    unsigned keys_seen = 0;
    for (size_t i = 0; i < sizeof(fold_cases) / sizeof(fold_cases[0]); i++) {
        const fold_case *c = &fold_cases[i];
        /* Second selector: the synthetic identity's all-zero fingerprint, whose 64-byte literal
         * outranks the key's as the index anchor; for sha256 itself, the CN. */
        const char *companions[] = {"", c->field == MTLSAUTHZ_FIELD_SHA256 ? "    cn: [synthetic]\n"
                                                                           : companion_sha};
        for (size_t j = 0; j < 2; j++) {
            const char *with = j ? " (with a second key)" : "";
            int got = fold_outcome(c, c->upper_pattern, c->lower_value, companions[j]);
            cr_assert_eq(got, c->upper_vs_lower, "%s: pattern '%s', value '%s'%s: %s, want %s",
                         c->key, c->upper_pattern, c->lower_value, with, fold_name(got),
                         fold_name(c->upper_vs_lower));
            got = fold_outcome(c, c->lower_pattern, c->upper_value, companions[j]);
            cr_assert_eq(got, c->lower_vs_upper, "%s: pattern '%s', value '%s'%s: %s, want %s",
                         c->key, c->lower_pattern, c->upper_value, with, fold_name(got),
                         fold_name(c->lower_vs_upper));
            /* Controls: each pattern that loads matches its value in its own case, so a "no
             * match" above is the letter case and nothing else. */
            got = fold_outcome(c, c->lower_pattern, c->lower_value, companions[j]);
            cr_assert_eq(got, FOLD_MATCH, "%s: pattern '%s', value '%s'%s: %s", c->key,
                         c->lower_pattern, c->lower_value, with, fold_name(got));
            if (c->upper_vs_lower != FOLD_LOAD_ERROR) {
                got = fold_outcome(c, c->upper_pattern, c->upper_value, companions[j]);
                cr_assert_eq(got, FOLD_MATCH, "%s: pattern '%s', value '%s'%s: %s", c->key,
                             c->upper_pattern, c->upper_value, with, fold_name(got));
            }
        }
        for (unsigned k = 0; k < MTLSAUTHZ__KEY_COUNT; k++) {
            keys_seen |= strcmp(mtlsauthz__key_names[k], c->key) == 0 ? 1u << k : 0u;
        }
    }
    /* Every selector key has a row: a new key must say how it treats letter case. */
    cr_assert_eq(keys_seen, (1u << MTLSAUTHZ__KEY_COUNT) - 1u, "keys without a row: %#x",
                 ~keys_seen & ((1u << MTLSAUTHZ__KEY_COUNT) - 1u));
}

/* ---- HTTP methods are case-sensitive ----
 * `get /x` is not `GET /x` (RFC 9110 §9.1): a server that routes it anywhere routes it apart
 * from GET, so a GET grant must not cover it, while a `*` method covers any, in an allow and
 * in a deny alike. Patterns are written with uppercase or `*` methods only. */

static const char method_policy[] = "version: 1\n"
                                    "principals:\n"
                                    "  - name: b\n"
                                    "    cn: [builder]\n"
                                    "rules:\n"
                                    "  - id: get-x\n"
                                    "    effect: allow\n"
                                    "    principals: [b]\n"
                                    "    operations: [\"GET /x\"]\n"
                                    "  - id: get-m-or-below\n"
                                    "    effect: allow\n"
                                    "    principals: [b]\n"
                                    "    operations: [\"GET /m\", \"POST /m/*\"]\n"
                                    "  - id: any-y\n"
                                    "    effect: allow\n"
                                    "    principals: [b]\n"
                                    "    operations: [\"* /y\"]\n"
                                    "  - id: no-y-secret\n"
                                    "    effect: deny\n"
                                    "    principals: [\"*\"]\n"
                                    "    operations: [\"* /y/secret\", \"DELETE /y/*\"]\n"
                                    "  - id: all-y\n"
                                    "    effect: allow\n"
                                    "    principals: [b]\n"
                                    "    operations: [\"* /y/**\"]\n";

static void method_cases(mtlsauthz_policy *p, const mtlsauthz_identity *b)
{
    /* A literal method: exact, through the literal table and the one-by-one compare. */
    ph_allow(p, b, "GET /x", "get-x");
    ph_no_match(p, b, "get /x");
    ph_no_match(p, b, "Get /x");
    ph_no_match(p, b, "gET /x");
    ph_allow(p, b, "GET /m", "get-m-or-below");
    ph_no_match(p, b, "get /m");
    ph_allow(p, b, "POST /m/a", "get-m-or-below");
    ph_no_match(p, b, "post /m/a");
    /* A `*` method: any. */
    ph_allow(p, b, "GET /y", "any-y");
    ph_allow(p, b, "get /y", "any-y");
    ph_allow(p, b, "get /y/public", "all-y");
    ph_expect(p, b, "get /y/secret", 0, MTLSAUTHZ_REASON_DENIED, "no-y-secret");
    ph_expect(p, b, "GET /y/secret", 0, MTLSAUTHZ_REASON_DENIED, "no-y-secret");
    /* A deny's literal method is exact too: `delete` is another method, which the allow
     * grants and the deny does not name. */
    ph_expect(p, b, "DELETE /y/a", 0, MTLSAUTHZ_REASON_DENIED, "no-y-secret");
    ph_allow(p, b, "delete /y/a", "all-y");
}

Test(decide_operation, lowercase_method_is_another_method)
{
    mtlsauthz_policy *p = ph_load(method_policy);
    mtlsauthz_identity *b = ph_cert("builder");
    mtlsauthz_peer *peer = NULL;
    method_cases(p, b);
    /* The peer path agrees, with and without its literal table. */
    cr_assert_eq(mtlsauthz_peer_new(&peer, p, b, NULL), 0);
    cr_assert_gt(peer->op_cap, 0);
    {
        const char *ops[] = {"GET /x", "get /x", "get /m", "post /m/a", "get /y", "get /y/secret"};
        size_t cap = peer->op_cap;
        for (size_t pass = 0; pass < 2; pass++) {
            const char *path = pass ? "scan" : "table";
            peer->op_cap = pass ? 0 : cap;
            for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
                mtlsauthz_decision d, want = ph_decide(p, b, ops[i]);
                cr_assert_eq(mtlsauthz_peer_decide(&d, peer, ops[i], strlen(ops[i]), NULL), 0);
                cr_assert_eq(d.allowed, want.allowed, "'%s' (%s)", ops[i], path);
                cr_assert_eq(d.reason, want.reason, "'%s' (%s)", ops[i], path);
            }
        }
        peer->op_cap = cap;
    }
    mtlsauthz_peer_free(peer);
    mtlsauthz_identity_free(b);
    mtlsauthz_policy_free(p);
}

/* ---- the reserved space of a decision (docs/abi.md) ---- */

static void assert_decision_reserved_zero(const mtlsauthz_decision *d, const char *what)
{
    for (size_t i = 0; i < sizeof(d->reserved) / sizeof(d->reserved[0]); i++) {
        cr_assert_null(d->reserved[i], "%s: reserved[%zu] was left as the caller had it", what, i);
    }
}

Test(decide_abi, every_decision_zeroes_reserved_space)
{
    mtlsauthz_policy *p = ph_load(issue_policy);
    mtlsauthz_identity *b = ph_cert("builder");
    mtlsauthz_peer *peer = NULL;
    mtlsauthz_decision d;
    char *text = NULL;

    cr_assert_eq(mtlsauthz_peer_new(&peer, p, b, NULL), 0);
    memset(&d, 0xa5, sizeof(d));
    cr_assert_eq(mtlsauthz_peer_decide(&d, peer, "images:build", 12, NULL), 0);
    cr_assert_eq(d.allowed, 1);
    assert_decision_reserved_zero(&d, "peer_decide, allowed");

    memset(&d, 0xa5, sizeof(d));
    cr_assert_eq(mtlsauthz_peer_decide(&d, peer, "x\0y", 3, NULL), MTLSAUTHZ_EOPERATION);
    cr_assert_eq(d.allowed, 0);
    assert_decision_reserved_zero(&d, "peer_decide, refused");

    memset(&d, 0xa5, sizeof(d));
    cr_assert_geq(mtlsauthz_peer_decide_code(&d, peer, "images:build", 12, NULL), 0);
    cr_assert_eq(d.allowed, 1);
    assert_decision_reserved_zero(&d, "peer_decide_code, allowed");

    memset(&d, 0xa5, sizeof(d));
    cr_assert_eq(mtlsauthz_peer_decide_code(&d, peer, "x\0y", 3, NULL), MTLSAUTHZ_EOPERATION);
    assert_decision_reserved_zero(&d, "peer_decide_code, refused");

    memset(&d, 0xa5, sizeof(d));
    cr_assert_eq(mtlsauthz_policy_decide(&d, p, b, "images:push", 11, NULL), 0);
    cr_assert_eq(d.dry_run_count, 1);
    assert_decision_reserved_zero(&d, "policy_decide");

    memset(&d, 0xa5, sizeof(d));
    cr_assert_eq(mtlsauthz_policy_decide(&d, NULL, b, "images:push", 11, NULL), MTLSAUTHZ_EINVAL);
    assert_decision_reserved_zero(&d, "policy_decide, no policy");

    memset(&d, 0xa5, sizeof(d));
    cr_assert_eq(mtlsauthz_policy_explain(&text, &d, p, b, "images:build", 12, NULL), 0);
    assert_decision_reserved_zero(&d, "explain");
    mtlsauthz_string_free(text);

    mtlsauthz_peer_free(peer);
    mtlsauthz_identity_free(b);
    mtlsauthz_policy_free(p);
}

/* ---- decisions as codes (mtlsauthz_peer_decide_code) ---- */

Test(decide_code, fields_name_the_rule_by_file_index)
{
    mtlsauthz_policy *p = ph_load(issue_policy);
    mtlsauthz_identity *b = ph_cert("builder");
    mtlsauthz_peer *peer = NULL;
    int code;

    cr_assert_eq(mtlsauthz_peer_new(&peer, p, b, NULL), 0);
    code = mtlsauthz_peer_decide_code(NULL, peer, "images:build", 12, NULL);
    cr_assert_eq(MTLSAUTHZ_DECISION_CODE_ALLOWED(code), 1);
    cr_assert_eq(MTLSAUTHZ_DECISION_CODE_REASON(code), MTLSAUTHZ_REASON_ALLOWED);
    cr_assert_eq(MTLSAUTHZ_DECISION_CODE_RULE(code), 1); /* "build", the first rule */
    cr_assert_eq(MTLSAUTHZ_DECISION_CODE_DRY_RUN(code), 0);
    cr_assert_eq(code, (1 << 6) | (MTLSAUTHZ_REASON_ALLOWED << 1) | 1);

    /* Allowed by "build" with the dry-run deny "watch-push" matched: same rule, dry-run bit. */
    code = mtlsauthz_peer_decide_code(NULL, peer, "images:push", 11, NULL);
    cr_assert_eq(code, (1 << 6) | (1 << 5) | (MTLSAUTHZ_REASON_ALLOWED << 1) | 1);

    /* Denied by "no-host", the fifth rule. */
    code = mtlsauthz_peer_decide_code(NULL, peer, "host:x", 6, NULL);
    cr_assert_eq(code, (5 << 6) | (MTLSAUTHZ_REASON_DENIED << 1));

    code = mtlsauthz_peer_decide_code(NULL, peer, "GET /containers", 15, NULL);
    cr_assert_eq(code, MTLSAUTHZ_REASON_NO_MATCH << 1);

    mtlsauthz_peer_free(peer);
    mtlsauthz_identity_free(b);
    mtlsauthz_policy_free(p);
}

Test(decide_code, rule_index_past_the_first_thousand)
{
    char *yaml = malloc(400000);
    size_t n;
    mtlsauthz_policy *p;
    mtlsauthz_identity *b = ph_cert("builder");
    mtlsauthz_peer *peer = NULL;
    int code;

    cr_assert_not_null(yaml);
    n = (size_t)sprintf(yaml, "version: 1\nprincipals:\n  - name: b\n    cn: [builder]\nrules:\n");
    for (int i = 0; i < 3000; i++) { /* about 75 bytes each */
        n += (size_t)sprintf(yaml + n,
                             "  - id: r%d\n    effect: allow\n    principals: [b]\n"
                             "    operations: [\"op%d\"]\n",
                             i, i);
    }
    p = ph_load(yaml);
    cr_assert_eq(mtlsauthz_peer_new(&peer, p, b, NULL), 0);
    code = mtlsauthz_peer_decide_code(NULL, peer, "op2999", 6, NULL);
    cr_assert_eq(MTLSAUTHZ_DECISION_CODE_RULE(code), 3000);
    cr_assert_eq(MTLSAUTHZ_DECISION_CODE_ALLOWED(code), 1);
    ph_allow(p, b, "op2999", "r2999");
    ph_allow(p, b, "op1024", "r1024");

    mtlsauthz_peer_free(peer);
    mtlsauthz_identity_free(b);
    mtlsauthz_policy_free(p);
    free(yaml);
}

Test(decide_code, errors_are_negative_and_deny)
{
    mtlsauthz_policy *p = ph_load(issue_policy);
    mtlsauthz_identity *b = ph_cert("builder");
    mtlsauthz_peer *peer = NULL;
    mtlsauthz_decision d;
    mtlsauthz_error err;

    cr_assert_eq(mtlsauthz_peer_new(&peer, p, b, NULL), 0);
    mtlsauthz_error_clear(&err);
    memset(&d, 0xa5, sizeof(d));
    cr_assert_eq(mtlsauthz_peer_decide_code(&d, peer, "images:build\0x", 14, &err),
                 MTLSAUTHZ_EOPERATION);
    cr_assert_eq(err.code, MTLSAUTHZ_EOPERATION);
    cr_assert_eq(d.allowed, 0);
    cr_assert_eq(d.reason, MTLSAUTHZ_REASON_ERROR);
    cr_assert_null(d.rule);
    cr_assert_eq(mtlsauthz_peer_decide_code(NULL, peer, "images:build\0x", 14, NULL),
                 MTLSAUTHZ_EOPERATION);
    cr_assert_eq(mtlsauthz_peer_decide_code(NULL, NULL, "images:build", 12, NULL),
                 MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_peer_decide_code(NULL, peer, NULL, 3, NULL), MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_peer_decide_code(NULL, peer, "x", (size_t)1 << 20, NULL),
                 MTLSAUTHZ_ELIMIT);

    mtlsauthz_peer_free(peer);
    mtlsauthz_identity_free(b);
    mtlsauthz_policy_free(p);
}

Test(decide_code, no_identity_and_rejected_carry_their_reason)
{
    mtlsauthz_policy *p = ph_load(issue_policy);
    mtlsauthz_peer *peer = NULL;
    ph_ident *pi = ph_ident_new();
    int code;

    cr_assert_eq(mtlsauthz_peer_new(&peer, p, NULL, NULL), 0);
    code = mtlsauthz_peer_decide_code(NULL, peer, "GET /healthz", 12, NULL);
    cr_assert_eq(code, MTLSAUTHZ_REASON_NO_IDENTITY << 1);
    mtlsauthz_peer_free(peer);

    pi->id.rejected = "NUL byte in subject CN";
    peer = NULL;
    cr_assert_eq(mtlsauthz_peer_new(&peer, p, &pi->id, NULL), 0);
    code = mtlsauthz_peer_decide_code(NULL, peer, "GET /healthz", 12, NULL);
    cr_assert_eq(code, MTLSAUTHZ_REASON_IDENTITY_REJECTED << 1);
    mtlsauthz_peer_free(peer);

    free(pi);
    mtlsauthz_policy_free(p);
}
