/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The EKU names: the identity side and the policy compiler read one table (identity_int.h).
 * These tests check that the two sides agree where it matters, through a real certificate and
 * real policies: every extended key usage a policy can name, by name or by OID, matches a leaf
 * that carries it, and every name an identity reports is one a policy accepts. A name known to
 * one side only would compile and never match (or never compile), and fails here.
 */
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "policy_helpers.h"
#include "x509.h"

/* Every id-kp purpose (RFC 5280 §4.2.1.12 and later RFCs: 1.3.6.1.5.5.7.3.1 to .40, most of
 * which OpenSSL names), anyExtendedKeyUsage, and some vendor purposes OpenSSL names too. */
#define ID_KP_ARCS 40
static const char *const extra_oids[] = {
    "2.5.29.37.0",            /* anyExtendedKeyUsage: never a name in a policy */
    "1.3.6.1.4.1.311.10.3.4", /* msEFS */
    "1.3.6.1.4.1.311.20.2.2", /* msSmartcardLogin */
    "1.3.6.1.5.2.3.5",        /* pkInitKDC */
    "1.2.3.4.5",              /* no name anywhere */
};
#define NPROBES (ID_KP_ARCS + sizeof(extra_oids) / sizeof(extra_oids[0]))

static void probe_oid(char *buf, size_t n, size_t i)
{
    if (i < ID_KP_ARCS) {
        snprintf(buf, n, "1.3.6.1.5.5.7.3.%zu", i + 1);
    } else {
        snprintf(buf, n, "%s", extra_oids[i - ID_KP_ARCS]);
    }
}

/* A self-signed leaf whose extendedKeyUsage lists every probe OID, in order, as DER. */
static unsigned char *eku_cert(size_t *len)
{
    char list[4096] = "", oid[64];
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    X509_EXTENSION *ext;
    unsigned char *der = NULL;
    int n;

    cr_assert(key != NULL && x != NULL && name != NULL);
    for (size_t i = 0; i < NPROBES; i++) {
        probe_oid(oid, sizeof(oid), i);
        strcat(list, i > 0 ? "," : "");
        strcat(list, oid);
    }
    cr_assert(X509_set_version(x, 2));
    cr_assert(ASN1_INTEGER_set(X509_get_serialNumber(x), 1));
    cr_assert(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"eku", -1,
                                         -1, 0));
    cr_assert(X509_set_subject_name(x, name) && X509_set_issuer_name(x, name));
    cr_assert(X509_gmtime_adj(X509_getm_notBefore(x), 0) != NULL);
    cr_assert(X509_gmtime_adj(X509_getm_notAfter(x), 3600) != NULL);
    cr_assert(X509_set_pubkey(x, key));
    ext = X509V3_EXT_conf_nid(NULL, NULL, NID_ext_key_usage, list);
    cr_assert_not_null(ext, "extendedKeyUsage %s", list);
    cr_assert(X509_add_ext(x, ext, -1));
    X509_EXTENSION_free(ext);
    cr_assert(X509_sign(x, key, EVP_sha256()) > 0);
    n = i2d_X509(x, &der);
    cr_assert(n > 0);
    *len = (size_t)n;
    X509_NAME_free(name);
    X509_free(x);
    EVP_PKEY_free(key);
    return der;
}

