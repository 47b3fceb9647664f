/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy compiler: AST (policy_yaml.c) -> immutable compiled policy (policy_int.h).
 *
 * The front end guarantees the schema; everything semantic is checked here, and every error
 * names the principal, rule, key and pattern it is about, so a reviewer can fix the policy
 * from the message alone. Nothing is half-built: on any error the whole policy is destroyed.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "identity_int.h"
#include "keys.h"
#include "op_pattern.h"
#include "policy_int.h"
#include "strmap.h"

/* Operations and `sensitive` patterns: `*` is one path segment (or one name between '/'). */
#define OP_WCLASS MTLSAUTHZ__WC_SLASH

int mtlsauthz__cidr_contains(const mtlsauthz__cidr *c, const unsigned char *addr, size_t len)
{
    unsigned full, rem;
    if (addr == NULL || len != c->len) {
        return 0;
    }
    full = c->prefix / 8u;
    rem = c->prefix % 8u;
    if (memcmp(c->addr, addr, full) != 0) {
        return 0;
    }
    if (rem != 0) {
        unsigned char mask = (unsigned char)(0xffu << (8u - rem));
        if ((addr[full] & mask) != c->addr[full]) {
            return 0;
        }
    }
    return 1;
}

/* ---- building helpers ---- */

/* A compiled pattern and the entry it was compiled from, both in the arena. */
typedef struct interned {
    char *src;
    mtlsauthz__pattern pat;
} interned;

/* What pattern_interned() tags an operation with (selector keys are tagged with the key). */
#define TAG_OPERATION MTLSAUTHZ__KEY_COUNT

typedef struct compiler {
    mtlsauthz_policy *p;
    const mtlsauthz__ast *ast; /* for the positions of what an error is about */
    mtlsauthz_error *err;
    mtlsauthz__strmap cap_map; /* capture name -> policy-wide id */
    /* Per tag, the entries compiled so far -> index into `pats`. */
    mtlsauthz__strmap pat_map[TAG_OPERATION + 1u];
    interned *pats;
    size_t npats, pats_cap;
} compiler;

static int err_nomem(compiler *c)
{
    return mtlsauthz__error_set(c->err, MTLSAUTHZ_ENOMEM, "out of memory compiling the policy");
}

/* ---- the policy's arena ---- */

/*
 * A 100,000-rule policy is a few million small pieces. As separate allocations each paid
 * malloc's header and rounding, and they were interleaved with the parse's garbage, so freeing
 * that garbage left RSS well above the heap (docs/performance.md, "Memory"). In blocks (of
 * up to ARENA_BLOCK) they cost only their size and sit together; the policy frees the blocks.
 */
#define ARENA_FIRST 2048u
#define ARENA_BLOCK (256u * 1024u)
#define ARENA_ALIGN 8u /* every struct placed here has at most this alignment */

struct mtlsauthz__arena_block {
    struct mtlsauthz__arena_block *next;
    size_t used;
    size_t cap;
    uint64_t data[]; /* cap bytes */
};

_Static_assert(_Alignof(mtlsauthz__pattern) <= ARENA_ALIGN &&
                   _Alignof(mtlsauthz__cop) <= ARENA_ALIGN &&
                   _Alignof(mtlsauthz__ckey) <= ARENA_ALIGN &&
                   _Alignof(mtlsauthz__tok) <= ARENA_ALIGN &&
                   _Alignof(mtlsauthz__cidr) <= ARENA_ALIGN,
               "an arena piece needs more alignment than ARENA_ALIGN");

/* `n` zeroed bytes aligned to `align` (1 or ARENA_ALIGN), or NULL. */
static void *arena_alloc(compiler *c, size_t n, size_t align)
{
    struct mtlsauthz__arena_block *b = c->p->arena, *nb;
    size_t at, cap;
    void *r;
    if (n > SIZE_MAX / 2) {
        return NULL;
    }
    if (b != NULL) {
        at = (b->used + align - 1u) & ~(align - 1u);
        if (at <= b->cap && b->cap - at >= n) {
            r = (char *)b->data + at;
            b->used = at + n;
            memset(r, 0, n);
            return r;
        }
    }
    /* Blocks double from ARENA_FIRST to ARENA_BLOCK, so a small policy stays small. A piece
     * over a quarter of ARENA_BLOCK gets a block of its own, behind the current one, whose
     * room stays in use. */
    if (n > ARENA_BLOCK / 4u) {
        cap = n;
    } else {
        cap = b == NULL ? ARENA_FIRST : b->cap >= ARENA_BLOCK / 2u ? ARENA_BLOCK : b->cap * 2u;
        cap = cap < n ? n : cap;
    }
    nb = mtlsauthz__malloc(sizeof(*nb) + cap);
    if (nb == NULL) {
        return NULL;
    }
    nb->cap = cap;
    nb->used = n;
    if (n > ARENA_BLOCK / 4u && b != NULL) {
        nb->next = b->next;
        b->next = nb;
    } else {
        nb->next = b;
        c->p->arena = nb;
    }
    memset(nb->data, 0, n);
    return nb->data;
}

static void *arena_array(compiler *c, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / 2 / size) {
        return NULL;
    }
    return arena_alloc(c, count * size, ARENA_ALIGN);
}

