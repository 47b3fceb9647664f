/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What an operation pattern can match (lib/op_pattern.c): every HTTP-shaped pattern that no
 * canonical HTTP operation can match is refused with its reason and fix, in every policy;
 * under `protocol: http` every pattern must be an HTTP one; named operations are left alone;
 * and lint's test for a path written without a method.
 */
#include "helpers.h"
#include "op_pattern.h"

static mtlsauthz__pattern compile_op(const char *src)
{
    mtlsauthz__pattern pat;
    mtlsauthz_error err;
    mtlsauthz_error_clear(&err);
    cr_assert_eq(mtlsauthz__pattern_compile(&pat, src, strlen(src), MTLSAUTHZ__WC_SLASH,
                                            MTLSAUTHZ__FOLD_NONE, &err),
                 0, "'%s' did not compile: %s", src, err.message);
    return pat;
}

/* The check's verdict for `src`: NULL (fine) or its message, copied to a static buffer. */
static const char *check(const char *src, int http)
{
    static char out[MTLSAUTHZ__OP_PATTERN_WHY_SIZE];
    char buf[MTLSAUTHZ__OP_PATTERN_WHY_SIZE];
    mtlsauthz__pattern pat = compile_op(src);
    const char *why = mtlsauthz__op_pattern_check(&pat, http, buf);
    mtlsauthz__pattern_clear(&pat);
    if (why == NULL) {
        return NULL;
    }
    cr_assert_eq(why, buf);
    snprintf(out, sizeof(out), "%s", why);
    return out;
}

static void refused(const char *src, int http, const char *needle)
{
    const char *why = check(src, http);
    cr_assert_not_null(why, "'%s' (http %d) should be refused", src, http);
    cr_assert(strstr(why, needle) != NULL, "'%s': expected \"%s\" in \"%s\"", src, needle, why);
    /* One line of printable text, as every error message is. */
    for (const char *p = why; *p != '\0'; p++) {
        cr_assert((unsigned char)*p >= 0x20 && *p != 0x7f, "'%s': control byte in \"%s\"", src,
                  why);
    }
}

static void accepted(const char *src, int http)
{
    const char *why = check(src, http);
    cr_assert_null(why, "'%s' (http %d) should be accepted, got: %s", src, http, why);
}

/* Refused whatever the protocol. */
static const struct {
    const char *src;
    const char *needle;
} never_match[] = {
    /* The method. */
    {"post /containers/*/attach", "write POST"},
    {"Get /x", "write GET"},
    {"get /x", "methods are case-sensitive"},
    {"pOsT* /x", "write POST*"},
    {"HEAD /containers/x/secrets", "HEAD is decided as GET"},
    {"HEAD /x", "write GET"},
    {"** /x", "'**' in the method"},
    {"G** /x", "'**' in the method"},
    {"GE,T /x", "is not an HTTP token"},
    {"G\xc3\x89T /x", "is not an HTTP token"},
    {"GET\x01 /x", "is not an HTTP token"},
    {"ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG /x", "longer than the 32 bytes"},
    /* Between the method and the path. */
    {"GET  /x", "exactly one space"},
    {"GET\t/x", "exactly one space"},
    {"GET \t/x", "exactly one space"},
    {"GET\n/x", "exactly one space"},
    {" GET /x", "leading whitespace"},
    {"\tGET /x", "leading whitespace"},
    /* The path: each thing the canonical form refuses or rewrites. */
    {"POST /containers/*/exec/", "trailing '/'"},
    {"GET /a/", "trailing '/'"},
    {"* /a/**/", "trailing '/'"},
    {"GET /{x}/", "trailing '/'"},
    {"GET //", "empty path segment"},
    {"GET /a//b", "empty path segment"},
    {"GET /a/*//b", "empty path segment"},
    {"GET /.", "'.' or '..' path segment"},
    {"GET /..", "'.' or '..' path segment"},
    {"GET /a/./b", "'.' or '..' path segment"},
    {"GET /a/../b", "'.' or '..' path segment"},
    {"GET /a/..", "'.' or '..' path segment"},
    {"GET /**/../x", "'.' or '..' path segment"},
    {"GET /a%41", "write 'A'"},
    {"GET /a%41", "only a request for '%2541'"},
    {"GET /containers/x/%65xec", "write 'e'"},
    {"GET /%2a", "write '\\*'"},
    {"GET /%7B", "write '\\{'"},
    {"GET /%5c", "write '\\\\'"},
    {"GET /50%25", "write '%'"},
    {"GET /a%20b", "write ' '"},
    {"GET /a%2Fb", "encoded '/' is refused"},
    {"GET /a%2fb", "encoded '/' is refused"},
    {"GET /a%00", "control byte is refused"},
    {"GET /a%0A", "control byte is refused"},
    {"GET /a%7f", "control byte is refused"},
    {"GET /caf%C3%A9", "decoded UTF-8 text"},
    {"GET /a?b=1", "'?' in the path"},
    {"GET /?", "remove the query"},
    {"GET /a/*?x", "'?' in the path"},
    {"GET /a#top", "'#' in the path"},
    {"GET /a\tb", "control byte 0x09"},
    {"GET /a\x7f", "control byte 0x7f"},
    {"GET /a\x1b[31m", "control byte 0x1b"},
    {"GET /x ", "ends in whitespace"},
};

