/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmtlsauthz: policy tests, the cases of a TESTS.yaml file run against a policy
 * (docs/policy.md, "Policy tests"; `mtlsauthz test` is a client of these functions).
 *
 * A service can run the same test file in its own test suite: load it once
 * (mtlsauthz_policy_test_load_file()), run it against a policy (mtlsauthz_policy_test_run()),
 * and read each case's result through the accessors below. Every type is opaque: a binding
 * calls functions and copies no struct layout.
 *
 * Loading reads the whole file and checks it as strictly as a policy: the schema, the rules
 * between keys, and every inline identity, which is built at load (a value no certificate can
 * carry makes the file invalid, however far down it is). Running never fails because of a
 * case: a certificate that cannot be read, a request that is refused or a decision that fails
 * is that case's result, and the other cases still run.
 *
 * Threading: a loaded test file and a results object are immutable; any number of threads may
 * read them, and run the same test file at once (against the same policy or different ones).
 */
#ifndef MTLSAUTHZ_POLICY_TEST_H
#define MTLSAUTHZ_POLICY_TEST_H

#include "common.h"
#include "error.h"
#include "policy.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A loaded test file: its cases, with their inline identities built. Opaque. */
typedef struct mtlsauthz_policy_test mtlsauthz_policy_test;

/** The results of one run of a test file against a policy. Opaque. */
typedef struct mtlsauthz_policy_test_results mtlsauthz_policy_test_results;

/** One case's result, borrowed from its mtlsauthz_policy_test_results. Opaque. */
typedef struct mtlsauthz_policy_test_result mtlsauthz_policy_test_result;

/**
 * Loads a test file from `len` bytes of YAML (NUL bytes inside are an error). Certificate
 * paths in it are relative to the current directory unless mtlsauthz_policy_test_run() is
 * given a directory.
 * *out receives a new test file owned by the caller (mtlsauthz_policy_test_free()), or NULL on
 * error. The text is not kept.
 * Errors: MTLSAUTHZ_EPOLICY (a syntax or schema error, a case that breaks a rule between its
 * keys, an inline identity no certificate can carry; the message names the case and the key),
 * MTLSAUTHZ_ELIMIT, MTLSAUTHZ_ENOMEM, MTLSAUTHZ_EINVAL. A load error fills `err`'s line and
 * column, and the message starts with them ("LINE:COLUMN: text"), as mtlsauthz_policy_load()
 * does. Thread-safe.
 */
MTLSAUTHZ_API MTLSAUTHZ_WARN_UNUSED int mtlsauthz_policy_test_load(mtlsauthz_policy_test **out,
                                                                   const char *yaml, size_t len,
                                                                   mtlsauthz_error *err);

/**
 * As mtlsauthz_policy_test_load(), reading the file at `path`. Certificate paths in it are
 * relative to the file's directory unless mtlsauthz_policy_test_run() is given one. Adds
 * MTLSAUTHZ_EIO. The message starts with the path: "PATH:LINE:COLUMN: text", or "PATH: text"
 * without a position, as mtlsauthz_policy_load_file() does; print it as it is.
 */
MTLSAUTHZ_API MTLSAUTHZ_WARN_UNUSED int mtlsauthz_policy_test_load_file(mtlsauthz_policy_test **out,
                                                                        const char *path,
                                                                        mtlsauthz_error *err);

/** Frees a test file. NULL is a no-op. Results of its runs stay valid. */
MTLSAUTHZ_API void mtlsauthz_policy_test_free(mtlsauthz_policy_test *tests);

/** Number of cases in the test file (at least 1); 0 for NULL. */
MTLSAUTHZ_API size_t mtlsauthz_policy_test_count(const mtlsauthz_policy_test *tests);

/**
 * Runs every case of `tests` against `policy`, in file order. A case's `cert` and `chain` are
 * read with mtlsauthz_identity_from_file(), relative to `cert_dir` when it is not NULL (an
 * absolute path is used as it is), else as the test file was loaded (above).
 * *out receives new results owned by the caller (mtlsauthz_policy_test_results_free()), or
 * NULL on error. They copy what they report, so they outlive `tests` and `policy`.
 * Errors: MTLSAUTHZ_EINVAL (a NULL argument), MTLSAUTHZ_ENOMEM (also when a case ran out of
 * memory: the run does not report a case it could not finish). Anything else a case meets is
 * its result. Thread-safe.
 */
MTLSAUTHZ_API MTLSAUTHZ_WARN_UNUSED int
mtlsauthz_policy_test_run(mtlsauthz_policy_test_results **out, const mtlsauthz_policy_test *tests,
                          mtlsauthz_policy *policy, const char *cert_dir, mtlsauthz_error *err);

/** Frees results, and the results borrowed from them. NULL is a no-op. */
MTLSAUTHZ_API void mtlsauthz_policy_test_results_free(mtlsauthz_policy_test_results *results);

