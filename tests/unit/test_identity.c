/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Identity extraction (lib/identity.c, lib/x509.c): every field, its negative cases, and the
 * attacks docs/policy.md names (NUL in names, invalid SPIFFE IDs, malformed input).
 * Certificates come from tests/certs/gen-certs.sh.
 */
#include <stdint.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "der.h"
#include "helpers.h"
#include "identity_build.h"
#include "mtlsauthz/openssl.h"

/* ---- helpers ---- */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Parses a certificate file (DER or PEM by name) and returns 0 or the error code. */
static int try_load(mtlsauthz_identity **out, const char *name, mtlsauthz_error *err)
{
    size_t len;
    char *data = th_cert(name, &len);
    int rc;
    if (ends_with(name, ".der")) {
        rc = mtlsauthz_identity_from_der(out, (const unsigned char *)data, len, err);
    } else {
        rc = mtlsauthz_identity_from_pem(out, data, len, err);
    }
    free(data);
    return rc;
}

static mtlsauthz_identity *load(const char *name)
{
    mtlsauthz_identity *id = NULL;
    mtlsauthz_error err = {0};
    int rc = try_load(&id, name, &err);
    cr_assert_eq(rc, 0, "%s: %s", name, err.message);
    cr_assert_not_null(id);
    return id;
}

static void expect_error(const char *name, int code)
{
    mtlsauthz_identity *id = (mtlsauthz_identity *)0x1;
    mtlsauthz_error err = {0};
    int rc = try_load(&id, name, &err);
    cr_assert_eq(rc, code, "%s: got %d (%s), want %d", name, rc, err.message, code);
    cr_assert_null(id, "%s: *out must be NULL on error", name);
    cr_assert_eq(err.code, code);
    cr_assert_neq(err.message[0], '\0', "%s: no message", name);
    cr_assert_null(strchr(err.message, '\n'), "%s: message is not one line", name);
}

/* Asserts the values of `field`, NULs included (each expected value given with its length). */
static void expect_bytes(const mtlsauthz_identity *id, mtlsauthz_field f, size_t n,
                         const char *const *vals, const size_t *lens)
{
    size_t i;
    cr_assert_eq(mtlsauthz_identity_count(id, f), n, "field %d: %zu values, want %zu", (int)f,
                 mtlsauthz_identity_count(id, f), n);
    for (i = 0; i < n; i++) {
        const char *v;
        size_t len;
        cr_assert_eq(mtlsauthz_identity_get(&v, &len, id, f, i), 0);
        cr_assert_eq(len, lens[i], "field %d[%zu]: length %zu, want %zu", (int)f, i, len, lens[i]);
        cr_assert(memcmp(v, vals[i], len) == 0, "field %d[%zu]: '%.*s' != '%s'", (int)f, i,
                  (int)len, v, vals[i]);
        cr_assert_eq(v[len], '\0', "field %d[%zu] is not NUL-terminated", (int)f, i);
    }
}

#define EXPECT(id, f, ...)                                                                         \
    do {                                                                                           \
        const char *const vals_[] = {__VA_ARGS__};                                                 \
        size_t lens_[sizeof(vals_) / sizeof(vals_[0])], i_;                                        \
        for (i_ = 0; i_ < sizeof(vals_) / sizeof(vals_[0]); i_++) {                                \
            lens_[i_] = strlen(vals_[i_]);                                                         \
        }                                                                                          \
        expect_bytes((id), (f), sizeof(vals_) / sizeof(vals_[0]), vals_, lens_);                   \
    } while (0)

#define EXPECT_NONE(id, f)                                                                         \
    cr_assert_eq(mtlsauthz_identity_count((id), (f)), 0, "field %d should be empty", (int)(f))

static void expect_same(const mtlsauthz_identity *a, const mtlsauthz_identity *b, const char *what)
{
    size_t f, i;
    for (f = 0; f < MTLSAUTHZ_FIELD_COUNT_; f++) {
        cr_assert_eq(a->counts[f], b->counts[f], "%s: field %zu count", what, f);
        for (i = 0; i < a->counts[f]; i++) {
            cr_assert_eq(a->values[f][i].len, b->values[f][i].len, "%s: field %zu[%zu]", what, f,
                         i);
            cr_assert(memcmp(a->values[f][i].ptr, b->values[f][i].ptr, a->values[f][i].len) == 0,
                      "%s: field %zu[%zu] differs", what, f, i);
        }
    }
    for (i = 0; i < a->counts[MTLSAUTHZ_FIELD_SAN_IP]; i++) {
        cr_assert_eq(a->ip_raw[i].len, b->ip_raw[i].len);
        cr_assert(memcmp(a->ip_raw[i].ptr, b->ip_raw[i].ptr, a->ip_raw[i].len) == 0);
    }
    cr_assert_eq(a->rejected == NULL, b->rejected == NULL, "%s: rejected differs", what);
    if (a->rejected != NULL) {
        cr_assert_str_eq(a->rejected, b->rejected);
    }
}

/* The field holds exactly one value, `want`. */
static void assert_field_is(const mtlsauthz_identity *id, mtlsauthz_field f, const char *want,
                            const char *what)
{
    const char *v;
    size_t len;
    cr_assert_eq(mtlsauthz_identity_count(id, f), 1, "%s: field %d has %zu values", what, (int)f,
                 mtlsauthz_identity_count(id, f));
    cr_assert_eq(mtlsauthz_identity_get(&v, &len, id, f, 0), 0);
    cr_assert(len == strlen(want) && memcmp(v, want, len) == 0, "%s: field %d is '%.*s'", what,
              (int)f, (int)len, v);
}

static void expect_rejected(const mtlsauthz_identity *id, const char *reason)
{
    const char *got = mtlsauthz_identity_rejected(id);
    cr_assert_not_null(got, "identity should be rejected (%s)", reason);
    cr_assert_str_eq(got, reason);
}

static void expect_accepted(const mtlsauthz_identity *id)
{
    const char *got = mtlsauthz_identity_rejected(id);
    cr_assert_null(got, "identity rejected: %s", got);
}

/* The certificates gen-certs.sh makes, for the "every certificate" tests. */
static const char *const all_certs[] = {
    "ca",
    "int",
    "full",
    "builder",
    "builder-noeku",
    "ops",
    "sre",
    "tenant-acme",
    "tenant-globex",
    "web",
    "web-admin",
    "dns-wild",
    "server",
    "plain",
    "bmp-cn",
    "teletex-cn",
    "utf8-o",
    "multi-ou",
    "ipv6",
    "dn-special",
    "neg-serial",
    "zero-serial",
    "spiffe-upper-td",
    "spiffe-dotdot",
    "spiffe-query",
    "spiffe-port",
    "spiffe-td-only",
    "spiffe-two-uri",
    "spiffe-upper-scheme",
    "spiffe-ca",
    "nul-cn",
    "nul-dns",
    "utf8-dns",
    "utf8-email",
    "utf8-uri",
    "latin1-dns",
    "wrong-leaf-ca-true",
    "wrong-leaf-cert-sign",
    "wrong-leaf-crl-sign",
    "wrong-leaf-no-digital-signature",
    "wrong-leaf-empty-id",
    "wrong-leaf-id-only-root",
    "wrong-leaf-ext-key-usage-incomplete",
    "spiffe-no-ku",
    "spiffe-ku-extra",
    "spiffe-ku-noncritical",
    "spiffe-ku-two-bytes",
    "dn-attrs",
};

static char *cert_file(const char *name, const char *ext)
{
    static char buf[256];
    snprintf(buf, sizeof(buf), "%s.%s", name, ext);
    return buf;
}

/* ---- every field of a full certificate ---- */

Test(identity, full_every_field)
{
    mtlsauthz_identity *id = load("full.der");
    static const unsigned char v4[] = {192, 0, 2, 10};
    static const unsigned char v6[] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const unsigned char mapped[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 10};

    EXPECT(id, MTLSAUTHZ_FIELD_SUBJECT_DN,
           "emailAddress=alice@example.com,CN=full.example.com,OU=three,OU=two,OU=one,"
           "O=Second Org,O=Example Corp,L=San Francisco,ST=California,C=US");
    EXPECT(id, MTLSAUTHZ_FIELD_CN, "full.example.com");
    EXPECT(id, MTLSAUTHZ_FIELD_O, "Example Corp", "Second Org");
    EXPECT(id, MTLSAUTHZ_FIELD_OU, "one", "two", "three");
    EXPECT(id, MTLSAUTHZ_FIELD_ISSUER_DN, "CN=mtlsauthz Test Intermediate CA,O=Example Corp");
    /* The DER INTEGER is 00 C0 FF EE ...: the sign byte is not a leading zero to print. */
    EXPECT(id, MTLSAUTHZ_FIELD_SERIAL, "c0ffee0123456789abcdef");
    /* Case is kept as issued; matching rules decide how to compare. */
    EXPECT(id, MTLSAUTHZ_FIELD_SAN_DNS, "web.example.com", "API.Example.COM");
    EXPECT(id, MTLSAUTHZ_FIELD_SAN_URI, "https://example.com/x");
    EXPECT(id, MTLSAUTHZ_FIELD_SAN_EMAIL, "alice@Example.COM");
    EXPECT(id, MTLSAUTHZ_FIELD_SAN_IP, "192.0.2.10", "2001:db8::1", "::ffff:192.0.2.10");
    EXPECT(id, MTLSAUTHZ_FIELD_EKU, "clientAuth", "serverAuth", "1.2.3.4.5");
    EXPECT(id, MTLSAUTHZ_FIELD_NOT_BEFORE, "2020-01-01T00:00:00Z");
    EXPECT(id, MTLSAUTHZ_FIELD_NOT_AFTER, "2051-01-02T03:04:05Z");
    /* A non-spiffe URI SAN is neither a SPIFFE ID nor a reason to reject. */
    EXPECT_NONE(id, MTLSAUTHZ_FIELD_SPIFFE_ID);
    expect_accepted(id);
    cr_assert_eq(mtlsauthz_identity_chain_length(id), 1);

    cr_assert_eq(id->ip_raw[0].len, 4);
    cr_assert(memcmp(id->ip_raw[0].ptr, v4, 4) == 0);
    cr_assert_eq(id->ip_raw[1].len, 16);
    cr_assert(memcmp(id->ip_raw[1].ptr, v6, 16) == 0);
    cr_assert_eq(id->ip_raw[2].len, 16);
    cr_assert(memcmp(id->ip_raw[2].ptr, mapped, 16) == 0);
    mtlsauthz_identity_free(id);
}

Test(identity, sha256_is_of_the_leaf_der)
{
    size_t len, i;
    char *der = th_cert("full.der", &len);
    unsigned char md[32];
    unsigned int md_len = 0;
    char hex[65];
    mtlsauthz_identity *id = load("full-chain.pem");
    cr_assert(EVP_Digest(der, len, md, &md_len, EVP_sha256(), NULL));
    for (i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    }
    EXPECT(id, MTLSAUTHZ_FIELD_SHA256, hex);
    mtlsauthz_identity_free(id);
    free(der);
}

Test(identity, sha256_differs_between_certificates)
{
    mtlsauthz_identity *a = load("ops.pem"), *b = load("sre.pem");
    cr_assert(memcmp(a->values[MTLSAUTHZ_FIELD_SHA256][0].ptr,
                     b->values[MTLSAUTHZ_FIELD_SHA256][0].ptr, 64) != 0);
    mtlsauthz_identity_free(a);
    mtlsauthz_identity_free(b);
}

