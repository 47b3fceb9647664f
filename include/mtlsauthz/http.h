/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmtlsauthz: the canonical HTTP operation, one form for every binding.
 *
 * Routers see paths differently (Puma's PATH_INFO is raw, Go's r.URL.Path is decoded, NGINX's
 * $uri is normalized). Every binding therefore builds the default operation from the raw
 * request target with this one function, and refuses what it refuses (as 400), so the router
 * and the policy never disagree about which path was requested.
 */
#ifndef MTLSAUTHZ_HTTP_H
#define MTLSAUTHZ_HTTP_H

#include "common.h"
#include "error.h"

/** The longest method and raw request target accepted, in bytes; longer ones are refused. */
#define MTLSAUTHZ_HTTP_METHOD_MAX 32
#define MTLSAUTHZ_HTTP_TARGET_MAX 8192
/** A buffer of this many bytes always holds the operation: method, space, path and NUL. */
#define MTLSAUTHZ_HTTP_OPERATION_MAX (MTLSAUTHZ_HTTP_METHOD_MAX + 1 + MTLSAUTHZ_HTTP_TARGET_MAX + 1)

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Builds "METHOD SP path" from a method and a raw origin-form request target:
 * strips the query, percent-decodes, and removes a single trailing slash (except on "/").
 * The method is kept as sent (methods are case-sensitive), except that "HEAD" becomes "GET":
 * servers run the GET handler for a HEAD request, so it is decided as one.
 * Refuses (MTLSAUTHZ_EOPERATION, with the reason in `err`) a method that is not an HTTP token,
 * and a target that is not absolute ("/..."), has a malformed %-escape or a fragment, or whose
 * decoded path contains a NUL or other control byte, an encoded "/", a dot segment ("." or
 * "..") or an empty segment ("//").
 *
 * The result is written to `out` (capacity `out_cap`), NUL-terminated, its length in *out_len.
 * It never exceeds method_len + 1 + target_len bytes plus the NUL; a smaller buffer gives
 * MTLSAUTHZ_ELIMIT. No allocation. Thread-safe.
 */
MTLSAUTHZ_API MTLSAUTHZ_WARN_UNUSED int
mtlsauthz_http_operation(char *out, size_t out_cap, size_t *out_len, const char *method,
                         size_t method_len, const char *target, size_t target_len,
                         mtlsauthz_error *err);

#ifdef __cplusplus
}
#endif

#endif
