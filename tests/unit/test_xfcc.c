/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Identities from X-Forwarded-Client-Cert (lib/xfcc.c, docs/policy.md "Identities from
 * X-Forwarded-Client-Cert"): Envoy's documented examples, Istio's default format, quoting,
 * hops, Cert with a matching and a mismatching Hash, every refusal and every rejection, and
 * which selector keys a partial identity can match.
 */
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "identity_build.h"
#include "policy_helpers.h"

/* A Hash for headers whose digest does not matter. */
#define H64 "468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688"

static mtlsauthz_identity *xfcc_n(const char *h, size_t len)
{
    mtlsauthz_identity *id = NULL;
    mtlsauthz_error err;
    int rc;
    mtlsauthz_error_clear(&err);
    rc = mtlsauthz_identity_from_xfcc(&id, h, len, &err);
    cr_assert_eq(rc, 0, "XFCC %.200s: %s", h, err.message);
    cr_assert_not_null(id);
    return id;
}

static mtlsauthz_identity *xfcc(const char *h)
{
    return xfcc_n(h, strlen(h));
}

/* A header that must be refused with `code` and a message holding `needle`. */
static void refused_n(const char *h, size_t len, int code, const char *needle)
{
    mtlsauthz_identity *id = (mtlsauthz_identity *)(uintptr_t)1;
    mtlsauthz_error err;
    int rc;
    mtlsauthz_error_clear(&err);
    rc = mtlsauthz_identity_from_xfcc(&id, h, len, &err);
    cr_assert_eq(rc, code, "XFCC %.200s: expected %s, got %s (%s)", h, mtlsauthz_errname(code),
                 mtlsauthz_errname(rc), err.message);
    cr_assert_null(id);
    cr_assert_eq(err.code, code);
    cr_assert_not_null(strstr(err.message, needle), "expected \"%s\" in \"%s\"", needle,
                       err.message);
}

static void refused(const char *h, const char *needle)
{
    refused_n(h, strlen(h), MTLSAUTHZ_ECERT, needle);
}

static void assert_value(const mtlsauthz_identity *id, mtlsauthz_field f, size_t i,
                         const char *want)
{
    const char *v;
    size_t len;
    cr_assert_eq(mtlsauthz_identity_get(&v, &len, id, f, i), 0, "%s[%zu] missing",
                 mtlsauthz__field_name(f), i);
    cr_assert(len == strlen(want) && memcmp(v, want, len) == 0, "%s[%zu]: '%.*s', want '%s'",
              mtlsauthz__field_name(f), i, (int)len, v, want);
}

static void assert_count(const mtlsauthz_identity *id, mtlsauthz_field f, size_t n)
{
    cr_assert_eq(mtlsauthz_identity_count(id, f), n, "%s: %zu values, want %zu",
                 mtlsauthz__field_name(f), mtlsauthz_identity_count(id, f), n);
}

/* The fields XFCC cannot carry are absent from a partial identity. */
static void assert_partial(const mtlsauthz_identity *id)
{
    static const mtlsauthz_field never[] = {
        MTLSAUTHZ_FIELD_ISSUER_DN, MTLSAUTHZ_FIELD_SERIAL, MTLSAUTHZ_FIELD_SAN_EMAIL,
        MTLSAUTHZ_FIELD_SAN_IP,    MTLSAUTHZ_FIELD_EKU,    MTLSAUTHZ_FIELD_NOT_BEFORE,
        MTLSAUTHZ_FIELD_NOT_AFTER,
    };
    cr_assert_eq(mtlsauthz_identity_partial(id), 1);
    cr_assert_eq(mtlsauthz_identity_chain_length(id), 0);
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        assert_count(id, never[i], 0);
    }
}

static void assert_rejected(const mtlsauthz_identity *id, const char *reason)
{
    const char *got = mtlsauthz_identity_rejected(id);
    cr_assert_not_null(got, "not rejected, want '%s'", reason);
    cr_assert_str_eq(got, reason);
}

/* ---- Envoy's documentation ---- */

/* The three examples of Envoy's x-forwarded-client-cert documentation, as written there. */
static const char envoy_doc_1[] =
    "By=http://frontend.lyft.com;Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8d"
    "e688;Subject=\"/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client\";URI=http://"
    "testclient.lyft.com";
static const char envoy_doc_2[] =
    "By=http://frontend.lyft.com;Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8d"
    "e688;URI=http://testclient.lyft.com,By=http://backend.lyft.com;Hash="
    "9ba61d6425303443c0748a02dd8de688468ed33be74eee6556d90c0149c1309e;URI=http://"
    "frontend.lyft.com";
static const char envoy_doc_3[] =
    "By=http://frontend.lyft.com;Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8d"
    "e688;Subject=\"/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client\";URI=http://"
    "testclient.lyft.com;DNS=lyft.com;DNS=www.lyft.com";

Test(xfcc, envoy_example_two_hops_takes_the_last_element)
{
    mtlsauthz_identity *id = xfcc(envoy_doc_2);
    assert_partial(id);
    assert_value(id, MTLSAUTHZ_FIELD_SHA256, 0,
                 "9ba61d6425303443c0748a02dd8de688468ed33be74eee6556d90c0149c1309e");
    assert_count(id, MTLSAUTHZ_FIELD_SAN_URI, 1);
    assert_value(id, MTLSAUTHZ_FIELD_SAN_URI, 0, "http://frontend.lyft.com");
    assert_count(id, MTLSAUTHZ_FIELD_SUBJECT_DN, 0);
    assert_count(id, MTLSAUTHZ_FIELD_SPIFFE_ID, 0);
    cr_assert_null(mtlsauthz_identity_rejected(id));
    mtlsauthz_identity_free(id);
}

/* The documentation prints the Subject in OpenSSL's old one-line form, which escapes no '/':
 * such a header is refused, and says why. Envoy itself writes RFC 2253 (next test). */
