/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DER walker (lib/der.c) against the OpenSSL extractor (lib/x509.c).
 *
 * The invariant under test (lib/der.h): the walker falls back, or it succeeds with the identity
 * the OpenSSL extractor builds, equal in every field, value byte, raw IP, rejection reason and
 * chain length. Three kinds of test check it:
 * - every certificate tests/certs/gen-certs.sh makes, which the walker must also support;
 * - mutations of real certificates: truncations, byte changes at every offset, corrupt lengths,
 *   trailing bytes, BER encodings;
 * - certificates crafted byte by byte for the corners of RFC 5280 and X.690 (unsigned: neither
 *   extractor verifies signatures), each with the outcome the walker must have.
 * The X509 entry point is held to the same: over every generated, crafted and seed certificate,
 * mtlsauthz_identity_from_x509() on the X509 OpenSSL parses from it gives what
 * mtlsauthz_identity_from_der() gives for that X509's encoding (dc_check_x509()).
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include "helpers.h"

#include "../fuzz/der_compare.h"

/* ---- helpers ---- */

static unsigned char *read_cert(const char *name, size_t *len)
{
    return (unsigned char *)th_cert(name, len);
}

/* Asserts the invariant on one buffer taken as one certificate; returns whether the walker
 * built the identity itself. */
static int check_one(const unsigned char *der, size_t len, const char *what, size_t at)
{
    int ok = 0;
    const char *diff = dc_check_one(der, len, &ok);
    cr_assert(diff == NULL, "%s (at %zu): %s", what, at, diff);
    return ok;
}

/* Asserts the X509 entry point's invariant on the X509 that OpenSSL parses from a buffer;
 * returns whether OpenSSL parsed it. *reencoded (may be NULL) as dc_check_x509(). */
static int check_x509(const unsigned char *der, size_t len, const char *what, int *reencoded)
{
    int parsed = 0;
    const char *diff = dc_check_x509(der, len, &parsed, reencoded);
    cr_assert(diff == NULL, "%s, as an X509: %s", what, diff);
    return parsed;
}

/* The walker's identity for a buffer that it must support, for asserting on its values. */
static mtlsauthz_identity *walker_identity(const unsigned char *der, size_t len)
{
    const unsigned char *certs[1] = {der};
    size_t lens[1] = {len};
    mtlsauthz_identity *id = NULL;
    cr_assert_eq(mtlsauthz__der_from_der_certs(&id, certs, lens, 1, 1), 0);
    cr_assert(id != NULL);
    return id;
}

static void assert_value(const mtlsauthz_identity *id, mtlsauthz_field f, size_t i,
                         const char *want, size_t want_len)
{
    const char *v;
    size_t len;
    cr_assert_eq(mtlsauthz_identity_get(&v, &len, id, f, i), 0, "field %d value %zu missing",
                 (int)f, i);
    cr_assert(len == want_len && memcmp(v, want, len) == 0, "field %d value %zu is \"%.*s\"",
              (int)f, i, (int)len, v);
}

#define ASSERT_VALUE(id, f, i, lit) assert_value(id, f, i, lit, sizeof(lit) - 1)

/* ---- a small DER builder for crafted certificates ---- */

typedef struct bld {
    unsigned char *p;
    size_t n;
} bld;

static bld b_raw(const void *p, size_t n)
{
    bld b;
    b.p = malloc(n + 1);
    cr_assert(b.p != NULL);
    if (n > 0) {
        memcpy(b.p, p, n);
    }
    b.n = n;
    return b;
}

/* Bytes from hex, spaces ignored: H("06 03 55 04 03"). */
static bld H(const char *hex)
{
    unsigned char tmp[4096];
    size_t n = 0;
    unsigned int v;
    while (*hex != '\0') {
        if (*hex == ' ') {
            hex++;
            continue;
        }
        cr_assert(sscanf(hex, "%2x", &v) == 1 && n < sizeof(tmp));
        tmp[n++] = (unsigned char)v;
        hex += 2;
    }
    return b_raw(tmp, n);
}

/* The bytes of a C string, without its NUL. */
static bld S(const char *s)
{
    return b_raw(s, strlen(s));
}

/* Concatenates `count` builds, consuming them. */
static bld C(int count, ...)
{
    bld out = b_raw("", 0), x;
    va_list ap;
    int i;
    va_start(ap, count);
    for (i = 0; i < count; i++) {
        x = va_arg(ap, bld);
        out.p = realloc(out.p, out.n + x.n + 1);
        cr_assert(out.p != NULL);
        memcpy(out.p + out.n, x.p, x.n);
        out.n += x.n;
        free(x.p);
    }
    va_end(ap);
    return out;
}

/* tag, minimal DER length (X.690 §10.1), content; consumes `content`. */
static bld T(unsigned char tag, bld content)
{
    unsigned char hdr[6];
    size_t h = 0, n = content.n;
    hdr[h++] = tag;
    if (n < 0x80) {
        hdr[h++] = (unsigned char)n;
    } else if (n < 0x100) {
        hdr[h++] = 0x81;
        hdr[h++] = (unsigned char)n;
    } else {
        cr_assert(n < 0x10000);
        hdr[h++] = 0x82;
        hdr[h++] = (unsigned char)(n >> 8);
        hdr[h++] = (unsigned char)n;
    }
    return C(2, b_raw(hdr, h), content);
}

#define SEQ(...) T(0x30, C(__VA_ARGS__))

/* One AttributeTypeAndValue (the OID given as content hex) and one single-valued RDN. */
static bld ATV(const char *oid_hex, unsigned char tag, bld value)
{
    return SEQ(2, T(0x06, H(oid_hex)), T(tag, value));
}

static bld RDN(const char *oid_hex, unsigned char tag, bld value)
{
    return T(0x31, ATV(oid_hex, tag, value));
}

#define CN_OID "55 04 03"
#define O_OID "55 04 0a"
#define OU_OID "55 04 0b"
#define C_OID "55 04 06"

static bld ext(const char *oid_hex, bld value)
{
    return SEQ(2, T(0x06, H(oid_hex)), T(0x04, value));
}

#define SAN_OID "55 1d 11"
#define EKU_OID "55 1d 25"
#define BC_OID "55 1d 13"
#define KU_OID "55 1d 0f"
#define KU_DS "03 02 07 80" /* keyUsage digitalSignature (RFC 5280 §4.2.1.3) */

/* The parts of a crafted certificate; a zero .p takes the default. */
typedef struct spec {
    bld version;  /* the whole [0] element; H("") for none (v1) */
    bld serial;   /* INTEGER content */
    bld sig_alg;  /* AlgorithmIdentifier */
    bld issuer;   /* Name content */
    bld validity; /* Validity content */
    bld subject;  /* Name content */
    bld spki;     /* the whole SubjectPublicKeyInfo */
    bld uids;     /* [1]/[2] elements */
    bld exts;     /* the content of the SEQUENCE OF Extension; absent if .p is NULL */
    int no_exts;
    bld outer_alg; /* the Certificate's signatureAlgorithm, after the TBS */
} spec;

/* ecdsa-with-SHA256 and a P-256 key from gen-certs.sh. */
#define SIG_ALG "30 0a 06 08 2a 86 48 ce 3d 04 03 02"
#define SPKI                                                                                       \
    "3059301306072a8648ce3d020106082a8648ce3d0301070342000452b9882ae2f3c399ce5217f10c93bcfada5b12" \
    "1"                                                                                            \
    "ebf009a54b13c8001a340b8622baef19bd6fd6d1705c54eba84e6fa5147c06a354103c79efdbcd97d9d5748c4"

static bld or_default(bld b, const char *hex)
{
    return b.p != NULL ? b : H(hex);
}

static bld make_cert(spec s)
{
    bld tbs, exts;
    if (s.exts.p == NULL) {
        exts = s.no_exts ? H("") : T(0xa3, SEQ(1, ext(SAN_OID, SEQ(1, T(0x82, S("a.example"))))));
    } else {
        exts = s.exts.n == 0 && s.no_exts ? s.exts : T(0xa3, T(0x30, s.exts));
    }
    tbs = SEQ(9, or_default(s.version, "a0 03 02 01 02"), T(0x02, or_default(s.serial, "01")),
              or_default(s.sig_alg, SIG_ALG), T(0x30, or_default(s.issuer, "")),
              T(0x30, s.validity.p != NULL
                          ? s.validity
                          : C(2, T(0x17, S("200101000000Z")), T(0x18, S("20510102030405Z")))),
              T(0x30, s.subject.p != NULL ? s.subject : RDN(CN_OID, 0x0c, S("crafted"))),
              or_default(s.spki, SPKI), or_default(s.uids, ""), exts);
    return SEQ(3, tbs, or_default(s.outer_alg, SIG_ALG), T(0x03, H("00 01 02 03")));
}

/* Checks the invariant on a crafted certificate and that the walker's outcome is `supported`;
 * returns the walker's identity when supported (to free), else NULL. */
static mtlsauthz_identity *crafted(spec s, int supported, const char *what)
{
    bld der = make_cert(s);
    mtlsauthz_identity *id = NULL;
    int ok = check_one(der.p, der.n, what, 0);
    cr_assert_eq(ok, supported, "%s: walker %s", what, ok ? "succeeded" : "fell back");
    check_x509(der.p, der.n, what, NULL);
    if (ok) {
        id = walker_identity(der.p, der.n);
    }
    free(der.p);
    return id;
}

static void crafted_free(spec s, int supported, const char *what)
{
    mtlsauthz_identity_free(crafted(s, supported, what));
}

/* A subject of one attribute. */
static spec with_subject(bld subject)
{
    spec s;
    memset(&s, 0, sizeof(s));
    s.subject = subject;
    return s;
}

static spec with_exts(bld exts)
{
    spec s;
    memset(&s, 0, sizeof(s));
    s.exts = exts;
    return s;
}

static spec with_validity(bld validity)
{
    spec s;
    memset(&s, 0, sizeof(s));
    s.validity = validity;
    return s;
}

/* ---- every generated certificate ---- */

/* Calls fn on the name of every file in $MTLSAUTHZ_TEST_CERTS ending in `suffix`; returns how
 * many there were. */
static size_t for_each_cert(const char *suffix, void (*fn)(const char *name, void *ctx), void *ctx)
{
    const char *dir = getenv("MTLSAUTHZ_TEST_CERTS");
    size_t n = 0, sl = strlen(suffix);
    struct dirent *e;
    DIR *d;
    cr_assert(dir != NULL, "MTLSAUTHZ_TEST_CERTS is not set (run through make check)");
    d = opendir(dir);
    cr_assert(d != NULL, "cannot open %s", dir);
    while ((e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name);
        if (nl > sl && strcmp(e->d_name + nl - sl, suffix) == 0) {
            fn(e->d_name, ctx);
            n++;
        }
    }
    closedir(d);
    return n;
}

