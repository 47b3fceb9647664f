/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Limits (docs/limits.md) that no module test reaches through the public API: certificates
 * built in-process with OpenSSL to cross the per-field and size limits end to end, pattern and
 * capture limits as a policy author meets them, the operation limit on the per-request path,
 * the HTTP method limit, the policy file limit and the per-connection match budget. Each limit
 * is tested on both sides: at the limit it works, one past it is a clear error (and a deny).
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include "mtlsauthz/openssl.h"
#include "pattern.h"
#include "policy_helpers.h"

/* ---- certificates made here ---- */

static EVP_PKEY *test_key(void)
{
    static EVP_PKEY *key;
    if (key == NULL) {
        key = EVP_EC_gen("P-256");
        cr_assert_not_null(key);
    }
    return key;
}

/*
 * A self-signed leaf with `ndns` DNS SANs of `dns_len` bytes each (at least 16) and `nou`
 * subject OUs. Returns its DER (OPENSSL_free) and sets *len.
 */
static unsigned char *make_cert(size_t *len, unsigned ndns, size_t dns_len, unsigned nou)
{
    X509 *x = X509_new();
    X509_NAME *name;
    unsigned char *der = NULL;
    char buf[1024];
    unsigned i;
    int n;

    cr_assert_not_null(x);
    cr_assert(dns_len >= 16 && dns_len < sizeof(buf));
    cr_assert(X509_set_version(x, 2));
    cr_assert(ASN1_INTEGER_set(X509_get_serialNumber(x), 0x1234));
    cr_assert_not_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
    cr_assert_not_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
    name = X509_get_subject_name(x);
    cr_assert(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"limits",
                                         -1, -1, 0));
    for (i = 0; i < nou; i++) {
        snprintf(buf, sizeof(buf), "unit-%u", i);
        cr_assert(
            X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC, (unsigned char *)buf, -1, -1, 0));
    }
    cr_assert(X509_set_issuer_name(x, name));
    cr_assert(X509_set_pubkey(x, test_key()));
    if (ndns > 0) {
        GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
        cr_assert_not_null(gens);
        for (i = 0; i < ndns; i++) {
            GENERAL_NAME *g = GENERAL_NAME_new();
            ASN1_IA5STRING *s = ASN1_IA5STRING_new();
            cr_assert(g != NULL && s != NULL);
            /* "h<i>-aaa...a.example.com", exactly dns_len bytes. */
            n = snprintf(buf, sizeof(buf), "h%u-", i);
            memset(buf + n, 'a', dns_len - (size_t)n - 12);
            memcpy(buf + dns_len - 12, ".example.com", 12);
            cr_assert(ASN1_STRING_set(s, buf, (int)dns_len));
            GENERAL_NAME_set0_value(g, GEN_DNS, s);
            cr_assert(sk_GENERAL_NAME_push(gens, g) > 0);
        }
        cr_assert(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0));
        GENERAL_NAMES_free(gens);
    }
    cr_assert(X509_sign(x, test_key(), EVP_sha256()) > 0);
    n = i2d_X509(x, &der);
    cr_assert_gt(n, 0);
    *len = (size_t)n;
    X509_free(x);
    return der;
}

/* The same certificate as PEM (malloc'd). */
static char *der_to_pem(const unsigned char *der, size_t der_len, size_t *len)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)der_len);
    BIO *bio = BIO_new(BIO_s_mem());
    char *data, *pem;
    long n;
    cr_assert(x != NULL && bio != NULL);
    cr_assert(PEM_write_bio_X509(bio, x));
    n = BIO_get_mem_data(bio, &data);
    cr_assert_gt(n, 0);
    pem = malloc((size_t)n);
    cr_assert_not_null(pem);
    memcpy(pem, data, (size_t)n);
    *len = (size_t)n;
    BIO_free(bio);
    X509_free(x);
    return pem;
}

