/* SPDX-License-Identifier: Apache-2.0 */
/* The canonical HTTP operation (lib/http.c): what it builds and what it refuses. */
#include "helpers.h"
#include "mtlsauthz/http.h"

static int op(char *out, size_t cap, const char *method, const char *target, size_t target_len,
              mtlsauthz_error *err)
{
    size_t out_len = 12345;
    int rc;
    mtlsauthz_error_clear(err);
    rc = mtlsauthz_http_operation(out, cap, &out_len, method, strlen(method), target, target_len,
                                  err);
    if (rc == 0) {
        cr_assert_eq(out_len, strlen(out), "length disagrees with the NUL");
    } else {
        cr_assert_eq(out_len, 0);
        cr_assert_eq(err->code, rc);
        /* Fail closed: no partial operation is left behind. */
        if (cap > 0) {
            cr_assert_eq(out[0], '\0', "partial output after refusal: %s", out);
        }
    }
    return rc;
}

static void ok(const char *method, const char *target, const char *want)
{
    char out[256];
    mtlsauthz_error err;
    int rc = op(out, sizeof(out), method, target, strlen(target), &err);
    cr_assert_eq(rc, 0, "%s %s: %s", method, target, err.message);
    cr_assert_str_eq(out, want, "%s %s", method, target);
}

static void refused(const char *method, const char *target, size_t target_len, const char *why)
{
    char out[256];
    mtlsauthz_error err;
    int rc = op(out, sizeof(out), method, target, target_len, &err);
    cr_assert_eq(rc, MTLSAUTHZ_EOPERATION, "%s \"%.*s\" should be refused (rc %d, out \"%s\")",
                 method, (int)target_len, target, rc, out);
    cr_assert(strstr(err.message, why) != NULL, "%s \"%.*s\": message \"%s\" lacks \"%s\"", method,
              (int)target_len, target, err.message, why);
}

static void refused_s(const char *target, const char *why)
{
    refused("GET", target, strlen(target), why);
}

Test(http, spec_examples)
{
    ok("POST", "/containers/abc/%65xec", "POST /containers/abc/exec");
    ok("POST", "/containers/abc/exec/", "POST /containers/abc/exec");
    ok("POST", "/containers/abc/exec", "POST /containers/abc/exec");
}

Test(http, root_and_trailing_slash)
{
    ok("GET", "/", "GET /");
    ok("GET", "/a/", "GET /a");
    ok("GET", "/a/b/", "GET /a/b");
    ok("GET", "/?x=1", "GET /");
    refused_s("/a//", "empty segment");
}

Test(http, query_is_stripped)
{
    ok("GET", "/a?b=/../", "GET /a");
    ok("GET", "/a/?b", "GET /a");
    ok("GET", "/a?%zz", "GET /a"); /* the query is not decoded */
    ok("GET", "/a?", "GET /a");
    ok("GET", "/a?x?y", "GET /a");
}

Test(http, percent_decoding)
{
    ok("GET", "/%41%62c", "GET /Abc");
    ok("GET", "/%4a%4A", "GET /JJ");
    ok("GET", "/a%20b", "GET /a b");
    ok("GET", "/%3F%23", "GET /?#");
    ok("GET", "/caf%C3%A9", "GET /caf\xc3\xa9");
    /* Decoded once: %25 is a '%', and what follows it is not decoded again. */
    ok("GET", "/%2541", "GET /%41");
    ok("GET", "/%252F", "GET /%2F");
    ok("GET", "/%252e%252e", "GET /%2e%2e");
}

Test(http, dots_that_are_not_dot_segments)
{
    ok("GET", "/...", "GET /...");
    ok("GET", "/.a", "GET /.a");
    ok("GET", "/a./b..", "GET /a./b..");
    ok("GET", "/.well-known/x", "GET /.well-known/x");
}