Test(identity, plain_has_no_san_no_eku)
{
    mtlsauthz_identity *id = load("plain.pem");
    const char *v = (const char *)0x1;
    size_t len = 99;
    EXPECT(id, MTLSAUTHZ_FIELD_SUBJECT_DN, "CN=plain");
    EXPECT(id, MTLSAUTHZ_FIELD_CN, "plain");
    EXPECT_NONE(id, MTLSAUTHZ_FIELD_O);
    EXPECT_NONE(id, MTLSAUTHZ_FIELD_OU);
    EXPECT_NONE(id, MTLSAUTHZ_FIELD_SAN_DNS);
    EXPECT_NONE(id, MTLSAUTHZ_FIELD_SAN_URI);
    EXPECT_NONE(id, MTLSAUTHZ_FIELD_SAN_EMAIL);
    EXPECT_NONE(id, MTLSAUTHZ_FIELD_SAN_IP);
    EXPECT_NONE(id, MTLSAUTHZ_FIELD_EKU);
    EXPECT_NONE(id, MTLSAUTHZ_FIELD_SPIFFE_ID);
    cr_assert_eq(mtlsauthz_identity_get(&v, &len, id, MTLSAUTHZ_FIELD_EKU, 0), MTLSAUTHZ_EINVAL);
    cr_assert_null(v);
    cr_assert_eq(len, 0);
    expect_accepted(id);
    mtlsauthz_identity_free(id);
}

/* ---- EKU ---- */

Test(identity, eku_names_and_oids)
{
    mtlsauthz_identity *id = load("server.der");
    EXPECT(id, MTLSAUTHZ_FIELD_EKU, "serverAuth");
    EXPECT(id, MTLSAUTHZ_FIELD_SAN_DNS, "localhost");
    EXPECT(id, MTLSAUTHZ_FIELD_SAN_IP, "127.0.0.1", "::1");
    mtlsauthz_identity_free(id);
}

Test(identity, no_eku_extension_is_an_empty_list)
{
    mtlsauthz_identity *with = load("builder.pem"), *without = load("builder-noeku.pem");
    EXPECT(with, MTLSAUTHZ_FIELD_EKU, "clientAuth");
    EXPECT_NONE(without, MTLSAUTHZ_FIELD_EKU);
    /* The SPIFFE ID does not depend on the EKU. */
    EXPECT(without, MTLSAUTHZ_FIELD_SPIFFE_ID, "spiffe://prod.example.com/ci/builder");
    expect_accepted(without);
    mtlsauthz_identity_free(with);
    mtlsauthz_identity_free(without);
}

Test(identity, eku_builder_names_every_well_known_oid)
{
    static const char *const oids[] = {
        "1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.3",  "1.3.6.1.5.5.7.3.4",
        "1.3.6.1.5.5.7.3.8", "1.3.6.1.5.5.7.3.9", "1.3.6.1.5.5.7.3.22", "1.3.6.1.5.5.7.3.1.5"};
    mtlsauthz__idb b;
    size_t i;
    mtlsauthz__idb_init(&b);
    for (i = 0; i < sizeof(oids) / sizeof(oids[0]); i++) {
        cr_assert_eq(mtlsauthz__idb_add_eku(&b, oids[i], strlen(oids[i]), NULL), 0);
    }
    {
        static const char *const want[] = {
            "serverAuth",   "clientAuth",  "codeSigning",        "emailProtection",
            "timeStamping", "OCSPSigning", "1.3.6.1.5.5.7.3.22", "1.3.6.1.5.5.7.3.1.5"};
        cr_assert_eq(b.counts[MTLSAUTHZ_FIELD_EKU], 8);
        for (i = 0; i < 8; i++) {
            cr_assert_eq(b.vals[MTLSAUTHZ_FIELD_EKU][i].len, strlen(want[i]));
            cr_assert(memcmp(b.data.ptr + b.vals[MTLSAUTHZ_FIELD_EKU][i].off, want[i],
                             strlen(want[i])) == 0);
        }
    }
    mtlsauthz__idb_free(&b);
}

/* ---- subject names ---- */

Test(identity, ou_values_in_certificate_order)
{
    mtlsauthz_identity *sre = load("sre.pem"), *multi = load("multi-ou.der"),
                       *ops = load("ops.pem");
    EXPECT(sre, MTLSAUTHZ_FIELD_CN, "bob");
    EXPECT(sre, MTLSAUTHZ_FIELD_O, "Example Corp");
    EXPECT(sre, MTLSAUTHZ_FIELD_OU, "sre", "oncall");
    /* Not sorted, duplicates kept. */
    EXPECT(multi, MTLSAUTHZ_FIELD_OU, "zeta", "alpha", "mid", "alpha");
    EXPECT(ops, MTLSAUTHZ_FIELD_CN, "alice");
    EXPECT(ops, MTLSAUTHZ_FIELD_OU, "ops");
    mtlsauthz_identity_free(sre);
    mtlsauthz_identity_free(multi);
    mtlsauthz_identity_free(ops);
}

Test(identity, bmpstring_cn_is_utf8)
{
    mtlsauthz_identity *id = load("bmp-cn.der");
    EXPECT(id, MTLSAUTHZ_FIELD_CN, "Zo\xc3\xab \xc3\x9cnicode \xce\xa9");
    /* -esc_msb: the DN keeps UTF-8 rather than \C3\AB escapes. */
    EXPECT(id, MTLSAUTHZ_FIELD_SUBJECT_DN, "CN=Zo\xc3\xab \xc3\x9cnicode \xce\xa9,O=Example Corp");
    expect_accepted(id);
    mtlsauthz_identity_free(id);
}

Test(identity, teletex_cn_is_utf8)
{
    mtlsauthz_identity *id = load("teletex-cn.pem");
    EXPECT(id, MTLSAUTHZ_FIELD_CN, "Zo\xc3\xab \xc3\x9cnicode");
    mtlsauthz_identity_free(id);
}

Test(identity, utf8string_o)
{
    mtlsauthz_identity *id = load("utf8-o.pem");
    EXPECT(id, MTLSAUTHZ_FIELD_O, "\xc3\x96rnek \xc5\x9eirket");
    EXPECT(id, MTLSAUTHZ_FIELD_SUBJECT_DN, "CN=utf8-o,O=\xc3\x96rnek \xc5\x9eirket");
    mtlsauthz_identity_free(id);
}

Test(identity, dn_special_characters_are_escaped)
{
    mtlsauthz_identity *id = load("dn-special.pem");
    /* RFC 4514 §2.4 escaping, OpenSSL dialect; the raw CN keeps the characters. */
    EXPECT(id, MTLSAUTHZ_FIELD_SUBJECT_DN,
           "CN=\\#hash\\, comma\\+plus\\\"quote\\\\back\\<lt\\>gt\\;semi=eq,"
           "OU=\\ lead and trail\\ ,OU=B+O=A,O=Example Corp");
    EXPECT(id, MTLSAUTHZ_FIELD_CN, "#hash, comma+plus\"quote\\back<lt>gt;semi=eq");
    EXPECT(id, MTLSAUTHZ_FIELD_O, "Example Corp", "A");
    EXPECT(id, MTLSAUTHZ_FIELD_OU, "B", " lead and trail ");
    expect_accepted(id);
    mtlsauthz_identity_free(id);
}

/*
 * The attribute names a dn or issuer pattern must spell (docs/policy.md): OpenSSL's short
 * names, which for some types are their long names (serialNumber, organizationIdentifier), and
 * for a type OpenSSL does not know, the dotted OID with '#' and the hex of the value's DER
 * (RFC 4514 §2.4). The DER walker and the OpenSSL extractor print the same.
 */
Test(identity, dn_attribute_names_from_both_extractors)
{
    static const char want[] =
        "CN=Jane Doe,1.3.6.1.4.1.55555.1=#0C06637573746F6D,UID=jdoe,GN=Jane,SN=Doe,"
        "serialNumber=0042,street=Main Street 1,DC=com,DC=example,"
        "organizationIdentifier=VATDE-123456789,O=Example Corp,jurisdictionC=DE,C=DE";
    size_t len;
    char *der = th_cert("dn-attrs.der", &len);
    const unsigned char *certs[1] = {(const unsigned char *)der};
    const unsigned char *p = (const unsigned char *)der;
    mtlsauthz_identity *walker = NULL, *openssl = NULL, *x509 = NULL, *pem = load("dn-attrs.pem");
    mtlsauthz_error err = {0};
    X509 *x = d2i_X509(NULL, &p, (long)len);
    cr_assert_not_null(x);
    cr_assert_eq(mtlsauthz__der_from_der_certs(&walker, certs, &len, 1, 1), 0,
                 "the DER walker must read this certificate itself");
    cr_assert_eq(mtlsauthz__x509_from_der_certs(&openssl, certs, &len, 1, &err), 0, "%s",
                 err.message);
    cr_assert_eq(mtlsauthz_identity_from_x509(&x509, x, NULL, &err), 0, "%s", err.message);
    EXPECT(walker, MTLSAUTHZ_FIELD_SUBJECT_DN, want);
    EXPECT(openssl, MTLSAUTHZ_FIELD_SUBJECT_DN, want);
    EXPECT(x509, MTLSAUTHZ_FIELD_SUBJECT_DN, want);
    EXPECT(pem, MTLSAUTHZ_FIELD_SUBJECT_DN, want);
    EXPECT(walker, MTLSAUTHZ_FIELD_CN, "Jane Doe");
    EXPECT(walker, MTLSAUTHZ_FIELD_O, "Example Corp");
    expect_accepted(walker);
    mtlsauthz_identity_free(walker);
    mtlsauthz_identity_free(openssl);
    mtlsauthz_identity_free(x509);
    mtlsauthz_identity_free(pem);
    X509_free(x);
    free(der);
}

/* ---- NUL attacks (CVE-2009-2408) ---- */

Test(identity, nul_in_cn_is_kept_whole_and_rejected)
{
    mtlsauthz_identity *id = load("nul-cn.der");
    static const char cn[] = "admin\0.evil.com";
    const char *const vals[] = {cn};
    const size_t lens[] = {sizeof(cn) - 1};
    expect_bytes(id, MTLSAUTHZ_FIELD_CN, 1, vals, lens);
    EXPECT(id, MTLSAUTHZ_FIELD_SUBJECT_DN, "CN=admin\\00.evil.com,O=Example Corp");
    expect_rejected(id, "NUL byte in subject CN");
    mtlsauthz_identity_free(id);
}

Test(identity, nul_in_dns_san_is_kept_whole_and_rejected)
{
    mtlsauthz_identity *id = load("nul-dns.pem");
    static const char dns[] = "good.example.com\0.evil.com";
    const char *const vals[] = {dns};
    const size_t lens[] = {sizeof(dns) - 1};
    expect_bytes(id, MTLSAUTHZ_FIELD_SAN_DNS, 1, vals, lens);
    expect_rejected(id, "NUL byte in DNS SAN");
    mtlsauthz_identity_free(id);
}

Test(identity, nul_free_names_are_accepted)
{
    mtlsauthz_identity *id = load("dns-wild.pem");
    EXPECT(id, MTLSAUTHZ_FIELD_SAN_DNS, "a.b.example.com", "example.com");
    expect_accepted(id);
    mtlsauthz_identity_free(id);
}

