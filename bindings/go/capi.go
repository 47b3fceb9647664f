// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

// This file and policytest.go are the only ones that talk to C. Everything here is a thin,
// policy-free wrapper over include/mtlsauthz/*.h; the rest of the package is plain Go built on
// these calls.

/*
#cgo pkg-config: mtlsauthz
#include <stdint.h>
#include <stdlib.h>
#include <mtlsauthz/mtlsauthz.h>

// A Go string's data pointer; never NULL, so an empty string is an empty input to the library
// (which refuses a NULL pointer as an invalid argument) rather than a missing one.
static const char *gomtlsauthz_str(_GoString_ s)
{
	const char *p = _GoStringPtr(s);
	return p != NULL ? p : "";
}

// A decision as the Go side reads it, returned by value, so the per-request call needs no Go
// heap allocation for the out-parameter (a pointer passed to C escapes; a cgo result does not)
// and copies only what the Go side uses. The first dry-run id comes along, since one is the
// common case; a decision naming more is asked again in full (gomtlsauthz_result). err is NULL
// on this path: on failure the Go side asks again with an error struct to get the message.
typedef struct gomtlsauthz_short {
	int rc;
	int allowed;
	int reason;
	size_t dry_run_count;
	const char *rule;
	const char *dry_run;
} gomtlsauthz_short;

// The peer travels as an integer: it is C memory, and a pointer argument would cost a cgo
// pointer check on every request.
static gomtlsauthz_short gomtlsauthz_peer_decide(uintptr_t peer, _GoString_ op)
{
	mtlsauthz_decision d;
	gomtlsauthz_short r;
	r.rc = mtlsauthz_peer_decide(&d, (const mtlsauthz_peer *)peer, gomtlsauthz_str(op),
	                             _GoStringLen(op), NULL);
	r.allowed = d.allowed;
	r.reason = (int)d.reason;
	r.dry_run_count = d.dry_run_count;
	r.rule = d.rule;
	r.dry_run = d.dry_run_count > 0 ? d.dry_run[0] : NULL;
	return r;
}

// A whole decision by value: for one with more than one dry-run id, and the no-identity path.
typedef struct gomtlsauthz_result {
	int rc;
	mtlsauthz_decision d;
} gomtlsauthz_result;

static gomtlsauthz_result gomtlsauthz_peer_decide_full(uintptr_t peer, _GoString_ op)
{
	gomtlsauthz_result r;
	r.rc = mtlsauthz_peer_decide(&r.d, (const mtlsauthz_peer *)peer, gomtlsauthz_str(op),
	                             _GoStringLen(op), NULL);
	return r;
}

static gomtlsauthz_result gomtlsauthz_policy_decide(mtlsauthz_policy *policy,
                                                    const mtlsauthz_identity *id,
                                                    _GoString_ op)
{
	gomtlsauthz_result r;
	r.rc = mtlsauthz_policy_decide(&r.d, policy, id, gomtlsauthz_str(op), _GoStringLen(op), NULL);
	return r;
}

static int gomtlsauthz_peer_decide_err(const mtlsauthz_peer *peer, _GoString_ op,
                                       mtlsauthz_error *err)
{
	mtlsauthz_decision d;
	return mtlsauthz_peer_decide(&d, peer, gomtlsauthz_str(op), _GoStringLen(op), err);
}

// For the benchmarks only: n decisions in one C loop, the library's own per-decision cost
// without the cgo transition (BenchmarkPeerDecideC, against BenchmarkAuthorize).
static long gomtlsauthz_peer_decide_loop(const mtlsauthz_peer *peer, _GoString_ op, long n)
{
	mtlsauthz_decision d;
	long allowed = 0;
	long i;
	for (i = 0; i < n; i++) {
		if (mtlsauthz_peer_decide(&d, peer, gomtlsauthz_str(op), _GoStringLen(op), NULL) != 0) {
			return -1;
		}
		allowed += d.allowed;
	}
	return allowed;
}

static int gomtlsauthz_policy_load(mtlsauthz_policy **out, _GoString_ yaml, mtlsauthz_error *err)
{
	return mtlsauthz_policy_load(out, gomtlsauthz_str(yaml), _GoStringLen(yaml), err);
}

static int gomtlsauthz_identity_from_xfcc(mtlsauthz_identity **out, _GoString_ header,
                                          mtlsauthz_error *err)
{
	return mtlsauthz_identity_from_xfcc(out, gomtlsauthz_str(header), _GoStringLen(header), err);
}

// out is a Go byte buffer: C writes plain bytes into it and keeps nothing. The length comes
// back by value for the same reason as the decision.
typedef struct gomtlsauthz_oplen {
	int rc;
	size_t len;
} gomtlsauthz_oplen;

static gomtlsauthz_oplen gomtlsauthz_http_operation(char *out, size_t cap, _GoString_ method,
                                                    _GoString_ target, mtlsauthz_error *err)
{
	gomtlsauthz_oplen r;
	r.len = 0;
	r.rc = mtlsauthz_http_operation(out, cap, &r.len, gomtlsauthz_str(method), _GoStringLen(method),
	                                gomtlsauthz_str(target), _GoStringLen(target), err);
	return r;
}
*/
import "C"

