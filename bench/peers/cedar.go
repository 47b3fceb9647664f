// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"strings"

	cedar "github.com/cedar-policy/cedar-go"
)

// The policy as Cedar users write it: one permit per rule, the principal in the scope, the
// operations as actions. A segment glob (spiffe://td0/ns/ns3/*) is a namespace that the
// workload is in, a whole trust domain (spiffe://td5/**) a trust domain that its namespace is
// in: the hierarchy that Cedar's `in` is for, rather than `like` in a `when` clause (whose
// `*` would also match '/').
//
//	permit (principal == Workload::"spiffe://td3/ns/ns17/svc42",
//	        action in [Action::"GET /v1/orders", Action::"POST /v1/orders"], resource);
//	permit (principal in Namespace::"spiffe://td0/ns/ns3", action in [...], resource);
//	permit (principal in TrustDomain::"spiffe://td5", action in [...], resource);
//
// The entities of a request (the workload, its namespace and its trust domain) come from the
// certificate alone, so they are built once per identity.
type cedarEngine struct {
	ps       *cedar.PolicySet
	entities []cedar.EntityMap
	uids     []cedar.EntityUID
	actions  []cedar.EntityUID
	resource cedar.EntityUID
}

func cedarPolicy(w *workload) ([]byte, error) {
	var b strings.Builder
	for _, r := range w.rules {
		var principal string
		switch r.kind {
		case kindExact:
			principal = fmt.Sprintf("principal == Workload::%q", r.pattern)
		case kindGlob:
			principal = fmt.Sprintf("principal in Namespace::%q", strings.TrimSuffix(r.pattern, "/*"))
		case kindTD:
			principal = fmt.Sprintf("principal in TrustDomain::%q", strings.TrimSuffix(r.pattern, "/**"))
		default:
			return nil, fmt.Errorf("rule %s: kind %q", r.id, r.kind)
		}
		var acts []string
		for _, op := range w.opsOf(r.ops) {
			acts = append(acts, fmt.Sprintf("Action::%q", op))
		}
		fmt.Fprintf(&b, "@id(%q)\npermit (\n  %s,\n  action in [%s],\n  resource\n);\n", r.id,
			principal, strings.Join(acts, ", "))
	}
	return []byte(b.String()), nil
}

// namespaceAndTD splits spiffe://td/ns/x/svc into its namespace (spiffe://td/ns/x, everything
// before the last segment) and trust domain (spiffe://td).
func namespaceAndTD(id string) (string, string) {
	ns := id[:strings.LastIndexByte(id, '/')]
	rest := strings.TrimPrefix(id, "spiffe://")
	td := "spiffe://" + rest[:strings.IndexByte(rest, '/')]
	return ns, td
}

func newCedar(w *workload) (engine, error) {
	text, err := cedarPolicy(w)
	if err != nil {
		return nil, err
	}
	ps, err := cedar.NewPolicySetFromBytes("bench.cedar", text)
	if err != nil {
		return nil, err
	}
	e := &cedarEngine{ps: ps, resource: cedar.NewEntityUID("Service", "bench")}
	for _, op := range w.ops {
		e.actions = append(e.actions, cedar.NewEntityUID("Action", cedar.String(op)))
	}
	for _, id := range w.ids {
		ns, td := namespaceAndTD(id.spiffeID)
		uid := cedar.NewEntityUID("Workload", cedar.String(id.spiffeID))
		nsUID := cedar.NewEntityUID("Namespace", cedar.String(ns))
		tdUID := cedar.NewEntityUID("TrustDomain", cedar.String(td))
		e.uids = append(e.uids, uid)
		e.entities = append(e.entities, cedar.EntityMap{
			uid:   {UID: uid, Parents: cedar.NewEntityUIDSet(nsUID)},
			nsUID: {UID: nsUID, Parents: cedar.NewEntityUIDSet(tdUID)},
			tdUID: {UID: tdUID},
		})
	}
	return e, nil
}

func (e *cedarEngine) decide(q, o int) (bool, error) {
	d, diag := e.ps.IsAuthorized(e.entities[q], cedar.Request{
		Principal: e.uids[q], Action: e.actions[o], Resource: e.resource,
	})
	if len(diag.Errors) > 0 {
		return false, fmt.Errorf("cedar: %v", diag.Errors[0])
	}
	return d == cedar.Allow, nil
}

// reasons lists the @id of the policies that allowed, for the agreement check.
func (e *cedarEngine) reasons(q, o int) []string {
	_, diag := e.ps.IsAuthorized(e.entities[q], cedar.Request{
		Principal: e.uids[q], Action: e.actions[o], Resource: e.resource,
	})
	var ids []string
	for _, r := range diag.Reasons {
		ids = append(ids, string(e.ps.Get(r.PolicyID).Annotations()["id"]))
	}
	return ids
}

func (e *cedarEngine) close() {}
