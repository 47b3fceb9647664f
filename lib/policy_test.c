/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy tests (include/mtlsauthz/policy_test.h; docs/policy.md, "Policy tests"): a test file
 * read by the YAML front end (policy_ast.h), its inline identities built (identity_inline.h),
 * and each case decided through the public API and judged against what it expects. The
 * loader lives in the library on purpose: `mtlsauthz test`, the bindings and a service's own
 * test suite read a test file the same way, and run its cases the same way.
 *
 * Off the request path: a case reads certificate files, decides through a new peer and
 * explains a failure, all of which allocate.
 */
#include <stdio.h>
#include <string.h>

#include "identity_inline.h"
#include "policy_ast.h"

struct mtlsauthz_policy_test {
    mtlsauthz__test_cases *tcs;
    mtlsauthz_identity **ids; /* per case: its inline identity, or NULL for a `cert` case */
    char *dir; /* what certificate paths are relative to by default; NULL: as written */
};

struct mtlsauthz_policy_test_result {
    char *name;
    unsigned line;
    char *request;        /* NULL for an `op` case */
    char *operation;      /* NULL: none decided */
    const char *expected; /* static */
    const char *got;      /* static: "allow", "deny", "error", or NULL (the case could not run) */
    int passed;
    char *rule; /* NULL: no decision, or no deciding rule */
    const char *reason;
    size_t dry_run_count;
    char *dry_run[MTLSAUTHZ_DECISION_DRY_RUN_MAX];
    char *error;
    char *failure;
    char *explanation;
};

struct mtlsauthz_policy_test_results {
    mtlsauthz_policy_test_result *cases;
    size_t n;
    size_t passed;
};

static const char *const expect_names[] = {
    [MTLSAUTHZ__EXPECT_DENY] = "deny",
    [MTLSAUTHZ__EXPECT_ALLOW] = "allow",
    [MTLSAUTHZ__EXPECT_ERROR] = "error",
};

/* ---- loading ---- */

void mtlsauthz_policy_test_free(mtlsauthz_policy_test *tests)
{
    if (tests == NULL) {
        return;
    }
    for (unsigned i = 0; tests->ids != NULL && i < tests->tcs->ncases; i++) {
        mtlsauthz_identity_free(tests->ids[i]);
    }
    mtlsauthz__free(tests->ids);
    mtlsauthz__test_cases_free(tests->tcs);
    mtlsauthz__free(tests->dir);
    mtlsauthz__free(tests);
}

/* The inline identity of case i, built as its certificate would be. A value no certificate can
 * carry is an error of the test file, at the case. */
static int build_inline(mtlsauthz_identity **out, const mtlsauthz__test_cases *tcs, unsigned i,
                        mtlsauthz_error *err)
{
    const mtlsauthz__test_identity *ti = tcs->cases[i].identity;
    const mtlsauthz__strv *lists[] = {&ti->cn,  &ti->o,     &ti->ou, &ti->dns,
                                      &ti->uri, &ti->email, &ti->ip, &ti->eku};
    mtlsauthz__inline_identity in = {0};
    mtlsauthz__inline_list *dst[] = {&in.cn,  &in.o,     &in.ou, &in.dns,
                                     &in.uri, &in.email, &in.ip, &in.eku};
    mtlsauthz__str *vals, spiffe, serial, sha256;
    mtlsauthz_error why = {0};
    size_t total = 0, at = 0;
    int rc;

    for (size_t k = 0; k < MTLSAUTHZ__ARRAY_LEN(lists); k++) {
        total += lists[k]->n;
    }
    vals = mtlsauthz__calloc(total + 1, sizeof(*vals));
    if (vals == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
    }
    for (size_t k = 0; k < MTLSAUTHZ__ARRAY_LEN(lists); k++) {
        dst[k]->v = vals + at;
        dst[k]->n = lists[k]->n;
        for (unsigned v = 0; v < lists[k]->n; v++) {
            vals[at].ptr = lists[k]->v[v];
            vals[at++].len = strlen(lists[k]->v[v]);
        }
    }
    if (ti->spiffe != NULL) {
        spiffe = (mtlsauthz__str){ti->spiffe, strlen(ti->spiffe)};
        in.spiffe = (mtlsauthz__inline_list){&spiffe, 1};
    }
    if (ti->serial != NULL) {
        serial = (mtlsauthz__str){ti->serial, strlen(ti->serial)};
        in.serial = (mtlsauthz__inline_list){&serial, 1};
    }
    if (ti->sha256 != NULL) {
        sha256 = (mtlsauthz__str){ti->sha256, strlen(ti->sha256)};
        in.sha256 = (mtlsauthz__inline_list){&sha256, 1};
    }
    rc = mtlsauthz__identity_from_inline(out, &in, &why);
    mtlsauthz__free(vals);
    if (rc == MTLSAUTHZ_ENOMEM) {
        return mtlsauthz__error_set(err, rc, "out of memory");
    }
    if (rc != 0) {
        return mtlsauthz__test_case_fail(tcs, i, rc, why.message, err);
    }
    return 0;
}

