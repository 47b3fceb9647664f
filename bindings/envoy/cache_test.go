// SPDX-License-Identifier: Apache-2.0

package mtlsauthzenvoy

import (
	"context"
	"crypto/x509"
	"sync"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	mtlsauthz "github.com/libmtlsauthz/mtlsauthz/bindings/go"
)

// TestIdentityCache: a hit is the same identity, the least recently used is evicted first,
// failures are not kept, and concurrent misses on one certificate keep one identity.
func TestIdentityCache(t *testing.T) {
	attr := func(name string) string {
		kp := keyPair(t, name)
		c, _ := x509.ParseCertificate(kp.Certificate[0])
		return certificateAttribute(c)
	}
	a, b, c := attr("builder"), attr("ops"), attr("plain")
	cache := newIdentityCache(2)
	get := func(s string) *mtlsauthz.Identity {
		ci, err := cache.get(s)
		if err != nil {
			t.Fatal(err)
		}
		return ci.id
	}
	idA := get(a)
	if get(a) != idA || cache.reads.Load() != 1 {
		t.Errorf("a hit read the certificate again (%d reads)", cache.reads.Load())
	}
	idB := get(b)
	get(a) // a is now the most recent
	get(c) // evicts b
	if cache.len() != 2 {
		t.Errorf("%d entries, want 2", cache.len())
	}
	if get(a) != idA {
		t.Error("the most recently used entry was evicted")
	}
	if get(b) == idB || cache.reads.Load() != 4 {
		t.Errorf("the least recently used entry was kept (%d reads, want 4)", cache.reads.Load())
	}
	if _, err := cache.get("%"); err == nil || cache.len() != 2 {
		t.Errorf("a failure: %v, %d entries", err, cache.len())
	}
	if id := get(a); id.SubjectDN() != "CN=builder,O=Example Corp" {
		t.Errorf("the cached identity is %q", id.SubjectDN())
	}

	cache = newIdentityCache(16)
	var wg sync.WaitGroup
	ids := make([]*mtlsauthz.Identity, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ci, err := cache.get(a); err == nil {
				ids[i] = ci.id
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] || id.SubjectDN() != "CN=builder,O=Example Corp" {
			t.Fatalf("concurrent misses kept different identities (or a closed one): %q", id.SubjectDN())
		}
	}
}

// TestResponsesShared: one identity's requests with the same answer share one response, and
// its responses carry its own SPIFFE ID; an answer without an identity is built each time.
func TestResponsesShared(t *testing.T) {
	store, err := mtlsauthz.NewStore(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	srv := NewServer(store)
	builder, ops := downstreamOf(t, "builder"), downstreamOf(t, "ops")
	check := func(ds downstream, method, path string) *authv3.CheckResponse {
		r, err := srv.Check(context.Background(), checkRequest(ds, method, path))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a1, a2 := check(builder, "POST", "/images/build"), check(builder, "POST", "/images/a/push")
	if a1 != a2 {
		t.Error("two allows by the same rule for one identity were built twice")
	}
	if d := check(builder, "POST", "/containers/a/exec"); d == a1 || answerOf(t, d).status != 403 {
		t.Error("a deny shares the allow's response")
	}
	if o := check(ops, "GET", "/containers/a"); o == a1 || answerOf(t, o).metadata["spiffe_id"] != nil {
		t.Error("ops shares the builder's response")
	}
	if m := answerOf(t, check(builder, "POST", "/images/build")).metadata; m["spiffe_id"] != "spiffe://prod.example.com/ci/builder" ||
		m["rule"] != "build-images" || m["decision"] != "allow" {
		t.Errorf("the shared response's metadata: %v", m)
	}
	none := downstreamOf(t, "")
	if check(none, "GET", "/healthz") == check(none, "GET", "/healthz") {
		t.Error("responses without an identity are shared")
	}
}
