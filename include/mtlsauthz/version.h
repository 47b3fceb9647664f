/*
 * libmtlsauthz: version information.
 *
 * The package version below is for humans. The ABI is versioned separately by the shared
 * library's soname (libmtlsauthz.so.MTLSAUTHZ_ABI_VERSION): it changes only when an exported
 * signature or a public struct layout changes incompatibly.
 */
#ifndef MTLSAUTHZ_VERSION_H
#define MTLSAUTHZ_VERSION_H

#include "common.h"

#define MTLSAUTHZ_VERSION_MAJOR 0
#define MTLSAUTHZ_VERSION_MINOR 1
#define MTLSAUTHZ_VERSION_PATCH 0
#define MTLSAUTHZ_VERSION_STRING "0.1.0"
/** One number for compile-time comparisons: 0xMMmmpp. */
#define MTLSAUTHZ_VERSION_NUMBER                                                                   \
    ((MTLSAUTHZ_VERSION_MAJOR << 16) | (MTLSAUTHZ_VERSION_MINOR << 8) | MTLSAUTHZ_VERSION_PATCH)
#define MTLSAUTHZ_ABI_VERSION 0

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The version of the library actually loaded at run time, as "MAJOR.MINOR.PATCH".
 * The string is static. Thread-safe.
 */
MTLSAUTHZ_API const char *mtlsauthz_version(void);

/** MTLSAUTHZ_VERSION_NUMBER of the library loaded at run time. Thread-safe. */
MTLSAUTHZ_API unsigned long mtlsauthz_version_number(void);

#ifdef __cplusplus
}
#endif

#endif
