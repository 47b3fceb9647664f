/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmtlsauthz benchmark (docs/performance.md). `make bench` builds this against the tree's static
 * library and runs it; docs/performance.md explains the method and holds the results.
 *
 *   bench [--quick] OUT.json        the full run: writes OUT.json, the policies next to it
 *                                   (bench-policy-N.yaml), and a table on stdout
 *   bench --callgrind WHAT N COUNT DIR
 *                                   policy of N rules, then COUNT iterations of one timed
 *                                   loop only (for valgrind; see run_callgrind())
 *   bench --load POLICY.yaml REPS   only loads the policy REPS times (to profile the load)
 *   bench --dump DIR                writes the workload for other engines (`make bench-peers`,
 *                                   bench/peers): DIR/bench-policy-N.yaml and
 *                                   DIR/bench-workload-N.txt (see run_dump())
 *
 * The workload (fixed seed, so every run measures the same policies and queries):
 *   - N rules, each with its own principal (one `spiffe:` pattern), in shuffled file order:
 *     80% exact SPIFFE IDs, 15% segment globs (`spiffe://tdK/ns/X/` then `*`), 5% whole trust
 *     domains (`spiffe://tdK/` then `**`); each rule allows 1-4 of 32 HTTP-style operations;
 *   - QUERIES query identities, each a real DER certificate made here with OpenSSL (EC P-256,
 *     one URI SAN = the SPIFFE ID, EKU clientAuth, signed by a bench CA): 50% exact hits, 20%
 *     glob hits, 10% trust-domain hits, 20% misses (half in a known trust domain, in a
 *     namespace without a glob, half in an unknown trust domain);
 *   - the timed sequence draws (query, operation) pairs: a query that matches some rule asks
 *     for an operation it is granted (an allow), a miss asks for any operation (a deny).
 *
 * Correctness first: before anything is timed, every (query, operation) pair is decided by the
 * library and by a plain reference evaluator (every rule, string logic), and the decision,
 * reason and deciding rule must agree; any mismatch aborts. The timed loops also count allows
 * and compare with the expected count.
 *
 * Timing: CLOCK_MONOTONIC around batches (DECIDE_BATCH decisions; see the *_BATCH sizes for
 * the others); the per-operation time of a batch is its duration divided by its size, and
 * p50/p99 are taken over many batches. A clock read costs about as much as a decision (the run
 * prints what it measured), so a single decision cannot be timed alone; a batch amortizes the
 * two reads to a fraction of a nanosecond each. The price: a p99 of batch means is the tail of
 * 128-decision averages, not of single decisions (a rare slow decision is diluted 128 times).
 * ops_per_s is the operations over the summed batch times. Each row also reports the CPU time
 * (CLOCK_THREAD_CPUTIME_ID) per operation, which stops while the thread is preempted and so
 * stays meaningful on a busy machine.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <mtlsauthz/mtlsauthz.h>
#include <mtlsauthz/openssl.h>

/* With valgrind's header, `bench --callgrind` instruments only the measured loop (set-up then
 * runs at native-ish speed under valgrind --instr-atstart=no); without it, everything is. */
#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define BENCH_HAVE_CALLGRIND_H 1
#endif
#endif

#define SEED 0x6d746c7361757468ull /* "mtlsauth"; fixed so runs compare */
#define NOPS 32u
#define QUERIES 512u
#define SEQ_LEN (1u << 16) /* timed (peer, op) sequence; a power of two */
#define DECIDE_BATCH 128u
#define PEER_BATCH 8u
/*
 * Extraction batches last about the same time (~100-250 us) on both paths, so that both are
 * equally exposed to preemption on a busy machine: a batch of 8 baseline parses (~2 ms) would
 * be hit far more often than a batch of 8 fast extractions (~30 us), flattering the ratio.
 */
#define EXTRACT_BATCH 32u /* extract_der and extract_x509 alike, interleaved */
#define BASELINE_BATCH 1u
#define THREAD_PAIRS 61      /* one- and two-thread windows, paired */
#define THREAD_WINDOW_S 0.05 /* seconds per window */
_Static_assert(THREAD_PAIRS % 2 == 1 && THREAD_PAIRS <= 64, "median() takes an odd count <= 64");
#define NONE UINT32_MAX

/*
 * The timed loops (bench_*_loop) are noinline and extern, so that `make bench-callgrind` can
 * collect instructions in exactly one of them (valgrind --toggle-collect=NAME).
 */
#define BENCH_LOOP __attribute__((noinline))

