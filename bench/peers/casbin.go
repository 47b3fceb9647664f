// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
)

// The policy as casbin users write it: a model whose matcher globs the subject, and one
// policy line per (rule, operation). casbin's globMatch is path-aware (`*` is one segment,
// `**` any number), as the policy's patterns are; keyMatch's `*` would cross '/'.
//
//	p, spiffe://td3/ns/ns17/svc42, GET /v1/orders
//	p, spiffe://td0/ns/ns3/*, PUT /v1/reports
//	p, spiffe://td5/**, DELETE /v1/accounts
const casbinModel = `
[request_definition]
r = sub, act

[policy_definition]
p = sub, act

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = globMatch(r.sub, p.sub) && r.act == p.act
`

type casbinEngine struct {
	w *workload
	e *casbin.Enforcer
}

func newCasbin(w *workload) (engine, error) {
	m, err := model.NewModelFromString(casbinModel)
	if err != nil {
		return nil, err
	}
	e, err := casbin.NewEnforcer(m)
	if err != nil {
		return nil, err
	}
	var lines [][]string
	for _, r := range w.rules {
		for _, op := range w.opsOf(r.ops) {
			lines = append(lines, []string{r.pattern, op})
		}
	}
	if ok, err := e.AddPolicies(lines); err != nil || !ok {
		return nil, fmt.Errorf("casbin: adding %d policy lines: %v", len(lines), err)
	}
	return &casbinEngine{w: w, e: e}, nil
}

func (c *casbinEngine) decide(q, o int) (bool, error) {
	return c.e.Enforce(c.w.ids[q].spiffeID, c.w.ops[o])
}

func (c *casbinEngine) close() {}