Test(op_pattern, http_shaped_patterns_that_never_match_are_refused)
{
    for (size_t i = 0; i < MTLSAUTHZ__ARRAY_LEN(never_match); i++) {
        refused(never_match[i].src, 0, never_match[i].needle);
        refused(never_match[i].src, 1, never_match[i].needle);
    }
}

Test(op_pattern, http_patterns_that_can_match_are_accepted)
{
    static const char *const ok[] = {
        "GET /",
        "* /host/**",
        "POST /containers/*/exec",
        "POST /containers/abc/exec",
        "GET /tenants/{tenant}/**",
        "GET /a/*/b",
        "GET /a/**",
        "GET /**",
        "GET /*",
        "GET /a/**/b",
        "* /containers/**",
        "P* /x",
        "{m} /x",
        "M-SEARCH /x",
        "PROPFIND /dav/*",
        "\\* /x",           /* the method "*" itself, escaped */
        "GET /a/\\*",       /* a literal '*' in the path */
        "GET /a/\\{b}",     /* a literal '{' */
        "GET /a/.../b",     /* three dots are an ordinary segment */
        "GET /a/.x",        /* so is a segment that starts with a dot */
        "GET /a/x.",        /* or ends with one */
        "GET /a/*.json",    /* a wildcard makes a segment more than dots */
        "GET /a/.*",        /* likewise */
        "GET /50%off",      /* '%' not followed by two hex digits */
        "GET /a%",          /* likewise */
        "GET /a%4",         /* likewise */
        "GET /a%4g",        /* likewise */
        "GET /a b",         /* a space inside the path (from %20) */
        "GET /caf\xc3\xa9", /* decoded UTF-8 */
        "GET /a/b;c=d",     /* ';' is an ordinary byte */
    };
    for (size_t i = 0; i < MTLSAUTHZ__ARRAY_LEN(ok); i++) {
        accepted(ok[i], 0);
        accepted(ok[i], 1);
    }
}

Test(op_pattern, named_operations_are_untouched_without_protocol_http)
{
    static const char *const named[] = {
        "images:build",
        "host:**",
        "images:*",
        "/host/**",            /* a path without a method: legal, lint reports it */
        "/pkg.Service/Method", /* a gRPC method name */
        "[a-z]+",
        "GET",
        "GET *",
        "GET*/x",         /* no whitespace: not the shape of an HTTP operation */
        "a/b c/d",        /* the first word has a '/' */
        "deploy staging", /* words without a '/' */
        "*",
        "**",
        "GET **",
    };
    for (size_t i = 0; i < MTLSAUTHZ__ARRAY_LEN(named); i++) {
        accepted(named[i], 0);
    }
}