Test(http, method_is_kept_as_given)
{
    ok("get", "/x", "get /x");
    ok("M-SEARCH", "/x", "M-SEARCH /x");
    ok("A!#$%&'*+-.^_`|~9", "/x", "A!#$%&'*+-.^_`|~9 /x");
}

/* HEAD runs the GET handler in every router the bindings serve, so it is decided as GET; the
 * match is exact, since methods are case-sensitive (RFC 9110 §9.1). */
Test(http, head_is_decided_as_get)
{
    ok("HEAD", "/containers/x/secrets", "GET /containers/x/secrets");
    ok("HEAD", "/containers/x/secrets/?q=1", "GET /containers/x/secrets");
    ok("HEAD", "/", "GET /");
    ok("head", "/x", "head /x");
    ok("HEADX", "/x", "HEADX /x");
    ok("HEA", "/x", "HEA /x");
    refused("HEAD", "/a/../b", 7, "dot segment");
}

Test(http, head_fits_the_buffer_get_needs)
{
    char out[9];
    mtlsauthz_error err;
    /* "GET /abc" and its NUL: the buffer a GET needs is enough. */
    cr_assert_eq(op(out, sizeof(out), "HEAD", "/abc", 4, &err), 0, "%s", err.message);
    cr_assert_str_eq(out, "GET /abc");
    cr_assert_eq(op(out, sizeof(out), "HEAD", "/abcd", 5, &err), MTLSAUTHZ_ELIMIT);
}

Test(http, refuses_encoded_slash)
{
    refused_s("/a%2Fb", "encoded '/'");
    refused_s("/a%2fb", "encoded '/'");
    refused_s("/%2F", "encoded '/'");
    refused_s("/containers%2F..%2Fhost", "encoded '/'");
}

Test(http, refuses_nul_and_controls)
{
    refused_s("/a%00b", "NUL byte");
    refused("GET", "/a\0b", 4, "NUL byte");
    refused_s("/a%0ab", "control byte");
    refused_s("/a%0D%0Ab", "control byte");
    refused_s("/a%7f", "control byte");
    refused_s("/a%1F", "control byte");
    refused_s("/a\tb", "control byte");
    refused_s("/a\x7f", "control byte");
}

Test(http, refuses_dot_segments)
{
    refused_s("/../", "dot segment");
    refused_s("/./", "dot segment");
    refused_s("/a/..", "dot segment");
    refused_s("/a/.", "dot segment");
    refused_s("/a/../b", "dot segment");
    refused_s("/..", "dot segment");
    refused_s("/.", "dot segment");
    refused_s("/%2e%2e/", "dot segment");
    refused_s("/%2E%2E", "dot segment");
    refused_s("/.%2e/", "dot segment");
    refused_s("/%2e/x", "dot segment");
    refused_s("/a/..?x", "dot segment");
    refused_s("/a/../", "dot segment");
}

Test(http, refuses_empty_segments)
{
    refused_s("//", "empty segment");
    refused_s("//a", "empty segment");
    refused_s("/a//b", "empty segment");
    refused_s("/a//", "empty segment");
    refused_s("///", "empty segment");
}

Test(http, refuses_non_absolute)
{
    refused_s("a/b", "not absolute");
    refused_s("*", "not absolute");
    refused_s("?x", "not absolute");
    refused_s("http://h/a", "not absolute");
    refused_s("%2Fa", "not absolute");
    refused("GET", "", 0, "empty request target");
}

Test(http, refuses_fragment)
{
    refused_s("/a#b", "fragment");
    refused_s("/a?x#b", "fragment");
    refused_s("/a%23b#", "fragment");
}

Test(http, refuses_malformed_escapes)
{
    refused_s("/%", "malformed percent-escape");
    refused_s("/a%", "malformed percent-escape");
    refused_s("/%4", "malformed percent-escape");
    refused_s("/%4?x", "malformed percent-escape");
    refused_s("/%zz", "malformed percent-escape");
    refused_s("/%g0", "malformed percent-escape");
    refused_s("/%0g", "malformed percent-escape");
    refused_s("/% 1", "malformed percent-escape");
}

