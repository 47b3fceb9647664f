/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Allocation failure (docs/limits.md; `make check-alloc` runs this under ASan/LSan).
 *
 * For each path (policy load and compile, identity extraction from DER, PEM and X509, peer
 * resolution, decisions, explain, lint, JSON), and for N = 0, 1, 2, ...: let N allocations of
 * the library's own allocator succeed and fail every one after, run the path, and check that
 *   - it returns a negative code with a message, and leaves *out NULL (ENOMEM, or the input's
 *     own error for the invalid-input paths), and a decision output denied with reason error;
 *   - or, if it succeeds anyway (it needed exactly N allocations, or recovered), its result is
 *     identical to the run without failures;
 *   - nothing leaks (LeakSanitizer, at exit) and nothing crashes.
 * The sweep of a path ends at the first N whose run did not exhaust the budget: that run saw no
 * failure, so every allocation of the path has been failed once.
 *
 * Reach: every allocation the library makes itself goes through lib/alloc.c, and libcyaml's go
 * there through its mem_fn. libyaml's own allocations (the scanner and parser, below libcyaml)
 * and OpenSSL's (d2i_X509, PEM decoding, hashing) bypass it, so their failure paths are not
 * exercised here. mtlsauthz_peer_decide() and mtlsauthz_http_operation() are run with every
 * allocation failing and must still answer exactly as before: the per-request path allocates
 * nothing.
 *
 *   allocfail      (MTLSAUTHZ_TEST_CERTS, MTLSAUTHZ_TEST_DATA, MTLSAUTHZ_EXAMPLES)
 */
#include <openssl/x509.h>

#include "internal.h"
#include "mtlsauthz/openssl.h"
#include "policy_ast.h"
#include "stress.h"

/* No path of ours needs anywhere near this many allocations; reaching it means a loop. */
#define MAX_N 200000L

static const char *certs_dir, *data_dir, *examples_dir;

/* A policy with captures, so peers build binding tuples, a literal-op table (more than 8
 * candidate rules) and every selector kind. */
static const char capture_policy[] =
    "version: 1\n"
    "sensitive: [\"POST /admin/**\"]\n"
    "principals:\n"
    "  - name: tenant\n"
    "    spiffe: [\"spiffe://prod.example.com/tenant/{tenant}/{svc}\"]\n"
    "  - name: builder\n"
    "    spiffe: [\"spiffe://prod.example.com/ci/*\"]\n"
    "    eku: [clientAuth]\n"
    "  - name: ops\n"
    "    o: [Example Corp]\n"
    "    ou: [ops, sre]\n"
    "  - name: web\n"
    "    dns: [\"{host}.example.com\", \"*.example.com\"]\n"
    "    ip: [\"192.0.2.0/24\", \"2001:db8::/32\"]\n"
    "    email: [\"*@example.com\"]\n"
    "rules:\n"
    "  - {id: t-read, effect: allow, principals: [tenant], operations: [\"GET /t/{tenant}/**\"]}\n"
    "  - {id: t-svc, effect: allow, principals: [tenant], operations: [\"PUT "
    "/t/{tenant}/{svc}\"]}\n"
    "  - {id: b1, effect: allow, principals: [builder], operations: [\"POST /images/build\"]}\n"
    "  - {id: b2, effect: allow, principals: [builder], operations: [\"POST /images/push\"]}\n"
    "  - {id: o1, effect: allow, principals: [ops], operations: [\"GET /containers\"]}\n"
    "  - {id: o2, effect: allow, principals: [ops], operations: [\"GET /logs\"]}\n"
    "  - {id: w1, effect: allow, principals: [web], operations: [\"GET /w/{host}\"]}\n"
    "  - {id: a1, effect: allow, principals: [\"*\"], operations: [\"GET /a1\"]}\n"
    "  - {id: a2, effect: allow, principals: [\"*\"], operations: [\"GET /a2\"]}\n"
    "  - {id: a3, effect: allow, principals: [\"*\"], operations: [\"GET /a3\"]}\n"
    "  - {id: a4, effect: allow, principals: [\"*\"], operations: [\"POST /admin/**\"]}\n"
    "  - {id: d1, effect: deny, principals: [\"*\"], operations: [\"* /host/**\"]}\n"
    "  - {id: d2, effect: deny, principals: [tenant], operations: [\"DELETE /t/{tenant}/**\"]}\n"
    "  - {id: dr, effect: deny, mode: dry-run, principals: [\"*\"], operations: [\"GET /a2\"]}\n";