static char *arena_dup(compiler *c, const char *s, size_t len)
{
    char *d = arena_alloc(c, len + 1u, 1);
    if (d != NULL) {
        memcpy(d, s, len);
    }
    return d;
}

static void arena_free(struct mtlsauthz__arena_block *b)
{
    while (b != NULL) {
        struct mtlsauthz__arena_block *next = b->next;
        mtlsauthz__free(b);
        b = next;
    }
}

/* Moves a pattern that pattern.c compiled into the arena: its text, tokens (whose literals
 * point into the text) and capture names. On failure the pattern is cleared. */
static int pattern_to_arena(compiler *c, mtlsauthz__pattern *pat)
{
    mtlsauthz__pattern moved = *pat;
    moved.text = arena_dup(c, pat->text, pat->text_len);
    moved.toks = arena_array(c, pat->ntoks, sizeof(*pat->toks));
    moved.cap_names = pat->ncaps > 0 ? arena_array(c, pat->ncaps, sizeof(char *)) : NULL;
    if (moved.text == NULL || moved.toks == NULL || (pat->ncaps > 0 && moved.cap_names == NULL)) {
        mtlsauthz__pattern_clear(pat);
        return err_nomem(c);
    }
    for (size_t i = 0; i < pat->ntoks; i++) {
        moved.toks[i] = pat->toks[i];
        if (pat->toks[i].kind == MTLSAUTHZ__TOK_LIT) {
            moved.toks[i].lit = moved.text + (pat->toks[i].lit - pat->text);
        }
    }
    for (unsigned i = 0; i < pat->ncaps; i++) {
        moved.cap_names[i] = arena_dup(c, pat->cap_names[i], strlen(pat->cap_names[i]));
        if (moved.cap_names[i] == NULL) {
            mtlsauthz__pattern_clear(pat);
            return err_nomem(c);
        }
    }
    mtlsauthz__pattern_clear(pat);
    *pat = moved;
    return 0;
}

/*
 * *pat and *src: the pattern compiled from `s` (as `compile_src`, which depends on `s` alone)
 * with the wildcard class and folding of `tag`, and the entry as written. An entry seen
 * before under the same tag gets the same ones (pattern.c compiles the same text the same way):
 * a large policy repeats its operations thousands of times. The pattern's errors are
 * pattern.c's, in c->err.
 */
static int pattern_interned(compiler *c, unsigned tag, const char *s, const char *compile_src,
                            mtlsauthz__wclass wclass, mtlsauthz__fold fold, mtlsauthz__pattern *pat,
                            char **src)
{
    size_t len = strlen(s);
    unsigned id, dup;
    int rc;

    if (mtlsauthz__strmap_get(&c->pat_map[tag], s, len, &id)) {
        *pat = c->pats[id].pat;
        *src = c->pats[id].src;
        return 0;
    }
    rc = mtlsauthz__pattern_compile(pat, compile_src, strlen(compile_src), wclass, fold, c->err);
    if (rc < 0) {
        return rc;
    }
    rc = pattern_to_arena(c, pat);
    if (rc < 0) {
        return rc;
    }
    /* A literal's text is usually the entry itself. */
    *src =
        pat->text_len == len && memcmp(pat->text, s, len) == 0 ? pat->text : arena_dup(c, s, len);
    if (*src == NULL) {
        return err_nomem(c);
    }
    if (c->npats == c->pats_cap) {
        size_t cap = c->pats_cap == 0 ? 64 : c->pats_cap * 2;
        interned *grown = mtlsauthz__realloc(c->pats, cap * sizeof(*grown));
        if (grown == NULL) {
            return err_nomem(c);
        }
        c->pats = grown;
        c->pats_cap = cap;
    }
    if (mtlsauthz__strmap_put(&c->pat_map[tag], *src, len, (unsigned)c->npats, &dup) < 0) {
        return err_nomem(c);
    }
    c->pats[c->npats].src = *src;
    c->pats[c->npats].pat = *pat;
    c->npats++;
    return 0;
}

/* The text after pattern.c's `pattern "<quoted>": ` (its quote escapes '"' and '\\'), or
 * `msg` itself: `where` already names the pattern. */
static const char *after_pattern_quote(const char *msg)
{
    static const char head[] = "pattern \"";
    const char *p = msg;
    if (strncmp(p, head, sizeof(head) - 1) != 0) {
        return msg;
    }
    for (p += sizeof(head) - 1; *p != '\0' && *p != '"'; p++) {
        if (*p == '\\' && p[1] != '\0') {
            p++;
        }
    }
    return strncmp(p, "\": ", 3) == 0 ? p + 3 : msg;
}

/* Re-issues the error in c->err with a prefix naming where it happened. */
static int err_prefix(compiler *c, int code, const char *where)
{
    char inner[MTLSAUTHZ_ERROR_MESSAGE_SIZE];
    if (c->err == NULL) {
        return code;
    }
    snprintf(inner, sizeof(inner), "%s", after_pattern_quote(c->err->message));
    return mtlsauthz__error_set(c->err, code, "%s: %s", where, inner);
}

/* Gives the error in c->err the position of what it is about (docs/policy.md, "Errors"). */
static int err_at(compiler *c, int code, mtlsauthz__pos pos)
{
    mtlsauthz__error_at(c->err, pos.line, pos.column);
    return code;
}

/* Length of the UTF-8 encoded control character at s (C0 and DEL: one byte; C1, U+0080 to
 * U+009F: 0xC2 0x80..0x9F), or 0. */