static int from_der(mtlsauthz_identity **id, const unsigned char *der, size_t len,
                    mtlsauthz_error *err)
{
    mtlsauthz_error_clear(err);
    *id = NULL;
    return mtlsauthz_identity_from_der(id, der, len, err);
}

Test(limits, san_count_at_the_limit_is_accepted)
{
    size_t len;
    unsigned char *der = make_cert(&len, MTLSAUTHZ__MAX_VALUES, 24, 0);
    mtlsauthz_identity *id;
    mtlsauthz_error err;
    cr_assert_eq(from_der(&id, der, len, &err), 0, "%s", err.message);
    cr_assert_eq(mtlsauthz_identity_count(id, MTLSAUTHZ_FIELD_SAN_DNS), MTLSAUTHZ__MAX_VALUES);
    mtlsauthz_identity_free(id);
    OPENSSL_free(der);
}

Test(limits, san_count_over_the_limit_is_elimit)
{
    size_t len, pem_len;
    unsigned char *der = make_cert(&len, MTLSAUTHZ__MAX_VALUES + 1, 24, 0);
    char *pem = der_to_pem(der, len, &pem_len);
    mtlsauthz_identity *id;
    mtlsauthz_error err;
    cr_assert_eq(from_der(&id, der, len, &err), MTLSAUTHZ_ELIMIT, "%s", err.message);
    cr_assert_null(id);
    ph_assert_contains(err.message, "more than 256 DNS SAN values");
    /* The PEM path and the separate-buffer path apply the same limit. */
    mtlsauthz_error_clear(&err);
    cr_assert_eq(mtlsauthz_identity_from_pem(&id, pem, pem_len, &err), MTLSAUTHZ_ELIMIT);
    cr_assert_null(id);
    {
        const unsigned char *certs[1] = {der};
        cr_assert_eq(mtlsauthz_identity_from_der_chain(&id, certs, &len, 1, &err),
                     MTLSAUTHZ_ELIMIT);
        cr_assert_null(id);
    }
    free(pem);
    OPENSSL_free(der);
}

Test(limits, san_count_limit_applies_to_x509_objects)
{
    /* mtlsauthz_identity_from_x509() reads a certificate the TLS stack already parsed; it
     * skips the size checks but keeps the per-field limits. */
    size_t len;
    unsigned char *der = make_cert(&len, MTLSAUTHZ__MAX_VALUES + 1, 24, 0);
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    mtlsauthz_identity *id = NULL;
    mtlsauthz_error err;
    cr_assert_not_null(x);
    mtlsauthz_error_clear(&err);
    cr_assert_eq(mtlsauthz_identity_from_x509(&id, x, NULL, &err), MTLSAUTHZ_ELIMIT, "%s",
                 err.message);
    cr_assert_null(id);
    X509_free(x);
    OPENSSL_free(der);
}

Test(limits, subject_attribute_count_limit)
{
    size_t len;
    unsigned char *der = make_cert(&len, 0, 16, MTLSAUTHZ__MAX_VALUES);
    mtlsauthz_identity *id;
    mtlsauthz_error err;
    cr_assert_eq(from_der(&id, der, len, &err), 0, "%s", err.message);
    cr_assert_eq(mtlsauthz_identity_count(id, MTLSAUTHZ_FIELD_OU), MTLSAUTHZ__MAX_VALUES);
    mtlsauthz_identity_free(id);
    OPENSSL_free(der);

    der = make_cert(&len, 0, 16, MTLSAUTHZ__MAX_VALUES + 1);
    cr_assert_eq(from_der(&id, der, len, &err), MTLSAUTHZ_ELIMIT, "%s", err.message);
    cr_assert_null(id);
    ph_assert_contains(err.message, "more than 256 subject OU values");
    OPENSSL_free(der);
}

