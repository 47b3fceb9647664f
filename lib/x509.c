/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OpenSSL side of identity extraction (x509.h): decodes PEM to DER, and parses certificates
 * with OpenSSL to feed the leaf's fields to the identity builder (identity_build.h). The DER
 * walker (der.c) builds the same identities faster; identity.c runs this extractor whenever the
 * walker falls back, and its answer, errors included, is the library's.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "identity_build.h"
#include "x509.h"

/* Exactly `openssl x509 -noout -subject -nameopt RFC2253,-esc_msb`: RFC 2253 (RFC 4514)
 * escaping of specials and control characters (\00), but non-ASCII kept as UTF-8 so that
 * policy authors can write it. */
#define DN_FLAGS (XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB)

/* Converts an ASN.1 string of any string type (UTF8, Printable, IA5, T61, BMP, Universal, ...)
 * to UTF-8 in *out (OPENSSL_free it), keeping NULs. Returns -1 when the value is not a string
 * or does not decode. The one-byte types are read as Latin-1, as OpenSSL does. */
static int to_utf8(unsigned char **out, int *out_len, const ASN1_STRING *s)
{
    *out = NULL;
    *out_len = ASN1_STRING_to_UTF8(out, s);
    if (*out_len < 0) {
        *out = NULL;
        return -1;
    }
    return 0;
}

static int add_string(mtlsauthz__idb *b, mtlsauthz_field f, const ASN1_STRING *s,
                      mtlsauthz_error *err)
{
    unsigned char *utf8;
    int len, rc;
    if (to_utf8(&utf8, &len, s) != 0) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ECERT, "undecodable string in %s",
                                    mtlsauthz__field_name(f));
    }
    rc = mtlsauthz__idb_add(b, f, (const char *)utf8, (size_t)len, err);
    OPENSSL_free(utf8);
    return rc;
}

static int add_dn(mtlsauthz__idb *b, mtlsauthz_field f, const X509_NAME *name, mtlsauthz_error *err)
{
    BIO *bio;
    char *text = NULL;
    long len;
    int rc;
    bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
    }
    if (X509_NAME_print_ex(bio, name, 0, DN_FLAGS) < 0) {
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_ECERT, "undecodable %s", mtlsauthz__field_name(f));
        goto out;
    }
    len = BIO_get_mem_data(bio, &text);
    if (len < 0 || (len > 0 && text == NULL)) {
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_EINTERNAL, "cannot print DN");
        goto out;
    }
    rc = mtlsauthz__idb_add(b, f, text, (size_t)len, err);
out:
    BIO_free(bio);
    return rc;
}

/* CN, O and OU by value; every other attribute is only checked for NUL. */
static int add_subject_values(mtlsauthz__idb *b, const X509_NAME *name, mtlsauthz_error *err)
{
    int i, n = X509_NAME_entry_count(name), rc;
    for (i = 0; i < n; i++) {
        const X509_NAME_ENTRY *ne = X509_NAME_get_entry(name, i);
        const ASN1_STRING *value = X509_NAME_ENTRY_get_data(ne);
        mtlsauthz_field f;
        unsigned char *utf8;
        int len;
        switch (OBJ_obj2nid(X509_NAME_ENTRY_get_object(ne))) {
        case NID_commonName:
            f = MTLSAUTHZ_FIELD_CN;
            break;
        case NID_organizationName:
            f = MTLSAUTHZ_FIELD_O;
            break;
        case NID_organizationalUnitName:
            f = MTLSAUTHZ_FIELD_OU;
            break;
        default:
            /* A value that is not a string (the DN shows it as a #hex dump) holds no text
             * that could pass for a shorter name. */
            if (to_utf8(&utf8, &len, value) == 0) {
                mtlsauthz__idb_dn_attribute(b, (const char *)utf8, (size_t)len);
                OPENSSL_free(utf8);
            }
            continue;
        }
        if ((rc = add_string(b, f, value, err)) != 0) {
            return rc;
        }
    }
    return 0;
}

/* The subject DN, then its CN, O and OU values. */
static int add_subject(mtlsauthz__idb *b, const X509_NAME *name, mtlsauthz_error *err)
{
    int rc = add_dn(b, MTLSAUTHZ_FIELD_SUBJECT_DN, name, err);
    return rc != 0 ? rc : add_subject_values(b, name, err);
}

int mtlsauthz__x509_add_subject(mtlsauthz__idb *b, const X509_NAME *name, mtlsauthz_error *err)
{
    int rc;
    ERR_set_mark();
    rc = add_subject(b, name, err);
    ERR_pop_to_mark();
    return rc;
}

