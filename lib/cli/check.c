/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mtlsauthz check --policy P --cert CERT [--chain CHAIN] --op OP [--explain]
 *                 [--format text|json]
 *
 * Options in any order. Exit 0 allow, 1 deny, 2 error (one line on stderr). The JSON form is
 * {"decision": "allow"|"deny", "rule": <id or null>, "reason": <code>, "dry_run": [<ids>]};
 * with --explain it is the document of mtlsauthz_policy_explain_report(), which has the same
 * members and the account besides (docs/policy.md, "Explain").
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "json.h"

#define CHECK_USAGE "mtlsauthz " CLI_USAGE_CHECK

static void check_help(void)
{
    printf("usage: %s\n"
           "\n"
           "Decides whether the identity in CERT may perform the operation OP under the policy "
           "P.\n"
           "\n"
           "  --policy P     the policy (YAML)\n"
           "  --cert CERT    the client certificate, PEM or DER\n"
           "  --chain CHAIN  certificates to append after it (optional)\n"
           "  --op OP        the operation, such as 'GET /healthz' (see mtlsauthz http-op)\n"
           "  --explain      also say which principals and rules matched, and why the others "
           "did not\n"
           "  --format text  a line for people (the default)\n"
           "  --format json  one JSON document; with --explain it holds the explanation too\n"
           "  --help         this text\n"
           "\n"
           "Exit status: 0 allow, 1 deny, 2 error.\n",
           CHECK_USAGE);
}

static void print_json(const mtlsauthz_decision *d)
{
    cli_buf b;
    size_t n = d->dry_run_count < MTLSAUTHZ_DECISION_DRY_RUN_MAX ? d->dry_run_count
                                                                 : MTLSAUTHZ_DECISION_DRY_RUN_MAX;
    cli_buf_init(&b);
    cli_buf_printf(&b, "{\"decision\": \"%s\", \"rule\": ", d->allowed ? "allow" : "deny");
    if (d->rule != NULL) {
        cli_json_escape(&b, d->rule, strlen(d->rule));
    } else {
        cli_buf_puts(&b, "null");
    }
    cli_buf_printf(&b, ", \"reason\": \"%s\", \"dry_run\": [", mtlsauthz_reason_string(d->reason));
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            cli_buf_puts(&b, ", ");
        }
        cli_json_escape(&b, d->dry_run[i], strlen(d->dry_run[i]));
    }
    cli_buf_puts(&b, "]}\n");
    if (!b.failed && b.ptr != NULL) {
        fputs(b.ptr, stdout);
    }
    cli_buf_free(&b);
}

static void print_text(const mtlsauthz_decision *d)
{
    size_t n = d->dry_run_count < MTLSAUTHZ_DECISION_DRY_RUN_MAX ? d->dry_run_count
                                                                 : MTLSAUTHZ_DECISION_DRY_RUN_MAX;
    printf("%s (rule %s, reason %s)\n", d->allowed ? "allow" : "deny",
           d->rule != NULL ? d->rule : "none", mtlsauthz_reason_string(d->reason));
    for (size_t i = 0; i < n; i++) {
        printf("dry-run: %s matched\n", d->dry_run[i]);
    }
    if (d->dry_run_count > n) {
        printf("dry-run: %zu more matched\n", d->dry_run_count - n);
    }
}

int cli_check(int argc, char **argv)
{
    const char *policy_path = NULL, *cert = NULL, *chain = NULL, *op = NULL, *format = "text";
    int explain = 0, rc, status = CLI_EXIT_ERROR;
    mtlsauthz_policy *policy = NULL;
    mtlsauthz_identity *id = NULL;
    mtlsauthz_decision d;
    mtlsauthz_error err;
    char *text = NULL;

    mtlsauthz_error_clear(&err);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            check_help();
            return CLI_EXIT_OK;
        }
        if (strcmp(a, "--explain") == 0) {
            explain = 1;
            continue;
        }
        if (strcmp(a, "--policy") == 0) {
            slot = &policy_path;
        } else if (strcmp(a, "--cert") == 0) {
            slot = &cert;
        } else if (strcmp(a, "--chain") == 0) {
            slot = &chain;
        } else if (strcmp(a, "--op") == 0) {
            slot = &op;
        } else if (strcmp(a, "--format") == 0) {
            slot = &format;
        } else {
            return cli_fail("check: unknown argument '%s' (usage: %s)", a, CHECK_USAGE);
        }
        if (i + 1 >= argc) {
            return cli_fail("check: %s needs a value", a);
        }
        *slot = argv[++i];
    }
    if (policy_path == NULL || cert == NULL || op == NULL) {
        return cli_fail("check: --policy, --cert and --op are required (usage: %s)", CHECK_USAGE);
    }
    /* An empty operation is a mistake in the command (an unset shell variable), not a
     * question with the answer "deny". */
    if (op[0] == '\0') {
        return cli_fail("check: --op is empty; give an operation such as 'GET /healthz'");
    }
    if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0) {
        return cli_fail("check: --format must be text or json, not '%s'", format);
    }
    if (cli_load_policy(&policy, policy_path) != 0) {
        return CLI_EXIT_ERROR; /* cli_load_policy printed the error */
    }
    if (cli_load_identity(&id, cert, chain) != 0) {
        goto out; /* cli_load_identity printed the reason */
    }
    if (explain) {
        rc = mtlsauthz_policy_explain_report(
            &text, &d, policy, id, op, strlen(op),
            strcmp(format, "json") == 0 ? MTLSAUTHZ_FORMAT_JSON : MTLSAUTHZ_FORMAT_TEXT, &err);
    } else {
        rc = mtlsauthz_policy_decide(&d, policy, id, op, strlen(op), &err);
    }
    if (rc < 0) {
        status = cli_fail("%s", err.message);
        goto out;
    }
    if (text != NULL) {
        fputs(text, stdout); /* the explanation, in the format asked for */
    } else if (strcmp(format, "json") == 0) {
        print_json(&d);
    } else {
        print_text(&d);
    }
    status = d.allowed ? CLI_EXIT_OK : CLI_EXIT_NO;
out:
    mtlsauthz_string_free(text);
    mtlsauthz_identity_free(id);
    mtlsauthz_policy_free(policy);
    return status;
}