Test(limits, real_certificate_over_max_cert_bytes)
{
    /* A genuine, well-formed certificate of more than 64 KiB (200 SANs of 400 bytes): refused
     * by size before it is parsed, alone or second in a chain. */
    size_t len, small_len;
    unsigned char *big = make_cert(&len, 200, 400, 0);
    unsigned char *small = make_cert(&small_len, 1, 24, 0);
    unsigned char *chain;
    mtlsauthz_identity *id;
    mtlsauthz_error err;
    cr_assert_gt(len, MTLSAUTHZ__MAX_CERT_BYTES);
    cr_assert_eq(from_der(&id, big, len, &err), MTLSAUTHZ_ELIMIT, "%s", err.message);
    cr_assert_null(id);
    ph_assert_contains(err.message, "larger than 65536 bytes");

    chain = malloc(small_len + len);
    cr_assert_not_null(chain);
    memcpy(chain, small, small_len);
    memcpy(chain + small_len, big, len);
    cr_assert_eq(from_der(&id, chain, small_len + len, &err), MTLSAUTHZ_ELIMIT, "%s", err.message);
    ph_assert_contains(err.message, "certificate 2 is larger than 65536 bytes");
    cr_assert_null(id);
    free(chain);

    /* The same certificate as an X509 a TLS stack parsed: refused by its encoded size. */
    {
        const unsigned char *p = big;
        X509 *x = d2i_X509(NULL, &p, (long)len);
        cr_assert_not_null(x);
        cr_assert_eq(mtlsauthz_identity_from_x509(&id, x, NULL, &err), MTLSAUTHZ_ELIMIT, "%s",
                     err.message);
        ph_assert_contains(err.message, "certificate is larger than 65536 bytes");
        cr_assert_null(id);
        X509_free(x);
    }
    OPENSSL_free(big);
    OPENSSL_free(small);
}

/* ---- patterns and captures, as a policy author meets them ---- */

/* A policy whose one rule has operation `op`. */
static int load_with_op(const char *op, mtlsauthz_error *err)
{
    static char yaml[16384];
    mtlsauthz_policy *p = NULL;
    int rc;
    snprintf(yaml, sizeof(yaml),
             "version: 1\nrules:\n  - id: r\n    effect: allow\n    principals: [\"*\"]\n"
             "    operations: [\"%s\"]\n",
             op);
    mtlsauthz_error_clear(err);
    rc = mtlsauthz_policy_load(&p, yaml, strlen(yaml), err);
    mtlsauthz_policy_free(p);
    return rc;
}

/* A policy with one principal whose `cn` (and, if not NULL, `o` and `ou`) are given, and a
 * rule for it. */
static int load_with_selector(const char *cn, const char *o, const char *ou, mtlsauthz_error *err)
{
    char yaml[4096];
    mtlsauthz_policy *p = NULL;
    int rc;
    snprintf(yaml, sizeof(yaml),
             "version: 1\nprincipals:\n  - name: p\n    cn: [\"%s\"]\n"
             "    o: [\"%s\"]\n    ou: [\"%s\"]\n"
             "rules:\n  - id: r\n    effect: allow\n    principals: [p]\n"
             "    operations: [\"GET /\"]\n",
             cn, o ? o : "x", ou ? ou : "x");
    mtlsauthz_error_clear(err);
    rc = mtlsauthz_policy_load(&p, yaml, strlen(yaml), err);
    mtlsauthz_policy_free(p);
    return rc;
}

Test(limits, pattern_length_through_policy)
{
    static char op[MTLSAUTHZ__PATTERN_MAX_LEN + 2];
    mtlsauthz_error err;
    memcpy(op, "GET /", 5);
    memset(op + 5, 'a', MTLSAUTHZ__PATTERN_MAX_LEN - 5);
    op[MTLSAUTHZ__PATTERN_MAX_LEN] = '\0';
    cr_assert_eq(load_with_op(op, &err), 0, "%s", err.message);
    op[MTLSAUTHZ__PATTERN_MAX_LEN] = 'a';
    op[MTLSAUTHZ__PATTERN_MAX_LEN + 1] = '\0';
    cr_assert_eq(load_with_op(op, &err), MTLSAUTHZ_ELIMIT);
    /* (The message is cut at 512 bytes; the size comes before the cut.) */
    ph_assert_contains(err.message, "4097 bytes");
    ph_assert_contains(err.message, "rule 'r'");
}