Test(xfcc, envoy_examples_with_the_one_line_subject_are_refused)
{
    refused(envoy_doc_1, "old one-line form");
    refused(envoy_doc_3, "old one-line form");
    refused("Subject=\"/CN=a/O=admin\"", "old one-line form");
}

Test(xfcc, envoy_example_with_the_subject_as_envoy_writes_it)
{
    mtlsauthz_identity *id = xfcc("By=http://frontend.lyft.com;Hash=" H64 ";Subject=\"CN=Test "
                                  "Client,OU=Lyft,L=San Francisco,ST=CA,C=US\";URI=http://"
                                  "testclient.lyft.com;DNS=lyft.com;DNS=www.lyft.com");
    assert_partial(id);
    assert_value(id, MTLSAUTHZ_FIELD_SUBJECT_DN, 0,
                 "CN=Test Client,OU=Lyft,L=San Francisco,ST=CA,C=US");
    assert_value(id, MTLSAUTHZ_FIELD_CN, 0, "Test Client");
    assert_value(id, MTLSAUTHZ_FIELD_OU, 0, "Lyft");
    assert_count(id, MTLSAUTHZ_FIELD_O, 0);
    assert_value(id, MTLSAUTHZ_FIELD_SHA256, 0, H64);
    assert_value(id, MTLSAUTHZ_FIELD_SAN_URI, 0, "http://testclient.lyft.com");
    assert_count(id, MTLSAUTHZ_FIELD_SAN_DNS, 2);
    assert_value(id, MTLSAUTHZ_FIELD_SAN_DNS, 0, "lyft.com");
    assert_value(id, MTLSAUTHZ_FIELD_SAN_DNS, 1, "www.lyft.com");
    mtlsauthz_identity_free(id);
}

/* ---- Istio ---- */

/* Istio's default forward_client_cert_details is SANITIZE_SET with Hash, Subject, URI and DNS;
 * a workload SVID has an empty subject. */
Test(xfcc, istio_default_format)
{
    mtlsauthz_identity *id = xfcc("By=spiffe://cluster.local/ns/default/sa/productpage;Hash=" H64
                                  ";Subject=\"\";URI=spiffe://cluster.local/ns/default/sa/reviews");
    char *json = NULL;
    mtlsauthz_error err;
    assert_partial(id);
    cr_assert_null(mtlsauthz_identity_rejected(id));
    assert_value(id, MTLSAUTHZ_FIELD_SPIFFE_ID, 0, "spiffe://cluster.local/ns/default/sa/reviews");
    assert_value(id, MTLSAUTHZ_FIELD_SUBJECT_DN, 0, "");
    assert_count(id, MTLSAUTHZ_FIELD_CN, 0);
    assert_value(id, MTLSAUTHZ_FIELD_SHA256, 0, H64);
    cr_assert_eq(mtlsauthz_identity_to_json(&json, NULL, id, &err), 0);
    cr_assert_not_null(strstr(json, "\"partial\":true,\"rejected\":null"), "%s", json);
    cr_assert_not_null(strstr(json, "\"issuer\":{\"dn\":null},\"serial\":null"), "%s", json);
    mtlsauthz_string_free(json);
    mtlsauthz_identity_free(id);
}

Test(xfcc, istio_with_dns_sans)
{
    mtlsauthz_identity *id =
        xfcc("By=spiffe://cluster.local/ns/istio-system/sa/gateway;Hash=" H64
             ";Subject=\"\";URI=spiffe://cluster.local/ns/shop/sa/cart;DNS=cart.shop.svc;"
             "DNS=cart.shop.svc.cluster.local");
    assert_value(id, MTLSAUTHZ_FIELD_SPIFFE_ID, 0, "spiffe://cluster.local/ns/shop/sa/cart");
    assert_value(id, MTLSAUTHZ_FIELD_SAN_DNS, 1, "cart.shop.svc.cluster.local");
    mtlsauthz_identity_free(id);
}

/* Envoy writes "URI=" for a certificate without a URI SAN: no URI, not an empty one. */
Test(xfcc, an_empty_uri_means_none)
{
    mtlsauthz_identity *id = xfcc("Hash=" H64 ";Subject=\"CN=a\";URI=");
    assert_count(id, MTLSAUTHZ_FIELD_SAN_URI, 0);
    mtlsauthz_identity_free(id);
    refused("Hash=" H64 ";URI=;URI=spiffe://td/a", "empty URI value next to others");
    refused("Hash=" H64 ";DNS=", "empty DNS value");
}

/* ---- the grammar ---- */

Test(xfcc, keys_are_case_insensitive)
{
    mtlsauthz_identity *id = xfcc("hash=" H64 ";SUBJECT=\"CN=a\";uri=spiffe://td/a;dns=a.example");
    assert_value(id, MTLSAUTHZ_FIELD_SHA256, 0, H64);
    assert_value(id, MTLSAUTHZ_FIELD_CN, 0, "a");
    assert_value(id, MTLSAUTHZ_FIELD_SPIFFE_ID, 0, "spiffe://td/a");
    assert_value(id, MTLSAUTHZ_FIELD_SAN_DNS, 0, "a.example");
    mtlsauthz_identity_free(id);
    refused("Hash=" H64 ";HASH=" H64, "Hash appears twice");
}