static double g_scale = 1.0; /* --quick shortens every timed phase */

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (p == NULL) {
        die("out of memory");
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of the calling thread: unlike now_ns(), it stops while the thread is preempted. */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* What one now_ns() costs, in ns (the batches amortize it): the fastest of 50 runs of 1000
 * reads, so that a preemption does not count. */
static double clock_cost_ns(void)
{
    volatile uint64_t sink;
    uint64_t best = UINT64_MAX;
    for (int run = 0; run < 50; run++) {
        uint64_t t0 = now_ns();
        for (int i = 0; i < 1000; i++) {
            sink = now_ns();
        }
        uint64_t t = now_ns() - t0;
        best = t < best ? t : best;
    }
    (void)sink;
    return (double)best / 1000.0;
}

/* ---- PRNG: splitmix64 ---- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0 (Lemire's multiply; the bias is far below what matters here). */
static uint32_t rng_below(rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* ---- the workload ---- */

enum { KIND_EXACT, KIND_GLOB, KIND_TD, KIND_MISS };
static const char *const kind_names[4] = {"exact", "glob", "trust-domain", "miss"};

static char g_ops[NOPS][32];
static size_t g_op_len[NOPS];

static void ops_init(void)
{
    static const char *const methods[4] = {"GET", "POST", "PUT", "DELETE"};
    static const char *const resources[8] = {"/v1/orders",   "/v1/invoices",  "/v1/customers",
                                             "/v1/payments", "/v1/shipments", "/v1/products",
                                             "/v1/reports",  "/v1/accounts"};
    for (unsigned i = 0; i < NOPS; i++) {
        int n = snprintf(g_ops[i], sizeof(g_ops[i]), "%s %s", methods[i % 4], resources[i / 4]);
        g_op_len[i] = (size_t)n;
    }
}

typedef struct bench_rule {
    int kind;
    char *pat;  /* the `spiffe:` pattern as written */
    size_t len; /* strlen(pat) */
    uint32_t ops;
} bench_rule;

typedef struct bench_query {
    int kind;
    char id[128];
    uint32_t allowed;     /* reference: bit i = operation i allowed */
    uint32_t first[NOPS]; /* reference: deciding rule per operation, or NONE */
    unsigned char *der;   /* the certificate (OPENSSL_malloc) */
    size_t der_len;
    X509 *x509; /* the same, parsed by d2i_X509(), for the X509 * entry point */
    mtlsauthz_identity *ident;
    mtlsauthz_peer *peer;
} bench_query;

typedef struct workload {
    uint32_t nrules;
    bench_rule *rules;
    uint32_t nqueries;
    bench_query *queries;
} workload;

static uint32_t pick_ops(rng *r)
{
    uint32_t want = 1 + rng_below(r, 4), mask = 0;
    while ((uint32_t)__builtin_popcount(mask) < want) {
        mask |= 1u << rng_below(r, NOPS);
    }
    return mask;
}

/* Index (file order) of the k-th rule of `kind`. */
static uint32_t nth_of_kind(const uint32_t *by_kind_start, const uint32_t *by_kind, int kind,
                            uint32_t k)
{
    return by_kind[by_kind_start[kind] + k];
}

/*
 * Trust domains td0..td(F-1) hold the exact and glob rules ("fine-grained"); td(F+t) is the
 * trust domain of the t-th whole-trust-domain rule, so those never overlap the others. Glob j
 * covers (td j%F, ns j/F), so namespaces ns0..ns(gper-1) may have a glob and ns(gper) up to
 * ns(2*gper-1) never do; exact IDs fall in either, so about half of them also match a glob
 * (a peer then matches two principals, as in real policies).
 */
static void workload_gen(workload *w, uint32_t n, uint32_t nqueries, uint64_t seed)
{
    rng r = {seed ^ ((uint64_t)n << 20)};
    uint32_t nglob = n * 15 / 100, ntd = n * 5 / 100;
    if (nglob == 0) {
        nglob = 1;
    }
    if (ntd == 0) {
        ntd = 1;
    }
    uint32_t nexact = n - nglob - ntd;
    uint32_t fine = n / 1000 ? n / 1000 : 1;
    uint32_t gper = (nglob + fine - 1) / fine;
    uint32_t nsx = 2 * gper;
    int *kinds = xmalloc(n * sizeof(*kinds));
    uint32_t counts[3] = {nexact, nglob, ntd}, seen[3] = {0, 0, 0};
    uint32_t by_kind_start[3] = {0, nexact, nexact + nglob};
    uint32_t *by_kind = xmalloc(n * sizeof(*by_kind));
    char buf[128];

    for (uint32_t i = 0, k = 0; k < 3; k++) {
        for (uint32_t j = 0; j < counts[k]; j++) {
            kinds[i++] = (int)k;
        }
    }
    for (uint32_t i = n - 1; i > 0; i--) {
        uint32_t j = rng_below(&r, i + 1);
        int t = kinds[i];
        kinds[i] = kinds[j];
        kinds[j] = t;
    }

    w->nrules = n;
    w->rules = xmalloc(n * sizeof(*w->rules));
    for (uint32_t i = 0; i < n; i++) {
        bench_rule *rl = &w->rules[i];
        uint32_t k = seen[kinds[i]]++;
        rl->kind = kinds[i];
        by_kind[by_kind_start[rl->kind] + k] = i;
        switch (rl->kind) {
        case KIND_EXACT:
            snprintf(buf, sizeof(buf), "spiffe://td%u/ns/ns%u/svc%u", rng_below(&r, fine),
                     rng_below(&r, nsx), k);
            break;
        case KIND_GLOB:
            snprintf(buf, sizeof(buf), "spiffe://td%u/ns/ns%u/*", k % fine, k / fine);
            break;
        default:
            snprintf(buf, sizeof(buf), "spiffe://td%u/**", fine + k);
            break;
        }
        rl->pat = xstrdup(buf);
        rl->len = strlen(buf);
        rl->ops = pick_ops(&r);
    }

    uint32_t qcount[4];
    qcount[KIND_EXACT] = nqueries / 2;
    qcount[KIND_GLOB] = nqueries * 20 / 100;
    qcount[KIND_TD] = nqueries * 10 / 100;
    qcount[KIND_MISS] = nqueries - qcount[0] - qcount[1] - qcount[2];
    w->nqueries = nqueries;
    w->queries = xmalloc(nqueries * sizeof(*w->queries));
    for (uint32_t q = 0, kind = 0; kind < 4; kind++) {
        for (uint32_t j = 0; j < qcount[kind]; j++, q++) {
            bench_query *bq = &w->queries[q];
            const bench_rule *rl;
            bq->kind = (int)kind;
            switch (kind) {
            case KIND_EXACT:
                rl = &w->rules[nth_of_kind(by_kind_start, by_kind, KIND_EXACT,
                                           rng_below(&r, nexact))];
                snprintf(bq->id, sizeof(bq->id), "%s", rl->pat);
                break;
            case KIND_GLOB:
                rl =
                    &w->rules[nth_of_kind(by_kind_start, by_kind, KIND_GLOB, rng_below(&r, nglob))];
                snprintf(bq->id, sizeof(bq->id), "%.*sq%u", (int)(rl->len - 1), rl->pat, q);
                break;
            case KIND_TD:
                rl = &w->rules[nth_of_kind(by_kind_start, by_kind, KIND_TD, rng_below(&r, ntd))];
                snprintf(bq->id, sizeof(bq->id), "%.*sns/x%u/q%u", (int)(rl->len - 2), rl->pat,
                         rng_below(&r, 100), q);
                break;
            default:
                if (j % 2 == 0) {
                    snprintf(bq->id, sizeof(bq->id), "spiffe://td%u/ns/ns%u/m%u",
                             rng_below(&r, fine), gper + rng_below(&r, nsx - gper), q);
                } else {
                    snprintf(bq->id, sizeof(bq->id), "spiffe://other%u.example/ns/ns0/svc%u",
                             rng_below(&r, 1000), q);
                }
                break;
            }
        }
    }
    free(kinds);
    free(by_kind);
}

static void workload_free(workload *w)
{
    for (uint32_t i = 0; i < w->nrules; i++) {
        free(w->rules[i].pat);
    }
    for (uint32_t q = 0; q < w->nqueries; q++) {
        mtlsauthz_peer_free(w->queries[q].peer);
        mtlsauthz_identity_free(w->queries[q].ident);
        X509_free(w->queries[q].x509);
        OPENSSL_free(w->queries[q].der);
    }
    free(w->rules);
    free(w->queries);
    memset(w, 0, sizeof(*w));
}

static void policy_write(const workload *w, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        die("%s: %s", path, strerror(errno));
    }
    fprintf(
        f,
        "# Generated by bench/bench.c: %u rules (the docs/performance.md workload).\nversion: 1\n"
        "principals:\n",
        w->nrules);
    for (uint32_t i = 0; i < w->nrules; i++) {
        fprintf(f, "  - name: p%u\n    spiffe: [\"%s\"]\n", i, w->rules[i].pat);
    }
    fputs("rules:\n", f);
    for (uint32_t i = 0; i < w->nrules; i++) {
        const char *sep = "";
        fprintf(f, "  - id: r%u\n    effect: allow\n    principals: [p%u]\n    operations: [", i,
                i);
        for (uint32_t o = 0; o < NOPS; o++) {
            if (w->rules[i].ops & (1u << o)) {
                fprintf(f, "%s\"%s\"", sep, g_ops[o]);
                sep = ", ";
            }
        }
        fputs("]\n", f);
    }
    if (fclose(f) != 0) {
        die("%s: %s", path, strerror(errno));
    }
}

/* ---- the reference evaluator: every rule, plain string logic ---- */

static int has_prefix(const char *s, const char *p, size_t plen)
{
    return strncmp(s, p, plen) == 0;
}

static int ref_match(const bench_rule *rl, const char *id)
{
    size_t plen;
    switch (rl->kind) {
    case KIND_EXACT:
        return strcmp(id, rl->pat) == 0;
    case KIND_GLOB: /* "prefix/" then '*': one or more bytes, none of them '/' */
        plen = rl->len - 1;
        return has_prefix(id, rl->pat, plen) && id[plen] != '\0' && strchr(id + plen, '/') == NULL;
    default: /* "prefix/" then '**': one or more bytes */
        plen = rl->len - 2;
        return has_prefix(id, rl->pat, plen) && id[plen] != '\0';
    }
}

static void reference_eval(workload *w)
{
    for (uint32_t q = 0; q < w->nqueries; q++) {
        bench_query *bq = &w->queries[q];
        bq->allowed = 0;
        for (uint32_t o = 0; o < NOPS; o++) {
            bq->first[o] = NONE;
        }
        for (uint32_t i = 0; i < w->nrules; i++) {
            const bench_rule *rl = &w->rules[i];
            if (!ref_match(rl, bq->id)) {
                continue;
            }
            uint32_t fresh = rl->ops & ~bq->allowed;
            for (uint32_t o = 0; o < NOPS; o++) {
                if (fresh & (1u << o)) {
                    bq->first[o] = i;
                }
            }
            bq->allowed |= rl->ops;
        }
        if ((bq->kind == KIND_MISS) != (bq->allowed == 0)) {
            die("workload: %s query %s: reference allows %#x", kind_names[bq->kind], bq->id,
                bq->allowed);
        }
    }
}

static void check_decision(const bench_query *bq, uint32_t o, const mtlsauthz_decision *d,
                           const char *what)
{
    char want_rule[16];
    int want = (bq->allowed >> o) & 1u;
    if (bq->first[o] != NONE) {
        snprintf(want_rule, sizeof(want_rule), "r%u", bq->first[o]);
    }
    if (d->allowed != want ||
        d->reason != (want ? MTLSAUTHZ_REASON_ALLOWED : MTLSAUTHZ_REASON_NO_MATCH) ||
        (want ? d->rule == NULL || strcmp(d->rule, want_rule) != 0 : d->rule != NULL)) {
        die("%s mismatch: %s query %s, op \"%s\": library says %s/%s/%s, reference %s/%s/%s", what,
            kind_names[bq->kind], bq->id, g_ops[o], d->allowed ? "allow" : "deny",
            mtlsauthz_reason_string(d->reason), d->rule ? d->rule : "-", want ? "allow" : "deny",
            want ? "allowed" : "no_match", want ? want_rule : "-");
    }
}

/* ---- certificates ---- */

typedef struct cert_factory {
    EVP_PKEY *ca_key;
    X509 *ca;
    EVP_PKEY *leaf_key; /* shared by all leaves: key generation is the slow part */
    rng r;
} cert_factory;

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL || !X509_add_ext(x, ext, -1)) {
        die("certificate extension %s=%s", OBJ_nid2sn(nid), value);
    }
    X509_EXTENSION_free(ext);
}

static X509 *cert_new(cert_factory *cf, const char *cn, const char *ou, const char *san_uri)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    unsigned char serial[16];
    BIGNUM *bn;
    int is_ca = san_uri == NULL;

    for (size_t i = 0; i < sizeof(serial); i += 8) {
        uint64_t v = rng_next(&cf->r);
        memcpy(serial + i, &v, 8);
    }
    serial[0] &= 0x7f; /* positive, as RFC 5280 §4.1.2.2 asks */
    serial[0] |= 0x01; /* and 16 bytes long */
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (x == NULL || name == NULL || bn == NULL || !X509_set_version(x, 2) ||
        BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
        !ASN1_TIME_set_string_X509(X509_getm_notBefore(x), "20250101000000Z") ||
        !ASN1_TIME_set_string_X509(X509_getm_notAfter(x), "20350101000000Z") ||
        !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Bench Corp",
                                    -1, -1, 0) ||
        !X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC, (const unsigned char *)ou, -1, -1,
                                    0) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                    0) ||
        !X509_set_subject_name(x, name) ||
        !X509_set_issuer_name(x, is_ca ? name : X509_get_subject_name(cf->ca)) ||
        !X509_set_pubkey(x, is_ca ? cf->ca_key : cf->leaf_key)) {
        die("building a certificate");
    }
    BN_free(bn);
    X509_NAME_free(name);
    X509 *issuer = is_ca ? x : cf->ca;
    if (is_ca) {
        add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
        add_ext(x, issuer, NID_subject_key_identifier, "hash");
    } else {
        char san[160];
        snprintf(san, sizeof(san), "URI:%s", san_uri);
        add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(x, issuer, NID_key_usage, "critical,digitalSignature,keyAgreement");
        add_ext(x, issuer, NID_ext_key_usage, "clientAuth");
        add_ext(x, issuer, NID_subject_alt_name, san);
        add_ext(x, issuer, NID_subject_key_identifier, "hash");
        add_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
    }
    if (!X509_sign(x, cf->ca_key, EVP_sha256())) {
        die("signing a certificate");
    }
    return x;
}