Test(limits, wildcard_count_through_policy)
{
    char op[256] = "GET ";
    unsigned i;
    mtlsauthz_error err;
    for (i = 0; i < MTLSAUTHZ__PATTERN_MAX_WILDCARDS; i++) {
        strcat(op, "/*");
    }
    cr_assert_eq(load_with_op(op, &err), 0, "%s", err.message);
    strcat(op, "/*");
    cr_assert_eq(load_with_op(op, &err), MTLSAUTHZ_ELIMIT);
    ph_assert_contains(err.message, "more than 16 wildcards");
}

Test(limits, capture_count_in_one_pattern)
{
    mtlsauthz_error err;
    cr_assert_eq(load_with_selector("{a}-{b}-{c}-{d}-{e}-{f}-{g}-{h}", NULL, NULL, &err), 0, "%s",
                 err.message);
    cr_assert_eq(load_with_selector("{a}-{b}-{c}-{d}-{e}-{f}-{g}-{h}-{i}", NULL, NULL, &err),
                 MTLSAUTHZ_ELIMIT);
    ph_assert_contains(err.message, "more than 8 distinct capture names");
    /* A name used again is not a new capture. */
    cr_assert_eq(load_with_selector("{a}-{b}-{c}-{d}-{e}-{f}-{g}-{h}-{a}", NULL, NULL, &err), 0,
                 "%s", err.message);
}

Test(limits, capture_name_length)
{
    char cn[128];
    mtlsauthz_error err;
    snprintf(cn, sizeof(cn), "{%.*s}", 64,
             "n123456789n123456789n123456789n123456789n123456789"
             "n123456789n123456789");
    cr_assert_eq(load_with_selector(cn, NULL, NULL, &err), 0, "%s", err.message);
    snprintf(cn, sizeof(cn), "{%.*s}", 65,
             "n123456789n123456789n123456789n123456789n123456789"
             "n123456789n123456789");
    cr_assert_eq(load_with_selector(cn, NULL, NULL, &err), MTLSAUTHZ_EPOLICY);
    ph_assert_contains(err.message, "capture name longer than 64 bytes");
}

Test(limits, capture_names_per_principal)
{
    mtlsauthz_error err;
    /* 8 + 8 = 16 distinct names over two keys: the most a principal may bind. */
    cr_assert_eq(load_with_selector("{a}-{b}-{c}-{d}-{e}-{f}-{g}-{h}",
                                    "{i}-{j}-{k}-{l}-{m}-{n}-{o}-{p}", NULL, &err),
                 0, "%s", err.message);
    /* A name bound again by a third key is not new. */
    cr_assert_eq(load_with_selector("{a}-{b}-{c}-{d}-{e}-{f}-{g}-{h}",
                                    "{i}-{j}-{k}-{l}-{m}-{n}-{o}-{p}", "{a}", &err),
                 0, "%s", err.message);
    /* A 17th, though each pattern stays within its own limit of 8. */
    cr_assert_eq(load_with_selector("{a}-{b}-{c}-{d}-{e}-{f}-{g}-{h}",
                                    "{i}-{j}-{k}-{l}-{m}-{n}-{o}-{p}", "{q}", &err),
                 MTLSAUTHZ_ELIMIT);
    ph_assert_contains(err.message, "principal 'p': more than 16 distinct capture names");
}

/* ---- the per-request path ---- */

