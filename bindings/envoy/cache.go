// SPDX-License-Identifier: Apache-2.0

package mtlsauthzenvoy

import (
	"container/list"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"sync"
	"sync/atomic"
	"unsafe"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	mtlsauthz "github.com/libmtlsauthz/mtlsauthz/bindings/go"
)

// DefaultIdentityCacheSize is how many client certificates the server keeps read by default.
const DefaultIdentityCacheSize = 4096

// identityCache maps a source.certificate attribute to the identity read from it, so that the
// certificate Envoy sends with every request is decoded, parsed and read by the library once,
// and resolved once per policy (the Identity keeps that per-policy work). The key is the
// SHA-256 of the attribute exactly as Envoy sent it: collision-resistant, so one certificate
// can never be taken for another, and a fixed 32 bytes whatever the certificate's size.
//
// It is a least-recently-used cache of at most max entries. An evicted Identity is not
// closed, because a decision may still be using it; the garbage collector frees its C memory.
type identityCache struct {
	max int
	// mu guards ll and m.
	mu sync.Mutex
	ll list.List // of *cacheEntry, most recently used first
	m  map[[sha256.Size]byte]*list.Element
	// reads counts the certificates read (the misses).
	reads atomic.Uint64
}

type cacheEntry struct {
	key [sha256.Size]byte
	ci  *cachedIdentity
}

// cachedIdentity is an identity and the responses already built for it. A CheckResponse
// depends only on the answer (status, reason, rule) and on the identity (its SPIFFE ID, in the
// metadata), and nothing changes a response once it is built (gRPC only reads it to send
// it), so one identity's requests share their responses.
type cachedIdentity struct {
	id *mtlsauthz.Identity
	// responses is a small copy-on-write list, read without locks; mu serializes additions.
	responses atomic.Pointer[[]cachedResponse]
	mu        sync.Mutex
}

type responseKey struct {
	status       int
	reason, rule string
}

type cachedResponse struct {
	key responseKey
	r   *authv3.CheckResponse
}

// maxResponses bounds the responses kept per identity: the answers it gets are few (a rule
// or two, a deny), and one it gets rarely is built each time.
const maxResponses = 8

// response is st's response, built once per identity and answer.
func (ci *cachedIdentity) response(st *checkState) *authv3.CheckResponse {
	k := responseKey{st.status, st.d.Reason, st.d.Rule}
	if l := ci.responses.Load(); l != nil {
		for _, e := range *l {
			if e.key == k {
				return e.r
			}
		}
	}
	r := response(st)
	ci.mu.Lock()
	defer ci.mu.Unlock()
	var l []cachedResponse
	if old := ci.responses.Load(); old != nil {
		l = *old
	}
	if len(l) < maxResponses {
		l = append(l[:len(l):len(l)], cachedResponse{k, r})
		ci.responses.Store(&l)
	}
	return r
}

func newIdentityCache(max int) *identityCache {
	if max <= 0 {
		max = DefaultIdentityCacheSize
	}
	return &identityCache{max: max, m: make(map[[sha256.Size]byte]*list.Element)}
}

// get is the identity of the certificate in attr, read on a miss. Failures are not cached: a
// certificate Envoy verified does not fail to decode, so a failure is rare.
func (c *identityCache) get(attr string) (*cachedIdentity, error) {
	// The bytes are only read, never kept or changed.
	key := sha256.Sum256(unsafe.Slice(unsafe.StringData(attr), len(attr)))
	if ci := c.lookup(key); ci != nil {
		return ci, nil
	}
	c.reads.Add(1)
	id, err := readIdentity(attr)
	if err != nil {
		return nil, err
	}
	return c.insert(key, id), nil
}

func (c *identityCache) lookup(key [sha256.Size]byte) *cachedIdentity {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return nil
	}
	c.ll.MoveToFront(e)
	return e.Value.(*cacheEntry).ci
}

// insert adds id under key and returns the cached identity: id's, or the one another request
// read meanwhile (then id, which nobody else has seen, is closed).
func (c *identityCache) insert(key [sha256.Size]byte, id *mtlsauthz.Identity) *cachedIdentity {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[key]; ok {
		c.ll.MoveToFront(e)
		id.Close()
		return e.Value.(*cacheEntry).ci
	}
	ci := &cachedIdentity{id: id}
	c.m[key] = c.ll.PushFront(&cacheEntry{key: key, ci: ci})
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.m, last.Value.(*cacheEntry).key)
	}
	return ci
}

// len is the number of cached identities.
func (c *identityCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// readIdentity decodes the certificate in attr and reads its identity with the library. The
// leaf alone is enough: the identity is the leaf's, and Envoy has already verified the chain.
func readIdentity(attr string) (*mtlsauthz.Identity, error) {
	leaf, err := decodeCertificate(attr)
	if err != nil {
		return nil, err
	}
	id, err := mtlsauthz.IdentityFromChain([]*x509.Certificate{leaf})
	if err != nil {
		// A certificate the library cannot read (malformed DER, a limit) has no identity.
		if errors.Is(err, mtlsauthz.ErrCert) || errors.Is(err, mtlsauthz.ErrLimit) {
			return nil, &CertificateError{Msg: err.Error()}
		}
		return nil, err
	}
	return id, nil
}
