// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// The same rules, with and without the top-level protocol key.
const (
	buildRules = `principals:
  - name: builder
    spiffe: ["spiffe://prod.example.com/ci/builder"]
rules:
  - id: build
    effect: allow
    principals: [builder]
    operations: ["POST /images/build"]
`
	anyPolicy  = "version: 1\n" + buildRules
	httpPolicy = "version: 1\nprotocol: http\n" + buildRules
)

func TestPolicyProtocol(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{anyPolicy, ProtocolAny},
		{"version: 1\nprotocol: any\n" + buildRules, ProtocolAny},
		{httpPolicy, ProtocolHTTP},
	} {
		if got := loadYAML(t, c.yaml).Protocol(); got != c.want {
			t.Errorf("Protocol() = %q, want %q for\n%s", got, c.want, c.yaml)
		}
	}
	closed := loadYAML(t, httpPolicy)
	closed.Close()
	if got := closed.Protocol(); got != ProtocolAny {
		t.Errorf("closed: Protocol() = %q, want %q", got, ProtocolAny)
	}
	if got := (*Policy)(nil).Protocol(); got != ProtocolAny {
		t.Errorf("nil: Protocol() = %q, want %q", got, ProtocolAny)
	}
	_, err := LoadPolicy([]byte("version: 1\nprotocol: grpc\n" + buildRules))
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(e.Message, "protocol") {
		t.Errorf("protocol: grpc loaded: %v", err)
	}
}

// logCapture is a JSON slog logger whose entries a test can read back.
type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *logCapture) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(&lockedWriter{w: &c.buf, mu: &c.mu}, nil))
}

type logEntry struct {
	Level    string `json:"level"`
	Msg      string `json:"msg"`
	Protocol string `json:"protocol"`
	Policy   string `json:"policy"`
}

// warnings are the entries that tell the operator to add "protocol: http".
func (c *logCapture) warnings(t *testing.T) []logEntry {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []logEntry
	for _, line := range strings.Split(strings.TrimSpace(c.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var e logEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if strings.Contains(e.Msg, "`protocol: http`") {
			out = append(out, e)
		}
	}
	return out
}

func wantWarnings(t *testing.T, logs *logCapture, n int, policy string) {
	t.Helper()
	got := logs.warnings(t)
	if len(got) != n {
		t.Fatalf("%d protocol warnings, want %d:\n%s", len(got), n, logs.buf.String())
	}
	for _, e := range got {
		if e.Level != "WARN" || e.Protocol != ProtocolAny || e.Policy != policy ||
			!strings.Contains(e.Msg, "add it") || !strings.Contains(e.Msg, "docs/policy.md") {
			t.Errorf("warning %+v, want WARN, protocol=any, policy=%q, and the fix", e, policy)
		}
	}
}

// TestMiddlewareWarnsWithoutProtocolHTTP: a middleware that derives operations from requests
// warns once, at construction, when its policy does not declare "protocol: http"; not with the
// key, and not when WithOperation supplies the operations.
func TestMiddlewareWarnsWithoutProtocolHTTP(t *testing.T) {
	op := WithOperation(func(*http.Request) (string, error) { return "POST /images/build", nil })
	for _, c := range []struct {
		name string
		yaml string
		opts []Option
		n    int
	}{
		{"no protocol key", anyPolicy, nil, 1},
		{"protocol: http", httpPolicy, nil, 0},
		{"WithOperation", anyPolicy, []Option{op}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var logs logCapture
			mw := Middleware(loadYAML(t, c.yaml), append(c.opts, WithLogger(logs.logger()))...)
			wantWarnings(t, &logs, c.n, "")

			// Requests over mTLS still work, and log decisions, not the warning again.
			var next reached
			srv := newServer(t, mw(next.handler()), tls.RequireAndVerifyClientCert)
			builder := clientFor(t, "builder")
			for i := 0; i < 2; i++ {
				if got := do(t, builder, "POST", srv.URL+"/images/build"); got.status != 200 {
					t.Fatalf("POST /images/build: %d %s", got.status, got.body)
				}
			}
			wantWarnings(t, &logs, c.n, "")
			if n := strings.Count(logs.buf.String(), `"msg":"mtlsauthz"`); n != 2 {
				t.Errorf("%d decisions logged, want 2", n)
			}
		})
	}
}

// TestMiddlewareWarnsOnTheDefaultLogger: without WithLogger, the warning goes to
// slog.Default().
func TestMiddlewareWarnsOnTheDefaultLogger(t *testing.T) {
	var logs logCapture
	old := slog.Default()
	slog.SetDefault(logs.logger())
	defer slog.SetDefault(old)

	Middleware(loadYAML(t, httpPolicy))
	wantWarnings(t, &logs, 0, "")
	Middleware(loadYAML(t, anyPolicy))
	wantWarnings(t, &logs, 1, "")
}

// TestStoreMiddlewareWarnsOnReload: StoreMiddleware checks the store's policy at construction
// and each policy a Reload swaps in, naming the file.
func TestStoreMiddlewareWarnsOnReload(t *testing.T) {
	s, path := tempStore(t, anyPolicy)
	var logs, ownOps logCapture
	StoreMiddleware(s, WithLogger(logs.logger()))
	StoreMiddleware(s, WithLogger(ownOps.logger()),
		WithOperation(func(*http.Request) (string, error) { return "images:build", nil }))
	wantWarnings(t, &logs, 1, path)

	reload := func(yaml string) error {
		t.Helper()
		writePolicy(t, path, yaml)
		return s.Reload()
	}
	if err := reload(httpPolicy); err != nil {
		t.Fatal(err)
	}
	wantWarnings(t, &logs, 1, path)
	if err := reload("version: 1\nrules: [\n"); err == nil {
		t.Fatal("a broken policy reloaded")
	}
	wantWarnings(t, &logs, 1, path) // the last good policy, with the key, stays
	if err := reload(anyPolicy); err != nil {
		t.Fatal(err)
	}
	wantWarnings(t, &logs, 2, path)
	wantWarnings(t, &ownOps, 0, "")
}