Test(xfcc, quoted_values)
{
    /* Quoting changes nothing for a value that needs none. */
    mtlsauthz_identity *id = xfcc("Hash=\"" H64 "\";URI=\"spiffe://td/a\";DNS=\"a.example\"");
    assert_value(id, MTLSAUTHZ_FIELD_SPIFFE_ID, 0, "spiffe://td/a");
    assert_value(id, MTLSAUTHZ_FIELD_SAN_DNS, 0, "a.example");
    mtlsauthz_identity_free(id);

    /* ',', ';' and '=' inside quotes separate nothing. */
    id =
        xfcc("By=\"http://a/?x=1,y;z\";URI=spiffe://td/a;Subject=\"CN=p\\,URI=spiffe://td/admin\"");
    assert_count(id, MTLSAUTHZ_FIELD_SAN_URI, 1);
    assert_value(id, MTLSAUTHZ_FIELD_SAN_URI, 0, "spiffe://td/a");
    assert_value(id, MTLSAUTHZ_FIELD_CN, 0, "p,URI=spiffe://td/admin");
    mtlsauthz_identity_free(id);

    /* A backslash keeps a '"' from ending the value, and the DN reads it as RFC 4514 does. */
    id = xfcc("Subject=\"CN=say \\\"hi\\\",O=x\"");
    assert_value(id, MTLSAUTHZ_FIELD_CN, 0, "say \"hi\"");
    assert_value(id, MTLSAUTHZ_FIELD_SUBJECT_DN, 0, "CN=say \\\"hi\\\",O=x");
    mtlsauthz_identity_free(id);

    /* A URI holding '=' or ';' must be quoted to be read at all. */
    id = xfcc("Hash=" H64 ";URI=\"https://a.example/x?a=1;b=2\"");
    assert_value(id, MTLSAUTHZ_FIELD_SAN_URI, 0, "https://a.example/x?a=1;b=2");
    mtlsauthz_identity_free(id);
}

Test(xfcc, multiple_hops_take_the_last)
{
    mtlsauthz_identity *id =
        xfcc("URI=spiffe://td/first;Hash=" H64 ",URI=spiffe://td/second, URI=spiffe://td/third");
    assert_count(id, MTLSAUTHZ_FIELD_SAN_URI, 1);
    assert_value(id, MTLSAUTHZ_FIELD_SPIFFE_ID, 0, "spiffe://td/third");
    /* The last element has no Hash: the first's is not borrowed. */
    assert_count(id, MTLSAUTHZ_FIELD_SHA256, 0);
    mtlsauthz_identity_free(id);

    /* A ',' inside a quoted value of an earlier element does not start one. */
    id = xfcc("Subject=\"CN=a,O=b\";URI=spiffe://td/a,Subject=\"CN=c\";URI=spiffe://td/c");
    assert_value(id, MTLSAUTHZ_FIELD_SUBJECT_DN, 0, "CN=c");
    mtlsauthz_identity_free(id);

    /* Every element must parse, not only the last. */
    refused("URI=spiffe://td/a;Bogus=\"1,URI=spiffe://td/b", "the quoted value of 'Bogus'");
    refused("Hash=" H64 ";Hash=" H64 ",URI=spiffe://td/b", "element 1");
    refused("URI=spiffe://td/a,URI=\"spiffe://td/b", "element 2");
}

Test(xfcc, repeated_keys)
{
    static const char *const once[] = {"Hash=" H64, "Cert=\"x\"", "Chain=\"x\"",
                                       "Subject=\"CN=a\""};
    char h[512];
    mtlsauthz_identity *id;
    for (size_t i = 0; i < sizeof(once) / sizeof(once[0]); i++) {
        snprintf(h, sizeof(h), "%s;%s", once[i], once[i]);
        refused(h, "appears twice in one element");
    }
    /* By, URI and DNS repeat: Envoy writes one per SAN. */
    id = xfcc("By=spiffe://td/p1;By=spiffe://td/p2;Hash=" H64
              ";URI=https://a.example/;URI=https://b.example/;DNS=a.example;DNS=b.example");
    assert_count(id, MTLSAUTHZ_FIELD_SAN_URI, 2);
    assert_count(id, MTLSAUTHZ_FIELD_SAN_DNS, 2);
    mtlsauthz_identity_free(id);
}

Test(xfcc, malformed_headers_are_refused)
{
    refused("", "the header is empty");
    refused("  ", "the header is empty");
    refused("Subject=\"CN=a", "has no closing '\"'");
    refused("Subject=\"CN=a\\\"", "has no closing '\"'");
    refused("=x", "a '=' with no key before it");
    refused("Hash", "key 'Hash' has no '=' and value");
    refused("Hash;URI=spiffe://td/a", "key 'Hash' has no '=' and value");
    refused("Ha\"sh=" H64, "'\"' in the key 'Ha'");
    refused("Hash=" H64 ";;URI=spiffe://td/a", "an empty pair");
    refused("Hash=" H64 ";", "an empty pair");
    refused(",Hash=" H64, "an empty pair");
    refused("Hash=" H64 ",", "an empty element after the last ','");
    refused("Hash=" H64 ",,URI=spiffe://td/a", "an empty pair");
    refused("Hash=" H64 " ;URI=spiffe://td/a", "whitespace inside an element");
    refused("Hash=" H64 "; URI=spiffe://td/a", "whitespace where a key belongs");
    refused("URI=spiffe://td/a=b", "'=' in the unquoted value of URI");
    refused("URI=spiffe://td/a\"b\"", "'\"' inside the unquoted value of URI");
    refused("Subject=\"CN=a\"x", "'x' after the quoted value of Subject");
    refused("Subject=\"CN=a\tb\"", "control byte 0x09");
    refused("URI=spiffe://td/a\r\nX-Evil: 1", "control byte 0x0d");
    refused("Foo=b=r;Hash=" H64, "'=' in the unquoted value of 'Foo'");
    refused("[{\"hash\":\"" H64 "\"}]", "the header is JSON");
    refused(" {\"hash\":\"" H64 "\"}", "the header is JSON");
    refused("By=spiffe://td/proxy", "names no client certificate");
    refused("Hash=" H64 ";URI=spiffe://td/a\\b", "a '\\' in a URI value");
    refused("Hash=" H64 ";DNS=\"a\\\"b.example\"", "a '\\' in a DNS value");
}

/* A key the library does not read is parsed, then ignored: Envoy adds keys (Issuer, 2026), and
 * one it does not read cannot add to the identity. */
