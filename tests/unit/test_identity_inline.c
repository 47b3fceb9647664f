/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inline identities (lib/identity_inline.c): each is compared field for field with the
 * identity of a generated certificate that has the same content (tests/certs/gen-certs.sh),
 * including the rejections (NUL bytes, non-ASCII SANs, invalid SPIFFE IDs), so a policy test
 * cannot pass on an identity no certificate could produce. Values no certificate can carry
 * are errors that name the key and the value.
 */
#include "identity_build.h"
#include "identity_inline.h"
#include "policy_helpers.h"

#define S(lit)                                                                                     \
    {                                                                                              \
        (lit), sizeof(lit) - 1                                                                     \
    }
#define LIST(...)                                                                                  \
    ((mtlsauthz__inline_list){(const mtlsauthz__str[]){__VA_ARGS__},                               \
                              sizeof((mtlsauthz__str[]){__VA_ARGS__}) / sizeof(mtlsauthz__str)})

static mtlsauthz_identity *build(const mtlsauthz__inline_identity *in)
{
    mtlsauthz_identity *id = NULL;
    mtlsauthz_error err;
    int rc;
    mtlsauthz_error_clear(&err);
    rc = mtlsauthz__identity_from_inline(&id, in, &err);
    cr_assert_eq(rc, 0, "inline identity: %s", err.message);
    cr_assert_not_null(id);
    return id;
}

/* Builds an identity that must fail with `code` and a message holding every needle. */
static void build_fails(const mtlsauthz__inline_identity *in, int code, const char *n1,
                        const char *n2)
{
    mtlsauthz_identity *id = (mtlsauthz_identity *)(uintptr_t)1;
    mtlsauthz_error err;
    int rc;
    mtlsauthz_error_clear(&err);
    rc = mtlsauthz__identity_from_inline(&id, in, &err);
    cr_assert_eq(rc, code, "expected %s, got %s (%s)", mtlsauthz_errname(code),
                 mtlsauthz_errname(rc), err.message);
    cr_assert_null(id);
    cr_assert_not_null(strstr(err.message, "identity: "), "%s", err.message);
    cr_assert_not_null(strstr(err.message, n1), "expected \"%s\" in \"%s\"", n1, err.message);
    if (n2 != NULL) {
        cr_assert_not_null(strstr(err.message, n2), "expected \"%s\" in \"%s\"", n2, err.message);
    }
}

static mtlsauthz__str value(const mtlsauthz_identity *id, mtlsauthz_field f)
{
    mtlsauthz__str s = {NULL, 0};
    cr_assert_eq(mtlsauthz_identity_get(&s.ptr, &s.len, id, f, 0), 0, "%s missing",
                 mtlsauthz__field_name(f));
    return s;
}

static void assert_field_eq(const mtlsauthz_identity *a, const mtlsauthz_identity *b,
                            mtlsauthz_field f)
{
    size_t n = mtlsauthz_identity_count(a, f);
    cr_assert_eq(n, mtlsauthz_identity_count(b, f), "%s: %zu values inline, %zu in the certificate",
                 mtlsauthz__field_name(f), n, mtlsauthz_identity_count(b, f));
    for (size_t i = 0; i < n; i++) {
        const char *x, *y;
        size_t xl, yl;
        cr_assert_eq(mtlsauthz_identity_get(&x, &xl, a, f, i), 0);
        cr_assert_eq(mtlsauthz_identity_get(&y, &yl, b, f, i), 0);
        cr_assert(xl == yl && memcmp(x, y, xl) == 0, "%s[%zu]: '%.*s' inline, '%.*s' in the cert",
                  mtlsauthz__field_name(f), i, (int)xl, x, (int)yl, y);
    }
}

