/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inline identities (identity_inline.h): a policy test's `identity:` fed to the identity
 * builder as the leaf certificate it describes would feed it.
 *
 * The DN strings are printed by OpenSSL from an X509_NAME holding the attributes, with the
 * flags the OpenSSL extractor prints a certificate's names with (x509.c), so an inline subject
 * reads exactly as the same subject in a certificate, escapes included.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "identity_build.h"
#include "identity_inline.h"

/* As x509.c prints names: `openssl x509 -noout -subject -nameopt RFC2253,-esc_msb`. */
#define DN_FLAGS (XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB)

/* Longest part of a value quoted into a message. */
#define QUOTE_MAX 64u

/* Appends `p` (len bytes) to a message as 'text', control and non-UTF-8 bytes as \xNN, cut at
 * QUOTE_MAX bytes, so a message stays one printable line. */
static void quote(char *dst, size_t cap, const char *p, size_t len)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i, w = 0, n = len < QUOTE_MAX ? len : QUOTE_MAX;
    uint32_t cp = 0;
    if (cap < 8) {
        return;
    }
    dst[w++] = '\'';
    for (i = 0; i < n && w + 8 < cap;) {
        size_t k = mtlsauthz__utf8_decode(s + i, n - i, &cp);
        if (k == 0 || s[i] < 0x20 || s[i] == 0x7f || s[i] == '\\' || (cp >= 0x80 && cp <= 0x9f)) {
            w += (size_t)snprintf(dst + w, cap - w, "\\x%02x", s[i]);
            i++;
            continue;
        }
        memcpy(dst + w, s + i, k);
        w += k;
        i += k;
    }
    if (n < len && w + 4 < cap) {
        memcpy(dst + w, "...", 3);
        w += 3;
    }
    dst[w++] = '\'';
    dst[w] = '\0';
}

static int bad_value(mtlsauthz_error *err, const char *key, const mtlsauthz__str *v,
                     const char *why)
{
    char q[QUOTE_MAX * 4 + 8];
    quote(q, sizeof(q), v->ptr, v->len);
    return mtlsauthz__error_set(err, MTLSAUTHZ_EPOLICY, "identity: %s %s %s", key, q, why);
}

static int is_lower_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static unsigned hex_nibble(unsigned char c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'a' + 10);
}

/* ---- checks of what a certificate cannot carry ---- */

/* A subject attribute reaches the builder as UTF-8 from every extractor (x509.c converts each
 * string type with ASN1_STRING_to_UTF8()), so other bytes describe no certificate. */
static int check_utf8(const char *key, const mtlsauthz__str *v, mtlsauthz_error *err)
{
    const unsigned char *s = (const unsigned char *)v->ptr;
    size_t i = 0, k;
    uint32_t cp;
    /* OpenSSL takes a value's length as an int. */
    if (v->len > INT_MAX) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT, "identity: a %s value is too long", key);
    }
    while (i < v->len) {
        if ((k = mtlsauthz__utf8_decode(s + i, v->len - i, &cp)) == 0) {
            return bad_value(err, key, v, "is not UTF-8");
        }
        i += k;
    }
    return 0;
}

/* The serial as the identity shows it and a policy's `serial` pins it (docs/policy.md). */
static int parse_serial(unsigned char *mag, size_t *mag_len, int *negative, const mtlsauthz__str *v,
                        mtlsauthz_error *err)
{
    const unsigned char *s = (const unsigned char *)v->ptr;
    size_t i = 0, digits, o = 0;
    *negative = v->len > 0 && s[0] == '-';
    i = (size_t)*negative;
    digits = v->len - i;
    if (digits == 0) {
        return bad_value(err, "serial", v, "is empty; write the serial in hex, such as 1f");
    }
    if (digits > MTLSAUTHZ__INLINE_SERIAL_MAX) {
        return bad_value(err, "serial", v, "is longer than 128 hex digits");
    }
    for (size_t j = i; j < v->len; j++) {
        if (!is_lower_hex(s[j])) {
            return bad_value(err, "serial", v,
                             "is not lowercase hex digits (no colons, no 0x), as the identity "
                             "shows a serial");
        }
    }
    if (s[i] == '0' && digits > 1) {
        return bad_value(err, "serial", v, "has leading zeros; the identity shows none");
    }
    if (*negative && s[i] == '0') {
        return bad_value(err, "serial", v, "is not a valid form (write 0)");
    }
    /* An odd number of digits starts with half an octet. */
    if (digits % 2 == 1) {
        mag[o++] = (unsigned char)hex_nibble(s[i++]);
    }
    for (; i < v->len; i += 2) {
        mag[o++] = (unsigned char)(hex_nibble(s[i]) << 4 | hex_nibble(s[i + 1]));
    }
    *mag_len = o;
    return 0;
}

