/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Identities from X-Forwarded-Client-Cert (xfcc.h): the header's grammar, the element the
 * nearest proxy added, and the identity that element describes.
 *
 * The format is Envoy's: its documentation of the header (HTTP connection manager, "HTTP
 * header manipulation", x-forwarded-client-cert) and what its ConnectionManagerUtility::
 * mutateXfccRequestHeader() writes. Elements are separated by ',', pairs by ';', a value may be
 * double-quoted, and keys are case-insensitive. Envoy quotes Cert, Chain and Subject and writes
 * every other value as it is: By, Hash, URI and DNS are never quoted, and the Subject is the
 * RFC 2253 string BoringSSL prints (X509_NAME_print_ex, XN_FLAG_RFC2253), put between quotes
 * without any escaping of its own. So a quoted value is read as it stands: a backslash only
 * keeps the byte after it from ending the value, and stays in it, where the Subject's DN
 * parser reads it as the RFC 4514 escape it is (`\"`, `\,`). Reading `\,` as XFCC's own escape
 * would turn the CN "a,O=admin" (`CN=a\,O=admin`) into two attributes.
 *
 * With a certificate (Cert, Chain) the identity is read through mtlsauthz_identity_from_pem(),
 * like any other certificate. Without one this file is the extractor: it feeds the builder the
 * forwarded names, the Subject parsed into a name that x509.c prints and splits as it does a
 * certificate's, and the builder marks the identity partial (docs/policy.md, "Identities from
 * X-Forwarded-Client-Cert").
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "identity_build.h"
#include "x509.h"

/* Longest key or attribute type quoted into a message. */
#define NAME_MAX_SHOWN 32

/* ---- the keys ---- */

enum { K_BY, K_HASH, K_CERT, K_CHAIN, K_SUBJECT, K_URI, K_DNS, K_OTHER, K_COUNT };

/*
 * Envoy writes By once per URI SAN of its own certificate, URI once per URI SAN of the client's
 * (before envoyproxy/envoy#20724, 2022, the first one only; an empty `URI=` when there is none),
 * and DNS once per DNS SAN. The others appear at most once.
 *
 * Any other key is parsed like these and then ignored (K_OTHER): Envoy has added keys over the
 * years (DNS, Chain, and an Issuer in 2026), and a key the library does not read adds nothing
 * to an identity, so refusing it would only turn a proxy upgrade into a denial of every request.
 * A key Envoy has never written is still read as a pair, so it cannot hide where an element
 * ends.
 */
static const struct xfcc_key {
    const char *name;
    int repeats;
} keys[K_COUNT] = {
    {"By", 1},      {"Hash", 0}, {"Cert", 0}, {"Chain", 0},
    {"Subject", 0}, {"URI", 1},  {"DNS", 1},  {NULL, 1},
};

/* ---- the scanner ---- */

typedef struct scan {
    const char *s;
    size_t len, pos;
    size_t element; /* the element being read, from 1 */
} scan;

typedef struct xval {
    const char *p; /* a quoted value without its quotes, its backslashes kept */
    size_t len;
    size_t at; /* where it starts in the header */
} xval;

/* An element: where it starts, how often each key appears in it, and each key's first value. */
typedef struct xelem {
    size_t start, index;
    unsigned counts[K_COUNT];
    xval first[K_COUNT];
} xelem;

static int bad(mtlsauthz_error *err, const scan *sc, size_t at, const char *fmt, ...)
    MTLSAUTHZ__PRINTF(4, 5);

