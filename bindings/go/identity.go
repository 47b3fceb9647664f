// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

import (
	"crypto/tls"
	"crypto/x509"
	"runtime"
	"sync"
	"sync/atomic"
)

// Identity is a peer identity read by the library from a verified certificate chain. It is
// safe for concurrent use. It caches, per policy, the library's per-connection work (which
// principals the identity matches), so keep one Identity per TLS connection and reuse it for
// every request on that connection. Close frees its C memory (a finalizer does so otherwise).
type Identity struct {
	// mu guards c and serializes changes to peers.
	mu sync.Mutex
	c  *cIdentity
	// peers is a small copy-on-write list, read without locks on every decision.
	peers atomic.Pointer[[]peerEntry]
	leaf  *x509.Certificate
	// partial: read from an X-Forwarded-Client-Cert without the certificate (Partial).
	partial bool
	// names is what the library read for the decision log, copied on first use.
	names atomic.Pointer[identityNames]
}

// identityNames are an identity's fields in the decision log (docs/http.md), as the library
// prints them; a has flag is false when the identity holds no such field (hasSPIFFE when the
// leaf is not an X.509-SVID; the others only for a partial identity, which has no issuer or
// serial, and may have no subject or SHA-256).
type identityNames struct {
	subject, issuer, serial, sha256, spiffeID              string
	hasSubject, hasIssuer, hasSerial, hasSHA256, hasSPIFFE bool
}

// peer is the library's identity resolved against one policy (mtlsauthz_peer). It holds a C
// reference on that policy. It is freed by a finalizer, never explicitly, because a decision
// may be using it while the cache drops it; decisions call runtime.KeepAlive on it.
type peer struct {
	c      *cPeer
	policy *policyState
}

type peerEntry struct {
	policy *policyState
	peer   *peer
}

// maxPeers bounds the policies an identity remembers (the current one and a few it replaced).
const maxPeers = 4

// errPolicyClosed and errIdentityClosed are ErrClosed (errors.Is) for a policy and an
// identity. A Store retries a decision that met a closed policy (it was replaced by a
// reload), never one that met a closed identity.
var (
	errPolicyClosed   error = &closedError{"policy"}
	errIdentityClosed error = &closedError{"identity"}
)

type closedError struct{ what string }

func (e *closedError) Error() string        { return "mtlsauthz: " + e.what + " is closed" }
func (e *closedError) Is(target error) bool { return target == ErrClosed }

// testHookIdentity and testHookPeer, when set by tests, count extractions and resolutions.
var testHookIdentity, testHookPeer atomic.Pointer[func()]

// IdentityFromChain reads an identity from a certificate chain that your TLS stack has
// VERIFIED, leaf first (for example tls.ConnectionState.VerifiedChains[0]). The library reads
// names; it does not verify. The certificates' DER (Certificate.Raw) is passed as is.
func IdentityFromChain(chain []*x509.Certificate) (*Identity, error) {
	if len(chain) == 0 {
		return nil, ErrNoVerifiedChain
	}
	c, err := cIdentityFromChain(chain)
	if err != nil {
		return nil, err
	}
	if h := testHookIdentity.Load(); h != nil {
		(*h)()
	}
	id := &Identity{c: c, leaf: chain[0]}
	runtime.SetFinalizer(id, (*Identity).Close)
	return id, nil
}

// IdentityFromConnectionState reads the identity of a TLS peer from its verified chain
// (cs.VerifiedChains[0]) and never from cs.PeerCertificates, which holds unverified
// certificates under tls.RequireAnyClientCert. It returns ErrNoVerifiedChain when there is
// no verified chain.
func IdentityFromConnectionState(cs *tls.ConnectionState) (*Identity, error) {
	return IdentityFromChain(verifiedChain(cs))
}

// Leaf is the leaf certificate the identity was read from; nil for an identity read from an
// X-Forwarded-Client-Cert header (IdentityFromXFCC), whose certificate, if the header sent it,
// this process did not verify.
func (id *Identity) Leaf() *x509.Certificate { return id.leaf }

// Partial reports whether the identity was read from an X-Forwarded-Client-Cert header without
// the certificate (mtlsauthz_identity_partial): it holds only what the header said (SHA-256,
// subject DN and its CN, O and OU, URI and DNS SANs), and a principal key on any other field
// (issuer, serial, eku, email, ip) never matches it (docs/policy.md, "Identities from
// X-Forwarded-Client-Cert").
func (id *Identity) Partial() bool { return id.partial }

