// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

// BenchmarkAuthorizeBenchPolicy decides on the policies of the C benchmark's workload
// (bench/bench.c, docs/performance.md: N rules, one SPIFFE principal each), so that Authorize
// through cgo compares with the library's decision at 10, 1,000 and 100,000 rules. `make
// bench-go` writes the policies (`bench --callgrind decide N 1 DIR`, the same files as `make
// bench`) and names their directory in MTLSAUTHZ_BENCH_POLICIES; without it, the benchmark is
// skipped.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// benchQuery is one (identity, operation) pair of the sequence a benchmark cycles through.
type benchQuery struct {
	id *Identity
	op string
}

func BenchmarkAuthorizeBenchPolicy(b *testing.B) {
	dir := os.Getenv("MTLSAUTHZ_BENCH_POLICIES")
	if dir == "" {
		b.Skip("MTLSAUTHZ_BENCH_POLICIES is not set (make bench-go sets it)")
	}
	for _, n := range []int{10, 1000, 100000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			path := filepath.Join(dir, fmt.Sprintf("bench-policy-%d.yaml", n))
			yaml, err := os.ReadFile(path)
			if err != nil {
				b.Skip(err)
			}
			p, err := LoadPolicy(yaml)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			qs := benchQueries(b, string(yaml))
			want := make([]bool, len(qs))
			allows := 0
			for i, q := range qs {
				want[i] = p.Authorize(q.id, q.op).Allowed
				if want[i] {
					allows++
				}
			}
			// The hits ask for an operation their rule grants, the misses match no principal.
			if allows != 8 {
				b.Fatalf("%d of %d queries allowed, want 8", allows, len(qs))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				q := &qs[i%len(qs)]
				if p.Authorize(q.id, q.op).Allowed != want[i%len(qs)] {
					b.Fatal("the decision changed")
				}
			}
		})
	}
}

// benchQueries is a sequence in the proportions of the C benchmark's queries: of ten, five
// exact SPIFFE ID hits, two segment-glob hits, one trust-domain hit (each asking for an
// operation its rule grants) and two misses. The policy is read line by line: bench.c writes
// principals as `- name:` and `spiffe: ["..."]`, rules as `principals: [pN]` and
// `operations: [...]`.
func benchQueries(b *testing.B, yaml string) []benchQuery {
	pattern := map[string]string{}
	var name string
	var exact, glob, td []struct{ pat, op string }
	var principal string
	for _, line := range strings.Split(yaml, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "- name: "):
			name = strings.TrimPrefix(line, "- name: ")
		case strings.HasPrefix(line, "spiffe: [\""):
			pattern[name] = strings.TrimSuffix(strings.TrimPrefix(line, "spiffe: [\""), "\"]")
		case strings.HasPrefix(line, "principals: ["):
			principal = strings.TrimSuffix(strings.TrimPrefix(line, "principals: ["), "]")
		case strings.HasPrefix(line, "operations: [\""):
			op := strings.TrimPrefix(line, "operations: [\"")
			op = op[:strings.IndexByte(op, '"')]
			e := struct{ pat, op string }{pattern[principal], op}
			switch {
			case strings.HasSuffix(e.pat, "/**"):
				td = append(td, e)
			case strings.HasSuffix(e.pat, "/*"):
				glob = append(glob, e)
			default:
				exact = append(exact, e)
			}
		}
	}
	if len(exact) == 0 || len(glob) == 0 || len(td) == 0 {
		b.Fatalf("%d exact, %d glob, %d trust-domain principals: not a bench.c policy", len(exact), len(glob), len(td))
	}
	var qs []benchQuery
	add := func(spiffeID, op string) {
		qs = append(qs, benchQuery{id: benchIdentity(b, spiffeID), op: op})
	}
	for i := 0; i < 5; i++ {
		e := exact[i*len(exact)/5%len(exact)]
		add(e.pat, e.op)
	}
	for i := 0; i < 2; i++ {
		e := glob[i*len(glob)/2%len(glob)]
		add(strings.TrimSuffix(e.pat, "*")+"q1", e.op)
	}
	add(strings.TrimSuffix(td[0].pat, "**")+"ns/x1/q1", td[0].op)
	add("spiffe://other1.example/ns/ns0/svc1", exact[0].op)
	add("spiffe://td0/ns/nomatch/m1", exact[0].op)
	return qs
}

// benchIdentity is the identity of a certificate like bench.c's: EC P-256, one URI SAN (the
// SPIFFE ID), key usage digitalSignature (an X.509-SVID's), EKU clientAuth. It is self-signed: the library reads names, it does not verify.
func benchIdentity(b *testing.B, spiffeID string) *Identity {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	u, err := url.Parse(spiffeID)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "bench", OrganizationalUnit: []string{"bench"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		URIs:         []*url.URL{u},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		b.Fatal(err)
	}
	id, err := IdentityFromChain([]*x509.Certificate{cert})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { id.Close() })
	return id
}
