/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy objects: loading (YAML front end, then the compiler) and reference counting.
 * A policy is immutable after load; only its reference count changes, atomically, so a
 * reload can swap policies while decisions in flight keep the old one alive.
 */
#include <stdio.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "policy_int.h"

/* Parses and compiles; the message is the bare text, with the position in err->line and
 * err->column (the public loads put them in front). */
static int load_buffer(mtlsauthz_policy **out, const char *yaml, size_t len, mtlsauthz_error *err)
{
    mtlsauthz__ast *ast = NULL;
    int rc;

    if (len > MTLSAUTHZ__POLICY_MAX_BYTES) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT,
                                    "policy of %zu bytes exceeds the limit of %u bytes", len,
                                    MTLSAUTHZ__POLICY_MAX_BYTES);
    }
    rc = mtlsauthz__ast_load(&ast, yaml, len, err);
    if (rc < 0) {
        return rc;
    }
    rc = mtlsauthz__policy_compile(out, ast, err);
    mtlsauthz__ast_free(ast);
    return rc;
}

/*
 * A load frees far more than it keeps: the YAML text, libyaml's tokens, the AST and the
 * compiler's scratch, in small blocks interleaved with the policy's. glibc keeps freed memory
 * in the process, so after a large load RSS stayed about 1.6 times the policy's own heap
 * (docs/performance.md, "Memory"). malloc_trim(0) hands the free pages back to the kernel.
 * Other C libraries have no such call, and on them RSS after a load can stay higher.
 */
static void give_back(void)
{
#ifdef __GLIBC__
    (void)malloc_trim(0);
#endif
}

int mtlsauthz_policy_load(mtlsauthz_policy **out, const char *yaml, size_t len,
                          mtlsauthz_error *err)
{
    int rc;

    if (out == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "policy_load: out is NULL");
    }
    *out = NULL;
    if (yaml == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "policy_load: no YAML given");
    }
    rc = load_buffer(out, yaml, len, err);
    give_back();
    if (rc < 0) {
        mtlsauthz__error_locate(err, NULL);
    }
    return rc;
}

int mtlsauthz_policy_load_file(mtlsauthz_policy **out, const char *path, mtlsauthz_error *err)
{
    char *data = NULL;
    size_t len = 0;
    int rc;

    if (out == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "policy_load_file: out is NULL");
    }
    *out = NULL;
    if (path == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "policy_load_file: no path given");
    }
    /* read_file's messages already start with the path. */
    rc = mtlsauthz__read_file(&data, &len, path, MTLSAUTHZ__POLICY_MAX_BYTES, err);
    if (rc < 0) {
        return rc;
    }
    rc = load_buffer(out, data, len, err);
    mtlsauthz__free(data);
    give_back();
    if (rc < 0) {
        /* Say which file: a server may load several. */
        mtlsauthz__error_locate(err, path);
    }
    return rc;
}

mtlsauthz_policy *mtlsauthz_policy_ref(mtlsauthz_policy *policy)
{
    if (policy != NULL) {
        /* Relaxed is enough to take a reference: the caller already holds one. */
        atomic_fetch_add_explicit(&policy->refs, 1, memory_order_relaxed);
    }
    return policy;
}

void mtlsauthz_policy_free(mtlsauthz_policy *policy)
{
    if (policy == NULL) {
        return;
    }
    /* Release our writes, and acquire everyone else's before the last one frees. */
    if (atomic_fetch_sub_explicit(&policy->refs, 1, memory_order_acq_rel) == 1) {
        mtlsauthz__policy_destroy(policy);
    }
}

mtlsauthz_protocol mtlsauthz_policy_protocol(const mtlsauthz_policy *policy)
{
    if (policy != NULL && policy->protocol == MTLSAUTHZ__PROTOCOL_HTTP) {
        return MTLSAUTHZ_PROTOCOL_HTTP;
    }
    return MTLSAUTHZ_PROTOCOL_ANY;
}

size_t mtlsauthz_policy_rule_count(const mtlsauthz_policy *policy)
{
    return policy != NULL ? policy->nrules : 0;
}