Test(xfcc, other_keys_are_parsed_and_ignored)
{
    mtlsauthz_identity *id =
        xfcc("Hash=" H64 ";Issuer=\"CN=Example CA,O=Example\";Subject=\"CN=a\";Foo=1;Foo=2;"
             "URI=spiffe://td/a");
    assert_partial(id);
    assert_value(id, MTLSAUTHZ_FIELD_SPIFFE_ID, 0, "spiffe://td/a");
    assert_count(id, MTLSAUTHZ_FIELD_ISSUER_DN, 0);
    cr_assert_eq(ph_selects("    issuer: [\"**\"]\n", id), 0);
    mtlsauthz_identity_free(id);
    /* They name no certificate on their own. */
    refused("Issuer=\"CN=Example CA\";By=spiffe://td/proxy", "names no client certificate");
    /* Nor may they stand for a key that is read: keys are compared whole. */
    id = xfcc("Hash=" H64 ";URIs=spiffe://td/admin;XDNS=admin.example");
    assert_count(id, MTLSAUTHZ_FIELD_SAN_URI, 0);
    assert_count(id, MTLSAUTHZ_FIELD_SAN_DNS, 0);
    mtlsauthz_identity_free(id);
}

Test(xfcc, whitespace_around_element_separators_is_allowed)
{
    mtlsauthz_identity *id = xfcc(" URI=spiffe://td/a \t, \tURI=spiffe://td/b ");
    assert_value(id, MTLSAUTHZ_FIELD_SPIFFE_ID, 0, "spiffe://td/b");
    mtlsauthz_identity_free(id);
}

Test(xfcc, hash_must_be_a_sha256)
{
    mtlsauthz_identity *id = xfcc("Hash=468ED33BE74EEE6556D90C0149C1309E9BA61D6425303443C0748A02DD8"
                                  "DE688");
    assert_value(id, MTLSAUTHZ_FIELD_SHA256, 0, H64);
    mtlsauthz_identity_free(id);
    refused("Hash=468ed33b", "Hash has 8 hex digits");
    refused("Hash=" H64 "00", "Hash has 66 hex digits");
    refused("Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de68g", "'g' in Hash");
    refused("Hash=46:8e", "':' in Hash");
}

/* ---- NUL, control and non-ASCII bytes ---- */

Test(xfcc, nul_bytes)
{
    static const char raw_nul[] = "Hash=" H64 ";URI=spiffe://td/a\0.evil";
    mtlsauthz_identity *id;
    /* A raw NUL is no header byte (RFC 9110 §5.5). */
    refused_n(raw_nul, sizeof(raw_nul) - 1, MTLSAUTHZ_ECERT, "control byte 0x00");
    /* An escaped one in the Subject is the certificate's, and rejects as a certificate's. */
    id = xfcc("Subject=\"CN=admin\\00.evil.example\"");
    assert_rejected(id, "NUL byte in subject CN");
    mtlsauthz_identity_free(id);
    id = xfcc("Subject=\"CN=a,C=U\\00S\"");
    assert_rejected(id, "NUL byte in subject DN attribute");
    mtlsauthz_identity_free(id);
    /* URI values are not URL-decoded: "%00" is three bytes, and a SPIFFE ID may not hold it. */
    id = xfcc("Hash=" H64 ";URI=spiffe://td/a%00b");
    assert_rejected(id, "invalid SPIFFE ID: percent-encoding not allowed");
    assert_count(id, MTLSAUTHZ_FIELD_SPIFFE_ID, 0);
    mtlsauthz_identity_free(id);
    id = xfcc("Hash=" H64 ";URI=https://a.example/x%00");
    assert_value(id, MTLSAUTHZ_FIELD_SAN_URI, 0, "https://a.example/x%00");
    cr_assert_null(mtlsauthz_identity_rejected(id));
    mtlsauthz_identity_free(id);
}

Test(xfcc, non_ascii_sans_are_rejected)
{
    mtlsauthz_identity *id = xfcc("Hash=" H64 ";DNS=biztos\xc3\xadt\xc3\xa1s.hu");
    assert_rejected(id, "non-ASCII byte in DNS SAN");
    mtlsauthz_identity_free(id);
    id = xfcc("Hash=" H64 ";URI=https://example.com/\xc3\xbc"
              "ber");
    assert_rejected(id, "non-ASCII byte in URI SAN");
    mtlsauthz_identity_free(id);
}

Test(xfcc, invalid_spiffe_ids_are_rejected)
{
    static const struct {
        const char *uris, *reason;
    } cases[] = {
        {"URI=spiffe://TD/a", "invalid SPIFFE ID: bad trust domain character"},
        {"URI=spiffe://td/../a", "invalid SPIFFE ID: '.' or '..' path segment"},
        {"URI=spiffe://td", "invalid SPIFFE ID: no path"},
        {"URI=spiffe://td:8080/a", "invalid SPIFFE ID: port not allowed"},
        {"URI=\"spiffe://td/a?x=1\"", "invalid SPIFFE ID: query not allowed"},
        {"URI=SPIFFE://td/a", "invalid SPIFFE ID: scheme must be lowercase spiffe://"},
        {"URI=spiffe://td/a;URI=https://a.example/", "invalid SPIFFE ID: more than one URI SAN"},
    };
    char h[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mtlsauthz_identity *id;
        snprintf(h, sizeof(h), "Hash=%s;%s", H64, cases[i].uris);
        id = xfcc(h);
        assert_rejected(id, cases[i].reason);
        assert_count(id, MTLSAUTHZ_FIELD_SPIFFE_ID, 0);
        mtlsauthz_identity_free(id);
    }
}

/* ---- the Subject ---- */