/*
 * X509_get_ext_d2i() with no index gives NULL for an absent extension (crit -1), for one that
 * occurs more than once (crit -2; RFC 5280 §4.2 forbids that) and for one that does not decode.
 * The last two fail closed: the identity is not built.
 */
static int get_ext(void **out, X509 *x, int nid, const char *what, mtlsauthz_error *err)
{
    int crit = -1;
    *out = X509_get_ext_d2i(x, nid, &crit, NULL);
    if (*out != NULL || crit == -1) {
        return 0;
    }
    if (crit == -2) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ECERT, "more than one %s extension", what);
    }
    return mtlsauthz__error_set(err, MTLSAUTHZ_ECERT, "malformed %s extension", what);
}

/* An IA5String name (RFC 5280 §4.2.1.6) as its content octets, not converted to UTF-8 as
 * Latin-1 the way ASN1_STRING_to_UTF8() would: the builder must see a byte from 0x80 up as the
 * certificate has it, and reject the identity. */
static int add_ia5(mtlsauthz__idb *b, mtlsauthz_field f, const ASN1_IA5STRING *s,
                   mtlsauthz_error *err)
{
    const unsigned char *p = ASN1_STRING_get0_data(s);
    int len = ASN1_STRING_length(s);
    if (len < 0 || (len > 0 && p == NULL)) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ECERT, "undecodable string in %s",
                                    mtlsauthz__field_name(f));
    }
    return mtlsauthz__idb_add(b, f, len == 0 ? "" : (const char *)p, (size_t)len, err);
}

static int add_sans(mtlsauthz__idb *b, X509 *x, mtlsauthz_error *err)
{
    GENERAL_NAMES *gens;
    int i, n, rc;
    if ((rc = get_ext((void **)&gens, x, NID_subject_alt_name, "subjectAltName", err)) != 0) {
        return rc;
    }
    if (gens == NULL) {
        return 0;
    }
    n = sk_GENERAL_NAME_num(gens);
    for (i = 0; i < n && rc == 0; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        switch (g->type) {
        case GEN_DNS:
            rc = add_ia5(b, MTLSAUTHZ_FIELD_SAN_DNS, g->d.dNSName, err);
            break;
        case GEN_URI:
            rc = add_ia5(b, MTLSAUTHZ_FIELD_SAN_URI, g->d.uniformResourceIdentifier, err);
            break;
        case GEN_EMAIL:
            rc = add_ia5(b, MTLSAUTHZ_FIELD_SAN_EMAIL, g->d.rfc822Name, err);
            break;
        case GEN_IPADD:
            rc = mtlsauthz__idb_add_ip(b, ASN1_STRING_get0_data(g->d.iPAddress),
                                       (size_t)ASN1_STRING_length(g->d.iPAddress), err);
            break;
        default:
            /* otherName, directoryName, registeredID, ...: not names a policy matches. */
            break;
        }
    }
    GENERAL_NAMES_free(gens);
    return rc;
}

static int add_ekus(mtlsauthz__idb *b, X509 *x, mtlsauthz_error *err)
{
    EXTENDED_KEY_USAGE *eku;
    char small[80], *text = NULL;
    int i, n, len, rc;
    if ((rc = get_ext((void **)&eku, x, NID_ext_key_usage, "extendedKeyUsage", err)) != 0) {
        return rc;
    }
    if (eku == NULL) {
        return 0;
    }
    n = sk_ASN1_OBJECT_num(eku);
    for (i = 0; i < n && rc == 0; i++) {
        const ASN1_OBJECT *obj = sk_ASN1_OBJECT_value(eku, i);
        char *buf = small;
        len = OBJ_obj2txt(small, sizeof(small), obj, 1);
        if (len >= (int)sizeof(small)) {
            text = mtlsauthz__malloc((size_t)len + 1);
            if (text == NULL) {
                rc = mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
                break;
            }
            buf = text;
            if (OBJ_obj2txt(text, len + 1, obj, 1) != len) {
                len = -1;
            }
        }
        if (len <= 0) {
            rc = mtlsauthz__error_set(err, MTLSAUTHZ_ECERT, "malformed extendedKeyUsage OID");
        } else {
            rc = mtlsauthz__idb_add_eku(b, buf, (size_t)len, err);
        }
        mtlsauthz__free(text);
        text = NULL;
    }
    EXTENDED_KEY_USAGE_free(eku);
    return rc;
}

