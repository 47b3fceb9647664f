/*
 * mtlsauthz test [--certs DIR] [--format text|json] POLICY TESTS.yaml: policy unit tests for
 * the user's own CI (docs/policy.md, "Policy tests"). Exit 0 when every case passes, 1 when
 * any fails (a certificate that cannot be read fails its case), 2 on an error: an unreadable
 * policy or test file, or a test file that is not valid (an inline identity no certificate
 * could carry is one).
 */
#include <limits.h>
#include <string.h>

#include "cli.h"
#include "identity_inline.h"
#include "json.h"
#include "policy_ast.h"

#define TEST_USAGE "usage: mtlsauthz " CLI_USAGE_TEST
#define TEST_HELP                                                                                  \
    TEST_USAGE "\n"                                                                                \
               "Runs the cases in TESTS.yaml against POLICY (docs/policy.md, \"Policy tests\").\n" \
               "  --certs DIR         where cert and chain paths are relative to (default:\n"      \
               "                      the directory of TESTS.yaml)\n"                              \
               "  --format text|json  a PASS or FAIL line per case, a failure's explanation\n"     \
               "                      under it and a count (text, the default), or one JSON\n"     \
               "                      document\n"                                                  \
               "Exit status: 0 every case passed, 1 a case failed, 2 an error.\n"

static const char *const expect_names[] = {
    [MTLSAUTHZ__EXPECT_DENY] = "deny",
    [MTLSAUTHZ__EXPECT_ALLOW] = "allow",
    [MTLSAUTHZ__EXPECT_ERROR] = "error",
};

/* What one case did. */
typedef struct outcome {
    const char *got; /* "allow", "deny", "error" (no decision), or NULL (the case could not run) */
    int pass;
    int decided;          /* d holds a decision */
    mtlsauthz_decision d; /* borrowed rule ids live as long as the policy */
    const char *op;       /* the operation decided (NULL if none): the case's `op`, or op_buf */
    size_t op_len;
    char op_buf[MTLSAUTHZ_HTTP_OPERATION_MAX];
    char error[2 * MTLSAUTHZ_ERROR_MESSAGE_SIZE];   /* why there is no decision ("" if there is) */
    char failure[3 * MTLSAUTHZ_ERROR_MESSAGE_SIZE]; /* why the case failed ("" if it passed) */
    char *explanation; /* a failed decision, as check --explain prints it; or NULL */
} outcome;

/* Resolves `name` against `base` unless it is absolute. */
static int resolve(char *dst, size_t cap, const char *base, const char *name)
{
    int n =
        name[0] == '/' ? snprintf(dst, cap, "%s", name) : snprintf(dst, cap, "%s/%s", base, name);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* The directory part of `path` ("." when there is none). */
static void dirname_of(char *dst, size_t cap, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        snprintf(dst, cap, ".");
    } else if (slash == path) {
        snprintf(dst, cap, "/");
    } else {
        snprintf(dst, cap, "%.*s", (int)(slash - path), path);
    }
}

static const char *case_name(const mtlsauthz__test_case *tc)
{
    return tc->name != NULL ? tc->name : tc->op != NULL ? tc->op : tc->request;
}

static size_t dry_run_named(const mtlsauthz_decision *d)
{
    return d->dry_run_count < MTLSAUTHZ_DECISION_DRY_RUN_MAX ? d->dry_run_count
                                                             : MTLSAUTHZ_DECISION_DRY_RUN_MAX;
}

/* Appends "a, b" (or "none") for a list of ids. */
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