Test(xfcc, dn_injection_stays_one_attribute)
{
    mtlsauthz_identity *id = xfcc("Hash=" H64 ";Subject=\"CN=a\\,O=admin\"");
    assert_value(id, MTLSAUTHZ_FIELD_SUBJECT_DN, 0, "CN=a\\,O=admin");
    assert_value(id, MTLSAUTHZ_FIELD_CN, 0, "a,O=admin");
    assert_count(id, MTLSAUTHZ_FIELD_O, 0);
    cr_assert_eq(ph_selects("    o: [admin]\n", id), 0);
    cr_assert_eq(ph_selects("    dn: [\"CN=*,O=admin\"]\n", id), 0);
    cr_assert_eq(ph_selects("    dn: ['CN=a\\\\,O=admin']\n", id), 1);
    mtlsauthz_identity_free(id);

    id = xfcc("Hash=" H64 ";Subject=\"CN=mallory\\+OU=ops,O=Example Corp\"");
    assert_count(id, MTLSAUTHZ_FIELD_OU, 0);
    assert_value(id, MTLSAUTHZ_FIELD_CN, 0, "mallory+OU=ops");
    mtlsauthz_identity_free(id);
}

Test(xfcc, dn_forms_envoy_writes)
{
    /* A multi-valued RDN, both orders of it kept as written. */
    mtlsauthz_identity *id = xfcc("Subject=\"CN=a+OU=ops,O=x\"");
    assert_value(id, MTLSAUTHZ_FIELD_SUBJECT_DN, 0, "CN=a+OU=ops,O=x");
    assert_value(id, MTLSAUTHZ_FIELD_OU, 0, "ops");
    mtlsauthz_identity_free(id);
    id = xfcc("Subject=\"OU=ops+CN=a,O=x\"");
    assert_value(id, MTLSAUTHZ_FIELD_SUBJECT_DN, 0, "OU=ops+CN=a,O=x");
    mtlsauthz_identity_free(id);

    /* BoringSSL escapes non-ASCII bytes (ESC_MSB); the library's form keeps UTF-8. */
    id = xfcc("Subject=\"CN=Zo\\C3\\AB \\C3\\9Cnicode,O=\\c3\\96rnek\"");
    assert_value(id, MTLSAUTHZ_FIELD_SUBJECT_DN, 0, "CN=Zo\xc3\xab \xc3\x9cnicode,O=\xc3\x96rnek");
    assert_value(id, MTLSAUTHZ_FIELD_CN, 0, "Zo\xc3\xab \xc3\x9cnicode");
    mtlsauthz_identity_free(id);

    /* Leading '#' and spaces are escaped; the specials too. */
    id = xfcc("Subject=\"CN=\\#1 \\<a\\> \\; b\\=c,OU=\\ pad\\ \"");
    assert_value(id, MTLSAUTHZ_FIELD_CN, 0, "#1 <a> ; b=c");
    assert_value(id, MTLSAUTHZ_FIELD_OU, 0, " pad ");
    assert_value(id, MTLSAUTHZ_FIELD_SUBJECT_DN, 0, "CN=\\#1 \\<a\\> \\; b=c,OU=\\ pad\\ ");
    mtlsauthz_identity_free(id);

    /* An attribute type BoringSSL does not name is a dotted OID with a '#' DER value. */
    id = xfcc("Subject=\"1.3.6.1.4.1.55555.1=#0C06637573746F6D,CN=a\"");
    assert_value(id, MTLSAUTHZ_FIELD_SUBJECT_DN, 0, "1.3.6.1.4.1.55555.1=#0C06637573746F6D,CN=a");
    mtlsauthz_identity_free(id);
    id = xfcc("Subject=\"2.5.4.3=#0C03616263,2.5.4.10=#13024F31\"");
    assert_value(id, MTLSAUTHZ_FIELD_SUBJECT_DN, 0, "CN=abc,O=O1");
    assert_value(id, MTLSAUTHZ_FIELD_CN, 0, "abc");
    assert_value(id, MTLSAUTHZ_FIELD_O, 0, "O1");
    mtlsauthz_identity_free(id);
}

/* Each test certificate's subject, as OpenSSL prints it in RFC 2253 form with non-ASCII
 * escaped (as Envoy's BoringSSL does), gives the subject the certificate gives. */
Test(xfcc, subjects_read_as_the_certificates_give_them)
{
    static const char *const names[] = {"full",   "dn-special", "bmp-cn",   "teletex-cn",
                                        "utf8-o", "multi-ou",   "dn-attrs", "cn-injection",
                                        "nul-cn", "ops"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        mtlsauthz_identity *cert = ph_cert(names[i]), *id;
        const char *dn;
        size_t dn_len;
        char h[4096];
        X509_NAME *name;
        BIO *bio = BIO_new(BIO_s_mem());
        char *printed;
        long len;
        size_t pem_len;
        char file[64];
        char *pem;
        X509 *x;
        snprintf(file, sizeof(file), "%s.pem", names[i]);
        pem = th_cert(file, &pem_len);
        {
            BIO *in = BIO_new_mem_buf(pem, (int)pem_len);
            x = PEM_read_bio_X509(in, NULL, NULL, NULL);
            BIO_free(in);
        }
        cr_assert_not_null(x);
        name = X509_get_subject_name(x);
        cr_assert(X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0);
        len = BIO_get_mem_data(bio, &printed);
        snprintf(h, sizeof(h), "Subject=\"%.*s\"", (int)len, printed);
        id = xfcc(h);
        cr_assert_eq(mtlsauthz_identity_get(&dn, &dn_len, cert, MTLSAUTHZ_FIELD_SUBJECT_DN, 0), 0);
        assert_value(id, MTLSAUTHZ_FIELD_SUBJECT_DN, 0, dn);
        for (mtlsauthz_field f = MTLSAUTHZ_FIELD_CN; f <= MTLSAUTHZ_FIELD_OU; f++) {
            assert_count(id, f, mtlsauthz_identity_count(cert, f));
            for (size_t k = 0; k < mtlsauthz_identity_count(cert, f); k++) {
                const char *v;
                size_t vl;
                cr_assert_eq(mtlsauthz_identity_get(&v, &vl, cert, f, k), 0);
                cr_assert(mtlsauthz_identity_count(id, f) > k);
                cr_assert_eq(id->values[f][k].len, vl, "%s %s", names[i], mtlsauthz__field_name(f));
                cr_assert_eq(memcmp(id->values[f][k].ptr, v, vl), 0);
            }
        }
        if (mtlsauthz_identity_rejected(cert) != NULL) {
            cr_assert_str_eq(mtlsauthz_identity_rejected(id), mtlsauthz_identity_rejected(cert));
        } else {
            cr_assert_null(mtlsauthz_identity_rejected(id), "%s: %s", names[i],
                           mtlsauthz_identity_rejected(id));
        }
        BIO_free(bio);
        X509_free(x);
        free(pem);
        mtlsauthz_identity_free(id);
        mtlsauthz_identity_free(cert);
    }
}