static int set_ca(mtlsauthz__idb *b, X509 *x, mtlsauthz_error *err)
{
    BASIC_CONSTRAINTS *bc;
    int rc;
    if ((rc = get_ext((void **)&bc, x, NID_basic_constraints, "basicConstraints", err)) != 0) {
        return rc;
    }
    /* RFC 5280 §4.2.1.9: cA defaults to FALSE, and an absent extension means not a CA. */
    mtlsauthz__idb_set_ca(b, bc != NULL && bc->ca);
    BASIC_CONSTRAINTS_free(bc);
    return 0;
}

/* keyUsage (RFC 5280 §4.2.1.3), which decides whether a SPIFFE leaf is an X.509-SVID. Read
 * with X509_get_ext_d2i() like the other extensions, so a duplicate or malformed one fails
 * closed, rather than through X509_get_key_usage(), whose answer for such a certificate is 0
 * and mixes in every other extension's validity. */
static int set_key_usage(mtlsauthz__idb *b, X509 *x, mtlsauthz_error *err)
{
    ASN1_BIT_STRING *ku;
    unsigned int bits = 0;
    int n, rc;
    if ((rc = get_ext((void **)&ku, x, NID_key_usage, "keyUsage", err)) != 0) {
        return rc;
    }
    if (ku == NULL) {
        return 0;
    }
    for (n = 0; (1u << n) <= MTLSAUTHZ__KU_DECIPHER_ONLY; n++) {
        if (ASN1_BIT_STRING_get_bit(ku, n)) {
            bits |= 1u << n;
        }
    }
    mtlsauthz__idb_set_key_usage(b, bits);
    ASN1_BIT_STRING_free(ku);
    return 0;
}

static int set_time(mtlsauthz__idb *b, mtlsauthz_field f, const ASN1_TIME *t, mtlsauthz_error *err)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ECERT, "malformed %s", mtlsauthz__field_name(f));
    }
    return mtlsauthz__idb_set_time(b, f, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                                   tm.tm_min, tm.tm_sec, err);
}

/* `der` is the leaf's encoding: the bytes the caller gave, or i2d_X509() of the caller's X509,
 * which is what X509_digest() would hash. The SHA-256 is one EVP_Digest() over it. */
static int extract(mtlsauthz__idb *b, X509 *x, const unsigned char *der, size_t der_len,
                   mtlsauthz_error *err)
{
    const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    int rc, ok;

    if ((rc = add_subject(b, X509_get_subject_name(x), err)) != 0 ||
        (rc = add_dn(b, MTLSAUTHZ_FIELD_ISSUER_DN, X509_get_issuer_name(x), err)) != 0) {
        return rc;
    }
    if (serial == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ECERT, "no serial number");
    }
    /* OpenSSL keeps an INTEGER as its magnitude, with the sign in the type. */
    rc = mtlsauthz__idb_set_serial(b, ASN1_STRING_get0_data(serial),
                                   (size_t)ASN1_STRING_length(serial),
                                   ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER, err);
    if (rc != 0) {
        return rc;
    }
    ok = EVP_Digest(der, der_len, md, &md_len, EVP_sha256(), NULL);
    if (!ok || md_len != 32) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINTERNAL, "cannot compute SHA-256");
    }
    if ((rc = mtlsauthz__idb_set_sha256(b, md, err)) != 0 ||
        (rc = set_time(b, MTLSAUTHZ_FIELD_NOT_BEFORE, X509_get0_notBefore(x), err)) != 0 ||
        (rc = set_time(b, MTLSAUTHZ_FIELD_NOT_AFTER, X509_get0_notAfter(x), err)) != 0 ||
        (rc = add_sans(b, x, err)) != 0 || (rc = add_ekus(b, x, err)) != 0 ||
        (rc = set_ca(b, x, err)) != 0 || (rc = set_key_usage(b, x, err)) != 0) {
        return rc;
    }
    return 0;
}

/* Parses exactly one certificate from `len` bytes. */
static int parse_one(X509 **out, const unsigned char *der, size_t len, size_t pos,
                     mtlsauthz_error *err)
{
    const unsigned char *p = der;
    *out = NULL;
    if (len > MTLSAUTHZ__MAX_CERT_BYTES) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT,
                                    "certificate %zu is larger than %u bytes", pos,
                                    MTLSAUTHZ__MAX_CERT_BYTES);
    }
    *out = d2i_X509(NULL, &p, (long)len);
    if (*out == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ECERT, "certificate %zu does not parse", pos);
    }
    if ((size_t)(p - der) != len) {
        X509_free(*out);
        *out = NULL;
        return mtlsauthz__error_set(err, MTLSAUTHZ_ECERT, "trailing data after certificate %zu",
                                    pos);
    }
    return 0;
}