/* An ECERT that says what is wrong, in which element, and at which byte (from 1). */
static int bad(mtlsauthz_error *err, const scan *sc, size_t at, const char *fmt, ...)
{
    char msg[MTLSAUTHZ_ERROR_MESSAGE_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return mtlsauthz__error_set(err, MTLSAUTHZ_ECERT,
                                "X-Forwarded-Client-Cert: %s (element %zu, byte %zu)", msg,
                                sc->element, at + 1);
}

/* A byte for a message: 'c' when printable ASCII, else 0xNN. */
static const char *shown(char out[8], unsigned char c)
{
    if (c > 0x20 && c < 0x7f && c != '\'') {
        snprintf(out, 8, "'%c'", c);
    } else {
        snprintf(out, 8, "0x%02x", c);
    }
    return out;
}

static int shown_len(size_t len)
{
    return (int)(len < NAME_MAX_SHOWN ? len : NAME_MAX_SHOWN);
}

static int is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static int is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

static int is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int hex_value(unsigned char c)
{
    if (is_digit(c)) {
        return c - '0';
    }
    c = mtlsauthz__lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int key_is(const struct xfcc_key *k, const char *p, size_t len)
{
    size_t i;
    if (k->name == NULL || strlen(k->name) != len) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (mtlsauthz__lower((unsigned char)k->name[i]) != mtlsauthz__lower((unsigned char)p[i])) {
            return 0;
        }
    }
    return 1;
}

/* A quoted value at sc->pos (on its opening quote): up to the closing quote, a backslash
 * taking the byte after it along. */
static int read_quoted(xval *v, scan *sc, const char *key, mtlsauthz_error *err)
{
    const unsigned char *s = (const unsigned char *)sc->s;
    size_t open = sc->pos, i = open + 1;
    for (; i < sc->len && s[i] != '"'; i++) {
        if (s[i] == '\\' && i + 1 < sc->len) {
            i++;
        }
        if (is_ctl(s[i])) {
            return bad(err, sc, i, "control byte 0x%02x in the value of %s", s[i], key);
        }
    }
    if (i >= sc->len) {
        return bad(err, sc, open, "the quoted value of %s has no closing '\"'", key);
    }
    v->p = sc->s + open + 1;
    v->len = i - open - 1;
    v->at = open + 1;
    sc->pos = i + 1;
    if (sc->pos < sc->len && s[sc->pos] != ';' && s[sc->pos] != ',' && !is_ows(s[sc->pos])) {
        char c[8];
        return bad(err, sc, sc->pos, "%s after the quoted value of %s, where ';' or ',' belongs",
                   shown(c, s[sc->pos]), key);
    }
    return 0;
}

/* An unquoted value: up to ';', ',' or whitespace. Envoy's documentation has a value holding
 * ',', ';' or '=' quoted, so a '=' or '"' here means the header was not written that way. */
static int read_plain(xval *v, scan *sc, const char *key, mtlsauthz_error *err)
{
    const unsigned char *s = (const unsigned char *)sc->s;
    size_t i = sc->pos;
    for (; i < sc->len && s[i] != ';' && s[i] != ',' && !is_ows(s[i]); i++) {
        if (s[i] == '=') {
            return bad(err, sc, i,
                       "'=' in the unquoted value of %s; a value holding '=', ';' or ',' must "
                       "be quoted",
                       key);
        }
        if (s[i] == '"') {
            return bad(err, sc, i, "'\"' inside the unquoted value of %s", key);
        }
        if (is_ctl(s[i])) {
            return bad(err, sc, i, "control byte 0x%02x in the value of %s", s[i], key);
        }
    }
    v->p = sc->s + sc->pos;
    v->len = i - sc->pos;
    v->at = sc->pos;
    sc->pos = i;
    return 0;
}

/* One Key=value pair at sc->pos: *key its index in keys[], K_OTHER for a key not read. */
static int read_pair(int *key, xval *v, scan *sc, mtlsauthz_error *err)
{
    const unsigned char *s = (const unsigned char *)sc->s;
    size_t start = sc->pos, i = start;
    char c[8], other[NAME_MAX_SHOWN + 8];
    const char *name;
    int k;
    while (i < sc->len && mtlsauthz__is_tchar(s[i])) {
        i++;
    }
    if (i == start) {
        if (i < sc->len && s[i] == '=') {
            return bad(err, sc, i, "a '=' with no key before it");
        }
        if (i < sc->len && is_ows(s[i])) {
            return bad(err, sc, i, "whitespace where a key belongs");
        }
        if (i == sc->len || s[i] == ';' || s[i] == ',') {
            return bad(err, sc, i, "an empty pair where Key=value belongs");
        }
        return bad(err, sc, i, "%s where a key belongs", shown(c, s[i]));
    }
    if (i == sc->len || s[i] != '=') {
        if (i == sc->len || s[i] == ';' || s[i] == ',' || is_ows(s[i])) {
            return bad(err, sc, start, "key '%.*s' has no '=' and value", shown_len(i - start),
                       sc->s + start);
        }
        return bad(err, sc, i, "%s in the key '%.*s'", shown(c, s[i]), shown_len(i - start),
                   sc->s + start);
    }
    for (k = 0; k < K_OTHER && !key_is(&keys[k], sc->s + start, i - start); k++) {
    }
    if (k == K_OTHER) {
        snprintf(other, sizeof(other), "'%.*s'", shown_len(i - start), sc->s + start);
        name = other;
    } else {
        name = keys[k].name;
    }
    *key = k;
    sc->pos = i + 1;
    if (sc->pos < sc->len && s[sc->pos] == '"') {
        return read_quoted(v, sc, name, err);
    }
    return read_plain(v, sc, name, err);
}

/*
 * One element at sc->pos into *e. On return *more says whether another follows; sc->pos is
 * then on its first byte, past the ',' and the whitespace around it (an HTTP list may have
 * some, RFC 9110 §5.6.1).
 */
static int read_element(xelem *e, int *more, scan *sc, mtlsauthz_error *err)
{
    const unsigned char *s = (const unsigned char *)sc->s;
    size_t i;
    int rc, k;
    xval v;

    memset(e, 0, sizeof(*e));
    e->start = sc->pos;
    e->index = sc->element;
    *more = 0;
    for (;;) {
        if ((rc = read_pair(&k, &v, sc, err)) != 0) {
            return rc;
        }
        if (e->counts[k] != 0 && !keys[k].repeats) {
            return bad(err, sc, v.at, "%s appears twice in one element", keys[k].name);
        }
        if (e->counts[k]++ == 0) {
            e->first[k] = v;
        }
        if (sc->pos < sc->len && s[sc->pos] == ';') {
            sc->pos++;
            continue;
        }
        for (i = sc->pos; i < sc->len && is_ows(s[i]); i++) {
        }
        if (i == sc->len) {
            sc->pos = i;
            return 0;
        }
        if (s[i] != ',') {
            return bad(err, sc, sc->pos, "whitespace inside an element");
        }
        for (i++; i < sc->len && is_ows(s[i]); i++) {
        }
        if (i == sc->len) {
            return bad(err, sc, i - 1, "an empty element after the last ','");
        }
        sc->pos = i;
        sc->element++;
        *more = 1;
        return 0;
    }
}

/* The whole header, every element checked; *last receives the last one. */
static int parse(xelem *last, scan *sc, mtlsauthz_error *err)
{
    int more = 1, rc;
    while (sc->pos < sc->len && is_ows((unsigned char)sc->s[sc->pos])) {
        sc->pos++;
    }
    if (sc->pos == sc->len) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ECERT,
                                    "X-Forwarded-Client-Cert: the header is empty");
    }
    if (sc->s[sc->pos] == '{' || sc->s[sc->pos] == '[') {
        return bad(err, sc, sc->pos,
                   "the header is JSON, which is not read; have the proxy write its default "
                   "Key=value format (Envoy: leave set_client_cert_format unset)");
    }
    while (more) {
        if ((rc = read_element(last, &more, sc, err)) != 0) {
            return rc;
        }
    }
    return 0;
}

