// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

// reached records which handler paths the middleware let through.
type reached struct {
	mu   sync.Mutex
	hits []string
}

func (r *reached) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.hits = append(r.hits, req.Method+" "+req.RequestURI)
		r.mu.Unlock()
		io.WriteString(w, "ok\n")
	})
}

func (r *reached) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.hits)
}

func TestMiddlewareOverMTLS(t *testing.T) {
	p := loadExample(t)
	var next reached
	srv := newServer(t, Middleware(p)(next.handler()), tls.RequireAndVerifyClientCert)
	builder, ops := clientFor(t, "builder"), clientFor(t, "ops")

	// Allowed: handler reached.
	for _, c := range []struct {
		client       *http.Client
		method, path string
	}{
		{builder, "GET", "/healthz"},
		{ops, "GET", "/healthz"},
		{builder, "POST", "/images/build"},
		{builder, "POST", "/images/build?tag=v1"},
		{ops, "GET", "/containers/abc/logs"},
	} {
		if got := do(t, c.client, c.method, srv.URL+c.path); got.status != 200 || got.body != "ok\n" {
			t.Errorf("%s %s: %d %q", c.method, c.path, got.status, got.body)
		}
	}
	if n := next.count(); n != 5 {
		t.Fatalf("handler reached %d times, want 5", n)
	}

	// Denied: 403 with the JSON body, handler not reached.
	wantRefusal(t, do(t, ops, "POST", srv.URL+"/images/build"), 403,
		map[string]string{"error": `"forbidden"`, "rule": "null", "reason": `"no_match"`})
	wantRefusal(t, do(t, builder, "POST", srv.URL+"/containers/abc/exec"), 403,
		map[string]string{"error": `"forbidden"`, "rule": `"no-container-escape"`, "reason": `"denied"`})
	wantRefusal(t, do(t, builder, "GET", srv.URL+"/host/etc/shadow"), 403,
		map[string]string{"rule": `"no-container-escape"`, "reason": `"denied"`})
	if n := next.count(); n != 5 {
		t.Fatalf("a denied request reached the handler (%d)", n)
	}

	resp, err := ops.Post(srv.URL+"/images/build", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("403 Content-Type %q", ct)
	}
}

// TestMiddlewareRequestTargets sends raw request targets: the operation comes from the raw
// target through the library, so an encoded "exec" is still exec, and what the library
// refuses is a 400 before authorization.
func TestMiddlewareRequestTargets(t *testing.T) {
	p := loadExample(t)
	var next reached
	var logs logCapture
	srv := newServer(t, Middleware(p, WithLogger(logs.logger()))(next.handler()), tls.RequireAndVerifyClientCert)
	kp := keyPair(t, "builder")
	for _, c := range []struct {
		target string
		status int
		fields map[string]string
	}{
		{"/containers/abc/%65xec", 403, map[string]string{"rule": `"no-container-escape"`}},
		{"/containers/abc/exec/", 403, map[string]string{"rule": `"no-container-escape"`}},
		{"/containers/abc/EXEC", 403, map[string]string{"rule": "null", "reason": `"no_match"`}},
		{"/containers/abc%2Fexec", 400, map[string]string{"error": `"bad_request"`}},
		{"/containers/abc/%2e%2e/exec", 400, map[string]string{"error": `"bad_request"`}},
		{"/containers/../containers/abc/exec", 400, map[string]string{"error": `"bad_request"`}},
		{"/containers/./abc/exec", 400, map[string]string{"error": `"bad_request"`}},
		{"//containers/abc/exec", 400, map[string]string{"error": `"bad_request"`}},
		{"/containers/abc/exec%00", 400, map[string]string{"error": `"bad_request"`}},
		{"https://localhost/containers/abc/exec", 400, map[string]string{"error": `"bad_request"`}},
	} {
		got := raw(t, srv, &kp, "POST", c.target)
		if got.status != c.status {
			t.Errorf("POST %s: %d %s, want %d", c.target, got.status, strings.TrimSpace(got.body), c.status)
			continue
		}
		wantRefusal(t, got, c.status, c.fields)
		// The body names no detail; the decision log has the library's message.
		recs := logs.decisions(t)
		detail, _ := recs[len(recs)-1].fields["detail"].(string)
		if c.status == 400 && (got.body != string(bodyBadRequest) || !strings.HasPrefix(detail, "HTTP request refused: ")) {
			t.Errorf("POST %s: 400 %s, logged detail %q", c.target, strings.TrimSpace(got.body), detail)
		}
	}
	if got := raw(t, srv, &kp, "POST", "/images/%62uild"); got.status != 200 {
		t.Errorf("POST /images/%%62uild: %d %s", got.status, got.body)
	}
	if n := next.count(); n != 1 {
		t.Fatalf("handler reached %d times, want 1", n)
	}
}

