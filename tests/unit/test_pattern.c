/* SPDX-License-Identifier: Apache-2.0 */
/* Patterns (lib/pattern.c): compile errors, matching, captures, budget, and the lint relations. */
#include <time.h>

#include "helpers.h"
#include "pattern.h"

/* ---- helpers ---- */

#define ANY MTLSAUTHZ__WC_ANY
#define DOT MTLSAUTHZ__WC_DOT
#define SLASH MTLSAUTHZ__WC_SLASH
#define URI MTLSAUTHZ__WC_URI
#define DN MTLSAUTHZ__WC_DN

static void comp(mtlsauthz__pattern *p, const char *src, mtlsauthz__wclass wc, mtlsauthz__fold fold)
{
    mtlsauthz_error err = {0};
    int rc = mtlsauthz__pattern_compile(p, src, strlen(src), wc, fold, &err);
    cr_assert_eq(rc, 0, "compile \"%s\": %s", src, err.message);
}

/* Matches a NUL-free value; no captures wanted. */
static int m(const char *pat, mtlsauthz__wclass wc, const char *value)
{
    mtlsauthz__pattern p;
    int rc;
    comp(&p, pat, wc, MTLSAUTHZ__FOLD_NONE);
    rc = mtlsauthz__pattern_match(&p, value, strlen(value), NULL, NULL, NULL, NULL);
    mtlsauthz__pattern_clear(&p);
    return rc;
}

static int mb(const char *pat, mtlsauthz__wclass wc, const char *value, size_t len)
{
    mtlsauthz__pattern p;
    int rc;
    comp(&p, pat, wc, MTLSAUTHZ__FOLD_NONE);
    rc = mtlsauthz__pattern_match(&p, value, len, NULL, NULL, NULL, NULL);
    mtlsauthz__pattern_clear(&p);
    return rc;
}

/* Compiles expecting failure; returns the code and leaves the message in *err. */
static int comp_err(const char *src, size_t len, mtlsauthz__wclass wc, mtlsauthz__fold fold,
                    mtlsauthz_error *err)
{
    mtlsauthz__pattern p;
    int rc;
    memset(&p, 0xa5, sizeof(p));
    mtlsauthz_error_clear(err);
    rc = mtlsauthz__pattern_compile(&p, src, len, wc, fold, err);
    cr_assert_neq(rc, 0, "compile of \"%.*s\" should fail", (int)len, src);
    cr_assert_eq(err->code, rc);
    /* Left cleared: nothing half-built is visible. */
    cr_assert_null(p.toks);
    cr_assert_null(p.text);
    cr_assert_eq(p.ntoks, 0);
    cr_assert_eq(p.ncaps, 0);
    return rc;
}

static void expect_error(const char *src, int code, const char *what, size_t offset)
{
    mtlsauthz_error err;
    char at[64];
    int rc = comp_err(src, strlen(src), SLASH, MTLSAUTHZ__FOLD_NONE, &err);
    cr_assert_eq(rc, code, "\"%s\": got %d (%s)", src, rc, err.message);
    cr_assert(strstr(err.message, what) != NULL, "\"%s\": message \"%s\" lacks \"%s\"", src,
              err.message, what);
    snprintf(at, sizeof(at), "at byte %zu", offset);
    cr_assert(strstr(err.message, at) != NULL, "\"%s\": message \"%s\" lacks \"%s\"", src,
              err.message, at);
}

/* ---- boundaries the spec names ---- */

Test(pattern, spiffe_segment_star)
{
    const char *p = "spiffe://td/ns/web/*";
    cr_assert_eq(m(p, SLASH, "spiffe://td/ns/web/x"), 1);
    cr_assert_eq(m(p, SLASH, "spiffe://td/ns/web-admin/x"), 0);
    cr_assert_eq(m(p, SLASH, "spiffe://td/ns/web/x/y"), 0);
    cr_assert_eq(m(p, SLASH, "spiffe://td/ns/web/"), 0);
    cr_assert_eq(m(p, SLASH, "spiffe://td/ns/web"), 0);
    cr_assert_eq(m(p, SLASH, "spiffe://td/ns/web//"), 0);
}

Test(pattern, dns_star_is_one_label)
{
    cr_assert_eq(m("*.example.com", DOT, "a.example.com"), 1);
    cr_assert_eq(m("*.example.com", DOT, "a.b.example.com"), 0);
    cr_assert_eq(m("*.example.com", DOT, "example.com"), 0);
    cr_assert_eq(m("*.example.com", DOT, ".example.com"), 0);
    cr_assert_eq(m("*.example.com", DOT, "a.example.com.evil"), 0);
    cr_assert_eq(m("*.example.com", DOT, "aexample.com"), 0);
}

Test(pattern, dns_starstar_is_one_or_more_labels)
{
    cr_assert_eq(m("**.example.com", DOT, "a.b.example.com"), 1);
    cr_assert_eq(m("**.example.com", DOT, "a.example.com"), 1);
    cr_assert_eq(m("**.example.com", DOT, "example.com"), 0);
    cr_assert_eq(m("**.example.com", DOT, ".example.com"), 0);
    cr_assert_eq(m("**.example.com", DOT, "..example.com"), 1); /* `**` is one byte, "." */
    cr_assert_eq(m("**.example.com", DOT, "a.example.org"), 0);
}

Test(pattern, star_and_starstar_need_a_byte)
{
    cr_assert_eq(m("a/*", SLASH, "a/"), 0);
    cr_assert_eq(m("a/**", SLASH, "a/"), 0);
    cr_assert_eq(m("a/**", SLASH, "a/b/c"), 1);
    cr_assert_eq(m("*", SLASH, ""), 0);
    cr_assert_eq(m("**", SLASH, ""), 0);
    cr_assert_eq(m("**", SLASH, "/"), 1);
    cr_assert_eq(m("*", SLASH, "/"), 0);
    cr_assert_eq(m("*", ANY, "/"), 1);
}

Test(pattern, literal_exact)
{
    cr_assert_eq(m("images:build", SLASH, "images:build"), 1);
    cr_assert_eq(m("images:build", SLASH, "images:buil"), 0);
    cr_assert_eq(m("images:build", SLASH, "images:buildx"), 0);
    cr_assert_eq(m("images:build", SLASH, "Images:build"), 0);
    cr_assert_eq(m("images:build", SLASH, ""), 0);
}

Test(pattern, nul_bytes_in_values)
{
    /* A literal never matches a value with extra bytes, NUL or not. */
    cr_assert_eq(mb("admin", ANY, "admin\0x", 7), 0);
    cr_assert_eq(mb("admin", ANY, "admin\0", 6), 0);
    cr_assert_eq(mb("admin", ANY, "adm\0n", 5), 0);
    cr_assert_eq(mb("admin", ANY, "admin", 5), 1);
    /* `*` takes NUL as an ordinary byte (the engine rejects NUL identities before matching). */
    cr_assert_eq(mb("admin*", ANY, "admin\0x", 7), 1);
    cr_assert_eq(mb("admin*", SLASH, "admin\0x", 7), 1);
    cr_assert_eq(mb("admin*", SLASH, "admin\0/x", 8), 0);
    cr_assert_eq(mb("*.com", DOT, "evil\0.com", 9), 1);
    cr_assert_eq(mb("a/**/z", SLASH, "a/\0/z", 5), 1);
    /* A suffix literal does not stop at a NUL. */
    cr_assert_eq(mb("**.example.com", DOT, "x.example.com\0.evil", 19), 0);
}

Test(pattern, separator_none_lets_star_cross_everything)
{
    cr_assert_eq(m("CN=*", ANY, "CN=a/b.c,d"), 1);
    cr_assert_eq(m("*,O=x", ANY, "CN=a,O=y,O=x"), 1);
}

Test(pattern, middle_wildcards)
{
    cr_assert_eq(m("GET /containers/*/exec", SLASH, "GET /containers/abc/exec"), 1);
    cr_assert_eq(m("GET /containers/*/exec", SLASH, "GET /containers/a/b/exec"), 0);
    cr_assert_eq(m("GET /containers/**/exec", SLASH, "GET /containers/a/b/exec"), 1);
    cr_assert_eq(m("GET /containers/**/exec", SLASH, "GET /containers/exec"), 0);
    cr_assert_eq(m("/a/*/b/*/c", SLASH, "/a/x/b/y/c"), 1);
    cr_assert_eq(m("/a/*/b/*/c", SLASH, "/a/x/b/y/z/c"), 0);
    cr_assert_eq(m("/a/**/b/*/c", SLASH, "/a/x/b/y/b/z/c"), 1);
    cr_assert_eq(m("/a/*/b/**/c", SLASH, "/a/x/b/y/b/z/c"), 1);
    cr_assert_eq(m("/a/*/b/**/c", SLASH, "/a/x/y/b/z/c"), 0);
    /* Needs the second occurrence of "b/" to be the anchor for `*`. */
    cr_assert_eq(m("**/b*/c", SLASH, "x/bq/b/bz/c"), 1);
    cr_assert_eq(m("*b*b*", SLASH, "abcbd"), 1);
    cr_assert_eq(m("*b*b*", SLASH, "ab/bd"), 0);
    cr_assert_eq(m("*ab*ab", ANY, "abababab"), 1);
    cr_assert_eq(m("x*x", ANY, "xx"), 0);
    cr_assert_eq(m("x*x", ANY, "xax"), 1);
}

/* ---- escapes and folding ---- */

Test(pattern, escapes)
{
    cr_assert_eq(m("a\\*b", SLASH, "a*b"), 1);
    cr_assert_eq(m("a\\*b", SLASH, "axb"), 0);
    cr_assert_eq(m("\\{x}", SLASH, "{x}"), 1);
    cr_assert_eq(m("\\{x}", SLASH, "x"), 0);
    cr_assert_eq(m("a\\\\b", SLASH, "a\\b"), 1);
    cr_assert_eq(m("a\\\\*", SLASH, "a\\zz"), 1); /* escaped backslash, then a real `*` */
    cr_assert_eq(m("a}b", SLASH, "a}b"), 1);      /* a lone } is ordinary */
    cr_assert_eq(m("CN=a\\\\,b", ANY, "CN=a\\,b"), 1);
}

