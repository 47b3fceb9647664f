package mtlsauthzenvoy

import (
	"container/list"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"sync"
	"unsafe"

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
}

type cacheEntry struct {
	key [sha256.Size]byte
	id  *mtlsauthz.Identity
}

func newIdentityCache(max int) *identityCache {
	if max <= 0 {
		max = DefaultIdentityCacheSize
	}
	return &identityCache{max: max, m: make(map[[sha256.Size]byte]*list.Element)}
}

// get is the identity of the certificate in attr, read on a miss. Failures are not cached: a
// certificate Envoy verified does not fail to decode, so a failure is rare.
func (c *identityCache) get(attr string) (*mtlsauthz.Identity, error) {
	// The bytes are only read, never kept or changed.
	key := sha256.Sum256(unsafe.Slice(unsafe.StringData(attr), len(attr)))
	if id := c.lookup(key); id != nil {
		return id, nil
	}
	id, err := readIdentity(attr)
	if err != nil {
		return nil, err
	}
	return c.insert(key, id), nil
}

func (c *identityCache) lookup(key [sha256.Size]byte) *mtlsauthz.Identity {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return nil
	}
	c.ll.MoveToFront(e)
	return e.Value.(*cacheEntry).id
}

// insert adds id under key and returns the cached identity: id, or the one another request
// read meanwhile (then id, which nobody else has seen, is closed).
func (c *identityCache) insert(key [sha256.Size]byte, id *mtlsauthz.Identity) *mtlsauthz.Identity {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[key]; ok {
		c.ll.MoveToFront(e)
		id.Close()
		return e.Value.(*cacheEntry).id
	}
	c.m[key] = c.ll.PushFront(&cacheEntry{key: key, id: id})
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.m, last.Value.(*cacheEntry).key)
	}
	return id
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