import (
	"crypto/x509"
	"runtime"
	"unsafe"
)

// dryRunMax is how many matched dry-run rule ids a decision names (MTLSAUTHZ_DECISION_DRY_RUN_MAX).
const dryRunMax = C.MTLSAUTHZ_DECISION_DRY_RUN_MAX

// newError converts a C error code and struct into a Go *Error.
func newError(rc C.int, cerr *C.mtlsauthz_error) *Error {
	e := &Error{Code: int(rc), Name: C.GoString(C.mtlsauthz_errname(rc))}
	if cerr != nil && cerr.code != 0 {
		e.Message = C.GoString(&cerr.message[0])
		e.Line = int(cerr.line)
		e.Column = int(cerr.column)
	}
	if e.Message == "" {
		e.Message = C.GoString(C.mtlsauthz_strerror(rc))
	}
	return e
}

// codeError is an *Error for a library code with a message written here.
func codeError(rc C.int, msg string) *Error {
	return &Error{Code: int(rc), Name: C.GoString(C.mtlsauthz_errname(rc)), Message: msg}
}

// reasonString is mtlsauthz_reason_string().
func reasonString(r int) string {
	return C.GoString(C.mtlsauthz_reason_string(C.mtlsauthz_reason(r)))
}

// versionString is mtlsauthz_version().
func versionString() string {
	return C.GoString(C.mtlsauthz_version())
}

// cPolicyLoad is mtlsauthz_policy_load().
func cPolicyLoad(yaml string) (*C.mtlsauthz_policy, error) {
	var out *C.mtlsauthz_policy
	var cerr C.mtlsauthz_error
	if rc := C.gomtlsauthz_policy_load(&out, yaml, &cerr); rc != 0 {
		return nil, newError(rc, &cerr)
	}
	return out, nil
}

// cPolicyLoadFile is mtlsauthz_policy_load_file().
func cPolicyLoadFile(path string) (*C.mtlsauthz_policy, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var out *C.mtlsauthz_policy
	var cerr C.mtlsauthz_error
	if rc := C.mtlsauthz_policy_load_file(&out, cpath, &cerr); rc != 0 {
		e := newError(rc, &cerr)
		e.File = path
		return nil, e
	}
	return out, nil
}

func cPolicyFree(p *C.mtlsauthz_policy) { C.mtlsauthz_policy_free(p) }

func cPolicyRuleCount(p *C.mtlsauthz_policy) int { return int(C.mtlsauthz_policy_rule_count(p)) }

// cPolicyProtocolHTTP reports whether mtlsauthz_policy_protocol() is MTLSAUTHZ_PROTOCOL_HTTP
// (the library answers MTLSAUTHZ_PROTOCOL_ANY for NULL).
func cPolicyProtocolHTTP(p *C.mtlsauthz_policy) bool {
	return C.mtlsauthz_policy_protocol(p) == C.MTLSAUTHZ_PROTOCOL_HTTP
}

// cIdentityFromChain is mtlsauthz_identity_from_der_chain() over the DER Go already holds
// (Certificate.Raw). The pointer array lives in Go memory and points at pinned Go memory,
// which cgo allows since Go 1.21 (runtime.Pinner); the library copies what it keeps.
func cIdentityFromChain(chain []*x509.Certificate) (*C.mtlsauthz_identity, error) {
	var pin runtime.Pinner
	defer pin.Unpin()
	ptrs := make([]*C.uchar, len(chain))
	lens := make([]C.size_t, len(chain))
	for i, c := range chain {
		if c == nil || len(c.Raw) == 0 {
			return nil, codeError(C.MTLSAUTHZ_ECERT, "certificate without DER (Raw is empty)")
		}
		p := &c.Raw[0]
		pin.Pin(p)
		ptrs[i] = (*C.uchar)(unsafe.Pointer(p))
		lens[i] = C.size_t(len(c.Raw))
	}
	var out *C.mtlsauthz_identity
	var cerr C.mtlsauthz_error
	rc := C.mtlsauthz_identity_from_der_chain(&out, &ptrs[0], &lens[0], C.size_t(len(chain)), &cerr)
	if rc != 0 {
		return nil, newError(rc, &cerr)
	}
	return out, nil
}