Test(identity, json_escapes_nul)
{
    mtlsauthz_identity *id = load("nul-cn.pem");
    mtlsauthz_error err = {0};
    char *json = NULL;
    size_t len = 0;
    cr_assert_eq(mtlsauthz_identity_to_json(&json, &len, id, &err), 0, "%s", err.message);
    cr_assert_eq(strlen(json), len, "JSON must not contain a raw NUL");
    cr_assert_not_null(strstr(json, "\"cn\":[\"admin\\u0000.evil.com\"]"), "%s", json);
    cr_assert_not_null(strstr(json, "\"dn\":\"CN=admin\\\\00.evil.com,O=Example Corp\""), "%s",
                       json);
    cr_assert_not_null(strstr(json, "\"rejected\":\"NUL byte in subject CN\""), "%s", json);
    mtlsauthz_string_free(json);
    mtlsauthz_identity_free(id);
}

/* ---- serial ---- */

Test(identity, negative_and_zero_serials)
{
    mtlsauthz_identity *neg = load("neg-serial.der"), *zero = load("zero-serial.pem");
    /* DER 02 03 FB 45 47 is -0x04BAB9. */
    EXPECT(neg, MTLSAUTHZ_FIELD_SERIAL, "-4bab9");
    EXPECT(zero, MTLSAUTHZ_FIELD_SERIAL, "0");
    mtlsauthz_identity_free(neg);
    mtlsauthz_identity_free(zero);
}

Test(identity, serial_text_form)
{
    static const struct {
        unsigned char mag[4];
        size_t len;
        int neg;
        const char *want;
    } cases[] = {
        {{0}, 0, 0, "0"},
        {{0, 0}, 2, 1, "0"},
        {{0x0f}, 1, 0, "f"},
        {{0x10}, 1, 0, "10"},
        {{0, 0x01, 0x00}, 3, 0, "100"},
        {{0x05}, 1, 1, "-5"},
        {{0xab, 0xcd}, 2, 0, "abcd"},
        {{0, 0x0a, 0x0b}, 3, 1, "-a0b"},
    };
    size_t i;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mtlsauthz__idb b;
        mtlsauthz__idb_init(&b);
        cr_assert_eq(mtlsauthz__idb_set_serial(&b, cases[i].mag, cases[i].len, cases[i].neg, NULL),
                     0);
        cr_assert_eq(b.vals[MTLSAUTHZ_FIELD_SERIAL][0].len, strlen(cases[i].want), "case %zu", i);
        cr_assert_str_eq(b.data.ptr + b.vals[MTLSAUTHZ_FIELD_SERIAL][0].off, cases[i].want);
        mtlsauthz__idb_free(&b);
    }
}

/* ---- IP addresses ---- */

Test(identity, ipv6_rfc5952)
{
    mtlsauthz_identity *id = load("ipv6.der");
    EXPECT(id, MTLSAUTHZ_FIELD_SAN_IP,
           "2001:db8::1:0:0:1",    /* two equal runs: the first is compressed (§4.2.3) */
           "2001:0:0:1::1",        /* the longest run wins (§4.2.3) */
           "2001:db8:0:1:1:1:1:1", /* one zero group is not compressed (§4.2.2) */
           "2001:db8:a0::1",       /* no leading zeros, lowercase (§4.1, §4.3) */
           "::", "::1", "fe80::", "::ffff:192.0.2.10"); /* IPv4-mapped in mixed notation (§5) */
    mtlsauthz_identity_free(id);
}

static const char *ip_text(const unsigned char *raw, size_t len)
{
    static char out[64];
    mtlsauthz__idb b;
    mtlsauthz__idb_init(&b);
    cr_assert_eq(mtlsauthz__idb_add_ip(&b, raw, len, NULL), 0);
    cr_assert_eq(b.counts[MTLSAUTHZ_FIELD_SAN_IP], 1);
    snprintf(out, sizeof(out), "%s", b.data.ptr + b.vals[MTLSAUTHZ_FIELD_SAN_IP][0].off);
    mtlsauthz__idb_free(&b);
    return out;
}

Test(identity, ip_text_forms)
{
    static const unsigned char a[16] = {0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    static const unsigned char b[16] = {0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0};
    static const unsigned char c[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 192, 0, 2, 1};
    static const unsigned char d[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe, 1, 2, 3, 4};
    static const unsigned char e[4] = {0, 0, 0, 0};
    static const unsigned char f[16] = {0x12, 0x34, 0, 0, 0xab, 0xcd, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0};
    cr_assert_str_eq(ip_text(a, 16), "1::");
    cr_assert_str_eq(ip_text(b, 16), "ffff:0:0:ffff::"); /* the later run is longer */
    cr_assert_str_eq(ip_text(c, 16), "::c000:201");      /* IPv4-compatible: not mixed */
    cr_assert_str_eq(ip_text(d, 16), "::fffe:102:304");
    cr_assert_str_eq(ip_text(e, 4), "0.0.0.0");
    cr_assert_str_eq(ip_text(f, 16), "1234:0:abcd::1:0:0");
}

Test(identity, ip_of_bad_length_rejects)
{
    mtlsauthz__idb b;
    static const unsigned char raw[8] = {192, 0, 2, 0, 255, 255, 255, 0};
    mtlsauthz__idb_init(&b);
    cr_assert_eq(mtlsauthz__idb_add_ip(&b, raw, 8, NULL), 0);
    cr_assert_eq(b.counts[MTLSAUTHZ_FIELD_SAN_IP], 0, "a malformed address is not stored");
    cr_assert(b.bad_ip);
    mtlsauthz__idb_free(&b);
}

/* ---- SPIFFE ---- */

Test(identity, valid_spiffe_ids)
{
    static const struct {
        const char *file, *id;
    } cases[] = {
        {"builder.pem", "spiffe://prod.example.com/ci/builder"},
        {"tenant-acme.der", "spiffe://prod.example.com/tenant/acme/api"},
        {"tenant-globex.pem", "spiffe://prod.example.com/tenant/globex/api"},
        {"web.pem", "spiffe://td/ns/web/x"},
        {"web-admin.der", "spiffe://td/ns/web-admin/x"},
    };
    size_t i;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mtlsauthz_identity *id = load(cases[i].file);
        EXPECT(id, MTLSAUTHZ_FIELD_SPIFFE_ID, cases[i].id);
        EXPECT(id, MTLSAUTHZ_FIELD_SAN_URI, cases[i].id);
        expect_accepted(id);
        mtlsauthz_identity_free(id);
    }
}

Test(identity, invalid_spiffe_ids_are_rejected)
{
    static const struct {
        const char *file, *uri, *reason;
    } cases[] = {
        {"spiffe-upper-td.pem", "spiffe://Prod.Example.com/ns/x",
         "invalid SPIFFE ID: bad trust domain character"},
        {"spiffe-dotdot.der", "spiffe://prod.example.com/a/../b",
         "invalid SPIFFE ID: '.' or '..' path segment"},
        {"spiffe-query.pem", "spiffe://prod.example.com/a?x=1",
         "invalid SPIFFE ID: query not allowed"},
        {"spiffe-port.der", "spiffe://prod.example.com:8443/a",
         "invalid SPIFFE ID: port not allowed"},
        {"spiffe-td-only.pem", "spiffe://prod.example.com", "invalid SPIFFE ID: no path"},
        {"spiffe-upper-scheme.der", "SPIFFE://prod.example.com/a",
         "invalid SPIFFE ID: scheme must be lowercase spiffe://"},
        {"spiffe-ca.pem", "spiffe://prod.example.com/a", "invalid SPIFFE ID: leaf is a CA"},
    };
    size_t i;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mtlsauthz_identity *id = load(cases[i].file);
        EXPECT_NONE(id, MTLSAUTHZ_FIELD_SPIFFE_ID);
        /* The URI stays visible as a SAN. */
        EXPECT(id, MTLSAUTHZ_FIELD_SAN_URI, cases[i].uri);
        expect_rejected(id, cases[i].reason);
        mtlsauthz_identity_free(id);
    }
}

Test(identity, two_uri_sans_with_a_spiffe_one_are_rejected)
{
    mtlsauthz_identity *id = load("spiffe-two-uri.pem");
    EXPECT_NONE(id, MTLSAUTHZ_FIELD_SPIFFE_ID);
    EXPECT(id, MTLSAUTHZ_FIELD_SAN_URI, "spiffe://prod.example.com/a", "https://example.com/a");
    expect_rejected(id, "invalid SPIFFE ID: more than one URI SAN");
    mtlsauthz_identity_free(id);
}

/* Builds a minimal identity with the given URI SANs, CA flag and keyUsage (has_ku 0: none)
 * through the builder. */
static mtlsauthz_identity *build_with(const char *const *uris, size_t n, int is_ca, int has_ku,
                                      unsigned int ku)
{
    static const unsigned char one = 1, md[32] = {0};
    mtlsauthz_identity *id = NULL;
    mtlsauthz_error err = {0};
    mtlsauthz__idb b;
    size_t i;
    mtlsauthz__idb_init(&b);
    cr_assert_eq(mtlsauthz__idb_add(&b, MTLSAUTHZ_FIELD_SUBJECT_DN, "CN=x", 4, &err), 0);
    cr_assert_eq(mtlsauthz__idb_add(&b, MTLSAUTHZ_FIELD_ISSUER_DN, "CN=y", 4, &err), 0);
    cr_assert_eq(mtlsauthz__idb_set_serial(&b, &one, 1, 0, &err), 0);
    cr_assert_eq(mtlsauthz__idb_set_sha256(&b, md, &err), 0);
    cr_assert_eq(mtlsauthz__idb_set_time(&b, MTLSAUTHZ_FIELD_NOT_BEFORE, 2020, 1, 1, 0, 0, 0, &err),
                 0);
    cr_assert_eq(
        mtlsauthz__idb_set_time(&b, MTLSAUTHZ_FIELD_NOT_AFTER, 2030, 12, 31, 23, 59, 59, &err), 0);
    for (i = 0; i < n; i++) {
        cr_assert_eq(
            mtlsauthz__idb_add(&b, MTLSAUTHZ_FIELD_SAN_URI, uris[i], strlen(uris[i]), &err), 0);
    }
    mtlsauthz__idb_set_ca(&b, is_ca);
    if (has_ku) {
        mtlsauthz__idb_set_key_usage(&b, ku);
    }
    cr_assert_eq(mtlsauthz__idb_finish(&id, &b, 1, &err), 0, "%s", err.message);
    return id;
}

/* The same, with a leaf SVID's keyUsage: digitalSignature. */
static mtlsauthz_identity *build_with_uris(const char *const *uris, size_t n, int is_ca)
{
    return build_with(uris, n, is_ca, 1, MTLSAUTHZ__KU_DIGITAL_SIGNATURE);
}

