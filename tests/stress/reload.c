/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Thread safety under reload (include/mtlsauthz/policy.h; `make check-tsan` runs this under
 * ThreadSanitizer).
 *
 * Reader threads decide in a loop, through both mtlsauthz_policy_decide() and a peer reused
 * for several mtlsauthz_peer_decide() calls, while a writer thread loads a new policy from
 * YAML, swaps the shared pointer and drops its reference on the old one, over and over. The
 * writer alternates two policies that answer a fixed set of operations differently; the
 * answers of both are computed once before the threads start. Every decision a reader makes
 * must be exactly the answer of the policy it holds (told apart by rule count), so a torn
 * read, a use-after-free or a decision made half on the old and half on the new policy fails
 * here even without a sanitizer.
 *
 * The swap follows include/mtlsauthz/policy.h: readers take their own reference
 * (mtlsauthz_policy_ref) before use. Loading the pointer and taking the reference must be one
 * step with respect to the swap, or the writer could drop the last reference between the two
 * (use-after-free); an atomic pointer alone does not give that, so readers take the reference
 * under the read side of a rwlock and the writer swaps under the write side. Neither side
 * holds the lock while deciding or loading.
 *
 *   reload CERTDIR        (MTLSAUTHZ_STRESS_SECONDS, default 3; MTLSAUTHZ_STRESS_READERS, 3)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "stress.h"

static const char policy_a[] = "version: 1\n"
                               "principals:\n"
                               "  - name: tenant\n"
                               "    spiffe: [\"spiffe://prod.example.com/tenant/{tenant}/*\"]\n"
                               "rules:\n"
                               "  - id: tenant-read\n"
                               "    effect: allow\n"
                               "    principals: [tenant]\n"
                               "    operations: [\"GET /t/{tenant}/**\"]\n"
                               "  - id: health\n"
                               "    effect: allow\n"
                               "    principals: [\"*\"]\n"
                               "    operations: [\"GET /healthz\"]\n";

/* B: tenants may also write; health is closed by a deny rule. One more rule than A. */
static const char policy_b[] = "version: 1\n"
                               "principals:\n"
                               "  - name: tenant\n"
                               "    spiffe: [\"spiffe://prod.example.com/tenant/{tenant}/*\"]\n"
                               "rules:\n"
                               "  - id: tenant-read\n"
                               "    effect: allow\n"
                               "    principals: [tenant]\n"
                               "    operations: [\"GET /t/{tenant}/**\"]\n"
                               "  - id: tenant-write\n"
                               "    effect: allow\n"
                               "    principals: [tenant]\n"
                               "    operations: [\"POST /t/{tenant}/**\"]\n"
                               "  - id: no-health\n"
                               "    effect: deny\n"
                               "    principals: [tenant]\n"
                               "    operations: [\"GET /healthz\", \"GET /t/{tenant}/secret\"]\n";

#define NOPS 5
static const char *const ops[NOPS] = {"GET /t/acme/x", "GET /t/globex/x", "GET /healthz",
                                      "POST /t/acme/x", "GET /t/acme/secret"};

typedef struct answer {
    int allowed;
    mtlsauthz_reason reason;
    const char *rule; /* NULL: none */
} answer;

/* What each policy must answer for tenant-acme (spiffe://prod.example.com/tenant/acme/api).
 * Checked against a single-threaded run first, so the table itself is tested. */
static const answer want[2][NOPS] = {
    {
        {1, MTLSAUTHZ_REASON_ALLOWED, "tenant-read"},
        {0, MTLSAUTHZ_REASON_NO_MATCH, NULL},
        {1, MTLSAUTHZ_REASON_ALLOWED, "health"},
        {0, MTLSAUTHZ_REASON_NO_MATCH, NULL},
        {1, MTLSAUTHZ_REASON_ALLOWED, "tenant-read"},
    },
    {
        {1, MTLSAUTHZ_REASON_ALLOWED, "tenant-read"},
        {0, MTLSAUTHZ_REASON_NO_MATCH, NULL},
        {0, MTLSAUTHZ_REASON_DENIED, "no-health"},
        {1, MTLSAUTHZ_REASON_ALLOWED, "tenant-write"},
        {0, MTLSAUTHZ_REASON_DENIED, "no-health"},
    },
};
static const size_t rule_counts[2] = {2, 3};

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static mtlsauthz_policy *current; /* guarded by lock */
static mtlsauthz_identity *ident; /* immutable, shared by every reader */
static atomic_int stop;
static atomic_long decisions;
static atomic_long reloads;

static void check(const mtlsauthz_decision *d, int rc, int which, size_t op, const char *how)
{
    const answer *w = &want[which][op];
    if (rc != 0) {
        st_die("%s '%s' on policy %c returned %s", how, ops[op], 'A' + which,
               mtlsauthz_errname(rc));
    }
    if (d->allowed != w->allowed || d->reason != w->reason ||
        (w->rule == NULL) != (d->rule == NULL) ||
        (w->rule != NULL && strcmp(w->rule, d->rule) != 0)) {
        st_die("%s '%s' on policy %c: got %s/%s/%s, want %s/%s/%s", how, ops[op], 'A' + which,
               d->allowed ? "allow" : "deny", mtlsauthz_reason_string(d->reason),
               d->rule ? d->rule : "-", w->allowed ? "allow" : "deny",
               mtlsauthz_reason_string(w->reason), w->rule ? w->rule : "-");
    }
}

/* Which of A (0) and B (1) `p` is; dies for anything else. */
static int which_policy(const mtlsauthz_policy *p)
{
    size_t n = mtlsauthz_policy_rule_count(p);
    if (n == rule_counts[0]) {
        return 0;
    }
    if (n == rule_counts[1]) {
        return 1;
    }
    st_die("reader holds a policy with %zu rules (freed or torn?)", n);
}

