// SPDX-License-Identifier: Apache-2.0

//go:build go1.22

//go:debug httpmuxgo121=0

package mtlsauthz

import (
	"crypto/tls"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
)

// The go line of go.mod (1.21) would otherwise keep the Go 1.21 ServeMux for this test binary,
// which does not know method patterns ("GET /containers/{id}/secrets" would never match). The
// go:debug line above asks for the Go 1.22 mux, the one applications get; it needs a Go 1.22
// toolchain, hence the build constraint.

// secretsPolicy allows ops everything under /containers and denies reading a container's
// secrets to every identity: the broad-allow, narrow-deny shape docs/policy.md recommends.
const secretsPolicy = `version: 1
protocol: http
principals:
  - name: ops
    o: [Example Corp]
    ou: [ops, sre]
rules:
  - id: ops-containers
    effect: allow
    principals: [ops]
    operations: ["* /containers/**"]
  - id: no-secrets
    effect: deny
    principals: ["*"]
    operations: ["GET /containers/*/secrets"]
`

// TestAttackHEADRunsTheGETHandler: Go's ServeMux serves HEAD with a GET pattern's handler, so
// a HEAD request that the policy decided as "HEAD /containers/x/secrets" (which the deny does
// not name) would run the secrets handler, side effects and headers included. HEAD must be
// decided as GET.
func TestAttackHEADRunsTheGETHandler(t *testing.T) {
	var secretsRead, logsRead atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containers/{id}/secrets", func(w http.ResponseWriter, r *http.Request) {
		secretsRead.Add(1)
		w.Header().Set("X-Secret", "hunter2")
		io.WriteString(w, "hunter2\n")
	})
	mux.HandleFunc("GET /containers/{id}/logs", func(w http.ResponseWriter, r *http.Request) {
		logsRead.Add(1)
		io.WriteString(w, "log\n")
	})
	opsCert := keyPair(t, "ops")

	// The premise: without the middleware, this mux runs the GET handler for a HEAD request.
	bare := newServer(t, mux, tls.RequireAndVerifyClientCert)
	if got := do(t, newClient(t, &opsCert), "HEAD", bare.URL+"/containers/x/secrets"); got.status != 200 || secretsRead.Load() != 1 {
		t.Fatalf("without the middleware, HEAD: %d, secrets handler ran %d times; want 200 and 1",
			got.status, secretsRead.Load())
	}
	secretsRead.Store(0)

	srv := newServer(t, Middleware(loadYAML(t, secretsPolicy))(mux), tls.RequireAndVerifyClientCert)
	ops := newClient(t, &opsCert)
	wantRefusal(t, do(t, ops, "GET", srv.URL+"/containers/x/secrets"), 403,
		map[string]string{"rule": `"no-secrets"`, "reason": `"denied"`})
	for _, path := range []string{"/containers/x/secrets", "/containers/x/%73ecrets"} {
		// A HEAD response has no body, so only the status says what was decided.
		if got := do(t, ops, "HEAD", srv.URL+path); got.status != 403 {
			t.Errorf("HEAD %s: %d, want 403", path, got.status)
		}
	}
	if n := secretsRead.Load(); n != 0 {
		t.Errorf("the secrets handler ran %d times behind the deny", n)
	}

	// HEAD of an allowed GET route still reaches its handler.
	if got := do(t, ops, "HEAD", srv.URL+"/containers/x/logs"); got.status != 200 || logsRead.Load() != 1 {
		t.Errorf("HEAD /containers/x/logs: %d, logs handler ran %d times; want 200 and 1",
			got.status, logsRead.Load())
	}
}
