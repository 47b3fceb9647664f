/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What an operation pattern can match (docs/policy.md, "Operation patterns that can never
 * match"): the compiler refuses an HTTP-shaped pattern that no canonical HTTP operation
 * (http.c) can match, and lint finds paths written without a method.
 */
#ifndef MTLSAUTHZ_OP_PATTERN_H
#define MTLSAUTHZ_OP_PATTERN_H

#include "pattern.h"

/* Room for any message of mtlsauthz__op_pattern_check(), quotes of the pattern included. */
#define MTLSAUTHZ__OP_PATTERN_WHY_SIZE 256u

/*
 * Checks a compiled operation pattern. A pattern has the shape of an HTTP operation when it is
 * a token, whitespace and a '/' (wildcards may stand in the token); such a pattern must be able
 * to match a canonical operation: an uppercase method token or `*`, exactly one space, and a
 * path with no trailing '/', empty or dot segment, '%XX' escape, '?', '#' or control byte, and
 * not HEAD (decided as GET). With `http` set, every pattern must have that shape, except that
 * the path may start with `**` and `**` alone matches every operation.
 *
 * Returns NULL when the pattern is fine; otherwise what is wrong and how to fix it, as one
 * line of printable text written into `buf` (MTLSAUTHZ__OP_PATTERN_WHY_SIZE bytes).
 */
const char *mtlsauthz__op_pattern_check(const mtlsauthz__pattern *pat, int http, char *buf);

/*
 * 1 if the pattern starts with '/' and is not shaped like a gRPC full method name
 * ("/package.Service/Method", gRPC over HTTP/2 "Path"): in a policy without `protocol: http`
 * it is legal, but an HTTP request never matches it, since the canonical operation begins with
 * the method. Used by lint (path-without-method).
 */
int mtlsauthz__op_pattern_is_bare_path(const mtlsauthz__pattern *pat);

#endif