static int parse_sha256(unsigned char digest[32], const mtlsauthz__str *v, mtlsauthz_error *err)
{
    const unsigned char *s = (const unsigned char *)v->ptr;
    size_t i;
    for (i = 0; i < v->len; i++) {
        if (!is_lower_hex(s[i])) {
            return bad_value(err, "sha256", v,
                             "is not lowercase hex digits (no colons), as the identity shows a "
                             "fingerprint");
        }
    }
    if (v->len != 64) {
        return bad_value(err, "sha256", v, "is not 64 hex digits");
    }
    for (i = 0; i < 32; i++) {
        digest[i] = (unsigned char)(hex_nibble(s[2 * i]) << 4 | hex_nibble(s[2 * i + 1]));
    }
    return 0;
}

/* One address, read as a policy's `ip` reads one (compile.c): IPv6 when it has a ':'. */
static int parse_ip(unsigned char raw[16], size_t *raw_len, const mtlsauthz__str *v,
                    mtlsauthz_error *err)
{
    char text[64];
    if (memchr(v->ptr, '/', v->len) != NULL) {
        return bad_value(err, "ip", v,
                         "is a block; an iPAddress SAN is one address, such as 192.0.2.10");
    }
    if (v->len == 0 || v->len >= sizeof(text) || memchr(v->ptr, '\0', v->len) != NULL) {
        return bad_value(err, "ip", v, "is not an IP address");
    }
    memcpy(text, v->ptr, v->len);
    text[v->len] = '\0';
    if (memchr(text, ':', v->len) != NULL) {
        if (inet_pton(AF_INET6, text, raw) != 1) {
            return bad_value(err, "ip", v, "is not a valid IPv6 address");
        }
        *raw_len = 16;
        return 0;
    }
    if (inet_pton(AF_INET, text, raw) != 1) {
        return bad_value(err, "ip", v,
                         "is not a valid IPv4 address (dotted decimal, no leading zeros)");
    }
    *raw_len = 4;
    return 0;
}

/* The dotted OID of an EKU as a policy spells it (a name from the one EKU table, identity_int.h),
 * or NULL. */
static const char *eku_oid(const mtlsauthz__str *v)
{
    const mtlsauthz__eku *known = mtlsauthz__eku_by_name(v->ptr, v->len);
    return known != NULL ? known->oid : NULL;
}

static int has_spiffe_scheme(const mtlsauthz__str *v)
{
    static const char scheme[] = "spiffe:";
    if (v->len < sizeof(scheme) - 1) {
        return 0;
    }
    for (size_t i = 0; i < sizeof(scheme) - 1; i++) {
        if (mtlsauthz__lower((unsigned char)v->ptr[i]) != (unsigned char)scheme[i]) {
            return 0;
        }
    }
    return 1;
}

/* Everything the builder cannot judge, before anything is built, so the first bad value in
 * key order is the one reported. */
static int check(const mtlsauthz__inline_identity *in, mtlsauthz_error *err)
{
    const mtlsauthz__inline_list *names[] = {&in->cn, &in->o, &in->ou};
    static const char *const name_keys[] = {"cn", "o", "ou"};
    unsigned char scratch[MTLSAUTHZ__INLINE_SERIAL_MAX / 2 + 1];
    size_t i, k, n;
    int rc, neg;

    if (in->spiffe.n > 1 || in->serial.n > 1 || in->sha256.n > 1) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EPOLICY,
                                    "identity: spiffe, serial and sha256 take one value each");
    }
    if (in->spiffe.n == 1 && !has_spiffe_scheme(&in->spiffe.v[0])) {
        return bad_value(err, "spiffe", &in->spiffe.v[0],
                         "is not a spiffe:// URI; write other URIs under uri");
    }
    for (k = 0; k < MTLSAUTHZ__ARRAY_LEN(names); k++) {
        for (i = 0; i < names[k]->n; i++) {
            if ((rc = check_utf8(name_keys[k], &names[k]->v[i], err)) != 0) {
                return rc;
            }
        }
    }
    for (i = 0; i < in->ip.n; i++) {
        unsigned char raw[16];
        if ((rc = parse_ip(raw, &n, &in->ip.v[i], err)) != 0) {
            return rc;
        }
    }
    for (i = 0; i < in->eku.n; i++) {
        const mtlsauthz__str *v = &in->eku.v[i];
        if (eku_oid(v) == NULL && !mtlsauthz__eku_is_oid(v->ptr, v->len)) {
            return bad_value(err, "eku", v,
                             "is not a known extended key usage (clientAuth, serverAuth, "
                             "codeSigning, emailProtection, timeStamping, OCSPSigning) or a "
                             "dotted OID");
        }
    }
    if (in->serial.n == 1 && (rc = parse_serial(scratch, &n, &neg, &in->serial.v[0], err)) != 0) {
        return rc;
    }
    if (in->sha256.n == 1 && (rc = parse_sha256(scratch, &in->sha256.v[0], err)) != 0) {
        return rc;
    }
    return 0;
}