// cIdentityFromXFCC is mtlsauthz_identity_from_xfcc() over the header's value as Go holds it;
// the library copies what it keeps.
func cIdentityFromXFCC(header string) (*C.mtlsauthz_identity, error) {
	var out *C.mtlsauthz_identity
	var cerr C.mtlsauthz_error
	if rc := C.gomtlsauthz_identity_from_xfcc(&out, header, &cerr); rc != 0 {
		return nil, newError(rc, &cerr)
	}
	return out, nil
}

// cIdentityPartial is mtlsauthz_identity_partial().
func cIdentityPartial(id *C.mtlsauthz_identity) bool { return C.mtlsauthz_identity_partial(id) == 1 }

func cIdentityFree(id *C.mtlsauthz_identity) { C.mtlsauthz_identity_free(id) }

// cIdentityRejected is mtlsauthz_identity_rejected(): "" when the identity may be authorized.
func cIdentityRejected(id *C.mtlsauthz_identity) string {
	r := C.mtlsauthz_identity_rejected(id)
	if r == nil {
		return ""
	}
	return C.GoString(r)
}

// cIdentityField is the first value of field (mtlsauthz_identity_get), copied; ok is false
// when the identity holds none.
func cIdentityField(id *C.mtlsauthz_identity, field C.mtlsauthz_field) (v string, ok bool) {
	if C.mtlsauthz_identity_count(id, field) == 0 {
		return "", false
	}
	var p *C.char
	var n C.size_t
	if C.mtlsauthz_identity_get(&p, &n, id, field, 0) != 0 {
		return "", false
	}
	return C.GoStringN(p, C.int(n)), true
}

// The identity fields of a decision-log record (docs/http.md).
const (
	fieldSubjectDN = C.MTLSAUTHZ_FIELD_SUBJECT_DN
	fieldIssuerDN  = C.MTLSAUTHZ_FIELD_ISSUER_DN
	fieldSerial    = C.MTLSAUTHZ_FIELD_SERIAL
	fieldSHA256    = C.MTLSAUTHZ_FIELD_SHA256
	fieldSPIFFEID  = C.MTLSAUTHZ_FIELD_SPIFFE_ID
)

// The library's error codes (MTLSAUTHZ_ERRNO_MAP in include/mtlsauthz/error.h), for the
// ErrorCode sentinels; codeLast is one below the lowest.
const (
	codeInvalid   = C.MTLSAUTHZ_EINVAL
	codeNoMemory  = C.MTLSAUTHZ_ENOMEM
	codeCert      = C.MTLSAUTHZ_ECERT
	codePolicy    = C.MTLSAUTHZ_EPOLICY
	codeIO        = C.MTLSAUTHZ_EIO
	codeLimit     = C.MTLSAUTHZ_ELIMIT
	codeOperation = C.MTLSAUTHZ_EOPERATION
	codeVersion   = C.MTLSAUTHZ_EVERSION
	codeInternal  = C.MTLSAUTHZ_EINTERNAL
	codeLast      = C.MTLSAUTHZ_ERRNO_LAST_
)

// errName is mtlsauthz_errname(); errDescription is mtlsauthz_strerror().
func errName(code int) string        { return C.GoString(C.mtlsauthz_errname(C.int(code))) }
func errDescription(code int) string { return C.GoString(C.mtlsauthz_strerror(C.int(code))) }

// cIdentityJSON is mtlsauthz_identity_to_json().
func cIdentityJSON(id *C.mtlsauthz_identity) (string, error) {
	var out *C.char
	var n C.size_t
	var cerr C.mtlsauthz_error
	if rc := C.mtlsauthz_identity_to_json(&out, &n, id, &cerr); rc != 0 {
		return "", newError(rc, &cerr)
	}
	defer C.mtlsauthz_string_free(out)
	return C.GoStringN(out, C.int(n)), nil
}

// cPeerNew is mtlsauthz_peer_new(). The peer holds its own C reference on the policy.
func cPeerNew(p *C.mtlsauthz_policy, id *C.mtlsauthz_identity) (*C.mtlsauthz_peer, error) {
	var out *C.mtlsauthz_peer
	var cerr C.mtlsauthz_error
	if rc := C.mtlsauthz_peer_new(&out, p, id, &cerr); rc != 0 {
		return nil, newError(rc, &cerr)
	}
	return out, nil
}

func cPeerFree(pr *C.mtlsauthz_peer) { C.mtlsauthz_peer_free(pr) }

