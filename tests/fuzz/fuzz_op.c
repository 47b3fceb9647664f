/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: operations. The input is used twice:
 *   1. split into an HTTP method and raw request target for mtlsauthz_http_operation():
 *      byte 0 is the method length (mod 48, so over-long methods occur), byte 1 the output
 *      buffer size (255: a large buffer), then the method, then the target. A built operation
 *      must be canonical (the method as sent, but GET for HEAD; one space, an absolute path
 *      with no control byte, no empty or dot segment, no trailing slash but on "/"), fit the
 *      buffer, and build to itself again when it holds no '%', '?' or '#'. A refusal leaves an
 *      empty buffer.
 *   2. the whole input, and the built operation, as operations decided against a fixed policy
 *      with captures, through a peer and in one call; both must agree and keep the decision
 *      invariants (a nonzero return is a deny with reason error; allowed means reason allowed
 *      and a rule), and every allow must be one the policy's rules can give to this identity
 *      (tenant isolation: "tenant-data" only ever opens acme's paths).
 * Seeds: tests/fuzz/corpus/op/.
 */
#include "fuzz_util.h"
#include "policy_int.h"

static mtlsauthz_policy *policy;
static mtlsauthz_identity *ident;
static mtlsauthz_peer *peer;

static int starts(const char *s, size_t n, const char *prefix)
{
    size_t pl = strlen(prefix);
    return n >= pl && memcmp(s, prefix, pl) == 0;
}

/* The length of the method part: bytes before the first space, if no '/' comes first. */
static size_t method_part(const char *op, size_t n, int *ok)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (op[i] == ' ') {
            *ok = 1;
            return i;
        }
        if (op[i] == '/') {
            break;
        }
    }
    *ok = 0;
    return 0;
}

/* What fz_policy_yaml can allow the fixed identity, rule by rule. */
static void check_allow_is_possible(const mtlsauthz_decision *d, const char *op, size_t n)
{
    int has_method;
    size_t m = method_part(op, n, &has_method);
    if (!d->allowed) {
        return;
    }
    FZ_CHECK(memchr(op, '\0', n) == NULL);
    if (strcmp(d->rule, "tenant-data") == 0) {
        FZ_CHECK(starts(op, n, "GET /tenants/acme/") || starts(op, n, "PUT /tenants/acme/api/"));
    } else if (strcmp(d->rule, "ops-read") == 0) {
        FZ_CHECK(starts(op, n, "GET /containers/"));
    } else if (strcmp(d->rule, "web-host") == 0) {
        FZ_CHECK(has_method && n - m == 11 && memcmp(op + m, " /hosts/web", 11) == 0);
    } else if (strcmp(d->rule, "mailbox") == 0) {
        FZ_CHECK(starts(op, n, "GET /mail/alice/"));
    } else if (strcmp(d->rule, "health") == 0) {
        FZ_CHECK(n == 12 && memcmp(op, "GET /healthz", 12) == 0);
    } else {
        FZ_CHECK(0); /* no other allow rule exists */
    }
    /* Deny wins: the no-exec rule denies every method on /host/ and below. */
    FZ_CHECK(!(has_method && starts(op + m, n - m, " /host/")));
}

static void decide(const char *op, size_t n)
{
    mtlsauthz_decision a, b;
    mtlsauthz_error err;
    int ra = mtlsauthz_peer_decide(&a, peer, op, n, &err);
    int rb = mtlsauthz_policy_decide(&b, policy, ident, op, n, &err);
    fz_check_decision(&a, ra);
    fz_check_decision(&b, rb);
    FZ_CHECK(ra == rb && fz_same_decision(&a, &b));
    if (n > MTLSAUTHZ__OP_MAX_LEN) {
        FZ_CHECK(ra == MTLSAUTHZ_ELIMIT);
    } else if (memchr(op, '\0', n) != NULL) {
        FZ_CHECK(ra == MTLSAUTHZ_EOPERATION);
    } else {
        /* ELIMIT here would be the per-request match budget running out: still a deny. */
        FZ_CHECK(ra == 0 || ra == MTLSAUTHZ_ELIMIT);
    }
    check_allow_is_possible(&a, op, n);
    if (n <= 512) {
        char *text = NULL;
        mtlsauthz_decision e;
        int re = mtlsauthz_policy_explain(&text, &e, policy, ident, op, n, &err);
        fz_check_decision(&e, re);
        FZ_CHECK(re == ra && fz_same_decision(&a, &e));
        mtlsauthz_string_free(text);
    }
}