static size_t control_at(const unsigned char *s)
{
    if (s[0] < 0x20 || s[0] == 0x7f) {
        return 1;
    }
    return s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f ? 2 : 0;
}

/*
 * Writes `s` for a one-line message: control characters (C0, DEL, C1) and backslashes as
 * \xNN escapes, cut at 64 bytes with "...". Quoted names, ids and patterns may hold anything
 * a YAML scalar can, and a message is one line of text.
 */
static const char *printable(char *dst, size_t cap, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0, i = 0;
    while (p[i] != '\0' && o + 5 < cap) {
        size_t n = control_at(p + i);
        if (i >= 64) {
            if (o + 4 <= cap) {
                memcpy(dst + o, "...", 3);
                o += 3;
            }
            break;
        }
        if (n == 0 && p[i] != '\\') {
            dst[o++] = (char)p[i++];
            continue;
        }
        if (n == 0) {
            n = 1;
        }
        for (size_t k = 0; k < n && o + 5 < cap; k++) {
            snprintf(dst + o, cap - o, "\\x%02x", p[i + k]);
            o += 4;
        }
        i += n;
    }
    dst[o] = '\0';
    return dst;
}

#define PRINTABLE_SIZE (64u * 4u + 8u)

/*
 * Principal names and rule ids are printed by lint (one finding per line), explain and check:
 * a control character in one would break or forge those lines. Returns the byte offset of the
 * first control character (C0, DEL or C1), or -1.
 */
static long name_control(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; p[i] != '\0'; i++) {
        if (control_at(p + i) != 0) {
            return (long)i;
        }
    }
    return -1;
}

static int err_name(compiler *c, const char *what, const char *s, long at, mtlsauthz__pos pos)
{
    char q[PRINTABLE_SIZE];
    return err_at(c,
                  mtlsauthz__error_set(c->err, MTLSAUTHZ_EPOLICY,
                                       "%s '%s': control character at byte %ld; names and ids "
                                       "are printable text (no newline, tab, NUL, DEL or "
                                       "U+0080 to U+009F)",
                                       what, printable(q, sizeof(q), s), at),
                  pos);
}

static int cap_id(compiler *c, const char *name, unsigned *id)
{
    size_t len = strlen(name);
    unsigned found;
    char *copy;
    char **grown;
    int rc;

    if (mtlsauthz__strmap_get(&c->cap_map, name, len, &found)) {
        *id = found;
        return 0;
    }
    copy = mtlsauthz__memdup0(name, len);
    if (copy == NULL) {
        return err_nomem(c);
    }
    grown = mtlsauthz__realloc(c->p->cap_names, (c->p->ncap_names + 1u) * sizeof(char *));
    if (grown == NULL) {
        mtlsauthz__free(copy);
        return err_nomem(c);
    }
    c->p->cap_names = grown;
    c->p->cap_names[c->p->ncap_names] = copy;
    rc = mtlsauthz__strmap_put(&c->cap_map, copy, len, c->p->ncap_names, &found);
    if (rc < 0) {
        /* cap_names owns copy now; destroy frees it. */
        c->p->ncap_names++;
        return err_nomem(c);
    }
    *id = c->p->ncap_names++;
    return 0;
}

static int is_lower_hex(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
}

/* `serial`: the identity's form (docs/policy.md): lowercase hex, no leading zeros, "-" if negative.
 */
static const char *check_serial(const char *s)
{
    size_t i = 0, len = strlen(s);
    if (len > 0 && s[0] == '-') {
        i = 1;
    }
    if (i == len) {
        return "empty serial number";
    }
    for (size_t j = i; j < len; j++) {
        if (!is_lower_hex(s[j])) {
            return (s[j] >= 'A' && s[j] <= 'F') ? "serial must be lowercase hex"
                                                : "serial must be hex digits (no colons, no "
                                                  "wildcards)";
        }
    }
    if (s[i] == '0' && len - i > 1) {
        return "serial must not have leading zeros";
    }
    if (i == 1 && s[1] == '0' && len == 2) {
        return "serial -0 is not a valid form (write 0)";
    }
    return NULL;
}

static const char *check_sha256(const char *s)
{
    size_t len = strlen(s);
    for (size_t j = 0; j < len; j++) {
        if (!is_lower_hex(s[j])) {
            return (s[j] >= 'A' && s[j] <= 'F') ? "sha256 must be lowercase hex"
                                                : "sha256 must be hex digits (no colons, no "
                                                  "wildcards)";
        }
    }
    if (len != 64) {
        return "sha256 must be exactly 64 hex digits";
    }
    return NULL;
}

/* Returns the canonical EKU value (the name identity extraction gives, from the one EKU
 * table in identity_int.h), or NULL. */
static const char *canonical_eku(const char *s)
{
    const mtlsauthz__eku *known = mtlsauthz__eku_by_name(s, strlen(s));
    if (known == NULL) {
        known = mtlsauthz__eku_by_oid(s, strlen(s));
    }
    if (known != NULL) {
        return known->name;
    }
    return mtlsauthz__eku_is_oid(s, strlen(s)) ? s : NULL;
}

/* `ip`: a v4 or v6 address, optionally with "/prefix". Host bits must be zero, so a typo like
 * 10.0.0.1/8 is caught rather than silently widened. */
