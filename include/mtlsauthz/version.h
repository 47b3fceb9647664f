/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmtlsauthz: version information, and the layout facts bindings check at load.
 *
 * This header is the one source of the version: the Makefile (the shared library's file name
 * and soname), the pkg-config file and the Ruby gem take it from here, and `make
 * check-version` fails when any of them differs (docs/abi.md, "One version").
 *
 * The package version is for humans. The ABI is versioned separately by the shared library's
 * soname (libmtlsauthz.so.MTLSAUTHZ_ABI_VERSION): it changes only when an exported signature
 * or a public struct layout changes incompatibly (docs/abi.md).
 */
#ifndef MTLSAUTHZ_VERSION_H
#define MTLSAUTHZ_VERSION_H

#include "common.h"

#define MTLSAUTHZ_VERSION_MAJOR 0
#define MTLSAUTHZ_VERSION_MINOR 1
#define MTLSAUTHZ_VERSION_PATCH 0
/** The soname's number: libmtlsauthz.so.0. */
#define MTLSAUTHZ_ABI_VERSION 0

#define MTLSAUTHZ_VERSION_STR_(n) #n
#define MTLSAUTHZ_VERSION_XSTR_(n) MTLSAUTHZ_VERSION_STR_(n)
/** "MAJOR.MINOR.PATCH", spelled from the three numbers above (one part a line). */
/* clang-format off */
#define MTLSAUTHZ_VERSION_STRING                                                                   \
    MTLSAUTHZ_VERSION_XSTR_(MTLSAUTHZ_VERSION_MAJOR) "."                                           \
    MTLSAUTHZ_VERSION_XSTR_(MTLSAUTHZ_VERSION_MINOR) "."                                           \
    MTLSAUTHZ_VERSION_XSTR_(MTLSAUTHZ_VERSION_PATCH)
/* clang-format on */
/** One number for compile-time comparisons: 0xMMmmpp. */
#define MTLSAUTHZ_VERSION_NUMBER                                                                   \
    ((MTLSAUTHZ_VERSION_MAJOR << 16) | (MTLSAUTHZ_VERSION_MINOR << 8) | MTLSAUTHZ_VERSION_PATCH)

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

/*
 * The layout of the caller-owned structs, for bindings that copy it instead of compiling
 * against these headers (Ruby's FFI): they compare their copy with the loaded library's at
 * load, and refuse to run on a difference (docs/abi.md, "Bindings"). C, C++, cgo and the NGINX
 * module get the layout from the compiler and need none of this.
 */

/** The public structs whose layout a binding may copy. The numbers are ABI. */
typedef enum mtlsauthz_struct_id {
    MTLSAUTHZ_STRUCT_ERROR = 0,   /* mtlsauthz_error */
    MTLSAUTHZ_STRUCT_DECISION = 1 /* mtlsauthz_decision */
} mtlsauthz_struct_id;

/**
 * sizeof the struct `id` in the library loaded at run time, reserved space included; 0 for an
 * unknown id. Thread-safe.
 */
MTLSAUTHZ_API size_t mtlsauthz_struct_size(mtlsauthz_struct_id id);

/**
 * Where the member named `member` (a NUL-terminated C identifier, "dry_run_count") of struct
 * `id` lies in the library loaded at run time: *offset receives its offsetof and *size its
 * sizeof (an array's whole size: "message" is MTLSAUTHZ_ERROR_MESSAGE_SIZE bytes). Only the
 * members a caller may read are known; `reserved` is not one (its name and size change as
 * later fields take its place; check the struct's size instead).
 * Returns 0, or MTLSAUTHZ_EINVAL for a NULL argument, an unknown id or an unknown member
 * (then *offset and *size are 0, when not NULL). No allocation. Thread-safe.
 */
MTLSAUTHZ_API MTLSAUTHZ_WARN_UNUSED int
mtlsauthz_struct_member(size_t *offset, size_t *size, mtlsauthz_struct_id id, const char *member);

#ifdef __cplusplus
}
#endif

#endif