/* Parses the cases and builds every inline identity before any case can run: a bad value far
 * down makes the whole file invalid. The message is bare, the position in err->line and
 * err->column. */
static int load_buffer(mtlsauthz_policy_test **out, const char *yaml, size_t len,
                       mtlsauthz_error *err)
{
    mtlsauthz_policy_test *t;
    int rc;

    if (len > MTLSAUTHZ__POLICY_MAX_BYTES) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT,
                                    "test file of %zu bytes exceeds the limit of %u bytes", len,
                                    MTLSAUTHZ__POLICY_MAX_BYTES);
    }
    t = mtlsauthz__calloc(1, sizeof(*t));
    if (t == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
    }
    if ((rc = mtlsauthz__test_cases_load(&t->tcs, yaml, len, err)) != 0) {
        goto fail;
    }
    t->ids = mtlsauthz__calloc(t->tcs->ncases, sizeof(*t->ids));
    if (t->ids == NULL) {
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
        goto fail;
    }
    for (unsigned i = 0; i < t->tcs->ncases; i++) {
        if (t->tcs->cases[i].identity != NULL &&
            (rc = build_inline(&t->ids[i], t->tcs, i, err)) != 0) {
            goto fail;
        }
    }
    *out = t;
    return 0;
fail:
    mtlsauthz_policy_test_free(t);
    return rc;
}

int mtlsauthz_policy_test_load(mtlsauthz_policy_test **out, const char *yaml, size_t len,
                               mtlsauthz_error *err)
{
    int rc;

    if (out == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "policy_test_load: out is NULL");
    }
    *out = NULL;
    if (yaml == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "policy_test_load: no YAML given");
    }
    rc = load_buffer(out, yaml, len, err);
    if (rc < 0) {
        mtlsauthz__error_locate(err, NULL);
    }
    return rc;
}

/* The directory part of `path`: "." when there is none, "/" for a file in the root. */
static char *dirname_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        return mtlsauthz__memdup0(".", 1);
    }
    return mtlsauthz__memdup0(path, slash == path ? 1 : (size_t)(slash - path));
}

int mtlsauthz_policy_test_load_file(mtlsauthz_policy_test **out, const char *path,
                                    mtlsauthz_error *err)
{
    char *data = NULL;
    char *dir;
    size_t len = 0;
    int rc;

    if (out == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "policy_test_load_file: out is NULL");
    }
    *out = NULL;
    if (path == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "policy_test_load_file: no path given");
    }
    /* read_file's messages already start with the path. */
    rc = mtlsauthz__read_file(&data, &len, path, MTLSAUTHZ__POLICY_MAX_BYTES, err);
    if (rc < 0) {
        return rc;
    }
    rc = load_buffer(out, data, len, err);
    mtlsauthz__free(data);
    if (rc == 0) {
        dir = dirname_of(path);
        if (dir == NULL) {
            mtlsauthz_policy_test_free(*out);
            *out = NULL;
            rc = mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
        } else {
            (*out)->dir = dir;
        }
    }
    if (rc < 0) {
        mtlsauthz__error_locate(err, path);
    }
    return rc;
}

