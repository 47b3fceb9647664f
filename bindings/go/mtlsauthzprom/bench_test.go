// SPDX-License-Identifier: Apache-2.0

package mtlsauthzprom

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"testing"

	mtlsauthz "github.com/libmtlsauthz/mtlsauthz/bindings/go"
)

// Benchmarks (make bench-go): the cost of counting, Observe alone and in the middleware.

// BenchmarkObserve is one counted decision on an existing series.
func BenchmarkObserve(b *testing.B) {
	c := New()
	d := mtlsauthz.Decision{Allowed: true, Reason: mtlsauthz.ReasonAllowed, Rule: "build-images"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c.Observe(nil, d)
	}
}

// nopWriter is a reusable ResponseWriter, so the benchmark measures the middleware.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(int)             {}

// BenchmarkMiddleware is the binding's BenchmarkMiddleware (one request on a connection whose
// identity is cached) without a hook and with the collector's: the difference is the cost of
// counting.
func BenchmarkMiddleware(b *testing.B) {
	p, err := mtlsauthz.LoadPolicyFile(examplePolicy)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	kp, err := tls.LoadX509KeyPair(certDir+"/builder-chain.pem", certDir+"/builder.key")
	if err != nil {
		b.Fatal(err)
	}
	var chain []*x509.Certificate
	for _, der := range kp.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			b.Fatal(err)
		}
		chain = append(chain, c)
	}
	// The chain as a verifier would return it; the middleware reads it, it does not verify.
	cs := &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{chain}}
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, hook := range []string{"without_hook", "with_collector"} {
		for _, c := range []struct{ name, method, target string }{
			{"allow", "POST", "/images/build"},
			{"deny", "POST", "/containers/abc/exec"},
		} {
			b.Run(hook+"/"+c.name, func(b *testing.B) {
				var opts []mtlsauthz.Option
				if hook == "with_collector" {
					opts = append(opts, mtlsauthz.WithDecisionHook(New().Observe))
				}
				h := mtlsauthz.Middleware(p, opts...)(next)
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
}