Test(xfcc, subjects_that_are_not_rfc2253_are_refused)
{
    static const struct {
        const char *dn, *why;
    } cases[] = {
        {"CN=a;b", "';' is not escaped"},
        {"CN=a<b", "'<' is not escaped"},
        {"CN= a", "0x20 is not escaped"},
        {"CN=a ", "a trailing space is not escaped"},
        {"CN=a\\x", "not a valid escape"},
        {"CN=a\\4", "not a valid escape"},
        {"commonName=a", "unknown attribute type 'commonName'"},
        {"XX=a", "unknown attribute type 'XX'"},
        {"CN=a,", "ends with a separator"},
        {"CN=a+", "ends with a separator"},
        {"CN", "not followed by '='"},
        {"=a", "an attribute type was expected"},
        {"CN=a,,O=b", "an attribute type was expected"},
        {"CN = a", "not followed by '='"},
        {"1.2.3.=a", "not a valid dotted OID"},
        {"9.1=a", "not a valid dotted OID"},
        {"CN=#zz", "not pairs of hex digits"},
        {"CN=#0C0", "not pairs of hex digits"},
        {"CN=#0C05616263", "DER length does not match"},
        {"CN=#300100", "not a DER-encoded string"},
        {"CN=#0C8103616263", "malformed DER length"},
        {"CN=\\FF", "not UTF-8"},
        {"CN=\\C3", "not UTF-8"},
    };
    char h[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(h, sizeof(h), "Hash=%s;Subject=\"%s\"", H64, cases[i].dn);
        refused(h, cases[i].why);
        refused(h, "Subject is not an RFC 2253 DN");
    }
    /* UCS-2 and UCS-4 strings of partial characters do not decode. */
    refused("Subject=\"CN=#1E03006100\"", "a '#' value holds a partial character");
    refused("Subject=\"CN=#1C06000000610000\"", "a '#' value holds a partial character");
}

Test(xfcc, subject_attribute_limit)
{
    char *h = malloc(16 * 1024);
    size_t n;
    mtlsauthz_identity *id;
    cr_assert_not_null(h);
    n = (size_t)sprintf(h, "Subject=\"CN=a");
    for (int i = 1; i < 256; i++) {
        n += (size_t)sprintf(h + n, ",OU=a");
    }
    strcpy(h + n, "\"");
    id = xfcc(h);
    assert_count(id, MTLSAUTHZ_FIELD_OU, 255);
    mtlsauthz_identity_free(id);
    strcpy(h + n, ",OU=a\"");
    refused_n(h, strlen(h), MTLSAUTHZ_ELIMIT, "Subject has more than 256 attributes");
    free(h);
}

/* ---- Cert and Chain ---- */

/* URL-encodes as Envoy does: everything but letters, digits and "-._*". */
static char *url_encode(const char *s, size_t len)
{
    char *out = malloc(len * 3 + 1), *w = out;
    cr_assert_not_null(out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '*') {
            *w++ = (char)c;
        } else {
            w += sprintf(w, "%%%02X", c);
        }
    }
    *w = '\0';
    return out;
}

static char *encoded_cert(const char *file)
{
    size_t len;
    char *pem = th_cert(file, &len), *enc = url_encode(pem, len);
    free(pem);
    return enc;
}

static const char *sha256_of(const mtlsauthz_identity *id)
{
    const char *v;
    size_t len;
    cr_assert_eq(mtlsauthz_identity_get(&v, &len, id, MTLSAUTHZ_FIELD_SHA256, 0), 0);
    return v;
}

/* A header with "%s" slots filled in order, in a buffer the caller frees. */
static char *header(const char *fmt, const char *a, const char *b, const char *c)
{
    size_t n = strlen(fmt) + strlen(a) + (b ? strlen(b) : 0) + (c ? strlen(c) : 0) + 1;
    char *h = malloc(n);
    cr_assert_not_null(h);
    snprintf(h, n, fmt, a, b ? b : "", c ? c : "");
    return h;
}

static void assert_same_json(const mtlsauthz_identity *a, const mtlsauthz_identity *b)
{
    char *ja = NULL, *jb = NULL;
    mtlsauthz_error err;
    cr_assert_eq(mtlsauthz_identity_to_json(&ja, NULL, a, &err), 0);
    cr_assert_eq(mtlsauthz_identity_to_json(&jb, NULL, b, &err), 0);
    cr_assert_str_eq(ja, jb);
    mtlsauthz_string_free(ja);
    mtlsauthz_string_free(jb);
}