/* Every field but those in `skip` (a bit per field), and the rejection reason. */
static void assert_same(const mtlsauthz_identity *in, const mtlsauthz_identity *cert, unsigned skip)
{
    const char *ra = mtlsauthz_identity_rejected(in), *rb = mtlsauthz_identity_rejected(cert);
    for (unsigned f = 0; f < MTLSAUTHZ_FIELD_COUNT_; f++) {
        if ((skip & (1u << f)) == 0) {
            assert_field_eq(in, cert, (mtlsauthz_field)f);
        }
    }
    if (rb == NULL) {
        cr_assert_null(ra, "inline identity rejected (%s), the certificate is not", ra);
    } else {
        cr_assert_not_null(ra, "the certificate is rejected (%s), the inline identity is not", rb);
        cr_assert_str_eq(ra, rb);
    }
}

/* What an inline identity cannot share with a certificate: who issued it and when. */
#define NOT_CERT                                                                                   \
    ((1u << MTLSAUTHZ_FIELD_ISSUER_DN) | (1u << MTLSAUTHZ_FIELD_NOT_BEFORE) |                      \
     (1u << MTLSAUTHZ_FIELD_NOT_AFTER))
/* ...nor, unless the test copies them, the serial and the fingerprint. */
#define NOT_PINNED (NOT_CERT | (1u << MTLSAUTHZ_FIELD_SERIAL) | (1u << MTLSAUTHZ_FIELD_SHA256))

/* Compares `in` with the certificate `name`, copying the certificate's serial and fingerprint
 * into the inline identity first, so those are compared too. */
static void assert_like_cert(mtlsauthz__inline_identity in, const char *name, unsigned skip)
{
    mtlsauthz_identity *cert = ph_cert(name), *id;
    mtlsauthz__str serial = value(cert, MTLSAUTHZ_FIELD_SERIAL);
    mtlsauthz__str sha = value(cert, MTLSAUTHZ_FIELD_SHA256);
    in.serial.v = &serial;
    in.serial.n = 1;
    in.sha256.v = &sha;
    in.sha256.n = 1;
    id = build(&in);
    assert_same(id, cert, skip | NOT_CERT);
    mtlsauthz_identity_free(id);
    mtlsauthz_identity_free(cert);
}

/* Compares only the rejection and the fields the test names (serial and digest left alone). */
static void assert_rejected_like_cert(mtlsauthz__inline_identity in, const char *name)
{
    mtlsauthz_identity *cert = ph_cert(name), *id = build(&in);
    cr_assert_not_null(mtlsauthz_identity_rejected(cert), "%s should be rejected", name);
    assert_same(id, cert, NOT_PINNED);
    mtlsauthz_identity_free(id);
    mtlsauthz_identity_free(cert);
}

/* ---- the same identity as a certificate ---- */

Test(identity_inline, subject_and_eku_like_a_client_certificate)
{
    mtlsauthz__inline_identity in = {0};
    in.o = LIST(S("Example Corp"));
    in.ou = LIST(S("ops"));
    in.cn = LIST(S("alice"));
    in.eku = LIST(S("clientAuth"));
    assert_like_cert(in, "ops", 0);
}

Test(identity_inline, repeated_attributes_keep_their_order)
{
    mtlsauthz__inline_identity in = {0};
    in.o = LIST(S("Example Corp"));
    in.ou = LIST(S("sre"), S("oncall"));
    in.cn = LIST(S("bob"));
    in.eku = LIST(S("1.3.6.1.5.5.7.3.2")); /* clientAuth by its OID */
    assert_like_cert(in, "sre", 0);

    in = (mtlsauthz__inline_identity){0};
    in.o = LIST(S("Example Corp"));
    in.ou = LIST(S("zeta"), S("alpha"), S("mid"), S("alpha"));
    in.cn = LIST(S("multi-ou"));
    in.eku = LIST(S("clientAuth"));
    assert_like_cert(in, "multi-ou", 0);
}

Test(identity_inline, spiffe_id_is_a_valid_svid)
{
    mtlsauthz__inline_identity in = {0};
    in.o = LIST(S("Example Corp"));
    in.cn = LIST(S("builder"));
    in.spiffe = LIST(S("spiffe://prod.example.com/ci/builder"));
    in.eku = LIST(S("clientAuth"));
    assert_like_cert(in, "builder", 0);
    in.eku = (mtlsauthz__inline_list){0};
    assert_like_cert(in, "builder-noeku", 0);
}