/* One generated DER file: the walker and OpenSSL agree, and the walker takes every certificate
 * that OpenSSL accepts. Counts those in *(size_t *)ctx. */
static void der_file_matches_openssl(const char *name, void *ctx)
{
    size_t len;
    unsigned char *der = read_cert(name, &len);
    const unsigned char *certs[1] = {der};
    mtlsauthz_identity *o = NULL;
    mtlsauthz_error err;
    int ok = check_one(der, len, name, 0), reencoded = 0;
    int ro = mtlsauthz__x509_from_der_certs(&o, certs, &len, 1, &err);
    cr_assert(ro != 0 || ok, "%s: the walker fell back on a certificate OpenSSL accepts", name);
    cr_assert(ro == 0 || !ok, "%s", name);
    /* A DER certificate's X509 encodes to the bytes it was parsed from. */
    cr_assert(check_x509(der, len, name, &reencoded) || strcmp(name, "truncated.der") == 0,
              "%s: OpenSSL does not parse it", name);
    cr_assert(!reencoded, "%s: the X509 does not encode to its own bytes", name);
    *(size_t *)ctx += (size_t)ok;
    mtlsauthz_identity_free(o);
    free(der);
}

Test(der, every_generated_certificate_matches_openssl)
{
    size_t supported = 0, n = for_each_cert(".der", der_file_matches_openssl, &supported);
    /* gen-certs.sh makes 30-odd DER files; an empty directory must not pass. */
    cr_assert_geq(n, 30, "only %zu certificates", n);
    cr_assert_geq(supported, n - 2, "truncated.der and trailing.der are the only failures");
}

Test(der, walker_values_on_full)
{
    size_t len;
    unsigned char *der = read_cert("full.der", &len);
    mtlsauthz_identity *id = walker_identity(der, len);
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_SUBJECT_DN, 0,
                 "emailAddress=alice@example.com,CN=full.example.com,OU=three,OU=two,OU=one,"
                 "O=Second Org,O=Example Corp,L=San Francisco,ST=California,C=US");
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_SERIAL, 0, "c0ffee0123456789abcdef");
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_NOT_BEFORE, 0, "2020-01-01T00:00:00Z");
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_NOT_AFTER, 0, "2051-01-02T03:04:05Z");
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_SAN_IP, 2, "::ffff:192.0.2.10");
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_EKU, 2, "1.2.3.4.5");
    cr_assert_eq(mtlsauthz_identity_count(id, MTLSAUTHZ_FIELD_OU), 3);
    cr_assert_eq(mtlsauthz_identity_chain_length(id), 1);
    mtlsauthz_identity_free(id);
    free(der);
}

Test(der, chains_match_openssl)
{
    size_t leaf_len, int_len, ca_len, nul_len;
    unsigned char *leaf = read_cert("builder.der", &leaf_len);
    unsigned char *inter = read_cert("int.der", &int_len);
    unsigned char *ca = read_cert("ca.der", &ca_len);
    unsigned char *nul = read_cert("nul-cn.der", &nul_len);
    const unsigned char *certs[3] = {leaf, inter, ca};
    size_t lens[3] = {leaf_len, int_len, ca_len};
    mtlsauthz_identity *id = NULL;
    int ok;

    cr_assert(dc_check(certs, lens, 3, &ok) == NULL);
    cr_assert(ok);
    cr_assert(dc_check(certs, lens, 2, &ok) == NULL);
    cr_assert(ok);
    cr_assert_eq(mtlsauthz__der_from_der_certs(&id, certs, lens, 3, 3), 0);
    cr_assert_eq(mtlsauthz_identity_chain_length(id), 3);
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_SPIFFE_ID, 0, "spiffe://prod.example.com/ci/builder");
    mtlsauthz_identity_free(id);
    /* The leaf alone, of a chain of three (mtlsauthz_identity_from_x509()). */
    cr_assert_eq(mtlsauthz__der_from_der_certs(&id, certs, lens, 1, 3), 0);
    cr_assert_eq(mtlsauthz_identity_chain_length(id), 3);
    mtlsauthz_identity_free(id);
    /* A chain shorter than the certificates walked, or longer than the limit, falls back. */
    cr_assert_eq(mtlsauthz__der_from_der_certs(&id, certs, lens, 3, 2), MTLSAUTHZ__DER_FALLBACK);
    cr_assert_null(id);
    cr_assert_eq(mtlsauthz__der_from_der_certs(&id, certs, lens, 1, MTLSAUTHZ__MAX_CHAIN + 1),
                 MTLSAUTHZ__DER_FALLBACK);
    cr_assert_null(id);

    /* A chain certificate that does not parse: the walker falls back, OpenSSL refuses. */
    lens[1] = int_len - 1;
    cr_assert(dc_check(certs, lens, 2, &ok) == NULL);
    cr_assert(!ok);
    /* A rejected leaf in a chain stays rejected, with the same reason. */
    certs[0] = nul;
    lens[0] = nul_len;
    lens[1] = int_len;
    cr_assert(dc_check(certs, lens, 2, &ok) == NULL);
    cr_assert(ok);
    free(leaf);
    free(inter);
    free(ca);
    free(nul);
}

Test(der, fallback_on_arguments)
{
    size_t len = 1;
    const unsigned char *certs[1] = {NULL};
    const unsigned char *many[MTLSAUTHZ__MAX_CHAIN + 1];
    size_t lens[MTLSAUTHZ__MAX_CHAIN + 1];
    mtlsauthz_identity *id = (mtlsauthz_identity *)&len;
    cr_assert_eq(mtlsauthz__der_from_der_certs(NULL, certs, &len, 1, 1), MTLSAUTHZ__DER_FALLBACK);
    cr_assert_eq(mtlsauthz__der_from_der_certs(&id, certs, &len, 1, 1), MTLSAUTHZ__DER_FALLBACK);
    cr_assert(id == NULL, "*out is cleared on fallback");
    cr_assert_eq(mtlsauthz__der_from_der_certs(&id, NULL, &len, 1, 1), MTLSAUTHZ__DER_FALLBACK);
    cr_assert_eq(mtlsauthz__der_from_der_certs(&id, certs, &len, 0, 0), MTLSAUTHZ__DER_FALLBACK);
    memset(lens, 0, sizeof(lens));
    memset(many, 0, sizeof(many));
    cr_assert_eq(mtlsauthz__der_from_der_certs(&id, many, lens, MTLSAUTHZ__MAX_CHAIN + 1,
                                               MTLSAUTHZ__MAX_CHAIN + 1),
                 MTLSAUTHZ__DER_FALLBACK);
}

/* The public entry points give what the OpenSSL extractor gives, walker or not. */
Test(der, public_entry_points_agree_with_openssl)
{
    static const char *const names[] = {"full.der",     "dn-special.der", "bmp-cn.der",
                                        "nul-dns.der",  "neg-serial.der", "spiffe-ca.der",
                                        "trailing.der", "truncated.der"};
    size_t i;
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(names); i++) {
        size_t len;
        unsigned char *der = read_cert(names[i], &len);
        const unsigned char *certs[1] = {der};
        mtlsauthz_identity *a = NULL, *b = NULL;
        mtlsauthz_error ea, eb;
        int ra = mtlsauthz_identity_from_der(&a, der, len, &ea);
        int rb = mtlsauthz__x509_from_der_certs(&b, certs, &len, 1, &eb);
        if (strcmp(names[i], "trailing.der") == 0) {
            cr_assert_neq(ra, 0, "trailing bytes are an error");
        } else {
            cr_assert_eq(ra, rb, "%s: %d vs %d", names[i], ra, rb);
        }
        if (ra == 0) {
            cr_assert(dc_identity_diff(a, b) == NULL, "%s", names[i]);
        }
        mtlsauthz_identity_free(a);
        mtlsauthz_identity_free(b);
        free(der);
    }
}

/* The CERTIFICATE blocks of a PEM text, decoded by OpenSSL itself (at most `max`). */
static size_t pem_blocks(const char *pem, size_t len, unsigned char **der, size_t *lens, size_t max)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    size_t n = 0;
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    long dlen = 0;
    cr_assert(bio != NULL);
    while (n < max && PEM_read_bio(bio, &name, &header, &data, &dlen)) {
        if (strcmp(name, "CERTIFICATE") == 0) {
            der[n] = data;
            lens[n++] = (size_t)dlen;
        } else {
            OPENSSL_free(data);
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
    }
    BIO_free(bio);
    return n;
}

/* What the PEM comparison saw: identities compared, and how many of them were chains. */
typedef struct pem_seen {
    size_t compared, chains;
} pem_seen;

/* One generated PEM file: mtlsauthz_identity_from_pem() against the OpenSSL extractor on the
 * same blocks, decoded by OpenSSL itself. */
static void pem_file_matches_openssl(const char *name, void *ctx)
{
    pem_seen *seen = ctx;
    size_t len, nb, i, lens[MTLSAUTHZ__MAX_CHAIN];
    unsigned char *blocks[MTLSAUTHZ__MAX_CHAIN];
    mtlsauthz_identity *a = NULL, *b = NULL;
    mtlsauthz_error ea, eb;
    char *pem = th_cert(name, &len);
    int ra, rb;

    nb = pem_blocks(pem, len, blocks, lens, MTLSAUTHZ__MAX_CHAIN);
    ra = mtlsauthz_identity_from_pem(&a, pem, len, &ea);
    if (nb == 0 || strstr(pem, "PRIVATE KEY") != NULL) {
        /* Keys, garbage, empty files: refused, whichever path. */
        cr_assert_neq(ra, 0, "%s", name);
    } else {
        rb =
            mtlsauthz__x509_from_der_certs(&b, (const unsigned char *const *)blocks, lens, nb, &eb);
        cr_assert_eq(ra, rb, "%s: %d vs %d", name, ra, rb);
        if (ra == 0) {
            cr_assert(dc_identity_diff(a, b) == NULL, "%s: %s", name, dc_identity_diff(a, b));
            cr_assert_eq(mtlsauthz_identity_chain_length(a), nb);
            seen->chains += nb > 1;
            seen->compared++;
        }
    }
    for (i = 0; i < nb; i++) {
        OPENSSL_free(blocks[i]);
    }
    mtlsauthz_identity_free(a);
    mtlsauthz_identity_free(b);
    free(pem);
}

/*
 * mtlsauthz_identity_from_pem() takes the DER walker when every block is exactly one DER
 * certificate: on every generated certificate and chain bundle, it must give what the OpenSSL
 * extractor gives for the same blocks.
 */
Test(der, pem_entry_point_agrees_with_openssl)
{
    pem_seen seen = {0, 0};
    for_each_cert(".pem", pem_file_matches_openssl, &seen);
    cr_assert_geq(seen.compared, 50, "only %zu PEM certificates compared", seen.compared);
    cr_assert_geq(seen.chains, 20, "only %zu chain bundles compared", seen.chains);
}