/* ---- values ---- */

/* Hash: the SHA-256 Envoy computed over the DER of the certificate it verified, in hex
 * (Envoy writes lowercase; the case does not change the digest). */
static int read_hash(unsigned char digest[32], const xval *v, const scan *sc, mtlsauthz_error *err)
{
    const unsigned char *s = (const unsigned char *)v->p;
    size_t i;
    for (i = 0; i < v->len; i++) {
        if (hex_value(s[i]) < 0) {
            char c[8];
            return bad(err, sc, v->at + i, "%s in Hash, which is 64 hex digits", shown(c, s[i]));
        }
    }
    if (v->len != 64) {
        return bad(err, sc, v->at, "Hash has %zu hex digits; a SHA-256 has 64", v->len);
    }
    for (i = 0; i < 32; i++) {
        digest[i] = (unsigned char)(hex_value(s[2 * i]) << 4 | hex_value(s[2 * i + 1]));
    }
    return 0;
}

/*
 * Cert and Chain: URL-encoded PEM. Strictly: "%XX" escapes, and unescaped only the bytes
 * Envoy's encoders leave as they are (letters, digits, "-", ".", "_", "~", "*"). A raw '+', '/'
 * or '=' would mean the header was not written by one of them; a raw '+' could even be read as
 * a space.
 */