size_t mtlsauthz_policy_test_count(const mtlsauthz_policy_test *tests)
{
    return tests != NULL ? tests->tcs->ncases : 0;
}

/* ---- running ---- */

/* What a case did, while it runs; copied into its result once it is judged. */
typedef struct outcome {
    const char *got;
    int pass;
    int decided;          /* d holds a decision */
    mtlsauthz_decision d; /* its rule ids are borrowed from the policy */
    const char *op;       /* the operation decided (NULL if none): the case's `op`, or op_buf */
    size_t op_len;
    char op_buf[MTLSAUTHZ_HTTP_OPERATION_MAX];
    char error[2 * MTLSAUTHZ_ERROR_MESSAGE_SIZE];   /* why there is no decision ("" if there is) */
    char failure[3 * MTLSAUTHZ_ERROR_MESSAGE_SIZE]; /* why the case failed ("" if it passed) */
    char *explanation;                              /* library string, or NULL */
} outcome;

static size_t dry_run_named(const mtlsauthz_decision *d)
{
    return d->dry_run_count < MTLSAUTHZ_DECISION_DRY_RUN_MAX ? d->dry_run_count
                                                             : MTLSAUTHZ_DECISION_DRY_RUN_MAX;
}

/* Appends "a, b" (or "none"), and " and N more" when `total` exceeds the `n` named. */
static void append_ids(char *dst, size_t cap, const char *const *ids, size_t n, size_t total)
{
    size_t len = strlen(dst);
    if (n == 0) {
        snprintf(dst + len, cap - len, "none");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        len = strlen(dst);
        snprintf(dst + len, cap - len, "%s%s", i > 0 ? ", " : "", ids[i]);
    }
    if (total > n) {
        len = strlen(dst);
        snprintf(dst + len, cap - len, " and %zu more", total - n);
    }
}

/* Whether the dry-run rules that matched are exactly those the case lists (as a set). */
static int dry_run_agrees(const mtlsauthz__strv *want, const mtlsauthz_decision *d)
{
    if (d->dry_run_count != want->n) {
        return 0;
    }
    for (size_t i = 0; i < dry_run_named(d); i++) {
        unsigned j;
        for (j = 0; j < want->n && strcmp(want->v[j], d->dry_run[i]) != 0; j++) {
        }
        if (j == want->n) {
            return 0;
        }
    }
    /* The loader refuses duplicates and more than the decision names, so equal counts and
     * inclusion make the sets equal. */
    return 1;
}

/* The operation the case decides: `op` as written, or `request` as the bindings build it.
 * Returns -1 (and fills o->error) when the request is refused. */
static int case_operation(outcome *o, const mtlsauthz__test_case *tc)
{
    mtlsauthz_error err = {0};
    const char *sp;
    if (tc->op != NULL) {
        o->op = tc->op;
        o->op_len = strlen(tc->op);
        return 0;
    }
    sp = strchr(tc->request, ' '); /* the loader checked the form */
    if (mtlsauthz_http_operation(o->op_buf, sizeof(o->op_buf), &o->op_len, tc->request,
                                 (size_t)(sp - tc->request), sp + 1, strlen(sp + 1), &err) != 0) {
        snprintf(o->error, sizeof(o->error), "%s", err.message);
        return -1;
    }
    o->op = o->op_buf;
    return 0;
}

/* `name` relative to `base` (NULL: as written) unless it is absolute. */
static char *resolve(const char *base, const char *name)
{
    size_t blen, nlen = strlen(name);
    char *p;
    if (base == NULL || name[0] == '/') {
        return mtlsauthz__memdup0(name, nlen);
    }
    blen = strlen(base);
    if (blen > SIZE_MAX - nlen - 2 || (p = mtlsauthz__malloc(blen + nlen + 2)) == NULL) {
        return NULL;
    }
    memcpy(p, base, blen);
    p[blen] = '/';
    memcpy(p + blen + 1, name, nlen + 1);
    return p;
}

/* The identity of a `cert` case, read from its files. Returns ENOMEM (the run fails), or 0
 * with *id set or o->failure saying why the case could not run. */