/** Number of cases run (every case of the test file); 0 for NULL. */
MTLSAUTHZ_API size_t
mtlsauthz_policy_test_results_count(const mtlsauthz_policy_test_results *results);

/** Number of cases that passed; 0 for NULL. The run passed when this equals the count. */
MTLSAUTHZ_API size_t
mtlsauthz_policy_test_results_passed(const mtlsauthz_policy_test_results *results);

/**
 * The result of case `index` (0-based, in file order), borrowed: it lives as long as
 * `results`. NULL when `index` is out of range or `results` is NULL.
 */
MTLSAUTHZ_API const mtlsauthz_policy_test_result *
mtlsauthz_policy_test_results_get(const mtlsauthz_policy_test_results *results, size_t index);

/*
 * A case's result. Every string below is NUL-terminated, holds no NUL byte, and is borrowed
 * from the results (it lives as long as they do); NULL where the text says so, and for a NULL
 * result. The strings are the case's own bytes: print them through your own escaping, as
 * `mtlsauthz test` does.
 */

/** The case's `name`; without one, its `op` or `request`. Never NULL for a result. */
MTLSAUTHZ_API const char *
mtlsauthz_policy_test_result_name(const mtlsauthz_policy_test_result *result);

/** The 1-based line where the case starts in the test file; 0 when unknown. */
MTLSAUTHZ_API unsigned int
mtlsauthz_policy_test_result_line(const mtlsauthz_policy_test_result *result);

/** The case's `request` as written ("GET /x/?y=1"), or NULL for a case with `op`. */
MTLSAUTHZ_API const char *
mtlsauthz_policy_test_result_request(const mtlsauthz_policy_test_result *result);

/**
 * The operation decided: the case's `op`, or the canonical operation of its `request`
 * (mtlsauthz_http_operation()). NULL when there is none: the request was refused, or the case
 * could not run.
 */
MTLSAUTHZ_API const char *
mtlsauthz_policy_test_result_operation(const mtlsauthz_policy_test_result *result);

/** What the case expects: "allow", "deny" or "error" (static strings). */
MTLSAUTHZ_API const char *
mtlsauthz_policy_test_result_expected(const mtlsauthz_policy_test_result *result);

/**
 * What the case got: "allow" or "deny" (a decision), "error" (the request was refused or the
 * decision failed: no decision), or NULL (the case could not run, such as for a certificate
 * that cannot be read). Static strings.
 */
MTLSAUTHZ_API const char *
mtlsauthz_policy_test_result_got(const mtlsauthz_policy_test_result *result);

/** 1 when the case passed, 0 when it failed (and for NULL). */
MTLSAUTHZ_API int mtlsauthz_policy_test_result_passed(const mtlsauthz_policy_test_result *result);

/** The id of the deciding rule; NULL without a decision, or when no rule decided. */
MTLSAUTHZ_API const char *
mtlsauthz_policy_test_result_rule(const mtlsauthz_policy_test_result *result);

/** The decision's reason (mtlsauthz_reason_string()); NULL without a decision. */
MTLSAUTHZ_API const char *
mtlsauthz_policy_test_result_reason(const mtlsauthz_policy_test_result *result);

/**
 * How many dry-run rules matched (0 without a decision). It may exceed
 * MTLSAUTHZ_DECISION_DRY_RUN_MAX, the number a decision names.
 */
MTLSAUTHZ_API size_t
mtlsauthz_policy_test_result_dry_run_count(const mtlsauthz_policy_test_result *result);

/**
 * The id of the `index`th dry-run rule that matched, in file order; NULL when `index` is not
 * below both the count and MTLSAUTHZ_DECISION_DRY_RUN_MAX.
 */
MTLSAUTHZ_API const char *
mtlsauthz_policy_test_result_dry_run(const mtlsauthz_policy_test_result *result, size_t index);

/**
 * What stood in for a decision: why the request was refused, the decision failed, or the
 * certificate could not be used (the message names the file). NULL when there is a decision.
 */
MTLSAUTHZ_API const char *
mtlsauthz_policy_test_result_error(const mtlsauthz_policy_test_result *result);

/**
 * Why the case failed, one line ("expected allow, got deny (reason denied, rule
 * no-container-escape)"); NULL when it passed.
 */
MTLSAUTHZ_API const char *
mtlsauthz_policy_test_result_failure(const mtlsauthz_policy_test_result *result);

/**
 * For a failed case with a decision: the account of that decision, as
 * mtlsauthz_policy_explain() gives it (several lines, each ending in a newline). NULL for a
 * case that passed or has no decision: its failure says it all.
 */
MTLSAUTHZ_API const char *
mtlsauthz_policy_test_result_explanation(const mtlsauthz_policy_test_result *result);

#ifdef __cplusplus
}
#endif

#endif
