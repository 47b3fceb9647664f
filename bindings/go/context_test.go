// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"reflect"
	"sync"
	"testing"
)

// seen is what a hook or a handler saw of one request.
type seen struct {
	where             string // "hook" or "handler"
	ok                bool   // FromContext found the decision
	d                 Decision
	subject, spiffeID string
	hasID, sameAsCtx  bool
}

type seenLog struct {
	mu sync.Mutex
	l  []seen
}

func (s *seenLog) add(where string, r *http.Request, hookD *Decision) {
	d, id, ok := FromContext(r.Context())
	e := seen{where: where, ok: ok, d: d, hasID: id != nil}
	if id != nil {
		e.subject, e.spiffeID = id.SubjectDN(), id.SPIFFEID()
	}
	if hookD != nil {
		// The hook's decision is the one on the request's context.
		e.sameAsCtx = hookD.Reason == d.Reason && hookD.Rule == d.Rule && hookD.Allowed == d.Allowed
	}
	s.mu.Lock()
	s.l = append(s.l, e)
	s.mu.Unlock()
}

func (s *seenLog) take() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.l
	s.l = nil
	return l
}

// TestFromContextAndDecisionHook: every decided request goes through the hooks, in order,
// with the decision on its context; handlers of allowed requests find the decision and the
// identity with FromContext; nothing else has them.
func TestFromContextAndDecisionHook(t *testing.T) {
	p := loadExample(t)
	var log seenLog
	var order []string
	var orderMu sync.Mutex
	mark := func(s string) { orderMu.Lock(); order = append(order, s); orderMu.Unlock() }
	h := Middleware(p,
		WithDecisionHook(func(r *http.Request, d Decision) { mark("hook1"); log.add("hook", r, &d) }),
		WithDecisionHook(func(*http.Request, Decision) { mark("hook2") }),
		WithDecisionHook(nil),
	)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mark("handler")
		log.add("handler", r, nil)
		io.WriteString(w, "ok\n")
	}))
	srv := newServer(t, h, tls.VerifyClientCertIfGiven)
	builder, ops := keyPair(t, "builder"), keyPair(t, "ops")
	const builderDN, builderID = "CN=builder,O=Example Corp", "spiffe://prod.example.com/ci/builder"

	for _, c := range []struct {
		name           string
		cert           *tls.Certificate
		method, target string
		status         int
		want           []seen
	}{
		{"allow", &builder, "POST", "/images/build", 200, []seen{
			{where: "hook", ok: true, d: Decision{Allowed: true, Rule: "build-images", Reason: ReasonAllowed}, subject: builderDN, spiffeID: builderID, hasID: true, sameAsCtx: true},
			{where: "handler", ok: true, d: Decision{Allowed: true, Rule: "build-images", Reason: ReasonAllowed}, subject: builderDN, spiffeID: builderID, hasID: true},
		}},
		{"deny", &builder, "POST", "/containers/abc/exec", 403, []seen{
			{where: "hook", ok: true, d: Decision{Rule: "no-container-escape", Reason: ReasonDenied}, subject: builderDN, spiffeID: builderID, hasID: true, sameAsCtx: true},
		}},
		{"no identity", nil, "GET", "/healthz", 401, []seen{
			{where: "hook", ok: true, d: Decision{Reason: ReasonNoIdentity}, sameAsCtx: true},
		}},
		{"refused target", &ops, "GET", "/a//b", 400, []seen{
			{where: "hook", ok: true, d: Decision{Reason: ReasonBadTarget}, subject: "CN=alice,OU=ops,O=Example Corp", hasID: true, sameAsCtx: true},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			orderMu.Lock()
			order = nil
			orderMu.Unlock()
			if got := rawDo(t, srv, c.cert, c.method, c.target); got.status != c.status {
				t.Fatalf("%d %s, want %d", got.status, got.body, c.status)
			}
			got := log.take()
			if len(got) != len(c.want) {
				t.Fatalf("seen %d times, want %d: %+v", len(got), len(c.want), got)
			}
			for i, w := range c.want {
				g := got[i]
				errOK := (g.d.Err != nil) == (c.name == "refused target")
				g.d.Err, g.d.DryRun, g.d.DryRunCount = nil, nil, 0
				if g.where != w.where || g.ok != w.ok || !reflect.DeepEqual(g.d, w.d) || g.subject != w.subject ||
					g.spiffeID != w.spiffeID || g.hasID != w.hasID || g.sameAsCtx != w.sameAsCtx || !errOK {
					t.Errorf("%s:\n got %+v\nwant %+v", w.where, g, w)
				}
			}
			orderMu.Lock()
			defer orderMu.Unlock()
			wantOrder := []string{"hook1", "hook2"}
			if c.status == 200 {
				wantOrder = append(wantOrder, "handler")
			}
			if len(order) != len(wantOrder) {
				t.Fatalf("order %v, want %v", order, wantOrder)
			}
			for i := range order {
				if order[i] != wantOrder[i] {
					t.Fatalf("order %v, want %v", order, wantOrder)
				}
			}
		})
	}

	// The refused target's Err is the library's refusal.
	var refusal error
	h2 := Middleware(p, WithDecisionHook(func(_ *http.Request, d Decision) { refusal = d.Err }))(http.NotFoundHandler())
	srv2 := newServer(t, h2, tls.RequireAndVerifyClientCert)
	rawDo(t, srv2, &ops, "GET", "/a/../b")
	if !errors.Is(refusal, ErrOperation) {
		t.Errorf("a refused target's Err = %v, want ErrOperation", refusal)
	}

	if _, _, ok := FromContext(context.Background()); ok {
		t.Error("FromContext found a decision on a context the middleware never saw")
	}
}