Test(pattern, escaped_star_is_literal_not_wildcard)
{
    mtlsauthz__pattern p;
    comp(&p, "\\*\\*", SLASH, MTLSAUTHZ__FOLD_NONE);
    cr_assert(p.is_literal);
    cr_assert_eq(p.text_len, 2);
    cr_assert_eq(memcmp(p.text, "**", 2), 0);
    mtlsauthz__pattern_clear(&p);
}

Test(pattern, fold_all_lowercases_literals)
{
    mtlsauthz__pattern p;
    comp(&p, "*.EXAMPLE.Com", DOT, MTLSAUTHZ__FOLD_ALL);
    cr_assert_eq(mtlsauthz__pattern_match(&p, "a.example.com", 13, NULL, NULL, NULL, NULL), 1);
    /* Matching is byte for byte: the engine folds values before matching. */
    cr_assert_eq(mtlsauthz__pattern_match(&p, "a.EXAMPLE.com", 13, NULL, NULL, NULL, NULL), 0);
    mtlsauthz__pattern_clear(&p);
}

Test(pattern, fold_none_keeps_case)
{
    mtlsauthz__pattern p;
    comp(&p, "CN=Alice", ANY, MTLSAUTHZ__FOLD_NONE);
    cr_assert_str_eq(p.text, "CN=Alice");
    mtlsauthz__pattern_clear(&p);
}

Test(pattern, fold_after_last_at)
{
    mtlsauthz__pattern p;
    comp(&p, "Alice@Example.COM", ANY, MTLSAUTHZ__FOLD_AFTER_LAST_AT);
    cr_assert_str_eq(p.text, "Alice@example.com");
    cr_assert_eq(mtlsauthz__pattern_match(&p, "Alice@example.com", 17, NULL, NULL, NULL, NULL), 1);
    cr_assert_eq(mtlsauthz__pattern_match(&p, "alice@example.com", 17, NULL, NULL, NULL, NULL), 0);
    mtlsauthz__pattern_clear(&p);

    /* Quoted local part with its own '@': only the last one starts the domain. */
    comp(&p, "\"A@B\"@X.org", ANY, MTLSAUTHZ__FOLD_AFTER_LAST_AT);
    cr_assert_str_eq(p.text, "\"A@B\"@x.org");
    mtlsauthz__pattern_clear(&p);

    comp(&p, "*@Corp.*", ANY, MTLSAUTHZ__FOLD_AFTER_LAST_AT);
    cr_assert_eq(mtlsauthz__pattern_match(&p, "Bob@corp.io", 11, NULL, NULL, NULL, NULL), 1);
    mtlsauthz__pattern_clear(&p);

    /* No '@' and all lowercase: nothing to fold. */
    comp(&p, "**corp.com", ANY, MTLSAUTHZ__FOLD_AFTER_LAST_AT);
    cr_assert_eq(mtlsauthz__pattern_match(&p, "x@corp.com", 10, NULL, NULL, NULL, NULL), 1);
    mtlsauthz__pattern_clear(&p);

    /* A capture name is not a literal, so its case does not count. */
    comp(&p, "{User}", ANY, MTLSAUTHZ__FOLD_AFTER_LAST_AT);
    mtlsauthz__pattern_clear(&p);
}

Test(pattern, fold_after_last_at_without_at_refuses_uppercase)
{
    mtlsauthz_error err;
    int rc = comp_err("**Corp.com", 10, ANY, MTLSAUTHZ__FOLD_AFTER_LAST_AT, &err);
    cr_assert_eq(rc, MTLSAUTHZ_EPOLICY);
    cr_assert(strstr(err.message, "at byte 2") != NULL, "%s", err.message);
}

/* ---- compile errors ---- */

Test(pattern, error_empty)
{
    mtlsauthz_error err;
    cr_assert_eq(comp_err("", 0, SLASH, MTLSAUTHZ__FOLD_NONE, &err), MTLSAUTHZ_EPOLICY);
    cr_assert(strstr(err.message, "empty") != NULL);
}

Test(pattern, error_nul_byte)
{
    mtlsauthz_error err;
    cr_assert_eq(comp_err("host:\0**", 8, SLASH, MTLSAUTHZ__FOLD_NONE, &err), MTLSAUTHZ_EPOLICY);
    cr_assert(strstr(err.message, "NUL") != NULL, "%s", err.message);
    cr_assert(strstr(err.message, "at byte 5") != NULL, "%s", err.message);
    cr_assert(strstr(err.message, "host:\\x00**") != NULL, "%s", err.message);
}

Test(pattern, error_messages_escape_non_printables)
{
    mtlsauthz_error err;
    cr_assert_eq(comp_err("a\x01\"\\q", 5, SLASH, MTLSAUTHZ__FOLD_NONE, &err), MTLSAUTHZ_EPOLICY);
    cr_assert(strstr(err.message, "pattern \"a\\x01\\\"\\\\q\"") != NULL, "%s", err.message);
    cr_assert(strstr(err.message, "at byte 3") != NULL, "%s", err.message);
}

Test(pattern, error_message_quotes_long_pattern_truncated)
{
    char src[4000];
    mtlsauthz_error err;
    memset(src, 'a', sizeof(src));
    src[3990] = '\\';
    src[3991] = 'x';
    comp_err(src, sizeof(src), SLASH, MTLSAUTHZ__FOLD_NONE, &err);
    cr_assert(strstr(err.message, "...") != NULL, "%s", err.message);
    cr_assert(strstr(err.message, "at byte 3990") != NULL, "%s", err.message);
}

Test(pattern, error_ambiguous_stars)
{
    expect_error("a/***", MTLSAUTHZ_EPOLICY, "'***'", 2);
    expect_error("****", MTLSAUTHZ_EPOLICY, "'***'", 0);
    expect_error("a*{x}", MTLSAUTHZ_EPOLICY, "wildcard", 2);
    expect_error("{x}*", MTLSAUTHZ_EPOLICY, "wildcard", 3);
    expect_error("{a}{b}", MTLSAUTHZ_EPOLICY, "wildcard", 3);
    expect_error("/**{x}", MTLSAUTHZ_EPOLICY, "wildcard", 3);
    expect_error("/{x}**", MTLSAUTHZ_EPOLICY, "wildcard", 4);
    expect_error("/x/{a}{a}", MTLSAUTHZ_EPOLICY, "wildcard", 6);
}

Test(pattern, error_braces)
{
    expect_error("/t/{tenant", MTLSAUTHZ_EPOLICY, "unterminated", 3);
    expect_error("{", MTLSAUTHZ_EPOLICY, "unterminated", 0);
    expect_error("/t/{}", MTLSAUTHZ_EPOLICY, "empty capture name", 3);
    expect_error("{1a}", MTLSAUTHZ_EPOLICY, "invalid character", 1);
    expect_error("{a-b}", MTLSAUTHZ_EPOLICY, "invalid character", 2);
    expect_error("{a b}", MTLSAUTHZ_EPOLICY, "invalid character", 2);
    expect_error("{a{b}", MTLSAUTHZ_EPOLICY, "invalid character", 2);
}

Test(pattern, error_capture_name_length)
{
    char src[80];
    mtlsauthz__pattern p;
    mtlsauthz_error err = {0};
    src[0] = '{';
    memset(src + 1, 'n', 64);
    src[65] = '}';
    src[66] = '\0';
    cr_assert_eq(mtlsauthz__pattern_compile(&p, src, 66, SLASH, MTLSAUTHZ__FOLD_NONE, &err), 0);
    cr_assert_eq(strlen(p.cap_names[0]), 64);
    mtlsauthz__pattern_clear(&p);
    src[65] = 'n';
    src[66] = '}';
    src[67] = '\0';
    expect_error(src, MTLSAUTHZ_EPOLICY, "longer than 64", 0);
}

Test(pattern, error_escapes)
{
    expect_error("a\\b", MTLSAUTHZ_EPOLICY, "unknown escape", 1);
    expect_error("\\}", MTLSAUTHZ_EPOLICY, "unknown escape", 0);
    expect_error("x\\n", MTLSAUTHZ_EPOLICY, "unknown escape", 1);
    expect_error("a\\", MTLSAUTHZ_EPOLICY, "lone backslash", 1);
    expect_error("\\", MTLSAUTHZ_EPOLICY, "lone backslash", 0);
}

Test(pattern, error_too_many_captures)
{
    mtlsauthz__pattern p;
    mtlsauthz_error err = {0};
    const char *ok = "{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{a}";
    cr_assert_eq(mtlsauthz__pattern_compile(&p, ok, strlen(ok), SLASH, MTLSAUTHZ__FOLD_NONE, &err),
                 0, "%s", err.message);
    cr_assert_eq(p.ncaps, 8);
    mtlsauthz__pattern_clear(&p);
    expect_error("{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", MTLSAUTHZ_ELIMIT, "more than 8", 32);
}

Test(pattern, error_too_many_wildcards)
{
    char src[64];
    mtlsauthz__pattern p;
    mtlsauthz_error err = {0};
    size_t i;
    for (i = 0; i < 16; i++) {
        src[2 * i] = '*';
        src[2 * i + 1] = '/';
    }
    cr_assert_eq(mtlsauthz__pattern_compile(&p, src, 32, SLASH, MTLSAUTHZ__FOLD_NONE, &err), 0);
    mtlsauthz__pattern_clear(&p);
    src[32] = '*';
    src[33] = '\0';
    expect_error(src, MTLSAUTHZ_ELIMIT, "more than 16", 32);
}

Test(pattern, error_too_long)
{
    static char src[MTLSAUTHZ__PATTERN_MAX_LEN + 2];
    mtlsauthz__pattern p;
    mtlsauthz_error err = {0};
    memset(src, 'a', sizeof(src));
    cr_assert_eq(mtlsauthz__pattern_compile(&p, src, MTLSAUTHZ__PATTERN_MAX_LEN, SLASH,
                                            MTLSAUTHZ__FOLD_NONE, &err),
                 0);
    mtlsauthz__pattern_clear(&p);
    cr_assert_eq(comp_err(src, MTLSAUTHZ__PATTERN_MAX_LEN + 1, SLASH, MTLSAUTHZ__FOLD_NONE, &err),
                 MTLSAUTHZ_ELIMIT);
    cr_assert(strstr(err.message, "4097 bytes") != NULL, "%s", err.message);
}

