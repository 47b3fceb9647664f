/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmtlsauthz: export and attribute macros shared by every public header.
 */
#ifndef MTLSAUTHZ_COMMON_H
#define MTLSAUTHZ_COMMON_H

#include <stddef.h>

#if defined(_WIN32) && defined(MTLSAUTHZ_BUILDING)
#define MTLSAUTHZ_API __declspec(dllexport)
#elif defined(__GNUC__) && __GNUC__ >= 4
#define MTLSAUTHZ_API __attribute__((visibility("default")))
#else
#define MTLSAUTHZ_API
#endif

#if defined(__GNUC__) && (__GNUC__ > 3 || (__GNUC__ == 3 && __GNUC_MINOR__ >= 4))
#define MTLSAUTHZ_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define MTLSAUTHZ_WARN_UNUSED
#endif

#endif
