/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The identity builder (identity_build.h): every extractor hands it a leaf certificate's values
 * in certificate order, and it owns every rule that must not differ between extractors: the
 * text forms (serial, digest, times, IP addresses, EKU names), the per-field limits, and the
 * NUL, non-ASCII and SPIFFE (X.509-SVID) rejection rules with their reasons. It reads no
 * certificate bytes itself and calls no extractor (docs/internals.md, "Dependency order").
 */
#include <stdio.h>
#include <string.h>

#include "identity_build.h"
#include "fields.h"

#define SPIFFE_MAX_LEN 2048u   /* SPIFFE ID spec §2.3 */
#define SPIFFE_MAX_TD_LEN 255u /* SPIFFE ID spec §2.1 */
#define SPIFFE_PREFIX "spiffe://"
#define SPIFFE_PREFIX_LEN 9u

/* What messages call each field (fields.h). */
#define LABEL(ENUM, name, label, ARITY) [MTLSAUTHZ_FIELD_##ENUM] = label,
static const char *const field_names[] = {MTLSAUTHZ__FIELDS(LABEL)};
#undef LABEL
_Static_assert(MTLSAUTHZ__ARRAY_LEN(field_names) == MTLSAUTHZ_FIELD_COUNT_,
               "every identity field is a row of MTLSAUTHZ__FIELDS (fields.h)");

#define ARITY_OF(ENUM, name, label, ARITY) [MTLSAUTHZ_FIELD_##ENUM] = MTLSAUTHZ__ARITY_##ARITY,
static const mtlsauthz__field_arity field_arity[] = {MTLSAUTHZ__FIELDS(ARITY_OF)};
#undef ARITY_OF

const char *mtlsauthz__field_name(mtlsauthz_field f)
{
    if ((int)f < 0 || f >= MTLSAUTHZ_FIELD_COUNT_) {
        return "unknown field";
    }
    return field_names[f];
}

/* ---- extended key usage names ---- */

/*
 * RFC 5280 §4.2.1.12, id-kp under 1.3.6.1.5.5.7.3, named as OpenSSL's short names
 * (OBJ_nid2sn). The builder stores these purposes by name, and the policy compiler accepts
 * either form and compiles both to the name, so a policy and an identity always spell a
 * purpose the same way. anyExtendedKeyUsage is deliberately absent: it is not a wildcard, and
 * may only be named by its OID.
 */
static const mtlsauthz__eku eku_table[] = {
    {"serverAuth", "1.3.6.1.5.5.7.3.1"},   {"clientAuth", "1.3.6.1.5.5.7.3.2"},
    {"codeSigning", "1.3.6.1.5.5.7.3.3"},  {"emailProtection", "1.3.6.1.5.5.7.3.4"},
    {"timeStamping", "1.3.6.1.5.5.7.3.8"}, {"OCSPSigning", "1.3.6.1.5.5.7.3.9"},
};

const mtlsauthz__eku *mtlsauthz__eku_table(size_t *count)
{
    if (count != NULL) {
        *count = MTLSAUTHZ__ARRAY_LEN(eku_table);
    }
    return eku_table;
}

static int text_eq(const char *a, const char *b, size_t b_len)
{
    return strlen(a) == b_len && memcmp(a, b, b_len) == 0;
}

const mtlsauthz__eku *mtlsauthz__eku_by_oid(const char *dotted, size_t len)
{
    size_t i;
    if (dotted == NULL) {
        return NULL;
    }
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(eku_table); i++) {
        if (text_eq(eku_table[i].oid, dotted, len)) {
            return &eku_table[i];
        }
    }
    return NULL;
}

const mtlsauthz__eku *mtlsauthz__eku_by_name(const char *name, size_t len)
{
    size_t i;
    if (name == NULL) {
        return NULL;
    }
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(eku_table); i++) {
        if (text_eq(eku_table[i].name, name, len)) {
            return &eku_table[i];
        }
    }
    return NULL;
}