/* A PEM block holding a certificate and then more bytes is not taken by the walker: the
 * OpenSSL extractor refuses it, as it did before the walker served PEM. */
Test(der, pem_block_with_trailing_bytes_is_refused)
{
    size_t len;
    unsigned char *der = read_cert("full.der", &len);
    unsigned char *buf = malloc(len + 2);
    BIO *bio = BIO_new(BIO_s_mem());
    mtlsauthz_identity *id = (mtlsauthz_identity *)&id;
    mtlsauthz_error err;
    char *pem;
    long plen;
    cr_assert(buf != NULL && bio != NULL);
    memcpy(buf, der, len);
    buf[len] = 0x05; /* a whole DER NULL after the certificate */
    buf[len + 1] = 0x00;
    cr_assert(PEM_write_bio(bio, "CERTIFICATE", "", buf, (long)len + 2) > 0);
    plen = BIO_get_mem_data(bio, &pem);
    cr_assert_eq(mtlsauthz_identity_from_pem(&id, pem, (size_t)plen, &err), MTLSAUTHZ_ECERT);
    cr_assert_null(id);
    cr_assert(strstr(err.message, "trailing data after certificate 1") != NULL, "%s", err.message);
    BIO_free(bio);
    free(buf);
    free(der);
}

/* ---- mutations of real certificates ---- */

static const char *const mutated[] = {"full.der",       "dn-special.der", "bmp-cn.der",
                                      "teletex-cn.der", "neg-serial.der", "ipv6.der",
                                      "spiffe-ca.der",  "nul-cn.der"};

Test(der, truncation_at_every_length, .timeout = 120)
{
    size_t i, n, len;
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(mutated); i++) {
        unsigned char *der = read_cert(mutated[i], &len);
        for (n = 0; n < len; n++) {
            cr_assert(!check_one(der, n, mutated[i], n), "%s: walker accepted %zu of %zu bytes",
                      mutated[i], n, len);
        }
        cr_assert(check_one(der, len, mutated[i], len));
        free(der);
    }
}

Test(der, byte_changes_at_every_offset, .timeout = 300)
{
    static const unsigned char xors[] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff};
    static const unsigned char sets[] = {0x00, 0x7f, 0x80, 0xff, 0x05, 0x0c, 0x13, 0x1e, 0x1c};
    size_t i, off, k, len, tried = 0, walked = 0;
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(mutated); i++) {
        unsigned char *der = read_cert(mutated[i], &len);
        for (off = 0; off < len; off++) {
            unsigned char orig = der[off];
            for (k = 0; k < MTLSAUTHZ__ARRAY_LEN(xors) + MTLSAUTHZ__ARRAY_LEN(sets); k++) {
                der[off] = k < MTLSAUTHZ__ARRAY_LEN(xors) ? (unsigned char)(orig ^ xors[k])
                                                          : sets[k - MTLSAUTHZ__ARRAY_LEN(xors)];
                if (der[off] == orig) {
                    continue;
                }
                walked += (size_t)check_one(der, len, mutated[i], off);
                tried++;
            }
            der[off] = orig;
        }
        free(der);
    }
    /* Most changes land in values, which the walker still reads; the test must reach both. */
    cr_assert_gt(walked, tried / 4, "walker built %zu of %zu", walked, tried);
    cr_assert_lt(walked, tried, "walker built all %zu", tried);
}

/* Every element header of a DER buffer, depth first (this test's own minimal parser). */
static size_t headers(const unsigned char *p, size_t len, size_t base, size_t *out, size_t max,
                      size_t n)
{
    size_t i = 0;
    while (i + 2 <= len && n < max) {
        size_t hdr = 2, clen = p[i + 1], k;
        if (clen & 0x80) {
            size_t nb = clen & 0x7f;
            if (nb == 0 || nb > 3 || i + 2 + nb > len) {
                return n;
            }
            for (clen = 0, k = 0; k < nb; k++) {
                clen = (clen << 8) | p[i + 2 + k];
            }
            hdr += nb;
        }
        if (clen > len - i - hdr) {
            return n;
        }
        out[n++] = base + i;
        if (p[i] & 0x20) {
            n = headers(p + i + hdr, clen, base + i + hdr, out, max, n);
        }
        i += hdr + clen;
    }
    return n;
}

Test(der, corrupt_lengths)
{
    static const unsigned char short_forms[] = {0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x88, 0xff};
    size_t hs[512], n, i, k, len;
    unsigned char *der = read_cert("full.der", &len);
    n = headers(der, len, 0, hs, MTLSAUTHZ__ARRAY_LEN(hs), 0);
    cr_assert_gt(n, 60, "only %zu elements", n);
    for (i = 0; i < n; i++) {
        unsigned char *lb = &der[hs[i] + 1], orig = *lb;
        if (orig < 0x80) {
            /* One more, one less, and the long and indefinite forms on a short length. */
            for (k = 0; k < MTLSAUTHZ__ARRAY_LEN(short_forms) + 2; k++) {
                *lb = k == 0   ? (unsigned char)(orig + 1)
                      : k == 1 ? (unsigned char)(orig - 1)
                               : short_forms[k - 2];
                check_one(der, len, "length", hs[i]);
            }
        } else {
            /* Non-minimal (leading zero) and huge claims on a long length. */
            unsigned char first = lb[1];
            lb[1] = 0x00;
            cr_assert(!check_one(der, len, "length", hs[i]));
            lb[1] = 0xff;
            cr_assert(!check_one(der, len, "length", hs[i]));
            lb[1] = first;
            *lb = 0x80;
            cr_assert(!check_one(der, len, "length", hs[i]));
            *lb = 0x84;
            cr_assert(!check_one(der, len, "length", hs[i]));
        }
        *lb = orig;
    }
    cr_assert(check_one(der, len, "restored", 0));
    free(der);
}

Test(der, trailing_bytes_fall_back)
{
    size_t len, k;
    unsigned char *der = read_cert("full.der", &len);
    unsigned char *buf = malloc(len + 4);
    mtlsauthz_identity *id = NULL;
    cr_assert(buf != NULL);
    memcpy(buf, der, len);
    for (k = 1; k <= 4; k++) {
        memset(buf + len, k == 2 ? 0x00 : 0x30, k);
        cr_assert(!check_one(buf, len + k, "trailing", k));
        cr_assert_neq(mtlsauthz_identity_from_der(&id, buf, len + k, NULL), 0);
        cr_assert(id == NULL);
    }
    free(buf);
    free(der);
}

/* BER that OpenSSL may take but DER forbids: the walker leaves those to OpenSSL. */
Test(der, ber_encodings_fall_back)
{
    size_t len, body;
    unsigned char *der = read_cert("plain.der", &len);
    unsigned char *buf = malloc(len + 8);
    cr_assert(buf != NULL);
    cr_assert(der[0] == 0x30 && der[1] == 0x82);
    body = len - 4;

    /* Indefinite length on the outer SEQUENCE, closed by end-of-contents. */
    buf[0] = 0x30;
    buf[1] = 0x80;
    memcpy(buf + 2, der + 4, body);
    buf[2 + body] = 0;
    buf[3 + body] = 0;
    cr_assert(!check_one(buf, body + 4, "indefinite", 0));

    /* A length in more octets than needed. */
    buf[0] = 0x30;
    buf[1] = 0x84;
    buf[2] = 0;
    buf[3] = 0;
    buf[4] = der[2];
    buf[5] = der[3];
    memcpy(buf + 6, der + 4, body);
    cr_assert(!check_one(buf, body + 6, "long length", 0));

    /* A length far beyond the input. */
    buf[1] = 0x84;
    buf[2] = 0x7f;
    buf[3] = 0xff;
    buf[4] = 0xff;
    buf[5] = 0xff;
    cr_assert(!check_one(buf, body + 6, "huge length", 0));
    buf[1] = 0x83;
    cr_assert(!check_one(buf, body + 6, "huge length", 0));
    free(buf);
    free(der);
}

/* Every seed of the fuzz targets that read certificates (tests/fuzz/corpus/der, der_diff) as an
 * X509, whole and as the chain mtlsauthz_identity_from_der() splits it into. */
Test(der, x509_entry_point_over_the_fuzz_seeds)
{
    static const char *const dirs[] = {"der", "der_diff"};
    const char *data = getenv("MTLSAUTHZ_TEST_DATA");
    size_t i, parsed = 0, files = 0;
    cr_assert(data != NULL, "MTLSAUTHZ_TEST_DATA is not set (run through make check)");
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(dirs); i++) {
        char dir[4096], path[4096 + 256];
        struct dirent *e;
        DIR *d;
        snprintf(dir, sizeof(dir), "%s/../fuzz/corpus/%s", data, dirs[i]);
        d = opendir(dir);
        cr_assert(d != NULL, "cannot open %s", dir);
        while ((e = readdir(d)) != NULL) {
            size_t len, off = 0, n;
            unsigned char *buf;
            if (e->d_name[0] == '.') {
                continue;
            }
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            buf = (unsigned char *)th_read("MTLSAUTHZ_TEST_DATA", path + strlen(data) + 1, &len);
            files++;
            parsed += (size_t)check_x509(buf, len, path, NULL);
            while (off < len && (n = mtlsauthz__der_cert_len(buf + off, len - off)) != 0) {
                check_x509(buf + off, n, path, NULL);
                off += n;
            }
            free(buf);
        }
        closedir(d);
    }
    /* 40-odd seeds, most of them certificates OpenSSL parses: an empty corpus must not pass. */
    cr_assert_geq(files, 40, "only %zu seeds", files);
    cr_assert_geq(parsed, 20, "only %zu seeds parse", parsed);
}

/* The SHA-256 field of an identity, as bytes. */
static void sha256_field(unsigned char out[32], const mtlsauthz_identity *id)
{
    const char *v;
    size_t len, i;
    unsigned int byte;
    cr_assert_eq(mtlsauthz_identity_get(&v, &len, id, MTLSAUTHZ_FIELD_SHA256, 0), 0);
    cr_assert_eq(len, 64);
    for (i = 0; i < 32; i++) {
        cr_assert_eq(sscanf(v + 2 * i, "%2x", &byte), 1);
        out[i] = (unsigned char)byte;
    }
}

static mtlsauthz_identity *x509_identity(X509 *x, const char *what)
{
    mtlsauthz_identity *id = NULL;
    mtlsauthz_error err;
    cr_assert_eq(mtlsauthz_identity_from_x509(&id, x, NULL, &err), 0, "%s: %s", what, err.message);
    return id;
}

/*
 * Attack: an outer SEQUENCE in BER (a long length, or an indefinite one), which OpenSSL parses
 * and the walker refuses. OpenSSL keeps only the tbsCertificate's received bytes, so the
 * X509's DER (docs/internals.md, "The DER of an X509") is the DER certificate: the walker reads
 * it, and the fingerprint is X509_digest()'s, not a hash of the BER bytes the peer sent.
 */
