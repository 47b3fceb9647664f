/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the policy front end's two pre-passes (docs/internals.md, "Invariants of the
 * policy side"). The fast line scanner must read its input exactly as libyaml does (the same
 * positions, version and findings) or give up on it, as a policy and as a policy-test file;
 * a disagreement would let the loader see a policy other than the one libcyaml reads.
 * Seeds: tests/fuzz/corpus/prepass/ (a link to the policy seeds).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "policy_ast.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int test_file = 0; test_file <= 1; test_file++) {
        if (mtlsauthz__prepass_fast_check((const char *)data, size, test_file) == -1) {
            fprintf(stderr, "fuzz_prepass: the fast pre-pass and libyaml disagree (as a %s)\n",
                    test_file ? "policy-test file" : "policy");
            abort();
        }
    }
    return 0;
}
