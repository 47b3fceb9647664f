// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Error is an error reported by the C library: its code, the code's symbolic name and the
// library's one-line message (for a policy, the key, rule, principal or pattern, and where).
//
// A policy load error also says where it is (docs/policy.md, "Errors"): Line and Column are
// the 1-based position of the YAML node at fault (0 when there is none, as for a file that
// cannot be read), and File is the path LoadPolicyFile was given ("" for LoadPolicy). The
// Message already starts with them: "FILE:LINE:COLUMN: text", "FILE: text" or
// "LINE:COLUMN: text".
type Error struct {
	Code    int    // the negative MTLSAUTHZ_E* code
	Name    string // "MTLSAUTHZ_EPOLICY", ...
	Message string // the library's message
	File    string // the policy file, for LoadPolicyFile and Store errors
	Line    int    // 1-based line of the YAML node at fault; 0 when unknown
	Column  int    // 1-based column of the YAML node at fault; 0 when unknown
}

func (e *Error) Error() string { return "mtlsauthz: " + e.Message }

// Text is Message without the "FILE:", "FILE:LINE:COLUMN:" or "LINE:COLUMN:" in front of it,
// for a caller that says where itself, or whose policy a program wrote from other input (its
// lines and columns would mean nothing to the user).
func (e *Error) Text() string {
	m := e.Message
	if e.File != "" && strings.HasPrefix(m, e.File+":") {
		m = m[len(e.File)+1:]
		if e.Line == 0 {
			return strings.TrimPrefix(m, " ")
		}
	}
	if e.Line > 0 {
		m = strings.TrimPrefix(m, fmt.Sprintf("%d:%d: ", e.Line, e.Column))
	}
	return m
}

// ErrClosed is the error of a decision made with a closed Policy, Identity or Store.
var ErrClosed = errors.New("mtlsauthz: closed")

// ErrNoVerifiedChain is returned when a TLS connection has no verified client certificate
// chain (no certificate, or a tls.Config that did not verify it, such as RequireAnyClientCert).
var ErrNoVerifiedChain = errors.New("mtlsauthz: no verified client certificate chain")

// The stable reason codes of a Decision (docs/policy.md). They are the library's strings;
// a test checks that they match mtlsauthz_reason_string().
const (
	ReasonAllowed          = "allowed"           // an allow rule matched, no deny did
	ReasonDenied           = "denied"            // an enforce-mode deny rule matched
	ReasonNoMatch          = "no_match"          // no allow rule matched; default deny
	ReasonNoIdentity       = "no_identity"       // no identity was given
	ReasonIdentityRejected = "identity_rejected" // the identity may not be authorized at all
	ReasonError            = "error"             // something failed; denied
)

// reasons maps the library's reason numbers to its strings, read once from the library.
var reasons = func() (t [reasonCount]string) {
	for i := range t {
		t[i] = reasonString(i)
	}
	return t
}()

// Decision is the outcome of one authorization. Only Allowed grants access; any error is a
// deny with Reason "error" and Err set.
type Decision struct {
	Allowed bool
	// Rule is the id of the deciding rule: the first matching enforce-mode deny rule in file
	// order, else the first matching allow rule; "" when none decided.
	Rule string
	// Reason is one of the Reason* codes.
	Reason string
	// DryRun lists the ids of the dry-run rules that matched, in file order (at most 8 are
	// named; DryRunCount says how many matched). It may be shared with other decisions:
	// read it, do not modify it.
	DryRun      []string
	DryRunCount int
	// Err is why the decision failed, when Reason is "error", or why a trusted proxy's
	// X-Forwarded-Client-Cert gave no identity (errors.Is ErrXFCC; see WithXFCC).
	Err error
}

func denyError(err error) Decision {
	return Decision{Reason: ReasonError, Err: err}
}

// Policy is a compiled policy. It is safe for concurrent use by any number of goroutines.
// Close frees its C memory; a finalizer does so if Close is never called. Decisions already
// running when Close is called finish safely on the policy (the library reference-counts it,
// and every per-connection peer holds a reference); decisions started after Close deny with
// ErrClosed.
type Policy struct {
	state *policyState
	// mu guards c: held shared while a peer is resolved against c, exclusively by Close.
	mu sync.RWMutex
	c  *cPolicy
}

// policyState is what per-identity caches and peers keep of a policy, without keeping the
// *Policy itself reachable (so its finalizer can still run).
type policyState struct {
	closed atomic.Bool
	names  nameCache
}

// LoadPolicy compiles a policy from YAML text. Errors are *Error with the library's message
// and the position of the mistake (Line, Column).
func LoadPolicy(yaml []byte) (*Policy, error) {
	c, err := cPolicyLoad(string(yaml))
	if err != nil {
		return nil, err
	}
	return newPolicy(c), nil
}

// LoadPolicyFile compiles the policy in the file at path. Errors are *Error with the
// library's message, File set to path, and the position of the mistake (Line, Column).
func LoadPolicyFile(path string) (*Policy, error) {
	c, err := cPolicyLoadFile(path)
	if err != nil {
		return nil, err
	}
	return newPolicy(c), nil
}

func newPolicy(c *cPolicy) *Policy {
	p := &Policy{state: &policyState{}, c: c}
	runtime.SetFinalizer(p, (*Policy).Close)
	return p
}