/* Decides the case and fills `o`. Never fails the run: whatever goes wrong is the case's. */
static void run_case(outcome *o, const mtlsauthz__test_case *tc, const mtlsauthz_identity *inl,
                     mtlsauthz_policy *policy, const char *base)
{
    char cert[PATH_MAX], chain[PATH_MAX];
    mtlsauthz_identity *owned = NULL;
    const mtlsauthz_identity *id = inl;
    mtlsauthz_error err = {0};

    memset(o, 0, sizeof(*o));
    if (id == NULL) {
        if (resolve(cert, sizeof(cert), base, tc->cert) != 0 ||
            (tc->chain != NULL && resolve(chain, sizeof(chain), base, tc->chain) != 0)) {
            snprintf(o->failure, sizeof(o->failure), "certificate path too long");
            return;
        }
        if (cli_read_identity(&owned, cert, tc->chain != NULL ? chain : NULL, o->error,
                              sizeof(o->error)) != 0) {
            snprintf(o->failure, sizeof(o->failure), "cannot use the certificate: %s", o->error);
            return;
        }
        id = owned;
    }
    o->got = "error";
    if (case_operation(o, tc) == 0) {
        if (mtlsauthz_policy_decide(&o->d, policy, id, o->op, o->op_len, &err) != 0) {
            /* No decision: a deny wherever the library is used, and `error` here. */
            snprintf(o->error, sizeof(o->error), "%s", err.message);
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
    if (!o->pass && o->decided) {
        /* What `check --explain` prints; without it the failure line still says what happened. */
        if (mtlsauthz_policy_explain(&o->explanation, NULL, policy, id, o->op, o->op_len, &err) !=
            0) {
            o->explanation = NULL;
        }
    }
    mtlsauthz_identity_free(owned);
}

/* "deny (denied by no-host; dry-run: watch-logs; operation 'GET /x')" and the like. */
static void print_detail(const mtlsauthz__test_case *tc, const outcome *o)
{
    if (!o->decided) {
        fputs("error (", stdout);
        cli_print_safe(stdout, o->error, strlen(o->error));
        fputs(")", stdout);
        return;
    }
    printf("%s (%s%s%s", o->got, mtlsauthz_reason_string(o->d.reason),
           o->d.rule != NULL ? " by " : "", o->d.rule != NULL ? o->d.rule : "");
    if (o->d.dry_run_count > 0) {
        char ids[MTLSAUTHZ_DECISION_DRY_RUN_MAX * (MTLSAUTHZ__NAME_MAX_LEN + 2) + 64] = "";
        append_ids(ids, sizeof(ids), o->d.dry_run, dry_run_named(&o->d), o->d.dry_run_count);
        printf("; dry-run: %s", ids);
    }
    if (tc->request != NULL) {
        fputs("; operation '", stdout);
        cli_print_safe(stdout, o->op, o->op_len);
        fputs("'", stdout);
    }
    fputs(")", stdout);
}

static void print_text(const mtlsauthz__test_case *tc, const outcome *o)
{
    const char *name = case_name(tc);
    fputs(o->pass ? "PASS " : "FAIL ", stdout);
    cli_print_safe(stdout, name, strlen(name));
    fputs(": ", stdout);
    if (o->pass) {
        print_detail(tc, o);
    } else {
        cli_print_safe(stdout, o->failure, strlen(o->failure));
    }
    fputc('\n', stdout);
    if (o->explanation != NULL) {
        /* Indented under its FAIL line, so a log reader sees whose it is. */
        const char *line = o->explanation;
        while (*line != '\0') {
            const char *nl = strchr(line, '\n');
            size_t n = nl != NULL ? (size_t)(nl - line) : strlen(line);
            fputs("    ", stdout);
            fwrite(line, 1, n, stdout);
            fputc('\n', stdout);
            line += n + (nl != NULL);
        }
    }
}

static void add_json(cli_json *j, const mtlsauthz__test_case *tc, const outcome *o)
{
    cli_json_object(j);
    cli_json_key(j, "name");
    cli_json_str(j, case_name(tc));
    cli_json_key(j, "operation");
    if (o->op != NULL) {
        cli_json_string(j, o->op, o->op_len);
    } else {
        cli_json_null(j);
    }
    cli_json_key(j, "expected");
    cli_json_str(j, expect_names[tc->expect]);
    cli_json_key(j, "got");
    cli_json_str(j, o->got);
    cli_json_key(j, "pass");
    cli_json_bool(j, o->pass);
    cli_json_key(j, "rule");
    cli_json_str(j, o->decided ? o->d.rule : NULL);
    cli_json_key(j, "reason");
    cli_json_str(j, o->decided ? mtlsauthz_reason_string(o->d.reason) : NULL);
    cli_json_key(j, "dry_run");
    cli_json_array(j);
    for (size_t i = 0; o->decided && i < dry_run_named(&o->d); i++) {
        cli_json_str(j, o->d.dry_run[i]);
    }
    cli_json_end(j);
    cli_json_key(j, "error");
    cli_json_str(j, o->error[0] != '\0' ? o->error : NULL);
    cli_json_key(j, "failure");
    cli_json_str(j, o->pass ? NULL : o->failure);
    /* A failed case always explains itself: the decision's account, or why there is none. */
    cli_json_key(j, "explanation");
    cli_json_str(j, o->pass ? NULL : o->explanation != NULL ? o->explanation : o->failure);
    cli_json_end(j);
}

/* Builds every inline identity before any case runs: a value no certificate can carry makes
 * the test file invalid (exit 2), however far down it is. */
static int build_inline(mtlsauthz_identity **ids, const mtlsauthz__test_cases *tcs,
                        const char *tests_path)
{
    for (unsigned i = 0; i < tcs->ncases; i++) {
        const mtlsauthz__test_case *tc = &tcs->cases[i];
        const mtlsauthz__test_identity *ti = tc->identity;
        mtlsauthz__inline_identity in = {0};
        mtlsauthz__str *vals, spiffe, serial, sha256;
        const mtlsauthz__strv *lists[] = {&ti->cn,  &ti->o,     &ti->ou, &ti->dns,
                                          &ti->uri, &ti->email, &ti->ip, &ti->eku};
        mtlsauthz__inline_list *dst[] = {&in.cn,  &in.o,     &in.ou, &in.dns,
                                         &in.uri, &in.email, &in.ip, &in.eku};
        mtlsauthz_error err = {0};
        size_t total = 0, at = 0;
        int rc;

        if (ti == NULL) {
            continue;
        }
        for (size_t k = 0; k < MTLSAUTHZ__ARRAY_LEN(lists); k++) {
            total += lists[k]->n;
        }
        vals = mtlsauthz__calloc(total + 1, sizeof(*vals));
        if (vals == NULL) {
            return cli_fail("out of memory");
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
        rc = mtlsauthz__identity_from_inline(&ids[i], &in, &err);
        mtlsauthz__free(vals);
        if (rc != 0) {
            /* One line, as the loader's messages: the name's control bytes become '?'. */
            char where[64] = "", name[70] = "";
            if (tc->where.line != 0) {
                snprintf(where, sizeof(where), " (line: %u, column: %u)", (unsigned)tc->where.line,
                         (unsigned)tc->where.column);
            }
            if (tc->name != NULL) {
                size_t n = 0;
                name[n++] = ' ';
                name[n++] = '\'';
                for (const char *c = tc->name; *c != '\0' && n < sizeof(name) - 2; c++) {
                    name[n++] = ((unsigned char)*c < 0x20 || *c == 0x7f) ? '?' : *c;
                }
                name[n++] = '\'';
                name[n] = '\0';
            }
            return cli_fail("%s: tests: case %u%s: %s%s", tests_path, i + 1, name, err.message,
                            where);
        }
    }
    return 0;
}

int cli_test(int argc, char **argv)
{
    const char *certs_dir = NULL, *format = "text", *policy_path = NULL, *tests_path = NULL;
    char base[PATH_MAX];
    char *text = NULL;
    size_t len = 0;
    mtlsauthz_error err = {0};
    mtlsauthz_policy *policy = NULL;
    mtlsauthz__test_cases *tcs = NULL;
    mtlsauthz_identity **ids = NULL;
    cli_json j;
    unsigned i, passed = 0, failed = 0;
    int rc = CLI_EXIT_ERROR, json, options_done = 0;

    cli_json_init(&j);
    for (int a = 1; a < argc; a++) {
        int got = 0;
        if (!options_done && cli_is_help(argv[a])) {
            fputs(TEST_HELP, stdout);
            return CLI_EXIT_OK;
        }
        if (!options_done && ((got = cli_option(&certs_dir, argc, argv, &a, "--certs")) != 0 ||
                              (got = cli_option(&format, argc, argv, &a, "--format")) != 0)) {
            if (got < 0) {
                return CLI_EXIT_ERROR;
            }
        } else if (!options_done && strcmp(argv[a], "--") == 0) {
            options_done = 1;
        } else if (!options_done && argv[a][0] == '-' && argv[a][1] != '\0') {
            return cli_fail("test: unknown option '%s'; " TEST_USAGE, argv[a]);
        } else if (policy_path == NULL) {
            policy_path = argv[a];
        } else if (tests_path == NULL) {
            tests_path = argv[a];
        } else {
            return cli_fail("test: more than POLICY and TESTS.yaml; " TEST_USAGE);
        }
    }
    if (tests_path == NULL) {
        return cli_fail("test: needs POLICY and TESTS.yaml; " TEST_USAGE);
    }
    if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0) {
        return cli_fail("test: --format must be text or json, not '%s'", format);
    }
    json = strcmp(format, "json") == 0;
    if (certs_dir != NULL) {
        snprintf(base, sizeof(base), "%s", certs_dir);
    } else {
        dirname_of(base, sizeof(base), tests_path);
    }

    if (cli_load_policy(&policy, policy_path) != 0) {
        return CLI_EXIT_ERROR; /* cli_load_policy printed the error */
    }
    if (mtlsauthz__read_file(&text, &len, tests_path, MTLSAUTHZ__POLICY_MAX_BYTES, &err) != 0 ||
        mtlsauthz__test_cases_load(&tcs, text, len, &err) != 0) {
        cli_report_error(tests_path, &err);
        rc = CLI_EXIT_ERROR;
        goto out;
    }
    ids = mtlsauthz__calloc(tcs->ncases, sizeof(*ids));
    if (ids == NULL) {
        rc = cli_fail("out of memory");
        goto out;
    }
    if (build_inline(ids, tcs, tests_path) != 0) {
        goto out;
    }
    if (json) {
        cli_json_object(&j);
        cli_json_key(&j, "policy");
        cli_json_str(&j, policy_path);
        cli_json_key(&j, "tests");
        cli_json_str(&j, tests_path);
        cli_json_key(&j, "cases");
        cli_json_array(&j);
    }
    for (i = 0; i < tcs->ncases; i++) {
        outcome o;
        run_case(&o, &tcs->cases[i], ids[i], policy, base);
        if (json) {
            add_json(&j, &tcs->cases[i], &o);
        } else {
            print_text(&tcs->cases[i], &o);
        }
        mtlsauthz_string_free(o.explanation);
        if (o.pass) {
            passed++;
        } else {
            failed++;
        }
    }
    if (json) {
        cli_json_end(&j);
        cli_json_key(&j, "totals");
        cli_json_object(&j);
        cli_json_key(&j, "cases");
        cli_json_uint(&j, tcs->ncases);
        cli_json_key(&j, "passed");
        cli_json_uint(&j, passed);
        cli_json_key(&j, "failed");
        cli_json_uint(&j, failed);
        cli_json_end(&j);
        cli_json_end(&j);
        if (cli_json_write(&j, stdout) != 0) {
            rc = cli_fail("cannot write the JSON document");
            goto out;
        }
    } else {
        printf("%s: %u passed, %u failed\n", tests_path, passed, failed);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        rc = cli_fail("cannot write to standard output");
        goto out;
    }
    rc = failed == 0 ? CLI_EXIT_OK : CLI_EXIT_NO;
out:
    for (i = 0; ids != NULL && i < tcs->ncases; i++) {
        mtlsauthz_identity_free(ids[i]);
    }
    mtlsauthz__free(ids);
    cli_json_free(&j);
    mtlsauthz__test_cases_free(tcs);
    mtlsauthz__free(text);
    mtlsauthz_policy_free(policy);
    return rc;
}