static int url_decode(char **out, size_t *out_len, const xval *v, const char *key, const scan *sc,
                      mtlsauthz_error *err)
{
    const unsigned char *s = (const unsigned char *)v->p;
    size_t i, n = 0;
    char *buf, c[8];
    *out = NULL;
    if (v->len == 0) {
        return bad(err, sc, v->at, "%s is empty", key);
    }
    buf = mtlsauthz__malloc(v->len + 1);
    if (buf == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
    }
    for (i = 0; i < v->len; i++) {
        unsigned char b = s[i];
        if (b == '%') {
            if (i + 2 >= v->len || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0) {
                mtlsauthz__free(buf);
                return bad(err, sc, v->at + i,
                           "a '%%' in %s that is not followed by two hex digits", key);
            }
            buf[n++] = (char)(hex_value(s[i + 1]) << 4 | hex_value(s[i + 2]));
            i += 2;
            continue;
        }
        if (is_alpha(b) || is_digit(b) || b == '-' || b == '.' || b == '_' || b == '~' ||
            b == '*') {
            buf[n++] = (char)b;
            continue;
        }
        mtlsauthz__free(buf);
        return bad(err, sc, v->at + i, "%s in %s is not URL-encoded (write it as %%%02X)",
                   shown(c, b), key, b);
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return 0;
}

/* ---- the Subject: an RFC 2253 DN back into a name ---- */

/*
 * RFC 4514 §2.4: the characters a value escapes with a backslash. BoringSSL, like OpenSSL,
 * escapes these (and '#' and space only where they start or end a value), and control and
 * non-ASCII bytes as \XX.
 */
static int is_escapable(unsigned char c)
{
    return c != '\0' && memchr("\\\"+,;<> #=", c, 10) != NULL;
}

/* The ASN.1 string types a '#' value may hold (X.520 DirectoryString and the other string
 * types of attribute values): what the extractor reads as text. */
static int is_string_tag(unsigned char tag)
{
    switch (tag) {
    case V_ASN1_UTF8STRING:
    case V_ASN1_NUMERICSTRING:
    case V_ASN1_PRINTABLESTRING:
    case V_ASN1_T61STRING:
    case V_ASN1_IA5STRING:
    case V_ASN1_VISIBLESTRING:
    case V_ASN1_UNIVERSALSTRING:
    case V_ASN1_BMPSTRING:
        return 1;
    default:
        return 0;
    }
}

typedef struct dn_ctx {
    const scan *sc;
    const xval *v;  /* the Subject */
    size_t i;       /* position in v */
    char *buf;      /* a decoded value, at most v->len bytes */
    X509_NAME *fwd; /* the attributes in string order */
    mtlsauthz_error *err;
} dn_ctx;

static int dn_bad(dn_ctx *d, size_t at, const char *what)
{
    return bad(d->err, d->sc, d->v->at + at, "Subject is not an RFC 2253 DN: %s", what);
}

/* An attribute type: OpenSSL's short name ("CN", "emailAddress"), as BoringSSL prints a type
 * it knows, or a dotted OID, as it prints one it does not. *owned is set when the object must
 * be freed. */
static int dn_type(const ASN1_OBJECT **obj, ASN1_OBJECT **owned, dn_ctx *d)
{
    const unsigned char *s = (const unsigned char *)d->v->p;
    size_t start = d->i, i = start;
    char text[NAME_MAX_SHOWN * 2 + 1];
    int nid;

    *obj = NULL;
    *owned = NULL;
    if (i < d->v->len && is_alpha(s[i])) {
        while (i < d->v->len && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '-')) {
            i++;
        }
    } else {
        while (i < d->v->len && (is_digit(s[i]) || s[i] == '.')) {
            i++;
        }
    }
    if (i == start) {
        return dn_bad(d, i, "an attribute type was expected");
    }
    if (i - start >= sizeof(text)) {
        return dn_bad(d, start, "an attribute type is too long");
    }
    memcpy(text, s + start, i - start);
    text[i - start] = '\0';
    d->i = i;
    if (is_digit(s[start])) {
        if (!mtlsauthz__eku_is_oid(text, i - start) || (*owned = OBJ_txt2obj(text, 1)) == NULL) {
            return dn_bad(d, start, "an attribute type is not a valid dotted OID");
        }
        *obj = *owned;
        return 0;
    }
    /* Short names only: a long name ("commonName") is not what RFC 2253 output holds. */
    if ((nid = OBJ_sn2nid(text)) == NID_undef) {
        char msg[sizeof(text) + 64];
        snprintf(msg, sizeof(msg), "unknown attribute type '%s'", text);
        return dn_bad(d, start, msg);
    }
    *obj = OBJ_nid2obj(nid);
    return *obj == NULL ? dn_bad(d, start, "unknown attribute type") : 0;
}