Test(der, x509_from_ber_outer_is_its_der_encoding)
{
    size_t len, body;
    unsigned char *der = read_cert("plain.der", &len);
    unsigned char *buf = malloc(len + 8), md[32], got[32];
    unsigned int md_len = 0;
    mtlsauthz_identity *want = NULL, *id;
    const unsigned char *p;
    mtlsauthz_error err;
    int reencoded, k;
    X509 *x;
    cr_assert(buf != NULL);
    cr_assert(der[0] == 0x30 && der[1] == 0x82);
    body = len - 4;
    cr_assert_eq(mtlsauthz_identity_from_der(&want, der, len, &err), 0, "%s", err.message);
    for (k = 0; k < 2; k++) {
        size_t n;
        if (k == 0) { /* a length in six octets */
            memcpy(buf, "\x30\x84\x00\x00", 4);
            buf[4] = der[2];
            buf[5] = der[3];
            memcpy(buf + 6, der + 4, body);
            n = body + 6;
        } else { /* indefinite, closed by end-of-contents */
            memcpy(buf, "\x30\x80", 2);
            memcpy(buf + 2, der + 4, body);
            memset(buf + 2 + body, 0, 2);
            n = body + 4;
        }
        cr_assert(!check_one(buf, n, "BER outer", (size_t)k), "the walker reads no BER");
        id = NULL;
        cr_assert_eq(mtlsauthz_identity_from_der(&id, buf, n, &err), MTLSAUTHZ_ECERT,
                     "from_der refuses the BER bytes: no fingerprint of a BER encoding");
        cr_assert_null(id);
        cr_assert(check_x509(buf, n, "BER outer", &reencoded), "OpenSSL parses BER lengths");
        cr_assert(reencoded, "the X509 encodes to DER, not to the BER it was parsed from");
        p = buf;
        x = d2i_X509(NULL, &p, (long)n);
        cr_assert_not_null(x);
        id = x509_identity(x, "BER outer");
        cr_assert(dc_identity_diff(id, want) == NULL,
                  "from_x509 of the BER certificate is from_der of the DER one: %s",
                  dc_identity_diff(id, want));
        cr_assert(X509_digest(x, EVP_sha256(), md, &md_len) && md_len == 32);
        sha256_field(got, id);
        cr_assert(memcmp(got, md, 32) == 0, "the fingerprint is X509_digest()'s");
        mtlsauthz_identity_free(id);
        X509_free(x);
    }
    mtlsauthz_identity_free(want);
    free(buf);
    free(der);
}

/*
 * Attack: BER inside the tbsCertificate (a CN whose length takes two octets). OpenSSL keeps
 * those bytes, so the X509's encoding holds them too: the walker falls back on it, and the
 * OpenSSL extractor reads the X509, giving what mtlsauthz_identity_from_der() gives for the
 * bytes received, fingerprint included.
 */
Test(der, x509_with_ber_in_the_tbs_falls_back_to_openssl)
{
    /* The CN's length in the long form: 0c 81 07 where DER has 0c 07 (X.690 §10.1). */
    spec s = with_subject(T(0x31, SEQ(2, T(0x06, H(CN_OID)), C(2, H("0c 81 07"), S("crafted")))));
    bld ber = make_cert(s);
    mtlsauthz_identity *want = NULL, *id;
    const unsigned char *p;
    mtlsauthz_error err;
    unsigned char md[32], got[32];
    size_t i;
    int reencoded = 1;
    X509 *x;

    for (i = 0; i + 3 <= ber.n && memcmp(ber.p + i, "\x0c\x81\x07", 3) != 0; i++) {
    }
    cr_assert(i + 3 <= ber.n, "the long-form length is in the certificate");
    cr_assert(!check_one(ber.p, ber.n, "BER in the TBS", 0), "the walker reads no BER");
    cr_assert(check_x509(ber.p, ber.n, "BER in the TBS", &reencoded));
    cr_assert(!reencoded, "the tbsCertificate keeps its received bytes");
    cr_assert_eq(mtlsauthz_identity_from_der(&want, ber.p, ber.n, &err), 0, "%s", err.message);
    p = ber.p;
    x = d2i_X509(NULL, &p, (long)ber.n);
    cr_assert_not_null(x);
    id = x509_identity(x, "BER in the TBS");
    cr_assert(dc_identity_diff(id, want) == NULL, "%s", dc_identity_diff(id, want));
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_CN, 0, "crafted");
    cr_assert(EVP_Digest(ber.p, ber.n, md, NULL, EVP_sha256(), NULL));
    sha256_field(got, id);
    cr_assert(memcmp(got, md, 32) == 0, "the fingerprint is of the bytes received");
    mtlsauthz_identity_free(id);
    mtlsauthz_identity_free(want);
    X509_free(x);
    free(ber.p);
}

/* from_x509 on `x` is from_der on i2d_X509(x), fingerprint included; returns the identity. */
static mtlsauthz_identity *x509_as_its_encoding(X509 *x, const char *what)
{
    unsigned char *enc = NULL, md[32], got[32];
    mtlsauthz_identity *id = x509_identity(x, what), *want = NULL;
    mtlsauthz_error err;
    int enc_len = i2d_X509(x, &enc);
    cr_assert_gt(enc_len, 0);
    cr_assert_eq(mtlsauthz_identity_from_der(&want, enc, (size_t)enc_len, &err), 0, "%s: %s", what,
                 err.message);
    cr_assert(dc_identity_diff(id, want) == NULL, "%s: %s", what, dc_identity_diff(id, want));
    cr_assert(EVP_Digest(enc, (size_t)enc_len, md, NULL, EVP_sha256(), NULL));
    sha256_field(got, id);
    cr_assert(memcmp(got, md, 32) == 0, "%s: the fingerprint is of the encoding", what);
    mtlsauthz_identity_free(want);
    OPENSSL_free(enc);
    return id;
}

/*
 * An X509 changed after it was parsed is read as it encodes. OpenSSL's setters leave the
 * received tbsCertificate bytes cached, so until i2d_re_X509_tbs() re-encodes them the X509
 * still encodes to, and is read as, the certificate whose signature was verified; after it,
 * as changed. Never a mix of the two.
 */
Test(der, x509_changed_after_parsing_is_read_as_it_encodes)
{
    size_t len;
    unsigned char *der = read_cert("plain.der", &len), *tbs = NULL;
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    X509_NAME *name = X509_NAME_new();
    mtlsauthz_identity *before = NULL, *id;
    mtlsauthz_error err;
    cr_assert(x != NULL && name != NULL);
    cr_assert_eq(mtlsauthz_identity_from_der(&before, der, len, &err), 0, "%s", err.message);
    cr_assert(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"changed",
                                         -1, -1, 0));
    cr_assert(X509_set_subject_name(x, name));

    id = x509_as_its_encoding(x, "changed, not re-encoded");
    cr_assert(dc_identity_diff(id, before) == NULL, "%s", dc_identity_diff(id, before));
    mtlsauthz_identity_free(id);

    cr_assert_gt(i2d_re_X509_tbs(x, &tbs), 0);
    id = x509_as_its_encoding(x, "changed and re-encoded");
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_SUBJECT_DN, 0, "CN=changed");
    mtlsauthz_identity_free(id);

    mtlsauthz_identity_free(before);
    OPENSSL_free(tbs);
    X509_NAME_free(name);
    X509_free(x);
    free(der);
}

/* A leaf whose encoding is larger than the stack buffer of mtlsauthz_identity_from_x509()
 * (4 KiB): plain.der with a subject of 30 localities of 128 bytes (the walker reads up to 32
 * attributes, and OpenSSL's upper bound for a locality is 128), re-encoded, parsed back. */
Test(der, x509_larger_than_the_stack_buffer)
{
    size_t len, i;
    unsigned char *der = read_cert("plain.der", &len), *enc = NULL, *tbs = NULL;
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    X509_NAME *name = X509_NAME_new();
    char loc[129];
    int enc_len, reencoded = 1;
    cr_assert(x != NULL && name != NULL);
    for (i = 0; i < 30; i++) {
        snprintf(loc, sizeof(loc), "%02zu%0126d", i, 0);
        cr_assert(X509_NAME_add_entry_by_txt(name, "L", MBSTRING_ASC, (const unsigned char *)loc,
                                             -1, -1, 0));
    }
    cr_assert(X509_set_subject_name(x, name));
    cr_assert_gt(i2d_re_X509_tbs(x, &tbs), 0);
    enc_len = i2d_X509(x, &enc);
    cr_assert_gt(enc_len, 4096);
    cr_assert(check_one(enc, (size_t)enc_len, "30 localities", 0), "the walker reads it");
    cr_assert(check_x509(enc, (size_t)enc_len, "30 localities", &reencoded));
    cr_assert(!reencoded);
    OPENSSL_free(enc);
    OPENSSL_free(tbs);
    X509_NAME_free(name);
    X509_free(x);
    free(der);
}

/* ---- crafted certificates ---- */

Test(der, crafted_baseline_and_v1)
{
    spec s;
    mtlsauthz_identity *id;
    memset(&s, 0, sizeof(s));
    id = crafted(s, 1, "baseline");
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_SUBJECT_DN, 0, "CN=crafted");
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_ISSUER_DN, 0, "");
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_SAN_DNS, 0, "a.example");
    mtlsauthz_identity_free(id);

    /* v1 (version absent, RFC 5280 §4.1.2.1) without extensions. */
    memset(&s, 0, sizeof(s));
    s.version = H("");
    s.exts = H("");
    s.no_exts = 1;
    crafted_free(s, 1, "v1");
    /* v1 with extensions, an explicit v1, and v2 are left to OpenSSL. */
    memset(&s, 0, sizeof(s));
    s.version = H("");
    crafted_free(s, 0, "v1 with extensions");
    memset(&s, 0, sizeof(s));
    s.version = H("a0 03 02 01 00");
    crafted_free(s, 0, "explicit v1");
    memset(&s, 0, sizeof(s));
    s.version = H("a0 03 02 01 01");
    crafted_free(s, 0, "v2");
    memset(&s, 0, sizeof(s));
    s.version = H("a0 04 02 02 00 02");
    crafted_free(s, 0, "padded version");
    /* Unique identifiers (§4.1.2.8) are skipped. */
    memset(&s, 0, sizeof(s));
    s.uids = H("81 02 00 aa 82 03 04 bb c0");
    crafted_free(s, 1, "unique ids");
    memset(&s, 0, sizeof(s));
    s.uids = H("81 01 08");
    crafted_free(s, 0, "unique id with 8 unused bits");
}