/* ---- building ---- */

static int add_entries(X509_NAME *name, int nid, const mtlsauthz__inline_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        /* A UTF8String, set as it is: the MBSTRING_* types would apply the X.520 upper bounds
         * (64 characters for a CN), which certificates in use exceed and extractors accept. */
        if (!X509_NAME_add_entry_by_NID(name, nid, V_ASN1_UTF8STRING,
                                        (const unsigned char *)l->v[i].ptr, (int)l->v[i].len, -1,
                                        0)) {
            return -1;
        }
    }
    return 0;
}

/* Prints `name` into the builder as `field`. */
static int add_dn(mtlsauthz__idb *b, mtlsauthz_field field, const X509_NAME *name,
                  mtlsauthz_error *err)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *text = NULL;
    long len;
    int rc;
    if (bio == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
    }
    if (X509_NAME_print_ex(bio, name, 0, DN_FLAGS) < 0 ||
        (len = BIO_get_mem_data(bio, &text)) < 0 || (len > 0 && text == NULL)) {
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_EINTERNAL, "cannot print the %s",
                                  mtlsauthz__field_name(field));
    } else {
        rc = mtlsauthz__idb_add(b, field, text, (size_t)len, err);
    }
    BIO_free(bio);
    return rc;
}

static int add_names(mtlsauthz__idb *b, const mtlsauthz__inline_identity *in, mtlsauthz_error *err)
{
    static const unsigned char issuer_cn[] = MTLSAUTHZ__INLINE_ISSUER_CN;
    X509_NAME *subject = X509_NAME_new(), *issuer = X509_NAME_new();
    int rc;
    if (subject == NULL || issuer == NULL ||
        add_entries(subject, NID_organizationName, &in->o) != 0 ||
        add_entries(subject, NID_organizationalUnitName, &in->ou) != 0 ||
        add_entries(subject, NID_commonName, &in->cn) != 0 ||
        !X509_NAME_add_entry_by_NID(issuer, NID_commonName, V_ASN1_UTF8STRING, issuer_cn,
                                    (int)sizeof(issuer_cn) - 1, -1, 0)) {
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = add_dn(b, MTLSAUTHZ_FIELD_SUBJECT_DN, subject, err)) != 0 ||
        (rc = add_dn(b, MTLSAUTHZ_FIELD_ISSUER_DN, issuer, err)) != 0) {
        goto out;
    }
out:
    X509_NAME_free(subject);
    X509_NAME_free(issuer);
    return rc;
}

static int add_list(mtlsauthz__idb *b, mtlsauthz_field field, const mtlsauthz__inline_list *l,
                    mtlsauthz_error *err)
{
    int rc;
    for (size_t i = 0; i < l->n; i++) {
        if ((rc = mtlsauthz__idb_add(b, field, l->v[i].ptr, l->v[i].len, err)) != 0) {
            return rc;
        }
    }
    return 0;
}