/* A '#' value (RFC 4514 §2.4): the hex of one DER string element, which must end the value. */
static int dn_hex_value(int *tag, const unsigned char **content, size_t *clen, dn_ctx *d)
{
    const unsigned char *s = (const unsigned char *)d->v->p;
    unsigned char *der = (unsigned char *)d->buf;
    size_t start = ++d->i, n = 0, hdr, len;
    while (d->i < d->v->len && s[d->i] != ',' && s[d->i] != '+') {
        if (d->i + 1 >= d->v->len || hex_value(s[d->i]) < 0 || hex_value(s[d->i + 1]) < 0) {
            return dn_bad(d, d->i, "a '#' value is not pairs of hex digits");
        }
        der[n++] = (unsigned char)(hex_value(s[d->i]) << 4 | hex_value(s[d->i + 1]));
        d->i += 2;
    }
    /* A tag, then a definite, minimal length (X.690 §10.1) that ends exactly with the bytes. */
    if (n < 2 || !is_string_tag(der[0])) {
        return dn_bad(d, start, "a '#' value is not a DER-encoded string");
    }
    if (der[1] < 0x80) {
        hdr = 2;
        len = der[1];
    } else if (der[1] == 0x81 && n >= 3 && der[2] >= 0x80) {
        hdr = 3;
        len = der[2];
    } else if (der[1] == 0x82 && n >= 4 && der[2] != 0) {
        hdr = 4;
        len = (size_t)der[2] << 8 | der[3];
    } else {
        return dn_bad(d, start, "a '#' value has a malformed DER length");
    }
    if (hdr + len != n) {
        return dn_bad(d, start, "a '#' value's DER length does not match its bytes");
    }
    /* UCS-2 and UCS-4 (X.690 §8.23): whole characters only, or the value does not decode. */
    if ((der[0] == V_ASN1_BMPSTRING && len % 2 != 0) ||
        (der[0] == V_ASN1_UNIVERSALSTRING && len % 4 != 0)) {
        return dn_bad(d, start, "a '#' value holds a partial character");
    }
    *tag = der[0];
    *content = der + hdr;
    *clen = len;
    return 0;
}

/* A string value, its escapes decoded into d->buf. RFC 4514 §2.4 escapes a leading or trailing
 * space and the specials; an unescaped one would make the value read otherwise than printed. */
static int dn_string_value(size_t *len, dn_ctx *d)
{
    const unsigned char *s = (const unsigned char *)d->v->p;
    size_t start = d->i, n = 0, i = d->i;
    int last_escaped = 0;
    char msg[64], c[8];
    while (i < d->v->len && s[i] != ',' && s[i] != '+') {
        last_escaped = 0;
        if (s[i] == '\\') {
            if (i + 2 < d->v->len && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
                d->buf[n++] = (char)(hex_value(s[i + 1]) << 4 | hex_value(s[i + 2]));
                i += 3;
            } else if (i + 1 < d->v->len && is_escapable(s[i + 1])) {
                d->buf[n++] = (char)s[i + 1];
                i += 2;
            } else {
                return dn_bad(d, i, "a '\\' that is not a valid escape");
            }
            last_escaped = 1;
            continue;
        }
        if (s[i] == '"' || s[i] == ';' || s[i] == '<' || s[i] == '>' ||
            (s[i] == ' ' && i == start)) {
            snprintf(msg, sizeof(msg), "%s is not escaped", shown(c, s[i]));
            return dn_bad(d, i, msg);
        }
        d->buf[n++] = (char)s[i++];
    }
    if (n > 0 && !last_escaped && s[i - 1] == ' ') {
        return dn_bad(d, i - 1, "a trailing space is not escaped");
    }
    d->i = i;
    *len = n;
    /* The extractor hands every name over as UTF-8, and so does the header's printer. */
    for (i = 0; i < n;) {
        uint32_t cp;
        size_t k = mtlsauthz__utf8_decode((const unsigned char *)d->buf + i, n - i, &cp);
        if (k == 0) {
            return dn_bad(d, start, "a value is not UTF-8");
        }
        i += k;
    }
    return 0;
}