/* The EKU values both extractors report for the probe certificate, in certificate order. */
static mtlsauthz_identity *eku_identity(void)
{
    size_t len;
    unsigned char *der = eku_cert(&len);
    const unsigned char *certs[1] = {der};
    mtlsauthz_identity *walker = NULL, *openssl = NULL;
    mtlsauthz_error err = {0};
    const char *a, *b;
    size_t alen, blen;

    cr_assert_eq(mtlsauthz_identity_from_der(&walker, der, len, &err), 0, "%s", err.message);
    cr_assert_eq(mtlsauthz__x509_from_der_certs(&openssl, certs, &len, 1, &err), 0, "%s",
                 err.message);
    cr_assert_eq(mtlsauthz_identity_count(walker, MTLSAUTHZ_FIELD_EKU), NPROBES);
    cr_assert_eq(mtlsauthz_identity_count(openssl, MTLSAUTHZ_FIELD_EKU), NPROBES);
    for (size_t i = 0; i < NPROBES; i++) {
        cr_assert_eq(mtlsauthz_identity_get(&a, &alen, walker, MTLSAUTHZ_FIELD_EKU, i), 0);
        cr_assert_eq(mtlsauthz_identity_get(&b, &blen, openssl, MTLSAUTHZ_FIELD_EKU, i), 0);
        cr_assert(alen == blen && memcmp(a, b, alen) == 0, "EKU %zu: %s vs %s", i, a, b);
    }
    mtlsauthz_identity_free(openssl);
    OPENSSL_free(der);
    return walker;
}

static const char *reported(const mtlsauthz_identity *id, size_t i)
{
    const char *v;
    size_t len;
    cr_assert_eq(mtlsauthz_identity_get(&v, &len, id, MTLSAUTHZ_FIELD_EKU, i), 0);
    cr_assert_eq(strlen(v), len);
    return v;
}

/* Loads `eku: ["value"]` as the only key of a principal. 0, or the load's error code. */
static int load_eku(mtlsauthz_policy **out, const char *value)
{
    char selector[256];
    const char *yaml;
    mtlsauthz_error err = {0};
    snprintf(selector, sizeof(selector), "    eku: [\"%s\"]\n", value);
    yaml = ph_selector_yaml(selector);
    *out = NULL;
    return mtlsauthz_policy_load(out, yaml, strlen(yaml), &err);
}

/* 1 when the identity matches `eku: ["value"]`, 0 when it does not, -1 when no policy can say
 * it (the compiler refuses the value). */
static int eku_selects(const char *value, const mtlsauthz_identity *id)
{
    mtlsauthz_policy *p = NULL;
    mtlsauthz_decision d;
    mtlsauthz_error err = {0};
    int rc = load_eku(&p, value);
    if (rc != 0) {
        cr_assert_eq(rc, MTLSAUTHZ_EPOLICY, "eku %s: %s", value, mtlsauthz_errname(rc));
        return -1;
    }
    cr_assert_eq(mtlsauthz_policy_decide(&d, p, id, "x", 1, &err), 0, "%s", err.message);
    mtlsauthz_policy_free(p);
    return d.allowed;
}

Test(eku, table_is_openssls_names_for_its_oids)
{
    size_t n, i, j;
    const mtlsauthz__eku *t = mtlsauthz__eku_table(&n);
    cr_assert_geq(n, 6);
    for (i = 0; i < n; i++) {
        char text[64];
        int nid = OBJ_txt2nid(t[i].oid);
        cr_assert_neq(nid, NID_undef, "%s", t[i].oid);
        cr_assert_str_eq(OBJ_nid2sn(nid), t[i].name);
        cr_assert_gt(OBJ_obj2txt(text, sizeof(text), OBJ_nid2obj(nid), 1), 0);
        cr_assert_str_eq(text, t[i].oid);
        cr_assert_eq(mtlsauthz__eku_by_oid(t[i].oid, strlen(t[i].oid)), &t[i]);
        cr_assert_eq(mtlsauthz__eku_by_name(t[i].name, strlen(t[i].name)), &t[i]);
        for (j = 0; j < i; j++) {
            cr_assert_str_neq(t[i].name, t[j].name);
            cr_assert_str_neq(t[i].oid, t[j].oid);
        }
    }
    /* Exact bytes only: no prefix, no case folding, no NULL. */
    cr_assert_null(mtlsauthz__eku_by_name("clientauth", 10));
    cr_assert_null(mtlsauthz__eku_by_name("clientAuth", 6));
    cr_assert_null(mtlsauthz__eku_by_oid("1.3.6.1.5.5.7.3.2", 16));
    cr_assert_null(mtlsauthz__eku_by_oid("1.3.6.1.5.5.7.3.2\0", 18));
    cr_assert_null(mtlsauthz__eku_by_oid(NULL, 0));
    cr_assert_null(mtlsauthz__eku_by_name(NULL, 0));
}