static void factory_init(cert_factory *cf)
{
    cf->r.s = SEED ^ 0xce47ull;
    cf->ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    cf->leaf_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (cf->ca_key == NULL || cf->leaf_key == NULL) {
        die("EC key generation");
    }
    cf->ca = cert_new(cf, "Bench Root CA", "pki", NULL);
}

static void factory_free(cert_factory *cf)
{
    X509_free(cf->ca);
    EVP_PKEY_free(cf->ca_key);
    EVP_PKEY_free(cf->leaf_key);
}

/* Certificates, identities and peers for every query; checks the identity read from each. */
static void queries_prepare(workload *w, cert_factory *cf, mtlsauthz_policy *pol)
{
    mtlsauthz_error err = {0};
    for (uint32_t q = 0; q < w->nqueries; q++) {
        bench_query *bq = &w->queries[q];
        const char *last = strrchr(bq->id, '/') + 1;
        const char *value;
        size_t len;
        int n;

        X509 *built = cert_new(cf, last, "bench", bq->id);
        const unsigned char *p;
        bq->der = NULL;
        n = i2d_X509(built, &bq->der);
        X509_free(built);
        if (n <= 0) {
            die("i2d_X509");
        }
        bq->der_len = (size_t)n;
        /* The X509 entry point gets what a TLS stack hands over: a certificate OpenSSL parsed
         * from the bytes it received, not one built and signed in memory (whose encoding
         * OpenSSL has not kept, so that each i2d_X509() re-encodes all of it). */
        p = bq->der;
        bq->x509 = d2i_X509(NULL, &p, n);
        if (bq->x509 == NULL || p != bq->der + bq->der_len) {
            die("d2i_X509 of %s", bq->id);
        }
        if (mtlsauthz_identity_from_der(&bq->ident, bq->der, bq->der_len, &err) != 0) {
            die("mtlsauthz_identity_from_der(%s): %s", bq->id, err.message);
        }
        if (mtlsauthz_identity_rejected(bq->ident) != NULL) {
            die("identity %s rejected: %s", bq->id, mtlsauthz_identity_rejected(bq->ident));
        }
        if (mtlsauthz_identity_count(bq->ident, MTLSAUTHZ_FIELD_SPIFFE_ID) != 1 ||
            mtlsauthz_identity_get(&value, &len, bq->ident, MTLSAUTHZ_FIELD_SPIFFE_ID, 0) != 0 ||
            len != strlen(bq->id) || memcmp(value, bq->id, len) != 0) {
            die("identity of %s: wrong SPIFFE ID", bq->id);
        }
        if (mtlsauthz_peer_new(&bq->peer, pol, bq->ident, &err) != 0) {
            die("mtlsauthz_peer_new(%s): %s", bq->id, err.message);
        }
    }
}

/* Every (query, operation) pair through the peer, and one per query through policy_decide. */
static void check_all(const workload *w, mtlsauthz_policy *pol)
{
    mtlsauthz_error err = {0};
    mtlsauthz_decision d;
    for (uint32_t q = 0; q < w->nqueries; q++) {
        const bench_query *bq = &w->queries[q];
        for (uint32_t o = 0; o < NOPS; o++) {
            if (mtlsauthz_peer_decide(&d, bq->peer, g_ops[o], g_op_len[o], &err) != 0) {
                die("mtlsauthz_peer_decide(%s, %s): %s", bq->id, g_ops[o], err.message);
            }
            check_decision(bq, o, &d, "peer_decide");
        }
        uint32_t o = q % NOPS;
        if (mtlsauthz_policy_decide(&d, pol, bq->ident, g_ops[o], g_op_len[o], &err) != 0) {
            die("mtlsauthz_policy_decide(%s, %s): %s", bq->id, g_ops[o], err.message);
        }
        check_decision(bq, o, &d, "policy_decide");
    }
}

/* ---- timed sequences and the batch timer ---- */

typedef struct req {
    const mtlsauthz_peer *peer;
    const char *op;
    size_t op_len;
} req;

typedef struct sequence {
    req *reqs;             /* SEQ_LEN entries */
    unsigned char *expect; /* SEQ_LEN entries: the reference decision (1 = allow) */
    size_t allowed;        /* allows in one pass */
} sequence;

/* Allows the reference expects from `count` decisions starting at position 0. */
static size_t sequence_expected(const sequence *s, size_t count)
{
    size_t want = count / SEQ_LEN * s->allowed;
    for (size_t j = 0; j < count % SEQ_LEN; j++) {
        want += s->expect[j];
    }
    return want;
}

static void sequence_make(sequence *s, const workload *w, uint64_t seed)
{
    rng r = {seed};
    s->reqs = xmalloc(SEQ_LEN * sizeof(*s->reqs));
    s->expect = xmalloc(SEQ_LEN);
    s->allowed = 0;
    for (uint32_t i = 0; i < SEQ_LEN; i++) {
        const bench_query *bq = &w->queries[rng_below(&r, w->nqueries)];
        uint32_t o;
        if (bq->allowed != 0) {
            do {
                o = rng_below(&r, NOPS);
            } while (!(bq->allowed & (1u << o)));
            s->allowed++;
            s->expect[i] = 1;
        } else {
            o = rng_below(&r, NOPS);
        }
        s->reqs[i] = (req){bq->peer, g_ops[o], g_op_len[o]};
    }
}

/* The per-request path, as a server runs it. */
BENCH_LOOP size_t bench_decide_loop(const req *reqs, size_t start, size_t count);

BENCH_LOOP size_t bench_decide_loop(const req *reqs, size_t start, size_t count)
{
    mtlsauthz_decision d;
    size_t allowed = 0;
    for (size_t i = 0; i < count; i++) {
        const req *rq = &reqs[(start + i) & (SEQ_LEN - 1)];
        if (mtlsauthz_peer_decide(&d, rq->peer, rq->op, rq->op_len, NULL) != 0) {
            die("mtlsauthz_peer_decide failed in the timed loop");
        }
        allowed += (size_t)d.allowed;
    }
    return allowed;
}

/*
 * The control for the two-thread row: `count` rounds of a 64-bit multiply-xorshift on a
 * register, so no memory at all, shared or not. Whatever keeps two threads of it from
 * reaching 2x (another tenant on the host, a slower clock with both vCPUs busy) is the
 * machine's, not the library's.
 */
BENCH_LOOP uint64_t bench_spin_loop(uint64_t x, size_t count);

BENCH_LOOP uint64_t bench_spin_loop(uint64_t x, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        x ^= x >> 29;
        x *= 0xbf58476d1ce4e5b9ull;
        x ^= x >> 32;
    }
    return x;
}

/*
 * The second control: `count` steps of a pointer chase through the thread's own CHASE_WORDS
 * array (one random cycle; 256 KB, half of a core's L2 here). Nothing is shared, so any
 * shortfall from 2x is what the machine's caches and memory give two busy vCPUs.
 */
#define CHASE_WORDS (1u << 16)

BENCH_LOOP uint32_t bench_chase_loop(const uint32_t *next, uint32_t k, size_t count);

BENCH_LOOP uint32_t bench_chase_loop(const uint32_t *next, uint32_t k, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        k = next[k];
    }
    return k;
}

/* A random single cycle over CHASE_WORDS entries (Sattolo's shuffle). */
static uint32_t *chase_make(uint64_t seed)
{
    rng r = {seed};
    uint32_t *next = xmalloc(CHASE_WORDS * sizeof(*next));
    for (uint32_t i = 0; i < CHASE_WORDS; i++) {
        next[i] = i;
    }
    for (uint32_t i = CHASE_WORDS - 1u; i > 0; i--) {
        uint32_t j = rng_below(&r, i), t = next[i];
        next[i] = next[j];
        next[j] = t;
    }
    return next;
}

typedef struct stats {
    double p50, p99, mean; /* wall-clock ns per operation */
    double cpu_mean;       /* CPU ns per operation: what is left when preemption is not */
    size_t batches;
} stats;

/* One batch: `n` operations starting at position `start` of whatever ctx iterates. */
typedef void (*batch_fn)(void *ctx, size_t start, size_t n);

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of n values (n odd); sorts a copy, so the caller's order stays. */
static double median(const double *v, int n)
{
    double tmp[64];
    if (n <= 0 || n > 64) {
        die("median of %d values", n);
    }
    memcpy(tmp, v, (size_t)n * sizeof(*tmp));
    qsort(tmp, (size_t)n, sizeof(*tmp), cmp_double);
    return tmp[n / 2];
}

