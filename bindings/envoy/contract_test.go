// SPDX-License-Identifier: Apache-2.0

package mtlsauthzenvoy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
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
}

const testIssuerDN = "CN=mtlsauthz Test Intermediate CA,O=Example Corp"

// refusalCodes are the gRPC codes of the refusals, by HTTP status. Envoy denies on any code
// but OK; the code says which refusal it is to whoever reads the gRPC side.
var refusalCodes = map[int]codes.Code{
	401: codes.Unauthenticated, 400: codes.InvalidArgument, 403: codes.PermissionDenied,
}

// TestHTTPContract runs every case of the shared fixture through Check, with CheckRequests
// built as Envoy builds them from certificates that passed a real TLS handshake, over the
// Unix socket. It checks what Envoy would answer (status, exact body, headers), the gRPC code,
// the dynamic metadata, and the decision-log record key by key.
func TestHTTPContract(t *testing.T) {
	policy, cases := contractCases(t)
	keys := contractLogKeys(t)
	d, logs := startDaemon(t, func(c *Config) { c.Policy = policy })
	client := authv3.NewAuthorizationClient(dial(t, d, nil))

	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			name := ""
			if c.Cert != nil {
				name = *c.Cert
			}
			ds := downstreamOf(t, name)
			seen := len(logs.records(t, "mtlsauthz"))
			got := answerOf(t, check(t, client, checkRequest(ds, c.Method, c.Target)))

			if c.Status == 200 {
				if got.status != 0 {
					t.Errorf("%s %s: denied with %d %q, want it passed upstream", c.Method, c.Target, got.status, got.body)
				}
			} else {
				if got.status != c.Status || got.body != c.Body {
					t.Errorf("%s %s: %d %q, want %d %q", c.Method, c.Target, got.status, got.body, c.Status, c.Body)
				}
				if want := refusalCodes[c.Status]; codes.Code(got.code) != want {
					t.Errorf("gRPC status %v, want %v", codes.Code(got.code), want)
				}
				wantHeaders := map[string]string{"content-type": "application/json",
					"cache-control": "no-store", "x-content-type-options": "nosniff"}
				if !reflect.DeepEqual(got.headers, wantHeaders) {
					t.Errorf("headers %v, want %v", got.headers, wantHeaders)
				}
			}

			records := logs.records(t, "mtlsauthz")[seen:]
			if len(records) != 1 {
				t.Fatalf("%d decision records for one Check, want 1: %v", len(records), records)
			}
			rec := records[0]
			if want := append([]string{"time", "level", "msg"}, keys...); !reflect.DeepEqual(rec.keys, want) {
				t.Errorf("record keys\n got %v\nwant %v", rec.keys, want)
			}
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
			if want := ds.addr.String(); rec.fields["remote"] != want {
				t.Errorf("remote %#v, want %q (source.address)", rec.fields["remote"], want)
			}
			wantIdentityFields(t, rec.fields, name, ds)

			// The dynamic metadata is the log's decision, reason, rule and spiffe_id.
			wantMeta := map[string]any{}
			for _, k := range []string{"decision", "reason", "rule", "spiffe_id"} {
				wantMeta[k] = rec.fields[k]
			}
			if !reflect.DeepEqual(got.metadata, wantMeta) {
				t.Errorf("dynamic metadata %v, want %v", got.metadata, wantMeta)
			}
		})
	}
}

// wantIdentityFields checks subject, issuer, serial and sha256 against the certificate sent:
// the library's DN strings, and a serial and fingerprint computed here from the leaf.
func wantIdentityFields(t *testing.T, fields map[string]any, name string, ds downstream) {
	t.Helper()
	if ds.leaf == nil {
		for _, k := range []string{"subject", "issuer", "serial", "sha256", "spiffe_id"} {
			if fields[k] != nil {
				t.Errorf("log %s = %#v without a certificate, want null", k, fields[k])
			}
		}
		return
	}
	sum := sha256.Sum256(ds.leaf.Raw)
	for k, want := range map[string]string{
		"subject": libraryDN[name],
		"issuer":  testIssuerDN,
		"serial":  ds.leaf.SerialNumber.Text(16),
		"sha256":  hex.EncodeToString(sum[:]),
	} {
		if fields[k] != want {
			t.Errorf("log %s = %#v, want %q", k, fields[k], want)
		}
	}
}