/* One attribute, type=value, added to d->fwd; `set` 0 starts an RDN, -1 joins the previous. */
static int dn_attribute(dn_ctx *d, int set)
{
    const ASN1_OBJECT *obj;
    ASN1_OBJECT *owned;
    const unsigned char *content = (const unsigned char *)"";
    size_t clen = 0;
    int rc, tag = V_ASN1_UTF8STRING;

    if ((rc = dn_type(&obj, &owned, d)) != 0) {
        return rc;
    }
    if (d->i == d->v->len || d->v->p[d->i] != '=') {
        rc = dn_bad(d, d->i, "an attribute type is not followed by '='");
        goto out;
    }
    d->i++;
    if (d->i < d->v->len && d->v->p[d->i] == '#') {
        rc = dn_hex_value(&tag, &content, &clen, d);
    } else {
        rc = dn_string_value(&clen, d);
        content = (const unsigned char *)d->buf;
    }
    if (rc != 0) {
        goto out;
    }
    if (!X509_NAME_add_entry_by_OBJ(d->fwd, obj, tag, content, (int)clen, -1, set)) {
        rc = dn_bad(d, d->i, "OpenSSL cannot hold an attribute");
    }
out:
    ASN1_OBJECT_free(owned);
    return rc;
}

/*
 * RFC 2253 lists the RDNs last to first, and a multi-valued RDN's attributes in reverse too
 * (XN_FLAG_DN_REV); the name is their order in the certificate, so that the extractor's
 * printer writes it back as it came, in the library's form (`-esc_msb`: UTF-8 kept).
 */
static int dn_reverse(X509_NAME **out, const X509_NAME *fwd)
{
    X509_NAME *rev = X509_NAME_new();
    int n = X509_NAME_entry_count(fwd), k;
    if (rev == NULL) {
        return -1;
    }
    for (k = n - 1; k >= 0; k--) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(fwd, k);
        int join = k < n - 1 &&
                   X509_NAME_ENTRY_set(e) == X509_NAME_ENTRY_set(X509_NAME_get_entry(fwd, k + 1));
        if (!X509_NAME_add_entry(rev, e, -1, join ? -1 : 0)) {
            X509_NAME_free(rev);
            return -1;
        }
    }
    *out = rev;
    return 0;
}

/* The Subject (RFC 4514 §3, as RFC 2253 output has it: no spaces around separators). */
static int parse_dn(X509_NAME **out, const xval *v, const scan *sc, mtlsauthz_error *err)
{
    dn_ctx d;
    size_t count = 0;
    int rc = 0, set = 0;

    *out = NULL;
    memset(&d, 0, sizeof(d));
    d.sc = sc;
    d.v = v;
    d.err = err;
    d.buf = mtlsauthz__malloc(v->len + 1);
    d.fwd = X509_NAME_new();
    if (d.buf == NULL || d.fwd == NULL) {
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
        goto out;
    }
    if (v->len > 0 && v->p[0] == '/') {
        /* X509_NAME_oneline(): "/C=US/O=x/CN=y", as Envoy's documentation still shows it. It
         * escapes no '/', so a CN of "y/O=admin" would read as two attributes. */
        rc = dn_bad(&d, 0,
                    "it is in OpenSSL's old one-line form (\"/C=US/CN=...\"), which cannot be "
                    "read safely; Envoy writes RFC 2253 (\"CN=...,C=US\")");
        goto out;
    }
    while (v->len > 0) {
        if (++count > MTLSAUTHZ__MAX_VALUES) {
            rc = mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT,
                                      "X-Forwarded-Client-Cert: Subject has more than %u "
                                      "attributes (element %zu)",
                                      MTLSAUTHZ__MAX_VALUES, sc->element);
            goto out;
        }
        if ((rc = dn_attribute(&d, set)) != 0) {
            goto out;
        }
        if (d.i == v->len) {
            break;
        }
        set = v->p[d.i] == '+' ? -1 : 0;
        if (++d.i == v->len) {
            rc = dn_bad(&d, d.i - 1, "it ends with a separator");
            goto out;
        }
    }
    /* Copying an entry encodes and decodes it, so this fails only for memory. */
    if (dn_reverse(out, d.fwd) != 0) {
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
    }
out:
    X509_NAME_free(d.fwd);
    mtlsauthz__free(d.buf);
    return rc;
}