Test(pattern, error_bad_arguments)
{
    mtlsauthz__pattern p;
    mtlsauthz_error err = {0};
    cr_assert_eq(mtlsauthz__pattern_compile(NULL, "a", 1, SLASH, MTLSAUTHZ__FOLD_NONE, &err),
                 MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz__pattern_compile(&p, NULL, 1, SLASH, MTLSAUTHZ__FOLD_NONE, &err),
                 MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz__pattern_compile(&p, "a", 1, SLASH, (mtlsauthz__fold)7, &err),
                 MTLSAUTHZ_EINVAL);
    /* A cleared pattern is an error to match against, never a quiet "no match". */
    cr_assert_eq(mtlsauthz__pattern_match(&p, "a", 1, NULL, NULL, NULL, NULL), MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz__pattern_match(NULL, "a", 1, NULL, NULL, NULL, NULL), MTLSAUTHZ_EINVAL);
    comp(&p, "a*", SLASH, MTLSAUTHZ__FOLD_NONE);
    cr_assert_eq(mtlsauthz__pattern_match(&p, NULL, 3, NULL, NULL, NULL, NULL), MTLSAUTHZ_EINVAL);
    mtlsauthz__pattern_clear(&p);
    mtlsauthz__pattern_clear(&p); /* twice is fine */
    mtlsauthz__pattern_clear(NULL);
}

Test(pattern, compile_shape)
{
    mtlsauthz__pattern p;
    comp(&p, "spiffe://td/{ns}/x/**", SLASH, MTLSAUTHZ__FOLD_NONE);
    cr_assert_eq(p.ntoks, 4);
    cr_assert_eq(p.toks[0].kind, MTLSAUTHZ__TOK_LIT);
    cr_assert_eq(p.toks[0].lit_len, 12);
    cr_assert_eq(p.toks[1].kind, MTLSAUTHZ__TOK_CAPTURE);
    cr_assert_eq(p.toks[1].cap, 0);
    cr_assert_eq(p.toks[2].kind, MTLSAUTHZ__TOK_LIT);
    cr_assert_eq(p.toks[3].kind, MTLSAUTHZ__TOK_STARSTAR);
    cr_assert_eq(p.ncaps, 1);
    cr_assert_str_eq(p.cap_names[0], "ns");
    cr_assert_eq(p.min_len, 12 + 3 + 2);
    cr_assert_eq(p.wclass, SLASH);
    cr_assert(!p.is_literal);
    mtlsauthz__pattern_clear(&p);
}

Test(pattern, compile_allocation_failures)
{
    long n;
    for (n = 0; n < 8; n++) {
        mtlsauthz__pattern p;
        mtlsauthz_error err = {0};
        int rc;
        mtlsauthz__alloc_fail_after(n);
        rc = mtlsauthz__pattern_compile(&p, "/t/{a}/{b}/**", 13, SLASH, MTLSAUTHZ__FOLD_NONE, &err);
        mtlsauthz__alloc_fail_after(-1);
        if (rc == 0) {
            cr_assert_geq(n, 4);
            mtlsauthz__pattern_clear(&p);
        } else {
            cr_assert_eq(rc, MTLSAUTHZ_ENOMEM);
            cr_assert_null(p.toks);
        }
    }
}

/* ---- captures ---- */

struct collect {
    int calls;
    int accept_at; /* accept on this call (1-based); 0 = never */
    char vals[8][4][32];
};

static int collect_cb(void *ctx, const mtlsauthz__str *caps, unsigned ncaps)
{
    struct collect *c = ctx;
    unsigned i;
    cr_assert_lt(c->calls, 8);
    for (i = 0; i < ncaps && i < 4; i++) {
        cr_assert_lt(caps[i].len, 32);
        memcpy(c->vals[c->calls][i], caps[i].ptr, caps[i].len);
        c->vals[c->calls][i][caps[i].len] = '\0';
    }
    c->calls++;
    return c->calls == c->accept_at;
}

Test(pattern, capture_binds_value)
{
    mtlsauthz__pattern p;
    struct collect c = {0};
    const char *v = "spiffe://td/tenant/acme/svc";
    c.accept_at = 1;
    comp(&p, "spiffe://td/tenant/{tenant}/*", SLASH, MTLSAUTHZ__FOLD_NONE);
    cr_assert_eq(mtlsauthz__pattern_match(&p, v, strlen(v), NULL, collect_cb, &c, NULL), 1);
    cr_assert_eq(c.calls, 1);
    cr_assert_str_eq(c.vals[0][0], "acme");
    /* Without a callback, a capture is just `*`. */
    cr_assert_eq(mtlsauthz__pattern_match(&p, v, strlen(v), NULL, NULL, NULL, NULL), 1);
    cr_assert_eq(
        mtlsauthz__pattern_match(&p, "spiffe://td/tenant/a/b/svc", 26, NULL, NULL, NULL, NULL), 0);
    mtlsauthz__pattern_clear(&p);
}

Test(pattern, capture_enumerates_distinct_splits)
{
    mtlsauthz__pattern p;
    struct collect c = {0};
    comp(&p, "{a}-{b}", SLASH, MTLSAUTHZ__FOLD_NONE);
    cr_assert_eq(mtlsauthz__pattern_match(&p, "x-y-z", 5, NULL, collect_cb, &c, NULL), 0);
    cr_assert_eq(c.calls, 2);
    cr_assert_str_eq(c.vals[0][0], "x");
    cr_assert_str_eq(c.vals[0][1], "y-z");
    cr_assert_str_eq(c.vals[1][0], "x-y");
    cr_assert_str_eq(c.vals[1][1], "z");

    /* Accepting the second stops there and reports a match. */
    memset(&c, 0, sizeof(c));
    c.accept_at = 2;
    cr_assert_eq(mtlsauthz__pattern_match(&p, "x-y-z", 5, NULL, collect_cb, &c, NULL), 1);
    cr_assert_eq(c.calls, 2);
    mtlsauthz__pattern_clear(&p);
}

Test(pattern, capture_separator_limits_splits)
{
    mtlsauthz__pattern p;
    struct collect c = {0};
    comp(&p, "{a}/{b}", SLASH, MTLSAUTHZ__FOLD_NONE);
    cr_assert_eq(mtlsauthz__pattern_match(&p, "x/y/z", 5, NULL, collect_cb, &c, NULL), 0);
    cr_assert_eq(c.calls, 0);
    cr_assert_eq(mtlsauthz__pattern_match(&p, "x/y", 3, NULL, collect_cb, &c, NULL), 0);
    cr_assert_eq(c.calls, 1);
    mtlsauthz__pattern_clear(&p);
}

Test(pattern, callback_on_pattern_without_captures)
{
    mtlsauthz__pattern p;
    struct collect c = {0};
    comp(&p, "/a/**", SLASH, MTLSAUTHZ__FOLD_NONE);
    cr_assert_eq(mtlsauthz__pattern_match(&p, "/a/b/c", 6, NULL, collect_cb, &c, NULL), 0);
    cr_assert_eq(c.calls, 1); /* one offer: without captures all ways look the same */
    c.calls = 0;
    c.accept_at = 1;
    cr_assert_eq(mtlsauthz__pattern_match(&p, "/a/b/c", 6, NULL, collect_cb, &c, NULL), 1);
    c.calls = 0;
    cr_assert_eq(mtlsauthz__pattern_match(&p, "/b/b/c", 6, NULL, collect_cb, &c, NULL), 0);
    cr_assert_eq(c.calls, 0);
    mtlsauthz__pattern_clear(&p);
}

Test(pattern, capture_same_name_twice_must_agree)
{
    mtlsauthz__pattern p;
    struct collect c = {0};
    comp(&p, "/{a}/x/{a}", SLASH, MTLSAUTHZ__FOLD_NONE);
    cr_assert_eq(mtlsauthz__pattern_match(&p, "/p/x/p", 6, NULL, NULL, NULL, NULL), 1);
    cr_assert_eq(mtlsauthz__pattern_match(&p, "/p/x/q", 6, NULL, NULL, NULL, NULL), 0);
    cr_assert_eq(mtlsauthz__pattern_match(&p, "/p/x/pp", 7, NULL, NULL, NULL, NULL), 0);
    cr_assert_eq(mtlsauthz__pattern_match(&p, "/pp/x/p", 7, NULL, NULL, NULL, NULL), 0);
    c.accept_at = 1;
    cr_assert_eq(mtlsauthz__pattern_match(&p, "/pq/x/pq", 8, NULL, collect_cb, &c, NULL), 1);
    cr_assert_str_eq(c.vals[0][0], "pq");
    mtlsauthz__pattern_clear(&p);

    /* Sep none: the first binding has to be re-chosen until the second agrees. */
    comp(&p, "{a}={a}", ANY, MTLSAUTHZ__FOLD_NONE);
    cr_assert_eq(mtlsauthz__pattern_match(&p, "x=y=x=y", 7, NULL, NULL, NULL, NULL), 1);
    cr_assert_eq(mtlsauthz__pattern_match(&p, "x=y=x=z", 7, NULL, NULL, NULL, NULL), 0);
    mtlsauthz__pattern_clear(&p);
}