Test(der, crafted_serials)
{
    static const struct {
        const char *hex, *text;
        int supported;
    } cases[] = {
        {"ff 7f", "-81", 1},
        {"ff 00 00", "-10000", 1},
        {"80", "-80", 1},
        {"ff", "-1", 1},
        {"00 80", "80", 1},
        {"00", "0", 1},
        {"01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10 11 12 13 14 15 16 17 18 19 1a",
         "102030405060708090a0b0c0d0e0f101112131415161718191a", 1},
        {"00 7f", NULL, 0}, /* X.690 §8.3.2: not minimal; OpenSSL refuses it too */
        {"ff 80", NULL, 0},
        {"", NULL, 0},
    };
    size_t i;
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(cases); i++) {
        spec s;
        mtlsauthz_identity *id;
        memset(&s, 0, sizeof(s));
        s.serial = H(cases[i].hex);
        id = crafted(s, cases[i].supported, cases[i].hex);
        if (id != NULL) {
            assert_value(id, MTLSAUTHZ_FIELD_SERIAL, 0, cases[i].text, strlen(cases[i].text));
        }
        mtlsauthz_identity_free(id);
    }
}

Test(der, crafted_algorithm_parameters)
{
    static const struct {
        const char *oid, *params;
        int supported;
    } cases[] = {
        {"2a 86 48 86 f7 0d 01 01 0b", "05 00", 1},       /* sha256WithRSAEncryption, NULL */
        {"2a 86 48 86 f7 0d 01 01 0a", "30 00", 1},       /* RSASSA-PSS, a SEQUENCE */
        {"2a 86 48 ce 3d 04 03 02", "06 01 2a", 1},       /* an OID */
        {"2b 65 70", "", 1},                              /* Ed25519, absent */
        {"2a 86 48 86 f7 0d 01 01 0b", "05 01 00", 0},    /* NULL with content */
        {"2a 86 48 86 f7 0d 01 01 0b", "01 01 ff", 0},    /* a BOOLEAN */
        {"2a 86 48 86 f7 0d 01 01 0b", "05 00 05 00", 0}, /* two parameters */
        {"2a 86 48 86 f7 0d 01 01 0b", "06 00", 0},       /* an empty OID */
        {"2a 80", "", 0},                                 /* a bad OID */
        {"", "", 0},
    };
    size_t i;
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(cases); i++) {
        spec s;
        memset(&s, 0, sizeof(s));
        s.sig_alg = cases[i].oid[0] == '\0' ? H("30 00")
                                            : SEQ(2, T(0x06, H(cases[i].oid)), H(cases[i].params));
        crafted_free(s, cases[i].supported, cases[i].oid);
    }
}

#define EC_ALG SEQ(1, T(0x06, H("2a 86 48 ce 3d 02 01")))

Test(der, crafted_public_keys)
{
    spec s;
    memset(&s, 0, sizeof(s));
    /* A key that does not decode matters to OpenSSL only when used; its shape is enough. */
    s.spki = SEQ(2, EC_ALG, T(0x03, H("00")));
    crafted_free(s, 1, "empty EC key");
    memset(&s, 0, sizeof(s));
    s.spki = SEQ(2, EC_ALG, T(0x03, H("08")));
    crafted_free(s, 0, "8 unused bits");
    memset(&s, 0, sizeof(s));
    s.spki = SEQ(2, EC_ALG, T(0x03, H("")));
    crafted_free(s, 0, "empty BIT STRING");
    memset(&s, 0, sizeof(s));
    s.spki = SEQ(3, EC_ALG, T(0x03, H("00")), H("05 00"));
    crafted_free(s, 0, "extra element");
    memset(&s, 0, sizeof(s));
    s.spki = SEQ(1, T(0x03, H("00")));
    crafted_free(s, 0, "no algorithm");
}

Test(der, crafted_dn_escaping)
{
    static const struct {
        const char *value, *dn;
    } cases[] = {
        {"#hash", "CN=\\#hash"},
        {"#", "CN=#"}, /* one character counts as the last only (OpenSSL's do_buf) */
        {"a#", "CN=a#"},
        {" ", "CN=\\ "},
        {" lead", "CN=\\ lead"},
        {"trail ", "CN=trail\\ "},
        {"in side", "CN=in side"},
        {"a,b+c;d<e>f\"g\\h=i", "CN=a\\,b\\+c\\;d\\<e\\>f\\\"g\\\\h=i"},
        {"tab\tdel\x7f", "CN=tab\\09del\\7F"},
        {"", "CN="},
        {"caf\xc3\xa9", "CN=caf\xc3\xa9"},
    };
    size_t i;
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(cases); i++) {
        mtlsauthz_identity *id =
            crafted(with_subject(RDN(CN_OID, 0x0c, S(cases[i].value))), 1, cases[i].value);
        assert_value(id, MTLSAUTHZ_FIELD_SUBJECT_DN, 0, cases[i].dn, strlen(cases[i].dn));
        mtlsauthz_identity_free(id);
    }
}

Test(der, crafted_string_types)
{
    static const struct {
        unsigned char tag;
        const char *hex, *dn;
        int supported;
    } cases[] = {
        {0x13, "41 e9", "CN=A\xc3\xa9", 1},           /* Printable, Latin-1 */
        {0x14, "5a 6f eb", "CN=Zo\xc3\xab", 1},       /* T61 read as Latin-1 */
        {0x16, "23 61", "CN=\\#a", 1},                /* IA5 */
        {0x12, "31 20 32", "CN=1 2", 1},              /* Numeric */
        {0x1e, "00 5a 03 a9", "CN=Z\xce\xa9", 1},     /* BMP */
        {0x1e, "00 23", "CN=#", 1},                   /* BMP, one char */
        {0x1e, "00 20 00 41 00 20", "CN=\\ A\\ ", 1}, /* BMP, ends */
        {0x1c, "00 01 f6 00 00 00 00 41",
         "CN=\xf0\x9f\x98\x80"
         "A",
         1}, /* Universal */
        {0x0c, "c3 a9 00 41",
         "CN=\xc3\xa9\\00"
         "A",
         1},                            /* NUL kept */
        {0x1e, "d8 00", NULL, 0},       /* lone surrogate */
        {0x1e, "00 41 00", NULL, 0},    /* odd length */
        {0x1c, "00 11 00 00", NULL, 0}, /* above U+10FFFF */
        {0x1c, "00 00 41", NULL, 0},
        {0x0c, "c0 80", NULL, 0},       /* overlong */
        {0x0c, "ed a0 80", NULL, 0},    /* surrogate */
        {0x0c, "f4 90 80 80", NULL, 0}, /* above U+10FFFF */
        {0x0c, "e2 82", NULL, 0},       /* truncated */
        {0x0c, "ff", NULL, 0},
        {0x1a, "41", NULL, 0}, /* VisibleString: OpenSSL's names take no such type */
        {0x04, "41", NULL, 0},
        {0x03, "00 41", NULL, 0},
        {0x2c, "0c 01 41", NULL, 0}, /* constructed UTF8String (BER) */
    };
    size_t i;
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(cases); i++) {
        mtlsauthz_identity *id = crafted(with_subject(RDN(CN_OID, cases[i].tag, H(cases[i].hex))),
                                         cases[i].supported, cases[i].hex);
        if (id != NULL) {
            assert_value(id, MTLSAUTHZ_FIELD_SUBJECT_DN, 0, cases[i].dn, strlen(cases[i].dn));
            cr_assert_eq(mtlsauthz_identity_count(id, MTLSAUTHZ_FIELD_CN), 1);
        }
        mtlsauthz_identity_free(id);
    }
}

Test(der, crafted_names)
{
    mtlsauthz_identity *id;
    spec s;
    size_t i;
    bld many;

    /* A multi-valued RDN: OpenSSL reverses its values too (RFC 2253 §2.2 leaves it open). */
    id = crafted(with_subject(C(2, RDN(C_OID, 0x13, S("US")),
                                T(0x31, C(3, ATV(O_OID, 0x0c, S("a")), ATV(OU_OID, 0x0c, S("b")),
                                          ATV(CN_OID, 0x0c, S("c")))))),
                 1, "multi-valued");
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_SUBJECT_DN, 0, "CN=c+OU=b+O=a,C=US");
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_CN, 0, "c");
    mtlsauthz_identity_free(id);

    /* Types outside the walker's table: OpenSSL's table names them, or the OID and #hex. */
    id = crafted(with_subject(C(4, RDN("09 92 26 89 93 f2 2c 64 01 03", 0x16, S("m@x")),
                                RDN("55 04 64", 0x0c, S("d")), RDN("2a 03 04", 0x0c, S("x")),
                                RDN("2a 03 05", 0x1e, H("00 00")))),
                 1, "other types");
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_SUBJECT_DN, 0,
                 "1.2.3.5=#1E020000,1.2.3.4=#0C0178,dnsName=d,mail=m@x");
    cr_assert_str_eq(mtlsauthz_identity_rejected(id), "NUL byte in subject DN attribute");
    mtlsauthz_identity_free(id);

    /* OpenSSL prints an unknown type's OID into 80 bytes (do_name_ex()): a long one is cut. */
    id = crafted(
        with_subject(RDN("2a 03 03 03 03 03 03 03 03 03 03 03 03 03 03 03 03 03 03 03 03 03 "
                         "03 03 03 03 03 03 03 03 03 03 03 03 03 03 03 03 03 03 03 03 03",
                         0x0c, S("v"))),
        1, "long unknown OID");
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_SUBJECT_DN, 0,
                 "1.2.3.3.3.3.3.3.3.3.3.3.3.3.3.3.3.3.3.3.3.3.3.3.3.3.3.3.3.3.3.3.3.3.3.3.3.3.3.3="
                 "#0C0176");
    mtlsauthz_identity_free(id);

    /* A NUL in an attribute other than CN, O and OU rejects the identity. */
    id = crafted(with_subject(RDN(C_OID, 0x13, H("55 00"))), 1, "NUL in C");
    cr_assert_str_eq(mtlsauthz_identity_rejected(id), "NUL byte in subject DN attribute");
    mtlsauthz_identity_free(id);

    /* An empty subject (common in SPIFFE SVIDs). */
    memset(&s, 0, sizeof(s));
    s.subject = H("");
    id = crafted(s, 1, "empty subject");
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_SUBJECT_DN, 0, "");
    cr_assert_eq(mtlsauthz_identity_count(id, MTLSAUTHZ_FIELD_CN), 0);
    mtlsauthz_identity_free(id);

    crafted_free(with_subject(H("31 00")), 0, "empty RDN");
    crafted_free(with_subject(T(0x31, SEQ(1, T(0x06, H("55 04 03"))))), 0, "no value");
    crafted_free(
        with_subject(T(0x31, SEQ(3, T(0x06, H(CN_OID)), T(0x0c, S("a")), T(0x0c, S("b"))))), 0,
        "two values");
    crafted_free(with_subject(RDN("55 84 80 03", 0x0c, S("a"))), 1, "long-form arc");
    crafted_free(with_subject(RDN("55 80 03", 0x0c, S("a"))), 0, "OID with 0x80 padding");
    crafted_free(with_subject(T(0x30, ATV(CN_OID, 0x0c, S("a")))), 0, "SEQUENCE for SET");

    /* 32 attributes are read; more are left to OpenSSL. */
    many = H("");
    for (i = 0; i < 32; i++) {
        many = C(2, many, RDN(OU_OID, 0x0c, S("u")));
    }
    id = crafted(with_subject(C(1, many)), 1, "32 attributes");
    cr_assert_eq(mtlsauthz_identity_count(id, MTLSAUTHZ_FIELD_OU), 32);
    mtlsauthz_identity_free(id);
    many = H("");
    for (i = 0; i < 33; i++) {
        many = C(2, many, RDN(OU_OID, 0x0c, S("u")));
    }
    crafted_free(with_subject(many), 0, "33 attributes");
}