static const char *parse_cidr(mtlsauthz__cidr *out, const char *s)
{
    char addr[64];
    const char *slash = strchr(s, '/');
    size_t alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
    unsigned maxp, prefix;

    memset(out, 0, sizeof(*out));
    if (alen == 0 || alen >= sizeof(addr)) {
        return "not an IP address or CIDR block";
    }
    memcpy(addr, s, alen);
    addr[alen] = '\0';
    if (memchr(addr, ':', alen) != NULL) {
        if (inet_pton(AF_INET6, addr, out->addr) != 1) {
            return "not a valid IPv6 address";
        }
        out->len = 16;
    } else {
        if (inet_pton(AF_INET, addr, out->addr) != 1) {
            return "not a valid IPv4 address (dotted decimal, no leading zeros)";
        }
        out->len = 4;
    }
    maxp = out->len * 8u;
    prefix = maxp;
    if (slash != NULL) {
        const char *d = slash + 1;
        size_t n = strlen(d);
        if (n == 0 || n > 3 || (n > 1 && d[0] == '0')) {
            return "malformed prefix length";
        }
        prefix = 0;
        for (size_t i = 0; i < n; i++) {
            if (d[i] < '0' || d[i] > '9') {
                return "malformed prefix length";
            }
            prefix = prefix * 10u + (unsigned)(d[i] - '0');
        }
        if (prefix > maxp) {
            return out->len == 4 ? "prefix length exceeds 32" : "prefix length exceeds 128";
        }
    }
    out->prefix = (unsigned char)prefix;
    for (unsigned bit = prefix; bit < maxp; bit++) {
        if (out->addr[bit / 8u] & (0x80u >> (bit % 8u))) {
            return "host bits set after the prefix length";
        }
    }
    return NULL;
}

/* SPIFFE IDs (SPIFFE-ID spec §2.1): the scheme is "spiffe" and the trust domain is
 * lowercase, so a pattern that could only match an invalid ID is a mistake. */
static const char *check_spiffe(const char *s)
{
    static const char scheme[] = "spiffe://";
    const char *td, *end;
    if (strncmp(s, scheme, sizeof(scheme) - 1) != 0) {
        return "a spiffe pattern must start with \"spiffe://\"";
    }
    td = s + sizeof(scheme) - 1;
    end = strchr(td, '/');
    if (end == NULL) {
        end = td + strlen(td);
    }
    if (end == td) {
        return "empty trust domain";
    }
    for (const char *q = td; q < end; q++) {
        if (*q >= 'A' && *q <= 'Z') {
            return "the trust domain must be lowercase (SPIFFE ID spec)";
        }
    }
    return NULL;
}

/* ---- principals ---- */

static int add_principal_cap(compiler *c, mtlsauthz__principal *pr, const char *name,
                             unsigned char *slot)
{
    unsigned id = 0;
    int rc = cap_id(c, name, &id);
    if (rc < 0) {
        return rc;
    }
    for (unsigned i = 0; i < pr->ncaps; i++) {
        if (pr->cap_ids[i] == id) {
            *slot = (unsigned char)i;
            return 0;
        }
    }
    if (pr->ncaps == MTLSAUTHZ__PRINCIPAL_MAX_CAPTURES) {
        return mtlsauthz__error_set(c->err, MTLSAUTHZ_ELIMIT,
                                    "principal '%s': more than %u distinct capture names", pr->name,
                                    MTLSAUTHZ__PRINCIPAL_MAX_CAPTURES);
    }
    pr->cap_ids[pr->ncaps] = id;
    *slot = (unsigned char)pr->ncaps++;
    return 0;
}