Test(pattern, capture_bound_forces_value)
{
    mtlsauthz__pattern p;
    mtlsauthz__str bound[1];
    comp(&p, "GET /tenants/{tenant}/**", SLASH, MTLSAUTHZ__FOLD_NONE);
    bound[0].ptr = "acme";
    bound[0].len = 4;
    cr_assert_eq(mtlsauthz__pattern_match(&p, "GET /tenants/acme/x/y", 21, bound, NULL, NULL, NULL),
                 1);
    /* The BOLA guard: another tenant's data does not match. */
    cr_assert_eq(mtlsauthz__pattern_match(&p, "GET /tenants/other/x", 20, bound, NULL, NULL, NULL),
                 0);
    cr_assert_eq(mtlsauthz__pattern_match(&p, "GET /tenants/acmex/y", 20, bound, NULL, NULL, NULL),
                 0);
    cr_assert_eq(mtlsauthz__pattern_match(&p, "GET /tenants/acme", 17, bound, NULL, NULL, NULL), 0);
    /* An unbound entry leaves the capture free. */
    bound[0].ptr = NULL;
    bound[0].len = 0;
    cr_assert_eq(mtlsauthz__pattern_match(&p, "GET /tenants/other/x", 20, bound, NULL, NULL, NULL),
                 1);
    mtlsauthz__pattern_clear(&p);
}

Test(pattern, capture_bound_with_separator_never_matches)
{
    mtlsauthz__pattern p;
    mtlsauthz__str bound[1];
    comp(&p, "/t/{t}/**", SLASH, MTLSAUTHZ__FOLD_NONE);
    /* "a/b" is in the value at the right place, but `*` could never have bound it. */
    bound[0].ptr = "a/b";
    bound[0].len = 3;
    cr_assert_eq(mtlsauthz__pattern_match(&p, "/t/a/b/c", 8, bound, NULL, NULL, NULL), 0);
    /* Nor can an empty binding. */
    bound[0].ptr = "";
    bound[0].len = 0;
    cr_assert_eq(mtlsauthz__pattern_match(&p, "/t//c", 5, bound, NULL, NULL, NULL), 0);
    mtlsauthz__pattern_clear(&p);
}

Test(pattern, capture_bound_with_nul_is_compared_whole)
{
    mtlsauthz__pattern p;
    mtlsauthz__str bound[1];
    comp(&p, "/t/{t}", SLASH, MTLSAUTHZ__FOLD_NONE);
    bound[0].ptr = "ab\0c";
    bound[0].len = 4;
    cr_assert_eq(mtlsauthz__pattern_match(&p, "/t/ab", 5, bound, NULL, NULL, NULL), 0);
    cr_assert_eq(mtlsauthz__pattern_match(&p, "/t/ab\0c", 7, bound, NULL, NULL, NULL), 1);
    mtlsauthz__pattern_clear(&p);
}

Test(pattern, capture_bound_and_callback)
{
    mtlsauthz__pattern p;
    mtlsauthz__str bound[2] = {{NULL, 0}, {"y", 1}};
    struct collect c = {0};
    comp(&p, "{a}-{b}-**", SLASH, MTLSAUTHZ__FOLD_NONE);
    cr_assert_eq(mtlsauthz__pattern_match(&p, "x-y-z-y-w", 9, bound, collect_cb, &c, NULL), 0);
    /* b is forced to "y": a = "x" (then ** = "z-y-w") or a = "x-y-z" (then ** = "w"). */
    cr_assert_eq(c.calls, 2);
    cr_assert_str_eq(c.vals[0][0], "x");
    cr_assert_str_eq(c.vals[0][1], "y");
    cr_assert_str_eq(c.vals[1][0], "x-y-z");
    mtlsauthz__pattern_clear(&p);
}

/* ---- budget and adversarial inputs ---- */

static int reject_cb(void *ctx, const mtlsauthz__str *caps, unsigned ncaps)
{
    (void)caps;
    (void)ncaps;
    ++*(unsigned long *)ctx;
    return 0;
}

Test(pattern, budget_exhaustion_is_elimit)
{
    mtlsauthz__pattern p;
    static char v[400];
    unsigned long calls = 0;
    unsigned long budget = 5000;
    memset(v, '-', sizeof(v));
    comp(&p, "{a}-{b}-{c}-{d}-{e}-{f}-{g}-{h}", ANY, MTLSAUTHZ__FOLD_NONE);
    /* C(399, 7) ways: far beyond any budget. */
    cr_assert_eq(mtlsauthz__pattern_match(&p, v, sizeof(v), NULL, reject_cb, &calls, &budget),
                 MTLSAUTHZ_ELIMIT);
    cr_assert_eq(budget, 0);
    /* The default budget (NULL) is bounded too. */
    cr_assert_eq(mtlsauthz__pattern_match(&p, v, sizeof(v), NULL, reject_cb, &calls, NULL),
                 MTLSAUTHZ_ELIMIT);
    mtlsauthz__pattern_clear(&p);
}

Test(pattern, budget_is_charged_and_shared)
{
    mtlsauthz__pattern p;
    struct collect c = {0};
    unsigned long budget = 1000;
    c.accept_at = 1;
    comp(&p, "/t/{t}/x", SLASH, MTLSAUTHZ__FOLD_NONE);
    cr_assert_eq(mtlsauthz__pattern_match(&p, "/t/a/x", 6, NULL, collect_cb, &c, &budget), 1);
    cr_assert_lt(budget, 1000);
    budget = 0;
    cr_assert_eq(mtlsauthz__pattern_match(&p, "/t/a/x", 6, NULL, collect_cb, &c, &budget),
                 MTLSAUTHZ_ELIMIT);
    mtlsauthz__pattern_clear(&p);
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

Test(pattern, adversarial_no_capture_is_polynomial)
{
    static char v[4096];
    const char *pats[] = {
        "**a**a**a**a**a**a**a**a**a**a**a**a**a**a**a**b",
        "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
        "**/a*a/**a/*a/**a*a*a/*a**a/**b",
        "{x}a{y}a{z}a{x}a{y}a{z}a**b",
    };
    double t0;
    size_t i;
    memset(v, 'a', sizeof(v));
    for (i = 0; i < 4096; i += 64) {
        v[i] = '/';
    }
    t0 = seconds();
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(pats); i++) {
        mtlsauthz__pattern p;
        comp(&p, pats[i], (i == 1 || i == 3) ? ANY : SLASH, MTLSAUTHZ__FOLD_NONE);
        if (i == 3) {
            /* Repeated names need the search: it must give up, not hang. */
            cr_assert_eq(mtlsauthz__pattern_match(&p, v, sizeof(v), NULL, NULL, NULL, NULL),
                         MTLSAUTHZ_ELIMIT);
        } else {
            cr_assert_eq(mtlsauthz__pattern_match(&p, v, sizeof(v), NULL, NULL, NULL, NULL), 0,
                         "%s", pats[i]);
            v[4095] = 'b';
            cr_assert_eq(mtlsauthz__pattern_match(&p, v, sizeof(v), NULL, NULL, NULL, NULL), 1,
                         "%s", pats[i]);
            v[4095] = 'a';
        }
        mtlsauthz__pattern_clear(&p);
    }
    /* A sanity bound, not a benchmark: exponential backtracking would take years. */
    cr_assert_lt(seconds() - t0, 1.0);
}

Test(pattern, adversarial_long_literal_after_starstar)
{
    static char pat[2100];
    static char v[4096];
    mtlsauthz__pattern p;
    double t0;
    memcpy(pat, "**", 2);
    memset(pat + 2, 'a', 2000);
    memcpy(pat + 2002, "b**", 4);
    memset(v, 'a', sizeof(v));
    comp(&p, pat, SLASH, MTLSAUTHZ__FOLD_NONE);
    t0 = seconds();
    cr_assert_eq(mtlsauthz__pattern_match(&p, v, sizeof(v), NULL, NULL, NULL, NULL), 0);
    cr_assert_lt(seconds() - t0, 1.0);
    mtlsauthz__pattern_clear(&p);
}

Test(pattern, long_values)
{
    static char v[100000];
    mtlsauthz__pattern p;
    memset(v, 'a', sizeof(v));
    v[0] = '/';
    /* One wildcard: no DP, any length. */
    comp(&p, "/a**", SLASH, MTLSAUTHZ__FOLD_NONE);
    cr_assert_eq(mtlsauthz__pattern_match(&p, v, sizeof(v), NULL, NULL, NULL, NULL), 1);
    mtlsauthz__pattern_clear(&p);
    comp(&p, "/*", SLASH, MTLSAUTHZ__FOLD_NONE);
    cr_assert_eq(mtlsauthz__pattern_match(&p, v, sizeof(v), NULL, NULL, NULL, NULL), 1);
    mtlsauthz__pattern_clear(&p);
    /* Two wildcards on a value beyond the DP row: refused (a deny), never guessed. */
    comp(&p, "/*a**", SLASH, MTLSAUTHZ__FOLD_NONE);
    cr_assert_eq(mtlsauthz__pattern_match(&p, v, sizeof(v), NULL, NULL, NULL, NULL),
                 MTLSAUTHZ_ELIMIT);
    cr_assert_eq(mtlsauthz__pattern_match(&p, v, 65536, NULL, NULL, NULL, NULL), 1);
    mtlsauthz__pattern_clear(&p);
}

/* ---- wildcard classes: dn and uri ---- */

/* With no OU and the CN "mallory,OU=ops", the DN is `CN=mallory\,OU=ops,O=Example Corp`. A `*`
 * that took "mallory\" would leave the escaped comma to stand for an RDN separator. */
Test(pattern, dn_star_never_crosses_an_escaped_comma)
{
    const char *v = "CN=mallory\\,OU=ops,O=Example Corp";
    cr_assert_eq(m("CN=*,OU=ops,O=Example Corp", DN, v), 0);
    cr_assert_eq(m("**,OU=ops,O=Example Corp", DN, v), 0);
    cr_assert_eq(m("CN={cn},OU=ops,O=Example Corp", DN, v), 0);
    cr_assert_eq(m("CN=*,OU=*,O=Example Corp", DN, v), 0);
    /* The escaped comma is a character of the CN. */
    cr_assert_eq(m("CN=*,O=Example Corp", DN, v), 1);
    cr_assert_eq(m("**,O=Example Corp", DN, v), 1);
    cr_assert_eq(m("CN=*\\\\,OU=ops,O=Example Corp", DN, v), 1);
    cr_assert_eq(m("CN=mallory\\\\,OU=*,O=Example Corp", DN, v), 1);
}

