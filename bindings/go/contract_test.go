// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// The HTTP contract (docs/http.md) and its shared fixture, which every HTTP binding runs.
const (
	contractDoc     = "../../docs/http.md"
	contractFixture = "../../tests/data/http-contract/cases.json"
)

type contractCase struct {
	Name   string         `json:"name"`
	Cert   *string        `json:"cert"`
	Method string         `json:"method"`
	Target string         `json:"target"`
	Status int            `json:"status"`
	Body   string         `json:"body"`
	Log    map[string]any `json:"log"`
}

func contractCases(t *testing.T) (policy string, cases []contractCase) {
	t.Helper()
	var f struct {
		Policy string         `json:"policy"`
		Cases  []contractCase `json:"cases"`
	}
	if err := json.Unmarshal(readFileT(t, contractFixture), &f); err != nil {
		t.Fatalf("%s: %v", contractFixture, err)
	}
	if len(f.Cases) == 0 {
		t.Fatalf("%s: no cases", contractFixture)
	}
	return "../../" + f.Policy, f.Cases
}

// contractLogKeys are the decision-log keys in the order of docs/http.md's table, read from
// the page itself so that the test follows the contract.
func contractLogKeys(t testing.TB) []string {
	t.Helper()
	doc := string(readFileT(t, contractDoc))
	_, section, ok := strings.Cut(doc, "## The decision log")
	if !ok {
		t.Fatalf("%s: no decision-log section", contractDoc)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var keys []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_0-9]+)` \\|").FindAllStringSubmatch(section, -1) {
		keys = append(keys, m[1])
	}
	if len(keys) < 10 {
		t.Fatalf("%s: only %d decision-log keys found: %v", contractDoc, len(keys), keys)
	}
	return keys
}

// libraryDN is what the library prints for the subjects of the fixture's certificates
// (mtlsauthz identity; RFC 2253), written out so that the test does not read them through the
// code it tests.
var libraryDN = map[string]string{
	"plain":          "CN=plain",
	"builder":        "CN=builder,O=Example Corp",
	"ops":            "CN=alice,OU=ops,O=Example Corp",
	"nul-cn":         `CN=admin\00.evil.com,O=Example Corp`,
	"spiffe-two-uri": "CN=spiffe-two-uri",
	"full": "emailAddress=alice@example.com,CN=full.example.com,OU=three,OU=two,OU=one," +
		"O=Second Org,O=Example Corp,L=San Francisco,ST=California,C=US",
}

const testIssuerDN = "CN=mtlsauthz Test Intermediate CA,O=Example Corp"

// TestHTTPContract runs every case of the shared fixture over real mutual TLS and checks the
// exact status, body bytes and headers, and the decision-log record key by key.
func TestHTTPContract(t *testing.T) {
	policyPath, cases := contractCases(t)
	p, err := LoadPolicyFile(policyPath)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	keys := contractLogKeys(t)
	var logs logCapture
	var next reached
	srv := newServer(t, Middleware(p, WithLogger(logs.logger()))(next.handler()), tls.VerifyClientCertIfGiven)

	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			var cert *tls.Certificate
			var leaf *x509.Certificate
			if c.Cert != nil {
				kp := keyPair(t, *c.Cert)
				cert = &kp
				if leaf, err = x509.ParseCertificate(kp.Certificate[0]); err != nil {
					t.Fatal(err)
				}
			}
			before, seen := next.count(), len(logs.decisions(t))
			got := rawDo(t, srv, cert, c.Method, c.Target)

			if got.status != c.Status || got.body != c.Body {
				t.Errorf("%s %s: %d %q, want %d %q", c.Method, c.Target, got.status, got.body, c.Status, c.Body)
			}
			if reachedApp := next.count() > before; reachedApp != (c.Status == 200) {
				t.Errorf("the application was reached: %v, want %v", reachedApp, c.Status == 200)
			}
			if c.Status != 200 {
				for k, v := range map[string]string{"Content-Type": "application/json",
					"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
					if h := got.header.Get(k); h != v {
						t.Errorf("%s: %q, want %q", k, h, v)
					}
				}
			}

			records := logs.decisions(t)[seen:]
			if len(records) != 1 {
				t.Fatalf("%d decision records for one request, want 1: %v", len(records), records)
			}
			rec := records[0]
			wantRecordKeys(t, rec.keys, keys)
			for k, want := range c.Log {
				if g := rec.fields[k]; !reflect.DeepEqual(g, want) {
					t.Errorf("log %s = %#v, want %#v", k, g, want)
				}
			}
			wantLevel := "INFO"
			if c.Log["decision"] != "allow" || len(c.Log["dry_run"].([]any)) > 0 {
				wantLevel = "WARN"
			}
			if rec.fields["level"] != wantLevel {
				t.Errorf("level %v, want %s", rec.fields["level"], wantLevel)
			}
			if r, _ := rec.fields["remote"].(string); !strings.HasPrefix(r, "127.0.0.1:") {
				t.Errorf("remote %#v", rec.fields["remote"])
			}
			wantIdentityFields(t, rec.fields, c.Cert, leaf)
		})
	}
}

// wantRecordKeys checks that a record has exactly slog's own keys and the contract's, in the
// contract's order.
func wantRecordKeys(t *testing.T, got, contract []string) {
	t.Helper()
	want := append([]string{"time", "level", "msg"}, contract...)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("record keys\n got %v\nwant %v", got, want)
	}
}

// wantIdentityFields checks subject, issuer, serial and sha256 against the certificate sent:
// the library's DN strings, and a serial and fingerprint computed here from the leaf.
func wantIdentityFields(t *testing.T, fields map[string]any, cert *string, leaf *x509.Certificate) {
	t.Helper()
	if cert == nil {
		for _, k := range []string{"subject", "issuer", "serial", "sha256", "spiffe_id"} {
			if fields[k] != nil {
				t.Errorf("log %s = %#v without a certificate, want null", k, fields[k])
			}
		}
		return
	}
	sum := sha256.Sum256(leaf.Raw)
	for k, want := range map[string]string{
		"subject": libraryDN[*cert],
		"issuer":  testIssuerDN,
		"serial":  leaf.SerialNumber.Text(16),
		"sha256":  hex.EncodeToString(sum[:]),
	} {
		if fields[k] != want {
			t.Errorf("log %s = %#v, want %q", k, fields[k], want)
		}
	}
}

// decisionRecordJSON is one decision-log record as the JSON handler wrote it: its keys in order,
// and its values.
type decisionRecordJSON struct {
	keys   []string
	fields map[string]any
}

// decisions are the decision-log records written so far (the entries whose msg is
// "mtlsauthz"), in order.
func (c *logCapture) decisions(t testing.TB) []decisionRecordJSON {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []decisionRecordJSON
	for _, line := range strings.Split(strings.TrimSpace(c.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r decisionRecordJSON
		if err := json.Unmarshal([]byte(line), &r.fields); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if r.fields["msg"] != "mtlsauthz" {
			continue
		}
		r.keys = jsonKeys(t, line)
		out = append(out, r)
	}
	return out
}

// jsonKeys are the top-level keys of a JSON object, in order.
func jsonKeys(t testing.TB, obj string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(obj))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}