int mtlsauthz__eku_is_oid(const char *s, size_t len)
{
    size_t i = 0, arcs = 0;
    if (s == NULL || len < 3 || s[0] < '0' || s[0] > '2' || s[1] != '.') {
        return 0;
    }
    while (i < len) {
        size_t start = i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
        if (i == start || (i - start > 1 && s[start] == '0') || i - start > 20) {
            return 0;
        }
        arcs++;
        if (i < len) {
            if (s[i] != '.' || i + 1 == len) {
                return 0;
            }
            i++;
        }
    }
    return arcs >= 2;
}

/* ---- the builder ---- */

void mtlsauthz__idb_init(mtlsauthz__idb *b)
{
    memset(b, 0, sizeof(*b));
    mtlsauthz__buf_init(&b->data);
}

void mtlsauthz__idb_free(mtlsauthz__idb *b)
{
    size_t f;
    mtlsauthz__buf_free(&b->data);
    for (f = 0; f < MTLSAUTHZ_FIELD_COUNT_; f++) {
        mtlsauthz__free(b->vals[f]);
    }
    mtlsauthz__free(b->ip_raw);
    mtlsauthz__idb_init(b);
}

static int is_single_valued(mtlsauthz_field f)
{
    return field_arity[f] == MTLSAUTHZ__ARITY_ONE;
}

/* Appends bytes and a NUL to the data buffer; *off receives where they start. */
static int append_data(size_t *off, mtlsauthz__idb *b, const void *p, size_t len,
                       mtlsauthz_error *err)
{
    *off = b->data.len;
    mtlsauthz__buf_append(&b->data, p, len);
    mtlsauthz__buf_append(&b->data, "", 1);
    if (b->data.failed) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
    }
    return 0;
}

static int grow(struct mtlsauthz__idb_val **arr, size_t *cap, size_t need, mtlsauthz_error *err)
{
    struct mtlsauthz__idb_val *p;
    size_t ncap;
    if (need <= *cap) {
        return 0;
    }
    ncap = *cap ? *cap * 2 : 4;
    if (ncap < need) {
        ncap = need;
    }
    p = mtlsauthz__realloc(*arr, ncap * sizeof(**arr));
    if (p == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
    }
    *arr = p;
    *cap = ncap;
    return 0;
}

static int push(mtlsauthz__idb *b, mtlsauthz_field f, const void *p, size_t len,
                mtlsauthz_error *err)
{
    size_t off;
    int rc;
    if (is_single_valued(f) && b->counts[f] != 0) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINTERNAL, "%s set twice", field_names[f]);
    }
    if (b->counts[f] >= MTLSAUTHZ__MAX_VALUES) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT, "more than %u %s values",
                                    MTLSAUTHZ__MAX_VALUES, field_names[f]);
    }
    if ((rc = grow(&b->vals[f], &b->caps[f], b->counts[f] + 1, err)) != 0) {
        return rc;
    }
    if ((rc = append_data(&off, b, p, len, err)) != 0) {
        return rc;
    }
    b->vals[f][b->counts[f]].off = off;
    b->vals[f][b->counts[f]].len = len;
    b->counts[f]++;
    return 0;
}

int mtlsauthz__idb_add(mtlsauthz__idb *b, mtlsauthz_field field, const char *p, size_t len,
                       mtlsauthz_error *err)
{
    switch (field) {
    case MTLSAUTHZ_FIELD_SUBJECT_DN:
    case MTLSAUTHZ_FIELD_ISSUER_DN:
    case MTLSAUTHZ_FIELD_CN:
    case MTLSAUTHZ_FIELD_O:
    case MTLSAUTHZ_FIELD_OU:
    case MTLSAUTHZ_FIELD_SAN_DNS:
    case MTLSAUTHZ_FIELD_SAN_URI:
    case MTLSAUTHZ_FIELD_SAN_EMAIL:
        return push(b, field, p, len, err);
    default:
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINTERNAL, "field %d has no text setter",
                                    (int)field);
    }
}