Test(pattern, dn_star_never_crosses_a_multi_valued_rdn)
{
    cr_assert_eq(m("CN=*,O=x", DN, "CN=a+OU=ops,O=x"), 0);
    cr_assert_eq(m("*", DN, "CN=a+OU=b"), 0);
    cr_assert_eq(m("CN=*+OU=*,O=x", DN, "CN=a+OU=ops,O=x"), 1);
    cr_assert_eq(m("**,O=x", DN, "CN=a+OU=ops,O=x"), 1);
    cr_assert_eq(m("**", DN, "CN=a+OU=b"), 1);
    /* An escaped '+' is part of a value; '=' is ordinary (RFC 2253 does not escape it). */
    cr_assert_eq(m("CN=*,O=x", DN, "CN=a\\+OU=ops,O=x"), 1);
    cr_assert_eq(m("*,O=x", DN, "CN=a=b,O=x"), 1);
}

Test(pattern, dn_wildcards_take_whole_escapes)
{
    /* `\41` is one unit: a wildcard neither ends nor starts inside it. */
    cr_assert_eq(m("CN=*", DN, "CN=\\41"), 1);
    cr_assert_eq(m("CN=*1", DN, "CN=\\41"), 0);
    cr_assert_eq(m("CN=*41", DN, "CN=x\\41"), 0);
    cr_assert_eq(m("CN=*\\\\41", DN, "CN=x\\41"), 1);
    cr_assert_eq(m("CN=*,O=x", DN, "CN=\\0A\\,,O=x"), 1);
    /* A backslash and one other byte is a unit too, hex digit or not. */
    cr_assert_eq(m("CN=*z", DN, "CN=\\4z"), 1);
    cr_assert_eq(m("CN=*4z", DN, "CN=\\4z"), 0);
    /* An escaped backslash, then a real separator. */
    cr_assert_eq(m("CN=*,O=x", DN, "CN=a\\\\,O=x"), 1);
    cr_assert_eq(m("CN=*,O=x", DN, "CN=\\\\\\,x,O=x"), 1);
    cr_assert_eq(m("CN=*\\\\,x,O=x", DN, "CN=\\\\\\,x,O=x"), 1);
    cr_assert_eq(m("CN=**,x,O=x", DN, "CN=\\\\\\,x,O=x"), 0);
    /* A lone backslash at the end is never taken. */
    cr_assert_eq(m("CN=*", DN, "CN=a\\"), 0);
    cr_assert_eq(m("**", DN, "CN=a\\"), 0);
    cr_assert_eq(m("CN=*", ANY, "CN=a\\"), 1);
    /* Other classes know no escapes. */
    cr_assert_eq(m("CN=*,OU=ops", ANY, "CN=a\\,OU=ops"), 1);
}

Test(pattern, dn_literal_cut_inside_an_escape_is_an_error)
{
    mtlsauthz_error err;
    /* Source `CN=a\\*`: the literal `CN=a\` then `*`. */
    cr_assert_eq(comp_err("CN=a\\\\*", 7, DN, MTLSAUTHZ__FOLD_NONE, &err), MTLSAUTHZ_EPOLICY);
    cr_assert(strstr(err.message, "DN escape cut short by a wildcard") != NULL, "%s", err.message);
    cr_assert(strstr(err.message, "at byte 4") != NULL, "%s", err.message);
    /* `\4` then a wildcard: its first byte could make `\4X`. */
    cr_assert_eq(comp_err("CN=\\\\4{x}", 9, DN, MTLSAUTHZ__FOLD_NONE, &err), MTLSAUTHZ_EPOLICY);
    cr_assert(strstr(err.message, "at byte 3") != NULL, "%s", err.message);
    cr_assert_eq(comp_err("a\\\\\\\\\\\\**", 10, DN, MTLSAUTHZ__FOLD_NONE, &err),
                 MTLSAUTHZ_EPOLICY);
    cr_assert(strstr(err.message, "at byte 5") != NULL, "%s", err.message);
    /* A lone backslash at the end. */
    cr_assert_eq(comp_err("*,CN=a\\\\", 8, DN, MTLSAUTHZ__FOLD_NONE, &err), MTLSAUTHZ_EPOLICY);
    cr_assert(strstr(err.message, "DN escape with nothing after it") != NULL, "%s", err.message);
    cr_assert(strstr(err.message, "at byte 6") != NULL, "%s", err.message);
    cr_assert_eq(comp_err("\\\\", 2, DN, MTLSAUTHZ__FOLD_NONE, &err), MTLSAUTHZ_EPOLICY);
    /* Whole escapes are fine, before a wildcard or at the end. */
    cr_assert_eq(m("CN=\\\\41*", DN, "CN=\\41x"), 1);
    cr_assert_eq(m("CN=\\\\4z*", DN, "CN=\\4zx"), 1);
    cr_assert_eq(m("CN=\\\\\\\\*", DN, "CN=\\\\x"), 1);
    cr_assert_eq(m("*=\\\\4", DN, "CN=\\4"), 1);
    cr_assert_eq(m("*\\\\,", DN, "a\\,"), 1);
    /* Without escapes a backslash is a byte like any other. */
    cr_assert_eq(m("CN=a\\\\*", ANY, "CN=a\\x"), 1);
}

Test(pattern, dn_bound_capture_must_be_whole_units_in_place)
{
    mtlsauthz__pattern p;
    mtlsauthz__str bound[1];
    comp(&p, "CN={u},O=x", DN, MTLSAUTHZ__FOLD_NONE);
    /* The bytes are there, but `*` could only have taken them by splitting `\,`. */
    bound[0].ptr = "a\\";
    bound[0].len = 2;
    cr_assert_eq(mtlsauthz__pattern_match(&p, "CN=a\\,O=x", 9, bound, NULL, NULL, NULL), 0);
    bound[0].ptr = "a\\,b";
    bound[0].len = 4;
    cr_assert_eq(mtlsauthz__pattern_match(&p, "CN=a\\,b,O=x", 11, bound, NULL, NULL, NULL), 1);
    bound[0].ptr = "a,b";
    bound[0].len = 3;
    cr_assert_eq(mtlsauthz__pattern_match(&p, "CN=a,b,O=x", 10, bound, NULL, NULL, NULL), 0);
    mtlsauthz__pattern_clear(&p);
    /* `\4` alone is a whole escape, but in `\41` it is the start of one. */
    comp(&p, "CN={u}1,O=x", DN, MTLSAUTHZ__FOLD_NONE);
    bound[0].ptr = "\\4";
    bound[0].len = 2;
    cr_assert_eq(mtlsauthz__pattern_match(&p, "CN=\\41,O=x", 10, bound, NULL, NULL, NULL), 0);
    cr_assert_eq(mtlsauthz__pattern_match(&p, "CN=\\4z1,O=x", 11, bound, NULL, NULL, NULL), 0);
    bound[0].ptr = "\\4z";
    bound[0].len = 3;
    cr_assert_eq(mtlsauthz__pattern_match(&p, "CN=\\4z1,O=x", 11, bound, NULL, NULL, NULL), 1);
    mtlsauthz__pattern_clear(&p);
    /* A repeated name: the second occurrence must be a whole-unit match where it stands. */
    comp(&p, "{u}={u}1", DN, MTLSAUTHZ__FOLD_NONE);
    cr_assert_eq(mtlsauthz__pattern_match(&p, "\\4=\\41", 6, NULL, NULL, NULL, NULL), 0);
    cr_assert_eq(mtlsauthz__pattern_match(&p, "\\4z=\\4z1", 8, NULL, NULL, NULL, NULL), 1);
    mtlsauthz__pattern_clear(&p);
}

/* `*` in a URI never leaves its component (RFC 3986 §3); `**` may cross '/' (and ':'). */
Test(pattern, uri_star_stops_at_each_delimiter)
{
    static const char stops[] = "/?#@:";
    static const char *const pats[] = {"https://*.example.com/deploy",
                                       "https://{h}.example.com/deploy", "https://*.example.com/**",
                                       "https://*.example.com/*"};
    size_t i, j;
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(pats); i++) {
        cr_assert_eq(m(pats[i], URI, "https://attacker-net.example.com/deploy"), 1, "%s", pats[i]);
        for (j = 0; j < sizeof(stops) - 1; j++) {
            char v[64];
            snprintf(v, sizeof(v), "https://attacker.net%c.example.com/deploy", stops[j]);
            cr_assert_eq(m(pats[i], URI, v), 0, "%s against %s", pats[i], v);
        }
    }
    cr_assert_eq(m("https://*.example.com/deploy", URI, "https://attacker.net?.example.com/deploy"),
                 0);
    cr_assert_eq(
        m("https://*.example.com/deploy", SLASH, "https://attacker.net?.example.com/deploy"),
        1); /* the class makes the difference */
}

Test(pattern, uri_starstar_stops_at_query_fragment_and_userinfo)
{
    static const char *const pats[] = {"https://**.example.com/deploy", "https://**/deploy",
                                       "**/deploy"};
    size_t i;
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(pats); i++) {
        cr_assert_eq(m(pats[i], URI, "https://a.b/c.example.com/deploy"), 1, "%s", pats[i]);
        cr_assert_eq(m(pats[i], URI, "https://a:1.example.com/deploy"), 1, "%s", pats[i]);
        cr_assert_eq(m(pats[i], URI, "https://a?b.example.com/deploy"), 0, "%s", pats[i]);
        cr_assert_eq(m(pats[i], URI, "https://a#b.example.com/deploy"), 0, "%s", pats[i]);
        cr_assert_eq(m(pats[i], URI, "https://a@b.example.com/deploy"), 0, "%s", pats[i]);
    }
    /* '.' is no stop in a URI; ':' is one for `*` only. */
    cr_assert_eq(m("https://*.example.com/deploy", URI, "https://a.b.example.com/deploy"), 1);
    cr_assert_eq(m("https://*/deploy", URI, "https://h.example:8443/deploy"), 0);
    cr_assert_eq(m("https://*:8443/deploy", URI, "https://h.example:8443/deploy"), 1);
    cr_assert_eq(m("https://**/deploy", URI, "https://h.example:8443/deploy"), 1);
    cr_assert_eq(m("https://h/**", URI, "https://h/a/b"), 1);
    cr_assert_eq(m("https://h/**", URI, "https://h/a?q"), 0);
    cr_assert_eq(m("*", URI, "a"), 1);
    cr_assert_eq(m("**", URI, "a/b:c"), 1);
    cr_assert_eq(m("**", URI, "a/b#c"), 0);
}