static int case_identity(mtlsauthz_identity **id, outcome *o, const mtlsauthz__test_case *tc,
                         const char *base, mtlsauthz_error *err)
{
    char *cert = resolve(base, tc->cert);
    char *chain = tc->chain != NULL ? resolve(base, tc->chain) : NULL;
    mtlsauthz_error why = {0};
    int rc = 0;

    *id = NULL;
    if (cert == NULL || (tc->chain != NULL && chain == NULL)) {
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
    } else if ((rc = mtlsauthz_identity_from_file(id, cert, chain, &why)) == MTLSAUTHZ_ENOMEM) {
        mtlsauthz__error_set(err, rc, "%s", why.message);
    } else if (rc != 0) {
        /* The case's own failure: the message names the file. */
        snprintf(o->error, sizeof(o->error), "%s", why.message);
        snprintf(o->failure, sizeof(o->failure), "cannot use the certificate: %s", o->error);
        rc = 0;
    }
    mtlsauthz__free(cert);
    mtlsauthz__free(chain);
    return rc;
}

/* Decides case `i` and judges it into `o`. Only running out of memory fails the run: whatever
 * else goes wrong is the case's. */
static int run_case(outcome *o, const mtlsauthz_policy_test *t, unsigned i,
                    mtlsauthz_policy *policy, const char *base, mtlsauthz_error *err)
{
    const mtlsauthz__test_case *tc = &t->tcs->cases[i];
    mtlsauthz_identity *owned = NULL;
    const mtlsauthz_identity *id = t->ids[i];
    mtlsauthz_error why = {0};
    int rc;

    memset(o, 0, sizeof(*o));
    if (id == NULL) {
        if ((rc = case_identity(&owned, o, tc, base, err)) != 0 || owned == NULL) {
            return rc;
        }
        id = owned;
    }
    o->got = "error";
    if (case_operation(o, tc) == 0) {
        rc = mtlsauthz_policy_decide(&o->d, policy, id, o->op, o->op_len, &why);
        if (rc == MTLSAUTHZ_ENOMEM) {
            /* Not the case's outcome: an `expect: error` case must not pass on it. */
            mtlsauthz__error_set(err, rc, "%s", why.message);
            goto out;
        }
        if (rc != 0) {
            /* No decision: a deny wherever the library is used, and `error` here. */
            snprintf(o->error, sizeof(o->error), "%s", why.message);
        } else {
            o->decided = 1;
            o->got = o->d.allowed ? "allow" : "deny";
        }
    }

    if (tc->expect == MTLSAUTHZ__EXPECT_ERROR) {
        o->pass = !o->decided;
        if (!o->pass) {
            snprintf(o->failure, sizeof(o->failure),
                     "expected error, got %s (reason %s, rule %s): operation '%.*s' was decided",
                     o->got, mtlsauthz_reason_string(o->d.reason),
                     o->d.rule != NULL ? o->d.rule : "none",
                     (int)(o->op_len < 200 ? o->op_len : 200), o->op);
        }
    } else if (!o->decided) {
        snprintf(o->failure, sizeof(o->failure), "expected %s, got error (%s)",
                 expect_names[tc->expect], o->error);
    } else if ((o->d.allowed != 0) != (tc->expect == MTLSAUTHZ__EXPECT_ALLOW)) {
        snprintf(o->failure, sizeof(o->failure), "expected %s, got %s (reason %s, rule %s)",
                 expect_names[tc->expect], o->got, mtlsauthz_reason_string(o->d.reason),
                 o->d.rule != NULL ? o->d.rule : "none");
    } else if (tc->rule != NULL && (o->d.rule == NULL || strcmp(tc->rule, o->d.rule) != 0)) {
        snprintf(o->failure, sizeof(o->failure), "%s as expected, but by rule %s, not %s",
                 o->d.allowed ? "allowed" : "denied", o->d.rule != NULL ? o->d.rule : "none",
                 tc->rule);
    } else if (tc->dry_run.n > 0 && !dry_run_agrees(&tc->dry_run, &o->d)) {
        snprintf(o->failure, sizeof(o->failure), "%s as expected, but dry-run matched ",
                 o->d.allowed ? "allowed" : "denied");
        append_ids(o->failure, sizeof(o->failure), o->d.dry_run, dry_run_named(&o->d),
                   o->d.dry_run_count);
        snprintf(o->failure + strlen(o->failure), sizeof(o->failure) - strlen(o->failure),
                 ", not ");
        append_ids(o->failure, sizeof(o->failure), (const char *const *)tc->dry_run.v,
                   tc->dry_run.n, tc->dry_run.n);
    } else {
        o->pass = 1;
    }
    rc = 0;
    if (!o->pass && o->decided) {
        /* What `check --explain` prints for the same identity and operation. Without it the
         * failure still says what happened, so only running out of memory is the run's. */
        rc = mtlsauthz_policy_explain(&o->explanation, NULL, policy, id, o->op, o->op_len, &why);
        if (rc == MTLSAUTHZ_ENOMEM) {
            mtlsauthz__error_set(err, rc, "%s", why.message);
        } else {
            rc = 0;
        }
    }
out:
    mtlsauthz_identity_free(owned);
    return rc;
}

