/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DER walker (der.h): reads a certificate's DER directly (RFC 5280 §4.1, X.690) and feeds
 * the identity builder the same pieces, in the same order, as the OpenSSL extractor (x509.c).
 *
 * Every rule here mirrors what OpenSSL 3 does on the x509.c path, or is stricter and falls back:
 * - structure: d2i_X509() (crypto/x509/x_x509.c templates), but with DER's definite, minimal
 *   lengths (X.690 §10.1) where OpenSSL also takes BER;
 * - names: X509_NAME_print_ex(XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) for the DN text and
 *   ASN1_STRING_to_UTF8() for the values (crypto/asn1/a_strex.c), including the requirement of
 *   x509_name_canon() that every string value converts to UTF-8, without which d2i_X509() fails;
 * - extensions: X509_get_ext_d2i(), which refuses a duplicate subjectAltName, extKeyUsage,
 *   basicConstraints or keyUsage; OBJ_obj2txt() for extended key usages; ASN1_TIME_to_tm() for
 *   times.
 * The public key is checked for shape only and never decoded.
 *
 * Every function of the walker returns 0, or nonzero for "fall back": nothing here reports an
 * error, because the OpenSSL extractor then runs and reports it. The framing reader
 * (mtlsauthz__der_cert_len) uses the same element reader, for the entry points in identity.c.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>

#include "der.h"
#include "identity_build.h"

/* X.690 §8.1.2 identifier octets, as they appear in certificates. */
#define TAG_BOOLEAN 0x01
#define TAG_INTEGER 0x02
#define TAG_BIT_STRING 0x03
#define TAG_OCTET_STRING 0x04
#define TAG_NULL 0x05
#define TAG_OID 0x06
#define TAG_UTF8STRING 0x0c
#define TAG_NUMERICSTRING 0x12
#define TAG_PRINTABLESTRING 0x13
#define TAG_T61STRING 0x14
#define TAG_IA5STRING 0x16
#define TAG_UTCTIME 0x17
#define TAG_GENERALIZEDTIME 0x18
#define TAG_UNIVERSALSTRING 0x1c
#define TAG_BMPSTRING 0x1e
#define TAG_SEQUENCE 0x30
#define TAG_SET 0x31
#define TAG_CTX(n) (0x80 | (n))      /* context-specific, primitive */
#define TAG_CTX_CONS(n) (0xa0 | (n)) /* context-specific, constructed */

/* Attributes per name and the longest negative serial the walker handles; more falls back. */
#define MAX_ATTRS 32
#define MAX_SERIAL 64

/* ---- reading DER ---- */

typedef struct span {
    const unsigned char *p;
    size_t len;
} span;

/* The bytes still to read; every read checks `left` first (the s2n-tls stuffer discipline). */
typedef struct cur {
    const unsigned char *p;
    size_t left;
} cur;

static cur cur_of(span s)
{
    cur c;
    c.p = s.p;
    c.left = s.len;
    return c;
}

/*
 * Reads one element. The identifier is one octet: X.509 uses no tag number above 30, so the
 * high-tag-number form (X.690 §8.1.2.4) falls back. The length is definite and in its shortest
 * form (X.690 §10.1), at most three octets (more than any certificate we take), and must fit in
 * what remains. `tlv` (may be NULL) receives the whole element.
 */
static int der_read(cur *c, unsigned char *tag, span *content, span *tlv)
{
    size_t hdr = 2, len, n, i;
    if (c->left < 2 || (c->p[0] & 0x1f) == 0x1f) {
        return -1;
    }
    len = c->p[1];
    if (len >= 0x80) {
        n = len & 0x7f;
        /* n == 0 is the indefinite form, BER only (X.690 §10.1). */
        if (n == 0 || n > 3 || c->left - 2 < n || c->p[2] == 0) {
            return -1;
        }
        len = 0;
        for (i = 0; i < n; i++) {
            len = (len << 8) | c->p[2 + i];
        }
        if (len < 0x80) {
            return -1;
        }
        hdr += n;
    }
    if (len > c->left - hdr) {
        return -1;
    }
    *tag = c->p[0];
    content->p = c->p + hdr;
    content->len = len;
    if (tlv != NULL) {
        tlv->p = c->p;
        tlv->len = hdr + len;
    }
    c->p += hdr + len;
    c->left -= hdr + len;
    return 0;
}

int mtlsauthz__der_read_header(unsigned char *tag, size_t *hdr_len, size_t *content_len,
                               const unsigned char *p, size_t avail)
{
    cur c;
    span content, tlv;
    if (tag == NULL || hdr_len == NULL || content_len == NULL || p == NULL) {
        return -1;
    }
    c.p = p;
    c.left = avail;
    if (der_read(&c, tag, &content, &tlv) != 0) {
        return -1;
    }
    *hdr_len = tlv.len - content.len;
    *content_len = content.len;
    return 0;
}

size_t mtlsauthz__der_cert_len(const unsigned char *p, size_t avail)
{
    cur c;
    span content, tlv;
    unsigned char tag;
    if (p == NULL) {
        return 0;
    }
    c.p = p;
    c.left = avail;
    if (der_read(&c, &tag, &content, &tlv) != 0 || tag != TAG_SEQUENCE) {
        return 0;
    }
    return tlv.len;
}

static int der_expect(cur *c, unsigned char want, span *content)
{
    unsigned char tag;
    if (der_read(c, &tag, content, NULL) != 0 || tag != want) {
        return -1;
    }
    return 0;
}

static int peek(const cur *c, unsigned char tag)
{
    return c->left > 0 && c->p[0] == tag;
}

static int span_eq(span s, const unsigned char *p, size_t len)
{
    return s.len == len && memcmp(s.p, p, len) == 0;
}

/*
 * X.690 §8.19.2 as OpenSSL's c2i_ASN1_OBJECT() checks it: at least one octet, no subidentifier
 * starting with 0x80, and a last octet that ends a subidentifier. Longer OIDs than any
 * certificate needs fall back (OpenSSL refuses to print those over 586 octets, CVE-2023-2650).
 */