#define SET_MAX 3     /* contexts measure_set() interleaves */
#define SET_ROUNDS 40 /* segments each context's batches are cut into */

/*
 * Times batches of `per_batch` operations for each of the `k` contexts: a warm-up of ~50 ms
 * per context estimates its batch cost, then enough batches for ~target_s each (within
 * [min_b, max_b]) are timed one by one. With several contexts, their batches run in
 * SET_ROUNDS interleaved segments (a few ms each), so that a slow spell of the host shows in
 * all of them alike and their ratios hold within the run.
 */
static void measure_set(batch_fn fn, void *const *ctx, int k, size_t per_batch, double target_s,
                        size_t min_b, size_t max_b, stats *out)
{
    size_t pos[SET_MAX] = {0}, nb[SET_MAX] = {0}, done[SET_MAX] = {0};
    double *v[SET_MAX] = {NULL}, sum[SET_MAX] = {0};
    uint64_t cpu[SET_MAX] = {0};

    if (k < 1 || k > SET_MAX) {
        die("measure_set: %d contexts", k);
    }
    for (int i = 0; i < k; i++) {
        size_t warm = 0;
        uint64_t t0 = now_ns(), t1;
        do {
            fn(ctx[i], pos[i], per_batch);
            pos[i] += per_batch;
            warm++;
            t1 = now_ns();
        } while (t1 - t0 < (uint64_t)(50e6 * g_scale) || warm < 2);
        double per = (double)(t1 - t0) / (double)warm;
        nb[i] = (size_t)(target_s * g_scale * 1e9 / per);
        nb[i] = nb[i] < min_b ? min_b : nb[i] > max_b ? max_b : nb[i];
        v[i] = xmalloc(nb[i] * sizeof(*v[i]));
    }
    for (size_t r = 1; r <= SET_ROUNDS; r++) {
        for (int i = 0; i < k; i++) {
            size_t end = nb[i] * r / SET_ROUNDS;
            uint64_t c0 = thread_cpu_ns();
            for (; done[i] < end; done[i]++) {
                uint64_t a = now_ns();
                fn(ctx[i], pos[i], per_batch);
                uint64_t z = now_ns();
                pos[i] += per_batch;
                v[i][done[i]] = (double)(z - a) / (double)per_batch;
                sum[i] += v[i][done[i]];
            }
            cpu[i] += thread_cpu_ns() - c0;
        }
    }
    for (int i = 0; i < k; i++) {
        stats *st = &out[i];
        st->cpu_mean = (double)cpu[i] / (double)(nb[i] * per_batch);
        qsort(v[i], nb[i], sizeof(*v[i]), cmp_double);
        st->p50 = v[i][nb[i] / 2];
        st->p99 = v[i][(nb[i] * 99 + 99) / 100 - 1];
        st->mean = sum[i] / (double)nb[i];
        st->batches = nb[i];
        free(v[i]);
    }
}

static stats measure(batch_fn fn, void *ctx, size_t per_batch, double target_s, size_t min_b,
                     size_t max_b)
{
    stats st;
    measure_set(fn, &ctx, 1, per_batch, target_s, min_b, max_b, &st);
    return st;
}

typedef struct decide_ctx {
    const sequence *seq;
    size_t ops, allowed;
} decide_ctx;

static void decide_batch(void *p, size_t start, size_t n)
{
    decide_ctx *c = p;
    c->allowed += bench_decide_loop(c->seq->reqs, start, n);
    c->ops += n;
}

typedef struct peer_ctx {
    mtlsauthz_policy *pol;
    const workload *w;
} peer_ctx;

BENCH_LOOP void bench_peer_loop(const workload *w, mtlsauthz_policy *pol, size_t start, size_t n);

static void peer_batch(void *p, size_t start, size_t n)
{
    peer_ctx *c = p;
    bench_peer_loop(c->w, c->pol, start, n);
}

/* ---- the OpenSSL baseline: what a naive binding does with DER on each request ---- */

typedef struct base_out {
    char subject[512], issuer[512], cn[256], o[256], ou[256];
    char serial[80], sha256[65], uri[512], dns[512], email[512], ip[256], eku[256];
    char not_before[32], not_after[32];
    int is_ca;
} base_out;

static void cat(char *dst, size_t cap, const char *src, size_t len)
{
    size_t have = strlen(dst);
    if (have != 0 && have + 1 < cap) {
        dst[have++] = '\n';
    }
    if (have + len >= cap) {
        len = have < cap ? cap - have - 1 : 0;
    }
    memcpy(dst + have, src, len);
    dst[have + len] = '\0';
}

static void name_rfc2253(char *dst, size_t cap, const X509_NAME *name)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *p;
    if (bio == NULL ||
        X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
        die("X509_NAME_print_ex");
    }
    long n = BIO_get_mem_data(bio, &p);
    dst[0] = '\0';
    cat(dst, cap, p, (size_t)n);
    BIO_free(bio);
}

static void name_values(char *dst, size_t cap, const X509_NAME *name, int nid)
{
    dst[0] = '\0';
    for (int i = -1; (i = X509_NAME_get_index_by_NID(name, nid, i)) >= 0;) {
        unsigned char *utf8 = NULL;
        int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
        if (n < 0) {
            die("ASN1_STRING_to_UTF8");
        }
        cat(dst, cap, (const char *)utf8, (size_t)n);
        OPENSSL_free(utf8);
    }
}

static void time_rfc3339(char *dst, size_t cap, const ASN1_TIME *t)
{
    struct tm tm;
    if (!ASN1_TIME_to_tm(t, &tm)) {
        die("ASN1_TIME_to_tm");
    }
    strftime(dst, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void hex_lower(char *dst, const unsigned char *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        dst[2 * i] = digits[p[i] >> 4];
        dst[2 * i + 1] = digits[p[i] & 15];
    }
    dst[2 * n] = '\0';
}

static void baseline_extract(base_out *o, const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (x == NULL || p != der + len) {
        die("d2i_X509");
    }
    memset(o, 0, sizeof(*o));
    const X509_NAME *subject = X509_get_subject_name(x);
    name_rfc2253(o->subject, sizeof(o->subject), subject);
    name_rfc2253(o->issuer, sizeof(o->issuer), X509_get_issuer_name(x));
    name_values(o->cn, sizeof(o->cn), subject, NID_commonName);
    name_values(o->o, sizeof(o->o), subject, NID_organizationName);
    name_values(o->ou, sizeof(o->ou), subject, NID_organizationalUnitName);

    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    if (hex == NULL) {
        die("serial");
    }
    const char *h = hex + (hex[0] == '-');
    while (h[0] == '0' && h[1] != '\0') {
        h++;
    }
    snprintf(o->serial, sizeof(o->serial), "%s%s", hex[0] == '-' ? "-" : "", h);
    for (char *c = o->serial; *c; c++) {
        *c = (char)(*c >= 'A' && *c <= 'F' ? *c - 'A' + 'a' : *c);
    }
    OPENSSL_free(hex);
    BN_free(bn);

    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!X509_digest(x, EVP_sha256(), md, &mdlen)) {
        die("X509_digest");
    }
    hex_lower(o->sha256, md, mdlen);

    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        const ASN1_STRING *s = g->d.ia5;
        switch (g->type) {
        case GEN_URI:
            cat(o->uri, sizeof(o->uri), (const char *)ASN1_STRING_get0_data(s),
                (size_t)ASN1_STRING_length(s));
            break;
        case GEN_DNS:
            cat(o->dns, sizeof(o->dns), (const char *)ASN1_STRING_get0_data(s),
                (size_t)ASN1_STRING_length(s));
            break;
        case GEN_EMAIL:
            cat(o->email, sizeof(o->email), (const char *)ASN1_STRING_get0_data(s),
                (size_t)ASN1_STRING_length(s));
            break;
        case GEN_IPADD: {
            char *ip =
                OPENSSL_buf2hexstr(ASN1_STRING_get0_data(g->d.ip), ASN1_STRING_length(g->d.ip));
            cat(o->ip, sizeof(o->ip), ip, strlen(ip));
            OPENSSL_free(ip);
            break;
        }
        default:
            break;
        }
    }
    GENERAL_NAMES_free(gens);

    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
    for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
        const ASN1_OBJECT *obj = sk_ASN1_OBJECT_value(eku, i);
        char txt[80];
        int nid = OBJ_obj2nid(obj);
        if (nid == NID_client_auth || nid == NID_server_auth) {
            snprintf(txt, sizeof(txt), "%s", OBJ_nid2sn(nid));
        } else {
            OBJ_obj2txt(txt, sizeof(txt), obj, 1);
        }
        cat(o->eku, sizeof(o->eku), txt, strlen(txt));
    }
    EXTENDED_KEY_USAGE_free(eku);

    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL, NULL);
    o->is_ca = bc != NULL && bc->ca;
    BASIC_CONSTRAINTS_free(bc);

    time_rfc3339(o->not_before, sizeof(o->not_before), X509_get0_notBefore(x));
    time_rfc3339(o->not_after, sizeof(o->not_after), X509_get0_notAfter(x));
    X509_free(x);
}

