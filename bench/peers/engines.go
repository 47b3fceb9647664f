// SPDX-License-Identifier: Apache-2.0

package main

import (
	"crypto/x509"
	"fmt"

	mtlsauthz "github.com/libmtlsauthz/mtlsauthz/bindings/go"
)

// An engine decides (identity q, operation o) of one workload. Everything derived from the
// certificate alone (the libmtlsauthz Identity, a Cedar entity, the SPIFFE ID string) is made
// once per identity, outside the timed loop; everything that depends on the policy happens in
// decide, on every request (docs/performance.md, "Peers").
type engine interface {
	decide(q, o int) (bool, error)
	close()
}

// engineSpec names an engine and builds it for a workload.
type engineSpec struct {
	name  string
	shape string // how the policy is written, for the output
	build func(w *workload) (engine, error)
}

const baseline = "libmtlsauthz"

var engines = []engineSpec{
	{baseline, "the YAML policy, Policy.Authorize on a cached Identity (Go binding)", newMtlsauthz},
	{"opa-rego", "OPA v1/rego: one generated `allow if` rule per policy rule", newOPARego},
	{"opa-data", "OPA v1/rego: the rules as data, one generic policy", newOPAData},
	{"cedar-go", "one permit per rule; Workload in Namespace in TrustDomain entities", newCedar},
	{"casbin", "casbin v2 Enforcer: globMatch(r.sub, p.sub) && r.act == p.act", newCasbin},
}

type mtlsauthzEngine struct {
	w   *workload
	pol *mtlsauthz.Policy
	ids []*mtlsauthz.Identity
}

func newMtlsauthz(w *workload) (engine, error) {
	pol, err := mtlsauthz.LoadPolicyFile(w.policyPath)
	if err != nil {
		return nil, err
	}
	if pol.RuleCount() != len(w.rules) {
		return nil, fmt.Errorf("%s: %d rules loaded, %d in the dump", w.policyPath,
			pol.RuleCount(), len(w.rules))
	}
	e := &mtlsauthzEngine{w: w, pol: pol}
	for _, id := range w.ids {
		mid, err := mtlsauthz.IdentityFromChain([]*x509.Certificate{id.cert})
		if err != nil {
			e.close()
			return nil, fmt.Errorf("identity %s: %w", id.spiffeID, err)
		}
		e.ids = append(e.ids, mid)
	}
	return e, nil
}

func (e *mtlsauthzEngine) decide(q, o int) (bool, error) {
	d := e.pol.Authorize(e.ids[q], e.w.ops[o])
	return d.Allowed, d.Err
}

// rule is the deciding rule of a decision, for the agreement check's messages.
func (e *mtlsauthzEngine) rule(q, o int) string {
	return e.pol.Authorize(e.ids[q], e.w.ops[o]).Rule
}

func (e *mtlsauthzEngine) close() {
	for _, id := range e.ids {
		id.Close()
	}
	e.pol.Close()
}
