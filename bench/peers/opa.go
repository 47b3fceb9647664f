// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// Two ways OPA users write this policy, both prepared once with v1/rego PrepareForEval and
// queried for data.mtlsauthz.allow with the request as input ({"spiffe_id", "operation"}, a
// map built per request, as an application hands it over). glob.match with the delimiter "/"
// gives `*` the policy's meaning (one segment) and `**` (any number of segments).
type opaEngine struct {
	w  *workload
	pq rego.PreparedEvalQuery
}

// opaRegoModule is the policy generated as Rego, one rule per policy rule:
//
//	allow if {
//		input.spiffe_id == "spiffe://td3/ns/ns17/svc42"
//		input.operation in {"GET /v1/orders", "POST /v1/orders"}
//	}
//	allow if {
//		glob.match("spiffe://td0/ns/ns3/*", ["/"], input.spiffe_id)
//		input.operation in {"PUT /v1/reports"}
//	}
func opaRegoModule(w *workload) string {
	var b strings.Builder
	b.WriteString("package mtlsauthz\n\ndefault allow := false\n")
	for _, r := range w.rules {
		var ops []string
		for _, op := range w.opsOf(r.ops) {
			ops = append(ops, fmt.Sprintf("%q", op))
		}
		match := fmt.Sprintf("input.spiffe_id == %q", r.pattern)
		if r.kind != kindExact {
			match = fmt.Sprintf("glob.match(%q, [\"/\"], input.spiffe_id)", r.pattern)
		}
		fmt.Fprintf(&b, "\n# %s\nallow if {\n\t%s\n\tinput.operation in {%s}\n}\n", r.id, match,
			strings.Join(ops, ", "))
	}
	return b.String()
}

// opaDataModule is the generic policy over the rules as data (data.rules, as the policy's
// YAML would be loaded into OPA's store):
const opaDataModule = `package mtlsauthz

default allow := false

allow if {
	some rule in data.rules
	glob.match(rule.spiffe, ["/"], input.spiffe_id)
	input.operation in rule.operations
}
`

func opaPrepare(w *workload, opts ...func(*rego.Rego)) (engine, error) {
	opts = append(opts, rego.Query("data.mtlsauthz.allow"))
	pq, err := rego.New(opts...).PrepareForEval(context.Background())
	if err != nil {
		return nil, err
	}
	return &opaEngine{w: w, pq: pq}, nil
}

func newOPARego(w *workload) (engine, error) {
	return opaPrepare(w, rego.Module("mtlsauthz.rego", opaRegoModule(w)))
}

func newOPAData(w *workload) (engine, error) {
	rules := make([]any, 0, len(w.rules))
	for _, r := range w.rules {
		var ops []any
		for _, op := range w.opsOf(r.ops) {
			ops = append(ops, op)
		}
		rules = append(rules, map[string]any{"id": r.id, "spiffe": r.pattern, "operations": ops})
	}
	store := inmem.NewFromObject(map[string]any{"rules": rules})
	return opaPrepare(w, rego.Module("mtlsauthz.rego", opaDataModule), rego.Store(store))
}

func (e *opaEngine) decide(q, o int) (bool, error) {
	input := map[string]any{"spiffe_id": e.w.ids[q].spiffeID, "operation": e.w.ops[o]}
	rs, err := e.pq.Eval(context.Background(), rego.EvalInput(input))
	if err != nil {
		return false, err
	}
	return rs.Allowed(), nil
}

func (e *opaEngine) close() {}