Test(xfcc, cert_with_matching_hash_is_the_certificates_identity)
{
    mtlsauthz_identity *cert = ph_cert("builder"), *id;
    char *enc = encoded_cert("builder.pem"), *h;
    h = header("By=spiffe://td/proxy;Hash=%s;Cert=\"%s\";Subject=\"CN=builder,O=Example "
               "Corp\";URI=spiffe://prod.example.com/ci/builder",
               sha256_of(cert), enc, NULL);
    id = xfcc(h);
    cr_assert_eq(mtlsauthz_identity_partial(id), 0);
    cr_assert_eq(mtlsauthz_identity_chain_length(id), 1);
    cr_assert_null(mtlsauthz_identity_rejected(id));
    assert_same_json(id, cert);
    assert_value(id, MTLSAUTHZ_FIELD_EKU, 0, "clientAuth");
    mtlsauthz_identity_free(id);
    free(h);

    /* The Hash in uppercase is the same digest. */
    {
        char upper[65];
        for (size_t i = 0; i < 64; i++) {
            char c = sha256_of(cert)[i];
            upper[i] = (char)(c >= 'a' && c <= 'f' ? c - 'a' + 'A' : c);
        }
        upper[64] = '\0';
        h = header("Hash=%s;Cert=\"%s\"", upper, enc, NULL);
        id = xfcc(h);
        cr_assert_null(mtlsauthz_identity_rejected(id), "%s", mtlsauthz_identity_rejected(id));
        mtlsauthz_identity_free(id);
        free(h);
    }

    /* Without Hash, and with lowercase escapes. */
    for (char *p = enc; *p; p++) {
        if (p[0] == '%' && p[1] && p[2]) {
            p[1] = (char)mtlsauthz__lower((unsigned char)p[1]);
            p[2] = (char)mtlsauthz__lower((unsigned char)p[2]);
        }
    }
    h = header("Cert=\"%s\"", enc, NULL, NULL);
    id = xfcc(h);
    assert_same_json(id, cert);
    mtlsauthz_identity_free(id);
    free(h);
    free(enc);
    mtlsauthz_identity_free(cert);
}

Test(xfcc, cert_with_a_mismatching_hash_is_rejected)
{
    mtlsauthz_identity *other = ph_cert("ops"), *id;
    char *enc = encoded_cert("builder.pem"), *h;
    mtlsauthz_policy *p = ph_load("version: 1\n"
                                  "rules:\n"
                                  "  - {id: all, effect: allow, principals: [\"*\"], "
                                  "operations: [x]}\n");
    h = header("Hash=%s;Cert=\"%s\"", sha256_of(other), enc, NULL);
    id = xfcc(h);
    assert_rejected(id, "XFCC Hash is not the certificate's SHA-256");
    ph_expect(p, id, "x", 0, MTLSAUTHZ_REASON_IDENTITY_REJECTED, NULL);
    mtlsauthz_identity_free(id);
    free(h);
    /* Even when the certificate is rejected for a reason of its own. */
    free(enc);
    enc = encoded_cert("spiffe-ca.pem");
    h = header("Hash=" H64 ";Cert=\"%s\"", enc, NULL, NULL);
    id = xfcc(h);
    assert_rejected(id, "XFCC Hash is not the certificate's SHA-256");
    mtlsauthz_identity_free(id);
    free(h);
    free(enc);
    mtlsauthz_policy_free(p);
    mtlsauthz_identity_free(other);
}

Test(xfcc, chain_gives_the_chain_length)
{
    mtlsauthz_identity *cert = ph_cert("builder"), *id;
    char *leaf = encoded_cert("builder.pem"), *chain = encoded_cert("builder-chain.pem");
    char *other = encoded_cert("ops.pem"), *h;

    h = header("Hash=%s;Cert=\"%s\";Chain=\"%s\"", sha256_of(cert), leaf, chain);
    id = xfcc(h);
    cr_assert_eq(mtlsauthz_identity_chain_length(id), 2);
    cr_assert_null(mtlsauthz_identity_rejected(id));
    assert_value(id, MTLSAUTHZ_FIELD_SHA256, 0, sha256_of(cert));
    mtlsauthz_identity_free(id);
    free(h);

    /* Chain alone: its first certificate is the client's. */
    h = header("Chain=\"%s\"", chain, NULL, NULL);
    id = xfcc(h);
    cr_assert_eq(mtlsauthz_identity_chain_length(id), 2);
    assert_value(id, MTLSAUTHZ_FIELD_SPIFFE_ID, 0, "spiffe://prod.example.com/ci/builder");
    mtlsauthz_identity_free(id);
    free(h);

    /* A Cert that is not the chain's leaf. */
    h = header("Cert=\"%s\";Chain=\"%s\"", other, chain, NULL);
    id = xfcc(h);
    assert_rejected(id, "XFCC Cert is not the first certificate of Chain");
    mtlsauthz_identity_free(id);
    free(h);

    /* Cert is one certificate. */
    h = header("Cert=\"%s\"", chain, NULL, NULL);
    refused(h, "Cert holds 2 certificates");
    free(h);
    free(leaf);
    free(chain);
    free(other);
    mtlsauthz_identity_free(cert);
}

Test(xfcc, cert_encoding_is_strict)
{
    size_t len;
    char *pem = th_cert("builder.pem", &len), *enc, *h;
    refused("Cert=\"\"", "Cert is empty");
    refused("Cert=\"abc%0\"", "a '%' in Cert that is not followed by two hex digits");
    refused("Cert=\"abc%zz\"", "a '%' in Cert that is not followed by two hex digits");
    refused("Cert=\"ab+c\"", "'+' in Cert is not URL-encoded (write it as %2B)");
    refused("Chain=\"ab/c\"", "'/' in Chain is not URL-encoded (write it as %2F)");
    refused("Cert=\"ab c\"", "0x20 in Cert is not URL-encoded");
    refused("Cert=\"junk\"", "Cert: no CERTIFICATE block");
    /* A NUL decoded into the PEM's base64 breaks it. */
    pem[40] = '\0';
    enc = url_encode(pem, len);
    cr_assert_not_null(strstr(enc, "%00"));
    h = header("Cert=\"%s\"", enc, NULL, NULL);
    refused(h, "X-Forwarded-Client-Cert: Cert: ");
    free(h);
    free(enc);
    free(pem);
}

/* ---- limits and arguments ---- */

Test(xfcc, header_size_limit)
{
    size_t max = MTLSAUTHZ__MAX_XFCC_BYTES, n;
    char *h = malloc(max + 2);
    mtlsauthz_identity *id;
    cr_assert_not_null(h);
    n = (size_t)sprintf(h, "Hash=%s;By=", H64);
    memset(h + n, 'a', max - n);
    h[max] = '\0';
    id = xfcc_n(h, max);
    assert_value(id, MTLSAUTHZ_FIELD_SHA256, 0, H64);
    mtlsauthz_identity_free(id);
    h[max] = 'a';
    h[max + 1] = '\0';
    refused_n(h, max + 1, MTLSAUTHZ_ELIMIT, "longer than 65536 bytes");
    free(h);
}

