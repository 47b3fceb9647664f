// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

// The request path allocates nothing (docs/performance.md, "Go binding"): a decision with a
// cached identity, and the middleware's own work for a request (operation, identity cache,
// decision). These are asserts, not benchmarks: an allocation that comes back fails them.

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// allocsPerRun is testing.AllocsPerRun after one warm-up call (which resolves the identity
// against the policy and interns the rule ids: the per-connection work).
func allocsPerRun(f func()) float64 {
	f()
	return testing.AllocsPerRun(200, f)
}

func TestAuthorizeAllocatesNothing(t *testing.T) {
	p := loadExample(t)
	for _, c := range []struct {
		name, cert, op string
		allowed        bool
		reason         string
		dryRun         int
	}{
		{"allow", "builder", "POST /images/build", true, ReasonAllowed, 0},
		{"deny", "builder", "POST /containers/abc/exec", false, ReasonDenied, 0},
		{"no_match", "ops", "POST /images/build", false, ReasonNoMatch, 0},
		{"dry_run", "ops", "GET /containers/abc/logs", true, ReasonAllowed, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := identityOf(t, c.cert)
			var d Decision
			n := allocsPerRun(func() { d = p.Authorize(id, c.op) })
			// The decision is the right one, so the count is that of the real path.
			if d.Allowed != c.allowed || d.Reason != c.reason || d.DryRunCount != c.dryRun ||
				len(d.DryRun) != c.dryRun || d.Err != nil {
				t.Fatalf("decision %+v", d)
			}
			if n != 0 {
				t.Errorf("Authorize(%s, %q): %v allocations per call, want 0", c.cert, c.op, n)
			}
		})
	}
}

func TestStoreAuthorizeAllocatesNothing(t *testing.T) {
	s, err := NewStore(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id := identityOf(t, "builder")
	var d Decision
	n := allocsPerRun(func() { d = s.Authorize(id, "POST /images/build") })
	if !d.Allowed {
		t.Fatalf("decision %+v", d)
	}
	if n != 0 {
		t.Errorf("Store.Authorize: %v allocations per call, want 0", n)
	}
}

// The middleware's decision for a request on a connection whose identity is cached: the
// canonical operation (into the request state's buffer), the identity cache and the decision.
func TestMiddlewareDecideAllocatesNothing(t *testing.T) {
	p := loadExample(t)
	cs := &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{verifiedChainOf(t, "builder")}}
	for _, c := range []struct {
		name, method, target string
		status               int
	}{
		{"allow", "POST", "/images/build", 0},
		{"deny", "POST", "/containers/abc/exec", http.StatusForbidden},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := newConfig(nil)
			cache := &identityCache{max: cfg.cacheSize}
			authorize := func(id *Identity, op string) Decision { return p.Authorize(id, op) }
			r := httptest.NewRequest(c.method, c.target, nil)
			r.TLS = cs
			st := &requestState{Context: r.Context()}
			n := allocsPerRun(func() { cfg.decide(st, r, cache, authorize) })
			if st.status != c.status || st.id == nil || st.op != c.method+" "+c.target {
				t.Fatalf("state: status %d, identity %v, operation %q", st.status, st.id, st.op)
			}
			if n != 0 {
				t.Errorf("the middleware's decision: %v allocations per request, want 0", n)
			}
		})
	}
}

// The whole middleware allocates once per allowed request: the request state, which carries
// the decision for FromContext and the request copy that http.Request.WithContext makes.
// Reusing it (a pool) would hand a handler that keeps the request past its return another
// request's decision.
func TestMiddlewareAllocatesOnce(t *testing.T) {
	p := loadExample(t)
	var got Decision
	var ok bool
	next := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got, _, ok = FromContext(r.Context())
	})
	h := Middleware(p)(next)
	r := httptest.NewRequest("POST", "/images/build", nil)
	r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{verifiedChainOf(t, "builder")}}
	w := &nopWriter{h: http.Header{}}
	n := allocsPerRun(func() { h.ServeHTTP(w, r) })
	if !ok || !got.Allowed || got.Rule == "" {
		t.Fatalf("FromContext in the handler: %+v, %v", got, ok)
	}
	if n != 1 {
		t.Errorf("Middleware: %v allocations per allowed request, want 1", n)
	}
}

// The interned ids are the right ones: a policy with more deciding rules than the cache holds
// (nameCacheMax), decided from several goroutines, so that probes collide, the cache fills up
// and ids past the bound are copied per decision; and decisions naming one and several dry-run
// ids.
func TestInternedRuleIDs(t *testing.T) {
	const rules = nameCacheMax + 300
	var y strings.Builder
	y.WriteString("version: 1\nprincipals:\n  - name: any\n    o: [\"*\"]\nrules:\n")
	for i := 0; i < rules; i++ {
		fmt.Fprintf(&y, "  - id: rule-%d\n    effect: allow\n    principals: [\"*\"]\n    operations: [\"op:%d\"]\n", i, i)
	}
	for i := 0; i < 3; i++ {
		fmt.Fprintf(&y, "  - id: watch-%d\n    effect: deny\n    mode: dry-run\n    principals: [\"*\"]\n    operations: [\"op:%d\"]\n", i, i)
	}
	fmt.Fprintf(&y, "  - id: watch-both\n    effect: deny\n    mode: dry-run\n    principals: [\"*\"]\n    operations: [\"op:1\", \"op:2\"]\n")
	p, err := LoadPolicy([]byte(y.String()))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	id := identityOf(t, "builder")
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for round := 0; round < 2; round++ {
				for i := g; i < rules+g; i++ {
					k := i % rules
					d := p.Authorize(id, fmt.Sprintf("op:%d", k))
					var want []string
					switch k {
					case 0:
						want = []string{"watch-0"}
					case 1, 2:
						want = []string{fmt.Sprintf("watch-%d", k), "watch-both"}
					}
					if !d.Allowed || d.Rule != fmt.Sprintf("rule-%d", k) || d.DryRunCount != len(want) ||
						!reflect.DeepEqual(d.DryRun, want) && len(want) > 0 {
						errs <- fmt.Sprintf("op:%d: %+v", k, d)
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := p.state.names.n; n != nameCacheMax {
		t.Errorf("%d ids interned, want the bound, %d", n, nameCacheMax)
	}
}