void mtlsauthz__idb_dn_attribute(mtlsauthz__idb *b, const char *p, size_t len)
{
    if (len > 0 && memchr(p, '\0', len) != NULL) {
        b->nul_in_dn_attr = 1;
    }
}

/*
 * RFC 5952 §4: lowercase hex, no leading zeros, the longest run of two or more zero groups
 * (the first of equal runs) shortened to "::". IPv4-mapped addresses (::ffff:0:0/96) use the
 * mixed notation RFC 5952 §5 recommends, "::ffff:192.0.2.10", which is also how they are
 * written in policies and logs.
 */
static int format_ip(char *out, size_t outsz, const unsigned char *raw, size_t len)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    unsigned int g[8];
    int i, best = -1, best_len = 0, run_start = -1, n = 0;
    if (len == 4) {
        return snprintf(out, outsz, "%u.%u.%u.%u", raw[0], raw[1], raw[2], raw[3]);
    }
    if (memcmp(raw, mapped, sizeof(mapped)) == 0) {
        return snprintf(out, outsz, "::ffff:%u.%u.%u.%u", raw[12], raw[13], raw[14], raw[15]);
    }
    for (i = 0; i < 8; i++) {
        g[i] = ((unsigned int)raw[2 * i] << 8) | raw[2 * i + 1];
    }
    for (i = 0; i <= 8; i++) {
        if (i < 8 && g[i] == 0) {
            if (run_start < 0) {
                run_start = i;
            }
        } else if (run_start >= 0) {
            if (i - run_start >= 2 && i - run_start > best_len) {
                best = run_start;
                best_len = i - run_start;
            }
            run_start = -1;
        }
    }
    for (i = 0; i < 8; i++) {
        if (i == best) {
            n += snprintf(out + n, outsz - (size_t)n, "::");
            i += best_len - 1;
            continue;
        }
        if (i > 0 && i != best + best_len) {
            n += snprintf(out + n, outsz - (size_t)n, ":");
        }
        n += snprintf(out + n, outsz - (size_t)n, "%x", g[i]);
    }
    return n;
}

int mtlsauthz__idb_add_ip(mtlsauthz__idb *b, const unsigned char *raw, size_t len,
                          mtlsauthz_error *err)
{
    char text[64]; /* "ffff:" x 8 is 40 bytes */
    size_t off;
    int n, rc;
    if (len != 4 && len != 16) {
        b->bad_ip = 1;
        return 0;
    }
    n = format_ip(text, sizeof(text), raw, len);
    if (n <= 0 || (size_t)n >= sizeof(text)) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINTERNAL, "cannot format IP address");
    }
    if ((rc = push(b, MTLSAUTHZ_FIELD_SAN_IP, text, (size_t)n, err)) != 0) {
        return rc;
    }
    if ((rc = grow(&b->ip_raw, &b->ip_raw_cap, b->counts[MTLSAUTHZ_FIELD_SAN_IP], err)) != 0) {
        return rc;
    }
    if ((rc = append_data(&off, b, raw, len, err)) != 0) {
        return rc;
    }
    b->ip_raw[b->counts[MTLSAUTHZ_FIELD_SAN_IP] - 1].off = off;
    b->ip_raw[b->counts[MTLSAUTHZ_FIELD_SAN_IP] - 1].len = len;
    return 0;
}

int mtlsauthz__idb_add_eku(mtlsauthz__idb *b, const char *dotted, size_t len, mtlsauthz_error *err)
{
    const mtlsauthz__eku *known = mtlsauthz__eku_by_oid(dotted, len);
    if (known != NULL) {
        return push(b, MTLSAUTHZ_FIELD_EKU, known->name, strlen(known->name), err);
    }
    return push(b, MTLSAUTHZ_FIELD_EKU, dotted, len, err);
}