static mtlsauthz_policy *acquire(void)
{
    mtlsauthz_policy *p;
    pthread_rwlock_rdlock(&lock);
    p = mtlsauthz_policy_ref(current);
    pthread_rwlock_unlock(&lock);
    return p;
}

static void *reader(void *arg)
{
    unsigned long iter = (unsigned long)(size_t)arg;
    while (!atomic_load(&stop)) {
        mtlsauthz_policy *p = acquire();
        int which = which_policy(p);
        mtlsauthz_decision d;
        mtlsauthz_error err;
        size_t op;
        long n = 0;
        int rc;

        if (iter++ % 2 == 0) {
            for (op = 0; op < NOPS; op++) {
                rc = mtlsauthz_policy_decide(&d, p, ident, ops[op], strlen(ops[op]), &err);
                check(&d, rc, which, op, "policy_decide");
                n++;
            }
        } else {
            /* A connection: one peer, many requests, spanning several reloads. */
            mtlsauthz_peer *peer = NULL;
            int round;
            if ((rc = mtlsauthz_peer_new(&peer, p, ident, &err)) != 0) {
                st_die("peer_new: %s", err.message);
            }
            for (round = 0; round < 50; round++) {
                for (op = 0; op < NOPS; op++) {
                    rc = mtlsauthz_peer_decide(&d, peer, ops[op], strlen(ops[op]), &err);
                    check(&d, rc, which, op, "peer_decide");
                    n++;
                }
            }
            if (mtlsauthz_peer_policy(peer) != p) {
                st_die("peer_policy is not the policy the peer was made with");
            }
            mtlsauthz_peer_free(peer);
        }
        mtlsauthz_policy_free(p);
        atomic_fetch_add(&decisions, n);
    }
    return NULL;
}

static void *writer(void *arg)
{
    unsigned long i = 0;
    (void)arg;
    while (!atomic_load(&stop)) {
        const char *yaml = (i++ % 2 == 0) ? policy_b : policy_a;
        mtlsauthz_policy *fresh = NULL, *old;
        mtlsauthz_error err;
        if (mtlsauthz_policy_load(&fresh, yaml, strlen(yaml), &err) != 0) {
            st_die("reload: %s", err.message);
        }
        pthread_rwlock_wrlock(&lock);
        old = current;
        current = fresh;
        pthread_rwlock_unlock(&lock);
        mtlsauthz_policy_free(old);
        atomic_fetch_add(&reloads, 1);
    }
    return NULL;
}

static long env_long(const char *name, long def, long min, long max)
{
    const char *v = getenv(name);
    char *end;
    long n;
    if (v == NULL || *v == '\0') {
        return def;
    }
    n = strtol(v, &end, 10);
    if (*end != '\0' || n < min || n > max) {
        st_die("%s must be an integer in [%ld, %ld]", name, min, max);
    }
    return n;
}

int main(int argc, char **argv)
{
    long seconds = env_long("MTLSAUTHZ_STRESS_SECONDS", 3, 1, 3600);
    long nreaders = env_long("MTLSAUTHZ_STRESS_READERS", 3, 2, 64);
    pthread_t threads[65];
    mtlsauthz_error err;
    struct timespec ts;
    char *pem;
    size_t len, op;
    long t;
    int w;

    if (argc != 2) {
        fprintf(stderr, "usage: %s CERTDIR\n", argv[0]);
        return 2;
    }
    pem = st_read(argv[1], "tenant-acme.pem", &len);
    if (mtlsauthz_identity_from_pem(&ident, pem, len, &err) != 0) {
        st_die("tenant-acme.pem: %s", err.message);
    }
    free(pem);

    /* The answer table is right for both policies, single-threaded. */
    for (w = 0; w < 2; w++) {
        const char *yaml = w == 0 ? policy_a : policy_b;
        mtlsauthz_policy *p = NULL;
        if (mtlsauthz_policy_load(&p, yaml, strlen(yaml), &err) != 0) {
            st_die("policy %c: %s", 'A' + w, err.message);
        }
        if (which_policy(p) != w) {
            st_die("policy %c has the wrong rule count", 'A' + w);
        }
        for (op = 0; op < NOPS; op++) {
            mtlsauthz_decision d;
            int rc = mtlsauthz_policy_decide(&d, p, ident, ops[op], strlen(ops[op]), &err);
            check(&d, rc, w, op, "baseline");
        }
        if (w == 0) {
            current = p;
        } else {
            mtlsauthz_policy_free(p);
        }
    }

    if (pthread_create(&threads[0], NULL, writer, NULL) != 0) {
        st_die("pthread_create");
    }
    for (t = 1; t <= nreaders; t++) {
        if (pthread_create(&threads[t], NULL, reader, (void *)(size_t)t) != 0) {
            st_die("pthread_create");
        }
    }
    ts.tv_sec = seconds;
    ts.tv_nsec = 0;
    while (nanosleep(&ts, &ts) != 0) {
    }
    atomic_store(&stop, 1);
    for (t = 0; t <= nreaders; t++) {
        pthread_join(threads[t], NULL);
    }

    mtlsauthz_policy_free(current);
    mtlsauthz_identity_free(ident);
    /* A run too short to overlap reloads with decisions proves nothing. */
    if (atomic_load(&reloads) < 10 || atomic_load(&decisions) < 1000) {
        st_die("only %ld reloads and %ld decisions in %ld s", atomic_load(&reloads),
               atomic_load(&decisions), seconds);
    }
    printf("reload: %ld reader threads, %ld reloads, %ld decisions in %ld s, all correct\n",
           nreaders, atomic_load(&reloads), atomic_load(&decisions), seconds);
    return 0;
}