static int from_der_certs(mtlsauthz_identity **out, const unsigned char *const *certs,
                          const size_t *lens, size_t count, mtlsauthz_error *err)
{
    mtlsauthz__idb b;
    X509 *leaf = NULL, *x = NULL;
    size_t i;
    int rc;

    mtlsauthz__idb_init(&b);
    if (count == 0) {
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_ECERT, "no certificate");
        goto out;
    }
    if (count > MTLSAUTHZ__MAX_CHAIN) {
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT, "chain longer than %u certificates",
                                  MTLSAUTHZ__MAX_CHAIN);
        goto out;
    }
    if ((rc = parse_one(&leaf, certs[0], lens[0], 1, err)) != 0) {
        goto out;
    }
    /* The chain certificates must parse, though only the leaf is read. */
    for (i = 1; i < count; i++) {
        if ((rc = parse_one(&x, certs[i], lens[i], i + 1, err)) != 0) {
            goto out;
        }
        X509_free(x);
        x = NULL;
    }
    if ((rc = extract(&b, leaf, certs[0], lens[0], err)) != 0) {
        goto out;
    }
    rc = mtlsauthz__idb_finish(out, &b, count, err);
out:
    X509_free(leaf);
    mtlsauthz__idb_free(&b);
    return rc;
}

int mtlsauthz__x509_from_der_certs(mtlsauthz_identity **out, const unsigned char *const *certs,
                                   const size_t *lens, size_t count, mtlsauthz_error *err)
{
    int rc;
    ERR_set_mark();
    rc = from_der_certs(out, certs, lens, count, err);
    ERR_pop_to_mark();
    return rc;
}

/* ---- a caller's X509 ---- */

static int from_x509(mtlsauthz_identity **out, X509 *leaf, const unsigned char *der, size_t der_len,
                     size_t chain_len, mtlsauthz_error *err)
{
    mtlsauthz__idb b;
    int rc;

    mtlsauthz__idb_init(&b);
    rc = extract(&b, leaf, der, der_len, err);
    if (rc == 0) {
        rc = mtlsauthz__idb_finish(out, &b, chain_len, err);
    }
    mtlsauthz__idb_free(&b);
    return rc;
}

int mtlsauthz__x509_from_x509(mtlsauthz_identity **out, X509 *leaf, const unsigned char *der,
                              size_t der_len, size_t chain_len, mtlsauthz_error *err)
{
    int rc;
    ERR_set_mark();
    rc = from_x509(out, leaf, der, der_len, chain_len, err);
    ERR_pop_to_mark();
    return rc;
}

/*
 * The DER of a caller's X509 is what i2d_X509() writes (docs/internals.md, "The DER of an
 * X509"). OpenSSL keeps the received bytes of a parsed certificate's tbsCertificate and
 * re-encodes only the outer SEQUENCE, the signatureAlgorithm and the signature, so for the
 * X509 a TLS stack hands over this is a copy more than an encoding. The size is asked first, so
 * that the limit is checked before anything is written, and the bytes go to `scratch` when they
 * fit: the per-connection path then makes no allocation of its own here.
 */
static int leaf_der(unsigned char **der, size_t *der_len, size_t *chain_len, unsigned char *scratch,
                    size_t scratch_len, X509 *leaf, STACK_OF(X509) * chain, mtlsauthz_error *err)
{
    unsigned char *buf, *p;
    size_t count = 1;
    int len;

    if (chain != NULL && sk_X509_num(chain) > 0) {
        X509 *first = sk_X509_value(chain, 0);
        count = (size_t)sk_X509_num(chain);
        /* OpenSSL's verified chain starts with the leaf; SSL_get_peer_cert_chain() on a
         * server does not include it. */
        if (first != leaf && X509_cmp(first, leaf) != 0) {
            count++;
        }
    }
    if (count > MTLSAUTHZ__MAX_CHAIN) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT, "chain longer than %u certificates",
                                    MTLSAUTHZ__MAX_CHAIN);
    }
    len = i2d_X509(leaf, NULL);
    if (len <= 0) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == ERR_R_MALLOC_FAILURE) {
            return mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
        }
        return mtlsauthz__error_set(err, MTLSAUTHZ_ECERT, "certificate does not encode");
    }
    if ((size_t)len > MTLSAUTHZ__MAX_CERT_BYTES) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT, "certificate is larger than %u bytes",
                                    MTLSAUTHZ__MAX_CERT_BYTES);
    }
    buf = (size_t)len <= scratch_len ? scratch : mtlsauthz__malloc((size_t)len);
    if (buf == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
    }
    /* i2d_X509() writes without a bound: `buf` holds the length it has just reported, and the
     * second answer must be that length, or the bytes are not used. */
    p = buf;
    if (i2d_X509(leaf, &p) != len || p != buf + len) {
        if (buf != scratch) {
            mtlsauthz__free(buf);
        }
        return mtlsauthz__error_set(err, MTLSAUTHZ_ECERT, "certificate does not encode");
    }
    *der = buf;
    *der_len = (size_t)len;
    *chain_len = count;
    return 0;
}

