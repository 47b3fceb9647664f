// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// Attacks on a policy's edges, each over real mutual TLS against a net/http server behind the
// middleware, with client certificates issued by the test CA. Each attack certificate is one a
// CA that lets requesters choose their names would sign: a proper client leaf that verifies.

// libraryView is what the library reads from a certificate (mtlsauthz_identity_to_json), so a
// test can show the exact string a pattern is matched against.
type libraryView struct {
	Subject struct {
		DN string `json:"dn"`
	} `json:"subject"`
	SpiffeID *string `json:"spiffe_id"`
	SAN      struct {
		DNS []string `json:"dns"`
		URI []string `json:"uri"`
	} `json:"san"`
	Rejected *string `json:"rejected"`
}

// viewOf verifies cert's chain against the test CA, as the server will, and returns what the
// library reads from it. An identity the library rejects fails the test: each attack here must
// be decided by the policy, not stopped earlier.
func viewOf(t testing.TB, cert tls.Certificate) libraryView {
	t.Helper()
	id, err := IdentityFromChain(verifyRaw(t, cert.Certificate))
	if err != nil {
		t.Fatal(err)
	}
	defer id.Close()
	js, err := id.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var v libraryView
	if err := json.Unmarshal([]byte(js), &v); err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	if v.Rejected != nil {
		t.Fatalf("the library rejects the certificate (%s): %s", *v.Rejected, js)
	}
	return v
}

// issueLeaf issues a client leaf from tmpl (its subject and SANs) with the test intermediate.
func issueLeaf(t testing.TB, tmpl *x509.Certificate) tls.Certificate {
	t.Helper()
	issuer, key := testIssuer(t)
	return mintLeaf(t, tmpl, issuer, key)
}

// guarded starts an mTLS server that authorizes with Middleware and the policy yaml, in front
// of a handler that records each request it serves. It returns the server's URL.
func guarded(t *testing.T, yaml string) (string, *reached) {
	t.Helper()
	next := new(reached)
	srv := newServer(t, Middleware(loadYAML(t, yaml))(next.handler()), tls.RequireAndVerifyClientCert)
	return srv.URL, next
}

// attempt is one request and whether the policy must let it through to the handler.
type attempt struct {
	method, path string
	allowed      bool
	rule         string // for a 403: the deciding rule, "" when none decided
}

// try sends each attempt to the server at base over a new mTLS client with cert. It checks
// the status, the 403's rule, and that the handler ran once for each allowed attempt and
// never for a denied one.
func try(t *testing.T, base string, next *reached, cert tls.Certificate, attempts []attempt) {
	t.Helper()
	client := newClient(t, &cert)
	before, want := next.count(), 0
	for _, a := range attempts {
		got := do(t, client, a.method, base+a.path)
		body := strings.TrimSpace(got.body)
		switch {
		case a.allowed && got.status != 200:
			t.Errorf("%s %s: %d %s, want 200", a.method, a.path, got.status, body)
		case !a.allowed && got.status != 403:
			t.Errorf("%s %s: %d %s, want 403", a.method, a.path, got.status, body)
		case !a.allowed:
			rule := "null"
			if a.rule != "" {
				rule = `"` + a.rule + `"`
			}
			if m := refusal(t, got.body); string(m["rule"]) != rule {
				t.Errorf("%s %s: %s, want rule %s", a.method, a.path, body, rule)
			}
		}
		if a.allowed {
			want++
		}
	}
	if n := next.count() - before; n != want {
		t.Errorf("the handler ran %d times, want %d", n, want)
	}
}