// Rejected is the library's reason why the identity may never be authorized (a NUL byte in a
// name, an invalid SPIFFE ID), or "" when it may be. A closed identity reports ErrClosed's text.
func (id *Identity) Rejected() string {
	id.mu.Lock()
	defer id.mu.Unlock()
	if id.c == nil {
		return ErrClosed.Error()
	}
	return cIdentityRejected(id.c)
}

// JSON renders the identity as the library's JSON document (`mtlsauthz identity --format json`).
func (id *Identity) JSON() (string, error) {
	id.mu.Lock()
	defer id.mu.Unlock()
	if id.c == nil {
		return "", ErrClosed
	}
	return cIdentityJSON(id.c)
}

// SubjectDN is the leaf's subject DN as the library prints it: RFC 2253, the string that
// `dn:` patterns match (docs/policy.md). It is not crypto/x509's pkix.Name.String(), which
// orders and spells attributes its own way. "" once the identity is closed.
func (id *Identity) SubjectDN() string { return id.fields().subject }

// IssuerDN is the leaf's issuer DN, in the same form as SubjectDN.
func (id *Identity) IssuerDN() string { return id.fields().issuer }

// Serial is the leaf's serial number in lowercase hex, as `serial:` patterns match it.
func (id *Identity) Serial() string { return id.fields().serial }

// SHA256 is the SHA-256 fingerprint of the leaf's DER, in lowercase hex.
func (id *Identity) SHA256() string { return id.fields().sha256 }

// SPIFFEID is the leaf's SPIFFE ID, or "" when the leaf is not a valid X.509-SVID.
func (id *Identity) SPIFFEID() string { return id.fields().spiffeID }

// fields reads the logged fields once; a closed identity has none (and caches nothing).
func (id *Identity) fields() *identityNames {
	if n := id.names.Load(); n != nil {
		return n
	}
	id.mu.Lock()
	defer id.mu.Unlock()
	if n := id.names.Load(); n != nil {
		return n
	}
	if id.c == nil {
		return &identityNames{}
	}
	n := &identityNames{}
	n.subject, n.hasSubject = cIdentityField(id.c, fieldSubjectDN)
	n.issuer, n.hasIssuer = cIdentityField(id.c, fieldIssuerDN)
	n.serial, n.hasSerial = cIdentityField(id.c, fieldSerial)
	n.sha256, n.hasSHA256 = cIdentityField(id.c, fieldSHA256)
	n.spiffeID, n.hasSPIFFE = cIdentityField(id.c, fieldSPIFFEID)
	id.names.Store(n)
	return n
}

// Close frees the identity's C memory. It is idempotent and safe while other goroutines use
// the identity; decisions started after Close deny with ErrClosed.
func (id *Identity) Close() error {
	if id == nil {
		return nil
	}
	id.mu.Lock()
	c := id.c
	id.c = nil
	id.peers.Store(nil)
	id.mu.Unlock()
	cIdentityFree(c)
	return nil
}

// peer returns the identity resolved against p, resolving it on first use.
func (id *Identity) peer(p *Policy) (*peer, error) {
	if l := id.peers.Load(); l != nil {
		for _, e := range *l {
			if e.policy == p.state {
				return e.peer, nil
			}
		}
	}
	return id.resolve(p)
}

func (id *Identity) resolve(p *Policy) (*peer, error) {
	id.mu.Lock()
	defer id.mu.Unlock()
	old := id.peers.Load()
	if old != nil {
		for _, e := range *old {
			if e.policy == p.state {
				return e.peer, nil
			}
		}
	}
	if id.c == nil {
		return nil, errIdentityClosed
	}
	c, err := p.newPeer(id.c)
	if err != nil {
		return nil, err
	}
	if h := testHookPeer.Load(); h != nil {
		(*h)()
	}
	pr := &peer{c: c, policy: p.state}
	runtime.SetFinalizer(pr, func(pr *peer) { cPeerFree(pr.c) })
	// The new peer first, then the most recent others whose policy is still open.
	l := make([]peerEntry, 1, maxPeers)
	l[0] = peerEntry{policy: p.state, peer: pr}
	if old != nil {
		for _, e := range *old {
			if len(l) == maxPeers {
				break
			}
			if !e.policy.closed.Load() {
				l = append(l, e)
			}
		}
	}
	id.peers.Store(&l)
	return pr, nil
}

// newPeer resolves a C identity against p (mtlsauthz_peer_new), holding p's C handle shared
// so Close cannot free it meanwhile.
func (p *Policy) newPeer(id *cIdentity) (*cPeer, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.c == nil {
		return nil, errPolicyClosed
	}
	return cPeerNew(p.c, id)
}