static int add_ips_and_ekus(mtlsauthz__idb *b, const mtlsauthz__inline_identity *in,
                            mtlsauthz_error *err)
{
    size_t i, n;
    int rc;
    for (i = 0; i < in->ip.n; i++) {
        unsigned char raw[16];
        if ((rc = parse_ip(raw, &n, &in->ip.v[i], err)) != 0 ||
            (rc = mtlsauthz__idb_add_ip(b, raw, n, err)) != 0) {
            return rc;
        }
    }
    for (i = 0; i < in->eku.n; i++) {
        const mtlsauthz__str *v = &in->eku.v[i];
        const char *oid = eku_oid(v);
        rc = oid != NULL ? mtlsauthz__idb_add_eku(b, oid, strlen(oid), err)
                         : mtlsauthz__idb_add_eku(b, v->ptr, v->len, err);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int add_serial_and_digest(mtlsauthz__idb *b, const mtlsauthz__inline_identity *in,
                                 mtlsauthz_error *err)
{
    static const mtlsauthz__str no_serial = {MTLSAUTHZ__INLINE_SERIAL,
                                             sizeof(MTLSAUTHZ__INLINE_SERIAL) - 1};
    unsigned char mag[MTLSAUTHZ__INLINE_SERIAL_MAX / 2 + 1], digest[32] = {0};
    size_t mag_len;
    int rc, negative;
    if ((rc = parse_serial(mag, &mag_len, &negative,
                           in->serial.n == 1 ? &in->serial.v[0] : &no_serial, err)) != 0 ||
        (rc = mtlsauthz__idb_set_serial(b, mag, mag_len, negative, err)) != 0) {
        return rc;
    }
    if (in->sha256.n == 1 && (rc = parse_sha256(digest, &in->sha256.v[0], err)) != 0) {
        return rc;
    }
    return mtlsauthz__idb_set_sha256(b, digest, err);
}

int mtlsauthz__identity_from_inline(mtlsauthz_identity **out, const mtlsauthz__inline_identity *in,
                                    mtlsauthz_error *err)
{
    mtlsauthz__idb b;
    int rc;

    if (out == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "identity: out is NULL");
    }
    *out = NULL;
    if (in == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "identity: no fields given");
    }
    if ((rc = check(in, err)) != 0) {
        return rc;
    }
    mtlsauthz__idb_init(&b);
    /* OpenSSL reports through its thread-local queue; leave it as the caller had it. */
    ERR_set_mark();
    if ((rc = add_names(&b, in, err)) != 0 ||
        (rc = add_list(&b, MTLSAUTHZ_FIELD_CN, &in->cn, err)) != 0 ||
        (rc = add_list(&b, MTLSAUTHZ_FIELD_O, &in->o, err)) != 0 ||
        (rc = add_list(&b, MTLSAUTHZ_FIELD_OU, &in->ou, err)) != 0) {
        goto fail;
    }
    if ((rc = add_serial_and_digest(&b, in, err)) != 0 ||
        (rc = mtlsauthz__idb_set_time(&b, MTLSAUTHZ_FIELD_NOT_BEFORE, 1970, 1, 1, 0, 0, 0, err)) !=
            0 ||
        (rc = mtlsauthz__idb_set_time(&b, MTLSAUTHZ_FIELD_NOT_AFTER, 9999, 12, 31, 23, 59, 59,
                                      err)) != 0) {
        goto fail;
    }
    /* The SPIFFE ID is a URI SAN like any other (X509-SVID spec §2), so `uri` values next to
     * it make a leaf with two URI SANs, which is no SVID: rejected, as such a certificate is. */
    if ((rc = add_list(&b, MTLSAUTHZ_FIELD_SAN_URI, &in->spiffe, err)) != 0 ||
        (rc = add_list(&b, MTLSAUTHZ_FIELD_SAN_URI, &in->uri, err)) != 0 ||
        (rc = add_list(&b, MTLSAUTHZ_FIELD_SAN_DNS, &in->dns, err)) != 0 ||
        (rc = add_list(&b, MTLSAUTHZ_FIELD_SAN_EMAIL, &in->email, err)) != 0 ||
        (rc = add_ips_and_ekus(&b, in, err)) != 0) {
        goto fail;
    }
    mtlsauthz__idb_set_ca(&b, 0);
    mtlsauthz__idb_set_key_usage(&b, MTLSAUTHZ__KU_DIGITAL_SIGNATURE);
    if ((rc = mtlsauthz__idb_finish(out, &b, 1, err)) != 0) {
        goto fail;
    }
    ERR_pop_to_mark();
    return 0;
fail:
    mtlsauthz__idb_free(&b);
    ERR_pop_to_mark();
    /* The builder's messages name the field ("more than 256 DNS SAN values"); say whose. */
    if (err != NULL && strncmp(err->message, "identity: ", 10) != 0) {
        char msg[sizeof(err->message)];
        memcpy(msg, err->message, sizeof(msg));
        msg[sizeof(msg) - 1] = '\0';
        mtlsauthz__error_set(err, rc, "identity: %s", msg);
    }
    return rc;
}