Test(limits, operation_length_on_a_peer)
{
    mtlsauthz_policy *p = ph_load("version: 1\nrules:\n  - id: r\n    effect: allow\n"
                                  "    principals: [\"*\"]\n    operations: [\"**\"]\n");
    ph_ident *pi = ph_ident_new();
    mtlsauthz_peer *peer = NULL;
    mtlsauthz_decision d;
    mtlsauthz_error err;
    char *op = malloc(MTLSAUTHZ__OP_MAX_LEN + 1);
    cr_assert_not_null(op);
    memset(op, 'a', MTLSAUTHZ__OP_MAX_LEN + 1);
    cr_assert_eq(mtlsauthz_peer_new(&peer, p, &pi->id, &err), 0, "%s", err.message);
    cr_assert_eq(mtlsauthz_peer_decide(&d, peer, op, MTLSAUTHZ__OP_MAX_LEN, &err), 0);
    cr_assert_eq(d.allowed, 1);
    cr_assert_eq(mtlsauthz_peer_decide(&d, peer, op, MTLSAUTHZ__OP_MAX_LEN + 1, &err),
                 MTLSAUTHZ_ELIMIT);
    cr_assert_eq(d.allowed, 0);
    cr_assert_eq(d.reason, MTLSAUTHZ_REASON_ERROR);
    ph_assert_contains(err.message, "exceeds the limit of 8192");
    mtlsauthz_peer_free(peer);
    mtlsauthz_policy_free(p);
    free(pi);
    free(op);
}

Test(limits, http_method_length)
{
    char method[34], out[128];
    size_t len;
    mtlsauthz_error err;
    memset(method, 'M', sizeof(method));
    cr_assert_eq(mtlsauthz_http_operation(out, sizeof(out), &len, method, 32, "/x", 2, &err), 0);
    cr_assert_eq(len, 32 + 3);
    cr_assert_eq(mtlsauthz_http_operation(out, sizeof(out), &len, method, 33, "/x", 2, &err),
                 MTLSAUTHZ_EOPERATION);
    cr_assert_str_eq(out, "");
    ph_assert_contains(err.message, "method longer than 32 bytes");
}

Test(limits, peer_match_budget_fails_closed)
{
    /* `{a}` twice must bind equal values, so matching backtracks over every way to split the
     * CN at its dashes: C(300, 7) ways, none consistent (the first part starts with x, the
     * last ends with y). The per-connection budget stops it; the peer then denies everything,
     * even an operation any identity may perform. */
    mtlsauthz_policy *p = ph_load("version: 1\n"
                                  "principals:\n"
                                  "  - name: p\n"
                                  "    cn: [\"{a}-{b}-{c}-{d}-{e}-{f}-{g}-{a}\"]\n"
                                  "rules:\n"
                                  "  - id: r\n"
                                  "    effect: allow\n"
                                  "    principals: [p]\n"
                                  "    operations: [\"GET /{a}\"]\n"
                                  "  - id: open\n"
                                  "    effect: allow\n"
                                  "    principals: [\"*\"]\n"
                                  "    operations: [\"GET /open\"]\n");
    ph_ident *pi = ph_ident_new();
    mtlsauthz_peer *peer = NULL;
    mtlsauthz_decision d;
    mtlsauthz_error err;
    char cn[303];
    cn[0] = 'x';
    memset(cn + 1, '-', 300);
    cn[301] = 'y';
    cn[302] = '\0';
    pi->id.counts[MTLSAUTHZ_FIELD_CN] = 0;
    ph_add(pi, MTLSAUTHZ_FIELD_CN, cn);
    cr_assert_eq(mtlsauthz_peer_new(&peer, p, &pi->id, &err), 0, "%s", err.message);
    cr_assert_eq(mtlsauthz_peer_decide(&d, peer, "GET /open", 9, &err), MTLSAUTHZ_ELIMIT);
    cr_assert_eq(d.allowed, 0);
    cr_assert_eq(d.reason, MTLSAUTHZ_REASON_ERROR);
    cr_assert_eq(mtlsauthz_policy_decide(&d, p, &pi->id, "GET /open", 9, &err), MTLSAUTHZ_ELIMIT);
    cr_assert_eq(d.allowed, 0);
    mtlsauthz_peer_free(peer);

    /* The same principal with a short CN that does bind consistently works. */
    pi->id.counts[MTLSAUTHZ_FIELD_CN] = 0;
    ph_add(pi, MTLSAUTHZ_FIELD_CN, "q-1-2-3-4-5-6-q");
    ph_allow(p, &pi->id, "GET /q", "r");
    ph_allow(p, &pi->id, "GET /open", "open");
    mtlsauthz_policy_free(p);
    free(pi);
}