/* The library's identity must say what the baseline says, so both do the same work. */
static void compare_field(const mtlsauthz_identity *id, mtlsauthz_field f, const char *want,
                          const char *fname)
{
    char got[1024] = "";
    size_t n = mtlsauthz_identity_count(id, f);
    for (size_t i = 0; i < n; i++) {
        const char *v;
        size_t len;
        if (mtlsauthz_identity_get(&v, &len, id, f, i) != 0) {
            die("mtlsauthz_identity_get(%s)", fname);
        }
        cat(got, sizeof(got), v, len);
    }
    if (strcmp(got, want) != 0) {
        die("extraction mismatch in %s: library \"%s\", OpenSSL \"%s\"", fname, got, want);
    }
}

/* The identity from the X509 entry point must be the one from the DER, field for field. */
static void compare_identities(const mtlsauthz_identity *a, const mtlsauthz_identity *b,
                               const char *what)
{
    for (size_t f = 0; f < mtlsauthz_field_count(); f++) {
        size_t n = mtlsauthz_identity_count(a, (mtlsauthz_field)f);
        if (mtlsauthz_identity_count(b, (mtlsauthz_field)f) != n) {
            die("%s: %s has a different number of values", what, mtlsauthz_field_name(f));
        }
        for (size_t i = 0; i < n; i++) {
            const char *va, *vb;
            size_t la, lb;
            if (mtlsauthz_identity_get(&va, &la, a, (mtlsauthz_field)f, i) != 0 ||
                mtlsauthz_identity_get(&vb, &lb, b, (mtlsauthz_field)f, i) != 0 || la != lb ||
                memcmp(va, vb, la) != 0) {
                die("%s: %s value %zu differs", what, mtlsauthz_field_name(f), i);
            }
        }
    }
    if (mtlsauthz_identity_chain_length(a) != mtlsauthz_identity_chain_length(b) ||
        (mtlsauthz_identity_rejected(a) == NULL) != (mtlsauthz_identity_rejected(b) == NULL)) {
        die("%s: the chain length or the rejection differs", what);
    }
}

static void extraction_check(const workload *w)
{
    for (uint32_t q = 0; q < w->nqueries; q++) {
        const bench_query *bq = &w->queries[q];
        base_out o;
        mtlsauthz_identity *id, *from_x509;
        mtlsauthz_error err = {0};
        baseline_extract(&o, bq->der, bq->der_len);
        if (mtlsauthz_identity_from_der(&id, bq->der, bq->der_len, &err) != 0) {
            die("mtlsauthz_identity_from_der: %s", err.message);
        }
        compare_field(id, MTLSAUTHZ_FIELD_SUBJECT_DN, o.subject, "subject DN");
        compare_field(id, MTLSAUTHZ_FIELD_ISSUER_DN, o.issuer, "issuer DN");
        compare_field(id, MTLSAUTHZ_FIELD_CN, o.cn, "CN");
        compare_field(id, MTLSAUTHZ_FIELD_O, o.o, "O");
        compare_field(id, MTLSAUTHZ_FIELD_OU, o.ou, "OU");
        compare_field(id, MTLSAUTHZ_FIELD_SERIAL, o.serial, "serial");
        compare_field(id, MTLSAUTHZ_FIELD_SHA256, o.sha256, "sha256");
        compare_field(id, MTLSAUTHZ_FIELD_SAN_URI, o.uri, "URI SAN");
        compare_field(id, MTLSAUTHZ_FIELD_SPIFFE_ID, o.uri, "SPIFFE ID");
        compare_field(id, MTLSAUTHZ_FIELD_EKU, o.eku, "EKU");
        compare_field(id, MTLSAUTHZ_FIELD_NOT_BEFORE, o.not_before, "notBefore");
        compare_field(id, MTLSAUTHZ_FIELD_NOT_AFTER, o.not_after, "notAfter");
        if (mtlsauthz_identity_from_x509(&from_x509, bq->x509, NULL, &err) != 0) {
            die("mtlsauthz_identity_from_x509: %s", err.message);
        }
        compare_identities(id, from_x509, "mtlsauthz_identity_from_x509 against _from_der");
        mtlsauthz_identity_free(from_x509);
        mtlsauthz_identity_free(id);
    }
}

/* The timed extraction loops and the per-connection loop (see BENCH_LOOP). */
BENCH_LOOP void bench_extract_loop(const workload *w, size_t start, size_t n);
BENCH_LOOP void bench_extract_x509_loop(const workload *w, size_t start, size_t n);
BENCH_LOOP void bench_baseline_loop(const workload *w, size_t start, size_t n);
BENCH_LOOP void bench_peer_loop(const workload *w, mtlsauthz_policy *pol, size_t start, size_t n);

BENCH_LOOP void bench_extract_loop(const workload *w, size_t start, size_t n)
{
    mtlsauthz_error err = {0};
    for (size_t i = 0; i < n; i++) {
        const bench_query *bq = &w->queries[(start + i) % w->nqueries];
        mtlsauthz_identity *id;
        if (mtlsauthz_identity_from_der(&id, bq->der, bq->der_len, &err) != 0) {
            die("mtlsauthz_identity_from_der: %s", err.message);
        }
        mtlsauthz_identity_free(id);
    }
}

BENCH_LOOP void bench_extract_x509_loop(const workload *w, size_t start, size_t n)
{
    mtlsauthz_error err = {0};
    for (size_t i = 0; i < n; i++) {
        const bench_query *bq = &w->queries[(start + i) % w->nqueries];
        mtlsauthz_identity *id;
        if (mtlsauthz_identity_from_x509(&id, bq->x509, NULL, &err) != 0) {
            die("mtlsauthz_identity_from_x509: %s", err.message);
        }
        mtlsauthz_identity_free(id);
    }
}

BENCH_LOOP void bench_baseline_loop(const workload *w, size_t start, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const bench_query *bq = &w->queries[(start + i) % w->nqueries];
        base_out o;
        baseline_extract(&o, bq->der, bq->der_len);
    }
}

/* Per connection: resolve, and free at the end of the connection. */
BENCH_LOOP void bench_peer_loop(const workload *w, mtlsauthz_policy *pol, size_t start, size_t n)
{
    mtlsauthz_error err = {0};
    for (size_t i = 0; i < n; i++) {
        mtlsauthz_peer *peer;
        const bench_query *bq = &w->queries[(start + i) % w->nqueries];
        if (mtlsauthz_peer_new(&peer, pol, bq->ident, &err) != 0) {
            die("mtlsauthz_peer_new: %s", err.message);
        }
        mtlsauthz_peer_free(peer);
    }
}

/* extract_der and extract_x509 are timed interleaved (measure_set), so that their ratio holds
 * within the run. */
typedef struct extract_ctx {
    const workload *w;
    int x509; /* 0: mtlsauthz_identity_from_der(), 1: mtlsauthz_identity_from_x509() */
} extract_ctx;

static void extract_batch(void *p, size_t start, size_t n)
{
    const extract_ctx *c = p;
    if (c->x509) {
        bench_extract_x509_loop(c->w, start, n);
    } else {
        bench_extract_loop(c->w, start, n);
    }
}

static void baseline_batch(void *p, size_t start, size_t n)
{
    bench_baseline_loop(p, start, n);
}

/* ---- compile: time and memory ---- */

/* A "Key:   123 kB" line of /proc/self/status, in kB; -1 if absent. */
static long status_kb(const char *key)
{
    char line[256];
    long v = -1;
    size_t klen = strlen(key);
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            v = strtol(line + klen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/* The 1-minute load average: timings from a machine busy with other work are suspect. */
static double loadavg(void)
{
    double v = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fscanf(f, "%lf", &v) != 1) {
            v = -1;
        }
        fclose(f);
    }
    return v;
}

/*
 * CPU time the whole machine spent busy (all CPUs, /proc/stat) and this process's own, both in
 * seconds: their difference over a run is what other processes took while we measured.
 */
static double machine_busy_s(void)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL) {
        return -1;
    }
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n != 8) {
        return -1;
    }
    /* user nice system idle iowait irq softirq steal: busy is all but idle and iowait */
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        return -1;
    }
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Resets VmHWM to the current RSS (Linux >= 4.0, /proc/PID/clear_refs "5"). */
static int peak_reset(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f == NULL) {
        return 0;
    }
    int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

typedef struct compile_stats {
    double ms, cpu_ms, rss_mb, peak_mb, heap_mb;
} compile_stats;

static mtlsauthz_policy *compile_once(const char *path, compile_stats *cs)
{
    mtlsauthz_policy *pol;
    mtlsauthz_error err = {0};
    malloc_trim(0);
    struct mallinfo2 m0 = mallinfo2();
    long rss0 = status_kb("VmRSS");
    int peak_ok = peak_reset();
    uint64_t c0 = thread_cpu_ns(), t0 = now_ns();
    if (mtlsauthz_policy_load_file(&pol, path, &err) != 0) {
        die("mtlsauthz_policy_load_file(%s): %s", path, err.message);
    }
    uint64_t t1 = now_ns(), c1 = thread_cpu_ns();
    long rss1 = status_kb("VmRSS"), hwm = status_kb("VmHWM");
    struct mallinfo2 m1 = mallinfo2();
    cs->ms = (double)(t1 - t0) / 1e6;
    cs->cpu_ms = (double)(c1 - c0) / 1e6;
    cs->rss_mb = (double)(rss1 - rss0) / 1024.0;
    cs->peak_mb = peak_ok && hwm >= 0 ? (double)(hwm - rss0) / 1024.0 : -1;
    cs->heap_mb =
        ((double)(m1.uordblks + m1.hblkhd) - (double)(m0.uordblks + m0.hblkhd)) / (1024.0 * 1024.0);
    return pol;
}