/* ---- differential tests against a naive reference ---- */

/*
 * The wildcard rules written out again from docs/policy.md, not from lib/pattern.c: which
 * bytes, as units of their own, end a `*` (starstar 0) or a `**` (starstar 1).
 */
static int ref_stops(mtlsauthz__wclass wc, int starstar, unsigned char c)
{
    switch (wc) {
    case MTLSAUTHZ__WC_DOT:
        return !starstar && c == '.';
    case MTLSAUTHZ__WC_SLASH:
        return !starstar && c == '/';
    case MTLSAUTHZ__WC_URI:
        return c == '?' || c == '#' || c == '@' || (!starstar && (c == '/' || c == ':'));
    case MTLSAUTHZ__WC_DN:
        return !starstar && (c == ',' || c == '+');
    default:
        return 0;
    }
}

static int ref_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

#define REF_MAX 64

/* Exhaustive recursive matcher over compiled tokens. */
struct ref {
    const mtlsauthz__pattern *p;
    const char *s;
    size_t len;
    /* ulen[q]: the length of the unit that starts at q, 0 where none starts; ulen[len] = 1. */
    unsigned char ulen[REF_MAX + 1];
    mtlsauthz__str caps[MTLSAUTHZ__PATTERN_MAX_CAPTURES];
    int set[MTLSAUTHZ__PATTERN_MAX_CAPTURES];
    int (*pred)(const mtlsauthz__str *caps);
};

/* Cuts the value into units from its first byte, as RFC 4514 §2.4 reads a DN value: a
 * backslash and two hex digits, a backslash and one other byte, or a lone backslash at the end;
 * every other byte alone. Without escapes every byte is a unit. */
static void ref_init(struct ref *r, const mtlsauthz__pattern *p, const char *s, size_t len)
{
    size_t q = 0;
    memset(r, 0, sizeof(*r));
    cr_assert_leq(len, REF_MAX);
    r->p = p;
    r->s = s;
    r->len = len;
    while (q < len) {
        size_t u = 1;
        if (p->wclass == MTLSAUTHZ__WC_DN && s[q] == '\\') {
            u = q + 2 < len && ref_hex(s[q + 1]) && ref_hex(s[q + 2]) ? 3 : q + 1 < len ? 2 : 1;
        }
        r->ulen[q] = (unsigned char)u;
        q += u;
    }
    r->ulen[len] = 1;
}

/* s[pos..q) is what one wildcard may match: non-empty, from a unit start to a unit start, and
 * every unit one it takes (an escape always, a lone backslash never). */
static int ref_wild(const struct ref *r, int starstar, size_t pos, size_t q)
{
    size_t at = pos;
    if (q <= pos || r->ulen[pos] == 0 || r->ulen[q] == 0) {
        return 0;
    }
    while (at < q) {
        unsigned char c = (unsigned char)r->s[at];
        if (r->ulen[at] == 1 && (ref_stops(r->p->wclass, starstar, c) ||
                                 (r->p->wclass == MTLSAUTHZ__WC_DN && c == '\\'))) {
            return 0;
        }
        at += r->ulen[at];
    }
    return 1;
}

static int ref_match(struct ref *r, size_t i, size_t pos)
{
    const mtlsauthz__tok *t;
    size_t q;
    if (i == r->p->ntoks) {
        return pos == r->len && (r->pred == NULL || r->pred(r->caps));
    }
    t = &r->p->toks[i];
    if (t->kind == MTLSAUTHZ__TOK_LIT) {
        return r->len - pos >= t->lit_len && memcmp(r->s + pos, t->lit, t->lit_len) == 0 &&
               ref_match(r, i + 1, pos + t->lit_len);
    }
    for (q = pos + 1; q <= r->len; q++) {
        int ok;
        if (!ref_wild(r, t->kind == MTLSAUTHZ__TOK_STARSTAR, pos, q)) {
            continue;
        }
        if (t->kind == MTLSAUTHZ__TOK_CAPTURE) {
            mtlsauthz__str *c = &r->caps[t->cap];
            if (r->set[t->cap]) {
                if (c->len == q - pos && memcmp(c->ptr, r->s + pos, c->len) == 0 &&
                    ref_match(r, i + 1, q)) {
                    return 1;
                }
                continue;
            }
            c->ptr = r->s + pos;
            c->len = q - pos;
            r->set[t->cap] = 1;
            ok = ref_match(r, i + 1, q);
            r->set[t->cap] = 0;
        } else {
            ok = ref_match(r, i + 1, q);
        }
        if (ok) {
            return 1;
        }
    }
    return 0;
}

static int pred_first_len2(const mtlsauthz__str *caps)
{
    return caps[0].len == 2;
}

static int cb_first_len2(void *ctx, const mtlsauthz__str *caps, unsigned ncaps)
{
    (void)ctx;
    cr_assert_gt(ncaps, 0);
    return pred_first_len2(caps);
}

static const char *const class_names[] = {"any", "dot", "slash", "uri", "dn"};

/* Matches v against p and against the reference (no callback); asserts they agree and
 * returns the answer. */
static int agrees_with_reference(const mtlsauthz__pattern *p, const char *pat, const char *v,
                                 size_t len)
{
    struct ref r;
    int want, got;
    ref_init(&r, p, v, len);
    want = ref_match(&r, 0, 0);
    got = mtlsauthz__pattern_match(p, v, len, NULL, NULL, NULL, NULL);
    cr_assert_eq(got, want, "pattern \"%s\" class %s value \"%.*s\": got %d want %d", pat,
                 class_names[p->wclass], (int)len, v, got, want);
    return want;
}

static unsigned rng_state = 12345;
static unsigned rnd(unsigned n)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return (rng_state >> 16) % n;
}

/*
 * Per class, the literal pieces random patterns are made of (as pattern source) and the bytes
 * random values are made of. Each alphabet holds the bytes the class treats specially, and
 * bytes that do not: for dn the RDN separators, '=', the backslash and hex digits (so values
 * hold `\,`, `\1A`, `\A` and lone backslashes); for uri every byte a wildcard stops at.
 */
struct klass {
    mtlsauthz__wclass wc;
    const char *const *lits;
    size_t nlits;
    const char *alpha;
};

static const char *const lits_slash[] = {"a", "b", "/", "ab", "a/", "/b", "ba"};
static const char *const lits_uri[] = {"a", "aa", "/", "?", "#", "@", ":", ".", "a/", "/a", "a.a"};
static const char *const lits_dn[] = {"a",  "A",     "1",      ",",        "+",
                                      "=",  "CN=",   ",O=",    "\\\\",     "\\\\,",
                                      "a+", "\\\\1", "\\\\A1", "\\\\\\\\", "\\\\+a"};

static const struct klass klasses[] = {
    {MTLSAUTHZ__WC_ANY, lits_slash, MTLSAUTHZ__ARRAY_LEN(lits_slash), "ab/"},
    {MTLSAUTHZ__WC_SLASH, lits_slash, MTLSAUTHZ__ARRAY_LEN(lits_slash), "ab/"},
    {MTLSAUTHZ__WC_DOT, lits_uri, MTLSAUTHZ__ARRAY_LEN(lits_uri), "a/.?"},
    {MTLSAUTHZ__WC_URI, lits_uri, MTLSAUTHZ__ARRAY_LEN(lits_uri), "aaa/?#@:."},
    {MTLSAUTHZ__WC_DN, lits_dn, MTLSAUTHZ__ARRAY_LEN(lits_dn), "\\,+=A1a"},
};

/*
 * A random pattern from the class's pieces, following the no-adjacent-wildcards rule. Writes
 * the source to buf and returns 1 if compile must refuse it: under dn, a literal that ends in a
 * lone backslash, or in a backslash and one hex digit when a wildcard follows.
 */
static int random_pattern(char *buf, const struct klass *k, int captures)
{
    static const char *wilds[] = {"*", "**", "{x}", "{y}"};
    char text[64];
    size_t n = 0, tn = 0;
    unsigned pieces = 1 + rnd(5);
    int prev_wild = 0, cut = 0;
    unsigned i;
    for (i = 0; i <= pieces; i++) {
        const char *piece;
        size_t j;
        if (i == pieces || (!prev_wild && rnd(2) == 0)) {
            /* The literal run before this wildcard (or the end) is complete: check it. */
            size_t at = 0;
            while (k->wc == MTLSAUTHZ__WC_DN && at < tn) {
                if (text[at] != '\\') {
                    at++;
                } else if (tn - at >= 3 && ref_hex(text[at + 1]) && ref_hex(text[at + 2])) {
                    at += 3;
                } else if (tn - at == 1 || (tn - at == 2 && i < pieces && ref_hex(text[at + 1]))) {
                    cut = 1;
                    break;
                } else {
                    at += 2;
                }
            }
            tn = 0;
            if (i == pieces) {
                break;
            }
            piece = wilds[rnd(captures ? 4 : 2)];
            prev_wild = 1;
        } else {
            piece = k->lits[rnd((unsigned)k->nlits)];
            prev_wild = 0;
            for (j = 0; piece[j] != '\0'; j++) {
                if (piece[j] == '\\') {
                    j++; /* the source's `\\` is one backslash of text */
                }
                text[tn++] = piece[j];
            }
        }
        memcpy(buf + n, piece, strlen(piece));
        n += strlen(piece);
    }
    buf[n] = '\0';
    return cut;
}

static size_t random_value(char *buf, const struct klass *k)
{
    size_t n = rnd(9), i, na = strlen(k->alpha);
    for (i = 0; i < n; i++) {
        buf[i] = k->alpha[rnd((unsigned)na)];
    }
    return n;
}