static int compile_key(compiler *c, mtlsauthz__principal *pr, mtlsauthz__key k,
                       const mtlsauthz__strv *v)
{
    mtlsauthz__ckey *ck = &pr->keyv[pr->key_at[k] - 1u];
    const char *kname = mtlsauthz__key_names[k];
    const mtlsauthz__key_kind kind = mtlsauthz__key_kind_of(k);
    const unsigned pi = (unsigned)(pr - c->p->principals);
    char where[MTLSAUTHZ__NAME_MAX_LEN + PRINTABLE_SIZE + 64];
    char q[PRINTABLE_SIZE];
    /* Formatted only on error: a 100,000-rule policy should not pay for it. */
#define KEY_WHERE()                                                                                \
    snprintf(where, sizeof(where), "principal '%s', key '%s', entry '%s'", pr->name, kname,        \
             printable(q, sizeof(q), s))
#define KEY_AT() mtlsauthz__ast_key_pos(c->ast, pi, k, i)
    int rc;

    ck->src = arena_array(c, v->n, sizeof(char *));
    if (ck->src == NULL) {
        return err_nomem(c);
    }
    if (kind == MTLSAUTHZ__KIND_CIDR) {
        ck->cidrs = arena_array(c, v->n, sizeof(*ck->cidrs));
    } else {
        ck->pats = arena_array(c, v->n, sizeof(*ck->pats));
    }
    if (ck->cidrs == NULL && ck->pats == NULL) {
        return err_nomem(c);
    }
    ck->n = v->n;
    for (unsigned i = 0; i < v->n; i++) {
        const char *s = v->v[i];
        const char *bad = NULL;
        const char *compile_src = s;

        switch (kind) {
        case MTLSAUTHZ__KIND_CIDR:
            ck->src[i] = arena_dup(c, s, strlen(s));
            if (ck->src[i] == NULL) {
                return err_nomem(c);
            }
            bad = parse_cidr(&ck->cidrs[i], s);
            if (bad != NULL) {
                KEY_WHERE();
                return err_at(c,
                              mtlsauthz__error_set(c->err, MTLSAUTHZ_EPOLICY, "%s: %s", where, bad),
                              KEY_AT());
            }
            continue;
        case MTLSAUTHZ__KIND_SERIAL:
            bad = check_serial(s);
            break;
        case MTLSAUTHZ__KIND_SHA256:
            bad = check_sha256(s);
            break;
        case MTLSAUTHZ__KIND_EKU:
            compile_src = canonical_eku(s);
            if (compile_src == NULL) {
                bad = "not a known extended key usage (clientAuth, serverAuth, codeSigning, "
                      "emailProtection, timeStamping, OCSPSigning) or a dotted OID";
            }
            break;
        case MTLSAUTHZ__KIND_SPIFFE:
            bad = check_spiffe(s);
            break;
        case MTLSAUTHZ__KIND_PATTERN:
            break;
        }
        if (bad != NULL) {
            KEY_WHERE();
            return err_at(c, mtlsauthz__error_set(c->err, MTLSAUTHZ_EPOLICY, "%s: %s", where, bad),
                          KEY_AT());
        }
        rc = pattern_interned(c, k, s, compile_src, mtlsauthz__key_wclass(k),
                              mtlsauthz__key_fold(k), &ck->pats[i], &ck->src[i]);
        if (rc < 0) {
            KEY_WHERE();
            return err_at(c, err_prefix(c, rc, where), KEY_AT());
        }
        if (ck->pats[i].ncaps > 0) {
            if (ck->capmap == NULL) {
                ck->capmap = arena_array(c, v->n, sizeof(*ck->capmap));
                if (ck->capmap == NULL) {
                    return err_nomem(c);
                }
            }
            for (unsigned j = 0; j < ck->pats[i].ncaps; j++) {
                rc = add_principal_cap(c, pr, ck->pats[i].cap_names[j], &ck->capmap[i][j]);
                if (rc < 0) {
                    return rc == MTLSAUTHZ_ENOMEM ? rc : err_at(c, rc, KEY_AT());
                }
            }
        }
    }
    return 0;
#undef KEY_AT
#undef KEY_WHERE
}

static int compile_principals(compiler *c, const mtlsauthz__ast *ast, mtlsauthz__strmap *names)
{
    mtlsauthz_policy *p = c->p;
    int rc;

    if (ast->nprincipals == 0) {
        return 0;
    }
    p->principals = mtlsauthz__calloc(ast->nprincipals, sizeof(*p->principals));
    if (p->principals == NULL || mtlsauthz__strmap_reserve(names, ast->nprincipals) < 0) {
        return err_nomem(c);
    }
    for (unsigned i = 0; i < ast->nprincipals; i++) {
        const mtlsauthz__ast_principal *ap = &ast->principals[i];
        mtlsauthz__principal *pr = &p->principals[i];
        mtlsauthz__pos at = mtlsauthz__ast_principal_name_pos(c->ast, i);
        unsigned dup, nkeys = 0;
        long bad;

        p->nprincipals = i + 1u;
        pr->pos = at;
        pr->name = arena_dup(c, ap->name, strlen(ap->name));
        if (pr->name == NULL) {
            return err_nomem(c);
        }
        bad = name_control(ap->name);
        if (bad >= 0) {
            char what[32];
            snprintf(what, sizeof(what), "principal #%u", i + 1u);
            return err_name(c, what, ap->name, bad, at);
        }
        if (strcmp(ap->name, "*") == 0) {
            return err_at(c,
                          mtlsauthz__error_set(c->err, MTLSAUTHZ_EPOLICY,
                                               "principal #%u: the name '*' is reserved (it means "
                                               "any verified identity in a rule)",
                                               i + 1u),
                          at);
        }
        rc = mtlsauthz__strmap_put(names, pr->name, strlen(pr->name), i, &dup);
        if (rc < 0) {
            return err_nomem(c);
        }
        if (rc == 1) {
            return err_at(c,
                          mtlsauthz__error_set(c->err, MTLSAUTHZ_EPOLICY,
                                               "duplicate principal name '%s' (principals #%u "
                                               "and #%u)",
                                               pr->name, dup + 1u, i + 1u),
                          at);
        }
        for (unsigned k = 0; k < MTLSAUTHZ__KEY_COUNT; k++) {
            nkeys += ap->keys[k].n > 0;
        }
        if (nkeys == 0) {
            return err_at(c,
                          mtlsauthz__error_set(c->err, MTLSAUTHZ_EPOLICY,
                                               "principal '%s': empty selector (it needs at least "
                                               "one key besides name)",
                                               pr->name),
                          at);
        }
        pr->keyv = arena_array(c, nkeys, sizeof(*pr->keyv));
        if (pr->keyv == NULL) {
            return err_nomem(c);
        }
        for (unsigned k = 0; k < MTLSAUTHZ__KEY_COUNT; k++) {
            if (ap->keys[k].n == 0) {
                continue;
            }
            /* Counted before compile_key() fills it: destroy frees what it got so far. */
            pr->key_at[k] = ++pr->nkeys;
            pr->key_mask |= (uint32_t)1u << k;
            rc = compile_key(c, pr, (mtlsauthz__key)k, &ap->keys[k]);
            if (rc < 0) {
                return rc;
            }
        }
    }
    return 0;
}