// TestIdentityIsTheLibrarysDN: the identity's subject, in FromContext and in the decision log,
// is the library's RFC 2253 DN, the string dn: patterns match, and not crypto/x509's
// pkix.Name rendering, which differs for this certificate.
func TestIdentityIsTheLibrarysDN(t *testing.T) {
	p := loadYAML(t, "version: 1\nprotocol: http\nrules:\n  - id: all\n    effect: allow\n    principals: [\"*\"]\n    operations: [\"* /**\"]\n")
	var logs logCapture
	var subject, goSubject string
	h := Middleware(p, WithLogger(logs.logger()))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, id, _ := FromContext(r.Context())
		subject, goSubject = id.SubjectDN(), id.Leaf().Subject.String()
	}))
	srv := newServer(t, h, tls.RequireAndVerifyClientCert)
	full := keyPair(t, "full")
	if got := rawDo(t, srv, &full, "GET", "/x"); got.status != 200 {
		t.Fatalf("%d %s", got.status, got.body)
	}
	if subject != libraryDN["full"] || goSubject == libraryDN["full"] {
		t.Errorf("SubjectDN %q (Go's rendering %q), want the library's %q", subject, goSubject, libraryDN["full"])
	}
	recs := logs.decisions(t)
	if len(recs) != 1 || recs[0].fields["subject"] != libraryDN["full"] || recs[0].fields["issuer"] != testIssuerDN {
		t.Errorf("logged %v, want subject %q", recs, libraryDN["full"])
	}

	// A closed identity has no fields; one read before Close keeps them.
	id := identityOf(t, "ops")
	closed := identityOf(t, "builder")
	if id.SubjectDN() != "CN=alice,OU=ops,O=Example Corp" || id.SPIFFEID() != "" {
		t.Errorf("ops: %q %q", id.SubjectDN(), id.SPIFFEID())
	}
	closed.Close()
	if closed.SubjectDN() != "" || closed.SHA256() != "" {
		t.Errorf("a closed identity read %q", closed.SubjectDN())
	}
}