Test(identity, builder_spiffe_rules)
{
    static const char *const good[] = {"spiffe://td/a"};
    static const char *const two_plain[] = {"https://a/", "urn:x"};
    static const char *const mixed_case[] = {"https://a/", "SpIfFe://td/a"};
    static const char *const trailing[] = {"spiffe://td/a/"};
    mtlsauthz_identity *id;

    id = build_with_uris(good, 1, 0);
    EXPECT(id, MTLSAUTHZ_FIELD_SPIFFE_ID, "spiffe://td/a");
    expect_accepted(id);
    EXPECT(id, MTLSAUTHZ_FIELD_NOT_AFTER, "2030-12-31T23:59:59Z");
    mtlsauthz_identity_free(id);

    id = build_with_uris(good, 1, 1);
    EXPECT_NONE(id, MTLSAUTHZ_FIELD_SPIFFE_ID);
    expect_rejected(id, "invalid SPIFFE ID: leaf is a CA");
    mtlsauthz_identity_free(id);

    /* No spiffe URI at all: nothing to reject, even with two URIs or on a CA. */
    id = build_with_uris(two_plain, 2, 1);
    EXPECT_NONE(id, MTLSAUTHZ_FIELD_SPIFFE_ID);
    expect_accepted(id);
    mtlsauthz_identity_free(id);

    id = build_with_uris(mixed_case, 2, 0);
    expect_rejected(id, "invalid SPIFFE ID: more than one URI SAN");
    mtlsauthz_identity_free(id);

    id = build_with_uris(trailing, 1, 0);
    expect_rejected(id, "invalid SPIFFE ID: trailing slash");
    EXPECT(id, MTLSAUTHZ_FIELD_SAN_URI, "spiffe://td/a/");
    mtlsauthz_identity_free(id);
}

/* X509-SVID spec §4.3, in the builder: every extractor gets the same verdict. */
Test(identity, builder_x509_svid_key_usage)
{
    static const char *const svid[] = {"spiffe://td/a"};
    static const char *const plain[] = {"https://a/"};
    static const struct {
        int has_ku;
        unsigned int ku;
        const char *reason;
    } cases[] = {
        {1, MTLSAUTHZ__KU_DIGITAL_SIGNATURE, NULL},
        {1, MTLSAUTHZ__KU_DIGITAL_SIGNATURE | (1u << 2) | (1u << 4) | MTLSAUTHZ__KU_DECIPHER_ONLY,
         NULL},
        {0, 0, "invalid SPIFFE ID: leaf has no keyUsage extension"},
        {1, 0, "invalid SPIFFE ID: leaf keyUsage lacks digitalSignature"},
        {1, MTLSAUTHZ__KU_KEY_CERT_SIGN | MTLSAUTHZ__KU_CRL_SIGN,
         "invalid SPIFFE ID: leaf keyUsage lacks digitalSignature"},
        {1, MTLSAUTHZ__KU_DIGITAL_SIGNATURE | MTLSAUTHZ__KU_KEY_CERT_SIGN,
         "invalid SPIFFE ID: leaf keyUsage has keyCertSign"},
        {1, MTLSAUTHZ__KU_DIGITAL_SIGNATURE | MTLSAUTHZ__KU_CRL_SIGN,
         "invalid SPIFFE ID: leaf keyUsage has cRLSign"},
    };
    mtlsauthz_identity *id;
    size_t i;
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(cases); i++) {
        id = build_with(svid, 1, 0, cases[i].has_ku, cases[i].ku);
        if (cases[i].reason == NULL) {
            EXPECT(id, MTLSAUTHZ_FIELD_SPIFFE_ID, "spiffe://td/a");
            expect_accepted(id);
        } else {
            EXPECT_NONE(id, MTLSAUTHZ_FIELD_SPIFFE_ID);
            EXPECT(id, MTLSAUTHZ_FIELD_SAN_URI, "spiffe://td/a");
            expect_rejected(id, cases[i].reason);
        }
        mtlsauthz_identity_free(id);
        /* Without a spiffe URI the keyUsage decides nothing. */
        id = build_with(plain, 1, 0, cases[i].has_ku, cases[i].ku);
        expect_accepted(id);
        mtlsauthz_identity_free(id);
    }
    /* A CA is reported as such first, as go-spiffe does. */
    id = build_with(svid, 1, 1, 1, MTLSAUTHZ__KU_KEY_CERT_SIGN);
    expect_rejected(id, "invalid SPIFFE ID: leaf is a CA");
    mtlsauthz_identity_free(id);
}

static void spiffe_ok(const char *uri, size_t len)
{
    const char *r = mtlsauthz__spiffe_validate(uri, len);
    cr_assert_null(r, "'%.*s' should be valid: %s", (int)(len > 80 ? 80 : len), uri, r);
}

static void spiffe_bad(const char *uri, size_t len, const char *reason)
{
    const char *r = mtlsauthz__spiffe_validate(uri, len);
    cr_assert_not_null(r, "'%.*s' should be invalid", (int)(len > 80 ? 80 : len), uri);
    cr_assert_str_eq(r, reason, "'%.*s'", (int)(len > 80 ? 80 : len), uri);
}

#define OK(s) spiffe_ok(s, sizeof(s) - 1)
#define BAD(s, r) spiffe_bad(s, sizeof(s) - 1, "invalid SPIFFE ID: " r)

Test(spiffe, validator_accepts)
{
    OK("spiffe://td/a");
    OK("spiffe://prod.example.com/ns/web/sa/x");
    OK("spiffe://a-b_c.0/A-Z.a_z-0.9");
    OK("spiffe://td/..."); /* only "." and ".." are special */
    OK("spiffe://td/.hidden");
    OK("spiffe://td/CamelCase");
}

Test(spiffe, validator_refuses)
{
    BAD("", "scheme must be lowercase spiffe://");
    BAD("spiffe:/td/a", "scheme must be lowercase spiffe://");
    BAD("Spiffe://td/a", "scheme must be lowercase spiffe://");
    BAD("https://td/a", "scheme must be lowercase spiffe://");
    BAD("spiffe://", "empty trust domain");
    BAD("spiffe:///a", "empty trust domain");
    BAD("spiffe://td", "no path");
    BAD("spiffe://td/", "trailing slash");
    BAD("spiffe://td/a/", "trailing slash");
    BAD("spiffe://td//a", "empty path segment");
    BAD("spiffe://td/.", "'.' or '..' path segment");
    BAD("spiffe://td/a/./b", "'.' or '..' path segment");
    BAD("spiffe://td/..", "'.' or '..' path segment");
    BAD("spiffe://TD/a", "bad trust domain character");
    BAD("spiffe://t*d/a", "bad trust domain character");
    BAD("spiffe://td:443/a", "port not allowed");
    BAD("spiffe://user@td/a", "userinfo not allowed");
    BAD("spiffe://td/a?b", "query not allowed");
    BAD("spiffe://td?b", "query not allowed");
    BAD("spiffe://td/a#b", "fragment not allowed");
    BAD("spiffe://td/a%20b", "percent-encoding not allowed");
    BAD("spiffe://td/a b", "bad path character");
    BAD("spiffe://td/a\0b", "bad path character");
    BAD("spiffe://td\0x/a", "bad trust domain character");
    BAD("spiffe://td/\xc3\xa9", "bad path character");
}

Test(spiffe, validator_length_limits)
{
    char buf[2100];
    size_t i;
    /* Trust domain: 255 characters OK, 256 refused (SPIFFE ID spec §2.1). */
    memcpy(buf, "spiffe://", 9);
    for (i = 0; i < 256; i++) {
        buf[9 + i] = 'a';
    }
    memcpy(buf + 9 + 255, "/x", 2);
    spiffe_ok(buf, 9 + 255 + 2);
    buf[9 + 255] = 'a';
    memcpy(buf + 9 + 256, "/x", 2);
    spiffe_bad(buf, 9 + 256 + 2, "invalid SPIFFE ID: trust domain longer than 255 bytes");
    /* Whole ID: 2048 bytes OK, 2049 refused (§2.3). */
    memcpy(buf, "spiffe://td/", 12);
    for (i = 12; i < sizeof(buf); i++) {
        buf[i] = 'p';
    }
    spiffe_ok(buf, 2048);
    spiffe_bad(buf, 2049, "invalid SPIFFE ID: longer than 2048 bytes");
    cr_assert_not_null(mtlsauthz__spiffe_validate(NULL, 0));
}

/* ---- input forms agree ---- */

Test(identity, der_and_pem_give_identical_identities)
{
    size_t i;
    for (i = 0; i < sizeof(all_certs) / sizeof(all_certs[0]); i++) {
        mtlsauthz_identity *der = load(cert_file(all_certs[i], "der"));
        mtlsauthz_identity *pem = load(cert_file(all_certs[i], "pem"));
        expect_same(der, pem, all_certs[i]);
        mtlsauthz_identity_free(der);
        mtlsauthz_identity_free(pem);
    }
}

Test(identity, from_x509_equals_from_der)
{
    size_t i;
    for (i = 0; i < sizeof(all_certs) / sizeof(all_certs[0]); i++) {
        size_t len;
        char *der = th_cert(cert_file(all_certs[i], "der"), &len);
        const unsigned char *p = (const unsigned char *)der;
        X509 *x = d2i_X509(NULL, &p, (long)len);
        mtlsauthz_identity *a = load(cert_file(all_certs[i], "der")), *b = NULL;
        mtlsauthz_error err = {0};
        cr_assert_not_null(x, "%s", all_certs[i]);
        cr_assert_eq(mtlsauthz_identity_from_x509(&b, x, NULL, &err), 0, "%s: %s", all_certs[i],
                     err.message);
        expect_same(a, b, all_certs[i]);
        cr_assert_eq(mtlsauthz_identity_chain_length(b), 1);
        mtlsauthz_identity_free(a);
        mtlsauthz_identity_free(b);
        X509_free(x);
        free(der);
    }
}

static X509 *read_x509(const char *name)
{
    size_t len;
    char *der = th_cert(name, &len);
    const unsigned char *p = (const unsigned char *)der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    cr_assert_not_null(x);
    free(der);
    return x;
}

Test(identity, from_x509_counts_the_chain)
{
    X509 *leaf = read_x509("builder.der"), *inter = read_x509("int.der");
    STACK_OF(X509) *with_leaf = sk_X509_new_null(), *without_leaf = sk_X509_new_null();
    mtlsauthz_identity *id = NULL;
    mtlsauthz_error err = {0};
    cr_assert(sk_X509_push(with_leaf, leaf) && sk_X509_push(with_leaf, inter));
    cr_assert(sk_X509_push(without_leaf, inter));
    /* A client's verified chain includes the leaf... */
    cr_assert_eq(mtlsauthz_identity_from_x509(&id, leaf, with_leaf, &err), 0, "%s", err.message);
    cr_assert_eq(mtlsauthz_identity_chain_length(id), 2);
    EXPECT(id, MTLSAUTHZ_FIELD_SPIFFE_ID, "spiffe://prod.example.com/ci/builder");
    mtlsauthz_identity_free(id);
    /* ...SSL_get_peer_cert_chain() on a server does not. */
    cr_assert_eq(mtlsauthz_identity_from_x509(&id, leaf, without_leaf, &err), 0, "%s", err.message);
    cr_assert_eq(mtlsauthz_identity_chain_length(id), 2);
    mtlsauthz_identity_free(id);
    cr_assert_eq(mtlsauthz_identity_from_x509(&id, leaf, NULL, &err), 0);
    cr_assert_eq(mtlsauthz_identity_chain_length(id), 1);
    mtlsauthz_identity_free(id);

    id = (mtlsauthz_identity *)0x1;
    cr_assert_eq(mtlsauthz_identity_from_x509(&id, NULL, NULL, &err), MTLSAUTHZ_EINVAL);
    cr_assert_null(id);
    cr_assert_eq(mtlsauthz_identity_from_x509(NULL, leaf, NULL, &err), MTLSAUTHZ_EINVAL);

    sk_X509_free(with_leaf);
    sk_X509_free(without_leaf);
    X509_free(leaf);
    X509_free(inter);
}

