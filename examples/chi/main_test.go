// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestExampleRuns starts the example as its README says (the example policy, certificates
// from tests/certs/gen-certs.sh) and checks every answer the README shows.
func TestExampleRuns(t *testing.T) {
	certs := os.Getenv("MTLSAUTHZ_TEST_CERTS")
	if certs == "" {
		certs = t.TempDir()
		if out, err := exec.Command("../../tests/certs/gen-certs.sh", certs).CombinedOutput(); err != nil {
			t.Fatalf("gen-certs.sh: %v\n%s", err, out)
		}
	}

	// A copy of the example policy, to reload (see the README's "Reload the policy").
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	example, err := os.ReadFile("../policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(policy, example, 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var logs syncBuffer
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, config{certs: certs, listen: "127.0.0.1:0", policy: policy},
			slog.New(slog.NewTextHandler(&logs, nil)), func(a net.Addr) { addrc <- a })
	}()
	var base string
	select {
	case a := <-addrc:
		base = "https://" + a.String()
	case err := <-done:
		t.Fatalf("example exited: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("example did not start")
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("example: %v", err)
		}
	}()

	caPEM, err := os.ReadFile(filepath.Join(certs, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	client := func(name string) *http.Client {
		cfg := &tls.Config{RootCAs: roots, ServerName: "localhost"}
		if name != "" {
			kp, err := tls.LoadX509KeyPair(filepath.Join(certs, name+"-chain.pem"), filepath.Join(certs, name+".key"))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{kp}
		}
		tr := &http.Transport{TLSClientConfig: cfg}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}

	check := func(who, method, path string, status int, body string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client(who).Do(req)
		if err != nil {
			t.Fatalf("%s %s %s: %v", who, method, path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != status || strings.TrimSpace(string(b)) != body {
			t.Errorf("%s %s %s: %d %s, want %d %s", who, method, path, resp.StatusCode,
				strings.TrimSpace(string(b)), status, body)
		}
	}

	for _, c := range []struct {
		who, method, path string
		status            int
		body              string
	}{
		{"builder", "GET", "/healthz", 200, `{"status":"ok"}`},
		{"ops", "GET", "/healthz", 200, `{"status":"ok"}`},
		{"plain", "GET", "/healthz", 200, `{"status":"ok"}`},
		{"", "GET", "/healthz", 401, `{"error":"unauthorized","reason":"no_identity","rule":null}`},
		{"builder", "POST", "/images/build", 200, `{"by":"spiffe://prod.example.com/ci/builder","status":"building"}`},
		{"ops", "POST", "/images/build", 403, `{"error":"forbidden","reason":"no_match","rule":null}`},
		{"ops", "GET", "/containers", 200, `["abc","def"]`},
		{"builder", "GET", "/containers", 403, `{"error":"forbidden","reason":"no_match","rule":null}`},
		{"builder", "POST", "/containers/abc/exec", 403, `{"error":"forbidden","reason":"denied","rule":"no-container-escape"}`},
		{"ops", "POST", "/containers/abc/exec", 403, `{"error":"forbidden","reason":"denied","rule":"no-container-escape"}`},
		{"ops", "POST", "/containers/abc/%65xec", 403, `{"error":"forbidden","reason":"denied","rule":"no-container-escape"}`},
		{"ops", "POST", "/containers/xyz/../abc/exec", 400, `{"error":"bad_request","reason":"bad_target","rule":null}`},
		{"spiffe-two-uri", "GET", "/healthz", 403, `{"error":"forbidden","reason":"identity_rejected","rule":null}`},
	} {
		check(c.who, c.method, c.path, c.status, c.body)
	}
	// HEAD is decided as GET; this router has no HEAD route (no middleware.GetHead), so 405.
	allowedGETs := func() int {
		return strings.Count(logs.String(), `decision=allow reason=allowed rule=ops-read dry_run=[] operation="GET /containers"`)
	}
	gets := allowedGETs()
	check("ops", "HEAD", "/containers", 405, "")
	if allowedGETs() != gets+1 {
		t.Errorf("no HEAD request decided as GET in the log:\n%s", logs.String())
	}
	// The start-up warning appears exactly when the policy does not declare protocol: http.
	undeclared := !bytes.Contains(example, []byte("\nprotocol: http\n"))
	if warned := strings.Contains(logs.String(), "declare `protocol: http`"); warned != undeclared {
		t.Errorf("protocol warning logged: %v, want %v:\n%s", warned, undeclared, logs.String())
	}
	// The raw target reached the server as written (the client did not clean it), and the
	// decision log says why it was refused; the denies name the subject as the library prints it.
	for _, want := range []string{`reason=bad_target rule=<nil> dry_run=[] operation=<nil> status=400`,
		`detail="HTTP request refused: dot segment in path"`,
		`operation="POST /containers/abc/exec" status=403 spiffe_id=<nil> subject="CN=alice,OU=ops,O=Example Corp"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no %s in the log:\n%s", want, logs.String())
		}
	}

	// SIGHUP reloads: freeze ops; then a broken file keeps the last good policy.
	hup := func(want string) {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), want); {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log after SIGHUP:\n%s", want, logs.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	check("ops", "GET", "/containers", 200, `["abc","def"]`)
	appendFile(t, policy, "\n  - id: freeze-ops\n    effect: deny\n    principals: [ops]\n    operations: [\"* /**\"]\n")
	hup(`msg="policy reloaded"`)
	check("ops", "GET", "/containers", 403, `{"error":"forbidden","reason":"denied","rule":"freeze-ops"}`)
	appendFile(t, policy, "rules: [\n")
	hup(`msg="policy reload failed; keeping the last good policy"`)
	check("ops", "GET", "/containers", 403, `{"error":"forbidden","reason":"denied","rule":"freeze-ops"}`)
	check("builder", "POST", "/images/build", 200, `{"by":"spiffe://prod.example.com/ci/builder","status":"building"}`)
	if !strings.Contains(logs.String(), "rule=no-container-escape") {
		t.Errorf("decisions not logged:\n%s", logs.String())
	}
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