Test(identity_inline, every_san_kind_and_eku)
{
    mtlsauthz__inline_identity in = {0};
    in.o = LIST(S("Example Corp"), S("Second Org"));
    in.ou = LIST(S("one"), S("two"), S("three"));
    in.cn = LIST(S("full.example.com"));
    in.dns = LIST(S("web.example.com"), S("API.Example.COM"));
    in.uri = LIST(S("https://example.com/x"));
    in.email = LIST(S("alice@Example.COM"));
    in.ip = LIST(S("192.0.2.10"), S("2001:db8::1"), S("::ffff:192.0.2.10"));
    in.eku = LIST(S("clientAuth"), S("serverAuth"), S("1.2.3.4.5"));
    /* The certificate's subject also has C, ST, L and emailAddress, which an inline identity
     * cannot carry (docs/policy.md, "Policy tests"). */
    assert_like_cert(in, "full", 1u << MTLSAUTHZ_FIELD_SUBJECT_DN);
}

Test(identity_inline, ip_addresses_read_as_a_certificate_shows_them)
{
    mtlsauthz__inline_identity in = {0};
    in.cn = LIST(S("ipv6"));
    in.eku = LIST(S("clientAuth"));
    /* Written as gen-certs.sh writes them; the identity shows RFC 5952 text either way. */
    in.ip = LIST(S("2001:db8:0:0:1:0:0:1"), S("2001:0:0:1:0:0:0:1"), S("2001:db8:0:1:1:1:1:1"),
                 S("2001:0DB8:00A0:0000:0000:0000:0000:0001"), S("::"), S("::1"), S("fe80::"),
                 S("0:0:0:0:0:ffff:c000:20a"));
    assert_like_cert(in, "ipv6", 0);
}

Test(identity_inline, dn_escapes_are_the_certificates)
{
    mtlsauthz__inline_identity in = {0};
    in.o = LIST(S("Example Corp"));
    in.cn = LIST(S("mallory,OU=ops"));
    in.eku = LIST(S("clientAuth"));
    assert_like_cert(in, "cn-injection", 0);
    {
        mtlsauthz_identity *id = build(&in);
        mtlsauthz__str dn = value(id, MTLSAUTHZ_FIELD_SUBJECT_DN);
        cr_assert_str_eq(dn.ptr, "CN=mallory\\,OU=ops,O=Example Corp");
        mtlsauthz_identity_free(id);
    }
}

Test(identity_inline, utf8_names)
{
    mtlsauthz__inline_identity in = {0};
    in.o = LIST(S("Example Corp"));
    in.cn = LIST(S("Zo\xc3\xab \xc3\x9cnicode \xce\xa9"));
    in.eku = LIST(S("clientAuth"));
    assert_like_cert(in, "bmp-cn", 0);
    in.o = LIST(S("\xc3\x96rnek \xc5\x9eirket"));
    in.cn = LIST(S("utf8-o"));
    assert_like_cert(in, "utf8-o", 0);
}

Test(identity_inline, serial_forms_like_the_certificates)
{
    mtlsauthz__inline_identity in = {0};
    in.cn = LIST(S("neg-serial"));
    in.eku = LIST(S("clientAuth"));
    assert_like_cert(in, "neg-serial", 0);
    {
        mtlsauthz_identity *id;
        in.serial = LIST(S("-4bab9"));
        id = build(&in);
        cr_assert_str_eq(value(id, MTLSAUTHZ_FIELD_SERIAL).ptr, "-4bab9");
        mtlsauthz_identity_free(id);
        in.serial = LIST(S("c0ffee0123456789abcdef"));
        id = build(&in);
        cr_assert_str_eq(value(id, MTLSAUTHZ_FIELD_SERIAL).ptr, "c0ffee0123456789abcdef");
        mtlsauthz_identity_free(id);
    }
}

/* ---- rejected as the certificate is ---- */

