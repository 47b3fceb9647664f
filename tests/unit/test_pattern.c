/* Patterns (lib/pattern.c): compile errors, matching, captures, budget, and the lint relations. */
#include <time.h>

#include "helpers.h"
#include "pattern.h"

/* ---- helpers ---- */

#define ANY MTLSAUTHZ__WC_ANY
#define DOT MTLSAUTHZ__WC_DOT
#define SLASH MTLSAUTHZ__WC_SLASH

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

/* ---- differential test against a naive reference ---- */

/* Exhaustive recursive matcher over compiled tokens; counts accepted full matches. */
struct ref {
    const mtlsauthz__pattern *p;
    const char *s;
    size_t len;
    mtlsauthz__str caps[MTLSAUTHZ__PATTERN_MAX_CAPTURES];
    int set[MTLSAUTHZ__PATTERN_MAX_CAPTURES];
    int (*pred)(const mtlsauthz__str *caps);
    char sep; /* the byte `*` never takes: 0, '.' or '/' */
};

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
        if (t->kind != MTLSAUTHZ__TOK_STARSTAR && r->sep != 0 && r->s[q - 1] == r->sep) {
            break;
        }
        if (t->kind == MTLSAUTHZ__TOK_CAPTURE) {
            mtlsauthz__str *c = &r->caps[t->cap];
            if (r->set[t->cap]) {
                if (c->len != q - pos || memcmp(c->ptr, r->s + pos, c->len) != 0) {
                    continue;
                }
                if (ref_match(r, i + 1, q)) {
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

/* Matches v against p and against the reference (no callback); asserts they agree and
 * returns the answer. */
static int agrees_with_reference(const mtlsauthz__pattern *p, const char *pat, const char *v,
                                 size_t len)
{
    struct ref r;
    int want, got;
    memset(&r, 0, sizeof(r));
    r.p = p;
    r.s = v;
    r.len = len;
    r.sep = mtlsauthz__wclass_sep(p->wclass);
    want = ref_match(&r, 0, 0);
    got = mtlsauthz__pattern_match(p, v, len, NULL, NULL, NULL, NULL);
    cr_assert_eq(got, want, "pattern \"%s\" sep %d value \"%.*s\": got %d want %d", pat, r.sep,
                 (int)len, v, got, want);
    return want;
}

static unsigned rng_state = 12345;
static unsigned rnd(unsigned n)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return (rng_state >> 16) % n;
}

/* A random pattern over a tiny alphabet, following the no-adjacent-wildcards rule. */
static size_t random_pattern(char *buf, int captures)
{
    static const char *lits[] = {"a", "b", "/", "ab", "a/", "/b", "ba"};
    static const char *wilds[] = {"*", "**", "{x}", "{y}"};
    size_t n = 0;
    unsigned k = 1 + rnd(5);
    int prev_wild = 0;
    unsigned i;
    for (i = 0; i < k; i++) {
        const char *piece;
        if (!prev_wild && rnd(2) == 0) {
            piece = wilds[rnd(captures ? 4 : 2)];
            prev_wild = 1;
        } else {
            piece = lits[rnd(MTLSAUTHZ__ARRAY_LEN(lits))];
            prev_wild = 0;
        }
        memcpy(buf + n, piece, strlen(piece));
        n += strlen(piece);
    }
    buf[n] = '\0';
    return n;
}

static size_t random_value(char *buf)
{
    static const char alpha[] = "ab/";
    size_t n = rnd(9);
    size_t i;
    for (i = 0; i < n; i++) {
        buf[i] = alpha[rnd(3)];
    }
    return n;
}

Test(pattern, differential_against_reference)
{
    unsigned iter;
    for (iter = 0; iter < 20000; iter++) {
        char pat[64];
        char v[16];
        size_t vl;
        mtlsauthz__pattern p;
        struct ref r;
        int want;
        int got;
        mtlsauthz__wclass wc = rnd(3) == 0 ? ANY : SLASH;
        random_pattern(pat, 1);
        vl = random_value(v);
        comp(&p, pat, wc, MTLSAUTHZ__FOLD_NONE);
        agrees_with_reference(&p, pat, v, vl);
        if (p.ncaps > 0) {
            memset(&r, 0, sizeof(r));
            r.p = &p;
            r.s = v;
            r.len = vl;
            r.pred = pred_first_len2;
            r.sep = mtlsauthz__wclass_sep(wc);
            want = ref_match(&r, 0, 0);
            got = mtlsauthz__pattern_match(&p, v, vl, NULL, cb_first_len2, NULL, NULL);
            cr_assert_eq(got, want, "cb: pattern \"%s\" value \"%.*s\": got %d want %d", pat,
                         (int)vl, v, got, want);
        }
        mtlsauthz__pattern_clear(&p);
    }
}

/* Every value over {a, b, /} of up to 7 bytes (3,280 of them) against the reference, for
 * `pat` compiled with class `wc`; returns how many matched. */
static size_t all_short_values_agree(const char *pat, mtlsauthz__wclass wc)
{
    static const char alpha[3] = {'a', 'b', '/'};
    mtlsauthz__pattern p;
    size_t len, matched = 0;
    comp(&p, pat, wc, MTLSAUTHZ__FOLD_NONE);
    for (len = 0; len <= 7; len++) {
        size_t total = 1, code, j;
        char v[8];
        for (j = 0; j < len; j++) {
            total *= 3;
        }
        for (code = 0; code < total; code++) {
            size_t c = code;
            for (j = 0; j < len; j++, c /= 3) {
                v[j] = alpha[c % 3];
            }
            matched += (size_t)agrees_with_reference(&p, pat, v, len);
        }
    }
    mtlsauthz__pattern_clear(&p);
    return matched;
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

Test(pattern, lint_relations_are_sound)
{
    unsigned iter;
    rng_state = 777;
    for (iter = 0; iter < 4000; iter++) {
        char a[64];
        char b[64];
        mtlsauthz__pattern pa;
        mtlsauthz__pattern pb;
        int ov;
        int cv;
        unsigned k;
        random_pattern(a, 1);
        random_pattern(b, 1);
        comp(&pa, a, SLASH, MTLSAUTHZ__FOLD_NONE);
        comp(&pb, b, SLASH, MTLSAUTHZ__FOLD_NONE);
        ov = mtlsauthz__pattern_may_overlap(&pa, &pb);
        cv = mtlsauthz__pattern_covers(&pa, &pb);
        cr_assert(cv == 0 || ov == 1, "\"%s\" covers \"%s\" but no overlap", a, b);
        for (k = 0; k < 60; k++) {
            char v[16];
            size_t vl = random_value(v);
            int ma = mtlsauthz__pattern_match(&pa, v, vl, NULL, NULL, NULL, NULL);
            int mb2 = mtlsauthz__pattern_match(&pb, v, vl, NULL, NULL, NULL, NULL);
            cr_assert(!(ma == 1 && mb2 == 1) || ov == 1,
                      "\"%s\" and \"%s\" both match \"%.*s\" but may_overlap says 0", a, b, (int)vl,
                      v);
            cr_assert(!(cv == 1 && mb2 == 1 && ma != 1),
                      "\"%s\" said to cover \"%s\" but misses \"%.*s\"", a, b, (int)vl, v);
        }
        mtlsauthz__pattern_clear(&pa);
        mtlsauthz__pattern_clear(&pb);
    }
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
