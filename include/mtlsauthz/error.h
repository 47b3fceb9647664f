/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmtlsauthz: error codes and the caller-owned error struct.
 *
 * Every fallible function returns 0 on success or a negative MTLSAUTHZ_E* code, and fills an
 * optional caller-owned mtlsauthz_error with the code and a readable one-line message. There is
 * no global or thread-local error state: the error belongs to whoever passed it in, so bindings
 * need no thread pinning.
 */
#ifndef MTLSAUTHZ_ERROR_H
#define MTLSAUTHZ_ERROR_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The one list of error codes: X(NAME, value, description). Codes are never renumbered; new
 * codes take the next free value, so the list stays 0, -1, -2, ... without a gap (lib/error.c
 * checks this at compile time) and MTLSAUTHZ_ERRNO_LAST_ below follows from it.
 */
#define MTLSAUTHZ_ERRNO_MAP(X)                                                                     \
    X(OK, 0, "success")                                                                            \
    X(EINVAL, -1, "invalid argument")                                                              \
    X(ENOMEM, -2, "out of memory")                                                                 \
    X(ECERT, -3, "malformed certificate")                                                          \
    X(EPOLICY, -4, "invalid policy")                                                               \
    X(EIO, -5, "input/output error")                                                               \
    X(ELIMIT, -6, "limit exceeded")                                                                \
    X(EOPERATION, -7, "operation refused")                                                         \
    X(EVERSION, -8, "unsupported policy version")                                                  \
    X(EINTERNAL, -9, "internal error")

#define MTLSAUTHZ_ERRNO_ENUM_ENTRY_(name, value, desc) MTLSAUTHZ_##name = value,
#define MTLSAUTHZ_ERRNO_COUNT_ENTRY_(name, value, desc) +1
typedef enum mtlsauthz_errno {
    MTLSAUTHZ_ERRNO_MAP(MTLSAUTHZ_ERRNO_ENUM_ENTRY_)
    /*
     * One below the lowest code, counted from the list: every code c satisfies
     * MTLSAUTHZ_ERRNO_LAST_ < c <= 0 (a range check for bindings). Last, and without a
     * trailing comma, for C89.
     */
    MTLSAUTHZ_ERRNO_LAST_ = -(0 MTLSAUTHZ_ERRNO_MAP(MTLSAUTHZ_ERRNO_COUNT_ENTRY_))
} mtlsauthz_errno;
#undef MTLSAUTHZ_ERRNO_ENUM_ENTRY_
#undef MTLSAUTHZ_ERRNO_COUNT_ENTRY_

/** Size of the message buffer in mtlsauthz_error, terminating NUL included. */
#define MTLSAUTHZ_ERROR_MESSAGE_SIZE 512

/**
 * Details of a failure. Owned by the caller (usually on the stack). The library writes
 * `code`, `line`, `column` and a NUL-terminated `message` when a call fails, and leaves the
 * struct alone on success. Zero-initialize it (`mtlsauthz_error err = {0};`), or use
 * mtlsauthz_error_clear(); never a positional initializer beyond `{0}`.
 *
 * Its size is fixed for the life of the soname: a later minor release adds fields only in
 * `reserved`, which every failure and mtlsauthz_error_clear() set to zero, so a field added
 * later reads 0 ("not reported") from this library (docs/abi.md). Do not use `reserved`.
 *
 * `line` and `column` say where in a policy a load error is (mtlsauthz_policy_load(),
 * mtlsauthz_policy_load_file()): the 1-based line and column of the YAML node at fault (an
 * unknown key at the key, a bad value at the value, an undefined principal at its mention in
 * the rule, a missing key at the mapping that lacks it, a syntax error where the parser
 * stopped). Both are 0 when no position applies (an unreadable file, a size limit, out of
 * memory, any error that is not a load error). The message repeats the position as a prefix,
 * "LINE:COLUMN: text" (mtlsauthz_policy_load) or "PATH:LINE:COLUMN: text"
 * (mtlsauthz_policy_load_file; "PATH: text" without a position), the form editors and CI
 * annotators read. docs/policy.md, "Errors", lists the messages.
 */
typedef struct mtlsauthz_error {
    int code;
    unsigned int line;   /* 1-based; 0 when unknown */
    unsigned int column; /* 1-based, in characters (code points); 0 when unknown */
    char message[MTLSAUTHZ_ERROR_MESSAGE_SIZE];
    void *reserved[4]; /* room for later fields; zero (docs/abi.md) */
} mtlsauthz_error;

/**
 * Resets `err` to code 0, position 0:0, an empty message and zeroed reserved space. NULL is a
 * no-op.
 */
MTLSAUTHZ_API void mtlsauthz_error_clear(mtlsauthz_error *err);

/**
 * A static description of `code` ("invalid policy"). Unknown codes give "unknown error".
 * Never NULL. Thread-safe.
 */
MTLSAUTHZ_API const char *mtlsauthz_strerror(int code);

/**
 * The symbolic name of `code` ("MTLSAUTHZ_EPOLICY"), or "MTLSAUTHZ_EUNKNOWN". Never NULL.
 * Thread-safe.
 */
MTLSAUTHZ_API const char *mtlsauthz_errname(int code);

#ifdef __cplusplus
}
#endif

#endif