// TestAttackDNWildcardCrossesEscapedComma: a CN is free text, so a CA that lets requesters
// choose their CN signs "mallory,OU=ops". Its RFC 2253 DN is "CN=mallory\,OU=ops,O=Example
// Corp", and a "*" that may consume "mallory\" reads an OU that the certificate does not have.
// A wildcard in a dn pattern must never match an RDN separator (an unescaped "," or "+") nor
// split a backslash escape; a real OU member whose CN has an escaped comma still matches.
func TestAttackDNWildcardCrossesEscapedComma(t *testing.T) {
	srv, next := guarded(t, `version: 1
protocol: http
principals:
  - name: ops-by-dn
    dn: ["CN=*,OU=ops,O=Example Corp"]
  - name: ops-by-rdn
    dn: ["CN=*+OU=ops,O=Example Corp"]
rules:
  - id: ops-reports
    effect: allow
    principals: [ops-by-dn]
    operations: ["GET /reports/**"]
  - id: ops-audit
    effect: allow
    principals: [ops-by-rdn]
    operations: ["GET /audit/**"]
`)

	subject := func(cn string, ou ...string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn, OrganizationalUnit: ou,
			Organization: []string{"Example Corp"}}}
	}
	// A multi-valued RDN (CN and OU in one SET): RFC 2253 joins its members with "+".
	multiValued := func(cn, ou string) *x509.Certificate {
		seq := pkix.RDNSequence{
			{{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "Example Corp"}},
			{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: cn}, {Type: asn1.ObjectIdentifier{2, 5, 4, 11}, Value: ou}},
		}
		raw, err := asn1.Marshal(seq)
		if err != nil {
			t.Fatal(err)
		}
		return &x509.Certificate{RawSubject: raw}
	}
	reports := []attempt{{"GET", "/reports/q3", true, ""}}
	noReports := []attempt{{"GET", "/reports/q3", false, ""}}
	audit := []attempt{{"GET", "/audit/log", true, ""}}
	noAudit := []attempt{{"GET", "/audit/log", false, ""}}
	for _, c := range []struct {
		name     string
		tmpl     *x509.Certificate
		dn       string
		attempts []attempt
	}{
		{"no OU, CN mallory,OU=ops", subject("mallory,OU=ops"), `CN=mallory\,OU=ops,O=Example Corp`, noReports},
		{"no OU, CN mallory+OU=ops", subject("mallory+OU=ops"), `CN=mallory\+OU=ops,O=Example Corp`, noAudit},
		{"OU=ops member", subject("alice", "ops"), `CN=alice,OU=ops,O=Example Corp`, reports},
		{"OU=ops member, CN a,b", subject("a,b", "ops"), `CN=a\,b,OU=ops,O=Example Corp`, reports},
		{"OU=ops in the CN's RDN", multiValued("alice", "ops"), `CN=alice+OU=ops,O=Example Corp`, audit},
		{"OU=sre member", subject("bob", "sre"), `CN=bob,OU=sre,O=Example Corp`, noReports},
	} {
		t.Run(c.name, func(t *testing.T) {
			cert := issueLeaf(t, c.tmpl)
			if dn := viewOf(t, cert).Subject.DN; dn != c.dn {
				t.Fatalf("the library reads the DN %q, want %q", dn, c.dn)
			}
			try(t, srv, next, cert, c.attempts)
		})
	}
}