static void result_free(mtlsauthz_policy_test_result *r)
{
    mtlsauthz__free(r->name);
    mtlsauthz__free(r->request);
    mtlsauthz__free(r->operation);
    mtlsauthz__free(r->rule);
    for (size_t i = 0; i < MTLSAUTHZ_DECISION_DRY_RUN_MAX; i++) {
        mtlsauthz__free(r->dry_run[i]);
    }
    mtlsauthz__free(r->error);
    mtlsauthz__free(r->failure);
    mtlsauthz__free(r->explanation);
}

/* A copy of `s`, or of nothing: *dst stays NULL for a NULL `s`. Returns -1 when out of
 * memory. */
static int dup_into(char **dst, const char *s, size_t len)
{
    if (s == NULL) {
        return 0;
    }
    *dst = mtlsauthz__memdup0(s, len);
    return *dst != NULL ? 0 : -1;
}

static int dup_str(char **dst, const char *s)
{
    return dup_into(dst, s, s != NULL ? strlen(s) : 0);
}

/* Copies the outcome of case `tc` into `r`, which owns what it holds. */
static int keep(mtlsauthz_policy_test_result *r, const mtlsauthz__test_case *tc, const outcome *o,
                mtlsauthz_error *err)
{
    const char *name = tc->name != NULL ? tc->name : tc->op != NULL ? tc->op : tc->request;
    int bad = 0;

    r->line = (unsigned)tc->where.line;
    r->expected = expect_names[tc->expect];
    r->got = o->got;
    r->passed = o->pass;
    bad |= dup_str(&r->name, name);
    bad |= dup_str(&r->request, tc->request);
    bad |= dup_into(&r->operation, o->op, o->op_len);
    if (o->decided) {
        r->reason = mtlsauthz_reason_string(o->d.reason);
        r->dry_run_count = o->d.dry_run_count;
        bad |= dup_str(&r->rule, o->d.rule);
        for (size_t i = 0; i < dry_run_named(&o->d); i++) {
            bad |= dup_str(&r->dry_run[i], o->d.dry_run[i]);
        }
    }
    bad |= dup_str(&r->error, o->error[0] != '\0' ? o->error : NULL);
    bad |= dup_str(&r->failure, o->pass ? NULL : o->failure);
    bad |= dup_str(&r->explanation, o->explanation);
    return bad ? mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory") : 0;
}

void mtlsauthz_policy_test_results_free(mtlsauthz_policy_test_results *results)
{
    if (results == NULL) {
        return;
    }
    for (size_t i = 0; i < results->n; i++) {
        result_free(&results->cases[i]);
    }
    mtlsauthz__free(results->cases);
    mtlsauthz__free(results);
}