static int oid_ok(span s)
{
    size_t i;
    if (s.len == 0 || s.len > MTLSAUTHZ__DER_MAX_OID || (s.p[s.len - 1] & 0x80) != 0) {
        return 0;
    }
    for (i = 0; i < s.len; i++) {
        if (s.p[i] == 0x80 && (i == 0 || (s.p[i - 1] & 0x80) == 0)) {
            return 0;
        }
    }
    return 1;
}

/* An INTEGER in the minimal two's complement form of X.690 §8.3.2, which is exactly what
 * OpenSSL's c2i_ASN1_INTEGER() accepts (it refuses empty content and "illegal padding"). */
static int integer_ok(span s)
{
    if (s.len == 0) {
        return 0;
    }
    if (s.len > 1 &&
        ((s.p[0] == 0x00 && (s.p[1] & 0x80) == 0) || (s.p[0] == 0xff && (s.p[1] & 0x80) != 0))) {
        return 0;
    }
    return 1;
}

/* A BIT STRING as c2i_ASN1_BIT_STRING() accepts it: an unused-bits octet of 0-7 first. */
static int bit_string_ok(span s)
{
    return s.len >= 1 && s.p[0] <= 7;
}

/*
 * AlgorithmIdentifier (RFC 5280 §4.1.1.2), which OpenSSL decodes as an OID and an ANY it keeps
 * encoded. Parameters may be absent (ECDSA, Ed25519), NULL (RSA), an OID (EC named curves,
 * RFC 5480 §2.1.1) or a SEQUENCE (RSASSA-PSS, DSA); other types fall back rather than repeat
 * what OpenSSL's ANY decoding checks for each of them.
 */
static int skip_algorithm(cur *c)
{
    span body, x;
    unsigned char tag;
    cur a;
    if (der_expect(c, TAG_SEQUENCE, &body) != 0) {
        return -1;
    }
    a = cur_of(body);
    if (der_expect(&a, TAG_OID, &x) != 0 || !oid_ok(x)) {
        return -1;
    }
    if (a.left == 0) {
        return 0;
    }
    if (der_read(&a, &tag, &x, NULL) != 0 || a.left != 0) {
        return -1;
    }
    switch (tag) {
    case TAG_NULL:
        return x.len == 0 ? 0 : -1;
    case TAG_OID:
        return oid_ok(x) ? 0 : -1;
    case TAG_SEQUENCE:
        return 0;
    default:
        return -1;
    }
}

/* ---- strings ---- */

/*
 * How OpenSSL reads each string type (tag2nbyte in crypto/asn1/a_strex.c): UTF-8, one byte per
 * character (so T61String is read as Latin-1, not T.61), or UCS-2 / UCS-4 big-endian. Other
 * types (VisibleString, OCTET STRING, ...) fall back.
 */
enum { CS_NONE, CS_UTF8, CS_LATIN1, CS_BMP, CS_UNIV };

static int charset(unsigned char tag)
{
    switch (tag) {
    case TAG_UTF8STRING:
        return CS_UTF8;
    case TAG_NUMERICSTRING:
    case TAG_PRINTABLESTRING:
    case TAG_T61STRING:
    case TAG_IA5STRING:
        return CS_LATIN1;
    case TAG_BMPSTRING:
        return CS_BMP;
    case TAG_UNIVERSALSTRING:
        return CS_UNIV;
    default:
        return CS_NONE;
    }
}

/* One UTF-8 sequence (RFC 3629 §3/§4): shortest form, no surrogates, at most U+10FFFF. */
static int utf8_next(const unsigned char *p, size_t len, size_t *i, uint32_t *cp)
{
    size_t n = mtlsauthz__utf8_decode(p + *i, len - *i, cp);
    if (n == 0) {
        return -1;
    }
    *i += n;
    return 0;
}

/*
 * The next character of a string in charset `cs` (a byte for UTF-8, see render_value()). The
 * caller has checked the string with string_ok(), so the widths divide the length.
 */
static uint32_t next_char(int cs, const unsigned char *p, size_t *i)
{
    uint32_t c;
    switch (cs) {
    case CS_BMP:
        c = ((uint32_t)p[*i] << 8) | p[*i + 1];
        *i += 2;
        return c;
    case CS_UNIV:
        c = ((uint32_t)p[*i] << 24) | ((uint32_t)p[*i + 1] << 16) | ((uint32_t)p[*i + 2] << 8) |
            p[*i + 3];
        *i += 4;
        return c;
    default:
        return p[(*i)++];
    }
}

/*
 * Whether ASN1_STRING_to_UTF8() converts the string: UTF-8 must be valid, BMPString and
 * UniversalString must have whole characters that are Unicode scalar values (no surrogates,
 * nothing above U+10FFFF). One-byte types always convert.
 */
static int string_ok(int cs, span s)
{
    size_t i = 0;
    uint32_t c;
    if ((cs == CS_BMP && s.len % 2 != 0) || (cs == CS_UNIV && s.len % 4 != 0)) {
        return 0;
    }
    while (i < s.len) {
        if (cs == CS_UTF8) {
            if (utf8_next(s.p, s.len, &i, &c) != 0) {
                return 0;
            }
        } else {
            c = next_char(cs, s.p, &i);
        }
        if (c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
            return 0;
        }
    }
    return 1;
}