// TestAttackURIWildcardCrossesTheHost: in "https://*.example.com/deploy" the "*" means one
// host label, but "https://attacker.net?.example.com/deploy" is a URI on attacker.net (the rest
// is its query), and "*" would match "attacker.net?". In a uri pattern "*" must never match
// "/", "?", "#", "@" or ":".
func TestAttackURIWildcardCrossesTheHost(t *testing.T) {
	srv, next := guarded(t, `version: 1
protocol: http
principals:
  - name: deployer
    uri: ["https://*.example.com/deploy"]
rules:
  - id: deploy
    effect: allow
    principals: [deployer]
    operations: ["POST /deploy"]
`)
	for _, c := range []struct {
		uri, host string // host is what Go's url.Parse reads as the host
		allowed   bool
	}{
		{"https://ci.example.com/deploy", "ci.example.com", true},
		{"https://attacker.net?.example.com/deploy", "attacker.net", false},
		{"https://attacker.net#.example.com/deploy", "attacker.net", false},
		// Userinfo is not a host label, whatever host follows it.
		{"https://attacker.net@ci.example.com/deploy", "ci.example.com", false},
	} {
		t.Run(c.uri, func(t *testing.T) {
			u, err := url.Parse(c.uri)
			if err != nil {
				t.Fatal(err)
			}
			if u.Host != c.host {
				t.Fatalf("url.Parse(%q).Host = %q, want %q", c.uri, u.Host, c.host)
			}
			cert := issueLeaf(t, &x509.Certificate{
				Subject: pkix.Name{CommonName: "deployer", Organization: []string{"Example Corp"}},
				URIs:    []*url.URL{u},
			})
			// Go writes the SAN as u.String(), and reads it back (the server parses it) as is.
			if v := viewOf(t, cert); len(v.SAN.URI) != 1 || v.SAN.URI[0] != c.uri {
				t.Fatalf("the library reads the URI SANs %q, want [%q]", v.SAN.URI, c.uri)
			}
			try(t, srv, next, cert, []attempt{{"POST", "/deploy", c.allowed, ""}})
		})
	}
}

// TestAttackCaptureInDenyFailsOpen: a principal binds {t} from both its SPIFFE ID and its DNS
// name. A certificate whose two names disagree (tenant acme, DNS globex) matches the principal,
// but no single binding of {t} satisfies both, so a deny that needed one consistent binding
// never matched, and the broad allow let every DELETE through. A deny rule applies when any
// binding of its captures matches.
func TestAttackCaptureInDenyFailsOpen(t *testing.T) {
	srv, next := guarded(t, `version: 1
protocol: http
principals:
  - name: tenant
    spiffe: ["spiffe://prod.example.com/tenant/{t}/*"]
    dns: ["{t}.tenants.example.com"]
rules:
  - id: tenant-api
    effect: allow
    principals: [tenant]
    operations: ["* /tenants/**"]
  - id: no-tenant-delete
    effect: deny
    principals: [tenant]
    operations: ["DELETE /tenants/{t}/**"]
`)
	tenantCert := func(t *testing.T, spiffeTenant, dnsTenant string) tls.Certificate {
		spiffeID := "spiffe://prod.example.com/tenant/" + spiffeTenant + "/api"
		u, err := url.Parse(spiffeID)
		if err != nil {
			t.Fatal(err)
		}
		cert := issueLeaf(t, &x509.Certificate{
			Subject:  pkix.Name{CommonName: spiffeTenant + "-api", Organization: []string{"Example Corp"}},
			URIs:     []*url.URL{u},
			DNSNames: []string{dnsTenant + ".tenants.example.com"},
		})
		if v := viewOf(t, cert); v.SpiffeID == nil || *v.SpiffeID != spiffeID {
			t.Fatalf("the library reads the SPIFFE ID %v, want %s", v.SpiffeID, spiffeID)
		}
		return cert
	}
	t.Run("SPIFFE acme, DNS globex", func(t *testing.T) {
		try(t, srv, next, tenantCert(t, "acme", "globex"), []attempt{
			{"DELETE", "/tenants/acme/x", false, "no-tenant-delete"},
			{"DELETE", "/tenants/globex/x", false, "no-tenant-delete"},
			{"GET", "/tenants/acme/x", true, ""},
			{"GET", "/tenants/globex/x", true, ""},
		})
	})
	t.Run("SPIFFE acme, DNS acme", func(t *testing.T) {
		try(t, srv, next, tenantCert(t, "acme", "acme"), []attempt{
			{"DELETE", "/tenants/acme/x", false, "no-tenant-delete"},
			{"DELETE", "/tenants/initech/x", true, ""},
			{"GET", "/tenants/acme/x", true, ""},
		})
	})
}