/* ---- rules ---- */

/* "rule 'r': undefined principal 'admins'; did you mean 'admin'?", or the names defined. */
static int err_undefined(compiler *c, const char *rule, const char *name)
{
    const mtlsauthz_policy *p = c->p;
    char q[PRINTABLE_SIZE], qn[PRINTABLE_SIZE], tail[MTLSAUTHZ_ERROR_MESSAGE_SIZE];
    mtlsauthz__suggest sg;
    const char *close;
    size_t close_len, o = 0;

    mtlsauthz__suggest_init(&sg, name, strlen(name));
    for (unsigned i = 0; i < p->nprincipals; i++) {
        mtlsauthz__suggest_add(&sg, p->principals[i].name, strlen(p->principals[i].name));
    }
    tail[0] = '\0';
    /* Names are printable by now (checked before any rule) but may be long: printable() cuts
     * them. */
    if (mtlsauthz__suggest_one(&sg, &close, &close_len)) {
        snprintf(tail, sizeof(tail), "; did you mean '%s'?", printable(q, sizeof(q), close));
    } else if (sg.total == 0) {
        snprintf(tail, sizeof(tail),
                 " (the policy defines no principals; \"*\" means any "
                 "verified identity)");
    } else {
        for (size_t i = 0; i < sg.nlist && o < sizeof(tail); i++) {
            int n = snprintf(tail + o, sizeof(tail) - o, "%s%s", i == 0 ? " (defined: " : ", ",
                             printable(q, sizeof(q), sg.list[i]));
            o += n > 0 ? (size_t)n : 0;
        }
        if (o < sizeof(tail)) {
            snprintf(tail + o, sizeof(tail) - o, "%s)", sg.total > sg.nlist ? ", ..." : "");
        }
    }
    return mtlsauthz__error_set(c->err, MTLSAUTHZ_EPOLICY, "rule '%s': undefined principal '%s'%s",
                                printable(q, sizeof(q), rule), printable(qn, sizeof(qn), name),
                                tail);
}

static int principal_binds(const mtlsauthz__principal *pr, unsigned id, unsigned *slot)
{
    for (unsigned i = 0; i < pr->ncaps; i++) {
        if (pr->cap_ids[i] == id) {
            *slot = i;
            return 1;
        }
    }
    return 0;
}

/*
 * An operation pattern that has the shape of an HTTP operation must be able to match a
 * canonical one, in every policy; under `protocol: http` every pattern must be an HTTP one
 * (op_pattern.h). Otherwise a deny rule with a typo (a trailing '/', a lowercase method)
 * would silently never match, and fail open.
 */
static const char *check_operation(const compiler *c, const mtlsauthz__pattern *pat, char *buf)
{
    return mtlsauthz__op_pattern_check(pat, c->p->protocol == MTLSAUTHZ__PROTOCOL_HTTP, buf);
}

static int compile_rule(compiler *c, unsigned ri, const mtlsauthz__ast_rule *ar, mtlsauthz__rule *r,
                        const mtlsauthz__strmap *names, unsigned *use_count)
{
    mtlsauthz_policy *p = c->p;
    char where[MTLSAUTHZ__NAME_MAX_LEN + PRINTABLE_SIZE + 64];
    char q[PRINTABLE_SIZE];
    char why[MTLSAUTHZ__OP_PATTERN_WHY_SIZE];
#define OP_WHERE()                                                                                 \
    snprintf(where, sizeof(where), "rule '%s', operation '%s'", r->id, printable(q, sizeof(q), s))
#define OP_AT() mtlsauthz__ast_operation_pos(c->ast, ri, i)
    int rc;

    r->effect = ar->effect;
    r->mode = ar->mode;
    r->principals = arena_array(c, ar->principals.n, sizeof(unsigned));
    r->ops = arena_array(c, ar->operations.n, sizeof(*r->ops));
    if (r->principals == NULL || r->ops == NULL) {
        return err_nomem(c);
    }
    for (unsigned i = 0; i < ar->principals.n; i++) {
        const char *name = ar->principals.v[i];
        unsigned pi;
        int seen = 0;
        if (strcmp(name, "*") == 0) {
            r->any_principal = 1;
            continue;
        }
        if (!mtlsauthz__strmap_get(names, name, strlen(name), &pi)) {
            return err_at(c, err_undefined(c, r->id, name),
                          mtlsauthz__ast_rule_principal_pos(c->ast, ri, i));
        }
        for (unsigned j = 0; j < r->nprincipals; j++) {
            seen |= r->principals[j] == pi;
        }
        if (!seen) {
            r->principals[r->nprincipals++] = pi;
            use_count[pi]++;
        }
    }
    for (unsigned i = 0; i < ar->operations.n; i++) {
        const char *s = ar->operations.v[i];
        mtlsauthz__cop *op = &r->ops[i];

        r->nops = i + 1u;
        rc = pattern_interned(c, TAG_OPERATION, s, s, OP_WCLASS, MTLSAUTHZ__FOLD_NONE, &op->pat,
                              &op->src);
        if (rc < 0) {
            OP_WHERE();
            return err_at(c, err_prefix(c, rc, where), OP_AT());
        }
        if (check_operation(c, &op->pat, why) != NULL) {
            OP_WHERE();
            return err_at(c, mtlsauthz__error_set(c->err, MTLSAUTHZ_EPOLICY, "%s: %s", where, why),
                          OP_AT());
        }
        if (op->pat.is_literal) {
            op->lit_hash = mtlsauthz__hash(p->seed, op->pat.text, op->pat.text_len);
        }
        for (unsigned j = 0; j < op->pat.ncaps; j++) {
            const char *cname = op->pat.cap_names[j];
            unsigned id = 0, slot;
            int bound = 0;
            r->has_captures = 1;
            /* Only captures some principal binds get an id; "*" binds nothing (docs/policy.md,
             * "Captures": an operation capture no principal of the rule binds is a load error). */
            if (mtlsauthz__strmap_get(&c->cap_map, cname, strlen(cname), &id)) {
                for (unsigned k = 0; k < r->nprincipals; k++) {
                    mtlsauthz__principal *pr = &p->principals[r->principals[k]];
                    if (principal_binds(pr, id, &slot)) {
                        pr->needed_caps |= (uint32_t)1u << slot;
                        if (r->effect == MTLSAUTHZ__DENY) {
                            pr->deny_caps |= (uint32_t)1u << slot;
                        }
                        bound = 1;
                    }
                }
            }
            if (!bound) {
                OP_WHERE();
                return err_at(c,
                              mtlsauthz__error_set(c->err, MTLSAUTHZ_EPOLICY,
                                                   "%s: capture {%s} is not bound by any of the "
                                                   "rule's principals; to match any one segment "
                                                   "without binding it, write *",
                                                   where, cname),
                              OP_AT());
            }
            op->cap_ids[j] = id;
        }
    }
    return 0;
#undef OP_AT
#undef OP_WHERE
}