Test(op_pattern, protocol_http_requires_http_patterns)
{
    refused("/host/**", 1, "a path without a method");
    refused("/pkg.Service/Method", 1, "a path without a method");
    refused("[a-z]+", 1, "not an HTTP operation pattern");
    refused("images:build", 1, "not an HTTP operation pattern");
    refused("host:**", 1, "not an HTTP operation pattern");
    refused("GET", 1, "not an HTTP operation pattern");
    refused("GET *", 1, "not an HTTP operation pattern");
    refused("GET*/x", 1, "not an HTTP operation pattern");
    refused("*", 1, "not an HTTP operation pattern");
    refused("*/x", 1, "not an HTTP operation pattern");
    refused("deploy staging", 1, "not an HTTP operation pattern");
    /* `**` alone is every operation; a path may start with `**` (every path, "/" too). */
    accepted("**", 1);
    accepted("GET **", 1);
    accepted("* **", 1);
    accepted("GET **/x", 1);
    refused("GET **/", 1, "trailing '/'");
    refused("get **", 1, "write GET");
    refused("** **", 1, "'**' in the method");
}

Test(op_pattern, bare_paths_for_lint)
{
    static const char *const bare[] = {
        "/host/**",
        "/host/mount",
        "/",
        "/a",
        "/api/v1/users",
        "/Svc/Method/x",
        "/pkg.Svc/method",
        "//Method",
        "/pkg..Svc/M",
        "/.Svc/M",
        "/Svc./M",
        "/pkg.Svc/Me.thod",
        "/pkg.Svc/M-x",
        "/pkg.svc/Method",
        "/Svc/",
        "/Svc/**",
    };
    static const char *const not_bare[] = {
        "/pkg.Service/Method",
        "/grpc.health.v1.Health/Check",
        "/Greeter/SayHello",
        "/pkg.Service/*",
        "/*/*",
        "/pkg.*/Get",
        "/pkg.Svc/{m}",
        "/my_pkg.v2.Svc/Get_2",
        "images:build",
        "GET /x",
        "* /host/**",
        "**",
    };
    for (size_t i = 0; i < MTLSAUTHZ__ARRAY_LEN(bare); i++) {
        mtlsauthz__pattern pat = compile_op(bare[i]);
        cr_assert(mtlsauthz__op_pattern_is_bare_path(&pat), "'%s' should be a bare path", bare[i]);
        mtlsauthz__pattern_clear(&pat);
    }
    for (size_t i = 0; i < MTLSAUTHZ__ARRAY_LEN(not_bare); i++) {
        mtlsauthz__pattern pat = compile_op(not_bare[i]);
        cr_assert(!mtlsauthz__op_pattern_is_bare_path(&pat), "'%s' is not a bare path",
                  not_bare[i]);
        mtlsauthz__pattern_clear(&pat);
    }
}

/*
 * The refusals that rest on the canonical form are checked against it: for a literal pattern,
 * the operation built from its own path (the only request that could give it) differs from
 * the pattern, or the request is refused. The pattern then matches nothing.
 */
Test(op_pattern, refusals_agree_with_the_canonical_form)
{
    static const struct {
        const char *method;
        const char *target;
    } cases[] = {
        {"POST", "/containers/x/exec/"},
        {"GET", "/a//b"},
        {"GET", "/a/./b"},
        {"GET", "/a/../b"},
        {"HEAD", "/x"},
        {"GET", "/a%2Fb"},
        {"GET", "/a%0Ab"},
        {"GET", "/.."},
    };
    for (size_t i = 0; i < MTLSAUTHZ__ARRAY_LEN(cases); i++) {
        char pattern[128], op[MTLSAUTHZ_HTTP_OPERATION_MAX];
        size_t op_len = 0;
        mtlsauthz_error err;
        int rc;
        snprintf(pattern, sizeof(pattern), "%s %s", cases[i].method, cases[i].target);
        cr_assert_not_null(check(pattern, 0), "'%s' should be refused", pattern);
        rc = mtlsauthz_http_operation(op, sizeof(op), &op_len, cases[i].method,
                                      strlen(cases[i].method), cases[i].target,
                                      strlen(cases[i].target), &err);
        cr_assert(rc != 0 || strcmp(op, pattern) != 0, "'%s' is a canonical operation", pattern);
    }
}