/* ---- policy files ---- */

Test(limits, policy_file_over_the_limit)
{
    /* A sparse file one byte over 64 MiB: refused after reading at most limit + 1 bytes. */
    char path[] = "/tmp/mtlsauthz-limits-XXXXXX";
    mtlsauthz_policy *p = NULL;
    mtlsauthz_error err;
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, (off_t)MTLSAUTHZ__POLICY_MAX_BYTES + 1), 0);
    close(fd);
    mtlsauthz_error_clear(&err);
    cr_assert_eq(mtlsauthz_policy_load_file(&p, path, &err), MTLSAUTHZ_ELIMIT, "%s", err.message);
    cr_assert_null(p);
    ph_assert_contains(err.message, "larger than 67108864 bytes");
    unlink(path);
}

Test(limits, decide_match_budget_is_a_deny)
{
    /* Per request, `{a}` is bound (to "x", from the CN) and must match it at both ends of the
     * path segment, with six `*` between: backtracking over C(600, 6) splits of the dashes,
     * none of which ends in "x". The per-request budget stops it: that request is a deny with
     * ELIMIT, and the peer keeps answering other requests. */
    mtlsauthz_policy *p = ph_load("version: 1\n"
                                  "principals:\n"
                                  "  - name: p\n"
                                  "    cn: [\"{a}\"]\n"
                                  "rules:\n"
                                  "  - id: r\n"
                                  "    effect: allow\n"
                                  "    principals: [p]\n"
                                  "    operations: [\"GET /{a}-*-*-*-*-*-*-{a}\"]\n"
                                  "  - id: open\n"
                                  "    effect: allow\n"
                                  "    principals: [p]\n"
                                  "    operations: [\"GET /open\"]\n");
    ph_ident *pi = ph_ident_new();
    mtlsauthz_peer *peer = NULL;
    mtlsauthz_decision d;
    mtlsauthz_error err;
    char op[700];
    int n = snprintf(op, sizeof(op), "GET /x");
    memset(op + n, '-', 600);
    op[n + 600] = 'y';
    op[n + 601] = '\0';
    pi->id.counts[MTLSAUTHZ_FIELD_CN] = 0;
    ph_add(pi, MTLSAUTHZ_FIELD_CN, "x");
    cr_assert_eq(mtlsauthz_peer_new(&peer, p, &pi->id, &err), 0, "%s", err.message);
    cr_assert_eq(mtlsauthz_peer_decide(&d, peer, op, strlen(op), &err), MTLSAUTHZ_ELIMIT, "%s",
                 mtlsauthz_reason_string(d.reason));
    cr_assert_eq(d.allowed, 0);
    cr_assert_eq(d.reason, MTLSAUTHZ_REASON_ERROR);
    cr_assert_eq(mtlsauthz_peer_decide(&d, peer, "GET /open", 9, &err), 0);
    cr_assert_eq(d.allowed, 1);
    cr_assert_eq(mtlsauthz_peer_decide(&d, peer, "GET /x-1-2-3-4-5-6-x", 20, &err), 0);
    cr_assert_eq(d.allowed, 1);
    mtlsauthz_peer_free(peer);
    mtlsauthz_policy_free(p);
    free(pi);
}