/* ---- the identity ---- */

/* Replaces an error's message with one that says which key it is about. */
static int about(mtlsauthz_error *err, int rc, const char *key, const scan *sc)
{
    if (err != NULL) {
        char msg[MTLSAUTHZ_ERROR_MESSAGE_SIZE];
        memcpy(msg, err->message, sizeof(msg));
        msg[sizeof(msg) - 1] = '\0';
        mtlsauthz__error_set(err, rc, "X-Forwarded-Client-Cert: %s: %s (element %zu)", key, msg,
                             sc->element);
    }
    return rc;
}

/* The PEM in a Cert or Chain value, read as any certificate is. */
static int read_pem(mtlsauthz_identity **out, const xval *v, const char *key, const scan *sc,
                    mtlsauthz_error *err)
{
    char *pem = NULL;
    size_t len = 0;
    int rc;
    if ((rc = url_decode(&pem, &len, v, key, sc, err)) != 0) {
        return rc;
    }
    rc = mtlsauthz_identity_from_pem(out, pem, len, err);
    mtlsauthz__free(pem);
    return rc != 0 ? about(err, rc, key, sc) : 0;
}

static int same_value(const mtlsauthz_identity *a, const mtlsauthz_identity *b, mtlsauthz_field f)
{
    return a->counts[f] == 1 && b->counts[f] == 1 &&
           mtlsauthz__str_eq(&a->values[f][0], b->values[f][0].ptr, b->values[f][0].len);
}

/* Whether a Hash read by read_hash() (64 hex digits, either case) is the identity's SHA-256,
 * which the builder writes in lowercase hex. */
static int same_hash(const mtlsauthz_identity *id, const xval *hash)
{
    const mtlsauthz__str *mine = &id->values[MTLSAUTHZ_FIELD_SHA256][0];
    size_t i;
    if (id->counts[MTLSAUTHZ_FIELD_SHA256] != 1 || mine->len != hash->len) {
        return 0;
    }
    for (i = 0; i < hash->len; i++) {
        if ((unsigned char)mine->ptr[i] != mtlsauthz__lower((unsigned char)hash->p[i])) {
            return 0;
        }
    }
    return 1;
}

/*
 * With Cert or Chain, the identity is the certificate's. Chain holds the whole chain, leaf
 * first (Envoy: SSL_get_peer_full_cert_chain), so it gives the chain length; Cert alone is one
 * certificate. Subject, URI and DNS are not read: they were printed from the same certificate.
 */
static int from_certificate(mtlsauthz_identity **out, const xelem *e, const scan *sc,
                            mtlsauthz_error *err)
{
    mtlsauthz_identity *id = NULL, *leaf = NULL;
    unsigned char digest[32];
    int rc;

    if (e->counts[K_HASH] != 0 && (rc = read_hash(digest, &e->first[K_HASH], sc, err)) != 0) {
        return rc;
    }
    if (e->counts[K_CERT] != 0) {
        if ((rc = read_pem(&leaf, &e->first[K_CERT], "Cert", sc, err)) != 0) {
            return rc;
        }
        if (leaf->chain_len != 1) {
            rc = bad(err, sc, e->first[K_CERT].at,
                     "Cert holds %zu certificates; it is the client's certificate alone, and "
                     "its chain goes in Chain",
                     leaf->chain_len);
            goto fail;
        }
    }
    if (e->counts[K_CHAIN] != 0) {
        if ((rc = read_pem(&id, &e->first[K_CHAIN], "Chain", sc, err)) != 0) {
            goto fail;
        }
        if (leaf != NULL && !same_value(id, leaf, MTLSAUTHZ_FIELD_SHA256)) {
            mtlsauthz__identity_reject(id, "XFCC Cert is not the first certificate of Chain");
        }
        mtlsauthz_identity_free(leaf);
        leaf = NULL;
    } else {
        id = leaf;
        leaf = NULL;
    }
    if (e->counts[K_HASH] != 0 && !same_hash(id, &e->first[K_HASH])) {
        mtlsauthz__identity_reject(id, "XFCC Hash is not the certificate's SHA-256");
    }
    *out = id;
    return 0;
fail:
    mtlsauthz_identity_free(leaf);
    mtlsauthz_identity_free(id);
    return rc;
}