static int compile_rules(compiler *c, const mtlsauthz__ast *ast, const mtlsauthz__strmap *names)
{
    mtlsauthz_policy *p = c->p;
    mtlsauthz__strmap ids;
    unsigned *use_count = NULL;
    unsigned nany = 0;
    int rc = 0;

    mtlsauthz__strmap_init(&ids, p->seed);
    p->rules = mtlsauthz__calloc(ast->nrules, sizeof(*p->rules));
    use_count = mtlsauthz__calloc(p->nprincipals + 1u, sizeof(unsigned));
    if (p->rules == NULL || use_count == NULL || mtlsauthz__strmap_reserve(&ids, ast->nrules) < 0) {
        rc = err_nomem(c);
        goto out;
    }
    for (unsigned i = 0; i < ast->nrules; i++) {
        const mtlsauthz__ast_rule *ar = &ast->rules[i];
        mtlsauthz__rule *r = &p->rules[i];
        unsigned dup;
        long bad;

        p->nrules = i + 1u;
        r->pos = mtlsauthz__ast_rule_id_pos(c->ast, i);
        r->id = arena_dup(c, ar->id, strlen(ar->id));
        if (r->id == NULL) {
            rc = err_nomem(c);
            goto out;
        }
        bad = name_control(ar->id);
        if (bad >= 0) {
            char what[32];
            snprintf(what, sizeof(what), "rule #%u: the id", i + 1u);
            rc = err_name(c, what, ar->id, bad, mtlsauthz__ast_rule_id_pos(c->ast, i));
            goto out;
        }
        rc = mtlsauthz__strmap_put(&ids, r->id, strlen(r->id), i, &dup);
        if (rc < 0) {
            rc = err_nomem(c);
            goto out;
        }
        if (rc == 1) {
            rc = err_at(c,
                        mtlsauthz__error_set(c->err, MTLSAUTHZ_EPOLICY,
                                             "duplicate rule id '%s' (rules #%u and #%u)", r->id,
                                             dup + 1u, i + 1u),
                        mtlsauthz__ast_rule_id_pos(c->ast, i));
            goto out;
        }
        rc = compile_rule(c, i, ar, r, names, use_count);
        if (rc < 0) {
            goto out;
        }
        nany += r->any_principal ? 1u : 0u;
    }
    /* The "used" view and the "*" list, both ascending because rules are visited in order. */
    for (unsigned i = 0; i < p->nprincipals; i++) {
        if (use_count[i] == 0) {
            continue;
        }
        p->principals[i].rules = arena_array(c, use_count[i], sizeof(unsigned));
        if (p->principals[i].rules == NULL) {
            rc = err_nomem(c);
            goto out;
        }
    }
    if (nany > 0) {
        p->any_rules = mtlsauthz__malloc(nany * sizeof(unsigned));
        if (p->any_rules == NULL) {
            rc = err_nomem(c);
            goto out;
        }
    }
    for (unsigned i = 0; i < p->nrules; i++) {
        const mtlsauthz__rule *r = &p->rules[i];
        for (unsigned j = 0; j < r->nprincipals; j++) {
            mtlsauthz__principal *pr = &p->principals[r->principals[j]];
            pr->rules[pr->nrules++] = i;
        }
        if (r->any_principal) {
            p->any_rules[p->nany_rules++] = i;
        }
    }
    rc = 0;
out:
    mtlsauthz__free(use_count);
    mtlsauthz__strmap_free(&ids);
    return rc;
}

