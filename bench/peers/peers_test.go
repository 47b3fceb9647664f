// SPDX-License-Identifier: Apache-2.0

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testOps are bench.c's 32 operations (ops_init()).
func testOps() []string {
	methods := []string{"GET", "POST", "PUT", "DELETE"}
	resources := []string{"/v1/orders", "/v1/invoices", "/v1/customers", "/v1/payments",
		"/v1/shipments", "/v1/products", "/v1/reports", "/v1/accounts"}
	var ops []string
	for i := 0; i < 32; i++ {
		ops = append(ops, methods[i%4]+" "+resources[i/4])
	}
	return ops
}

func testCert(t *testing.T, key *ecdsa.PrivateKey, id string) *x509.Certificate {
	t.Helper()
	u, err := url.Parse(id)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{Organization: []string{"Bench Corp"}, CommonName: "peers-test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		URIs:         []*url.URL{u},

		BasicConstraintsValid: true,
	}
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "peers-test CA"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// testWorkload is a small workload of every kind, with its expectations written by hand, and
// its policy written as bench.c writes it.
func testWorkload(t *testing.T) *workload {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	w := &workload{n: 4, ops: testOps(), rules: []rule{
		{"r0", kindExact, "spiffe://td0/ns/ns0/svc0", 0b11},
		{"r1", kindGlob, "spiffe://td0/ns/ns1/*", 0b100},
		{"r2", kindTD, "spiffe://td9/**", 0b1000},
		{"r3", kindGlob, "spiffe://td0/ns/ns0/*", 0b10000},
	}}
	for _, c := range []struct {
		kind    string
		id      string
		allowed uint32
	}{
		{kindExact, "spiffe://td0/ns/ns0/svc0", 0b10011}, // r0 and the glob r3
		{kindGlob, "spiffe://td0/ns/ns1/q1", 0b100},
		{kindTD, "spiffe://td9/ns/x/q2", 0b1000},
		{kindTD, "spiffe://td9/a/b/c/d", 0b1000},         // ** crosses segments
		{kindMiss, "spiffe://td0/ns/ns1/a/b", 0},         // * does not
		{kindMiss, "spiffe://td0/ns/ns2/m4", 0},          // a namespace without a glob
		{kindMiss, "spiffe://other.example/ns/ns0/s", 0}, // an unknown trust domain
		{kindMiss, "spiffe://td0/ns/ns0/svc0x/y", 0},     // an exact ID is not a prefix
	} {
		w.ids = append(w.ids, identity{kind: c.kind, allowed: c.allowed, spiffeID: c.id,
			cert: testCert(t, key, c.id)})
	}
	for q, id := range w.ids {
		for o := range w.ops {
			allow := id.allowed>>o&1 == 1
			w.reqs = append(w.reqs, request{q: q, o: o, allow: allow})
		}
	}
	var b strings.Builder
	b.WriteString("version: 1\nprincipals:\n")
	for i, r := range w.rules {
		fmt.Fprintf(&b, "  - name: p%d\n    spiffe: [%q]\n", i, r.pattern)
	}
	b.WriteString("rules:\n")
	for i, r := range w.rules {
		var ops []string
		for _, op := range w.opsOf(r.ops) {
			ops = append(ops, fmt.Sprintf("%q", op))
		}
		fmt.Fprintf(&b, "  - id: %s\n    effect: allow\n    principals: [p%d]\n    operations: [%s]\n",
			r.id, i, strings.Join(ops, ", "))
	}
	w.policyPath = filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(w.policyPath, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return w
}

func buildAll(t *testing.T, w *workload) []*instance {
	t.Helper()
	var insts []*instance
	for _, spec := range engines {
		e, err := spec.build(w)
		if err != nil {
			t.Fatalf("%s: %v", spec.name, err)
		}
		t.Cleanup(e.close)
		insts = append(insts, &instance{spec: spec, w: w, e: e})
	}
	return insts
}

// Every engine's translation decides every (identity, operation) pair as written by hand,
// including the segment boundaries of `*` and `**`.
func TestEveryEngineEveryPair(t *testing.T) {
	w := testWorkload(t)
	for _, in := range buildAll(t, w) {
		for q, id := range w.ids {
			for o, op := range w.ops {
				got, err := in.e.decide(q, o)
				if err != nil {
					t.Fatalf("%s: %s %q: %v", in.spec.name, id.spiffeID, op, err)
				}
				if want := id.allowed>>o&1 == 1; got != want {
					t.Errorf("%s: %s %q: %v, want %v", in.spec.name, id.spiffeID, op, got, want)
				}
			}
		}
	}
}

// flipped is an engine that gets the identities of one kind wrong: the agreement check must
// catch it.
type flipped struct {
	engine
	w    *workload
	kind string
}

func (f flipped) decide(q, o int) (bool, error) {
	ok, err := f.engine.decide(q, o)
	if f.w.ids[q].kind == f.kind {
		ok = !ok
	}
	return ok, err
}

func TestAgreement(t *testing.T) {
	defer func(n int) { *flagSample = n }(*flagSample)
	*flagSample = 12 // 4 allows and 2 denies of each matching kind, 6 of no match
	w := testWorkload(t)
	insts := buildAll(t, w)
	if err := agree(w, insts); err != nil {
		t.Fatalf("the translations disagree: %v", err)
	}
	// Every kind is in the sample: wrong allows and denies (exact, glob, trust domain), and
	// wrong denies of identities that match nothing.
	for _, kind := range []string{kindExact, kindGlob, kindTD, kindMiss} {
		for i := 1; i < len(insts); i++ {
			bad := append([]*instance(nil), insts...)
			bad[i] = &instance{spec: insts[i].spec, w: w, e: flipped{insts[i].e, w, kind}}
			err := agree(w, bad)
			if err == nil || !strings.Contains(err.Error(), "DISAGREEMENT: "+insts[i].spec.name) {
				t.Errorf("%s wrong on %s identities: agree() = %v", insts[i].spec.name, kind, err)
			}
		}
	}
}

// libmtlsauthz itself is checked against the dump's masks (bench.c's reference).
func TestAgreementChecksTheBaseline(t *testing.T) {
	w := testWorkload(t)
	insts := buildAll(t, w)
	w.ids[1].allowed = 0b101
	if err := agree(w, insts); err == nil || !strings.Contains(err.Error(), "bench.c's reference") {
		t.Fatalf("agree() with a wrong reference = %v", err)
	}
}

// The timed loop counts allows and fails on a wrong count.
func TestMeasureCountsAllows(t *testing.T) {
	w := testWorkload(t)
	insts := buildAll(t, w)
	defer func(d time.Duration) { *flagBudget = d }(*flagBudget)
	*flagBudget = time.Millisecond
	for _, in := range insts {
		if err := measure(in); err != nil {
			t.Errorf("%s: %v", in.spec.name, err)
		}
		if len(in.n) != 1 || in.n[0] < *flagMin {
			t.Errorf("%s: %v decisions", in.spec.name, in.n)
		}
	}
	// The sequence starts with the exact identity's requests.
	bad := &instance{spec: insts[1].spec, w: w, e: flipped{insts[1].e, w, kindExact}}
	if err := measure(bad); err == nil || !strings.Contains(err.Error(), "allows in") {
		t.Errorf("a wrong engine timed: %v", err)
	}
}

func writeDump(t *testing.T, w *workload, edit func(string) string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# test dump\n")
	for o, op := range w.ops {
		fmt.Fprintf(&b, "op %d %s\n", o, op)
	}
	for _, r := range w.rules {
		fmt.Fprintf(&b, "rule %s %s %s %x\n", r.id, r.kind, r.pattern, r.ops)
	}
	for q, id := range w.ids {
		fmt.Fprintf(&b, "identity %d %s %x %s %s\n", q, id.kind, id.allowed, id.spiffeID,
			base64.StdEncoding.EncodeToString(id.cert.Raw))
	}
	for _, rq := range w.reqs {
		a := 0
		if rq.allow {
			a = 1
		}
		fmt.Fprintf(&b, "request %d %d %d\n", rq.q, rq.o, a)
	}
	dir := t.TempDir()
	text := b.String()
	if edit != nil {
		text = edit(text)
	}
	if err := os.WriteFile(filepath.Join(dir, "bench-workload-4.txt"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoadWorkload(t *testing.T) {
	w := testWorkload(t)
	got, err := loadWorkload(writeDump(t, w, nil), 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.rules) != 4 || got.rules[1] != w.rules[1] || len(got.ids) != len(w.ids) ||
		got.ids[2].spiffeID != w.ids[2].spiffeID || got.ids[0].allowed != w.ids[0].allowed ||
		len(got.reqs) != len(w.reqs) || got.allowed != 6 {
		t.Fatalf("read back: %+v", got)
	}
	for name, edit := range map[string]func(string) string{
		"request against its mask": func(s string) string {
			return strings.Replace(s, "request 0 0 1\n", "request 0 0 0\n", 1)
		},
		"rule out of order": func(s string) string { return strings.Replace(s, "rule r1 ", "rule r7 ", 1) },
		"a rule missing": func(s string) string {
			return strings.Replace(s, "rule r3 glob spiffe://td0/ns/ns0/* 10\n", "", 1)
		},
		"certificate of another ID": func(s string) string {
			return strings.Replace(s, "identity 1 glob 4 spiffe://td0/ns/ns1/q1 ",
				"identity 1 glob 4 spiffe://td0/ns/ns1/q9 ", 1)
		},
		"unknown record": func(s string) string { return s + "bogus 1\n" },
	} {
		text := writeDump(t, w, nil)
		dir := writeDump(t, w, edit)
		if b1, _ := os.ReadFile(filepath.Join(text, "bench-workload-4.txt")); string(b1) ==
			mustRead(t, filepath.Join(dir, "bench-workload-4.txt")) {
			t.Fatalf("%s: the edit changed nothing", name)
		}
		if _, err := loadWorkload(dir, 4); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNamespaceAndTD(t *testing.T) {
	ns, td := namespaceAndTD("spiffe://td3/ns/ns17/svc42")
	if ns != "spiffe://td3/ns/ns17" || td != "spiffe://td3" {
		t.Fatalf("%q %q", ns, td)
	}
}