Test(identity_inline, invalid_spiffe_ids_are_rejected_like_certificates)
{
    static const struct {
        const char *cert, *id;
    } cases[] = {
        {"spiffe-upper-td", "spiffe://Prod.Example.com/ns/x"},
        {"spiffe-dotdot", "spiffe://prod.example.com/a/../b"},
        {"spiffe-query", "spiffe://prod.example.com/a?x=1"},
        {"spiffe-port", "spiffe://prod.example.com:8443/a"},
        {"spiffe-td-only", "spiffe://prod.example.com"},
        {"spiffe-upper-scheme", "SPIFFE://prod.example.com/a"},
    };
    for (size_t i = 0; i < MTLSAUTHZ__ARRAY_LEN(cases); i++) {
        mtlsauthz__inline_identity in = {0};
        mtlsauthz__str sp = {cases[i].id, strlen(cases[i].id)};
        mtlsauthz__str cn = {cases[i].cert, strlen(cases[i].cert)};
        in.cn = (mtlsauthz__inline_list){&cn, 1};
        in.spiffe = (mtlsauthz__inline_list){&sp, 1};
        in.eku = LIST(S("clientAuth"));
        assert_rejected_like_cert(in, cases[i].cert);
    }
}

Test(identity_inline, spiffe_next_to_another_uri_is_no_svid)
{
    mtlsauthz__inline_identity in = {0};
    in.cn = LIST(S("spiffe-two-uri"));
    in.spiffe = LIST(S("spiffe://prod.example.com/a"));
    in.uri = LIST(S("https://example.com/a"));
    in.eku = LIST(S("clientAuth"));
    assert_rejected_like_cert(in, "spiffe-two-uri");
}

Test(identity_inline, nul_bytes_are_rejected_like_certificates)
{
    mtlsauthz__inline_identity in = {0};
    in.o = LIST(S("Example Corp"));
    in.cn = LIST(S("admin\0.evil.com"));
    in.eku = LIST(S("clientAuth"));
    assert_rejected_like_cert(in, "nul-cn");

    in = (mtlsauthz__inline_identity){0};
    in.cn = LIST(S("nul-dns"));
    in.dns = LIST(S("good.example.com\0.evil.com"));
    in.eku = LIST(S("clientAuth"));
    assert_rejected_like_cert(in, "nul-dns");
}

Test(identity_inline, non_ascii_sans_are_rejected_like_certificates)
{
    mtlsauthz__inline_identity in = {0};
    in.cn = LIST(S("utf8-dns"));
    in.dns = LIST(S("partner.biztositas.hu"), S("biztos\xc3\xadt\xc3\xa1s.hu"),
                  S("xn--biztosts-fza2j.hu"));
    in.eku = LIST(S("clientAuth"));
    assert_rejected_like_cert(in, "utf8-dns");

    in = (mtlsauthz__inline_identity){0};
    in.cn = LIST(S("utf8-email"));
    in.email = LIST(S("j\xc3\xbcrgen@example.com"));
    in.eku = LIST(S("clientAuth"));
    assert_rejected_like_cert(in, "utf8-email");

    in = (mtlsauthz__inline_identity){0};
    in.cn = LIST(S("utf8-uri"));
    in.uri = LIST(S("https://example.com/\xc3\xbc"
                    "ber"));
    in.eku = LIST(S("clientAuth"));
    assert_rejected_like_cert(in, "utf8-uri");

    in = (mtlsauthz__inline_identity){0};
    in.cn = LIST(S("latin1-dns"));
    in.dns = LIST(S("caf\xe9.example.com"), S("csi\x9b.example.com"));
    in.eku = LIST(S("clientAuth"));
    assert_rejected_like_cert(in, "latin1-dns");
}

/* ---- what the test does not say ---- */