/* RSS growth over heap growth: 1.0 when the process keeps exactly the policy's heap; 0 when
 * the heap did not grow measurably (the 10-rule policy). */
static double rss_per_heap(const compile_stats *cs)
{
    return cs->heap_mb >= 0.05 ? cs->rss_mb / cs->heap_mb : 0.0;
}

static int cmp_compile_ms(const void *a, const void *b)
{
    const compile_stats *x = a, *y = b;
    return (x->ms > y->ms) - (x->ms < y->ms);
}

/* ---- threads ---- */

/*
 * Throughput over a fixed wall-clock window, the way load generators measure it: every thread
 * decides from the same start until the main thread says stop, and each counts what it did.
 * (With a fixed count per thread instead, a thread slowed down by anything outside the run
 * leaves its partner finishing alone while a CPU idles, and the run measures that imbalance.)
 */
#define THREAD_CHUNK (DECIDE_BATCH * 8u) /* decisions between two looks at the stop flag */

/* What the threads of a window run. */
typedef enum thread_work { WORK_DECIDE, WORK_SPIN, WORK_CHASE } thread_work;

typedef struct thread_arg {
    thread_work work;
    const sequence *seq;  /* WORK_DECIDE */
    const uint32_t *next; /* WORK_CHASE: this thread's own array */
    const atomic_int *stop;
    pthread_barrier_t *bar;
    size_t count, allowed; /* decisions made, allows among them */
    uint64_t t0, t1;       /* CLOCK_MONOTONIC */
    uint64_t cpu_ns;       /* CPU time the thread got (CLOCK_THREAD_CPUTIME_ID) */
    char pad[64];          /* keep the threads' results off each other's cache lines */
} thread_arg;

static void *thread_main(void *p)
{
    thread_arg *a = p;
    size_t count = 0, allowed = 0;
    pthread_barrier_wait(a->bar);
    uint64_t c0 = thread_cpu_ns();
    a->t0 = now_ns();
    if (a->work == WORK_DECIDE) {
        do {
            allowed += bench_decide_loop(a->seq->reqs, count, THREAD_CHUNK);
            count += THREAD_CHUNK;
        } while (atomic_load_explicit(a->stop, memory_order_relaxed) == 0);
    } else if (a->work == WORK_SPIN) {
        uint64_t x = (uint64_t)(uintptr_t)a;
        do {
            x = bench_spin_loop(x, THREAD_CHUNK * 16u); /* ~as long as a decision chunk */
            count += THREAD_CHUNK;
        } while (atomic_load_explicit(a->stop, memory_order_relaxed) == 0);
        allowed = (size_t)(x & 1u); /* keeps the loop's result alive */
    } else {
        uint32_t k = 0;
        do {
            k = bench_chase_loop(a->next, k, THREAD_CHUNK * 8u);
            count += THREAD_CHUNK;
        } while (atomic_load_explicit(a->stop, memory_order_relaxed) == 0);
        allowed = (size_t)(k & 1u);
    }
    a->t1 = now_ns();
    a->cpu_ns = thread_cpu_ns() - c0;
    a->count = count;
    a->allowed = allowed;
    return NULL;
}

typedef struct thread_result {
    double ops_s;        /* the threads' decision rates over their own windows, summed */
    double ops_cpu;      /* decisions per CPU-second the threads got: equal for 1 and 2
                            threads when the threads do not slow each other down (shared
                            writes, locks, false sharing) */
    double cpu_per_wall; /* CPU seconds the threads got per wall second: < nthreads means the
                            machine did not give every thread a whole CPU */
} thread_result;

/* `nthreads` threads decide for `window_ns`, each its own sequence over the same peers (peers
 * and policy are shared read-only, as in a server); every thread's allows are checked. Or
 * they run one of the controls (`work`), each on its own chase array. */