func TestMiddlewareNoVerifiedCertificateIs401(t *testing.T) {
	p := loadExample(t)
	var next reached
	h := Middleware(p)(next.handler())

	// No client certificate at all.
	srv := newServer(t, h, tls.VerifyClientCertIfGiven)
	got := do(t, newClient(t, nil), "GET", srv.URL+"/healthz")
	wantRefusal(t, got, 401, map[string]string{"error": `"unauthorized"`, "reason": `"no_identity"`})
	// ... while a verified one on the same server is fine.
	if got := do(t, clientFor(t, "ops"), "GET", srv.URL+"/healthz"); got.status != 200 {
		t.Fatalf("verified client: %d", got.status)
	}
	// Plain HTTP (r.TLS == nil).
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	wantRefusal(t, result{rec.Code, rec.Body.String()}, 401, map[string]string{"reason": `"no_identity"`})

	// No identity is 401 even for a malformed target.
	got = raw(t, srv, nil, "GET", "/a/../healthz")
	wantRefusal(t, got, 401, map[string]string{"error": `"unauthorized"`})

	// RequireAnyClientCert: crypto/tls takes any certificate without verifying it, so
	// PeerCertificates is set and VerifiedChains is empty. Neither an untrusted certificate
	// nor a trusted one is ever authorized.
	// (Without ClientCAs, so the server names no CA and the client sends any certificate.)
	var peerCerts atomic.Int64
	sawPeerCerts := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peerCerts.Add(int64(len(r.TLS.PeerCertificates)))
		h.ServeHTTP(w, r)
	})
	anySrv := newServer(t, sawPeerCerts, tls.RequireAnyClientCert, func(s *httptest.Server) { s.TLS.ClientCAs = nil })
	untrusted := selfSigned(t)
	got = do(t, newClient(t, &untrusted), "GET", anySrv.URL+"/healthz")
	wantRefusal(t, got, 401, map[string]string{"reason": `"no_identity"`})
	got = do(t, clientFor(t, "builder"), "POST", anySrv.URL+"/images/build")
	wantRefusal(t, got, 401, map[string]string{"reason": `"no_identity"`})
	if n := peerCerts.Load(); n != 1+2 {
		t.Fatalf("PeerCertificates held %d certificates over both requests, want 3", n)
	}
	if n := next.count(); n != 1 {
		t.Fatalf("handler reached %d times, want 1", n)
	}
}

func TestMiddlewareRejectedIdentityIs403(t *testing.T) {
	// Both certificates verify over TLS (signed by the test intermediate), and the policy
	// grants everything to "*": only the library's rejection stands between them and it.
	p := loadYAML(t, "version: 1\nprotocol: http\nrules:\n  - id: all\n    effect: allow\n    principals: [\"*\"]\n    operations: [\"* /**\"]\n")
	var next reached
	srv := newServer(t, Middleware(p)(next.handler()), tls.RequireAndVerifyClientCert)
	nul := mintNulCN(t)
	for name, client := range map[string]*http.Client{
		"NUL in CN":                 newClient(t, &nul),
		"spiffe-two-uri (bad SVID)": clientFor(t, "spiffe-two-uri"),
	} {
		got := do(t, client, "GET", srv.URL+"/healthz")
		if got.status != 403 {
			t.Errorf("%s: %d", name, got.status)
			continue
		}
		wantRefusal(t, got, 403, map[string]string{"rule": "null", "reason": `"identity_rejected"`})
	}
	if got := do(t, clientFor(t, "plain"), "GET", srv.URL+"/healthz"); got.status != 200 {
		t.Fatalf("plain: %d", got.status)
	}
	if n := next.count(); n != 1 {
		t.Fatalf("handler reached %d times, want 1", n)
	}
}