/* Valid YAML that fails late, in the compiler: error paths must clean up too. */
static const char bad_policy[] =
    "version: 1\n"
    "principals:\n"
    "  - name: p\n"
    "    cn: [\"a*\", \"b{x}\"]\n"
    "rules:\n"
    "  - {id: r1, effect: allow, principals: [p], operations: [\"GET /{x}\"]}\n"
    "  - {id: r2, effect: allow, principals: [nobody], operations: [\"GET /\"]}\n";

static const char *const ops[] = {
    "GET /t/acme/x",     "PUT /t/acme/api", "GET /t/globex/x",  "POST /images/build",
    "POST /images/push", "GET /containers", "GET /w/web",       "GET /a1",
    "GET /a2",           "POST /admin/x",   "DELETE /host/etc", "GET /nothing",
    "DELETE /t/acme/x",
};
#define NOPS (sizeof(ops) / sizeof(ops[0]))

/* The fixtures every path uses, built with no failure injected. */
static mtlsauthz_policy *policies[2]; /* examples/policy.yaml, capture_policy */
#define NIDS 6
static const char *const id_names[NIDS] = {"full",        "builder", "ops",
                                           "tenant-acme", "nul-cn",  "spiffe-dotdot"};
static mtlsauthz_identity *ids[NIDS];

/* ---- the sweep ---- */

typedef struct state {
    /* Set by the path: what a run produced, to compare with the failure-free run. */
    char *text;  /* malloc'd (not the library's allocator) */
    char *want;  /* the failure-free run's text */
    int want_rc; /* and its return code */
    int invalid; /* the input is invalid: the error may be its own, not ENOMEM */
    /* An identity the run made, summarized by the sweep as its JSON once the run is over and
     * failures are off (to_json has a sweep of its own). */
    mtlsauthz_identity *id;
} state;

typedef int (*path_fn)(state *st, mtlsauthz_error *err);

static long total_points;

/* 1 if the injected budget ran out during the run (some allocation may have failed). Paths
 * never touch the budget themselves, so this probe sees exactly what the run used. */
static int budget_exhausted(void)
{
    void *p = mtlsauthz__malloc(1);
    mtlsauthz__free(p);
    return p == NULL;
}