static thread_result run_threads(thread_work work, const sequence *seqs, uint32_t *const chase[2],
                                 int nthreads, uint64_t window_ns)
{
    pthread_t tid[2];
    thread_arg args[2];
    pthread_barrier_t bar;
    atomic_int stop;
    atomic_init(&stop, 0);
    pthread_barrier_init(&bar, NULL, (unsigned)nthreads + 1u);
    for (int i = 0; i < nthreads; i++) {
        args[i] = (thread_arg){work, &seqs[i], chase[i], &stop, &bar, 0, 0, 0, 0, 0, {0}};
        if (pthread_create(&tid[i], NULL, thread_main, &args[i]) != 0) {
            die("pthread_create");
        }
    }
    pthread_barrier_wait(&bar);
    struct timespec ts = {(time_t)(window_ns / 1000000000u), (long)(window_ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    atomic_store_explicit(&stop, 1, memory_order_relaxed);
    thread_result r = {0, 0, 0};
    uint64_t cpu = 0, wall = 0;
    size_t total = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(tid[i], NULL);
        size_t want = sequence_expected(&seqs[i], args[i].count);
        if (work == WORK_DECIDE && args[i].allowed != want) {
            die("thread %d: %zu allows in %zu decisions, expected %zu", i, args[i].allowed,
                args[i].count, want);
        }
        uint64_t span = args[i].t1 - args[i].t0;
        r.ops_s += (double)args[i].count * 1e9 / (double)span;
        cpu += args[i].cpu_ns;
        wall = span > wall ? span : wall;
        total += args[i].count;
    }
    pthread_barrier_destroy(&bar);
    r.ops_cpu = (double)total * 1e9 / (double)cpu;
    r.cpu_per_wall = (double)cpu / (double)wall;
    return r;
}

/* ---- results ---- */

typedef struct report {
    char *json;
    size_t json_len, json_cap;
    char table[8192];
    size_t table_len;
} report;

static void json_row(report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void json_row(report *r, const char *fmt, ...)
{
    char row[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(row, sizeof(row), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(row)) {
        die("json row too long");
    }
    if (r->json_len + (size_t)n + 8 > r->json_cap) {
        r->json_cap = (r->json_cap + (size_t)n + 8) * 2;
        r->json = realloc(r->json, r->json_cap);
        if (r->json == NULL) {
            die("out of memory");
        }
    }
    r->json_len +=
        (size_t)sprintf(r->json + r->json_len, "%s\n  %s", r->json_len == 0 ? "[" : ",", row);
}

static void table_row(report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void table_row(report *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->table + r->table_len, sizeof(r->table) - r->table_len, fmt, ap);
    va_end(ap);
    if (n < 0 || r->table_len + (size_t)n >= sizeof(r->table)) {
        die("table too long");
    }
    r->table_len += (size_t)n;
    fputs(r->table + r->table_len - (size_t)n, stdout); /* progress as it goes */
    fflush(stdout);
}

/* A timing row: JSON (rules omitted when 0) and the table, with a printf-style note. */
static void emit_timing(report *r, const char *name, uint32_t rules, const stats *st,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void emit_timing(report *r, const char *name, uint32_t rules, const stats *st,
                        const char *fmt, ...)
{
    char note[256], rules_json[32] = "", rules_col[16] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(note, sizeof(note), fmt, ap);
    va_end(ap);
    if (rules != 0) {
        snprintf(rules_json, sizeof(rules_json), ", \"rules\": %u", rules);
        snprintf(rules_col, sizeof(rules_col), "%u", rules);
    }
    json_row(r,
             "{\"name\": \"%s\"%s, \"p50_ns\": %.1f, \"p99_ns\": %.1f, \"ops_per_s\": %.0f, "
             "\"cpu_ns\": %.1f}",
             name, rules_json, st->p50, st->p99, 1e9 / st->mean, st->cpu_mean);
    table_row(r, "%-28s %6s %10.1f %10.1f %12.0f %10.1f  %s\n", name, rules_col, st->p50, st->p99,
              1e9 / st->mean, st->cpu_mean, note);
}

static void report_write(const report *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        die("%s: %s", path, strerror(errno));
    }
    fprintf(f, "%.*s\n]\n", (int)r->json_len, r->json);
    if (fclose(f) != 0) {
        die("%s: %s", path, strerror(errno));
    }
}

/* ---- main ---- */

static mtlsauthz_policy *setup(workload *w, cert_factory *cf, uint32_t n, uint32_t nqueries,
                               const char *dir, compile_stats *cs, int reps)
{
    char path[4096];
    compile_stats runs[5];
    mtlsauthz_policy *pol = NULL;

    workload_gen(w, n, nqueries, SEED);
    snprintf(path, sizeof(path), "%s/bench-policy-%u.yaml", dir, n);
    policy_write(w, path);
    for (int i = 0; i < reps; i++) {
        mtlsauthz_policy_free(pol);
        pol = compile_once(path, &runs[i]);
    }
    qsort(runs, (size_t)reps, sizeof(runs[0]), cmp_compile_ms);
    *cs = runs[reps / 2];
    if (mtlsauthz_policy_rule_count(pol) != n) {
        die("%s: %zu rules loaded, %u written", path, mtlsauthz_policy_rule_count(pol), n);
    }
    reference_eval(w);
    queries_prepare(w, cf, pol);
    check_all(w, pol);
    return pol;
}

/*
 * `bench --callgrind WHAT RULES COUNT DIR`: set up as the full run does (correctness checks
 * included, with 64 query identities), then run COUNT iterations of one timed loop, for
 * valgrind --tool=callgrind --toggle-collect=bench_WHAT_loop. WHAT: decide, peer, extract,
 * extract_x509, baseline.
 */
static int run_callgrind(const char *what, uint32_t n, size_t count, const char *dir)
{
    workload w;
    cert_factory cf;
    compile_stats cs;
    sequence seq;
    factory_init(&cf);
    mtlsauthz_policy *pol = setup(&w, &cf, n, 64, dir, &cs, 1);
    sequence_make(&seq, &w, SEED + 1);
    if (strncmp(what, "extract", 7) == 0 || strcmp(what, "baseline") == 0) {
        extraction_check(&w);
    }
#ifdef BENCH_HAVE_CALLGRIND_H
    CALLGRIND_START_INSTRUMENTATION;
#endif
    if (strcmp(what, "decide") == 0) {
        size_t allowed = bench_decide_loop(seq.reqs, 0, count);
        if (allowed != sequence_expected(&seq, count)) {
            die("%zu allows, the reference says %zu", allowed, sequence_expected(&seq, count));
        }
    } else if (strcmp(what, "peer") == 0) {
        bench_peer_loop(&w, pol, 0, count);
    } else if (strcmp(what, "extract") == 0) {
        bench_extract_loop(&w, 0, count);
    } else if (strcmp(what, "extract_x509") == 0) {
        bench_extract_x509_loop(&w, 0, count);
    } else if (strcmp(what, "baseline") == 0) {
        bench_baseline_loop(&w, 0, count);
    } else {
        die("--callgrind: unknown loop \"%s\"", what);
    }
#ifdef BENCH_HAVE_CALLGRIND_H
    CALLGRIND_STOP_INSTRUMENTATION;
#endif
    printf("callgrind: %s, rules=%u, iterations=%zu\n", what, n, count);
    free(seq.reqs);
    free(seq.expect);
    workload_free(&w);
    mtlsauthz_policy_free(pol);
    factory_free(&cf);
    return 0;
}

/*
 * `bench --dump DIR`: the workload of the full run, for replaying it in another process
 * (bench/peers, docs/performance.md "Peers"). For each N: DIR/bench-policy-N.yaml, and
 * DIR/bench-workload-N.txt, one record a line, fields separated by one space:
 *   op O OPERATION...                 the 32 operations (OPERATION contains a space)
 *   rule ID KIND PATTERN MASK         the rules in file order; MASK: hex, bit O = operation O
 *   identity Q KIND MASK ID DER       the query identities; MASK: what the reference allows;
 *                                     DER: the certificate, base64
 *   request Q O ALLOW                 the first timed sequence of the full run, in order
 * Everything goes through setup() first, so the library has been checked against the
 * reference on every (identity, operation) pair of what is written.
 */
static void dump_workload(const workload *w, const sequence *seq, const char *path)
{
    FILE *f = fopen(path, "w");
    size_t b64_cap = 0;
    unsigned char *b64 = NULL;
    if (f == NULL) {
        die("%s: %s", path, strerror(errno));
    }
    fprintf(f, "# Generated by bench/bench.c --dump: %u rules, %u identities, %u requests.\n",
            w->nrules, w->nqueries, SEQ_LEN);
    for (uint32_t o = 0; o < NOPS; o++) {
        fprintf(f, "op %u %s\n", o, g_ops[o]);
    }
    for (uint32_t i = 0; i < w->nrules; i++) {
        const bench_rule *rl = &w->rules[i];
        fprintf(f, "rule r%u %s %s %x\n", i, kind_names[rl->kind], rl->pat, rl->ops);
    }
    for (uint32_t q = 0; q < w->nqueries; q++) {
        const bench_query *bq = &w->queries[q];
        size_t need = 4 * ((bq->der_len + 2) / 3) + 1;
        if (need > b64_cap) {
            free(b64);
            b64 = xmalloc(need);
            b64_cap = need;
        }
        if (EVP_EncodeBlock(b64, bq->der, (int)bq->der_len) <= 0) {
            die("base64 of %s", bq->id);
        }
        fprintf(f, "identity %u %s %x %s %s\n", q, kind_names[bq->kind], bq->allowed, bq->id,
                (const char *)b64);
    }
    for (uint32_t i = 0; i < SEQ_LEN; i++) {
        const req *rq = &seq->reqs[i];
        uint32_t q = 0, o = 0;
        while (w->queries[q].peer != rq->peer) {
            q++;
        }
        while (g_ops[o] != rq->op) {
            o++;
        }
        fprintf(f, "request %u %u %u\n", q, o, (unsigned)seq->expect[i]);
    }
    free(b64);
    if (fclose(f) != 0) {
        die("%s: %s", path, strerror(errno));
    }
}

static int run_dump(const char *dir)
{
    static const uint32_t sizes[3] = {10, 1000, 100000};
    cert_factory cf;
    factory_init(&cf);
    for (int si = 0; si < 3; si++) {
        workload w;
        compile_stats cs;
        sequence seq;
        char path[4096];
        mtlsauthz_policy *pol = setup(&w, &cf, sizes[si], QUERIES, dir, &cs, 1);
        sequence_make(&seq, &w, SEED + 1);
        snprintf(path, sizeof(path), "%s/bench-workload-%u.txt", dir, sizes[si]);
        dump_workload(&w, &seq, path);
        printf("wrote %s/bench-policy-%u.yaml and %s\n", dir, sizes[si], path);
        free(seq.reqs);
        free(seq.expect);
        workload_free(&w);
        mtlsauthz_policy_free(pol);
    }
    factory_free(&cf);
    return 0;
}

/*
 * The two-thread row: one and two threads alternate in short windows, and the speedup is the
 * median of the pairs' ratios, so that a slow spell on the host hits both sides of a pair.
 * The order within a pair alternates (1-2, then 2-1) so that a slow drift does not favour
 * either side. Each pair also runs both controls both ways, interleaved with the decisions:
 * their speedups in the same windows are what the machine allowed at that moment, for code
 * that touches no memory and for code that reads its own 256 KB.
 */
static void two_threads(report *rep, uint32_t n, const sequence *seqs)
{
    static const thread_work works[3] = {WORK_DECIDE, WORK_SPIN, WORK_CHASE};
    uint64_t window = (uint64_t)(THREAD_WINDOW_S * 1e9 * g_scale);
    uint32_t *chase[2] = {chase_make(SEED + 3), chase_make(SEED + 4)};
    double ratio[3][THREAD_PAIRS], one[THREAD_PAIRS], two[THREAD_PAIRS], cpus[THREAD_PAIRS],
        per_cpu[THREAD_PAIRS], m[3];
    for (int i = 0; i < THREAD_PAIRS; i++) {
        for (int w = 0; w < 3; w++) {
            thread_result r[2]; /* [0]: one thread, [1]: two threads */
            for (int k = 0; k < 2; k++) {
                int t = (i + k) & 1;
                r[t] = run_threads(works[w], seqs, chase, t + 1, window);
            }
            ratio[w][i] = r[1].ops_s / r[0].ops_s;
            if (works[w] == WORK_DECIDE) {
                one[i] = r[0].ops_s;
                two[i] = r[1].ops_s;
                cpus[i] = r[1].cpu_per_wall;
                per_cpu[i] = r[1].ops_cpu / r[0].ops_cpu;
            }
        }
    }
    double lo = ratio[0][0], hi = ratio[0][0];
    for (int i = 1; i < THREAD_PAIRS; i++) {
        lo = ratio[0][i] < lo ? ratio[0][i] : lo;
        hi = ratio[0][i] > hi ? ratio[0][i] : hi;
    }
    for (int w = 0; w < 3; w++) {
        m[w] = median(ratio[w], THREAD_PAIRS);
    }
    double m_one = median(one, THREAD_PAIRS), m_two = median(two, THREAD_PAIRS);
    double m_cpus = median(cpus, THREAD_PAIRS), m_per_cpu = median(per_cpu, THREAD_PAIRS);
    json_row(rep,
             "{\"name\": \"decide_2threads\", \"rules\": %u, \"ops_per_s\": %.0f, "
             "\"ops_per_s_1thread\": %.0f, \"speedup\": %.2f, \"speedup_min\": %.2f, "
             "\"speedup_max\": %.2f, \"control_spin_speedup\": %.2f, "
             "\"control_mem_speedup\": %.2f, \"pairs\": %d, \"window_ms\": %.0f, "
             "\"cpu_per_wall\": %.2f, \"per_cpu_ratio\": %.2f}",
             n, m_two, m_one, m[0], lo, hi, m[1], m[2], THREAD_PAIRS, (double)window / 1e6, m_cpus,
             m_per_cpu);
    table_row(rep,
              "%-28s %6u %10s %10s %12.0f %10s  %.2fx 1 thread (%.0f ops/s), median of %d "
              "paired %.0f ms windows (%.2f-%.2fx); the threads got %.2f CPUs; per CPU-second "
              "%.2fx 1 thread; controls in the same windows: register-only loop %.2fx, private "
              "256 KB pointer chase %.2fx\n",
              "decide, 2 threads", n, "", "", m_two, "", m[0], m_one, THREAD_PAIRS,
              (double)window / 1e6, lo, hi, m_cpus, m_per_cpu, m[1], m[2]);
    free(chase[0]);
    free(chase[1]);
}

/* `bench --load FILE REPS`: only policy loads, to profile them (perf record, callgrind). */
static int run_load(const char *path, int reps)
{
    for (int i = 0; i < reps; i++) {
        compile_stats cs;
        mtlsauthz_policy *pol = compile_once(path, &cs);
        printf("load %d: %.1f ms (CPU %.1f ms), %zu rules, heap +%.1f MB, RSS +%.1f MB after "
               "load (%.2fx the heap), peak +%.1f MB\n",
               i + 1, cs.ms, cs.cpu_ms, mtlsauthz_policy_rule_count(pol), cs.heap_mb, cs.rss_mb,
               rss_per_heap(&cs), cs.peak_mb);
        mtlsauthz_policy_free(pol);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const uint32_t sizes[3] = {10, 1000, 100000};
    const char *out = NULL;
    char dir[4096];
    report rep = {0};
    workload keep = {0}; /* the last workload's certificates feed the extraction rows */
    cert_factory cf;

    ops_init();
    if (argc == 2 && strcmp(argv[1], "--callgrind-client-requests") == 0) {
#ifdef BENCH_HAVE_CALLGRIND_H
        puts("yes");
#else
        puts("no");
#endif
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "--load") == 0) {
        return run_load(argv[2], atoi(argv[3]));
    }
    if (argc == 3 && strcmp(argv[1], "--dump") == 0) {
        return run_dump(argv[2]);
    }
    if (argc == 6 && strcmp(argv[1], "--callgrind") == 0) {
        return run_callgrind(argv[2], (uint32_t)strtoul(argv[3], NULL, 10),
                             (size_t)strtoull(argv[4], NULL, 10), argv[5]);
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            g_scale = 0.1;
        } else if (out == NULL && argv[i][0] != '-') {
            out = argv[i];
        } else {
            out = NULL;
            break;
        }
    }
    if (out == NULL) {
        fprintf(stderr, "usage: bench [--quick] OUT.json\n"
                        "       bench --callgrind WHAT RULES COUNT DIR\n"
                        "       bench --load POLICY.yaml REPS\n"
                        "       bench --dump DIR\n");
        return 2;
    }
    snprintf(dir, sizeof(dir), "%s", out);
    char *slash = strrchr(dir, '/');
    if (slash != NULL) {
        *slash = '\0';
    } else {
        snprintf(dir, sizeof(dir), ".");
    }

    factory_init(&cf);
    double load0 = loadavg(), busy0 = machine_busy_s(), self0 = self_cpu_s();
    uint64_t wall0 = now_ns();
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    double clock_ns = clock_cost_ns();
    printf("libmtlsauthz %s, %s; %ld CPUs, load average %.2f\n"
           "%u query identities, %u operations, batches of %u decisions; a clock read costs "
           "%.1f ns\n\n",
           mtlsauthz_version(), OpenSSL_version(OPENSSL_VERSION), ncpu, load0, QUERIES, NOPS,
           DECIDE_BATCH, clock_ns);
    table_row(&rep, "%-28s %6s %10s %10s %12s %10s  %s\n", "benchmark", "rules", "p50 ns", "p99 ns",
              "ops/s", "CPU ns/op", "notes");

    /* All three policies first, so that their decisions can be timed interleaved. */
    workload ws[3];
    compile_stats css[3];
    mtlsauthz_policy *pols[3];
    sequence seqs[3][2];
    decide_ctx dcs[3];
    void *dptr[3];
    stats dst[3];
    for (int si = 0; si < 3; si++) {
        pols[si] = setup(&ws[si], &cf, sizes[si], QUERIES, dir, &css[si], 3);
        sequence_make(&seqs[si][0], &ws[si], SEED + 1);
        sequence_make(&seqs[si][1], &ws[si], SEED + 2);
        dcs[si] = (decide_ctx){&seqs[si][0], 0, 0};
        dptr[si] = &dcs[si];
    }
    measure_set(decide_batch, dptr, 3, DECIDE_BATCH, 0.8, 2000, 400000, dst);
    for (int si = 0; si < 3; si++) {
        const decide_ctx *dc = &dcs[si];
        if (dc->allowed != sequence_expected(&seqs[si][0], dc->ops)) {
            die("decide: %zu allows in %zu timed decisions, the reference says %zu", dc->allowed,
                dc->ops, sequence_expected(&seqs[si][0], dc->ops));
        }
        emit_timing(&rep, "decide", sizes[si], &dst[si],
                    "%zu batches of %u, %.0f%% allowed; p50 %.2fx the 10-rule p50", dst[si].batches,
                    DECIDE_BATCH, 100.0 * (double)seqs[si][0].allowed / SEQ_LEN,
                    dst[si].p50 / dst[0].p50);
    }

    for (int si = 0; si < 3; si++) {
        uint32_t n = sizes[si];
        const compile_stats *cs = &css[si];
        peer_ctx pc = {pols[si], &ws[si]};
        stats ps = measure(peer_batch, &pc, PEER_BATCH, 0.4, 100, 200000);
        emit_timing(&rep, "peer_new", n, &ps, "per connection: peer_new + peer_free");

        json_row(&rep,
                 "{\"name\": \"compile\", \"rules\": %u, \"ms\": %.1f, \"rss_mb\": %.1f, "
                 "\"peak_rss_mb\": %.1f, \"heap_mb\": %.1f, \"rss_per_heap\": %.2f, "
                 "\"cpu_ms\": %.1f}",
                 n, cs->ms, cs->rss_mb, cs->peak_mb, cs->heap_mb, rss_per_heap(cs), cs->cpu_ms);
        table_row(&rep,
                  "%-28s %6u %10s %10s %12s %10s  %.1f ms (CPU %.1f ms), median of 3; RSS +%.1f "
                  "MB after load (%.2fx the heap), peak +%.1f MB, heap +%.1f MB\n",
                  "compile (YAML file)", n, "", "", "", "", cs->ms, cs->cpu_ms, cs->rss_mb,
                  rss_per_heap(cs), cs->peak_mb, cs->heap_mb);

        if (n == 100000) {
            two_threads(&rep, n, seqs[si]);
        }
        for (int i = 0; i < 2; i++) {
            free(seqs[si][i].reqs);
            free(seqs[si][i].expect);
        }
        mtlsauthz_policy_free(pols[si]);
        if (si == 2) {
            keep = ws[si];
        } else {
            workload_free(&ws[si]);
        }
    }

    extraction_check(&keep);
    extract_ctx ex_ctx[2] = {{&keep, 0}, {&keep, 1}};
    void *ex_ctxs[2] = {&ex_ctx[0], &ex_ctx[1]};
    stats ex[2];
    measure_set(extract_batch, ex_ctxs, 2, EXTRACT_BATCH, 0.6, 200, 1000000, ex);
    stats base = measure(baseline_batch, &keep, BASELINE_BATCH, 0.6, 200, 1000000);
    emit_timing(&rep, "extract_der", 0, &ex[0],
                "%.1fx faster than the baseline (p50), %.1fx in CPU time; batches of %u",
                base.p50 / ex[0].p50, base.cpu_mean / ex[0].cpu_mean, EXTRACT_BATCH);
    emit_timing(&rep, "extract_der_openssl_baseline", 0, &base,
                "d2i_X509 + the same fields via OpenSSL; batches of %u", BASELINE_BATCH);
    emit_timing(&rep, "extract_x509", 0, &ex[1],
                "from an X509 parsed by d2i_X509 (NGINX); p50 %.2fx extract_der, CPU %.2fx, "
                "interleaved; batches of %u",
                ex[1].p50 / ex[0].p50, ex[1].cpu_mean / ex[0].cpu_mean, EXTRACT_BATCH);
    json_row(&rep, "{\"name\": \"extract_x509_vs_der\", \"p50_ratio\": %.3f, \"cpu_ratio\": %.3f}",
             ex[1].p50 / ex[0].p50, ex[1].cpu_mean / ex[0].cpu_mean);

    double load1 = loadavg();
    double others =
        (machine_busy_s() - busy0 - (self_cpu_s() - self0)) * 1e9 / (double)(now_ns() - wall0);
    if (busy0 < 0 || self0 < 0) {
        others = -1;
    }
    json_row(&rep,
             "{\"name\": \"machine\", \"cpus\": %ld, \"loadavg_start\": %.2f, "
             "\"loadavg_end\": %.2f, \"other_cpus\": %.2f, \"clock_read_ns\": %.1f, "
             "\"openssl\": \"%s\", "
             "\"libmtlsauthz\": \"%s\"}",
             ncpu, load0, load1, others, clock_ns, OpenSSL_version(OPENSSL_VERSION),
             mtlsauthz_version());
    printf("\nother processes used %.2f of the %ld CPUs on average during the run (load average "
           "%.2f at the start, %.2f at the end)%s\n",
           others, ncpu, load0, load1,
           others > 0.2 ? ": the machine was busy, so the wall-clock times are suspect" : "");
    report_write(&rep, out);
    printf("\nwrote %s\n", out);
    free(rep.json);
    workload_free(&keep);
    factory_free(&cf);
    return 0;
}