static void check_canonical(const char *out, size_t len, const char *method, size_t mlen)
{
    size_t i, seg = mlen + 1;
    FZ_CHECK(len > mlen + 1 && memcmp(out, method, mlen) == 0 && out[mlen] == ' ');
    FZ_CHECK(out[len] == '\0' && strlen(out) == len);
    FZ_CHECK(out[mlen + 1] == '/');
    for (i = mlen + 1; i < len; i++) {
        unsigned char c = (unsigned char)out[i];
        FZ_CHECK(c >= 0x20 && c != 0x7f);
        if (i > mlen + 1 && c == '/') {
            /* The segment out[seg+1 .. i) is neither empty, "." nor "..". */
            size_t sl = i - seg - 1;
            FZ_CHECK(sl > 0);
            FZ_CHECK(!(sl == 1 && out[seg + 1] == '.'));
            FZ_CHECK(!(sl == 2 && out[seg + 1] == '.' && out[seg + 2] == '.'));
            seg = i;
        }
    }
    if (len > mlen + 2) {
        size_t sl = len - seg - 1;
        FZ_CHECK(out[len - 1] != '/');
        FZ_CHECK(!(sl == 1 && out[seg + 1] == '.'));
        FZ_CHECK(!(sl == 2 && out[seg + 1] == '.' && out[seg + 2] == '.'));
    }
}

static void http(const uint8_t *data, size_t size)
{
    char out[16384], again[16384];
    size_t mlen, cap, tlen, len = 99, len2 = 99, wlen;
    const char *method, *target, *want;
    mtlsauthz_error err;
    int rc;

    if (size < 2) {
        return;
    }
    mlen = data[0] % 48u;
    cap = data[1] == 255 ? sizeof(out) : data[1];
    if (mlen > size - 2) {
        mlen = size - 2;
    }
    method = (const char *)data + 2;
    target = method + mlen;
    tlen = size - 2 - mlen;
    memset(out, 'X', sizeof(out));
    rc = mtlsauthz_http_operation(out, cap, &len, method, mlen, target, tlen, &err);
    if (rc != 0) {
        FZ_CHECK(rc == MTLSAUTHZ_EOPERATION || rc == MTLSAUTHZ_ELIMIT);
        FZ_CHECK(err.code == rc && err.message[0] != '\0');
        FZ_CHECK(len == 0 && (cap == 0 || out[0] == '\0'));
        return;
    }
    FZ_CHECK(len < cap && len <= mlen + 1 + tlen);
    /* HEAD is decided as GET (docs/policy.md, "HTTP operations"); any other method is kept. */
    want = mlen == 4 && memcmp(method, "HEAD", 4) == 0 ? "GET" : method;
    wlen = want == method ? mlen : 3;
    check_canonical(out, len, want, wlen);
    if (memchr(out, '%', len) == NULL && memchr(out, '?', len) == NULL &&
        memchr(out, '#', len) == NULL) {
        rc = mtlsauthz_http_operation(again, sizeof(again), &len2, out, wlen, out + wlen + 1,
                                      len - wlen - 1, &err);
        FZ_CHECK(rc == 0 && len2 == len && memcmp(out, again, len) == 0);
    }
    decide(out, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (policy == NULL) {
        mtlsauthz_error err;
        policy = fz_policy();
        ident = fz_identity();
        if (mtlsauthz_peer_new(&peer, policy, ident, &err) != 0) {
            fprintf(stderr, "fuzz peer: %s\n", err.message);
            abort();
        }
    }
    http(data, size);
    decide((const char *)data, size);
    /* Past the operation length limit: refused, never matched. */
    if (size > 0 && data[0] == 0xff) {
        size_t n = MTLSAUTHZ__OP_MAX_LEN + 1, i;
        char *big = malloc(n);
        FZ_CHECK(big != NULL);
        for (i = 0; i < n; i++) {
            big[i] = (char)data[i % size];
        }
        decide(big, n);
        free(big);
    }
    return 0;
}