// Close drops the policy's C reference. It is idempotent, and safe while other goroutines
// are inside Authorize. It always returns nil.
func (p *Policy) Close() error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	c := p.c
	p.c = nil
	p.state.closed.Store(true)
	p.mu.Unlock()
	cPolicyFree(c)
	return nil
}

// RuleCount is the number of rules in the policy (dry-run rules included); 0 once closed.
func (p *Policy) RuleCount() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.c == nil {
		return 0
	}
	return cPolicyRuleCount(p.c)
}

// The values of a policy's top-level protocol key, as Policy.Protocol reports them
// (docs/policy.md).
const (
	// ProtocolHTTP: every operation pattern is an HTTP operation pattern ("METHOD /path"), so
	// a pattern that no HTTP request can match is a load error.
	ProtocolHTTP = "http"
	// ProtocolAny, the default when the key is absent: named operations ("images:build") too.
	ProtocolAny = "any"
)

// Protocol is the policy's declared protocol (mtlsauthz_policy_protocol): ProtocolHTTP when
// its top-level key says "protocol: http", else ProtocolAny (also for a nil or closed policy).
func (p *Policy) Protocol() string {
	if p == nil {
		return ProtocolAny
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if cPolicyProtocolHTTP(p.c) {
		return ProtocolHTTP
	}
	return ProtocolAny
}

// Authorize decides whether id may perform op under p. A nil id is denied with reason
// no_identity. The per-connection work (resolving id against p) is done on the first call
// for each (policy, identity) pair and cached in id; later calls only match op.
func (p *Policy) Authorize(id *Identity, op string) Decision {
	var d Decision
	p.authorize(&d, id, op)
	return d
}

// authorize is Authorize into d, and reports false when p was closed, so that a Store can
// retry on the policy that replaced it.
func (p *Policy) authorize(d *Decision, id *Identity, op string) bool {
	if p == nil {
		*d = denyError(errors.New("mtlsauthz: nil policy"))
		return true
	}
	if p.state.closed.Load() {
		*d = denyError(errPolicyClosed)
		return false
	}
	if id == nil {
		return p.decideNoIdentity(d, op)
	}
	pr, err := id.peer(p)
	if err != nil {
		*d = denyError(err)
		return err != errPolicyClosed
	}
	peerDecide(d, pr.c, op, &pr.policy.names)
	runtime.KeepAlive(pr)
	return true
}

func (p *Policy) decideNoIdentity(d *Decision, op string) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.c == nil {
		*d = denyError(errPolicyClosed)
		return false
	}
	policyDecideNoIdentity(d, p.c, op, &p.state.names)
	return true
}

// nameCache interns the rule ids of one policy, keyed by the address of the library's string,
// so a decision does not allocate a Go string per request. The addresses are stable while the
// policy lives, and the cache is only read through peers, which hold a reference on it.
//
// It is an open-addressed table of the ids seen so far, read without locks or a map: a
// decision hashes the address, and compares it with the entries from that slot on until it
// finds it (the usual case: the first slot) or an empty slot. Entries are only added (under
// mu, at most nameCacheMax of them, so at least half the slots stay empty and a probe ends),
// never changed or removed, so a reader sees either nothing or a whole entry.
type nameCache struct {
	slots [nameCacheSlots]atomic.Pointer[internedName]
	mu    sync.Mutex
	n     int // entries in slots, under mu
}

// internedName is one rule id: its address in the policy, its Go string, and the one-element
// DryRun list of a decision in which it is the only dry-run match (shared by those decisions).
type internedName struct {
	c   cString
	s   string
	one []string
}

// nameCacheMax bounds the interned ids (a policy may have 100,000 rules; few decide); an id
// seen after that is copied on every decision. nameCacheSlots is twice that, a power of two.
const (
	nameCacheMax   = 1024
	nameCacheSlots = 2 * nameCacheMax
)

// nameSlot is where the probe for s starts (Fibonacci hashing of the address: its low bits
// are alignment, its high bits the same for every string of the policy).
func nameSlot(s cString) uint {
	return uint((uint64(uintptr(unsafe.Pointer(s))) * 0x9E3779B97F4A7C15) >> (64 - nameCacheShift))
}

// nameCacheShift is log2(nameCacheSlots).
const nameCacheShift = 11

func (c *nameCache) lookup(s cString) *internedName {
	for i := nameSlot(s); ; i = (i + 1) & (nameCacheSlots - 1) {
		e := c.slots[i].Load()
		if e == nil {
			return c.add(s)
		}
		if e.c == s {
			return e
		}
	}
}

// get is the rule id at s as a Go string.
func (c *nameCache) get(s cString) string { return c.lookup(s).s }

// one is the DryRun list of a decision whose only dry-run match is the rule id at s. It is
// shared by every such decision (Decision.DryRun is read-only).
func (c *nameCache) one(s cString) []string { return c.lookup(s).one }

// add interns the rule id at s, unless another decision did first or the cache is full.
func (c *nameCache) add(s cString) *internedName {
	v := goString(s)
	e := &internedName{c: s, s: v, one: []string{v}}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n >= nameCacheMax {
		return e
	}
	for i := nameSlot(s); ; i = (i + 1) & (nameCacheSlots - 1) {
		x := c.slots[i].Load()
		if x == nil {
			c.slots[i].Store(e)
			c.n++
			return e
		}
		if x.c == s {
			return x
		}
	}
}

// Version is the C library's version string (mtlsauthz_version()).
func Version() string { return versionString() }