int mtlsauthz__idb_set_serial(mtlsauthz__idb *b, const unsigned char *mag, size_t len, int negative,
                              mtlsauthz_error *err)
{
    static const char hex[] = "0123456789abcdef";
    mtlsauthz__buf t;
    size_t i = 0;
    int rc;
    while (i < len && mag[i] == 0) {
        i++;
    }
    if (i == len) {
        return push(b, MTLSAUTHZ_FIELD_SERIAL, "0", 1, err);
    }
    mtlsauthz__buf_init(&t);
    if (negative) {
        mtlsauthz__buf_append(&t, "-", 1);
    }
    /* The first byte without its leading zero nibble: "no leading zeros". */
    if (mag[i] >= 0x10) {
        mtlsauthz__buf_append(&t, &hex[mag[i] >> 4], 1);
    }
    mtlsauthz__buf_append(&t, &hex[mag[i] & 0xf], 1);
    for (i++; i < len; i++) {
        mtlsauthz__buf_append(&t, &hex[mag[i] >> 4], 1);
        mtlsauthz__buf_append(&t, &hex[mag[i] & 0xf], 1);
    }
    if (t.failed) {
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
    } else {
        rc = push(b, MTLSAUTHZ_FIELD_SERIAL, t.ptr, t.len, err);
    }
    mtlsauthz__buf_free(&t);
    return rc;
}

int mtlsauthz__idb_set_sha256(mtlsauthz__idb *b, const unsigned char digest[32],
                              mtlsauthz_error *err)
{
    static const char hex[] = "0123456789abcdef";
    char text[64];
    size_t i;
    for (i = 0; i < 32; i++) {
        text[2 * i] = hex[digest[i] >> 4];
        text[2 * i + 1] = hex[digest[i] & 0xf];
    }
    return push(b, MTLSAUTHZ_FIELD_SHA256, text, sizeof(text), err);
}

int mtlsauthz__idb_set_time(mtlsauthz__idb *b, mtlsauthz_field field, int year, int month, int day,
                            int hour, int minute, int second, mtlsauthz_error *err)
{
    char text[32];
    int n;
    if (field != MTLSAUTHZ_FIELD_NOT_BEFORE && field != MTLSAUTHZ_FIELD_NOT_AFTER) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINTERNAL, "field %d is not a time", (int)field);
    }
    /* RFC 5280 §4.1.2.5 times are years 0000-9999; a leap second may show as :60. */
    if (year < 0 || year > 9999 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 ||
        hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ECERT, "%s out of range", field_names[field]);
    }
    /* RFC 3339 §5.6, always UTC. */
    n = snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02dZ", year, month, day, hour,
                 minute, second);
    if (n != 20) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINTERNAL, "cannot format time");
    }
    return push(b, field, text, (size_t)n, err);
}

void mtlsauthz__idb_set_ca(mtlsauthz__idb *b, int is_ca)
{
    b->is_ca = is_ca != 0;
}

void mtlsauthz__idb_set_key_usage(mtlsauthz__idb *b, unsigned int bits)
{
    b->has_key_usage = 1;
    b->key_usage = bits;
}

void mtlsauthz__idb_set_partial(mtlsauthz__idb *b)
{
    b->partial = 1;
}

/* ---- SPIFFE ---- */

static int spiffe_td_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

static int spiffe_path_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

/* The reason for a character outside the allowed set, naming the URI part it starts. */
static const char *spiffe_bad_char(unsigned char c, const char *otherwise)
{
    switch (c) {
    case '?':
        return "invalid SPIFFE ID: query not allowed";
    case '#':
        return "invalid SPIFFE ID: fragment not allowed";
    case '%':
        return "invalid SPIFFE ID: percent-encoding not allowed";
    default:
        return otherwise;
    }
}