/* ---- identities read three ways: DER, PEM and an OpenSSL X509 ---- */

typedef void (*identity_check)(const mtlsauthz_identity *id, const void *ctx);

/* Runs `check` on the identity of NAME read from NAME.der, NAME.pem and NAME.der as an X509. */
static void each_input(const char *name, identity_check check, const void *ctx)
{
    mtlsauthz_identity *id;
    mtlsauthz_error err = {0};
    X509 *x;
    id = load(cert_file(name, "der"));
    check(id, ctx);
    mtlsauthz_identity_free(id);
    id = load(cert_file(name, "pem"));
    check(id, ctx);
    mtlsauthz_identity_free(id);
    x = read_x509(cert_file(name, "der"));
    cr_assert_eq(mtlsauthz_identity_from_x509(&id, x, NULL, &err), 0, "%s: %s", name, err.message);
    check(id, ctx);
    mtlsauthz_identity_free(id);
    X509_free(x);
}

/* ---- IA5String SANs are ASCII (RFC 5280 §4.2.1.6) ---- */

/* The certificate's own bytes, never re-read as Latin-1, and the reason. */
static void utf8_dns_check(const mtlsauthz_identity *id, const void *ctx)
{
    (void)ctx;
    EXPECT(id, MTLSAUTHZ_FIELD_SAN_DNS, "partner.biztositas.hu", "biztos\xc3\xadt\xc3\xa1s.hu",
           "xn--biztosts-fza2j.hu");
    expect_rejected(id, "non-ASCII byte in DNS SAN");
}

static void utf8_email_check(const mtlsauthz_identity *id, const void *ctx)
{
    (void)ctx;
    EXPECT(id, MTLSAUTHZ_FIELD_SAN_EMAIL, "j\xc3\xbcrgen@example.com");
    expect_rejected(id, "non-ASCII byte in email SAN");
}

static void utf8_uri_check(const mtlsauthz_identity *id, const void *ctx)
{
    (void)ctx;
    EXPECT(id, MTLSAUTHZ_FIELD_SAN_URI,
           "https://example.com/\xc3\xbc"
           "ber");
    EXPECT_NONE(id, MTLSAUTHZ_FIELD_SPIFFE_ID);
    expect_rejected(id, "non-ASCII byte in URI SAN");
}

Test(identity, non_ascii_ia5_sans_are_kept_as_sent_and_rejected)
{
    each_input("utf8-dns", utf8_dns_check, NULL);
    each_input("utf8-email", utf8_email_check, NULL);
    each_input("utf8-uri", utf8_uri_check, NULL);
}

/* ---- X509-SVID key usage (X509-SVID spec §4.3, §5.2) ---- */

typedef struct svid_case {
    const char *name, *reason; /* reason NULL: accepted */
    const char *uri;           /* the URI SAN, or NULL for none */
    int spiffe;                /* whether the URI is the SPIFFE ID */
} svid_case;

static void svid_check(const mtlsauthz_identity *id, const void *ctx)
{
    const svid_case *c = ctx;
    if (c->uri != NULL) {
        assert_field_is(id, MTLSAUTHZ_FIELD_SAN_URI, c->uri, c->name);
    } else {
        EXPECT_NONE(id, MTLSAUTHZ_FIELD_SAN_URI);
    }
    if (c->spiffe) {
        assert_field_is(id, MTLSAUTHZ_FIELD_SPIFFE_ID, c->uri, c->name);
    } else {
        cr_assert_eq(mtlsauthz_identity_count(id, MTLSAUTHZ_FIELD_SPIFFE_ID), 0,
                     "%s: a SPIFFE ID from a certificate that is not an X509-SVID", c->name);
    }
    if (c->reason == NULL) {
        cr_assert_null(mtlsauthz_identity_rejected(id), "%s: rejected: %s", c->name,
                       mtlsauthz_identity_rejected(id));
    } else {
        cr_assert_not_null(mtlsauthz_identity_rejected(id), "%s: not rejected", c->name);
        cr_assert_str_eq(mtlsauthz_identity_rejected(id), c->reason, "%s", c->name);
    }
}

/*
 * Every wrong-leaf vector go-spiffe publishes (svid/x509svid/testdata, rebuilt by
 * gen-certs.sh), the two it had while writing its validation, and our own keyUsage shapes.
 */
Test(identity, x509_svid_key_usage)
{
    static const char wl[] = "spiffe://example.org/workload-1";
    static const char pa[] = "spiffe://prod.example.com/a";
    static const svid_case cases[] = {
        {"wrong-leaf-ca-true", "invalid SPIFFE ID: leaf is a CA", wl, 0},
        {"wrong-leaf-cert-sign", "invalid SPIFFE ID: leaf keyUsage has keyCertSign", wl, 0},
        {"wrong-leaf-crl-sign", "invalid SPIFFE ID: leaf keyUsage has cRLSign", wl, 0},
        {"wrong-leaf-no-digital-signature",
         "invalid SPIFFE ID: leaf keyUsage lacks digitalSignature", wl, 0},
        /* No SAN: it claims no SPIFFE ID, so it is an ordinary certificate. */
        {"wrong-leaf-empty-id", NULL, NULL, 0},
        {"wrong-leaf-id-only-root", "invalid SPIFFE ID: no path", "spiffe://example.org", 0},
        /* X509-SVID spec §4.4 wants serverAuth too, but go-spiffe dropped that check. */
        {"wrong-leaf-ext-key-usage-incomplete", NULL, wl, 1},
        {"spiffe-no-ku", "invalid SPIFFE ID: leaf has no keyUsage extension", pa, 0},
        {"spiffe-ku-extra", NULL, pa, 1},
        {"spiffe-ku-noncritical", NULL, pa, 1},
        {"spiffe-ku-two-bytes", NULL, pa, 1},
    };
    size_t i;
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(cases); i++) {
        each_input(cases[i].name, svid_check, &cases[i]);
    }
}

/* A rejected identity is denied every operation, even one a rule grants to any identity. */
Test(identity, rejected_identities_are_denied_everything)
{
    static const char yaml[] = "version: 1\n"
                               "rules:\n"
                               "  - id: anyone\n"
                               "    effect: allow\n"
                               "    principals: [\"*\"]\n"
                               "    operations: [\"**\"]\n";
    static const char *const rejected[] = {
        "utf8-dns.pem",
        "utf8-email.der",
        "utf8-uri.pem",
        "latin1-dns.der",
        "wrong-leaf-cert-sign.der",
        "wrong-leaf-crl-sign.pem",
        "wrong-leaf-no-digital-signature.der",
        "spiffe-no-ku.pem",
    };
    mtlsauthz_policy *p = NULL;
    mtlsauthz_error err = {0};
    mtlsauthz_decision d;
    mtlsauthz_identity *id;
    size_t i;
    cr_assert_eq(mtlsauthz_policy_load(&p, yaml, sizeof(yaml) - 1, &err), 0, "%s", err.message);
    id = load("spiffe-ku-two-bytes.pem");
    cr_assert_eq(mtlsauthz_policy_decide(&d, p, id, "GET /x", 6, &err), 0, "%s", err.message);
    cr_assert(d.allowed, "a valid SVID is allowed what anyone may do");
    mtlsauthz_identity_free(id);
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(rejected); i++) {
        id = load(rejected[i]);
        cr_assert_eq(mtlsauthz_policy_decide(&d, p, id, "GET /x", 6, &err), 0, "%s", err.message);
        cr_assert(!d.allowed, "%s allowed", rejected[i]);
        cr_assert_eq(d.reason, MTLSAUTHZ_REASON_IDENTITY_REJECTED, "%s: %s", rejected[i],
                     mtlsauthz_reason_string(d.reason));
        mtlsauthz_identity_free(id);
    }
    mtlsauthz_policy_free(p);
}

Test(identity, from_x509_refuses_an_overlong_chain)
{
    X509 *leaf = read_x509("ops.der"), *inter = read_x509("int.der");
    STACK_OF(X509) *chain = sk_X509_new_null();
    mtlsauthz_identity *id = NULL;
    mtlsauthz_error err = {0};
    size_t i;
    for (i = 0; i < MTLSAUTHZ__MAX_CHAIN; i++) {
        cr_assert(sk_X509_push(chain, inter));
    }
    /* 16 chain certificates plus the leaf. */
    cr_assert_eq(mtlsauthz_identity_from_x509(&id, leaf, chain, &err), MTLSAUTHZ_ELIMIT);
    cr_assert_null(id);
    sk_X509_free(chain);
    X509_free(leaf);
    X509_free(inter);
}

static char *concat(const char *a, const char *b, size_t *len)
{
    size_t la, lb;
    char *da = th_cert(a, &la), *db = th_cert(b, &lb), *out = malloc(la + lb);
    cr_assert_not_null(out);
    memcpy(out, da, la);
    memcpy(out + la, db, lb);
    *len = la + lb;
    free(da);
    free(db);
    return out;
}

Test(identity, der_chain_equals_concatenated_der)
{
    size_t la, lb, len;
    char *a = th_cert("full.der", &la), *b = th_cert("int.der", &lb);
    char *both = concat("full.der", "int.der", &len);
    const unsigned char *certs[2] = {(const unsigned char *)a, (const unsigned char *)b};
    size_t lens[2] = {la, lb};
    mtlsauthz_identity *x = NULL, *y = NULL, *z = NULL, *leaf = load("full.der");
    mtlsauthz_error err = {0};
    cr_assert_eq(mtlsauthz_identity_from_der_chain(&x, certs, lens, 2, &err), 0, "%s", err.message);
    cr_assert_eq(mtlsauthz_identity_from_der(&y, (const unsigned char *)both, len, &err), 0, "%s",
                 err.message);
    z = load("full-chain.pem");
    expect_same(x, y, "chain vs concatenated");
    expect_same(x, z, "chain vs PEM bundle");
    expect_same(x, leaf, "chain vs leaf alone");
    cr_assert_eq(mtlsauthz_identity_chain_length(x), 2);
    cr_assert_eq(mtlsauthz_identity_chain_length(y), 2);
    cr_assert_eq(mtlsauthz_identity_chain_length(z), 2);
    cr_assert_eq(mtlsauthz_identity_chain_length(leaf), 1);
    mtlsauthz_identity_free(x);
    mtlsauthz_identity_free(y);
    mtlsauthz_identity_free(z);
    mtlsauthz_identity_free(leaf);
    free(a);
    free(b);
    free(both);
}