Test(der, crafted_times)
{
    static const struct {
        unsigned char tag;
        const char *text, *rfc3339;
    } cases[] = {
        {0x17, "491231235959Z", "2049-12-31T23:59:59Z"},
        {0x17, "500101000000Z", "1950-01-01T00:00:00Z"},
        {0x18, "20240229120000Z", "2024-02-29T12:00:00Z"},
        {0x18, "20000229000000Z", "2000-02-29T00:00:00Z"},
        {0x18, "00000101000000Z", "0000-01-01T00:00:00Z"},
        {0x18, "99991231235959Z", "9999-12-31T23:59:59Z"},
        {0x17, "230229000000Z", NULL},
        {0x18, "21000229000000Z", NULL},
        {0x18, "20240431000000Z", NULL},
        {0x18, "20241301000000Z", NULL},
        {0x18, "20240001000000Z", NULL},
        {0x18, "20240100000000Z", NULL},
        {0x18, "20240101240000Z", NULL},
        {0x18, "20240101006000Z", NULL},
        {0x18, "20240101000060Z", NULL},
        {0x17, "2401010000Z", NULL},       /* no seconds: OpenSSL takes it, RFC 5280 not */
        {0x17, "240101000000+0100", NULL}, /* offset */
        {0x18, "20240101000000.5Z", NULL}, /* fraction */
        {0x18, "20240101000000z", NULL},
        {0x18, "2024010100000Z", NULL},
        {0x17, "20240101000000Z", NULL}, /* GeneralizedTime text as UTCTime */
        {0x18, "240101000000Z", NULL},
        {0x18, "2024010100 000Z", NULL},
        {0x04, "240101000000Z", NULL},
    };
    size_t i;
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(cases); i++) {
        mtlsauthz_identity *id = crafted(
            with_validity(C(2, T(cases[i].tag, S(cases[i].text)), T(0x18, S("20510102030405Z")))),
            cases[i].rfc3339 != NULL, cases[i].text);
        if (id != NULL) {
            assert_value(id, MTLSAUTHZ_FIELD_NOT_BEFORE, 0, cases[i].rfc3339,
                         strlen(cases[i].rfc3339));
        }
        mtlsauthz_identity_free(id);
    }
}

Test(der, crafted_extensions)
{
    spec s;

    /* A second subjectAltName makes X509_get_ext_d2i() fail: left to OpenSSL, which refuses. */
    crafted_free(with_exts(C(2, ext(SAN_OID, SEQ(1, T(0x82, S("a")))),
                             ext(SAN_OID, SEQ(1, T(0x82, S("b")))))),
                 0, "two SANs");
    crafted_free(with_exts(C(2, ext(EKU_OID, SEQ(1, T(0x06, H("2b 06 01 05 05 07 03 02")))),
                             ext(EKU_OID, SEQ(1, T(0x06, H("2b 06 01 05 05 07 03 01")))))),
                 0, "two EKUs");
    crafted_free(with_exts(C(2, ext(BC_OID, H("30 00")), ext(BC_OID, H("30 00")))), 0, "two BCs");
    /* A repeated extension the identity does not read is OpenSSL's concern only at use. */
    crafted_free(with_exts(C(3, ext("55 1d 0e", H("04 01 aa")), ext("55 1d 0e", H("04 01 aa")),
                             ext(SAN_OID, SEQ(1, T(0x82, S("a")))))),
                 1, "two subject key identifiers");
    /* keyUsage is read now (X.509-SVID rules): two of them fail closed, like two SANs. */
    crafted_free(with_exts(C(3, ext(KU_OID, H(KU_DS)), ext(KU_OID, H(KU_DS)),
                             ext(SAN_OID, SEQ(1, T(0x82, S("a")))))),
                 0, "two key usages");
    /* Critical: DER TRUE only. */
    crafted_free(
        with_exts(SEQ(3, T(0x06, H(SAN_OID)), H("01 01 ff"), T(0x04, SEQ(1, T(0x82, S("a")))))), 1,
        "critical TRUE");
    crafted_free(
        with_exts(SEQ(3, T(0x06, H(SAN_OID)), H("01 01 00"), T(0x04, SEQ(1, T(0x82, S("a")))))), 0,
        "explicit FALSE");
    crafted_free(
        with_exts(SEQ(3, T(0x06, H(SAN_OID)), H("01 01 01"), T(0x04, SEQ(1, T(0x82, S("a")))))), 0,
        "BER TRUE");
    crafted_free(with_exts(SEQ(2, T(0x06, H(SAN_OID)), T(0x24, T(0x04, SEQ(1, T(0x82, S("a"))))))),
                 0, "constructed OCTET STRING");
    crafted_free(with_exts(ext("2a 03 04", H(""))), 1, "unknown, empty value");
    memset(&s, 0, sizeof(s));
    s.exts = H("");
    crafted_free(s, 0, "empty extensions");
    crafted_free(with_exts(ext("2a 80 03", H(""))), 0, "bad extension OID");
}

Test(der, crafted_subject_alt_names)
{
    mtlsauthz_identity *id;

    id =
        crafted(with_exts(C(2, ext(KU_OID, H(KU_DS)),
                            ext(SAN_OID, SEQ(5, T(0x81, S("a@b")), T(0x82, S("x.example")),
                                             T(0x86, S("spiffe://td/x")), T(0x87, H("0a 00 00 01")),
                                             T(0x87, H("00 00 00 00 00 00 00 00 00 00 00 00 00 "
                                                       "00 00 01")))))),
                1, "every supported form");
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_SAN_EMAIL, 0, "a@b");
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_SAN_DNS, 0, "x.example");
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_SPIFFE_ID, 0, "spiffe://td/x");
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_SAN_IP, 1, "::1");
    cr_assert_null(mtlsauthz_identity_rejected(id));
    mtlsauthz_identity_free(id);

    /* IA5String (RFC 5280 §4.2.1.6) content octets are kept as they are, never read as
     * Latin-1, and a byte from 0x80 up rejects the identity. */
    id = crafted(with_exts(ext(SAN_OID, SEQ(1, T(0x82, H("e9 2e 78"))))), 1, "Latin-1 DNS");
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_SAN_DNS, 0, "\xe9.x");
    cr_assert_str_eq(mtlsauthz_identity_rejected(id), "non-ASCII byte in DNS SAN");
    mtlsauthz_identity_free(id);
    id = crafted(with_exts(ext(SAN_OID, SEQ(1, T(0x81, H("c3 a9 40 78"))))), 1, "UTF-8 email");
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_SAN_EMAIL, 0, "\xc3\xa9@x");
    cr_assert_str_eq(mtlsauthz_identity_rejected(id), "non-ASCII byte in email SAN");
    mtlsauthz_identity_free(id);
    id = crafted(with_exts(ext(SAN_OID, SEQ(2, T(0x82, S("a")), T(0x86, S("spiffe://td/\x80"))))),
                 1, "0x80 in a spiffe URI");
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_SAN_URI, 0, "spiffe://td/\x80");
    cr_assert_str_eq(mtlsauthz_identity_rejected(id), "non-ASCII byte in URI SAN");
    cr_assert_eq(mtlsauthz_identity_count(id, MTLSAUTHZ_FIELD_SPIFFE_ID), 0);
    mtlsauthz_identity_free(id);
    id = crafted(with_exts(ext(SAN_OID, SEQ(1, T(0x82, H(""))))), 1, "empty DNS");
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_SAN_DNS, 0, "");
    mtlsauthz_identity_free(id);

    id = crafted(with_exts(ext(SAN_OID, SEQ(1, T(0x87, H("01 02 03 04 05"))))), 1, "5-byte IP");
    cr_assert_str_eq(mtlsauthz_identity_rejected(id), "malformed iPAddress SAN");
    mtlsauthz_identity_free(id);

    id = crafted(with_exts(ext(SAN_OID, SEQ(1, T(0x82, H("61 00 62"))))), 1, "NUL in DNS");
    cr_assert_str_eq(mtlsauthz_identity_rejected(id), "NUL byte in DNS SAN");
    mtlsauthz_identity_free(id);

    /* Forms the walker leaves to OpenSSL. */
    crafted_free(with_exts(ext(SAN_OID, SEQ(1, T(0xa0, C(2, T(0x06, H("2a 03")),
                                                         T(0xa0, T(0x0c, S("u")))))))),
                 0, "otherName");
    crafted_free(with_exts(ext(SAN_OID, SEQ(1, T(0x88, H("2a 03 04"))))), 0, "registeredID");
    crafted_free(with_exts(ext(SAN_OID, SEQ(1, T(0xa4, SEQ(1, RDN(CN_OID, 0x0c, S("x"))))))), 0,
                 "directoryName");
    crafted_free(with_exts(ext(SAN_OID, SEQ(1, T(0xa2, T(0x04, S("a")))))), 0,
                 "constructed dNSName");
    crafted_free(with_exts(ext(SAN_OID, H("30 00"))), 0, "empty GeneralNames");
    crafted_free(with_exts(ext(SAN_OID, C(2, SEQ(1, T(0x82, S("a"))), H("00")))), 0,
                 "trailing byte in extnValue");
    crafted_free(with_exts(ext(SAN_OID, H(""))), 0, "empty extnValue");
}