const char *mtlsauthz__spiffe_validate(const char *uri, size_t len)
{
    const unsigned char *s = (const unsigned char *)uri;
    size_t i, td_len, seg;
    if (uri == NULL) {
        return "invalid SPIFFE ID: empty";
    }
    if (len > SPIFFE_MAX_LEN) {
        return "invalid SPIFFE ID: longer than 2048 bytes";
    }
    if (len < SPIFFE_PREFIX_LEN || memcmp(uri, SPIFFE_PREFIX, SPIFFE_PREFIX_LEN) != 0) {
        return "invalid SPIFFE ID: scheme must be lowercase spiffe://";
    }
    /* SPIFFE ID spec §2.1: the trust domain is lowercase letters, digits, '.', '-', '_', so a
     * port, userinfo or uppercase letters are all refused. */
    for (i = SPIFFE_PREFIX_LEN; i < len && s[i] != '/'; i++) {
        if (s[i] == ':') {
            return "invalid SPIFFE ID: port not allowed";
        }
        if (s[i] == '@') {
            return "invalid SPIFFE ID: userinfo not allowed";
        }
        if (!spiffe_td_char(s[i])) {
            return spiffe_bad_char(s[i], "invalid SPIFFE ID: bad trust domain character");
        }
    }
    td_len = i - SPIFFE_PREFIX_LEN;
    if (td_len == 0) {
        return "invalid SPIFFE ID: empty trust domain";
    }
    if (td_len > SPIFFE_MAX_TD_LEN) {
        return "invalid SPIFFE ID: trust domain longer than 255 bytes";
    }
    /* X509-SVID spec §2: an SVID names a workload, so "spiffe://td" alone is not one. */
    if (i == len) {
        return "invalid SPIFFE ID: no path";
    }
    /* SPIFFE ID spec §2.2: non-empty segments of [A-Za-z0-9._-], never "." or "..". */
    while (i < len) {
        size_t start = ++i;
        for (; i < len && s[i] != '/'; i++) {
            if (!spiffe_path_char(s[i])) {
                return spiffe_bad_char(s[i], "invalid SPIFFE ID: bad path character");
            }
        }
        seg = i - start;
        if (seg == 0) {
            return i == len ? "invalid SPIFFE ID: trailing slash"
                            : "invalid SPIFFE ID: empty path segment";
        }
        if ((seg == 1 && s[start] == '.') || (seg == 2 && s[start] == '.' && s[start + 1] == '.')) {
            return "invalid SPIFFE ID: '.' or '..' path segment";
        }
    }
    return NULL;
}

/* Whether the URI's scheme is "spiffe" in any letter case: such a URI claims to be a SPIFFE
 * ID, so a leaf that carries one must be a valid SVID or be rejected. */
static int has_spiffe_scheme(const char *p, size_t len)
{
    static const char scheme[] = "spiffe:";
    size_t i;
    if (len < sizeof(scheme) - 1) {
        return 0;
    }
    for (i = 0; i < sizeof(scheme) - 1; i++) {
        if (mtlsauthz__lower((unsigned char)p[i]) != (unsigned char)scheme[i]) {
            return 0;
        }
    }
    return 1;
}

/* ---- finishing ---- */

/* Whether some value of field f holds a NUL byte or, with `non_ascii`, a byte from 0x80 up. */
static int field_has(const mtlsauthz__idb *b, mtlsauthz_field f, int non_ascii)
{
    size_t i, k;
    for (i = 0; i < b->counts[f]; i++) {
        const struct mtlsauthz__idb_val *v = &b->vals[f][i];
        const unsigned char *p = (const unsigned char *)b->data.ptr + v->off;
        if (!non_ascii) {
            if (v->len > 0 && memchr(p, '\0', v->len) != NULL) {
                return 1;
            }
            continue;
        }
        for (k = 0; k < v->len; k++) {
            if (p[k] >= 0x80) {
                return 1;
            }
        }
    }
    return 0;
}

/*
 * The rejection rules, in a fixed order so that every extractor reports the same reason.
 * A NUL inside a name could make it pass for a shorter one (CVE-2009-2408). dNSName,
 * rfc822Name and uniformResourceIdentifier are IA5Strings (RFC 5280 §4.2.1.6), so a byte from
 * 0x80 up is outside their alphabet, and no reading of it (Latin-1, UTF-8, or an IDNA form a
 * policy names) is the certificate's; Go's crypto/x509 refuses such a certificate outright.
 * A spiffe URI that is not a valid SVID could slip past a deny rule that names the real ID.
 */