static size_t utf8_put(unsigned char out[4], uint32_t c)
{
    if (c < 0x80) {
        out[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (unsigned char)(0xc0 | (c >> 6));
        out[1] = (unsigned char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (unsigned char)(0xe0 | (c >> 12));
        out[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
        out[2] = (unsigned char)(0x80 | (c & 0x3f));
        return 3;
    }
    out[0] = (unsigned char)(0xf0 | (c >> 18));
    out[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
    out[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
    out[3] = (unsigned char)(0x80 | (c & 0x3f));
    return 4;
}

/* ---- output ---- */

/* A growable output buffer that starts on the stack; failure is sticky and checked once. */
typedef struct sink {
    char *p;
    size_t len, cap;
    int failed;
    char small[256];
} sink;

static void sink_init(sink *s)
{
    s->p = s->small;
    s->len = 0;
    s->cap = sizeof(s->small);
    s->failed = 0;
}

static void sink_free(sink *s)
{
    if (s->p != s->small) {
        mtlsauthz__free(s->p);
    }
    sink_init(s);
}

/* Room for `n` more bytes, to be committed by adding to s->len; NULL once the sink failed. */
static char *sink_room(sink *s, size_t n)
{
    size_t ncap;
    char *np;
    if (s->failed) {
        return NULL;
    }
    if (n > s->cap - s->len) {
        /* Nothing built from one certificate comes near this; it keeps the sizes small. */
        if (n > MTLSAUTHZ__MAX_INPUT_BYTES || s->len > MTLSAUTHZ__MAX_INPUT_BYTES) {
            s->failed = 1;
            return NULL;
        }
        ncap = 2 * (s->len + n);
        np = s->p == s->small ? mtlsauthz__malloc(ncap) : mtlsauthz__realloc(s->p, ncap);
        if (np == NULL) {
            s->failed = 1;
            return NULL;
        }
        if (s->p == s->small) {
            memcpy(np, s->small, s->len);
        }
        s->p = np;
        s->cap = ncap;
    }
    return s->p + s->len;
}

static void sink_put(sink *s, const void *p, size_t n)
{
    char *dst = sink_room(s, n);
    if (dst != NULL) {
        memcpy(dst, p, n);
        s->len += n;
    }
}

static void sink_byte(sink *s, unsigned char c)
{
    sink_put(s, &c, 1);
}

static int all_ascii(span s)
{
    size_t i;
    for (i = 0; i < s.len; i++) {
        if (s.p[i] >= 0x80) {
            return 0;
        }
    }
    return 1;
}

/*
 * A value as UTF-8, as ASN1_STRING_to_UTF8() gives it: UTF8String as is, the one-byte types
 * as Latin-1, BMPString and UniversalString by character. Bytes that need no conversion are
 * not copied; the others go to `tmp`, which is reset first.
 */
static int to_utf8(const char **out, size_t *out_len, int cs, span s, sink *tmp)
{
    unsigned char u[4];
    size_t i = 0;
    if (cs == CS_UTF8 || (cs == CS_LATIN1 && all_ascii(s))) {
        *out = (const char *)s.p;
        *out_len = s.len;
        return 0;
    }
    tmp->len = 0;
    while (i < s.len) {
        sink_put(tmp, u, utf8_put(u, next_char(cs, s.p, &i)));
    }
    if (tmp->failed) {
        return -1;
    }
    *out = tmp->p;
    *out_len = tmp->len;
    return 0;
}

/* ---- distinguished names ---- */

/* RFC 4519 / X.520 attribute types (2.5.4.x) and the PKCS #9 and RFC 4519 ones seen in client
 * certificates, with OpenSSL's short names (crypto/objects/objects.txt). */
static const unsigned char oid_cn[] = {0x55, 0x04, 0x03};
static const unsigned char oid_sn[] = {0x55, 0x04, 0x04};
static const unsigned char oid_serial[] = {0x55, 0x04, 0x05};
static const unsigned char oid_c[] = {0x55, 0x04, 0x06};
static const unsigned char oid_l[] = {0x55, 0x04, 0x07};
static const unsigned char oid_st[] = {0x55, 0x04, 0x08};
static const unsigned char oid_street[] = {0x55, 0x04, 0x09};
static const unsigned char oid_o[] = {0x55, 0x04, 0x0a};
static const unsigned char oid_ou[] = {0x55, 0x04, 0x0b};
static const unsigned char oid_title[] = {0x55, 0x04, 0x0c};
static const unsigned char oid_description[] = {0x55, 0x04, 0x0d};
static const unsigned char oid_business[] = {0x55, 0x04, 0x0f};
static const unsigned char oid_postal_code[] = {0x55, 0x04, 0x11};
static const unsigned char oid_name[] = {0x55, 0x04, 0x29};
static const unsigned char oid_gn[] = {0x55, 0x04, 0x2a};
static const unsigned char oid_initials[] = {0x55, 0x04, 0x2b};
static const unsigned char oid_generation[] = {0x55, 0x04, 0x2c};
static const unsigned char oid_dnq[] = {0x55, 0x04, 0x2e};
static const unsigned char oid_pseudonym[] = {0x55, 0x04, 0x41};
static const unsigned char oid_role[] = {0x55, 0x04, 0x48};
static const unsigned char oid_org_id[] = {0x55, 0x04, 0x61};
static const unsigned char oid_email[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01};
static const unsigned char oid_uid[] = {0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01};
static const unsigned char oid_dc[] = {0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19};
static const unsigned char oid_jur_l[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x82,
                                          0x37, 0x3c, 0x02, 0x01, 0x01};
static const unsigned char oid_jur_st[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x82,
                                           0x37, 0x3c, 0x02, 0x01, 0x02};
static const unsigned char oid_jur_c[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x82,
                                          0x37, 0x3c, 0x02, 0x01, 0x03};

#define OTHER MTLSAUTHZ_FIELD_COUNT_

static const mtlsauthz__der_attr_type attr_types[] = {
    {oid_cn, sizeof(oid_cn), "CN", MTLSAUTHZ_FIELD_CN},
    {oid_o, sizeof(oid_o), "O", MTLSAUTHZ_FIELD_O},
    {oid_ou, sizeof(oid_ou), "OU", MTLSAUTHZ_FIELD_OU},
    {oid_c, sizeof(oid_c), "C", OTHER},
    {oid_st, sizeof(oid_st), "ST", OTHER},
    {oid_l, sizeof(oid_l), "L", OTHER},
    {oid_email, sizeof(oid_email), "emailAddress", OTHER},
    {oid_dc, sizeof(oid_dc), "DC", OTHER},
    {oid_uid, sizeof(oid_uid), "UID", OTHER},
    {oid_serial, sizeof(oid_serial), "serialNumber", OTHER},
    {oid_sn, sizeof(oid_sn), "SN", OTHER},
    {oid_gn, sizeof(oid_gn), "GN", OTHER},
    {oid_street, sizeof(oid_street), "street", OTHER},
    {oid_title, sizeof(oid_title), "title", OTHER},
    {oid_description, sizeof(oid_description), "description", OTHER},
    {oid_business, sizeof(oid_business), "businessCategory", OTHER},
    {oid_postal_code, sizeof(oid_postal_code), "postalCode", OTHER},
    {oid_name, sizeof(oid_name), "name", OTHER},
    {oid_initials, sizeof(oid_initials), "initials", OTHER},
    {oid_generation, sizeof(oid_generation), "generationQualifier", OTHER},
    {oid_dnq, sizeof(oid_dnq), "dnQualifier", OTHER},
    {oid_pseudonym, sizeof(oid_pseudonym), "pseudonym", OTHER},
    {oid_role, sizeof(oid_role), "role", OTHER},
    {oid_org_id, sizeof(oid_org_id), "organizationIdentifier", OTHER},
    {oid_jur_l, sizeof(oid_jur_l), "jurisdictionL", OTHER},
    {oid_jur_st, sizeof(oid_jur_st), "jurisdictionST", OTHER},
    {oid_jur_c, sizeof(oid_jur_c), "jurisdictionC", OTHER},
};

const mtlsauthz__der_attr_type *mtlsauthz__der_attr_types(size_t *count)
{
    *count = MTLSAUTHZ__ARRAY_LEN(attr_types);
    return attr_types;
}

/* One AttributeTypeAndValue (RFC 5280 §4.1.2.4). */
typedef struct attr {
    span oid_tlv, oid; /* the whole OID element, and its content */
    span value;        /* content octets */
    span value_tlv;
    int cs;     /* CS_* of the value */
    size_t rdn; /* index of its RelativeDistinguishedName */
    mtlsauthz_field field;
    const char *sn; /* short name; NULL when OpenSSL does not know the type */
} attr;

typedef struct name {
    attr a[MAX_ATTRS];
    size_t n;
} name;

/*
 * Names the attribute type as X509_NAME_print_ex(XN_FLAG_FN_SN) does: OpenSSL's short name, or
 * (sn NULL) the dotted OID when its object table has no entry. The table above answers for the
 * common types; any other goes to OpenSSL's own table, which an application can extend with
 * OBJ_create(), so the walker never guesses.
 */
static int name_type(attr *a)
{
    const unsigned char *p;
    ASN1_OBJECT *obj;
    size_t i;
    int nid, rc = 0;
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(attr_types); i++) {
        if (span_eq(a->oid, attr_types[i].oid, attr_types[i].oid_len)) {
            a->sn = attr_types[i].sn;
            a->field = attr_types[i].field;
            return 0;
        }
    }
    a->field = OTHER;
    ERR_set_mark();
    p = a->oid_tlv.p;
    obj = d2i_ASN1_OBJECT(NULL, &p, (long)a->oid_tlv.len);
    if (obj == NULL) {
        rc = -1;
    } else {
        nid = OBJ_obj2nid(obj);
        a->sn = nid == NID_undef ? NULL : OBJ_nid2sn(nid);
        /* A known type without a short name would print differently; let OpenSSL do it. */
        if (nid != NID_undef && a->sn == NULL) {
            rc = -1;
        }
        ASN1_OBJECT_free(obj);
    }
    ERR_pop_to_mark();
    return rc;
}

/*
 * Name ::= RDNSequence, RelativeDistinguishedName ::= SET SIZE (1..MAX) OF
 * AttributeTypeAndValue (RFC 5280 §4.1.2.4). An empty SET, a value type OpenSSL would not take
 * in a name (ASN1_PRINTABLE), or a string that does not convert to UTF-8 (x509_name_canon()
 * would fail) falls back.
 */
static int parse_name(name *n, span body)
{
    cur c = cur_of(body), rdn, atv;
    span set, seq;
    unsigned char tag;
    size_t r = 0;
    n->n = 0;
    while (c.left > 0) {
        if (der_expect(&c, TAG_SET, &set) != 0 || set.len == 0) {
            return -1;
        }
        rdn = cur_of(set);
        while (rdn.left > 0) {
            attr *a;
            if (n->n == MAX_ATTRS || der_expect(&rdn, TAG_SEQUENCE, &seq) != 0) {
                return -1;
            }
            a = &n->a[n->n];
            atv = cur_of(seq);
            if (der_read(&atv, &tag, &a->oid, &a->oid_tlv) != 0 || tag != TAG_OID ||
                !oid_ok(a->oid)) {
                return -1;
            }
            if (der_read(&atv, &tag, &a->value, &a->value_tlv) != 0 || atv.left != 0) {
                return -1;
            }
            a->cs = charset(tag);
            if (a->cs == CS_NONE || !string_ok(a->cs, a->value)) {
                return -1;
            }
            a->rdn = r;
            if (name_type(a) != 0) {
                return -1;
            }
            n->n++;
        }
        r++;
    }
    return 0;
}

#define POS_FIRST 1
#define POS_LAST 2

/*
 * One output byte of a value, escaped as OpenSSL's do_esc_char() does with ESC_2253 and
 * ESC_CTRL but not ESC_MSB (char_type in crypto/asn1/charmap.h): RFC 2253 §2.4 specials get a
 * backslash, '#' only at the start and ' ' at either end ('=' is left alone, unlike RFC 4514),
 * control characters and DEL become \XX, and bytes from 0x80 up pass through, so UTF-8 stays
 * readable. `pos` is where the character sits; a one-character value counts only as the last
 * (do_buf()).
 */
static size_t put_escaped(char *out, unsigned char b, int pos)
{
    static const char hex[] = "0123456789ABCDEF";
    if (b < 0x20 || b == 0x7f) {
        out[0] = '\\';
        out[1] = hex[b >> 4];
        out[2] = hex[b & 0xf];
        return 3;
    }
    if (b == '"' || b == '+' || b == ',' || b == ';' || b == '<' || b == '>' || b == '\\' ||
        (b == '#' && pos == POS_FIRST) || (b == ' ' && pos != 0)) {
        out[0] = '\\';
        out[1] = (char)b;
        return 2;
    }
    out[0] = (char)b;
    return 1;
}

/*
 * A value as X509_NAME_print_ex() shows it with ASN1_STRFLGS_UTF8_CONVERT: a UTF8String byte by
 * byte (OpenSSL does not decode it a second time), any other string converted to UTF-8, each
 * output byte escaped by the position of the character it belongs to.
 */
static void render_value(sink *s, const attr *a)
{
    /* A character is at most 4 UTF-8 bytes, and a byte at most 3 once escaped. */
    char *out = sink_room(s, 12 * a->value.len);
    unsigned char u[4];
    size_t i = 0, k, n, w = 0;
    int pos;
    if (out == NULL) {
        return;
    }
    while (i < a->value.len) {
        pos = i == 0 ? POS_FIRST : 0;
        if (a->cs == CS_UTF8) {
            u[0] = a->value.p[i++];
            n = 1;
        } else {
            n = utf8_put(u, next_char(a->cs, a->value.p, &i));
        }
        if (i == a->value.len) {
            pos = POS_LAST;
        }
        for (k = 0; k < n; k++) {
            w += put_escaped(out + w, u[k], pos);
        }
    }
    s->len += w;
}

/*
 * A type OpenSSL does not know prints as its dotted OID (OBJ_obj2txt() into an 80-byte buffer,
 * as do_name_ex() does) and the value as '#' and the hex of its DER (RFC 2253 §2.4,
 * XN_FLAG_DUMP_UNKNOWN_FIELDS). The value is a primitive string with a minimal length, so its
 * DER is the element as it appears in the certificate.
 */
static int render_unknown(sink *s, const attr *a)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = a->oid_tlv.p;
    ASN1_OBJECT *obj;
    char text[80];
    size_t i;
    int len;
    ERR_set_mark();
    obj = d2i_ASN1_OBJECT(NULL, &p, (long)a->oid_tlv.len);
    len = obj == NULL ? -1 : OBJ_obj2txt(text, sizeof(text), obj, 1);
    ASN1_OBJECT_free(obj);
    ERR_pop_to_mark();
    if (len <= 0) {
        return -1;
    }
    sink_put(s, text, strlen(text));
    sink_put(s, "=#", 2);
    for (i = 0; i < a->value_tlv.len; i++) {
        sink_byte(s, (unsigned char)hex[a->value_tlv.p[i] >> 4]);
        sink_byte(s, (unsigned char)hex[a->value_tlv.p[i] & 0xf]);
    }
    return 0;
}

/*
 * The DN as X509_NAME_print_ex(XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) prints it (RFC 2253
 * §2.1): attributes last to first, ',' between RDNs and '+' inside one. Note that OpenSSL
 * reverses every attribute, so a multi-valued RDN's values come out in reverse order too.
 */
static int render_name(sink *s, const name *n)
{
    size_t i;
    for (i = n->n; i-- > 0;) {
        const attr *a = &n->a[i];
        if (i + 1 < n->n) {
            sink_byte(s, n->a[i + 1].rdn == a->rdn ? '+' : ',');
        }
        if (a->sn == NULL) {
            if (render_unknown(s, a) != 0) {
                return -1;
            }
            continue;
        }
        sink_put(s, a->sn, strlen(a->sn));
        sink_byte(s, '=');
        render_value(s, a);
    }
    return s->failed ? -1 : 0;
}

/* ---- times ---- */

typedef struct der_time {
    int year, month, day, hour, minute, second;
} der_time;

static int two_digits(const unsigned char *p)
{
    if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9') {
        return -1;
    }
    return (p[0] - '0') * 10 + (p[1] - '0');
}

static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return days[month - 1] + (month == 2 ? leap : 0);
}

/*
 * Time ::= CHOICE { UTCTime, GeneralizedTime } in the forms RFC 5280 §4.1.2.5 requires:
 * YYMMDDHHMMSSZ (YY below 50 is 20YY) and YYYYMMDDHHMMSSZ, in UTC with seconds and no
 * fraction. OpenSSL also takes offsets, missing seconds and fractions; those fall back. The
 * ranges are those of OpenSSL's ossl_asn1_time_to_tm(), day of month included.
 */
static int parse_time(der_time *t, cur *c)
{
    unsigned char tag;
    span s;
    const unsigned char *p;
    int hi, lo, v[5], i;
    if (der_read(c, &tag, &s, NULL) != 0) {
        return -1;
    }
    p = s.p;
    if (tag == TAG_UTCTIME && s.len == 13) {
        if ((lo = two_digits(p)) < 0) {
            return -1;
        }
        t->year = lo < 50 ? 2000 + lo : 1900 + lo;
        p += 2;
    } else if (tag == TAG_GENERALIZEDTIME && s.len == 15) {
        if ((hi = two_digits(p)) < 0 || (lo = two_digits(p + 2)) < 0) {
            return -1;
        }
        t->year = hi * 100 + lo;
        p += 4;
    } else {
        return -1;
    }
    for (i = 0; i < 5; i++) {
        if ((v[i] = two_digits(p + 2 * i)) < 0) {
            return -1;
        }
    }
    if (p[10] != 'Z') {
        return -1;
    }
    t->month = v[0];
    t->day = v[1];
    t->hour = v[2];
    t->minute = v[3];
    t->second = v[4];
    if (t->month < 1 || t->month > 12 || t->day < 1 || t->day > days_in_month(t->year, t->month) ||
        t->hour > 23 || t->minute > 59 || t->second > 59) {
        return -1;
    }
    return 0;
}

/* ---- object identifiers ---- */

int mtlsauthz__der_oid_text(char *buf, size_t bufsz, const unsigned char *oid, size_t len)
{
    char digits[24];
    size_t i = 0, n = 0, d;
    span s;
    int first = 1;
    s.p = oid;
    s.len = len;
    if (buf == NULL || bufsz == 0 || oid == NULL || !oid_ok(s)) {
        return -1;
    }
    while (i < len) {
        uint64_t v = 0;
        unsigned char c;
        do {
            /* OBJ_obj2txt() switches to a BIGNUM here; such arcs fall back. */
            if (v > (UINT64_MAX >> 7)) {
                return -1;
            }
            c = oid[i++];
            v = (v << 7) | (c & 0x7f);
        } while ((c & 0x80) != 0 && i < len);
        /* X.690 §8.19.4: the first subidentifier packs the first two arcs as 40 * X + Y. */
        if (first) {
            unsigned int top = v >= 80 ? 2 : (unsigned int)(v / 40);
            v -= (uint64_t)top * 40;
            if (bufsz - n < 2) {
                return -1;
            }
            buf[n++] = (char)('0' + top);
            first = 0;
        }
        d = sizeof(digits);
        do {
            digits[--d] = (char)('0' + v % 10);
            v /= 10;
        } while (v != 0);
        digits[--d] = '.';
        if (bufsz - n <= sizeof(digits) - d) {
            return -1;
        }
        memcpy(buf + n, digits + d, sizeof(digits) - d);
        n += sizeof(digits) - d;
    }
    buf[n] = '\0';
    return (int)n;
}

/* ---- the certificate ---- */

static const unsigned char oid_ku[] = {0x55, 0x1d, 0x0f};  /* RFC 5280 §4.2.1.3 */
static const unsigned char oid_san[] = {0x55, 0x1d, 0x11}; /* RFC 5280 §4.2.1.6 */
static const unsigned char oid_bc[] = {0x55, 0x1d, 0x13};  /* RFC 5280 §4.2.1.9 */
static const unsigned char oid_eku[] = {0x55, 0x1d, 0x25}; /* RFC 5280 §4.2.1.12 */

typedef struct cert {
    span serial; /* INTEGER content */
    name issuer, subject;
    der_time not_before, not_after;
    span san, eku, bc, ku; /* extnValue contents, when has_* */
    int has_san, has_eku, has_bc, has_ku;
} cert;

/*
 * extensions [3] EXPLICIT SEQUENCE SIZE (1..MAX) OF Extension, Extension ::= SEQUENCE {
 * extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING } (RFC 5280 §4.1). Only the
 * leaf's subjectAltName, extKeyUsage, basicConstraints and keyUsage are kept; a second one of
 * those makes X509_get_ext_d2i() fail (RFC 5280 §4.2 allows one), so it falls back. A critical
 * flag must be DER's TRUE (X.690 §11.1; FALSE is the default and never encoded, X.690 §11.5).
 */
static int parse_extensions(cert *ct, span body, int leaf)
{
    cur c = cur_of(body), list, e;
    span seq, oid, val, flag;
    if (der_expect(&c, TAG_SEQUENCE, &seq) != 0 || c.left != 0 || seq.len == 0) {
        return -1;
    }
    list = cur_of(seq);
    while (list.left > 0) {
        span *slot = NULL;
        int *has = NULL;
        if (der_expect(&list, TAG_SEQUENCE, &seq) != 0) {
            return -1;
        }
        e = cur_of(seq);
        if (der_expect(&e, TAG_OID, &oid) != 0 || !oid_ok(oid)) {
            return -1;
        }
        if (peek(&e, TAG_BOOLEAN) &&
            (der_expect(&e, TAG_BOOLEAN, &flag) != 0 || flag.len != 1 || flag.p[0] != 0xff)) {
            return -1;
        }
        if (der_expect(&e, TAG_OCTET_STRING, &val) != 0 || e.left != 0) {
            return -1;
        }
        if (!leaf) {
            continue;
        }
        if (span_eq(oid, oid_san, sizeof(oid_san))) {
            slot = &ct->san;
            has = &ct->has_san;
        } else if (span_eq(oid, oid_eku, sizeof(oid_eku))) {
            slot = &ct->eku;
            has = &ct->has_eku;
        } else if (span_eq(oid, oid_bc, sizeof(oid_bc))) {
            slot = &ct->bc;
            has = &ct->has_bc;
        } else if (span_eq(oid, oid_ku, sizeof(oid_ku))) {
            slot = &ct->ku;
            has = &ct->has_ku;
        }
        if (has != NULL) {
            if (*has) {
                return -1;
            }
            *has = 1;
            *slot = val;
        }
    }
    return 0;
}

/*
 * Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue } and
 * TBSCertificate (RFC 5280 §4.1), in full, so that a certificate the walker accepts is one
 * d2i_X509() accepts. The element must end exactly at `len`. Chain certificates (leaf == 0) are
 * only checked, as x509.c only parses them.
 */
static int walk(cert *ct, const unsigned char *der, size_t len, int leaf)
{
    cur c, body, tbs, x;
    span s, t;
    unsigned char tag;
    int v3 = 0;

    ct->has_san = ct->has_eku = ct->has_bc = ct->has_ku = 0;
    c.p = der;
    c.left = len;
    if (der_expect(&c, TAG_SEQUENCE, &s) != 0 || c.left != 0) {
        return -1;
    }
    body = cur_of(s);
    if (der_expect(&body, TAG_SEQUENCE, &s) != 0 || skip_algorithm(&body) != 0 ||
        der_expect(&body, TAG_BIT_STRING, &t) != 0 || !bit_string_ok(t) || body.left != 0) {
        return -1;
    }
    tbs = cur_of(s);

    /* version [0] EXPLICIT Version DEFAULT v1 (§4.1.2.1): v3, or v1 without the v2/v3 fields
     * below. DER never encodes the default, and OpenSSL versions differ on v2 and odd values. */
    if (peek(&tbs, TAG_CTX_CONS(0))) {
        if (der_expect(&tbs, TAG_CTX_CONS(0), &s) != 0 || s.len != 3 || s.p[0] != TAG_INTEGER ||
            s.p[1] != 1 || s.p[2] != 2) {
            return -1;
        }
        v3 = 1;
    }
    if (der_expect(&tbs, TAG_INTEGER, &ct->serial) != 0 || !integer_ok(ct->serial) ||
        skip_algorithm(&tbs) != 0) {
        return -1;
    }
    if (der_expect(&tbs, TAG_SEQUENCE, &s) != 0 || parse_name(&ct->issuer, s) != 0) {
        return -1;
    }
    if (der_expect(&tbs, TAG_SEQUENCE, &s) != 0) {
        return -1;
    }
    x = cur_of(s);
    if (parse_time(&ct->not_before, &x) != 0 || parse_time(&ct->not_after, &x) != 0 ||
        x.left != 0) {
        return -1;
    }
    if (der_expect(&tbs, TAG_SEQUENCE, &s) != 0 || parse_name(&ct->subject, s) != 0) {
        return -1;
    }
    /* subjectPublicKeyInfo: its shape only; the key itself is never decoded. */
    if (der_expect(&tbs, TAG_SEQUENCE, &s) != 0) {
        return -1;
    }
    x = cur_of(s);
    if (skip_algorithm(&x) != 0 || der_expect(&x, TAG_BIT_STRING, &t) != 0 || !bit_string_ok(t) ||
        x.left != 0) {
        return -1;
    }
    if (!v3) {
        return tbs.left == 0 ? 0 : -1;
    }
    /* issuerUniqueID [1] and subjectUniqueID [2] IMPLICIT BIT STRING (§4.1.2.8). */
    if (peek(&tbs, TAG_CTX(1)) && (der_read(&tbs, &tag, &t, NULL) != 0 || !bit_string_ok(t))) {
        return -1;
    }
    if (peek(&tbs, TAG_CTX(2)) && (der_read(&tbs, &tag, &t, NULL) != 0 || !bit_string_ok(t))) {
        return -1;
    }
    if (peek(&tbs, TAG_CTX_CONS(3)) &&
        (der_expect(&tbs, TAG_CTX_CONS(3), &s) != 0 || parse_extensions(ct, s, leaf) != 0)) {
        return -1;
    }
    return tbs.left == 0 ? 0 : -1;
}

/* ---- building the identity ---- */

/* GeneralNames (RFC 5280 §4.2.1.6): rfc822Name [1], dNSName [2] and uniformResourceIdentifier
 * [6] are IA5Strings, handed to the builder as their content octets (as x509.c does), and
 * iPAddress [7] is an OCTET STRING. The other forms (otherName, directoryName, ...) fall back
 * rather than repeat how OpenSSL decodes them. */
static int add_sans(mtlsauthz__idb *b, span ext)
{
    cur c = cur_of(ext), g;
    span body, v;
    unsigned char tag;
    if (der_expect(&c, TAG_SEQUENCE, &body) != 0 || c.left != 0 || body.len == 0) {
        return -1;
    }
    g = cur_of(body);
    while (g.left > 0) {
        mtlsauthz_field f;
        if (der_read(&g, &tag, &v, NULL) != 0) {
            return -1;
        }
        switch (tag) {
        case TAG_CTX(1):
            f = MTLSAUTHZ_FIELD_SAN_EMAIL;
            break;
        case TAG_CTX(2):
            f = MTLSAUTHZ_FIELD_SAN_DNS;
            break;
        case TAG_CTX(6):
            f = MTLSAUTHZ_FIELD_SAN_URI;
            break;
        case TAG_CTX(7):
            if (mtlsauthz__idb_add_ip(b, v.p, v.len, NULL) != 0) {
                return -1;
            }
            continue;
        default:
            return -1;
        }
        if (mtlsauthz__idb_add(b, f, (const char *)v.p, v.len, NULL) != 0) {
            return -1;
        }
    }
    return 0;
}

/* ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId (RFC 5280 §4.2.1.12), each as
 * dotted text; the builder names the well-known ones. */
static int add_ekus(mtlsauthz__idb *b, span ext)
{
    char text[4 * MTLSAUTHZ__DER_MAX_OID + 8];
    cur c = cur_of(ext), list;
    span body, oid;
    int len;
    if (der_expect(&c, TAG_SEQUENCE, &body) != 0 || c.left != 0 || body.len == 0) {
        return -1;
    }
    list = cur_of(body);
    while (list.left > 0) {
        if (der_expect(&list, TAG_OID, &oid) != 0) {
            return -1;
        }
        len = mtlsauthz__der_oid_text(text, sizeof(text), oid.p, oid.len);
        if (len <= 0 || mtlsauthz__idb_add_eku(b, text, (size_t)len, NULL) != 0) {
            return -1;
        }
    }
    return 0;
}

/* BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER
 * OPTIONAL } (RFC 5280 §4.2.1.9), with DER's TRUE (X.690 §11.1, §11.5). */
static int get_ca(int *is_ca, span ext)
{
    cur c = cur_of(ext), bc;
    span body, v;
    *is_ca = 0;
    if (der_expect(&c, TAG_SEQUENCE, &body) != 0 || c.left != 0) {
        return -1;
    }
    bc = cur_of(body);
    if (peek(&bc, TAG_BOOLEAN)) {
        if (der_expect(&bc, TAG_BOOLEAN, &v) != 0 || v.len != 1 || v.p[0] != 0xff) {
            return -1;
        }
        *is_ca = 1;
    }
    if (peek(&bc, TAG_INTEGER) && (der_expect(&bc, TAG_INTEGER, &v) != 0 || !integer_ok(v))) {
        return -1;
    }
    return bc.left == 0 ? 0 : -1;
}

/*
 * KeyUsage ::= BIT STRING { digitalSignature (0), ..., decipherOnly (8) } (RFC 5280 §4.2.1.3),
 * in DER only: at most the two octets nine bits need, unused bits zero (X.690 §11.2.1) and no
 * trailing zero bits (X.690 §11.2.2), so the last octet ends in a used 1 bit. OpenSSL also
 * takes BER forms, masks the unused bits and ignores bytes after the BIT STRING; those fall
 * back, as do bits past decipherOnly. Bit n is 1u << n (identity_build.h).
 */
static int get_key_usage(unsigned int *bits, span ext)
{
    cur c = cur_of(ext);
    span v;
    unsigned int unused, last, i, k;
    *bits = 0;
    if (der_expect(&c, TAG_BIT_STRING, &v) != 0 || c.left != 0 || v.len < 1 || v.len > 3 ||
        v.p[0] > 7) {
        return -1;
    }
    unused = v.p[0];
    if (v.len == 1) {
        return unused == 0 ? 0 : -1;
    }
    last = v.p[v.len - 1];
    if ((last & ((1u << unused) - 1)) != 0 || (last & (1u << unused)) == 0) {
        return -1;
    }
    for (i = 1; i < v.len; i++) {
        for (k = 0; k < 8; k++) {
            if ((v.p[i] & (0x80u >> k)) != 0) {
                *bits |= 1u << ((i - 1) * 8 + k);
            }
        }
    }
    /* Bits 0-8 are the named ones: decipherOnly (8) is the last. */
    return *bits >= 2 * MTLSAUTHZ__KU_DECIPHER_ONLY ? -1 : 0;
}

/* The serial's magnitude and sign, as OpenSSL keeps an INTEGER: a negative one (X.690 §8.3.3)
 * is negated in two's complement. Leading zero bytes are left for the builder to drop. */
static int set_serial(mtlsauthz__idb *b, span s)
{
    unsigned char mag[MAX_SERIAL];
    unsigned int carry = 1;
    size_t i;
    if ((s.p[0] & 0x80) == 0) {
        return mtlsauthz__idb_set_serial(b, s.p, s.len, 0, NULL);
    }
    if (s.len > sizeof(mag)) {
        return -1;
    }
    for (i = s.len; i-- > 0;) {
        carry += (unsigned int)(~s.p[i] & 0xff);
        mag[i] = (unsigned char)carry;
        carry >>= 8;
    }
    return mtlsauthz__idb_set_serial(b, mag, s.len, 1, NULL);
}

/*
 * EVP_sha256() fetches the implementation from the provider on every digest, which costs
 * about as much as hashing a certificate; fetch it once. The pointer is published atomically
 * and never freed (an EVP_MD is immutable and shareable), so concurrent first calls are safe.
 */
static const EVP_MD *sha256_md(void)
{
    static _Atomic(EVP_MD *) cached = NULL;
    EVP_MD *md = atomic_load_explicit(&cached, memory_order_acquire), *expected = NULL;
    if (md != NULL) {
        return md;
    }
    ERR_set_mark();
    md = EVP_MD_fetch(NULL, "SHA256", NULL);
    ERR_pop_to_mark();
    if (md == NULL) {
        return NULL;
    }
    if (!atomic_compare_exchange_strong_explicit(&cached, &expected, md, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        EVP_MD_free(md);
        md = expected;
    }
    return md;
}

static int set_sha256(mtlsauthz__idb *b, const unsigned char *der, size_t len)
{
    const EVP_MD *md = sha256_md();
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    int ok;
    if (md == NULL) {
        return -1;
    }
    ERR_set_mark();
    ok = EVP_Digest(der, len, digest, &digest_len, md, NULL);
    ERR_pop_to_mark();
    if (!ok || digest_len != 32) {
        return -1;
    }
    return mtlsauthz__idb_set_sha256(b, digest, NULL);
}

static int add_dn(mtlsauthz__idb *b, mtlsauthz_field f, const name *n, sink *tmp)
{
    tmp->len = 0;
    if (render_name(tmp, n) != 0) {
        return -1;
    }
    return mtlsauthz__idb_add(b, f, tmp->p, tmp->len, NULL);
}

/* CN, O and OU by value; every other attribute only for its NUL check. */
static int add_subject_values(mtlsauthz__idb *b, const name *n, sink *tmp)
{
    const char *p;
    size_t i, len;
    for (i = 0; i < n->n; i++) {
        const attr *a = &n->a[i];
        if (to_utf8(&p, &len, a->cs, a->value, tmp) != 0) {
            return -1;
        }
        if (a->field == OTHER) {
            mtlsauthz__idb_dn_attribute(b, p, len);
        } else if (mtlsauthz__idb_add(b, a->field, p, len, NULL) != 0) {
            return -1;
        }
    }
    return 0;
}

static int set_time(mtlsauthz__idb *b, mtlsauthz_field f, const der_time *t)
{
    return mtlsauthz__idb_set_time(b, f, t->year, t->month, t->day, t->hour, t->minute, t->second,
                                   NULL);
}

/* Feeds the builder in x509.c's order (extract()), so both extractors fill it alike. */
static int build(mtlsauthz__idb *b, const cert *ct, const unsigned char *der, size_t len)
{
    sink tmp;
    unsigned int ku = 0;
    int is_ca = 0, rc = -1;
    sink_init(&tmp);
    if (add_dn(b, MTLSAUTHZ_FIELD_SUBJECT_DN, &ct->subject, &tmp) != 0 ||
        add_subject_values(b, &ct->subject, &tmp) != 0 ||
        add_dn(b, MTLSAUTHZ_FIELD_ISSUER_DN, &ct->issuer, &tmp) != 0 ||
        set_serial(b, ct->serial) != 0 || set_sha256(b, der, len) != 0 ||
        set_time(b, MTLSAUTHZ_FIELD_NOT_BEFORE, &ct->not_before) != 0 ||
        set_time(b, MTLSAUTHZ_FIELD_NOT_AFTER, &ct->not_after) != 0) {
        goto out;
    }
    if ((ct->has_san && add_sans(b, ct->san) != 0) || (ct->has_eku && add_ekus(b, ct->eku) != 0) ||
        (ct->has_bc && get_ca(&is_ca, ct->bc) != 0) ||
        (ct->has_ku && get_key_usage(&ku, ct->ku) != 0)) {
        goto out;
    }
    mtlsauthz__idb_set_ca(b, is_ca);
    if (ct->has_ku) {
        mtlsauthz__idb_set_key_usage(b, ku);
    }
    rc = 0;
out:
    sink_free(&tmp);
    return rc;
}

int mtlsauthz__der_from_der_certs(mtlsauthz_identity **out, const unsigned char *const *certs,
                                  const size_t *lens, size_t count, size_t chain_len)
{
    mtlsauthz__idb b;
    cert ct;
    size_t i;
    int rc = MTLSAUTHZ__DER_FALLBACK;

    if (out == NULL) {
        return MTLSAUTHZ__DER_FALLBACK;
    }
    *out = NULL;
    if (certs == NULL || lens == NULL || count == 0 || count > MTLSAUTHZ__MAX_CHAIN ||
        chain_len < count || chain_len > MTLSAUTHZ__MAX_CHAIN) {
        return MTLSAUTHZ__DER_FALLBACK;
    }
    for (i = 0; i < count; i++) {
        if (certs[i] == NULL || lens[i] > MTLSAUTHZ__MAX_CERT_BYTES) {
            return MTLSAUTHZ__DER_FALLBACK;
        }
    }
    /* As in x509.c, the chain certificates must parse, though only the leaf is read. */
    for (i = 1; i < count; i++) {
        if (walk(&ct, certs[i], lens[i], 0) != 0) {
            return MTLSAUTHZ__DER_FALLBACK;
        }
    }
    if (walk(&ct, certs[0], lens[0], 1) != 0) {
        return MTLSAUTHZ__DER_FALLBACK;
    }
    mtlsauthz__idb_init(&b);
    if (build(&b, &ct, certs[0], lens[0]) == 0 &&
        mtlsauthz__idb_finish(out, &b, chain_len, NULL) == 0) {
        rc = 0;
    }
    mtlsauthz__idb_free(&b);
    return rc;
}