Test(http, refuses_bad_methods)
{
    refused("GE T", "/", 1, "not an HTTP token");
    refused("", "/", 1, "empty method");
    refused("GET\n", "/", 1, "not an HTTP token");
    refused("G(T", "/", 1, "not an HTTP token");
    refused("G/T", "/", 1, "not an HTTP token");
    refused("\xc3\xa9", "/", 1, "not an HTTP token");
    refused("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG", "/", 1, "longer than 32");
    ok("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEF", "/", "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEF /");
}

Test(http, method_with_nul_is_refused)
{
    char out[64];
    size_t out_len;
    mtlsauthz_error err = {0};
    cr_assert_eq(mtlsauthz_http_operation(out, sizeof(out), &out_len, "GET\0X", 5, "/", 1, &err),
                 MTLSAUTHZ_EOPERATION);
}

Test(http, buffer_too_small)
{
    char out[16];
    mtlsauthz_error err;
    size_t need = strlen("POST /containers/abc/exec") + 1;
    char big[64];
    cr_assert_eq(op(out, sizeof(out), "POST", "/containers/abc/exec", 20, &err), MTLSAUTHZ_ELIMIT);
    cr_assert_eq(op(big, need - 1, "POST", "/containers/abc/exec", 20, &err), MTLSAUTHZ_ELIMIT);
    cr_assert_eq(op(big, need, "POST", "/containers/abc/exec", 20, &err), 0);
    cr_assert_str_eq(big, "POST /containers/abc/exec");
    /* The decoded form is what has to fit, not the raw target. */
    cr_assert_eq(op(big, 8, "GET", "/%41%42%43", 10, &err), MTLSAUTHZ_ELIMIT);
    cr_assert_eq(op(big, 9, "GET", "/%41%42%43", 10, &err), 0);
    cr_assert_str_eq(big, "GET /ABC");
    /* A zero-capacity buffer is never written. */
    big[0] = 'Z';
    cr_assert_eq(op(big, 0, "GET", "/", 1, &err), MTLSAUTHZ_ELIMIT);
    cr_assert_eq(big[0], 'Z');
    /* A refusal wins over a small buffer: the reason is what the caller needs. */
    cr_assert_eq(op(out, 4, "GET", "/a/../b", 7, &err), MTLSAUTHZ_EOPERATION);
}

Test(http, target_length_limit)
{
    static char target[8194];
    static char out[8300];
    mtlsauthz_error err;
    memset(target, 'a', sizeof(target));
    target[0] = '/';
    cr_assert_eq(op(out, sizeof(out), "GET", target, 8192, &err), 0);
    cr_assert_eq(strlen(out), 4 + 8192);
    cr_assert_eq(op(out, sizeof(out), "GET", target, 8193, &err), MTLSAUTHZ_ELIMIT);
}

Test(http, null_arguments)
{
    char out[64];
    size_t out_len;
    mtlsauthz_error err = {0};
    cr_assert_eq(mtlsauthz_http_operation(NULL, 64, &out_len, "GET", 3, "/", 1, &err),
                 MTLSAUTHZ_EINVAL);
    cr_assert_eq(err.code, MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_http_operation(out, sizeof(out), NULL, "GET", 3, "/", 1, &err),
                 MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_http_operation(out, sizeof(out), &out_len, NULL, 3, "/", 1, &err),
                 MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_http_operation(out, sizeof(out), &out_len, "GET", 3, NULL, 1, &err),
                 MTLSAUTHZ_EINVAL);
    /* A NULL error struct is allowed. */
    cr_assert_eq(mtlsauthz_http_operation(out, sizeof(out), &out_len, "GET", 3, "/x", 2, NULL), 0);
    cr_assert_eq(mtlsauthz_http_operation(out, sizeof(out), &out_len, "GET", 3, "//", 2, NULL),
                 MTLSAUTHZ_EOPERATION);
}