/*
 * The element's URI and DNS values, in header order (Envoy's: the certificate's), to the
 * builder. A backslash is in no URI or DNS name, and in a quoted value it could be read as an
 * escape or as itself, so it is refused. An empty URI is how Envoy says there is none.
 */
static int add_sans(mtlsauthz__idb *b, const xelem *e, scan *sc, mtlsauthz_error *err)
{
    int k, rc;
    xval v;
    sc->pos = e->start;
    sc->element = e->index;
    for (;;) {
        if ((rc = read_pair(&k, &v, sc, err)) != 0) {
            return rc;
        }
        if (k == K_URI || k == K_DNS) {
            if (memchr(v.p, '\\', v.len) != NULL) {
                return bad(err, sc, v.at, "a '\\' in a %s value", keys[k].name);
            }
            if (v.len == 0 && (k == K_DNS || e->counts[K_URI] != 1)) {
                return bad(err, sc, v.at, "an empty %s value%s", keys[k].name,
                           k == K_URI ? " next to others (an empty URI means there is none)" : "");
            }
            if (v.len > 0 && (rc = mtlsauthz__idb_add(
                                  b, k == K_URI ? MTLSAUTHZ_FIELD_SAN_URI : MTLSAUTHZ_FIELD_SAN_DNS,
                                  v.p, v.len, err)) != 0) {
                return rc == MTLSAUTHZ_ELIMIT ? about(err, rc, keys[k].name, sc) : rc;
            }
        }
        if (sc->pos == sc->len || sc->s[sc->pos] != ';') {
            return 0;
        }
        sc->pos++;
    }
}

/* Without a certificate: a partial identity from Hash, Subject, URI and DNS. */
static int from_names(mtlsauthz_identity **out, const xelem *e, scan *sc, mtlsauthz_error *err)
{
    mtlsauthz__idb b;
    X509_NAME *name = NULL;
    unsigned char digest[32];
    int rc;

    if (e->counts[K_HASH] == 0 && e->counts[K_SUBJECT] == 0 && e->counts[K_URI] == 0 &&
        e->counts[K_DNS] == 0) {
        return bad(err, sc, e->start,
                   "the element names no client certificate: it has none of Cert, Chain, Hash, "
                   "Subject, URI and DNS (the keys read)");
    }
    mtlsauthz__idb_init(&b);
    /* OpenSSL reports through its thread-local queue; leave it as the caller had it. */
    ERR_set_mark();
    if (e->counts[K_HASH] != 0) {
        if ((rc = read_hash(digest, &e->first[K_HASH], sc, err)) != 0 ||
            (rc = mtlsauthz__idb_set_sha256(&b, digest, err)) != 0) {
            goto out;
        }
    }
    if (e->counts[K_SUBJECT] != 0) {
        if ((rc = parse_dn(&name, &e->first[K_SUBJECT], sc, err)) != 0) {
            goto out;
        }
        if ((rc = mtlsauthz__x509_add_subject(&b, name, err)) != 0) {
            rc = about(err, rc, "Subject", sc);
            goto out;
        }
    }
    if ((rc = add_sans(&b, e, sc, err)) != 0) {
        goto out;
    }
    mtlsauthz__idb_set_partial(&b);
    rc = mtlsauthz__idb_finish(out, &b, 0, err);
out:
    X509_NAME_free(name);
    mtlsauthz__idb_free(&b);
    ERR_pop_to_mark();
    return rc;
}

int mtlsauthz_identity_from_xfcc(mtlsauthz_identity **out, const char *header, size_t header_len,
                                 mtlsauthz_error *err)
{
    scan sc;
    xelem last;
    int rc;

    if (out == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "out is NULL");
    }
    *out = NULL;
    if (header == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "header is NULL");
    }
    if (header_len > MTLSAUTHZ__MAX_XFCC_BYTES) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT,
                                    "X-Forwarded-Client-Cert: longer than %u bytes",
                                    MTLSAUTHZ__MAX_XFCC_BYTES);
    }
    sc.s = header;
    sc.len = header_len;
    sc.pos = 0;
    sc.element = 1;
    if ((rc = parse(&last, &sc, err)) != 0) {
        return rc;
    }
    sc.element = last.index;
    if (last.counts[K_CERT] != 0 || last.counts[K_CHAIN] != 0) {
        return from_certificate(out, &last, &sc, err);
    }
    return from_names(out, &last, &sc, err);
}