Test(identity_inline, defaults)
{
    mtlsauthz__inline_identity in = {0};
    mtlsauthz_identity *id = build(&in);
    cr_assert_null(mtlsauthz_identity_rejected(id));
    cr_assert_str_eq(value(id, MTLSAUTHZ_FIELD_SUBJECT_DN).ptr, "");
    cr_assert_str_eq(value(id, MTLSAUTHZ_FIELD_ISSUER_DN).ptr, "CN=" MTLSAUTHZ__INLINE_ISSUER_CN);
    cr_assert_str_eq(value(id, MTLSAUTHZ_FIELD_SERIAL).ptr, MTLSAUTHZ__INLINE_SERIAL);
    cr_assert_str_eq(value(id, MTLSAUTHZ_FIELD_SHA256).ptr,
                     "0000000000000000000000000000000000000000000000000000000000000000");
    cr_assert_str_eq(value(id, MTLSAUTHZ_FIELD_NOT_BEFORE).ptr, "1970-01-01T00:00:00Z");
    cr_assert_str_eq(value(id, MTLSAUTHZ_FIELD_NOT_AFTER).ptr, "9999-12-31T23:59:59Z");
    cr_assert_eq(mtlsauthz_identity_chain_length(id), 1);
    for (unsigned f = MTLSAUTHZ_FIELD_CN; f < MTLSAUTHZ_FIELD_COUNT_; f++) {
        if (f != MTLSAUTHZ_FIELD_ISSUER_DN && f != MTLSAUTHZ_FIELD_SERIAL &&
            f != MTLSAUTHZ_FIELD_SHA256 && f < MTLSAUTHZ_FIELD_NOT_BEFORE) {
            cr_assert_eq(mtlsauthz_identity_count(id, (mtlsauthz_field)f), 0, "%s",
                         mtlsauthz__field_name((mtlsauthz_field)f));
        }
    }
    mtlsauthz_identity_free(id);
}

/* A serial or sha256 pin never matches an identity that does not give one. */
Test(identity_inline, pins_do_not_match_the_defaults)
{
    mtlsauthz__inline_identity in = {0};
    mtlsauthz_identity *id;
    in.cn = LIST(S("x"));
    id = build(&in);
    cr_assert_not(ph_selects("    serial: [\"1\"]\n", id));
    cr_assert(ph_selects("    cn: [x]\n", id));
    mtlsauthz_identity_free(id);
    in.serial = LIST(S("1"));
    in.sha256 = LIST(S("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"));
    id = build(&in);
    cr_assert(ph_selects("    serial: [\"1\"]\n", id));
    cr_assert(ph_selects(
        "    sha256: [\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"]\n",
        id));
    mtlsauthz_identity_free(id);
}

/* Each EKU name and OID a policy accepts is one an inline identity accepts, and they match. */
Test(identity_inline, eku_spellings_agree_with_the_policy_language)
{
    static const char *const pairs[][2] = {
        {"serverAuth", "1.3.6.1.5.5.7.3.1"},   {"clientAuth", "1.3.6.1.5.5.7.3.2"},
        {"codeSigning", "1.3.6.1.5.5.7.3.3"},  {"emailProtection", "1.3.6.1.5.5.7.3.4"},
        {"timeStamping", "1.3.6.1.5.5.7.3.8"}, {"OCSPSigning", "1.3.6.1.5.5.7.3.9"},
        {"2.5.29.37.0", "2.5.29.37.0"},        {"1.2.3.4.5", "1.2.3.4.5"},
    };
    for (size_t i = 0; i < MTLSAUTHZ__ARRAY_LEN(pairs); i++) {
        for (size_t j = 0; j < 2; j++) {
            char sel[128];
            mtlsauthz__inline_identity in = {0};
            mtlsauthz__str v = {pairs[i][j], strlen(pairs[i][j])};
            mtlsauthz_identity *id;
            in.eku = (mtlsauthz__inline_list){&v, 1};
            id = build(&in);
            snprintf(sel, sizeof(sel), "    eku: [\"%s\"]\n", pairs[i][1 - j]);
            cr_assert(ph_selects(sel, id), "inline eku %s against policy eku %s", pairs[i][j],
                      pairs[i][1 - j]);
            mtlsauthz_identity_free(id);
        }
    }
}

