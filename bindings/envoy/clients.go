// SPDX-License-Identifier: Apache-2.0

package mtlsauthzenvoy

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	mtlsauthz "github.com/libmtlsauthz/mtlsauthz/bindings/go"
)

// Over TCP, only the Envoy proxies may ask: the server requires a client certificate verified
// against --client-ca, and the certificate's identity must match one of the --allow-client
// selectors. A selector is KEY:PATTERN, one principal key of the policy language and one of
// its patterns (docs/policy.md, "Principals"): spiffe:spiffe://cluster.local/ns/edge/sa/envoy,
// dns:envoy.internal.example.com, dn:CN=envoy,O=Example Corp, sha256:<fingerprint>. The
// selectors become a policy of their own with one allow rule for the operation below, which
// the library compiles and decides, so a selector means exactly what the same pattern means in
// any policy; this package matches nothing itself.

// clientOperation is the only operation of the callers' policy.
const clientOperation = "ext_authz:check"

// ClientPolicy compiles the --allow-client selectors into a policy that allows
// clientOperation to the identities they select. An unknown key or a bad pattern is the
// library's load error, with the selector it is about.
func ClientPolicy(selectors []string) (*mtlsauthz.Policy, error) {
	if len(selectors) == 0 {
		return nil, fmt.Errorf("no --allow-client selector")
	}
	var keys, patterns []string
	for _, sel := range selectors {
		key, pattern, ok := strings.Cut(sel, ":")
		if !ok || key == "" || pattern == "" {
			return nil, fmt.Errorf("--allow-client %q: expected KEY:PATTERN, a principal key of the "+
				"policy language and a pattern, such as spiffe:spiffe://cluster.local/ns/edge/sa/envoy", sel)
		}
		if key == "name" {
			return nil, fmt.Errorf("--allow-client %q: 'name' is not a key that selects an identity", sel)
		}
		// Each selector alone first, so that an error names the selector it is about.
		one, err := clientPolicy([]string{key}, []string{pattern})
		if err != nil {
			return nil, fmt.Errorf("--allow-client %q: %s (a selector is KEY:PATTERN with a principal "+
				"key of docs/policy.md, \"Principals\")", sel, withoutPosition(err))
		}
		one.Close()
		keys, patterns = append(keys, key), append(patterns, pattern)
	}
	p, err := clientPolicy(keys, patterns)
	if err != nil {
		return nil, fmt.Errorf("--allow-client: %w", err)
	}
	return p, nil
}

// clientPolicy is the policy allowing clientOperation to principals of one key and pattern
// each.
func clientPolicy(keys, patterns []string) (*mtlsauthz.Policy, error) {
	type principal map[string]any
	var principals []principal
	var names []string
	for i, key := range keys {
		name := fmt.Sprintf("allow-client-%d", i+1)
		names = append(names, name)
		principals = append(principals, principal{"name": name, key: []string{patterns[i]}})
	}
	// JSON is YAML, and encoding/json quotes every value, so a selector cannot add keys.
	doc, err := json.Marshal(map[string]any{
		"version":    1,
		"principals": principals,
		"rules": []map[string]any{{
			"id": "envoy-may-ask", "effect": "allow",
			"principals": names, "operations": []string{clientOperation},
		}},
	})
	if err != nil {
		return nil, err
	}
	return mtlsauthz.LoadPolicy(doc)
}

// CallerRefusedError is the handshake error for a client whose verified certificate no
// --allow-client selector matches.
type CallerRefusedError struct {
	Subject, SPIFFEID string
	Decision          mtlsauthz.Decision
}

func (e *CallerRefusedError) Error() string {
	who := e.Subject
	if e.SPIFFEID != "" {
		who += " (" + e.SPIFFEID + ")"
	}
	return fmt.Sprintf("mtlsauthz-envoy: refused caller %s: no --allow-client selector matches it "+
		"(reason %s)", who, e.Decision.Reason)
}

// verifyCaller returns a tls.Config.VerifyConnection that refuses a handshake unless the
// verified client identity may perform clientOperation under p. It runs on resumed handshakes
// too. onRefuse, if not nil, is told of every refusal.
func verifyCaller(p *mtlsauthz.Policy, onRefuse func(error)) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
			// The tls.Config requires and verifies a client certificate; this is defence in depth.
			err := fmt.Errorf("mtlsauthz-envoy: refused a caller without a verified client certificate")
			if onRefuse != nil {
				onRefuse(err)
			}
			return err
		}
		id, err := mtlsauthz.IdentityFromChain(cs.VerifiedChains[0])
		if err != nil {
			if onRefuse != nil {
				onRefuse(err)
			}
			return err
		}
		defer id.Close()
		d := p.Authorize(id, clientOperation)
		if d.Allowed {
			return nil
		}
		refused := &CallerRefusedError{Subject: id.SubjectDN(), SPIFFEID: id.SPIFFEID(), Decision: d}
		if onRefuse != nil {
			onRefuse(refused)
		}
		return refused
	}
}

// withoutPosition is a load error without its position (Error.Text): this policy is written
// from the flags, so its lines and columns would mean nothing to the user.
func withoutPosition(err error) string {
	var e *mtlsauthz.Error
	if errors.As(err, &e) {
		return "mtlsauthz: " + e.Text()
	}
	return err.Error()
}