Test(http, inputs_need_no_nul_terminator)
{
    char out[64];
    size_t out_len;
    mtlsauthz_error err = {0};
    /* Lengths count, not NULs: the bytes past them are never read. */
    const char method[] = {'P', 'U', 'T', 'X'};
    const char target[] = {'/', 'a', '/', 'b', '/', '.', '.'};
    cr_assert_eq(mtlsauthz_http_operation(out, sizeof(out), &out_len, method, 3, target, 4, &err),
                 0, "%s", err.message);
    cr_assert_str_eq(out, "PUT /a/b");
    cr_assert_eq(out_len, 8);
}

/* Every single byte after "/", raw and %-encoded: each is either refused with EOPERATION or
 * gives a path without '/', NUL or control bytes beyond the leading one. */
Test(http, every_byte)
{
    unsigned c;
    for (c = 0; c < 256; c++) {
        char target[4];
        char enc[8];
        char out[32];
        size_t out_len;
        int rc;
        mtlsauthz_error err = {0};
        target[0] = '/';
        target[1] = 'x';
        target[2] = (char)c;
        rc = mtlsauthz_http_operation(out, sizeof(out), &out_len, "GET", 3, target, 3, &err);
        if (c < 0x20 || c == 0x7f || c == '#' || c == '%') {
            cr_assert_eq(rc, MTLSAUTHZ_EOPERATION, "raw byte %u", c);
        } else if (c == '?' || c == '/') {
            cr_assert_eq(rc, 0, "raw byte %u", c);
            cr_assert_str_eq(out, "GET /x");
        } else {
            cr_assert_eq(rc, 0, "raw byte %u: %s", c, err.message);
            cr_assert_eq(out_len, 7);
            cr_assert_eq((unsigned char)out[6], c);
        }
        snprintf(enc, sizeof(enc), "/x%%%02X", c);
        rc = mtlsauthz_http_operation(out, sizeof(out), &out_len, "GET", 3, enc, 5, &err);
        if (c < 0x20 || c == 0x7f || c == '/') {
            cr_assert_eq(rc, MTLSAUTHZ_EOPERATION, "encoded byte %u", c);
        } else {
            cr_assert_eq(rc, 0, "encoded byte %u: %s", c, err.message);
            cr_assert_eq(out_len, 7);
            cr_assert_eq((unsigned char)out[6], c);
        }
    }
}

/* MTLSAUTHZ_HTTP_OPERATION_MAX always suffices: the longest method with the longest target. */
Test(http, operation_max_holds_the_longest_accepted_request)
{
    static char target[MTLSAUTHZ_HTTP_TARGET_MAX + 1];
    static char method[MTLSAUTHZ_HTTP_METHOD_MAX];
    static char out[MTLSAUTHZ_HTTP_OPERATION_MAX];
    size_t out_len = 0;
    mtlsauthz_error err = {0};
    memset(method, 'M', sizeof(method));
    target[0] = '/';
    memset(target + 1, 'a', MTLSAUTHZ_HTTP_TARGET_MAX - 1);
    cr_assert_eq(mtlsauthz_http_operation(out, sizeof(out), &out_len, method, sizeof(method),
                                          target, MTLSAUTHZ_HTTP_TARGET_MAX, &err),
                 0, "%s", err.message);
    cr_assert_eq(out_len, MTLSAUTHZ_HTTP_OPERATION_MAX - 1);
    cr_assert_eq(out[out_len], '\0');
    /* One byte more of target is refused as too long, whatever the buffer. */
    target[MTLSAUTHZ_HTTP_TARGET_MAX] = 'a';
    cr_assert_eq(mtlsauthz_http_operation(out, sizeof(out), &out_len, method, sizeof(method),
                                          target, MTLSAUTHZ_HTTP_TARGET_MAX + 1, &err),
                 MTLSAUTHZ_ELIMIT);
}