/* ---- values no certificate can carry ---- */

Test(identity_inline, bad_ip_addresses)
{
    mtlsauthz__inline_identity in = {0};
    in.ip = LIST(S("10.0.0.0/8"));
    build_fails(&in, MTLSAUTHZ_EPOLICY, "ip '10.0.0.0/8'", "one address");
    in.ip = LIST(S("192.0.2.1"), S("1.2.3"));
    build_fails(&in, MTLSAUTHZ_EPOLICY, "ip '1.2.3'", "IPv4");
    in.ip = LIST(S("010.0.0.1"));
    build_fails(&in, MTLSAUTHZ_EPOLICY, "ip '010.0.0.1'", "leading zeros");
    in.ip = LIST(S("2001:db8::g"));
    build_fails(&in, MTLSAUTHZ_EPOLICY, "ip '2001:db8::g'", "IPv6");
    in.ip = LIST(S("fe80::1%eth0"));
    build_fails(&in, MTLSAUTHZ_EPOLICY, "ip 'fe80::1%eth0'", "IPv6");
    in.ip = LIST(S(""));
    build_fails(&in, MTLSAUTHZ_EPOLICY, "ip ''", "not an IP address");
    in.ip = LIST(S("192.0.2.1\0"));
    build_fails(&in, MTLSAUTHZ_EPOLICY, "ip '192.0.2.1\\x00'", "not an IP address");
}

Test(identity_inline, bad_ekus)
{
    mtlsauthz__inline_identity in = {0};
    in.eku = LIST(S("clientauth"));
    build_fails(&in, MTLSAUTHZ_EPOLICY, "eku 'clientauth'", "clientAuth, serverAuth");
    in.eku = LIST(S("anyExtendedKeyUsage"));
    build_fails(&in, MTLSAUTHZ_EPOLICY, "eku 'anyExtendedKeyUsage'", "dotted OID");
    in.eku = LIST(S("3.1"));
    build_fails(&in, MTLSAUTHZ_EPOLICY, "eku '3.1'", NULL);
    in.eku = LIST(S("1.02.3"));
    build_fails(&in, MTLSAUTHZ_EPOLICY, "eku '1.02.3'", NULL);
    in.eku = LIST(S("1.2."));
    build_fails(&in, MTLSAUTHZ_EPOLICY, "eku '1.2.'", NULL);
    in.eku = LIST(S("1"));
    build_fails(&in, MTLSAUTHZ_EPOLICY, "eku '1'", NULL);
}

Test(identity_inline, bad_serials_and_fingerprints)
{
    mtlsauthz__inline_identity in = {0};
    char longest[MTLSAUTHZ__INLINE_SERIAL_MAX + 2];
    mtlsauthz__str l = {longest, 0};
    in.serial = LIST(S("C0FFEE"));
    build_fails(&in, MTLSAUTHZ_EPOLICY, "serial 'C0FFEE'", "lowercase hex");
    in.serial = LIST(S("0x1f"));
    build_fails(&in, MTLSAUTHZ_EPOLICY, "serial '0x1f'", "lowercase hex");
    in.serial = LIST(S("c0:ff:ee"));
    build_fails(&in, MTLSAUTHZ_EPOLICY, "serial 'c0:ff:ee'", "no colons");
    in.serial = LIST(S("00ab"));
    build_fails(&in, MTLSAUTHZ_EPOLICY, "serial '00ab'", "leading zeros");
    in.serial = LIST(S("-0"));
    build_fails(&in, MTLSAUTHZ_EPOLICY, "serial '-0'", "write 0");
    in.serial = LIST(S(""));
    build_fails(&in, MTLSAUTHZ_EPOLICY, "serial ''", "empty");
    in.serial = LIST(S("-"));
    build_fails(&in, MTLSAUTHZ_EPOLICY, "serial '-'", "empty");
    memset(longest, 'a', sizeof(longest));
    l.len = MTLSAUTHZ__INLINE_SERIAL_MAX + 1;
    in.serial = (mtlsauthz__inline_list){&l, 1};
    build_fails(&in, MTLSAUTHZ_EPOLICY, "serial 'aaaa", "longer than 128");
    l.len = MTLSAUTHZ__INLINE_SERIAL_MAX;
    mtlsauthz_identity_free(build(&in));

    in = (mtlsauthz__inline_identity){0};
    in.sha256 = LIST(S("00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF"));
    build_fails(&in, MTLSAUTHZ_EPOLICY, "sha256 '00112233", "lowercase hex");
    in.sha256 = LIST(S("00112233445566778899aabbccddeeff00112233445566778899aabbccddeef"));
    build_fails(&in, MTLSAUTHZ_EPOLICY, "sha256 '00112233", "64 hex digits");
}