/* Compiles a random pattern of class k into p; 0 (and nothing to clear) if compile refused it,
 * which it must do exactly for the patterns random_pattern() says it must. */
static int random_compiled(mtlsauthz__pattern *p, char *src, const struct klass *k, int captures)
{
    mtlsauthz_error err = {0};
    int cut = random_pattern(src, k, captures);
    int rc = mtlsauthz__pattern_compile(p, src, strlen(src), k->wc, MTLSAUTHZ__FOLD_NONE, &err);
    if (cut) {
        cr_assert_eq(rc, MTLSAUTHZ_EPOLICY, "\"%s\" (%s) compiled, but ends inside an escape", src,
                     class_names[k->wc]);
        cr_assert(strstr(err.message, "DN escape") != NULL, "%s", err.message);
        return 0;
    }
    cr_assert_eq(rc, 0, "compile \"%s\" (%s): %s", src, class_names[k->wc], err.message);
    return 1;
}

Test(pattern, differential_against_reference)
{
    size_t ki;
    unsigned refused = 0;
    for (ki = 0; ki < MTLSAUTHZ__ARRAY_LEN(klasses); ki++) {
        const struct klass *k = &klasses[ki];
        unsigned iter, matched = 0;
        for (iter = 0; iter < 10000; iter++) {
            char pat[64];
            char v[16];
            size_t vl;
            mtlsauthz__pattern p;
            struct ref r;
            int want;
            int got;
            if (!random_compiled(&p, pat, k, 1)) {
                refused++;
                continue;
            }
            vl = random_value(v, k);
            matched += (unsigned)agrees_with_reference(&p, pat, v, vl);
            if (p.ncaps > 0) {
                ref_init(&r, &p, v, vl);
                r.pred = pred_first_len2;
                want = ref_match(&r, 0, 0);
                got = mtlsauthz__pattern_match(&p, v, vl, NULL, cb_first_len2, NULL, NULL);
                cr_assert_eq(got, want, "cb: pattern \"%s\" (%s) value \"%.*s\": got %d want %d",
                             pat, class_names[k->wc], (int)vl, v, got, want);
            }
            mtlsauthz__pattern_clear(&p);
        }
        cr_assert_gt(matched, 100, "class %s: too few matches to prove anything",
                     class_names[k->wc]);
    }
    cr_assert_gt(refused, 0);
}

/* A capture forced to a value: the reference binds it before the search, so every occurrence
 * must equal it and be what `*` may match where it stands. */
Test(pattern, differential_bound_capture_against_reference)
{
    size_t ki;
    rng_state = 4242;
    for (ki = 0; ki < MTLSAUTHZ__ARRAY_LEN(klasses); ki++) {
        const struct klass *k = &klasses[ki];
        unsigned iter, matched = 0;
        for (iter = 0; iter < 20000; iter++) {
            char pat[64];
            char v[16];
            char bv[16];
            size_t vl, bl;
            mtlsauthz__pattern p;
            mtlsauthz__str bound[MTLSAUTHZ__PATTERN_MAX_CAPTURES];
            struct ref r;
            int want, got;
            if (!random_compiled(&p, pat, k, 1)) {
                continue;
            }
            if (p.ncaps == 0) {
                mtlsauthz__pattern_clear(&p);
                continue;
            }
            vl = random_value(v, k);
            /* Mostly a piece of the value, sometimes anything (empty included). */
            if (vl > 0 && rnd(4) != 0) {
                size_t a = rnd((unsigned)vl), b = a + 1 + rnd((unsigned)(vl - a));
                bl = b - a;
                memcpy(bv, v + a, bl);
            } else {
                bl = random_value(bv, k) % 4;
            }
            memset(bound, 0, sizeof(bound));
            bound[0].ptr = bv;
            bound[0].len = bl;
            ref_init(&r, &p, v, vl);
            r.caps[0] = bound[0];
            r.set[0] = 1;
            want = ref_match(&r, 0, 0);
            got = mtlsauthz__pattern_match(&p, v, vl, bound, NULL, NULL, NULL);
            cr_assert_eq(got, want, "pattern \"%s\" (%s) value \"%.*s\" bound \"%.*s\": got %d",
                         pat, class_names[k->wc], (int)vl, v, (int)bl, bv, got);
            matched += (unsigned)want;
            mtlsauthz__pattern_clear(&p);
        }
        cr_assert_gt(matched, 20, "class %s: too few matches to prove anything",
                     class_names[k->wc]);
    }
}

/* Every value over `alpha` of up to `maxlen` bytes against the reference, for `pat` compiled
 * with class `wc`; returns how many matched. */
static size_t all_values_agree(const char *pat, mtlsauthz__wclass wc, const char *alpha,
                               size_t maxlen)
{
    mtlsauthz__pattern p;
    size_t na = strlen(alpha), len, matched = 0;
    comp(&p, pat, wc, MTLSAUTHZ__FOLD_NONE);
    for (len = 0; len <= maxlen; len++) {
        size_t total = 1, code, j;
        char v[16];
        for (j = 0; j < len; j++) {
            total *= na;
        }
        for (code = 0; code < total; code++) {
            size_t c = code;
            for (j = 0; j < len; j++, c /= na) {
                v[j] = alpha[c % na];
            }
            matched += (size_t)agrees_with_reference(&p, pat, v, len);
        }
    }
    mtlsauthz__pattern_clear(&p);
    return matched;
}

/* Every value over {a, b, /} of up to 7 bytes (3,280 of them). */
static size_t all_short_values_agree(const char *pat, mtlsauthz__wclass wc)
{
    return all_values_agree(pat, wc, "ab/", 7);
}

/*
 * Two wildcards around one literal, with and without outer literals: the shape that takes the
 * short path in plain_match() (the example policy's `* /host/` + `**`), with '/' and with no
 * separator.
 */
Test(pattern, two_wildcards_around_a_literal_against_reference)
{
    static const char *const wild[] = {"*", "**", "{x}"};
    static const char *const lit[] = {"a", "/", "ab", "a/", "/a", "//", "b/a", "aa"};
    static const char *const outer[][2] = {{"", ""}, {"a", ""}, {"", "b"}, {"/", "/"}};
    size_t w0, w2, l, o, matched = 0, patterns = 0;
    for (w0 = 0; w0 < 3; w0++) {
        for (w2 = 0; w2 < 3; w2++) {
            for (l = 0; l < MTLSAUTHZ__ARRAY_LEN(lit); l++) {
                for (o = 0; o < MTLSAUTHZ__ARRAY_LEN(outer); o++) {
                    char pat[64];
                    /* {x} twice would be one capture that must agree: another shape. */
                    snprintf(pat, sizeof(pat), "%s%s%s%s%s", outer[o][0], wild[w0], lit[l],
                             w0 == 2 && w2 == 2 ? "{y}" : wild[w2], outer[o][1]);
                    matched += all_short_values_agree(pat, SLASH);
                    matched += all_short_values_agree(pat, ANY);
                    patterns++;
                }
            }
        }
    }
    /* 288 patterns x 2 separators x 3,280 values, both answers seen. */
    cr_assert_eq(patterns, 288);
    cr_assert_gt(matched, 0);
    cr_assert_lt(matched, 288u * 2u * 3280u);
}

/*
 * dn: every value of up to 5 bytes over `\ , + = A 1 a` (19,608 of them) against the
 * reference, for patterns that put each special byte of the class next to each wildcard:
 * escaped commas and pluses, hex escapes, lone backslashes, multi-valued RDNs.
 */
Test(pattern, dn_short_values_against_reference)
{
    static const char *const pats[] = {
        "*",       "**",       "{x}",      "*,*",       "**,*",       "*,**",      "*+*",
        "*=*",     "A=*",      "A=*,1=a",  "*,a",       "**,a",       "a\\\\,*",   "*\\\\,*",
        "*\\\\,a", "**\\\\,*", "*\\\\A1*", "*\\\\1A",   "*\\\\\\\\*", "\\\\\\\\*", "*\\\\+",
        "{x},{x}", "{x}+{y}",  "*A1",      "*1",        "A*1",        "a*a",       "\\\\=*",
        "*=\\\\,", "**+a",     "*=*1",     "*,**A",     "{x}+*1",     "**=*A1",    "*=*\\\\,",
        "*,*,*",   "**,**",    "{x}=*",    "*\\\\\\\\", "\\\\1",      "a\\\\A",
    };
    size_t i, matched = 0, total = 0;
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(pats); i++) {
        matched += all_values_agree(pats[i], DN, "\\,+=A1a", 5);
        total += 19608;
    }
    cr_assert_gt(matched, 0);
    cr_assert_lt(matched, total);
}

/* uri: every value of up to 5 bytes over `a / ? # @ : .` against the reference, for patterns
 * that put each byte a wildcard stops at next to each wildcard. */
Test(pattern, uri_short_values_against_reference)
{
    static const char *const pats[] = {
        "*",   "**",    "{x}",     "*/*",   "**/*", "*/**",  "a*",    "*.a",   "**.a",
        "a:*", "*:*",   "*@*",     "**@*",  "*?*",  "**?**", "*#",    "**#a",  "a/**",
        "/*/", "*/{x}", "{x}/{x}", "**:**", "*.*",  "a?*",   "**/.a", "*@a.*", "{x}?**",
    };
    size_t i, matched = 0, total = 0;
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(pats); i++) {
        matched += all_values_agree(pats[i], URI, "a/?#@:.", 5);
        total += 19608;
    }
    cr_assert_gt(matched, 0);
    cr_assert_lt(matched, total);
}

/* ---- lint relations ---- */

static int overlap(const char *a, const char *b, mtlsauthz__wclass wc)
{
    mtlsauthz__pattern pa;
    mtlsauthz__pattern pb;
    int r1;
    int r2;
    comp(&pa, a, wc, MTLSAUTHZ__FOLD_NONE);
    comp(&pb, b, wc, MTLSAUTHZ__FOLD_NONE);
    r1 = mtlsauthz__pattern_may_overlap(&pa, &pb);
    r2 = mtlsauthz__pattern_may_overlap(&pb, &pa);
    cr_assert_eq(r1, r2, "may_overlap is not symmetric for \"%s\" and \"%s\"", a, b);
    mtlsauthz__pattern_clear(&pa);
    mtlsauthz__pattern_clear(&pb);
    return r1;
}