Test(der, crafted_key_usages_and_constraints)
{
    mtlsauthz_identity *id;

    id = crafted(with_exts(ext(EKU_OID, SEQ(3, T(0x06, H("2b 06 01 05 05 07 03 02")),
                                            T(0x06, H("81 80 80 80 80 80 80 80 80 00 01")),
                                            T(0x06, H("88 37 03"))))),
                 1, "EKUs");
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_EKU, 0, "clientAuth");
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_EKU, 1, "2.9223372036854775728.1");
    ASSERT_VALUE(id, MTLSAUTHZ_FIELD_EKU, 2, "2.999.3");
    mtlsauthz_identity_free(id);
    /* An arc past 64 bits takes OpenSSL's BIGNUM path: left to it. */
    crafted_free(with_exts(ext(EKU_OID, SEQ(1, T(0x06, H("2a 82 80 80 80 80 80 80 80 80 00"))))), 0,
                 "huge arc");
    crafted_free(with_exts(ext(EKU_OID, H("30 00"))), 0, "empty EKU");
    crafted_free(with_exts(ext(EKU_OID, SEQ(1, T(0x0c, S("x"))))), 0, "EKU not an OID");

    /* basicConstraints cA (RFC 5280 §4.2.1.9) decides whether a SPIFFE leaf is a CA. */
    id = crafted(with_exts(C(3, ext(BC_OID, H("30 06 01 01 ff 02 01 00")), ext(KU_OID, H(KU_DS)),
                             ext(SAN_OID, SEQ(1, T(0x86, S("spiffe://td/x")))))),
                 1, "CA with pathlen");
    cr_assert_str_eq(mtlsauthz_identity_rejected(id), "invalid SPIFFE ID: leaf is a CA");
    mtlsauthz_identity_free(id);
    id = crafted(with_exts(C(3, ext(BC_OID, H("30 03 02 01 05")), ext(KU_OID, H(KU_DS)),
                             ext(SAN_OID, SEQ(1, T(0x86, S("spiffe://td/x")))))),
                 1, "pathlen only");
    cr_assert(mtlsauthz_identity_rejected(id) == NULL);
    mtlsauthz_identity_free(id);
    crafted_free(with_exts(ext(BC_OID, H("30 03 01 01 00"))), 0, "explicit FALSE");
    crafted_free(with_exts(ext(BC_OID, H("30 03 01 01 01"))), 0, "BER TRUE");
    crafted_free(with_exts(ext(BC_OID, H("30 06 02 01 00 01 01 ff"))), 0, "wrong order");
    crafted_free(with_exts(ext(BC_OID, H("30 04 02 02 00 05"))), 0, "padded pathlen");
}

/*
 * keyUsage (RFC 5280 §4.2.1.3) on a SPIFFE leaf: the walker reads the DER forms itself and
 * leaves every other form to OpenSSL, and both give the X.509-SVID verdict (X509-SVID spec
 * §4.3). `reason` NULL means a valid SVID.
 */
Test(der, crafted_key_usage)
{
    static const struct {
        const char *ku; /* the extnValue, or NULL for no keyUsage extension */
        int supported;
        const char *reason;
    } cases[] = {
        {"03 02 07 80", 1, NULL},    /* digitalSignature */
        {"03 02 05 a0", 1, NULL},    /* + keyEncipherment */
        {"03 02 03 88", 1, NULL},    /* + keyAgreement */
        {"03 03 07 80 80", 1, NULL}, /* + decipherOnly, the ninth bit */
        {"03 03 07 88 80", 1, NULL}, /* + keyAgreement + decipherOnly */
        {"03 02 02 84", 1, "leaf keyUsage has keyCertSign"},
        {"03 02 01 82", 1, "leaf keyUsage has cRLSign"},
        {"03 02 01 86", 1, "leaf keyUsage has keyCertSign"}, /* both: keyCertSign first */
        {"03 02 01 06", 1, "leaf keyUsage lacks digitalSignature"},
        {"03 02 06 40", 1, "leaf keyUsage lacks digitalSignature"},    /* nonRepudiation only */
        {"03 03 07 00 80", 1, "leaf keyUsage lacks digitalSignature"}, /* decipherOnly only */
        {"03 01 00", 1, "leaf keyUsage lacks digitalSignature"},       /* no bits */
        {NULL, 1, "leaf has no keyUsage extension"},
        /* Not DER (X.690 §11.2): left to OpenSSL, which reads the same bits. */
        {"03 02 00 80", 0, NULL},                                /* trailing zero bits */
        {"03 02 07 81", 0, NULL},                                /* an unused bit set */
        {"03 03 00 80 00", 0, NULL},                             /* a zero octet at the end */
        {"03 01 07", 0, "leaf keyUsage lacks digitalSignature"}, /* unused bits, no octets */
        {"03 02 07 80 00", 0, NULL},                             /* a byte after the BIT STRING */
        {"03 03 06 80 40", 0, NULL},                             /* bit 9: not a named bit */
        {"03 04 07 80 00 80", 0, NULL},                          /* three octets */
        /* Malformed: left to OpenSSL, which refuses the certificate. */
        {"03 02 08 80", 0, NULL},
        {"03 00", 0, NULL},
        {"04 02 07 80", 0, NULL},
        {"", 0, NULL},
    };
    size_t i;
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(cases); i++) {
        const char *what = cases[i].ku != NULL ? cases[i].ku : "no keyUsage";
        bld sans = ext(SAN_OID, SEQ(1, T(0x86, S("spiffe://td/x"))));
        bld exts = cases[i].ku != NULL ? C(2, ext(KU_OID, H(cases[i].ku)), sans) : sans;
        bld der = make_cert(with_exts(exts));
        const unsigned char *certs[1] = {der.p};
        mtlsauthz_identity *id = NULL;
        mtlsauthz_error err;
        char want[128];
        int ok = check_one(der.p, der.n, what, 0);
        cr_assert_eq(ok, cases[i].supported, "%s: walker %s", what, ok ? "succeeded" : "fell back");
        if (mtlsauthz__x509_from_der_certs(&id, certs, &der.n, 1, &err) == 0) {
            const char *got = mtlsauthz_identity_rejected(id);
            if (cases[i].reason == NULL) {
                cr_assert_null(got, "%s: rejected: %s", what, got);
                cr_assert_eq(mtlsauthz_identity_count(id, MTLSAUTHZ_FIELD_SPIFFE_ID), 1, "%s",
                             what);
            } else {
                snprintf(want, sizeof(want), "invalid SPIFFE ID: %s", cases[i].reason);
                cr_assert(got != NULL && strcmp(got, want) == 0, "%s: %s", what, got);
                cr_assert_eq(mtlsauthz_identity_count(id, MTLSAUTHZ_FIELD_SPIFFE_ID), 0, "%s",
                             what);
            }
        } else {
            cr_assert(!cases[i].supported && cases[i].reason == NULL, "%s: %s", what, err.message);
            cr_assert(strstr(err.message, "keyUsage") != NULL, "%s: %s", what, err.message);
        }
        mtlsauthz_identity_free(id);
        free(der.p);
    }

    /* Two keyUsage extensions (RFC 5280 §4.2 allows one) fail closed, as two SANs do. */
    {
        bld der = make_cert(with_exts(C(3, ext(KU_OID, H(KU_DS)), ext(KU_OID, H(KU_DS)),
                                        ext(SAN_OID, SEQ(1, T(0x86, S("spiffe://td/x")))))));
        mtlsauthz_identity *id = NULL;
        mtlsauthz_error err;
        cr_assert(!check_one(der.p, der.n, "two key usages", 0));
        cr_assert_eq(mtlsauthz_identity_from_der(&id, der.p, der.n, &err), MTLSAUTHZ_ECERT);
        cr_assert(strstr(err.message, "more than one keyUsage") != NULL, "%s", err.message);
        free(der.p);
    }
    /* Without a spiffe URI keyUsage decides nothing: this is just a certificate. */
    {
        mtlsauthz_identity *id =
            crafted(with_exts(C(2, ext(KU_OID, H("03 02 01 06")),
                                ext(SAN_OID, SEQ(1, T(0x82, S("a.example")))))),
                    1, "keyCertSign without a spiffe URI");
        cr_assert_null(mtlsauthz_identity_rejected(id));
        mtlsauthz_identity_free(id);
    }
}

Test(der, crafted_unsupported_framing)
{
    spec s;
    /* High tag number form (X.690 §8.1.2.4) and trailing TBS elements. */
    memset(&s, 0, sizeof(s));
    s.uids = H("9f 1f 00");
    crafted_free(s, 0, "high tag number");
    memset(&s, 0, sizeof(s));
    s.exts = H("");
    s.no_exts = 1;
    s.uids = H("05 00");
    crafted_free(s, 0, "trailing NULL in TBS");
    memset(&s, 0, sizeof(s));
    s.uids = H("82 01 00 81 01 00");
    crafted_free(s, 0, "unique ids out of order");
}

/* ---- the element reader's bounds ---- */

/*
 * mtlsauthz__der_read_header() on `hex` copied to a heap buffer of exactly `avail` bytes (at
 * most the bytes given, padded with 0x00 content), so that ASan sees any read past it.
 * Returns the reader's result; *hdr and *clen receive what it read.
 */
static int read_header(const char *hex, size_t avail, size_t *hdr, size_t *clen)
{
    bld b = H(hex);
    unsigned char *buf = malloc(avail > 0 ? avail : 1), tag = 0;
    int rc;
    cr_assert(buf != NULL);
    memset(buf, 0, avail);
    memcpy(buf, b.p, b.n < avail ? b.n : avail);
    *hdr = *clen = (size_t)-1;
    rc = mtlsauthz__der_read_header(&tag, hdr, clen, buf, avail);
    if (rc == 0) {
        cr_assert_eq(tag, b.p[0]);
        cr_assert_leq(*hdr + *clen, avail, "the element runs past what remains");
    }
    free(buf);
    free(b.p);
    return rc;
}

/*
 * The boundary every read in the walker rests on (X.690 §8.1.3): a length equal to what
 * remains after the header is read, one more is refused, in each length form. A reader that
 * took one byte too many would not show in the walker's results (its callers then see a
 * wrapped counter and fall back), so it is tested here on its own.
 */
Test(der, reader_length_boundary)
{
    static const struct {
        const char *hex; /* identifier and length octets */
        size_t hdr, len; /* header length, content length */
    } forms[] = {
        {"04 00", 2, 0},
        {"04 01", 2, 1},
        {"04 7f", 2, 0x7f},
        {"04 81 80", 3, 0x80},
        {"04 81 ff", 3, 0xff},
        {"04 82 01 00", 4, 0x100},
        {"30 82 ff ff", 4, 0xffff},
        {"30 83 01 00 00", 5, 0x10000},
    };
    size_t i, hdr, clen;
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(forms); i++) {
        size_t exact = forms[i].hdr + forms[i].len;
        cr_assert_eq(read_header(forms[i].hex, exact, &hdr, &clen), 0, "%s: exactly what remains",
                     forms[i].hex);
        cr_assert_eq(hdr, forms[i].hdr, "%s", forms[i].hex);
        cr_assert_eq(clen, forms[i].len, "%s", forms[i].hex);
        cr_assert_eq(read_header(forms[i].hex, exact + 1, &hdr, &clen), 0, "%s: one byte spare",
                     forms[i].hex);
        cr_assert_eq(clen, forms[i].len, "%s: the spare byte is not content", forms[i].hex);
        cr_assert_eq(read_header(forms[i].hex, exact - 1, &hdr, &clen), -1,
                     "%s: a length one byte past what remains was taken", forms[i].hex);
    }
}