Test(identity_inline, spiffe_key_takes_one_spiffe_uri)
{
    mtlsauthz__inline_identity in = {0};
    in.spiffe = LIST(S("https://example.com/x"));
    build_fails(&in, MTLSAUTHZ_EPOLICY, "spiffe 'https://example.com/x'", "under uri");
    in.spiffe = LIST(S("spiffe://td/a"), S("spiffe://td/b"));
    build_fails(&in, MTLSAUTHZ_EPOLICY, "one value each", NULL);
}

Test(identity_inline, names_must_be_utf8)
{
    mtlsauthz__inline_identity in = {0};
    in.cn = LIST(S("caf\xe9"));
    build_fails(&in, MTLSAUTHZ_EPOLICY, "cn 'caf\\xe9'", "not UTF-8");
    in.cn = (mtlsauthz__inline_list){0};
    in.ou = LIST(S("ok"), S("\xc0\xaf"));
    build_fails(&in, MTLSAUTHZ_EPOLICY, "ou '\\xc0\\xaf'", "not UTF-8");
}

Test(identity_inline, more_values_than_a_field_holds)
{
    static mtlsauthz__str many[MTLSAUTHZ__MAX_VALUES + 1];
    mtlsauthz__inline_identity in = {0};
    for (size_t i = 0; i < MTLSAUTHZ__ARRAY_LEN(many); i++) {
        many[i] = (mtlsauthz__str){"a.example.com", 13};
    }
    in.dns = (mtlsauthz__inline_list){many, MTLSAUTHZ__MAX_VALUES};
    mtlsauthz_identity_free(build(&in));
    in.dns.n = MTLSAUTHZ__MAX_VALUES + 1;
    build_fails(&in, MTLSAUTHZ_ELIMIT, "DNS SAN", NULL);
}

Test(identity_inline, bad_arguments)
{
    mtlsauthz__inline_identity in = {0};
    mtlsauthz_identity *id = (mtlsauthz_identity *)(uintptr_t)1;
    cr_assert_eq(mtlsauthz__identity_from_inline(NULL, &in, NULL), MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz__identity_from_inline(&id, NULL, NULL), MTLSAUTHZ_EINVAL);
    cr_assert_null(id);
}

Test(identity_inline, every_allocation_failure_is_clean)
{
    mtlsauthz__inline_identity in = {0};
    mtlsauthz_identity *id = NULL;
    long n;
    int rc = -1;
    in.o = LIST(S("Example Corp"));
    in.cn = LIST(S("builder"));
    in.spiffe = LIST(S("spiffe://prod.example.com/ci/builder"));
    in.ip = LIST(S("192.0.2.10"));
    in.eku = LIST(S("clientAuth"));
    for (n = 0; n < 10000 && rc != 0; n++) {
        mtlsauthz__alloc_fail_after(n);
        rc = mtlsauthz__identity_from_inline(&id, &in, NULL);
        mtlsauthz__alloc_fail_after(-1);
        if (rc != 0) {
            cr_assert_eq(rc, MTLSAUTHZ_ENOMEM, "allocation %ld: %s", n, mtlsauthz_errname(rc));
            cr_assert_null(id);
        }
    }
    cr_assert_eq(rc, 0);
    cr_assert_gt(n, 3);
    mtlsauthz_identity_free(id);
}