// peerDecide is mtlsauthz_peer_decide() into d; the per-request call: one cgo call that
// returns what the Decision holds, and ids interned per policy (nameCache), so nothing is
// allocated. On failure the message is fetched by a second call, so only the rare path pays
// for the error struct; a decision naming more than one dry-run id is asked again in full. The
// caller keeps the peer (and so its policy, which owns the rule ids) alive until this returns.
func peerDecide(d *Decision, pr *cPeer, op string, names *nameCache) {
	peer := C.uintptr_t(uintptr(unsafe.Pointer(pr)))
	r := C.gomtlsauthz_peer_decide(peer, op)
	switch {
	case r.rc != 0:
		peerDecideFailed(d, pr, op, r.rc)
	case r.dry_run_count > 1:
		full := C.gomtlsauthz_peer_decide_full(peer, op)
		if full.rc != 0 {
			peerDecideFailed(d, pr, op, full.rc)
			return
		}
		fillDecision(d, &full.d, names)
	default:
		*d = Decision{Allowed: r.allowed == 1, Reason: reasonOf(r.reason)}
		if r.rule != nil {
			d.Rule = names.get(r.rule)
		}
		if r.dry_run_count == 1 {
			d.DryRun = names.one(r.dry_run)
			d.DryRunCount = 1
		}
	}
}

// peerDecideFailed is the deny of a failed decision, with the library's message.
func peerDecideFailed(d *Decision, pr *cPeer, op string, rc C.int) {
	var cerr C.mtlsauthz_error
	if rc2 := C.gomtlsauthz_peer_decide_err(pr, op, &cerr); rc2 != 0 {
		rc = rc2
	}
	*d = denyError(newError(rc, &cerr))
}

// reasonOf is the Reason string of a library reason number ("error" for an unknown one).
func reasonOf(r C.int) string {
	if r >= 0 && int(r) < len(reasons) {
		return reasons[r]
	}
	return ReasonError
}

// cPeerDecideLoop decides n times in C (benchmarks only); it returns the number of allows,
// or -1 on an error.
func cPeerDecideLoop(pr *cPeer, op string, n int) int {
	return int(C.gomtlsauthz_peer_decide_loop(pr, op, C.long(n)))
}

// policyDecideNoIdentity is mtlsauthz_policy_decide() with a NULL identity (no_identity)
// into d. The caller holds the policy.
func policyDecideNoIdentity(d *Decision, p *cPolicy, op string, names *nameCache) {
	r := C.gomtlsauthz_policy_decide(p, nil, op)
	if r.rc != 0 {
		*d = denyError(newError(r.rc, nil))
		return
	}
	fillDecision(d, &r.d, names)
}

// fillDecision reads a C decision. Rule and dry-run ids are borrowed from the policy, so the
// caller must keep a reference on it (a peer holds one) until this returns.
func fillDecision(d *Decision, cd *C.mtlsauthz_decision, names *nameCache) {
	*d = Decision{Allowed: cd.allowed == 1, Reason: reasonOf(C.int(cd.reason))}
	if cd.rule != nil {
		d.Rule = names.get(cd.rule)
	}
	d.DryRunCount = int(cd.dry_run_count)
	switch n := min(d.DryRunCount, dryRunMax); n {
	case 0:
	case 1:
		d.DryRun = names.one(cd.dry_run[0])
	default:
		d.DryRun = make([]string, n)
		for i := 0; i < n; i++ {
			d.DryRun[i] = names.get(cd.dry_run[i])
		}
	}
}

// cHTTPOperation is mtlsauthz_http_operation() into buf when it holds the worst case
// (method + SP + target + NUL), which the result never exceeds, else into a new buffer. The
// result points into that buffer.
func cHTTPOperation(buf []byte, method, target string) (string, error) {
	if n := len(method) + len(target) + 2; n > len(buf) {
		buf = make([]byte, n)
	}
	out := (*C.char)(unsafe.Pointer(&buf[0]))
	r := C.gomtlsauthz_http_operation(out, C.size_t(len(buf)), method, target, nil)
	if r.rc != 0 {
		var cerr C.mtlsauthz_error
		r2 := C.gomtlsauthz_http_operation(out, C.size_t(len(buf)), method, target, &cerr)
		if r2.rc == 0 {
			r2.rc = r.rc
		}
		return "", newError(r2.rc, &cerr)
	}
	return unsafe.String(&buf[0], int(r.len)), nil
}

// reasonCount is one past the highest mtlsauthz_reason value (the reasons are ABI numbers).
const reasonCount = int(C.MTLSAUTHZ_REASON_IDENTITY_REJECTED) + 1

// cString is a borrowed C string from the library (rule ids).
type cString = *C.char

func goString(s cString) string { return C.GoString(s) }

// Aliases so the rest of the package can hold C handles without importing "C".
type (
	cPolicy   = C.mtlsauthz_policy
	cIdentity = C.mtlsauthz_identity
	cPeer     = C.mtlsauthz_peer
)
