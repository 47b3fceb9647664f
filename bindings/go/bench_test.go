// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

// Benchmarks: go test -run '^$' -bench . -benchmem
// (no timing asserts in tests; numbers go to docs/performance.md with the command).

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// authorizeCases are the decisions of BenchmarkAuthorize and BenchmarkPeerDecideC.
var authorizeCases = []struct{ name, cert, op string }{
	{"allow", "builder", "POST /images/build"},
	{"deny", "builder", "POST /containers/abc/exec"},
	{"no_match", "ops", "POST /images/build"},
	{"dry_run", "ops", "GET /containers/abc/logs"},
}

// BenchmarkAuthorize is one decision with an identity whose peer is already resolved: the
// per-request cost, one cgo call.
func BenchmarkAuthorize(b *testing.B) {
	p := loadExample(b)
	for _, c := range authorizeCases {
		b.Run(c.name, func(b *testing.B) {
			id := identityOf(b, c.cert)
			want := p.Authorize(id, c.op)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if d := p.Authorize(id, c.op); d.Allowed != want.Allowed {
					b.Fatal(d)
				}
			}
		})
	}
}

// BenchmarkPeerDecideC is the library's decision alone, looped in C, for each decision of
// BenchmarkAuthorize: BenchmarkAuthorize minus this is what the binding (the cgo transition
// and the Go side) adds.
func BenchmarkPeerDecideC(b *testing.B) {
	p := loadExample(b)
	for _, c := range authorizeCases {
		b.Run(c.name, func(b *testing.B) {
			id := identityOf(b, c.cert)
			pr, err := id.peer(p)
			if err != nil {
				b.Fatal(err)
			}
			want := 0
			if p.Authorize(id, c.op).Allowed {
				want = b.N
			}
			b.ResetTimer()
			if n := cPeerDecideLoop(pr.c, c.op, b.N); n != want {
				b.Fatalf("%d allows of %d, want %d", n, b.N, want)
			}
		})
	}
}

// BenchmarkCgoCall is one trivial call through cgo (mtlsauthz_policy_rule_count(NULL)): the
// floor for any call into the library from Go on this machine.
func BenchmarkCgoCall(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if cPolicyRuleCount(nil) != 0 {
			b.Fatal("rule count of NULL")
		}
	}
}

// BenchmarkAuthorizeParallel is BenchmarkAuthorize/allow from GOMAXPROCS goroutines sharing
// one policy and one identity.
func BenchmarkAuthorizeParallel(b *testing.B) {
	p := loadExample(b)
	id := identityOf(b, "builder")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !p.Authorize(id, "POST /images/build").Allowed {
				b.Fatal("denied")
			}
		}
	})
}

// BenchmarkStoreAuthorize is Store.Authorize (the hot-reload path) with a cached identity.
func BenchmarkStoreAuthorize(b *testing.B) {
	s, err := NewStore(examplePolicy)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	id := identityOf(b, "builder")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !s.Authorize(id, "POST /images/build").Allowed {
			b.Fatal("denied")
		}
	}
}

// BenchmarkIdentity is the per-connection work: reading the verified chain (leaf,
// intermediate, root) and resolving it against the policy.
func BenchmarkIdentity(b *testing.B) {
	p := loadExample(b)
	chain := verifiedChainOf(b, "builder")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		id, err := IdentityFromChain(chain)
		if err != nil {
			b.Fatal(err)
		}
		if !p.Authorize(id, "POST /images/build").Allowed {
			b.Fatal("denied")
		}
		id.Close()
	}
}

func BenchmarkHTTPOperation(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := HTTPOperation("POST", "/containers/abc/%65xec?x=1"); err != nil {
			b.Fatal(err)
		}
	}
}

// nopWriter is a reusable ResponseWriter, so the benchmark measures the middleware.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(int)             {}

// BenchmarkMiddleware is the whole middleware for one request on a connection whose identity
// is cached: canonical operation, identity lookup, decision, and the next handler (empty).
func BenchmarkMiddleware(b *testing.B) {
	p := loadExample(b)
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	cs := &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{verifiedChainOf(b, "builder")}}
	for _, c := range []struct{ name, method, target string }{
		{"allow", "POST", "/images/build"},
		{"deny", "POST", "/containers/abc/exec"},
	} {
		b.Run(c.name, func(b *testing.B) {
			h := Middleware(p)(next)
			r := httptest.NewRequest(c.method, c.target, nil)
			r.TLS = cs
			w := &nopWriter{h: http.Header{}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				h.ServeHTTP(w, r)
			}
		})
	}
}

// BenchmarkServerTLS is end to end: HTTP/1.1 requests on one keep-alive mTLS connection to a
// real server, without and with the middleware, so the difference is its cost in context.
func BenchmarkServerTLS(b *testing.B) {
	p := loadExample(b)
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	for _, c := range []struct {
		name string
		h    http.Handler
	}{
		{"without", ok},
		{"with_middleware", Middleware(p)(ok)},
	} {
		b.Run(c.name, func(b *testing.B) {
			srv := newServer(b, c.h, tls.RequireAndVerifyClientCert)
			client := clientFor(b, "builder")
			url := srv.URL + "/images/build"
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				resp, err := client.Post(url, "text/plain", nil)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatal(resp.Status)
				}
			}
		})
	}
}
