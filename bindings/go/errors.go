// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

// ErrorCode is one of the C library's error codes (include/mtlsauthz/error.h), as a sentinel
// for errors.Is: an *Error is its code's ErrorCode, whatever its message.
//
//	if _, err := mtlsauthz.LoadPolicyFile(path); errors.Is(err, mtlsauthz.ErrPolicy) { ... }
type ErrorCode int

// The sentinels, one per code of the library's error list (MTLSAUTHZ_ERRNO_MAP); a test checks
// that none is missing.
const (
	ErrInvalid   ErrorCode = codeInvalid   // MTLSAUTHZ_EINVAL: an invalid argument
	ErrNoMemory  ErrorCode = codeNoMemory  // MTLSAUTHZ_ENOMEM: out of memory
	ErrCert      ErrorCode = codeCert      // MTLSAUTHZ_ECERT: a malformed certificate
	ErrPolicy    ErrorCode = codePolicy    // MTLSAUTHZ_EPOLICY: an invalid policy
	ErrIO        ErrorCode = codeIO        // MTLSAUTHZ_EIO: a file could not be read
	ErrLimit     ErrorCode = codeLimit     // MTLSAUTHZ_ELIMIT: a limit exceeded (docs/limits.md)
	ErrOperation ErrorCode = codeOperation // MTLSAUTHZ_EOPERATION: an operation refused (HTTPOperation)
	ErrVersion   ErrorCode = codeVersion   // MTLSAUTHZ_EVERSION: an unsupported policy version
	ErrInternal  ErrorCode = codeInternal  // MTLSAUTHZ_EINTERNAL: a bug in the library
)

// errorCodes lists the sentinels, for the test that compares them with the library's list.
var errorCodes = []ErrorCode{ErrInvalid, ErrNoMemory, ErrCert, ErrPolicy, ErrIO, ErrLimit,
	ErrOperation, ErrVersion, ErrInternal}

// Error is the library's description of the code ("mtlsauthz: invalid policy").
func (c ErrorCode) Error() string { return "mtlsauthz: " + errDescription(int(c)) }

// Name is the code's symbolic name ("MTLSAUTHZ_EPOLICY"), as in Error.Name.
func (c ErrorCode) Name() string { return errName(int(c)) }

// Is makes errors.Is(err, ErrPolicy) true for an *Error with that code.
func (e *Error) Is(target error) bool {
	c, ok := target.(ErrorCode)
	return ok && e != nil && int(c) == e.Code
}