static int compile_sensitive(compiler *c, const mtlsauthz__ast *ast)
{
    mtlsauthz_policy *p = c->p;
    char where[PRINTABLE_SIZE + 64];
    char q[PRINTABLE_SIZE];
    char why[MTLSAUTHZ__OP_PATTERN_WHY_SIZE];
    int rc;

    if (ast->sensitive.n == 0) {
        return 0;
    }
    p->sensitive_src = mtlsauthz__calloc(ast->sensitive.n, sizeof(char *));
    p->sensitive = mtlsauthz__calloc(ast->sensitive.n, sizeof(*p->sensitive));
    p->sensitive_pos = mtlsauthz__calloc(ast->sensitive.n, sizeof(*p->sensitive_pos));
    if (p->sensitive_src == NULL || p->sensitive == NULL || p->sensitive_pos == NULL) {
        return err_nomem(c);
    }
    p->nsensitive = ast->sensitive.n;
    for (unsigned i = 0; i < ast->sensitive.n; i++) {
        const char *s = ast->sensitive.v[i];
        p->sensitive_pos[i] = mtlsauthz__ast_sensitive_pos(ast, i);
        p->sensitive_src[i] = mtlsauthz__memdup0(s, strlen(s));
        if (p->sensitive_src[i] == NULL) {
            return err_nomem(c);
        }
        snprintf(where, sizeof(where), "sensitive pattern '%s'", printable(q, sizeof(q), s));
        rc = mtlsauthz__pattern_compile(&p->sensitive[i], s, strlen(s), OP_WCLASS,
                                        MTLSAUTHZ__FOLD_NONE, c->err);
        if (rc < 0) {
            return err_at(c, err_prefix(c, rc, where), mtlsauthz__ast_sensitive_pos(ast, i));
        }
        /* `sensitive` entries are operation patterns: one that can never match protects
         * nothing, and lint would check grants against it in vain. */
        if (check_operation(c, &p->sensitive[i], why) != NULL) {
            return err_at(c, mtlsauthz__error_set(c->err, MTLSAUTHZ_EPOLICY, "%s: %s", where, why),
                          mtlsauthz__ast_sensitive_pos(ast, i));
        }
    }
    return 0;
}

/* The compiler's scratch; the policy keeps none of it. */
static void compiler_free(compiler *c, mtlsauthz__strmap *names)
{
    mtlsauthz__strmap_free(names);
    mtlsauthz__strmap_free(&c->cap_map);
    for (unsigned t = 0; t <= TAG_OPERATION; t++) {
        mtlsauthz__strmap_free(&c->pat_map[t]);
    }
    mtlsauthz__free(c->pats);
}

int mtlsauthz__policy_compile(mtlsauthz_policy **out, const mtlsauthz__ast *ast,
                              mtlsauthz_error *err)
{
    compiler c;
    mtlsauthz__strmap names;
    int rc;

    *out = NULL;
    if (ast == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "no policy given");
    }
    memset(&c, 0, sizeof(c));
    c.ast = ast;
    c.err = err;
    c.p = mtlsauthz__calloc(1, sizeof(*c.p));
    if (c.p == NULL) {
        return err_nomem(&c);
    }
    atomic_init(&c.p->refs, 1);
    c.p->protocol = ast->protocol;
    mtlsauthz__seed(c.p->seed);
    mtlsauthz__strmap_init(&c.cap_map, c.p->seed);
    mtlsauthz__strmap_init(&names, c.p->seed);
    for (unsigned t = 0; t <= TAG_OPERATION; t++) {
        mtlsauthz__strmap_init(&c.pat_map[t], c.p->seed);
    }

    rc = compile_principals(&c, ast, &names);
    if (rc < 0) {
        goto fail;
    }
    rc = compile_rules(&c, ast, &names);
    if (rc < 0) {
        goto fail;
    }
    rc = compile_sensitive(&c, ast);
    if (rc < 0) {
        goto fail;
    }
    rc = mtlsauthz__index_build(c.p, err);
    if (rc < 0) {
        goto fail;
    }
    compiler_free(&c, &names);
    *out = c.p;
    return 0;
fail:
    compiler_free(&c, &names);
    mtlsauthz__policy_destroy(c.p);
    return rc;
}

void mtlsauthz__policy_destroy(mtlsauthz_policy *p)
{
    if (p == NULL) {
        return;
    }
    mtlsauthz__index_free(p->index);
    /* Everything the principals and rules point to is in the arena. */
    mtlsauthz__free(p->principals);
    mtlsauthz__free(p->rules);
    arena_free(p->arena);
    for (unsigned i = 0; i < p->nsensitive; i++) {
        if (p->sensitive_src != NULL) {
            mtlsauthz__free(p->sensitive_src[i]);
        }
        if (p->sensitive != NULL) {
            mtlsauthz__pattern_clear(&p->sensitive[i]);
        }
    }
    mtlsauthz__free(p->sensitive_src);
    mtlsauthz__free(p->sensitive);
    mtlsauthz__free(p->sensitive_pos);
    for (unsigned i = 0; i < p->ncap_names; i++) {
        mtlsauthz__free(p->cap_names[i]);
    }
    mtlsauthz__free(p->cap_names);
    mtlsauthz__free(p->any_rules);
    mtlsauthz__free(p);
}