Test(identity, der_chain_errors)
{
    size_t la;
    char *a = th_cert("full.der", &la);
    const unsigned char *certs[MTLSAUTHZ__MAX_CHAIN + 1];
    size_t lens[MTLSAUTHZ__MAX_CHAIN + 1], i;
    mtlsauthz_identity *id = NULL;
    mtlsauthz_error err = {0};
    for (i = 0; i <= MTLSAUTHZ__MAX_CHAIN; i++) {
        certs[i] = (const unsigned char *)a;
        lens[i] = la;
    }
    cr_assert_eq(mtlsauthz_identity_from_der_chain(&id, certs, lens, MTLSAUTHZ__MAX_CHAIN, &err), 0,
                 "%s", err.message);
    cr_assert_eq(mtlsauthz_identity_chain_length(id), MTLSAUTHZ__MAX_CHAIN);
    mtlsauthz_identity_free(id);
    cr_assert_eq(
        mtlsauthz_identity_from_der_chain(&id, certs, lens, MTLSAUTHZ__MAX_CHAIN + 1, &err),
        MTLSAUTHZ_ELIMIT);
    cr_assert_eq(mtlsauthz_identity_from_der_chain(&id, certs, lens, 0, &err), MTLSAUTHZ_ECERT);
    cr_assert_eq(mtlsauthz_identity_from_der_chain(&id, NULL, lens, 1, &err), MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_identity_from_der_chain(&id, certs, NULL, 1, &err), MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_identity_from_der_chain(NULL, certs, lens, 1, &err), MTLSAUTHZ_EINVAL);
    /* One piece holding a certificate and one more byte is not "exactly one certificate". */
    lens[1] = la - 1;
    cr_assert_eq(mtlsauthz_identity_from_der_chain(&id, certs, lens, 2, &err), MTLSAUTHZ_ECERT);
    certs[1] = NULL;
    lens[1] = la;
    cr_assert_eq(mtlsauthz_identity_from_der_chain(&id, certs, lens, 2, &err), MTLSAUTHZ_EINVAL);
    cr_assert_null(id);
    free(a);
}

Test(identity, der_chain_length_limit)
{
    size_t la, i;
    char *a = th_cert("ops.der", &la);
    unsigned char *buf = malloc(la * (MTLSAUTHZ__MAX_CHAIN + 1));
    mtlsauthz_identity *id = NULL;
    mtlsauthz_error err = {0};
    cr_assert_not_null(buf);
    for (i = 0; i <= MTLSAUTHZ__MAX_CHAIN; i++) {
        memcpy(buf + i * la, a, la);
    }
    cr_assert_eq(mtlsauthz_identity_from_der(&id, buf, la * MTLSAUTHZ__MAX_CHAIN, &err), 0, "%s",
                 err.message);
    cr_assert_eq(mtlsauthz_identity_chain_length(id), MTLSAUTHZ__MAX_CHAIN);
    mtlsauthz_identity_free(id);
    cr_assert_eq(mtlsauthz_identity_from_der(&id, buf, la * (MTLSAUTHZ__MAX_CHAIN + 1), &err),
                 MTLSAUTHZ_ELIMIT);
    cr_assert_null(id);
    free(buf);
    free(a);
}

Test(identity, pem_chain_length_limit)
{
    size_t la, i;
    char *a = th_cert("ops.pem", &la);
    char *buf = malloc(la * (MTLSAUTHZ__MAX_CHAIN + 1));
    mtlsauthz_identity *id = NULL;
    mtlsauthz_error err = {0};
    cr_assert_not_null(buf);
    for (i = 0; i <= MTLSAUTHZ__MAX_CHAIN; i++) {
        memcpy(buf + i * la, a, la);
    }
    cr_assert_eq(mtlsauthz_identity_from_pem(&id, buf, la * MTLSAUTHZ__MAX_CHAIN, &err), 0, "%s",
                 err.message);
    mtlsauthz_identity_free(id);
    cr_assert_eq(mtlsauthz_identity_from_pem(&id, buf, la * (MTLSAUTHZ__MAX_CHAIN + 1), &err),
                 MTLSAUTHZ_ELIMIT);
    cr_assert_null(id);
    free(buf);
    free(a);
}

/* ---- mtlsauthz_identity_from_file ---- */

static mtlsauthz_identity *from_files(const char *cert, const char *chain)
{
    char c[4096];
    mtlsauthz_identity *id = NULL;
    mtlsauthz_error err = {0};
    snprintf(c, sizeof(c), "%s", th_cert_path(cert));
    cr_assert_eq(
        mtlsauthz_identity_from_file(&id, c, chain != NULL ? th_cert_path(chain) : NULL, &err), 0,
        "%s + %s: %s", cert, chain != NULL ? chain : "-", err.message);
    return id;
}

/* The error of from_file(cert, chain), whose message must be `want` once "$CERTS/" is dropped
 * from every path in it. */
static void from_files_fails(const char *cert, const char *chain, int code, const char *want)
{
    char c[4096], got[MTLSAUTHZ_ERROR_MESSAGE_SIZE], *at;
    const char *dir = getenv("MTLSAUTHZ_TEST_CERTS");
    mtlsauthz_identity *id = (mtlsauthz_identity *)(uintptr_t)1;
    mtlsauthz_error err = {0};
    size_t dlen = strlen(dir);
    snprintf(c, sizeof(c), "%s", th_cert_path(cert));
    cr_assert_eq(
        mtlsauthz_identity_from_file(&id, c, chain != NULL ? th_cert_path(chain) : NULL, &err),
        code, "%s + %s: %s", cert, chain != NULL ? chain : "-", err.message);
    cr_assert_null(id);
    snprintf(got, sizeof(got), "%s", err.message);
    while ((at = strstr(got, dir)) != NULL && at[dlen] == '/') {
        memmove(at, at + dlen + 1, strlen(at + dlen + 1) + 1);
    }
    cr_assert_str_eq(got, want);
}

Test(identity, from_file_reads_pem_or_der_by_content)
{
    static const char *const names[] = {"full", "builder", "ops", "nul-cn"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char pem[64], der[64];
        mtlsauthz_identity *a, *b, *want;
        snprintf(pem, sizeof(pem), "%s.pem", names[i]);
        snprintf(der, sizeof(der), "%s.der", names[i]);
        want = load(der);
        a = from_files(pem, NULL);
        b = from_files(der, NULL);
        expect_same(a, want, pem);
        expect_same(b, want, der);
        cr_assert_eq(mtlsauthz_identity_chain_length(a), 1);
        mtlsauthz_identity_free(a);
        mtlsauthz_identity_free(b);
        mtlsauthz_identity_free(want);
    }
}

Test(identity, from_file_puts_the_chain_file_after_the_leaf_in_either_form)
{
    static const char *const leaves[] = {"full.pem", "full.der"};
    static const char *const chains[] = {"int.pem", "int.der"};
    mtlsauthz_identity *want = load("full-chain.pem");
    for (size_t i = 0; i < 2; i++) {
        for (size_t j = 0; j < 2; j++) {
            mtlsauthz_identity *id = from_files(leaves[i], chains[j]);
            expect_same(id, want, leaves[i]);
            cr_assert_eq(mtlsauthz_identity_chain_length(id), 2, "%s + %s", leaves[i], chains[j]);
            mtlsauthz_identity_free(id);
        }
    }
    mtlsauthz_identity_free(want);
}

Test(identity, from_file_errors_name_the_file_at_fault)
{
    mtlsauthz_identity *id = (mtlsauthz_identity *)(uintptr_t)1;
    from_files_fails("no-such.pem", NULL, MTLSAUTHZ_EIO, "no-such.pem: No such file or directory");
    from_files_fails("full.pem", "no-such.pem", MTLSAUTHZ_EIO,
                     "no-such.pem: No such file or directory");
    from_files_fails("garbage.pem", NULL, MTLSAUTHZ_ECERT,
                     "garbage.pem: PEM block 1 does not decode");
    from_files_fails("full.pem", "garbage.pem", MTLSAUTHZ_ECERT,
                     "garbage.pem: PEM block 1 does not decode");
    from_files_fails("full.der", "trailing.der", MTLSAUTHZ_ECERT,
                     "trailing.der: 4 bytes after certificate 1 are not a certificate");
    /* A chain file that holds no certificate is a mistake, not an empty chain. */
    from_files_fails("full.der", "empty.pem", MTLSAUTHZ_ECERT,
                     "empty.pem: no certificate: input is empty");
    /* Nor may an empty leaf file let the chain's first certificate stand in for the leaf. */
    from_files_fails("empty.pem", "int.der", MTLSAUTHZ_ECERT,
                     "empty.pem: no certificate: input is empty");
    /* What the extractor refuses is about the joined chain. */
    from_files_fails("junk-der.pem", "int.pem", MTLSAUTHZ_ECERT,
                     "junk-der.pem with chain int.pem: certificate 1 does not parse");
    cr_assert_eq(mtlsauthz_identity_from_file(NULL, "x", NULL, NULL), MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_identity_from_file(&id, NULL, NULL, NULL), MTLSAUTHZ_EINVAL);
    cr_assert_null(id);
}

Test(identity, from_file_chain_length_limit)
{
    size_t la, i;
    char *a = th_cert("ops.der", &la);
    char dir[] = "/tmp/mtlsauthz-identity-XXXXXX", path[64];
    mtlsauthz_identity *id = NULL;
    mtlsauthz_error err = {0};
    FILE *f;
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/chain.der", dir);
    f = fopen(path, "wb");
    cr_assert_not_null(f);
    for (i = 0; i < MTLSAUTHZ__MAX_CHAIN - 1; i++) {
        fwrite(a, 1, la, f);
    }
    fclose(f);
    /* The leaf and 15 more is the limit; one more certificate in the leaf's file is over it. */
    cr_assert_eq(mtlsauthz_identity_from_file(&id, th_cert_path("ops.der"), path, &err), 0, "%s",
                 err.message);
    cr_assert_eq(mtlsauthz_identity_chain_length(id), MTLSAUTHZ__MAX_CHAIN);
    mtlsauthz_identity_free(id);
    cr_assert_eq(mtlsauthz_identity_from_file(&id, th_cert_path("full-chain.pem"), path, &err),
                 MTLSAUTHZ_ELIMIT);
    cr_assert(strstr(err.message, "chain longer than 16 certificates") != NULL, "%s", err.message);
    cr_assert_null(id);
    unlink(path);
    rmdir(dir);
    free(a);
}

Test(identity, input_size_limits)
{
    size_t n = MTLSAUTHZ__MAX_INPUT_BYTES + 1;
    char *big = calloc(1, n);
    mtlsauthz_identity *id = NULL;
    mtlsauthz_error err = {0};
    cr_assert_not_null(big);
    cr_assert_eq(mtlsauthz_identity_from_der(&id, (unsigned char *)big, n, &err), MTLSAUTHZ_ELIMIT);
    cr_assert_eq(mtlsauthz_identity_from_pem(&id, big, n, &err), MTLSAUTHZ_ELIMIT);
    /* A certificate header claiming more than MTLSAUTHZ__MAX_CERT_BYTES. */
    big[0] = 0x30;
    big[1] = (char)0x83;
    big[2] = 0x01;
    big[3] = 0x00;
    big[4] = 0x00;
    cr_assert_eq(mtlsauthz_identity_from_der(&id, (unsigned char *)big, 5 + 0x10000, &err),
                 MTLSAUTHZ_ELIMIT);
    cr_assert_null(id);
    free(big);
}

/* ---- malformed input never crashes and never builds an identity ---- */

Test(identity, malformed_inputs_are_errors)
{
    expect_error("truncated.der", MTLSAUTHZ_ECERT);
    expect_error("trailing.der", MTLSAUTHZ_ECERT);
    expect_error("garbage.pem", MTLSAUTHZ_ECERT);
    expect_error("junk-der.pem", MTLSAUTHZ_ECERT);
    expect_error("empty.pem", MTLSAUTHZ_ECERT);
    expect_error("key-only.pem", MTLSAUTHZ_ECERT);
    expect_error("cert-key.pem", MTLSAUTHZ_ECERT);
}