Test(der, reader_refuses_malformed_headers)
{
    static const struct {
        const char *hex;
        size_t avail;
    } bad[] = {
        {"", 0},                        /* nothing */
        {"04", 1},                      /* no length octet */
        {"04 81", 2},                   /* the length octet is missing */
        {"04 82 01", 3},                /* one of two length octets is missing */
        {"04 83 01 00", 4},             /* one of three */
        {"04 80 00 00", 4},             /* indefinite (BER, X.690 §8.1.3.6) */
        {"04 81 05 00 00 00 00 00", 8}, /* long form for a short length (X.690 §10.1) */
        {"04 82 00 80", 0x84},          /* a leading zero length octet */
        {"04 84 00 00 00 01 00", 7},    /* four length octets */
        {"1f 01 00", 3},                /* high tag number form (X.690 §8.1.2.4) */
        {"04 ff", 2},
    };
    size_t i, hdr, clen;
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(bad); i++) {
        cr_assert_eq(read_header(bad[i].hex, bad[i].avail, &hdr, &clen), -1, "%s", bad[i].hex);
    }
    cr_assert_eq(mtlsauthz__der_read_header(NULL, &hdr, &clen, (const unsigned char *)"", 0), -1);
}

/*
 * A certificate whose last subjectAltName claims one byte more than its GeneralNames holds.
 * The byte after the GeneralNames is the tag of the signatureAlgorithm that follows the TBS,
 * and that algorithm's long-form length octets (81 82), read as the next element, make an
 * rfc822Name claiming 0x0608 bytes: a reader that took the one-byte overrun would copy far
 * past the end of the buffer, which ASan reports (`make check-asan`). The walker must fall
 * back, and OpenSSL refuses the extension.
 */
static int contains(bld hay, const char *needle, size_t n)
{
    size_t i;
    for (i = 0; i + n <= hay.n; i++) {
        if (memcmp(hay.p + i, needle, n) == 0) {
            return 1;
        }
    }
    return 0;
}

Test(der, crafted_last_san_overruns_by_one)
{
    spec s;
    bld der, filler = b_raw("", 0);
    mtlsauthz_identity *id = (mtlsauthz_identity *)&s;
    mtlsauthz_error err;
    memset(&s, 0, sizeof(s));
    /* "82 02 62": a dNSName of two bytes, with one left. */
    s.exts = ext(SAN_OID, T(0x30, H("82 09 61 2e 65 78 61 6d 70 6c 65 82 02 62")));
    /* ecdsa-with-SHA256 with a SEQUENCE parameter, 10 + 120 = 0x82 content bytes. */
    filler.p = realloc(filler.p, 118);
    cr_assert(filler.p != NULL);
    memset(filler.p, 0x82, 118);
    filler.n = 118;
    s.outer_alg = T(0x30, C(2, T(0x06, H("2a 86 48 ce 3d 04 03 02")), T(0x30, filler)));
    der = make_cert(s);
    cr_assert(contains(der, "\x62\x30\x81\x82\x06\x08", 6),
              "the overrun is followed by the crafted algorithm");
    cr_assert(!check_one(der.p, der.n, "last SAN one byte over", 0), "the walker took it");
    cr_assert_eq(mtlsauthz_identity_from_der(&id, der.p, der.n, &err), MTLSAUTHZ_ECERT);
    cr_assert_null(id);
    cr_assert(strstr(err.message, "subjectAltName") != NULL, "%s", err.message);
    free(der.p);
}

/* The same for the last extended key usage: one byte over its list. */
Test(der, crafted_last_eku_overruns_by_one)
{
    mtlsauthz_identity *id = (mtlsauthz_identity *)&id;
    mtlsauthz_error err;
    bld der =
        make_cert(with_exts(ext(EKU_OID, T(0x30, H("06 08 2b 06 01 05 05 07 03 02 06 03 2a 03")))));
    cr_assert(!check_one(der.p, der.n, "last EKU one byte over", 0), "the walker took it");
    cr_assert_eq(mtlsauthz_identity_from_der(&id, der.p, der.n, &err), MTLSAUTHZ_ECERT);
    cr_assert_null(id);
    cr_assert(strstr(err.message, "extendedKeyUsage") != NULL, "%s", err.message);
    free(der.p);
}

/* ---- the OID text and the attribute table ---- */

static void check_oid_text(const unsigned char *oid, size_t len)
{
    unsigned char tlv[3 + MTLSAUTHZ__DER_MAX_OID];
    char mine[1024], theirs[1024];
    const unsigned char *p = tlv;
    ASN1_OBJECT *obj;
    size_t hdr = len < 0x80 ? 2 : 3;
    int n, m;
    cr_assert(len <= MTLSAUTHZ__DER_MAX_OID && len < 0x100);
    tlv[0] = 0x06;
    tlv[1] = len < 0x80 ? (unsigned char)len : 0x81;
    tlv[2] = (unsigned char)len;
    memcpy(tlv + hdr, oid, len);
    obj = d2i_ASN1_OBJECT(NULL, &p, (long)(len + hdr));
    cr_assert(obj != NULL);
    n = OBJ_obj2txt(theirs, sizeof(theirs), obj, 1);
    m = mtlsauthz__der_oid_text(mine, sizeof(mine), oid, len);
    cr_assert(n > 0);
    cr_assert(m == n && strcmp(mine, theirs) == 0, "mine \"%s\" (%d), OpenSSL \"%s\" (%d)", mine, m,
              theirs, n);
    ASN1_OBJECT_free(obj);
}

/* Encodes arcs (X.690 §8.19) into out; returns the length. */
static size_t encode_oid(unsigned char *out, const uint64_t *arcs, size_t n)
{
    size_t len = 0, i;
    for (i = 1; i < n; i++) {
        uint64_t v = i == 1 ? arcs[0] * 40 + arcs[1] : arcs[i];
        unsigned char tmp[10];
        size_t k = 0;
        do {
            tmp[k++] = (unsigned char)(v & 0x7f);
            v >>= 7;
        } while (v != 0);
        while (k > 0) {
            k--;
            out[len++] = (unsigned char)(tmp[k] | (k > 0 ? 0x80 : 0));
        }
    }
    return len;
}

Test(der, oid_text_matches_openssl)
{
    static const uint64_t fixed[][4] = {
        {0, 0, 0, 0},
        {1, 39, 1, 2},
        {2, 0, 1, 2},
        {2, 47, 0, 0},
        {2, 999, 3, 4},
        {1, 2, 840, 113549},
        {2, 5, 29, 17},
        {0, 9, 2342, 19200300},
        {2, 1ull << 40, 7, 1ull << 62},
        {1, 3, UINT64_MAX >> 1, 9},
    };
    unsigned char oid[MTLSAUTHZ__DER_MAX_OID], big[MTLSAUTHZ__DER_MAX_OID + 1];
    uint64_t arcs[12], seed = 0x9e3779b97f4a7c15ull;
    char buf[16], text[1024];
    size_t i, k, n, len;
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(fixed); i++) {
        check_oid_text(oid, encode_oid(oid, fixed[i], 4));
    }
    /* Random OIDs of 2-12 arcs up to 2^56 (a fixed seed: reproducible). */
    for (i = 0; i < 2000; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        n = 2 + seed % 11;
        arcs[0] = seed % 3;
        for (k = 1; k < n; k++) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            arcs[k] = seed >> (8 + (seed % 56));
        }
        if (arcs[0] < 2) {
            arcs[1] %= 40;
        }
        len = encode_oid(oid, arcs, n);
        check_oid_text(oid, len);
    }
    /* Refused: empty, 0x80 padding, truncated, too long for the buffer, past 64 bits. */
    cr_assert_eq(mtlsauthz__der_oid_text(buf, sizeof(buf), oid, 0), -1);
    cr_assert_eq(
        mtlsauthz__der_oid_text(buf, sizeof(buf), (const unsigned char *)"\x2a\x80\x01", 3), -1);
    cr_assert_eq(mtlsauthz__der_oid_text(buf, sizeof(buf), (const unsigned char *)"\x2a\x81", 2),
                 -1);
    cr_assert_eq(mtlsauthz__der_oid_text(buf, 7, (const unsigned char *)"\x2a\x03\x04", 3), -1);
    cr_assert_eq(mtlsauthz__der_oid_text(buf, 8, (const unsigned char *)"\x2a\x03\x04", 3), 7);
    cr_assert_str_eq(buf, "1.2.3.4");
    cr_assert_eq(mtlsauthz__der_oid_text(buf, sizeof(buf),
                                         (const unsigned char *)"\x2a\x82\x80\x80\x80\x80\x80\x80"
                                                                "\x80\x80\x00",
                                         11),
                 -1);
    /* The longest OID the walker takes, and one octet more. */
    memset(big, 0x2a, sizeof(big));
    cr_assert_gt(mtlsauthz__der_oid_text(text, sizeof(text), big, MTLSAUTHZ__DER_MAX_OID), 0);
    check_oid_text(big, MTLSAUTHZ__DER_MAX_OID);
    cr_assert_eq(mtlsauthz__der_oid_text(text, sizeof(text), big, sizeof(big)), -1);
}

Test(der, attribute_table_matches_openssl)
{
    size_t n, i;
    const mtlsauthz__der_attr_type *t = mtlsauthz__der_attr_types(&n);
    cr_assert_geq(n, 20);
    for (i = 0; i < n; i++) {
        unsigned char tlv[2 + MTLSAUTHZ__DER_MAX_OID];
        const unsigned char *p = tlv;
        ASN1_OBJECT *obj;
        int nid;
        tlv[0] = 0x06;
        tlv[1] = (unsigned char)t[i].oid_len;
        memcpy(tlv + 2, t[i].oid, t[i].oid_len);
        obj = d2i_ASN1_OBJECT(NULL, &p, (long)(t[i].oid_len + 2));
        cr_assert(obj != NULL, "%s", t[i].sn);
        nid = OBJ_obj2nid(obj);
        cr_assert_neq(nid, NID_undef, "%s", t[i].sn);
        cr_assert_str_eq(OBJ_nid2sn(nid), t[i].sn);
        cr_assert_eq(t[i].field == MTLSAUTHZ_FIELD_CN, nid == NID_commonName, "%s", t[i].sn);
        cr_assert_eq(t[i].field == MTLSAUTHZ_FIELD_O, nid == NID_organizationName, "%s", t[i].sn);
        cr_assert_eq(t[i].field == MTLSAUTHZ_FIELD_OU, nid == NID_organizationalUnitName, "%s",
                     t[i].sn);
        ASN1_OBJECT_free(obj);
    }
}