static char *dup_text(const char *s, size_t len)
{
    char *d = malloc(len + 1);
    if (d == NULL) {
        st_die("out of memory in the test itself");
    }
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

static void summarize_identity(state *st, const char *name)
{
    char *json = NULL;
    size_t len = 0;
    mtlsauthz_error err;
    if (st->id == NULL) {
        return;
    }
    if (mtlsauthz_identity_to_json(&json, &len, st->id, &err) != 0) {
        st_die("%s: to_json: %s", name, err.message);
    }
    st->text = dup_text(json, len);
    mtlsauthz_string_free(json);
    mtlsauthz_identity_free(st->id);
    st->id = NULL;
}

static void sweep(const char *name, path_fn fn)
{
    state st;
    mtlsauthz_error err;
    long n;
    long last_recovered = -1;
    int rc, failures = 0, recovered = 0;

    memset(&st, 0, sizeof(st));
    mtlsauthz_error_clear(&err);
    st.want_rc = fn(&st, &err);
    summarize_identity(&st, name);
    st.want = st.text;
    st.text = NULL;
    if (st.want_rc != 0 && !st.invalid) {
        st_die("%s: fails with no failure injected: %s", name, err.message);
    }

    for (n = 0; n < MAX_N; n++) {
        int exhausted;
        mtlsauthz_error_clear(&err);
        mtlsauthz__alloc_fail_after(n);
        rc = fn(&st, &err);
        exhausted = budget_exhausted();
        mtlsauthz__alloc_fail_after(-1);
        summarize_identity(&st, name);

        if (rc == st.want_rc) {
            /* The same outcome as without failures: the same output too. */
            if ((st.want == NULL) != (st.text == NULL) ||
                (st.want != NULL && strcmp(st.want, st.text) != 0)) {
                st_die("%s: N=%ld: returned %s like the failure-free run, with a different "
                       "result:\n--- want\n%s\n--- got\n%s",
                       name, n, mtlsauthz_errname(rc), st.want ? st.want : "(none)",
                       st.text ? st.text : "(none)");
            }
            /* Needing exactly N allocations also exhausts the budget; that is not a recovery. */
            if (exhausted && rc == 0) {
                recovered++;
                last_recovered = n;
            }
        } else if (rc < 0) {
            if (!exhausted) {
                st_die("%s: N=%ld: failed (%s: %s) although no allocation failed", name, n,
                       mtlsauthz_errname(rc), err.message);
            }
            if (rc != MTLSAUTHZ_ENOMEM && !st.invalid) {
                st_die("%s: N=%ld: an allocation failure gave %s (%s), not ENOMEM", name, n,
                       mtlsauthz_errname(rc), err.message);
            }
            if (err.code != rc || err.message[0] == '\0') {
                st_die("%s: N=%ld: returned %s but the error says %d \"%s\"", name, n,
                       mtlsauthz_errname(rc), err.code, err.message);
            }
            failures++;
        } else {
            st_die("%s: N=%ld: returned %d, want %s or an error", name, n, rc,
                   mtlsauthz_errname(st.want_rc));
        }
        free(st.text);
        st.text = NULL;
        if (!exhausted) {
            break;
        }
    }
    if (last_recovered == n - 1) {
        recovered--;
    }
    if (n == MAX_N) {
        st_die("%s: still failing after %ld allocations", name, MAX_N);
    }
    printf("  %-28s %5ld allocation points: %d runs failed cleanly, %d succeeded anyway\n", name, n,
           failures, recovered);
    total_points += n;
    free(st.want);
}

/* ---- paths ---- */

static char *read_example(const char *name, size_t *len)
{
    return st_read(examples_dir, name, len);
}

/* Loads, then summarizes the policy by its lint output and rule count (compared across
 * runs). */
static int load_common(state *st, const char *yaml, size_t len, mtlsauthz_error *err)
{
    mtlsauthz_policy *p = (mtlsauthz_policy *)&p; /* must be overwritten */
    int rc = mtlsauthz_policy_load(&p, yaml, len, err);
    if (rc != 0) {
        if (p != NULL) {
            st_die("policy_load failed but left *out set");
        }
        return rc;
    }
    {
        /* Summarize without the library's allocator (it may be failing). */
        char buf[64];
        snprintf(buf, sizeof(buf), "%zu rules", mtlsauthz_policy_rule_count(p));
        st->text = dup_text(buf, strlen(buf));
    }
    mtlsauthz_policy_free(p);
    return 0;
}

static int path_load_example(state *st, mtlsauthz_error *err)
{
    size_t len;
    char *yaml = read_example("policy.yaml", &len);
    int rc = load_common(st, yaml, len, err);
    free(yaml);
    return rc;
}

static int path_load_captures(state *st, mtlsauthz_error *err)
{
    return load_common(st, capture_policy, strlen(capture_policy), err);
}

/* Schema-valid, but its values are placeholders the compiler refuses: the error path after a
 * complete parse. */
static int path_load_all_keys(state *st, mtlsauthz_error *err)
{
    size_t len;
    st->invalid = 1;
    char *yaml = st_read(data_dir, "policies/all-keys.yaml", &len);
    int rc = load_common(st, yaml, len, err);
    free(yaml);
    return rc;
}

static int path_load_invalid(state *st, mtlsauthz_error *err)
{
    st->invalid = 1;
    return load_common(st, bad_policy, strlen(bad_policy), err);
}

static int path_load_file(state *st, mtlsauthz_error *err)
{
    char path[4096];
    mtlsauthz_policy *p = NULL;
    int rc;
    snprintf(path, sizeof(path), "%s/policy.yaml", examples_dir);
    rc = mtlsauthz_policy_load_file(&p, path, err);
    if (rc == 0) {
        char buf[64];
        snprintf(buf, sizeof(buf), "%zu rules", mtlsauthz_policy_rule_count(p));
        st->text = dup_text(buf, strlen(buf));
        mtlsauthz_policy_free(p);
    } else if (p != NULL) {
        st_die("policy_load_file failed but left *out set");
    }
    return rc;
}

static int path_test_cases(state *st, mtlsauthz_error *err)
{
    size_t len;
    char *yaml = st_read(data_dir, "policies/example-tests.yaml", &len);
    mtlsauthz__test_cases *tc = NULL;
    int rc = mtlsauthz__test_cases_load(&tc, yaml, len, err);
    free(yaml);
    if (rc == 0) {
        char buf[64];
        snprintf(buf, sizeof(buf), "%u cases", tc->ncases);
        st->text = dup_text(buf, strlen(buf));
        mtlsauthz__test_cases_free(tc);
    } else if (tc != NULL) {
        st_die("test_cases_load failed but left *out set");
    }
    return rc;
}

static int identity_done(state *st, mtlsauthz_identity *id, int rc, const char *what)
{
    if (rc != 0) {
        if (id != NULL) {
            st_die("%s failed but left *out set", what);
        }
        return rc;
    }
    st->id = id;
    return 0;
}

static int from_pem_file(state *st, const char *file, mtlsauthz_error *err)
{
    size_t len;
    char *pem = st_read(certs_dir, file, &len);
    mtlsauthz_identity *id = NULL;
    int rc = mtlsauthz_identity_from_pem(&id, pem, len, err);
    free(pem);
    return identity_done(st, id, rc, file);
}

static int from_der_file(state *st, const char *file, mtlsauthz_error *err)
{
    size_t len;
    char *der = st_read(certs_dir, file, &len);
    mtlsauthz_identity *id = NULL;
    int rc = mtlsauthz_identity_from_der(&id, (const unsigned char *)der, len, err);
    free(der);
    return identity_done(st, id, rc, file);
}

static int path_der_full(state *st, mtlsauthz_error *err)
{
    return from_der_file(st, "full.der", err);
}

static int path_der_dn_special(state *st, mtlsauthz_error *err)
{
    return from_der_file(st, "dn-special.der", err);
}

static int path_der_ipv6(state *st, mtlsauthz_error *err)
{
    return from_der_file(st, "ipv6.der", err);
}

static int path_der_nul_cn(state *st, mtlsauthz_error *err)
{
    return from_der_file(st, "nul-cn.der", err);
}

static int path_der_chain(state *st, mtlsauthz_error *err)
{
    size_t l1, l2;
    char *leaf = st_read(certs_dir, "full.der", &l1);
    char *inter = st_read(certs_dir, "int.der", &l2);
    const unsigned char *certs[2] = {(const unsigned char *)leaf, (const unsigned char *)inter};
    size_t lens[2] = {l1, l2};
    mtlsauthz_identity *id = NULL;
    int rc = mtlsauthz_identity_from_der_chain(&id, certs, lens, 2, err);
    free(leaf);
    free(inter);
    return identity_done(st, id, rc, "full.der+int.der");
}

/* full.der as the X509 a TLS stack parses; with `big`, its subject made 30 localities of 128
 * bytes first, so that its encoding (over 4 KiB) is allocated, not put on the stack. */
static int from_x509_file(state *st, const char *file, int big, mtlsauthz_error *err)
{
    size_t len, i;
    char *der = st_read(certs_dir, file, &len), loc[129];
    const unsigned char *p = (const unsigned char *)der;
    unsigned char *enc = NULL;
    X509 *x = d2i_X509(NULL, &p, (long)len), *y = NULL;
    X509_NAME *name = NULL;
    mtlsauthz_identity *id = NULL;
    int rc, n;
    if (x == NULL) {
        st_die("%s does not parse", file);
    }
    if (big) {
        if ((name = X509_NAME_new()) == NULL) {
            st_die("out of memory in the test itself");
        }
        for (i = 0; i < 30; i++) {
            snprintf(loc, sizeof(loc), "%02zu%0126d", i, 0);
            if (!X509_NAME_add_entry_by_txt(name, "L", MBSTRING_ASC, (const unsigned char *)loc, -1,
                                            -1, 0)) {
                st_die("X509_NAME_add_entry_by_txt");
            }
        }
        /* i2d_re_X509_tbs() makes OpenSSL drop the tbsCertificate bytes it kept. */
        if (!X509_set_subject_name(x, name) || i2d_re_X509_tbs(x, NULL) <= 0 ||
            (n = i2d_X509(x, &enc)) <= 4096) {
            st_die("cannot make a certificate of more than 4 KiB");
        }
        p = enc;
        y = d2i_X509(NULL, &p, n);
        X509_free(x);
        x = y;
        if (x == NULL) {
            st_die("the large certificate does not parse");
        }
    }
    rc = mtlsauthz_identity_from_x509(&id, x, NULL, err);
    X509_NAME_free(name);
    OPENSSL_free(enc);
    X509_free(x);
    free(der);
    return identity_done(st, id, rc, file);
}

static int path_x509_full(state *st, mtlsauthz_error *err)
{
    return from_x509_file(st, "full.der", 0, err);
}

static int path_x509_large(state *st, mtlsauthz_error *err)
{
    return from_x509_file(st, "full.der", 1, err);
}

static int path_pem_chain(state *st, mtlsauthz_error *err)
{
    return from_pem_file(st, "full-chain.pem", err);
}

static int path_pem_bmp(state *st, mtlsauthz_error *err)
{
    return from_pem_file(st, "bmp-cn.pem", err);
}

static int path_pem_spiffe_bad(state *st, mtlsauthz_error *err)
{
    return from_pem_file(st, "spiffe-dotdot.pem", err);
}

static int path_pem_invalid(state *st, mtlsauthz_error *err)
{
    st->invalid = 1;
    return from_pem_file(st, "cert-key.pem", err);
}

static int path_to_json(state *st, mtlsauthz_error *err)
{
    char *json = (char *)&json;
    size_t len = 1;
    int rc = mtlsauthz_identity_to_json(&json, &len, ids[0], err);
    if (rc != 0) {
        if (json != NULL) {
            st_die("to_json failed but left *out set");
        }
        return rc;
    }
    st->text = dup_text(json, len);
    mtlsauthz_string_free(json);
    return 0;
}

/* Appends one decision to a summary line. */
static void describe(char *buf, size_t cap, const mtlsauthz_decision *d)
{
    size_t used = strlen(buf), i;
    snprintf(buf + used, cap - used, "%s/%s/%s/%zu", d->allowed ? "allow" : "deny",
             mtlsauthz_reason_string(d->reason), d->rule ? d->rule : "-", d->dry_run_count);
    for (i = 0; i < d->dry_run_count && i < MTLSAUTHZ_DECISION_DRY_RUN_MAX; i++) {
        used = strlen(buf);
        snprintf(buf + used, cap - used, ",%s", d->dry_run[i]);
    }
    used = strlen(buf);
    snprintf(buf + used, cap - used, "; ");
}

static void expect_error_decision(const mtlsauthz_decision *d, const char *what)
{
    if (d->allowed != 0 || d->reason != MTLSAUTHZ_REASON_ERROR || d->rule != NULL) {
        st_die("%s failed but its decision is %s/%s", what, d->allowed ? "allow" : "deny",
               mtlsauthz_reason_string(d->reason));
    }
}

/* peer_new for every fixture identity on one policy; each peer then decides every operation.
 * A decision never fails for want of memory (it allocates nothing; see decide_allocates_nothing
 * for the proof with every allocation failing). */
static int peers_on(state *st, mtlsauthz_policy *pol, mtlsauthz_error *err)
{
    char buf[8192] = "";
    size_t i, o;
    for (i = 0; i < NIDS; i++) {
        mtlsauthz_peer *peer = (mtlsauthz_peer *)&peer;
        int rc = mtlsauthz_peer_new(&peer, pol, ids[i], err);
        if (rc != 0) {
            if (peer != NULL) {
                st_die("peer_new failed but left *out set");
            }
            return rc;
        }
        for (o = 0; o < NOPS; o++) {
            mtlsauthz_decision d;
            mtlsauthz_error e2;
            if (mtlsauthz_peer_decide(&d, peer, ops[o], strlen(ops[o]), &e2) != 0) {
                st_die("peer_decide '%s': %s", ops[o], e2.message);
            }
            describe(buf, sizeof(buf), &d);
        }
        mtlsauthz_peer_free(peer);
    }
    st->text = dup_text(buf, strlen(buf));
    return 0;
}

static int path_peer_example(state *st, mtlsauthz_error *err)
{
    return peers_on(st, policies[0], err);
}

static int path_peer_captures(state *st, mtlsauthz_error *err)
{
    return peers_on(st, policies[1], err);
}

static int path_policy_decide(state *st, mtlsauthz_error *err)
{
    char buf[8192] = "";
    size_t i, o;
    for (i = 0; i < NIDS; i++) {
        for (o = 0; o < NOPS; o++) {
            mtlsauthz_decision d;
            int rc = mtlsauthz_policy_decide(&d, policies[1], ids[i], ops[o], strlen(ops[o]), err);
            if (rc != 0) {
                expect_error_decision(&d, "policy_decide");
                return rc;
            }
            describe(buf, sizeof(buf), &d);
        }
    }
    st->text = dup_text(buf, strlen(buf));
    return 0;
}

static int path_explain(state *st, mtlsauthz_error *err)
{
    size_t total = 0, i;
    char *all = NULL;
    for (i = 0; i < NIDS; i++) {
        char *text = (char *)&text;
        mtlsauthz_decision d;
        int rc = mtlsauthz_policy_explain(&text, &d, policies[1], ids[i], "GET /t/acme/x", 13, err);
        size_t len;
        if (rc != 0) {
            expect_error_decision(&d, "explain");
            if (text != NULL) {
                st_die("explain failed but left *out set");
            }
            free(all);
            return rc;
        }
        len = strlen(text);
        all = realloc(all, total + len + 1);
        if (all == NULL) {
            st_die("out of memory in the test itself");
        }
        memcpy(all + total, text, len + 1);
        total += len;
        mtlsauthz_string_free(text);
    }
    st->text = all;
    return 0;
}

static int path_lint(state *st, mtlsauthz_error *err)
{
    size_t total = 0, p;
    char *all = NULL;
    for (p = 0; p < 2; p++) {
        char *text = (char *)&text;
        size_t count = 0, len;
        int rc = mtlsauthz_policy_lint(&text, &count, policies[p], err);
        if (rc != 0) {
            if (text != NULL) {
                st_die("lint failed but left *out set");
            }
            free(all);
            return rc;
        }
        len = strlen(text);
        all = realloc(all, total + len + 32);
        if (all == NULL) {
            st_die("out of memory in the test itself");
        }
        total += (size_t)snprintf(all + total, len + 32, "%zu:%s", count, text);
        mtlsauthz_string_free(text);
    }
    st->text = all;
    return 0;
}

/* Every fixture peer decides every operation with all allocations failing, and answers
 * exactly as with none failing: the per-request path allocates nothing. */
static void decide_allocates_nothing(void)
{
    size_t p, i, o;
    for (p = 0; p < 2; p++) {
        for (i = 0; i < NIDS; i++) {
            mtlsauthz_peer *peer = NULL;
            mtlsauthz_error err;
            char want[8192] = "", got[8192] = "";
            if (mtlsauthz_peer_new(&peer, policies[p], ids[i], &err) != 0) {
                st_die("peer_new: %s", err.message);
            }
            for (o = 0; o < NOPS; o++) {
                mtlsauthz_decision d;
                if (mtlsauthz_peer_decide(&d, peer, ops[o], strlen(ops[o]), &err) != 0) {
                    st_die("peer_decide '%s': %s", ops[o], err.message);
                }
                describe(want, sizeof(want), &d);
                mtlsauthz__alloc_fail_after(0);
                if (mtlsauthz_peer_decide(&d, peer, ops[o], strlen(ops[o]), &err) != 0) {
                    st_die("peer_decide '%s' with allocation failing: %s", ops[o], err.message);
                }
                mtlsauthz__alloc_fail_after(-1);
                describe(got, sizeof(got), &d);
            }
            if (strcmp(want, got) != 0) {
                st_die("peer_decide answers differently with allocation failing:\n%s\n%s", want,
                       got);
            }
            mtlsauthz_peer_free(peer);
        }
    }
}

/* The HTTP operation builder with every allocation failing: it must not need one. */
static void http_op_allocates_nothing(void)
{
    char out[256];
    size_t len = 0;
    mtlsauthz_error err;
    int rc;
    mtlsauthz__alloc_fail_after(0);
    rc = mtlsauthz_http_operation(out, sizeof(out), &len, "POST", 4, "/containers/a/%65xec/?q=1",
                                  25, &err);
    mtlsauthz__alloc_fail_after(-1);
    if (rc != 0 || strcmp(out, "POST /containers/a/exec") != 0) {
        st_die("http_operation with allocation failing: %s", rc ? err.message : out);
    }
}

static void fixtures(void)
{
    mtlsauthz_error err;
    size_t i, len;
    char *yaml = read_example("policy.yaml", &len);
    if (mtlsauthz_policy_load(&policies[0], yaml, len, &err) != 0) {
        st_die("examples/policy.yaml: %s", err.message);
    }
    free(yaml);
    if (mtlsauthz_policy_load(&policies[1], capture_policy, strlen(capture_policy), &err) != 0) {
        st_die("capture policy: %s", err.message);
    }
    for (i = 0; i < NIDS; i++) {
        char file[64];
        char *pem;
        snprintf(file, sizeof(file), "%s.pem", id_names[i]);
        pem = st_read(certs_dir, file, &len);
        if (mtlsauthz_identity_from_pem(&ids[i], pem, len, &err) != 0) {
            st_die("%s: %s", file, err.message);
        }
        free(pem);
    }
}

int main(void)
{
    static const struct {
        const char *name;
        path_fn fn;
    } paths[] = {
        {"policy_load examples", path_load_example},
        {"policy_load captures", path_load_captures},
        {"policy_load all-keys (bad)", path_load_all_keys},
        {"policy_load invalid", path_load_invalid},
        {"policy_load_file", path_load_file},
        {"test_cases_load", path_test_cases},
        {"from_der full", path_der_full},
        {"from_der dn-special", path_der_dn_special},
        {"from_der ipv6", path_der_ipv6},
        {"from_der nul-cn", path_der_nul_cn},
        {"from_der_chain", path_der_chain},
        {"from_x509 full", path_x509_full},
        {"from_x509 over 4 KiB", path_x509_large},
        {"from_pem chain", path_pem_chain},
        {"from_pem bmp-cn", path_pem_bmp},
        {"from_pem spiffe-dotdot", path_pem_spiffe_bad},
        {"from_pem cert+key", path_pem_invalid},
        {"identity_to_json", path_to_json},
        {"peer_new+decide examples", path_peer_example},
        {"peer_new+decide captures", path_peer_captures},
        {"policy_decide", path_policy_decide},
        {"policy_explain", path_explain},
        {"policy_lint", path_lint},
    };
    size_t i;

    certs_dir = st_env("MTLSAUTHZ_TEST_CERTS");
    data_dir = st_env("MTLSAUTHZ_TEST_DATA");
    examples_dir = st_env("MTLSAUTHZ_EXAMPLES");
    fixtures();
    http_op_allocates_nothing();
    decide_allocates_nothing();

    printf("allocfail: failing the Nth library allocation, for every N, on each path:\n");
    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        sweep(paths[i].name, paths[i].fn);
    }

    for (i = 0; i < NIDS; i++) {
        mtlsauthz_identity_free(ids[i]);
    }
    mtlsauthz_policy_free(policies[0]);
    mtlsauthz_policy_free(policies[1]);
    printf("allocfail: %zu paths, %ld allocation points failed in turn; no crash, no wrong "
           "answer (leaks: LeakSanitizer at exit)\n",
           sizeof(paths) / sizeof(paths[0]), total_points);
    return 0;
}