Test(identity, pem_text_around_blocks_is_ignored)
{
    size_t len;
    char *pem = th_cert("ops.pem", &len);
    char *framed = malloc(len + 64);
    mtlsauthz_identity *id = NULL;
    mtlsauthz_error err = {0};
    int n = snprintf(framed, len + 64, "subject: ops\n%s\ntrailer\n", pem);
    cr_assert_eq(mtlsauthz_identity_from_pem(&id, framed, (size_t)n, &err), 0, "%s", err.message);
    EXPECT(id, MTLSAUTHZ_FIELD_CN, "alice");
    mtlsauthz_identity_free(id);
    /* Text alone, with no block, is not a certificate. */
    cr_assert_eq(mtlsauthz_identity_from_pem(&id, "hello\n", 6, &err), MTLSAUTHZ_ECERT);
    free(pem);
    free(framed);
}

Test(identity, pem_is_not_der_and_der_is_not_pem)
{
    size_t lp, ld;
    char *pem = th_cert("ops.pem", &lp), *der = th_cert("ops.der", &ld);
    mtlsauthz_identity *id = NULL;
    mtlsauthz_error err = {0};
    cr_assert_eq(mtlsauthz_identity_from_der(&id, (unsigned char *)pem, lp, &err), MTLSAUTHZ_ECERT);
    cr_assert_eq(mtlsauthz_identity_from_pem(&id, der, ld, &err), MTLSAUTHZ_ECERT);
    cr_assert_null(id);
    free(pem);
    free(der);
}

Test(identity, every_truncation_of_a_der_is_an_error)
{
    size_t len, cut;
    char *der = th_cert("full.der", &len);
    for (cut = 0; cut < len; cut++) {
        mtlsauthz_identity *id = NULL;
        mtlsauthz_error err = {0};
        int rc = mtlsauthz_identity_from_der(&id, (unsigned char *)der, cut, &err);
        cr_assert(rc == MTLSAUTHZ_ECERT, "cut at %zu: rc %d", cut, rc);
        cr_assert_null(id);
    }
    free(der);
}

/* Replaces the one occurrence of `from` with `to` (same length) in a copy of a DER file. */
static unsigned char *patched(const char *name, size_t *len, const void *from, const void *to,
                              size_t n)
{
    unsigned char *der = (unsigned char *)th_cert(name, len);
    size_t i, hits = 0, at = 0;
    for (i = 0; i + n <= *len; i++) {
        if (memcmp(der + i, from, n) == 0) {
            hits++;
            at = i;
        }
    }
    cr_assert_eq(hits, 1, "pattern found %zu times in %s", hits, name);
    memcpy(der + at, to, n);
    return der;
}

Test(identity, malformed_san_extension_fails_closed)
{
    static const char from[] = "\x86\x24spiffe://prod.example.com/ci/builder";
    static const char to[] = "\x04\x24spiffe://prod.example.com/ci/builder";
    size_t len;
    unsigned char *der = patched("builder.der", &len, from, to, sizeof(from) - 1);
    mtlsauthz_identity *id = NULL;
    mtlsauthz_error err = {0};
    cr_assert_eq(mtlsauthz_identity_from_der(&id, der, len, &err), MTLSAUTHZ_ECERT);
    cr_assert_null(id);
    cr_assert_not_null(strstr(err.message, "subjectAltName"), "%s", err.message);
    free(der);
}

Test(identity, malformed_eku_extension_fails_closed)
{
    static const char from[] = "\x30\x0a\x06\x08\x2b\x06\x01\x05\x05\x07\x03\x02";
    static const char to[] = "\x30\x0a\x04\x08\x2b\x06\x01\x05\x05\x07\x03\x02";
    size_t len;
    unsigned char *der = patched("builder.der", &len, from, to, sizeof(from) - 1);
    mtlsauthz_identity *id = NULL;
    mtlsauthz_error err = {0};
    cr_assert_eq(mtlsauthz_identity_from_der(&id, der, len, &err), MTLSAUTHZ_ECERT);
    cr_assert_null(id);
    cr_assert_not_null(strstr(err.message, "extendedKeyUsage"), "%s", err.message);
    free(der);
}

Test(identity, ip_san_of_bad_length_is_rejected)
{
    /* The dNSName [2] web.example.com re-tagged as iPAddress [7]: a 15-byte address. */
    static const char from[] = "\x82\x0fweb.example.com";
    static const char to[] = "\x87\x0fweb.example.com";
    size_t len;
    unsigned char *der = patched("full.der", &len, from, to, sizeof(from) - 1);
    mtlsauthz_identity *id = NULL;
    mtlsauthz_error err = {0};
    cr_assert_eq(mtlsauthz_identity_from_der(&id, der, len, &err), 0, "%s", err.message);
    expect_rejected(id, "malformed iPAddress SAN");
    EXPECT(id, MTLSAUTHZ_FIELD_SAN_DNS, "API.Example.COM");
    EXPECT(id, MTLSAUTHZ_FIELD_SAN_IP, "192.0.2.10", "2001:db8::1", "::ffff:192.0.2.10");
    mtlsauthz_identity_free(id);
    free(der);
}

Test(identity, unread_san_types_are_ignored)
{
    /* The URI SAN [6] re-tagged as registeredID [8] (OpenSSL decodes it as an OID). */
    static const char from[] = "\x86\x15https://example.com/x";
    static const char to[] = "\x88\x15https://example.com/x";
    size_t len;
    unsigned char *der = patched("full.der", &len, from, to, sizeof(from) - 1);
    mtlsauthz_identity *id = NULL;
    mtlsauthz_error err = {0};
    int rc = mtlsauthz_identity_from_der(&id, der, len, &err);
    /* The bytes are not a valid OID, so OpenSSL may refuse the extension: either way no URI
     * appears and nothing is accepted by mistake. */
    if (rc == 0) {
        EXPECT_NONE(id, MTLSAUTHZ_FIELD_SAN_URI);
        EXPECT(id, MTLSAUTHZ_FIELD_SAN_DNS, "web.example.com", "API.Example.COM");
    } else {
        cr_assert_eq(rc, MTLSAUTHZ_ECERT);
    }
    mtlsauthz_identity_free(id);
    free(der);
}

/* ---- the OpenSSL error queue is left as the caller had it ---- */

Test(identity, openssl_error_queue_is_not_touched)
{
    size_t len;
    char *garbage = th_cert("garbage.pem", &len);
    mtlsauthz_identity *id = NULL;
    mtlsauthz_error err = {0};
    ERR_clear_error();
    cr_assert_eq(mtlsauthz_identity_from_pem(&id, garbage, len, &err), MTLSAUTHZ_ECERT);
    cr_assert_eq(ERR_peek_error(), 0, "errors leaked into the caller's queue");
    /* A caller's own queued error survives. */
    ERR_raise(ERR_LIB_USER, 42);
    cr_assert_eq(mtlsauthz_identity_from_pem(&id, garbage, len, &err), MTLSAUTHZ_ECERT);
    cr_assert_eq(ERR_GET_REASON(ERR_peek_error()), 42);
    cr_assert_eq(ERR_GET_REASON(ERR_peek_last_error()), 42);
    ERR_clear_error();
    free(garbage);
}

/* ---- getters and argument checks ---- */

Test(identity, getters_refuse_bad_arguments)
{
    mtlsauthz_identity *id = load("ops.pem");
    const char *v = (const char *)0x1;
    size_t len = 7;
    cr_assert_eq(mtlsauthz_identity_get(&v, &len, id, MTLSAUTHZ_FIELD_COUNT_, 0), MTLSAUTHZ_EINVAL);
    cr_assert_null(v);
    cr_assert_eq(len, 0);
    cr_assert_eq(mtlsauthz_identity_get(&v, &len, id, (mtlsauthz_field)-1, 0), MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_identity_get(&v, &len, id, MTLSAUTHZ_FIELD_CN, 1), MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_identity_get(&v, &len, NULL, MTLSAUTHZ_FIELD_CN, 0), MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_identity_get(NULL, &len, id, MTLSAUTHZ_FIELD_CN, 0), MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_identity_get(&v, NULL, id, MTLSAUTHZ_FIELD_CN, 0), MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_identity_get(&v, &len, id, MTLSAUTHZ_FIELD_CN, 0), 0);
    cr_assert_str_eq(v, "alice");
    cr_assert_eq(len, 5);
    cr_assert_eq(mtlsauthz_identity_count(id, MTLSAUTHZ_FIELD_COUNT_), 0);
    cr_assert_eq(mtlsauthz_identity_count(id, (mtlsauthz_field)-1), 0);
    cr_assert_eq(mtlsauthz_identity_count(NULL, MTLSAUTHZ_FIELD_CN), 0);
    cr_assert_eq(mtlsauthz_identity_count(id, MTLSAUTHZ_FIELD_CN), 1);
    cr_assert_not_null(mtlsauthz_identity_rejected(NULL), "NULL is reported as rejected");
    cr_assert_eq(mtlsauthz_identity_chain_length(NULL), 0);
    mtlsauthz_identity_free(id);
    mtlsauthz_identity_free(NULL);
    mtlsauthz_string_free(NULL);
}

Test(identity, constructors_refuse_bad_arguments)
{
    mtlsauthz_identity *id = (mtlsauthz_identity *)0x1;
    mtlsauthz_error err = {0};
    static const unsigned char one = 0x30;
    cr_assert_eq(mtlsauthz_identity_from_der(NULL, &one, 1, &err), MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_identity_from_der(&id, NULL, 1, &err), MTLSAUTHZ_EINVAL);
    cr_assert_null(id);
    cr_assert_eq(mtlsauthz_identity_from_der(&id, &one, 0, &err), MTLSAUTHZ_ECERT);
    cr_assert_eq(mtlsauthz_identity_from_pem(NULL, "x", 1, &err), MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_identity_from_pem(&id, NULL, 1, &err), MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_identity_from_pem(&id, "", 0, &err), MTLSAUTHZ_ECERT);
    /* A NULL error pointer is allowed. */
    cr_assert_eq(mtlsauthz_identity_from_der(&id, &one, 1, NULL), MTLSAUTHZ_ECERT);
    cr_assert_null(id);
}

Test(identity, json_shape)
{
    mtlsauthz_identity *id = load("builder.pem");
    mtlsauthz_error err = {0};
    char *json = NULL, want[1024];
    const char *serial, *sha;
    size_t sl, hl;
    cr_assert_eq(mtlsauthz_identity_get(&serial, &sl, id, MTLSAUTHZ_FIELD_SERIAL, 0), 0);
    cr_assert_eq(mtlsauthz_identity_get(&sha, &hl, id, MTLSAUTHZ_FIELD_SHA256, 0), 0);
    snprintf(want, sizeof(want),
             "{\"subject\":{\"dn\":\"CN=builder,O=Example Corp\",\"cn\":[\"builder\"],"
             "\"o\":[\"Example Corp\"],\"ou\":[]},"
             "\"issuer\":{\"dn\":\"CN=mtlsauthz Test Intermediate CA,O=Example Corp\"},"
             "\"serial\":\"%s\",\"sha256\":\"%s\","
             "\"spiffe_id\":\"spiffe://prod.example.com/ci/builder\","
             "\"san\":{\"dns\":[],\"uri\":[\"spiffe://prod.example.com/ci/builder\"],"
             "\"email\":[],\"ip\":[]},\"eku\":[\"clientAuth\"],"
             "\"not_before\":\"2020-01-01T00:00:00Z\",\"not_after\":\"2051-01-02T03:04:05Z\","
             "\"partial\":false,\"rejected\":null}",
             serial, sha);
    cr_assert_eq(mtlsauthz_identity_to_json(&json, NULL, id, &err), 0, "%s", err.message);
    cr_assert_str_eq(json, want);
    mtlsauthz_string_free(json);
    cr_assert_eq(mtlsauthz_identity_to_json(NULL, NULL, id, &err), MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_identity_to_json(&json, NULL, NULL, &err), MTLSAUTHZ_EINVAL);
    cr_assert_null(json);
    mtlsauthz_identity_free(id);
}