int mtlsauthz__x509_leaf_der(unsigned char **der, size_t *der_len, size_t *chain_len,
                             unsigned char *scratch, size_t scratch_len, X509 *leaf,
                             STACK_OF(X509) * chain, mtlsauthz_error *err)
{
    int rc;
    *der = NULL;
    *der_len = 0;
    *chain_len = 0;
    ERR_set_mark();
    rc = leaf_der(der, der_len, chain_len, scratch, scratch_len, leaf, chain, err);
    ERR_pop_to_mark();
    return rc;
}

void mtlsauthz__x509_free_der(unsigned char *const *ders, size_t count)
{
    size_t i;
    for (i = 0; i < count; i++) {
        OPENSSL_free(ders[i]);
    }
}

/* ---- PEM ---- */

/* Copies a PEM label for an error message, keeping it to one printable line. */
static void safe_label(char *out, size_t outsz, const char *name)
{
    size_t i;
    for (i = 0; i + 1 < outsz && name[i] != '\0'; i++) {
        out[i] = (name[i] >= 0x20 && name[i] < 0x7f) ? name[i] : '?';
    }
    out[i] = '\0';
}

static int pem_to_der(unsigned char *blocks[MTLSAUTHZ__MAX_CHAIN],
                      size_t lens[MTLSAUTHZ__MAX_CHAIN], size_t *count, const char *pem,
                      size_t pem_len, mtlsauthz_error *err)
{
    size_t n = 0;
    BIO *bio;
    int rc;

    if (pem_len > MTLSAUTHZ__MAX_INPUT_BYTES) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT, "input larger than %u bytes",
                                    MTLSAUTHZ__MAX_INPUT_BYTES);
    }
    bio = BIO_new_mem_buf(pem, (int)pem_len);
    if (bio == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
    }
    for (;;) {
        char *name = NULL, *header = NULL, label[48];
        unsigned char *data = NULL;
        long len = 0;
        if (!PEM_read_bio(bio, &name, &header, &data, &len)) {
            unsigned long e = ERR_peek_last_error();
            /* "No start line" is how OpenSSL says there are no more blocks. */
            if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
                break;
            }
            rc = mtlsauthz__error_set(err, MTLSAUTHZ_ECERT, "PEM block %zu does not decode", n + 1);
            goto fail;
        }
        /* Only certificates: a key or any other block in a peer chain is a mistake we should
         * not paper over (RFC 7468 §5 names the certificate label). */
        if (strcmp(name, "CERTIFICATE") != 0) {
            safe_label(label, sizeof(label), name);
            rc = mtlsauthz__error_set(err, MTLSAUTHZ_ECERT,
                                      "PEM block %zu is \"%s\", not \"CERTIFICATE\"", n + 1, label);
        } else if (header != NULL && header[0] != '\0') {
            rc = mtlsauthz__error_set(err, MTLSAUTHZ_ECERT, "PEM block %zu has headers", n + 1);
        } else if (n == MTLSAUTHZ__MAX_CHAIN) {
            rc = mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT, "chain longer than %u certificates",
                                      MTLSAUTHZ__MAX_CHAIN);
        } else if (len <= 0) {
            rc = mtlsauthz__error_set(err, MTLSAUTHZ_ECERT, "PEM block %zu is empty", n + 1);
        } else {
            rc = 0;
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        if (rc != 0) {
            OPENSSL_free(data);
            goto fail;
        }
        blocks[n] = data;
        lens[n] = (size_t)len;
        n++;
    }
    if (n == 0) {
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_ECERT, "no CERTIFICATE block in PEM input");
        goto fail;
    }
    BIO_free(bio);
    *count = n;
    return 0;
fail:
    mtlsauthz__x509_free_der(blocks, n);
    BIO_free(bio);
    return rc;
}

int mtlsauthz__x509_pem_to_der(unsigned char *blocks[MTLSAUTHZ__MAX_CHAIN],
                               size_t lens[MTLSAUTHZ__MAX_CHAIN], size_t *count, const char *pem,
                               size_t pem_len, mtlsauthz_error *err)
{
    int rc;
    *count = 0;
    ERR_set_mark();
    rc = pem_to_der(blocks, lens, count, pem, pem_len, err);
    ERR_pop_to_mark();
    return rc;
}