static int covers(const char *wide, const char *narrow, mtlsauthz__wclass wc)
{
    mtlsauthz__pattern pw;
    mtlsauthz__pattern pn;
    int r;
    comp(&pw, wide, wc, MTLSAUTHZ__FOLD_NONE);
    comp(&pn, narrow, wc, MTLSAUTHZ__FOLD_NONE);
    r = mtlsauthz__pattern_covers(&pw, &pn);
    mtlsauthz__pattern_clear(&pw);
    mtlsauthz__pattern_clear(&pn);
    return r;
}

Test(pattern, may_overlap_cases)
{
    cr_assert_eq(overlap("POST /containers/*/exec", "POST /containers/**", SLASH), 1);
    cr_assert_eq(overlap("host:**", "images:build", SLASH), 0);
    cr_assert_eq(overlap("host:**", "host:x", SLASH), 1);
    cr_assert_eq(overlap("host:**", "**", SLASH), 1);
    cr_assert_eq(overlap("POST /a/*", "POST /b/*", SLASH), 0);
    cr_assert_eq(overlap("/*", "/a/b", SLASH), 0);
    cr_assert_eq(overlap("/**", "/a/b", SLASH), 1);
    cr_assert_eq(overlap("{t}/x", "a/*", SLASH), 1);
    cr_assert_eq(overlap("*.example.com", "a.example.*", DOT), 1);
    cr_assert_eq(overlap("*.example.com", "*.*.example.com", DOT), 0);
    cr_assert_eq(overlap("**.example.com", "*.*.example.com", DOT), 1);
    cr_assert_eq(overlap("a*", "*b", SLASH), 1);
    cr_assert_eq(overlap("a*", "*/b", SLASH), 0);
    cr_assert_eq(overlap("a", "a", SLASH), 1);
    cr_assert_eq(overlap("a", "ab", SLASH), 0);
}

Test(pattern, covers_cases)
{
    cr_assert_eq(covers("**", "GET /a/{x}/b", SLASH), 1);
    cr_assert_eq(covers("GET /a/**", "GET /a/b/*", SLASH), 1);
    cr_assert_eq(covers("GET /a/*", "GET /a/{x}", SLASH), 1);
    cr_assert_eq(covers("GET /a/*", "GET /a/b", SLASH), 1);
    cr_assert_eq(covers("GET /a/*", "GET /a/b*c", SLASH), 1);
    cr_assert_eq(covers("GET /a/*", "GET /a/**", SLASH), 0);
    cr_assert_eq(covers("GET /a/*", "GET /a/b/c", SLASH), 0);
    cr_assert_eq(covers("GET /a/b", "GET /a/*", SLASH), 0);
    cr_assert_eq(covers("GET /a/b", "GET /a/b", SLASH), 1);
    cr_assert_eq(covers("**.example.com", "*.example.com", DOT), 1);
    cr_assert_eq(covers("*.example.com", "**.example.com", DOT), 0);
    cr_assert_eq(covers("*.example.com", "a.b.example.com", DOT), 0);
    cr_assert_eq(covers("*/**", "a/**", SLASH), 1);
    cr_assert_eq(covers("host:**", "images:build", SLASH), 0);
    /* A repeated name in `wide` matches less than `*` would. */
    cr_assert_eq(covers("{a}/{a}", "*/*", SLASH), 0);
    cr_assert_eq(covers("{a}/{a}", "x/y", SLASH), 0);
    cr_assert_eq(covers("{a}/{a}", "{b}/{b}", SLASH), 1);
    cr_assert_eq(covers("*/*", "{a}/{a}", SLASH), 1);
}

Test(pattern, lint_relations_with_classes)
{
    /* A dn `*` may take a ',' inside an escape: the byte view must not say "no overlap". */
    cr_assert_eq(overlap("CN=*,O=x", "CN=a\\\\,b,O=x", DN), 1);
    cr_assert_eq(overlap("https://*/x", "https://a?b/x", URI), 0);
    cr_assert_eq(overlap("https://**/x", "https://a/b/x", URI), 1);
    cr_assert_eq(overlap("https://**/x", "https://a@b/x", URI), 0);
    cr_assert_eq(overlap("a*", "a:b", URI), 0);
    cr_assert_eq(overlap("a**", "a:b", URI), 1);
    /* A wide `*` absorbing the `\` of an escaped ',' while a wide literal ',' takes the comma
     * would be a wrong proof: `CN=a\,b` is not matched by `CN=*,b`. */
    cr_assert_eq(covers("CN=*,b", "CN=a\\\\,b", DN), 0);
    cr_assert_eq(covers("CN=*,b", "CN=a\\\\,b", ANY), 1);
    cr_assert_eq(covers("CN=*,O=x", "CN=ab,O=x", DN), 1);
    cr_assert_eq(covers("**", "CN=*,O=x", DN), 1);
    cr_assert_eq(covers("CN=*,O=x", "CN=**,O=x", DN), 0);
    cr_assert_eq(covers("CN=*\\\\,b", "CN=*\\\\,b", DN), 1); /* identical */
    cr_assert_eq(covers("https://**", "https://*/x", URI), 1);
    cr_assert_eq(covers("https://*", "https://a:b", URI), 0);
    cr_assert_eq(covers("https://**", "https://a?b", URI), 0);
    cr_assert_eq(covers("**", "*", URI), 1);
    cr_assert_eq(covers("*", "**", URI), 0);
}

/* Asserts, over `nvals` random values of class k's alphabet, that neither relation claims
 * what the matcher refutes: both match a value => may_overlap; b matches => a matches, if
 * covers. */
static void relations_hold(const mtlsauthz__pattern *pa, const char *a,
                           const mtlsauthz__pattern *pb, const char *b, const struct klass *k,
                           unsigned nvals)
{
    int ov = mtlsauthz__pattern_may_overlap(pa, pb);
    int cv = mtlsauthz__pattern_covers(pa, pb);
    unsigned i;
    cr_assert_eq(ov, mtlsauthz__pattern_may_overlap(pb, pa), "may_overlap not symmetric");
    cr_assert(cv == 0 || ov == 1, "\"%s\" covers \"%s\" but no overlap", a, b);
    for (i = 0; i < nvals; i++) {
        char v[16];
        size_t vl = random_value(v, k);
        int ma = mtlsauthz__pattern_match(pa, v, vl, NULL, NULL, NULL, NULL);
        int mb2 = mtlsauthz__pattern_match(pb, v, vl, NULL, NULL, NULL, NULL);
        cr_assert(!(ma == 1 && mb2 == 1) || ov == 1,
                  "\"%s\" (%s) and \"%s\" (%s) both match \"%.*s\" but may_overlap says 0", a,
                  class_names[pa->wclass], b, class_names[pb->wclass], (int)vl, v);
        cr_assert(!(cv == 1 && mb2 == 1 && ma != 1),
                  "\"%s\" (%s) said to cover \"%s\" (%s) but misses \"%.*s\"", a,
                  class_names[pa->wclass], b, class_names[pb->wclass], (int)vl, v);
    }
}

Test(pattern, lint_relations_are_sound)
{
    size_t ki;
    unsigned covered = 0;
    rng_state = 777;
    for (ki = 0; ki < MTLSAUTHZ__ARRAY_LEN(klasses); ki++) {
        const struct klass *k = &klasses[ki];
        unsigned iter;
        for (iter = 0; iter < 3000; iter++) {
            char a[64];
            char b[64];
            mtlsauthz__pattern pa;
            mtlsauthz__pattern pb;
            if (!random_compiled(&pa, a, k, 1)) {
                continue;
            }
            if (!random_compiled(&pb, b, k, 1)) {
                mtlsauthz__pattern_clear(&pa);
                continue;
            }
            covered += (unsigned)mtlsauthz__pattern_covers(&pa, &pb);
            relations_hold(&pa, a, &pb, b, k, 80);
            mtlsauthz__pattern_clear(&pa);
            mtlsauthz__pattern_clear(&pb);
        }
    }
    /* Patterns of different classes, on dn's alphabet (escapes included). */
    for (ki = 0; ki < 6000; ki++) {
        const struct klass *k = &klasses[MTLSAUTHZ__ARRAY_LEN(klasses) - 1];
        struct klass ka = *k, kb = *k;
        char a[64];
        char b[64];
        mtlsauthz__pattern pa;
        mtlsauthz__pattern pb;
        ka.wc = (mtlsauthz__wclass)rnd(MTLSAUTHZ__WC_COUNT);
        kb.wc = (mtlsauthz__wclass)rnd(MTLSAUTHZ__WC_COUNT);
        if (!random_compiled(&pa, a, &ka, 1)) {
            continue;
        }
        if (!random_compiled(&pb, b, &kb, 1)) {
            mtlsauthz__pattern_clear(&pa);
            continue;
        }
        covered += (unsigned)mtlsauthz__pattern_covers(&pa, &pb);
        relations_hold(&pa, a, &pb, b, k, 40);
        mtlsauthz__pattern_clear(&pa);
        mtlsauthz__pattern_clear(&pb);
    }
    cr_assert_gt(covered, 100);
}

Test(pattern, lint_relations_on_bad_input_are_conservative)
{
    mtlsauthz__pattern z;
    mtlsauthz__pattern p;
    memset(&z, 0, sizeof(z));
    comp(&p, "a", SLASH, MTLSAUTHZ__FOLD_NONE);
    cr_assert_eq(mtlsauthz__pattern_may_overlap(&z, &p), 1);
    cr_assert_eq(mtlsauthz__pattern_may_overlap(NULL, &p), 1);
    cr_assert_eq(mtlsauthz__pattern_covers(&p, &z), 0);
    cr_assert_eq(mtlsauthz__pattern_covers(NULL, &p), 0);
    mtlsauthz__pattern_clear(&p);
}