/* ---- the builder's own contract ---- */

Test(builder, per_field_value_limit)
{
    mtlsauthz__idb b;
    mtlsauthz_error err = {0};
    size_t i;
    mtlsauthz__idb_init(&b);
    for (i = 0; i < MTLSAUTHZ__MAX_VALUES; i++) {
        cr_assert_eq(mtlsauthz__idb_add(&b, MTLSAUTHZ_FIELD_SAN_DNS, "a.example", 9, &err), 0);
    }
    cr_assert_eq(mtlsauthz__idb_add(&b, MTLSAUTHZ_FIELD_SAN_DNS, "a.example", 9, &err),
                 MTLSAUTHZ_ELIMIT);
    cr_assert_eq(err.code, MTLSAUTHZ_ELIMIT);
    mtlsauthz__idb_free(&b);
}

Test(builder, misuse_is_an_internal_error)
{
    mtlsauthz__idb b;
    mtlsauthz_identity *id = (mtlsauthz_identity *)0x1;
    mtlsauthz_error err = {0};
    mtlsauthz__idb_init(&b);
    cr_assert_eq(mtlsauthz__idb_add(&b, MTLSAUTHZ_FIELD_SPIFFE_ID, "x", 1, &err),
                 MTLSAUTHZ_EINTERNAL);
    cr_assert_eq(mtlsauthz__idb_add(&b, MTLSAUTHZ_FIELD_SUBJECT_DN, "CN=a", 4, &err), 0);
    cr_assert_eq(mtlsauthz__idb_add(&b, MTLSAUTHZ_FIELD_SUBJECT_DN, "CN=b", 4, &err),
                 MTLSAUTHZ_EINTERNAL);
    cr_assert_eq(mtlsauthz__idb_set_time(&b, MTLSAUTHZ_FIELD_CN, 2020, 1, 1, 0, 0, 0, &err),
                 MTLSAUTHZ_EINTERNAL);
    cr_assert_eq(
        mtlsauthz__idb_set_time(&b, MTLSAUTHZ_FIELD_NOT_BEFORE, 2020, 13, 1, 0, 0, 0, &err),
        MTLSAUTHZ_ECERT);
    cr_assert_eq(
        mtlsauthz__idb_set_time(&b, MTLSAUTHZ_FIELD_NOT_BEFORE, 10000, 1, 1, 0, 0, 0, &err),
        MTLSAUTHZ_ECERT);
    /* Required fields missing. */
    cr_assert_eq(mtlsauthz__idb_finish(&id, &b, 1, &err), MTLSAUTHZ_EINTERNAL);
    cr_assert_null(id);
    mtlsauthz__idb_free(&b);
}

Test(builder, nul_in_other_dn_attribute_rejects)
{
    static const char *const none[] = {"https://x/"};
    mtlsauthz_identity *id = build_with_uris(none, 1, 0);
    expect_accepted(id);
    mtlsauthz_identity_free(id);
    {
        static const unsigned char one = 1, md[32] = {0};
        mtlsauthz__idb b;
        mtlsauthz_error err = {0};
        mtlsauthz__idb_init(&b);
        mtlsauthz__idb_dn_attribute(&b, "Calif", 5);
        cr_assert(!b.nul_in_dn_attr);
        mtlsauthz__idb_dn_attribute(&b, "Cal\0if", 6);
        cr_assert_eq(mtlsauthz__idb_add(&b, MTLSAUTHZ_FIELD_SUBJECT_DN, "ST=Cal\\00if", 11, &err),
                     0);
        cr_assert_eq(mtlsauthz__idb_add(&b, MTLSAUTHZ_FIELD_ISSUER_DN, "CN=y", 4, &err), 0);
        cr_assert_eq(mtlsauthz__idb_set_serial(&b, &one, 1, 0, &err), 0);
        cr_assert_eq(mtlsauthz__idb_set_sha256(&b, md, &err), 0);
        cr_assert_eq(
            mtlsauthz__idb_set_time(&b, MTLSAUTHZ_FIELD_NOT_BEFORE, 2020, 1, 1, 0, 0, 0, &err), 0);
        cr_assert_eq(
            mtlsauthz__idb_set_time(&b, MTLSAUTHZ_FIELD_NOT_AFTER, 2020, 1, 2, 0, 0, 0, &err), 0);
        cr_assert_eq(mtlsauthz__idb_finish(&id, &b, 1, &err), 0, "%s", err.message);
        expect_rejected(id, "NUL byte in subject DN attribute");
        mtlsauthz_identity_free(id);
    }
}

Test(builder, der_cert_len)
{
    static const unsigned char short_form[] = {0x30, 0x03, 1, 2, 3};
    static const unsigned char long_form[] = {0x30, 0x81, 0x80};
    static const unsigned char non_minimal[] = {0x30, 0x81, 0x05, 1, 2, 3, 4, 5};
    static const unsigned char indefinite[] = {0x30, 0x80, 0, 0};
    static const unsigned char not_seq[] = {0x31, 0x00};
    static const unsigned char leading_zero[] = {0x30, 0x82, 0x00, 0x90};
    cr_assert_eq(mtlsauthz__der_cert_len(short_form, sizeof(short_form)), 5);
    cr_assert_eq(mtlsauthz__der_cert_len(short_form, 4), 0);
    cr_assert_eq(mtlsauthz__der_cert_len(long_form, sizeof(long_form)), 0); /* truncated */
    cr_assert_eq(mtlsauthz__der_cert_len(non_minimal, sizeof(non_minimal)), 0);
    cr_assert_eq(mtlsauthz__der_cert_len(indefinite, sizeof(indefinite)), 0);
    cr_assert_eq(mtlsauthz__der_cert_len(not_seq, sizeof(not_seq)), 0);
    cr_assert_eq(mtlsauthz__der_cert_len(leading_zero, sizeof(leading_zero)), 0);
    cr_assert_eq(mtlsauthz__der_cert_len(NULL, 10), 0);
    cr_assert_eq(mtlsauthz__der_cert_len(short_form, 0), 0);
}

/* ---- allocation failure: every failure is clean, and eventually it succeeds ---- */

static void alloc_failure_sweep(const char *name)
{
    size_t len;
    char *data = th_cert(name, &len);
    long n;
    int der = ends_with(name, ".der");
    for (n = 0; n < 1000; n++) {
        mtlsauthz_identity *id = NULL;
        mtlsauthz_error err = {0};
        char *json = NULL;
        int rc;
        mtlsauthz__alloc_fail_after(n);
        rc = der ? mtlsauthz_identity_from_der(&id, (unsigned char *)data, len, &err)
                 : mtlsauthz_identity_from_pem(&id, data, len, &err);
        if (rc == 0) {
            rc = mtlsauthz_identity_to_json(&json, NULL, id, &err);
        }
        mtlsauthz__alloc_fail_after(-1);
        mtlsauthz_string_free(json);
        mtlsauthz_identity_free(id);
        if (rc == 0) {
            break;
        }
        cr_assert_eq(rc, MTLSAUTHZ_ENOMEM, "%s, failing after %ld: %d %s", name, n, rc,
                     err.message);
        cr_assert_null(json);
    }
    cr_assert_lt(n, 1000, "%s never succeeded", name);
    cr_assert_gt(n, 2, "%s: the sweep did not reach the library's allocations", name);
    free(data);
}

Test(identity, allocation_failures_are_clean)
{
    alloc_failure_sweep("full.der");
    alloc_failure_sweep("full-chain.pem");
    alloc_failure_sweep("ipv6.pem");
}

/* ---- corrupted input: every outcome is an error or a well-formed identity ---- */

static void check_invariants(const mtlsauthz_identity *id)
{
    static const mtlsauthz_field single[] = {
        MTLSAUTHZ_FIELD_SUBJECT_DN, MTLSAUTHZ_FIELD_ISSUER_DN,  MTLSAUTHZ_FIELD_SERIAL,
        MTLSAUTHZ_FIELD_SHA256,     MTLSAUTHZ_FIELD_NOT_BEFORE, MTLSAUTHZ_FIELD_NOT_AFTER,
    };
    size_t f, i;
    for (i = 0; i < sizeof(single) / sizeof(single[0]); i++) {
        cr_assert_eq(id->counts[single[i]], 1);
    }
    cr_assert_leq(id->counts[MTLSAUTHZ_FIELD_SPIFFE_ID], 1);
    for (f = 0; f < MTLSAUTHZ_FIELD_COUNT_; f++) {
        cr_assert_leq(id->counts[f], MTLSAUTHZ__MAX_VALUES);
        for (i = 0; i < id->counts[f]; i++) {
            const mtlsauthz__str *v = &id->values[f][i];
            cr_assert_eq(v->ptr[v->len], '\0');
            if (id->rejected == NULL) {
                cr_assert_null(memchr(v->ptr, '\0', v->len),
                               "NUL in field %zu of an accepted "
                               "identity",
                               f);
            }
        }
    }
    for (i = 0; i < id->counts[MTLSAUTHZ_FIELD_SAN_IP]; i++) {
        cr_assert(id->ip_raw[i].len == 4 || id->ip_raw[i].len == 16);
    }
    if (id->counts[MTLSAUTHZ_FIELD_SPIFFE_ID] == 1) {
        const mtlsauthz__str *s = &id->values[MTLSAUTHZ_FIELD_SPIFFE_ID][0];
        cr_assert_null(mtlsauthz__spiffe_validate(s->ptr, s->len));
        cr_assert_eq(id->counts[MTLSAUTHZ_FIELD_SAN_URI], 1);
    }
}

static void corrupt_every_byte(const char *name, unsigned char mask)
{
    size_t len, i;
    unsigned char *der = (unsigned char *)th_cert(name, &len);
    for (i = 0; i < len; i++) {
        mtlsauthz_identity *id = NULL;
        mtlsauthz_error err = {0};
        int rc;
        der[i] ^= mask;
        rc = mtlsauthz_identity_from_der(&id, der, len, &err);
        der[i] ^= mask;
        if (rc == 0) {
            check_invariants(id);
        } else {
            cr_assert(rc == MTLSAUTHZ_ECERT || rc == MTLSAUTHZ_ELIMIT, "%s byte %zu: rc %d (%s)",
                      name, i, rc, err.message);
            cr_assert_null(id);
        }
        mtlsauthz_identity_free(id);
    }
    free(der);
}

Test(identity, corrupted_bytes_never_crash)
{
    corrupt_every_byte("full.der", 0xff);
    corrupt_every_byte("full.der", 0x01);
    corrupt_every_byte("builder.der", 0x80);
    corrupt_every_byte("ipv6.der", 0x20);
}