Test(xfcc, san_count_limit)
{
    char *h = malloc(8 * 1024);
    size_t n;
    mtlsauthz_identity *id;
    cr_assert_not_null(h);
    n = (size_t)sprintf(h, "Hash=%s", H64);
    for (int i = 0; i < 256; i++) {
        n += (size_t)sprintf(h + n, ";DNS=a");
    }
    id = xfcc(h);
    assert_count(id, MTLSAUTHZ_FIELD_SAN_DNS, 256);
    mtlsauthz_identity_free(id);
    strcpy(h + n, ";DNS=a");
    refused_n(h, strlen(h), MTLSAUTHZ_ELIMIT, "more than 256 DNS SAN values");
    free(h);
}

Test(xfcc, bad_arguments)
{
    mtlsauthz_identity *id = (mtlsauthz_identity *)(uintptr_t)1;
    cr_assert_eq(mtlsauthz_identity_from_xfcc(NULL, "Hash=" H64, 69, NULL), MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_identity_from_xfcc(&id, NULL, 3, NULL), MTLSAUTHZ_EINVAL);
    cr_assert_null(id);
    cr_assert_eq(mtlsauthz_identity_partial(NULL), 0);
}

Test(xfcc, every_allocation_failure_is_clean)
{
    char *enc = encoded_cert("builder-chain.pem");
    char *with_cert = header("Chain=\"%s\"", enc, NULL, NULL);
    const char *headers[] = {
        "Hash=" H64 ";Subject=\"CN=alice,OU=ops,O=Example Corp\";URI=spiffe://td/a;DNS=a.example",
        with_cert};
    for (size_t k = 0; k < sizeof(headers) / sizeof(headers[0]); k++) {
        mtlsauthz_identity *id = NULL;
        long n;
        int rc = -1;
        for (n = 0; n < 10000 && rc != 0; n++) {
            mtlsauthz__alloc_fail_after(n);
            rc = mtlsauthz_identity_from_xfcc(&id, headers[k], strlen(headers[k]), NULL);
            mtlsauthz__alloc_fail_after(-1);
            if (rc != 0) {
                cr_assert_eq(rc, MTLSAUTHZ_ENOMEM, "allocation %ld: %s", n, mtlsauthz_errname(rc));
                cr_assert_null(id);
            }
        }
        cr_assert_eq(rc, 0);
        cr_assert_gt(n, 2);
        mtlsauthz_identity_free(id);
    }
    free(with_cert);
    free(enc);
}

/* ---- what a partial identity can match ---- */

Test(xfcc, partial_identity_matches_only_what_the_header_carries)
{
    mtlsauthz_identity *id =
        xfcc("By=spiffe://td/proxy;Hash=" H64 ";Subject=\"CN=alice,OU=ops,O=Example Corp\";"
             "URI=spiffe://prod.example.com/ci/builder;DNS=web.example.com");
    mtlsauthz_identity *cert = ph_cert("full");
    /* What the header carries matches. */
    cr_assert_eq(ph_selects("    spiffe: [\"spiffe://prod.example.com/ci/*\"]\n", id), 1);
    cr_assert_eq(ph_selects("    uri: [\"spiffe://prod.example.com/**\"]\n", id), 1);
    cr_assert_eq(ph_selects("    dns: [\"*.example.com\"]\n", id), 1);
    cr_assert_eq(ph_selects("    dn: [\"CN=alice,OU=ops,O=Example Corp\"]\n", id), 1);
    cr_assert_eq(ph_selects("    cn: [alice]\n", id), 1);
    cr_assert_eq(ph_selects("    o: [Example Corp]\n    ou: [ops]\n", id), 1);
    cr_assert_eq(ph_selects("    sha256: [\"" H64 "\"]\n", id), 1);
    /* What it cannot carry never matches, however wide the pattern. */
    cr_assert_eq(ph_selects("    eku: [clientAuth]\n", id), 0);
    cr_assert_eq(ph_selects("    serial: [\"1\"]\n", id), 0);
    cr_assert_eq(ph_selects("    issuer: [\"**\"]\n", id), 0);
    cr_assert_eq(ph_selects("    email: [\"**\"]\n", id), 0);
    cr_assert_eq(ph_selects("    ip: [\"0.0.0.0/0\", \"::/0\"]\n", id), 0);
    cr_assert_eq(ph_selects("    spiffe: [\"spiffe://prod.example.com/ci/*\"]\n"
                            "    eku: [clientAuth]\n",
                            id),
                 0);
    /* The same wide patterns match a certificate that has the fields. */
    cr_assert_eq(ph_selects("    eku: [clientAuth]\n", cert), 1);
    cr_assert_eq(ph_selects("    issuer: [\"**\"]\n", cert), 1);
    cr_assert_eq(ph_selects("    email: [\"**\"]\n", cert), 1);
    cr_assert_eq(ph_selects("    ip: [\"0.0.0.0/0\", \"::/0\"]\n", cert), 1);
    mtlsauthz_identity_free(cert);
    mtlsauthz_identity_free(id);
}

Test(xfcc, partial_identity_and_the_svid_extension_rules)
{
    /* The header cannot say whether the leaf is a CA or what its key may do: those rules are
     * the verifying proxy's, and a SPIFFE ID the names allow is kept. */
    mtlsauthz_identity *id = xfcc("Hash=" H64 ";URI=spiffe://td/workload");
    assert_value(id, MTLSAUTHZ_FIELD_SPIFFE_ID, 0, "spiffe://td/workload");
    cr_assert_null(mtlsauthz_identity_rejected(id));
    mtlsauthz_identity_free(id);
}