typedef struct field_reason {
    mtlsauthz_field field;
    const char *reason;
} field_reason;

static const char *rejection(const mtlsauthz__idb *b, size_t *spiffe_uri)
{
    static const field_reason nul_checks[] = {
        {MTLSAUTHZ_FIELD_CN, "NUL byte in subject CN"},
        {MTLSAUTHZ_FIELD_O, "NUL byte in subject O"},
        {MTLSAUTHZ_FIELD_OU, "NUL byte in subject OU"},
        {MTLSAUTHZ_FIELD_SAN_DNS, "NUL byte in DNS SAN"},
        {MTLSAUTHZ_FIELD_SAN_URI, "NUL byte in URI SAN"},
        {MTLSAUTHZ_FIELD_SAN_EMAIL, "NUL byte in email SAN"},
    };
    static const field_reason ascii_checks[] = {
        {MTLSAUTHZ_FIELD_SAN_DNS, "non-ASCII byte in DNS SAN"},
        {MTLSAUTHZ_FIELD_SAN_URI, "non-ASCII byte in URI SAN"},
        {MTLSAUTHZ_FIELD_SAN_EMAIL, "non-ASCII byte in email SAN"},
    };
    size_t i, n_uri = b->counts[MTLSAUTHZ_FIELD_SAN_URI], n_spiffe = 0;
    const char *reason;

    *spiffe_uri = SIZE_MAX;
    for (i = 0; i < n_uri; i++) {
        const struct mtlsauthz__idb_val *v = &b->vals[MTLSAUTHZ_FIELD_SAN_URI][i];
        if (has_spiffe_scheme(b->data.ptr + v->off, v->len)) {
            n_spiffe++;
        }
    }
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(nul_checks); i++) {
        if (field_has(b, nul_checks[i].field, 0)) {
            return nul_checks[i].reason;
        }
    }
    if (b->nul_in_dn_attr) {
        return "NUL byte in subject DN attribute";
    }
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(ascii_checks); i++) {
        if (field_has(b, ascii_checks[i].field, 1)) {
            return ascii_checks[i].reason;
        }
    }
    if (b->bad_ip) {
        return "malformed iPAddress SAN";
    }
    if (n_spiffe == 0) {
        return NULL;
    }
    /* X509-SVID spec §2: an SVID carries exactly one URI SAN. */
    if (n_uri != 1) {
        return "invalid SPIFFE ID: more than one URI SAN";
    }
    {
        const struct mtlsauthz__idb_val *v = &b->vals[MTLSAUTHZ_FIELD_SAN_URI][0];
        reason = mtlsauthz__spiffe_validate(b->data.ptr + v->off, v->len);
    }
    if (reason != NULL) {
        return reason;
    }
    /* A partial identity carries no extensions: whether the leaf is a CA and what its key may
     * do were the proxy's to check when it verified the certificate (identity_build.h). */
    if (b->partial) {
        *spiffe_uri = 0;
        return NULL;
    }
    /* X509-SVID spec §4.1: a leaf SVID must not be a CA. */
    if (b->is_ca) {
        return "invalid SPIFFE ID: leaf is a CA";
    }
    /*
     * X509-SVID spec §4.3: the keyUsage extension must be set on every SVID, and a leaf SVID
     * must set digitalSignature and must not set keyCertSign or cRLSign (§5.2 makes a validator
     * check the last two). A leaf without the extension has no digitalSignature, as go-spiffe's
     * x509svid.Parse reads it. Criticality, which §4.3 also asks for, is not checked: go-spiffe
     * does not check it either, and it says nothing about what the key may do.
     */
    if (!b->has_key_usage) {
        return "invalid SPIFFE ID: leaf has no keyUsage extension";
    }
    if ((b->key_usage & MTLSAUTHZ__KU_DIGITAL_SIGNATURE) == 0) {
        return "invalid SPIFFE ID: leaf keyUsage lacks digitalSignature";
    }
    if ((b->key_usage & MTLSAUTHZ__KU_KEY_CERT_SIGN) != 0) {
        return "invalid SPIFFE ID: leaf keyUsage has keyCertSign";
    }
    if ((b->key_usage & MTLSAUTHZ__KU_CRL_SIGN) != 0) {
        return "invalid SPIFFE ID: leaf keyUsage has cRLSign";
    }
    *spiffe_uri = 0;
    return NULL;
}