int mtlsauthz_policy_test_run(mtlsauthz_policy_test_results **out,
                              const mtlsauthz_policy_test *tests, mtlsauthz_policy *policy,
                              const char *cert_dir, mtlsauthz_error *err)
{
    mtlsauthz_policy_test_results *r;
    const char *base;
    int rc = 0;

    if (out == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "policy_test_run: out is NULL");
    }
    *out = NULL;
    if (tests == NULL || policy == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL,
                                    "policy_test_run: no test file or no policy given");
    }
    base = cert_dir != NULL ? cert_dir : tests->dir;
    r = mtlsauthz__calloc(1, sizeof(*r));
    if (r == NULL ||
        (r->cases = mtlsauthz__calloc(tests->tcs->ncases, sizeof(*r->cases))) == NULL) {
        mtlsauthz__free(r);
        return mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
    }
    for (unsigned i = 0; i < tests->tcs->ncases; i++) {
        outcome o;
        rc = run_case(&o, tests, i, policy, base, err);
        if (rc == 0) {
            r->n++; /* from here on the result is freed with the others */
            rc = keep(&r->cases[i], &tests->tcs->cases[i], &o, err);
        }
        mtlsauthz_string_free(o.explanation);
        if (rc != 0) {
            mtlsauthz_policy_test_results_free(r);
            return rc;
        }
        r->passed += (size_t)o.pass;
    }
    *out = r;
    return 0;
}

size_t mtlsauthz_policy_test_results_count(const mtlsauthz_policy_test_results *results)
{
    return results != NULL ? results->n : 0;
}

size_t mtlsauthz_policy_test_results_passed(const mtlsauthz_policy_test_results *results)
{
    return results != NULL ? results->passed : 0;
}

const mtlsauthz_policy_test_result *
mtlsauthz_policy_test_results_get(const mtlsauthz_policy_test_results *results, size_t index)
{
    return results != NULL && index < results->n ? &results->cases[index] : NULL;
}

/* ---- a case's result ---- */

const char *mtlsauthz_policy_test_result_name(const mtlsauthz_policy_test_result *result)
{
    return result != NULL ? result->name : NULL;
}

unsigned int mtlsauthz_policy_test_result_line(const mtlsauthz_policy_test_result *result)
{
    return result != NULL ? result->line : 0;
}

const char *mtlsauthz_policy_test_result_request(const mtlsauthz_policy_test_result *result)
{
    return result != NULL ? result->request : NULL;
}

const char *mtlsauthz_policy_test_result_operation(const mtlsauthz_policy_test_result *result)
{
    return result != NULL ? result->operation : NULL;
}

const char *mtlsauthz_policy_test_result_expected(const mtlsauthz_policy_test_result *result)
{
    return result != NULL ? result->expected : NULL;
}

const char *mtlsauthz_policy_test_result_got(const mtlsauthz_policy_test_result *result)
{
    return result != NULL ? result->got : NULL;
}

int mtlsauthz_policy_test_result_passed(const mtlsauthz_policy_test_result *result)
{
    return result != NULL && result->passed;
}

const char *mtlsauthz_policy_test_result_rule(const mtlsauthz_policy_test_result *result)
{
    return result != NULL ? result->rule : NULL;
}

const char *mtlsauthz_policy_test_result_reason(const mtlsauthz_policy_test_result *result)
{
    return result != NULL ? result->reason : NULL;
}

size_t mtlsauthz_policy_test_result_dry_run_count(const mtlsauthz_policy_test_result *result)
{
    return result != NULL ? result->dry_run_count : 0;
}

const char *mtlsauthz_policy_test_result_dry_run(const mtlsauthz_policy_test_result *result,
                                                 size_t index)
{
    if (result == NULL || index >= result->dry_run_count ||
        index >= MTLSAUTHZ_DECISION_DRY_RUN_MAX) {
        return NULL;
    }
    return result->dry_run[index];
}

const char *mtlsauthz_policy_test_result_error(const mtlsauthz_policy_test_result *result)
{
    return result != NULL ? result->error : NULL;
}

const char *mtlsauthz_policy_test_result_failure(const mtlsauthz_policy_test_result *result)
{
    return result != NULL ? result->failure : NULL;
}

const char *mtlsauthz_policy_test_result_explanation(const mtlsauthz_policy_test_result *result)
{
    return result != NULL ? result->explanation : NULL;
}