/* The identity reports each table purpose by name, anything else as its OID. */
Test(eku, identity_reports_table_names_and_other_oids)
{
    mtlsauthz_identity *id = eku_identity();
    char oid[64];
    size_t named = 0, n;
    (void)mtlsauthz__eku_table(&n);
    for (size_t i = 0; i < NPROBES; i++) {
        const mtlsauthz__eku *known;
        probe_oid(oid, sizeof(oid), i);
        known = mtlsauthz__eku_by_oid(oid, strlen(oid));
        cr_assert_str_eq(reported(id, i), known != NULL ? known->name : oid);
        named += known != NULL;
    }
    cr_assert_eq(named, n);
    mtlsauthz_identity_free(id);
}

/*
 * For every purpose, whatever the identity reports is accepted by the compiler and matches;
 * its OID is accepted and matches; and each of OpenSSL's names for it (short and long) is
 * either refused by the compiler or matches. A name only the compiler knew would load and
 * never match; a name only the identity gave could not be written in a policy.
 */
Test(eku, every_name_a_policy_accepts_matches_the_identity)
{
    mtlsauthz_identity *id = eku_identity();
    char oid[64];
    size_t accepted_names = 0, n;

    (void)mtlsauthz__eku_table(&n);
    for (size_t i = 0; i < NPROBES; i++) {
        const char *r = reported(id, i);
        int nid;
        probe_oid(oid, sizeof(oid), i);
        cr_assert_eq(eku_selects(r, id), 1, "the identity reports %s for %s: no policy matches it",
                     r, oid);
        cr_assert_eq(eku_selects(oid, id), 1, "eku %s does not match the identity (%s)", oid, r);
        nid = OBJ_txt2nid(oid);
        if (nid == NID_undef) {
            continue;
        }
        for (int form = 0; form < 2; form++) {
            const char *name = form == 0 ? OBJ_nid2sn(nid) : OBJ_nid2ln(nid);
            int s;
            if (name == NULL) {
                continue;
            }
            s = eku_selects(name, id);
            cr_assert_neq(s, 0,
                          "a policy naming %s (%s) loads but never matches; the identity "
                          "reports %s",
                          name, oid, r);
            if (s == 1) {
                cr_assert_str_eq(name, r, "%s is accepted but the identity reports %s", name, r);
                accepted_names++;
            }
        }
    }
    /* Each table name was tried (as OpenSSL's short name) and accepted. */
    cr_assert_eq(accepted_names, n);
    mtlsauthz_identity_free(id);
}

/* A purpose the leaf lacks never matches, whichever way the policy names it. */
Test(eku, absent_purpose_does_not_match)
{
    static const char *const plain[] = {"codeSigning", "1.3.6.1.5.5.7.3.3"};
    mtlsauthz_identity *id = ph_cert("builder"); /* clientAuth only */
    cr_assert_eq(eku_selects("clientAuth", id), 1);
    cr_assert_eq(eku_selects("1.3.6.1.5.5.7.3.2", id), 1);
    for (size_t i = 0; i < 2; i++) {
        cr_assert_eq(eku_selects(plain[i], id), 0, "%s", plain[i]);
    }
    mtlsauthz_identity_free(id);
}

/* Names outside the table are refused, not compiled into a value nothing reports. */
Test(eku, names_outside_the_table_are_refused)
{
    static const char *const bad[] = {"clientauth", "ClientAuth", "anyExtendedKeyUsage",
                                      "ipsecUser",  "msEFS",      "TLS Web Client Authentication",
                                      "clientAuth "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        mtlsauthz_policy *p = NULL;
        cr_assert_eq(load_eku(&p, bad[i]), MTLSAUTHZ_EPOLICY, "%s", bad[i]);
        cr_assert_null(p);
    }
}