func TestMiddlewareDryRunAndLogger(t *testing.T) {
	p := loadExample(t)
	var logs logCapture
	var next reached
	srv := newServer(t, Middleware(p, WithDryRun(), WithLogger(logs.logger()))(next.handler()),
		tls.VerifyClientCertIfGiven)

	ops := clientFor(t, "ops")
	for _, path := range []string{"/containers/abc/exec", "/images/build"} {
		if got := do(t, ops, "POST", srv.URL+path); got.status != 200 || got.body != "ok\n" {
			t.Errorf("dry-run POST %s: %d %q", path, got.status, got.body)
		}
	}
	if got := do(t, newClient(t, nil), "GET", srv.URL+"/healthz"); got.status != 200 {
		t.Errorf("dry-run without a certificate: %d", got.status)
	}
	if got := raw(t, srv, ptr(keyPair(t, "ops")), "GET", "/a//b"); got.status != 200 {
		t.Errorf("dry-run with a refused target: %d", got.status)
	}
	if got := do(t, ops, "GET", srv.URL+"/containers/abc/logs"); got.status != 200 {
		t.Errorf("allowed: %d", got.status)
	}
	if n := next.count(); n != 5 {
		t.Fatalf("dry-run blocked: handler reached %d times, want 5", n)
	}

	// The decisions, as enforcement would have made them; nothing was refused, so status is
	// null. (The start-up warning about a policy without "protocol: http" is not one.)
	recs := logs.decisions(t)
	if len(recs) != 5 {
		t.Fatalf("%d decision records, want 5:\n%s", len(recs), logs.buf.String())
	}
	const alice = "CN=alice,OU=ops,O=Example Corp"
	want := []map[string]any{
		{"level": "WARN", "decision": "deny", "reason": "denied", "rule": "no-container-escape", "operation": "POST /containers/abc/exec", "subject": alice, "detail": nil},
		{"level": "WARN", "decision": "deny", "reason": "no_match", "rule": nil, "operation": "POST /images/build", "subject": alice, "detail": nil},
		{"level": "WARN", "decision": "deny", "reason": "no_identity", "rule": nil, "operation": "GET /healthz", "subject": nil, "detail": nil},
		{"level": "WARN", "decision": "deny", "reason": "bad_target", "rule": nil, "operation": nil, "subject": alice, "detail": "HTTP request refused: empty segment in path"},
		{"level": "WARN", "decision": "allow", "reason": "allowed", "rule": "ops-read", "operation": "GET /containers/abc/logs", "subject": alice, "detail": nil, "dry_run": []any{"watch-logs"}},
	}
	for i, rec := range recs {
		if rec.fields["status"] != nil {
			t.Errorf("record %d: status %v under WithDryRun, want null", i, rec.fields["status"])
		}
		for k, v := range want[i] {
			if !reflect.DeepEqual(rec.fields[k], v) {
				t.Errorf("record %d: %s = %#v, want %#v", i, k, rec.fields[k], v)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestMiddlewareCustomOperation(t *testing.T) {
	p := loadYAML(t, `version: 1
principals:
  - name: builder
    spiffe: ["spiffe://prod.example.com/ci/builder"]
rules:
  - id: build
    effect: allow
    principals: [builder]
    operations: ["images:build"]
`)
	// An application-level operation name instead of the HTTP one.
	op := func(r *http.Request) (string, error) {
		switch r.URL.Path {
		case "/build":
			return "images:build", nil
		case "/push":
			return "images:push", nil
		}
		return "", errors.New("no such operation")
	}
	var next reached
	var logs logCapture
	srv := newServer(t, Middleware(p, WithOperation(op), WithLogger(logs.logger()))(next.handler()),
		tls.RequireAndVerifyClientCert)
	builder := clientFor(t, "builder")
	if got := do(t, builder, "POST", srv.URL+"/build"); got.status != 200 {
		t.Errorf("images:build: %d %s", got.status, got.body)
	}
	wantRefusal(t, do(t, builder, "POST", srv.URL+"/push"), 403, map[string]string{"reason": `"no_match"`})
	wantRefusal(t, do(t, clientFor(t, "ops"), "POST", srv.URL+"/build"), 403, map[string]string{"reason": `"no_match"`})
	got := do(t, builder, "POST", srv.URL+"/other")
	wantRefusal(t, got, 400, map[string]string{"error": `"bad_request"`, "reason": `"bad_target"`})
	recs := logs.decisions(t)
	if d := recs[len(recs)-1].fields["detail"]; d != "no such operation" {
		t.Errorf("logged detail %#v, want the operation function's error", d)
	}
	if n := next.count(); n != 1 {
		t.Fatalf("handler reached %d times, want 1", n)
	}
}

func TestChiRouter(t *testing.T) {
	p := loadExample(t)
	var execs atomic.Int64
	r := chi.NewRouter()
	r.Use(Middleware(p))
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	r.Post("/images/build", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "built\n") })
	r.Post("/containers/{id}/exec", func(w http.ResponseWriter, r *http.Request) {
		execs.Add(1)
		io.WriteString(w, "exec in "+chi.URLParam(r, "id")+"\n")
	})
	srv := newServer(t, r, tls.RequireAndVerifyClientCert)
	builder, ops := clientFor(t, "builder"), clientFor(t, "ops")
	kp := keyPair(t, "builder")

	if got := do(t, ops, "GET", srv.URL+"/healthz"); got.status != 200 || got.body != "ok\n" {
		t.Errorf("healthz: %+v", got)
	}
	if got := do(t, builder, "POST", srv.URL+"/images/build"); got.status != 200 || got.body != "built\n" {
		t.Errorf("build: %+v", got)
	}
	wantRefusal(t, do(t, ops, "POST", srv.URL+"/images/build"), 403, map[string]string{"reason": `"no_match"`})
	wantRefusal(t, do(t, builder, "POST", srv.URL+"/containers/abc/exec"), 403,
		map[string]string{"rule": `"no-container-escape"`})
	wantRefusal(t, raw(t, srv, &kp, "POST", "/containers/abc/%65xec"), 403,
		map[string]string{"rule": `"no-container-escape"`})
	wantRefusal(t, raw(t, srv, &kp, "POST", "/containers/x/..%2fabc/exec"), 400, nil)
	// Authorization runs before routing: an unknown route is denied, not 404.
	wantRefusal(t, do(t, builder, "GET", srv.URL+"/nope"), 403, map[string]string{"reason": `"no_match"`})
	if n := execs.Load(); n != 0 {
		t.Fatalf("exec handler reached %d times", n)
	}
}

// TestChiFormatSuffixAndHEAD: Chi routes the path as sent, so "exec.json" is not the exec
// route and needs no deny of its own; Chi's opt-in middleware.URLFormat strips the extension
// before routing, and then only a deny that names the suffixed spelling holds. With
// middleware.GetHead, Chi runs a GET handler for HEAD, which the policy decides as GET.
func TestChiFormatSuffixAndHEAD(t *testing.T) {
	const policy = `version: 1
protocol: http
principals:
  - name: ops
    ou: [ops]
rules:
  - id: ops-containers
    effect: allow
    principals: [ops]
    operations: ["* /containers/**"]
  - id: no-exec
    effect: deny
    principals: ["*"]
    operations: ["POST /containers/*/exec", "GET /containers/*/secrets"]
`
	withSuffixDeny := strings.Replace(policy, `"POST /containers/*/exec",`,
		`"POST /containers/*/exec", "POST /containers/*/exec.*",`, 1)
	ops := clientFor(t, "ops")
	for _, c := range []struct {
		name     string
		policy   string
		use      func(http.Handler) http.Handler
		exec     int // the status of POST /containers/abc/exec.json
		execRuns bool
	}{
		{"plain Chi", policy, nil, 404, false},
		{"URLFormat, a deny without the suffix", policy, middleware.URLFormat, 200, true},
		{"URLFormat, a deny with the suffix", withSuffixDeny, middleware.URLFormat, 403, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var execs, secrets atomic.Int64
			r := chi.NewRouter()
			r.Use(Middleware(loadYAML(t, c.policy)), middleware.GetHead)
			if c.use != nil {
				r.Use(c.use)
			}
			r.Post("/containers/{id}/exec", func(w http.ResponseWriter, r *http.Request) { execs.Add(1) })
			r.Get("/containers/{id}/secrets", func(w http.ResponseWriter, r *http.Request) { secrets.Add(1) })
			srv := newServer(t, r, tls.RequireAndVerifyClientCert)
			if got := do(t, ops, "POST", srv.URL+"/containers/abc/exec.json"); got.status != c.exec {
				t.Errorf("POST exec.json: %d %s, want %d", got.status, got.body, c.exec)
			}
			if ran := execs.Load() != 0; ran != c.execRuns {
				t.Errorf("the exec handler ran: %v, want %v", ran, c.execRuns)
			}
			execs.Store(0)
			for _, m := range []string{"POST /containers/abc/exec", "HEAD /containers/abc/secrets"} {
				method, path, _ := strings.Cut(m, " ")
				if got := do(t, ops, method, srv.URL+path); got.status != 403 {
					t.Errorf("%s: %d, want 403", m, got.status)
				}
			}
			if execs.Load() != 0 || secrets.Load() != 0 {
				t.Errorf("a denied handler ran (exec %d, secrets %d)", execs.Load(), secrets.Load())
			}
		})
	}
}

// TestIdentityOncePerConnection counts certificate reads and peer resolutions: N requests
// on one keep-alive connection read the certificate once; a second connection reads it
// again; a reload resolves the same identity against the new policy without reading it again.
func TestIdentityOncePerConnection(t *testing.T) {
	var reads, resolves atomic.Int64
	testHookIdentity.Store(ptr(func() { reads.Add(1) }))
	testHookPeer.Store(ptr(func() { resolves.Add(1) }))
	defer func() { testHookIdentity.Store(nil); testHookPeer.Store(nil) }()

	s, _ := tempStore(t, string(readFileT(t, examplePolicy)))
	var conns atomic.Int64
	srv := newServer(t, StoreMiddleware(s)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})),
		tls.RequireAndVerifyClientCert, func(srv *httptest.Server) {
			srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
				if st == http.StateNew {
					conns.Add(1)
				}
			}
		})

	builder := clientFor(t, "builder")
	for i := 0; i < 20; i++ {
		if got := do(t, builder, "POST", srv.URL+"/images/build"); got.status != 200 {
			t.Fatalf("request %d: %d", i, got.status)
		}
	}
	if c, r, p := conns.Load(), reads.Load(), resolves.Load(); c != 1 || r != 1 || p != 1 {
		t.Fatalf("20 requests on %d connection(s): %d reads, %d resolutions; want 1, 1, 1", c, r, p)
	}

	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if got := do(t, builder, "POST", srv.URL+"/images/build"); got.status != 200 {
			t.Fatalf("after reload: %d", got.status)
		}
	}
	if r, p := reads.Load(), resolves.Load(); r != 1 || p != 2 {
		t.Fatalf("after reload: %d reads, %d resolutions; want 1, 2", r, p)
	}

	other := clientFor(t, "builder")
	for i := 0; i < 5; i++ {
		do(t, other, "GET", srv.URL+"/healthz")
	}
	if c, r := conns.Load(), reads.Load(); c != 2 || r != 2 {
		t.Fatalf("second connection: %d connections, %d reads; want 2, 2", c, r)
	}
}

// TestMiddlewareHTTP2 checks the middleware over HTTP/2, where RequestURI is the :path
// pseudo-header and all streams share one connection (and one identity read).
func TestMiddlewareHTTP2(t *testing.T) {
	var reads atomic.Int64
	testHookIdentity.Store(ptr(func() { reads.Add(1) }))
	defer testHookIdentity.Store(nil)
	p := loadExample(t)
	var next reached
	srv := newServer(t, Middleware(p)(next.handler()), tls.RequireAndVerifyClientCert,
		func(s *httptest.Server) { s.EnableHTTP2 = true })
	kp := keyPair(t, "builder")
	tr := &http.Transport{TLSClientConfig: clientTLS(t, &kp), ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for i := 0; i < 5; i++ {
		resp, err := client.Post(srv.URL+"/images/build", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
			t.Fatalf("%s %d", resp.Proto, resp.StatusCode)
		}
	}
	wantRefusal(t, do(t, client, "POST", srv.URL+"/containers/abc/exec"), 403,
		map[string]string{"rule": `"no-container-escape"`})
	if n := reads.Load(); n != 1 {
		t.Fatalf("%d identity reads over one HTTP/2 connection, want 1", n)
	}
}