int mtlsauthz__idb_finish(mtlsauthz_identity **out, mtlsauthz__idb *b, size_t chain_len,
                          mtlsauthz_error *err)
{
    mtlsauthz_identity *id;
    mtlsauthz__str *strs;
    char *data;
    size_t i, f, nstr = 0, spiffe_uri, size;
    const char *reason;
    int rc;

    *out = NULL;
    for (f = 0; f < MTLSAUTHZ_FIELD_COUNT_ && !b->partial; f++) {
        if (is_single_valued((mtlsauthz_field)f) && b->counts[f] != 1) {
            rc = mtlsauthz__error_set(err, MTLSAUTHZ_EINTERNAL, "%s missing", field_names[f]);
            goto out;
        }
    }
    if (b->counts[MTLSAUTHZ_FIELD_SPIFFE_ID] != 0 || b->data.failed) {
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_EINTERNAL, "identity builder misused");
        goto out;
    }
    reason = rejection(b, &spiffe_uri);

    /* One allocation holds the identity, its value arrays and the bytes, so the identity is
     * immutable and freed in one call. */
    for (f = 0; f < MTLSAUTHZ_FIELD_COUNT_; f++) {
        nstr += b->counts[f];
    }
    nstr += b->counts[MTLSAUTHZ_FIELD_SAN_IP] + (spiffe_uri != SIZE_MAX ? 1 : 0);
    size = sizeof(*id) + nstr * sizeof(*strs) + b->data.len;
    id = mtlsauthz__calloc(1, size);
    if (id == NULL) {
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
        goto out;
    }
    strs = (mtlsauthz__str *)(id + 1);
    data = (char *)(strs + nstr);
    if (b->data.len > 0) {
        memcpy(data, b->data.ptr, b->data.len);
    }
    id->storage = data;
    for (f = 0; f < MTLSAUTHZ_FIELD_COUNT_; f++) {
        id->counts[f] = b->counts[f];
        if (b->counts[f] == 0) {
            continue;
        }
        id->values[f] = strs;
        for (i = 0; i < b->counts[f]; i++) {
            strs[i].ptr = data + b->vals[f][i].off;
            strs[i].len = b->vals[f][i].len;
        }
        strs += b->counts[f];
    }
    if (b->counts[MTLSAUTHZ_FIELD_SAN_IP] > 0) {
        id->ip_raw = strs;
        for (i = 0; i < b->counts[MTLSAUTHZ_FIELD_SAN_IP]; i++) {
            strs[i].ptr = data + b->ip_raw[i].off;
            strs[i].len = b->ip_raw[i].len;
        }
        strs += b->counts[MTLSAUTHZ_FIELD_SAN_IP];
    }
    if (spiffe_uri != SIZE_MAX) {
        /* The SPIFFE ID shares the URI SAN's bytes. */
        strs[0] = id->values[MTLSAUTHZ_FIELD_SAN_URI][spiffe_uri];
        id->values[MTLSAUTHZ_FIELD_SPIFFE_ID] = strs;
        id->counts[MTLSAUTHZ_FIELD_SPIFFE_ID] = 1;
    }
    id->rejected = reason;
    id->chain_len = chain_len;
    id->partial = b->partial;
    *out = id;
    rc = 0;
out:
    mtlsauthz__idb_free(b);
    return rc;
}

void mtlsauthz__identity_reject(mtlsauthz_identity *id, const char *reason)
{
    if (id != NULL && reason != NULL) {
        id->rejected = reason;
    }
}
