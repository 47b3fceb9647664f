// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

const connectPolicy = `version: 1
principals:
  - name: builder
    spiffe: ["spiffe://prod.example.com/ci/builder"]
rules:
  - id: builder-connects
    effect: allow
    principals: [builder]
    operations: ["connect"]
`

const revokedPolicy = connectPolicy + `  - id: revoke-builder
    effect: deny
    principals: [builder]
    operations: ["**"]
`

// tempStore writes yaml to a temporary policy file and opens a Store on it (closed at the
// end of the test). It returns the file's path, to rewrite and reload.
func tempStore(t testing.TB, yaml string) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writePolicy(t, path, yaml)
	s, err := NewStore(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func writePolicy(t testing.TB, path, yaml string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
}

// handshakes records what VerifyConnection decided, and whether the handshake resumed.
type handshakes struct {
	mu   sync.Mutex
	seen []handshake
}

type handshake struct {
	resumed bool
	err     error
}

func (h *handshakes) wrap(f func(tls.ConnectionState) error) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		err := f(cs)
		h.mu.Lock()
		h.seen = append(h.seen, handshake{cs.DidResume, err})
		h.mu.Unlock()
		return err
	}
}

func (h *handshakes) last() handshake {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.seen) == 0 {
		return handshake{err: errors.New("no handshake")}
	}
	return h.seen[len(h.seen)-1]
}

func TestVerifyConnection(t *testing.T) {
	s, path := tempStore(t, connectPolicy)

	var hs handshakes
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}),
		tls.RequireAndVerifyClientCert, func(srv *httptest.Server) {
			srv.TLS.MinVersion = tls.VersionTLS13
			srv.TLS.VerifyConnection = hs.wrap(VerifyConnection(s, "connect"))
		})

	// A client that resumes: a session cache, and a new connection per request.
	resuming := func(name string) *http.Client {
		kp := keyPair(t, name)
		cfg := clientTLS(t, &kp)
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(8)
		tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	get := func(c *http.Client) error {
		resp, err := c.Get(srv.URL + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}

	// Not allowed to connect: the handshake is refused.
	if err := get(resuming("ops")); err == nil {
		t.Fatal("ops connected")
	}
	var denied *DeniedError
	if h := hs.last(); !errors.As(h.err, &denied) || denied.Decision.Reason != ReasonNoMatch {
		t.Fatalf("ops handshake: %v", h.err)
	}

	builder := resuming("builder")
	if err := get(builder); err != nil {
		t.Fatalf("builder, full handshake: %v", err)
	}
	if h := hs.last(); h.resumed || h.err != nil {
		t.Fatalf("first handshake: %+v", h)
	}
	if err := get(builder); err != nil {
		t.Fatalf("builder, resumed: %v", err)
	}
	if h := hs.last(); !h.resumed || h.err != nil {
		t.Fatalf("second handshake did not resume: %+v", h)
	}

	// Revoke the builder by reloading the policy. Its next handshake resumes the session it
	// holds, and VerifyConnection, called on resumption too, refuses it.
	writePolicy(t, path, revokedPolicy)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := get(builder); err == nil {
		t.Fatal("revoked builder connected")
	}
	h := hs.last()
	if !h.resumed {
		t.Fatal("the refused handshake was not a resumption; the test proves nothing")
	}
	if !errors.As(h.err, &denied) || denied.Decision.Rule != "revoke-builder" ||
		denied.Decision.Reason != ReasonDenied || denied.Op != "connect" {
		t.Fatalf("resumed handshake after revocation: %v", h.err)
	}

	// A fresh full handshake is refused too.
	if err := get(resuming("builder")); err == nil {
		t.Fatal("revoked builder connected with a full handshake")
	}
	if h := hs.last(); h.resumed || !errors.As(h.err, &denied) {
		t.Fatalf("full handshake after revocation: %+v", h)
	}
}

func TestVerifyConnectionWithoutVerifiedChain(t *testing.T) {
	s, _ := tempStore(t, "version: 1\nrules:\n  - id: any\n    effect: allow\n    principals: [\"*\"]\n    operations: [connect]\n")
	verify := VerifyConnection(s, "connect")
	// PeerCertificates without VerifiedChains (RequireAnyClientCert) is no identity.
	chain := verifiedChainOf(t, "builder")
	err := verify(tls.ConnectionState{PeerCertificates: chain})
	var denied *DeniedError
	if !errors.As(err, &denied) || denied.Decision.Reason != ReasonNoIdentity {
		t.Fatalf("PeerCertificates only: %v", err)
	}
	if err := verify(tls.ConnectionState{PeerCertificates: chain, VerifiedChains: [][]*x509.Certificate{chain}}); err != nil {
		t.Fatalf("verified: %v", err)
	}
}

func TestWatchSIGHUP(t *testing.T) {
	s, path := tempStore(t, connectPolicy)
	id := identityOf(t, "builder")
	results := make(chan error, 4)
	stop := s.WatchSIGHUP(func(err error) { results <- err })
	defer stop()
	hup := func() error {
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-results:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("no reload after SIGHUP")
			return nil
		}
	}

	writePolicy(t, path, "version: 1\nrules: [\n")
	if err := hup(); err == nil {
		t.Fatal("a broken policy reloaded")
	}
	if d := s.Authorize(id, "connect"); !d.Allowed {
		t.Fatalf("last good policy lost: %+v", d)
	}
	writePolicy(t, path, revokedPolicy)
	if err := hup(); err != nil {
		t.Fatal(err)
	}
	if d := s.Authorize(id, "connect"); d.Allowed || d.Rule != "revoke-builder" {
		t.Fatalf("after SIGHUP: %+v", d)
	}
	stop()
	stop() // idempotent
}

func TestStoreReloadKeepsLastGood(t *testing.T) {
	allowBuilder := "version: 1\nprotocol: http\nprincipals:\n  - name: builder\n    spiffe: [\"spiffe://prod.example.com/ci/builder\"]\nrules:\n  - id: build\n    effect: allow\n    principals: [builder]\n    operations: [\"POST /images/build\"]\n"
	denyBuilder := allowBuilder + "  - id: freeze\n    effect: deny\n    principals: [\"*\"]\n    operations: [\"* /**\"]\n"
	s, path := tempStore(t, allowBuilder)
	write := func(yaml string) { writePolicy(t, path, yaml) }
	id := identityOf(t, "builder")
	if d := s.Authorize(id, "POST /images/build"); !d.Allowed {
		t.Fatalf("before reload: %+v", d)
	}

	first := s.Policy()
	write("version: 1\nrules: [oops\n")
	err := s.Reload()
	var e *Error
	if !errors.As(err, &e) || e.Message == "" {
		t.Fatalf("bad reload: %v", err)
	}
	if s.Policy() != first {
		t.Fatal("a failed reload replaced the policy")
	}
	if d := s.Authorize(id, "POST /images/build"); !d.Allowed {
		t.Fatalf("after failed reload: %+v", d)
	}

	write(denyBuilder)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if d := s.Authorize(id, "POST /images/build"); d.Allowed || d.Rule != "freeze" {
		t.Fatalf("after reload: %+v", d)
	}
	if d := first.Authorize(id, "POST /images/build"); d.Allowed || !errors.Is(d.Err, ErrClosed) {
		t.Fatalf("replaced policy still decides: %+v", d)
	}

	// Reloads racing with decisions never deny by themselves (the old policy is closed under
	// them; the store retries on the new one).
	write(allowBuilder)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if d := s.Authorize(id, "POST /images/build"); !d.Allowed {
					t.Errorf("denied during reload: %+v", d)
					return
				}
			}
		}()
	}
	for i := 0; i < 50; i++ {
		if err := s.Reload(); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()

	s.Close()
	if d := s.Authorize(id, "POST /images/build"); d.Allowed || !errors.Is(d.Err, ErrClosed) {
		t.Fatalf("closed store: %+v", d)
	}
	if err := s.Reload(); !errors.Is(err, ErrClosed) {
		t.Fatalf("reload of a closed store: %v", err)
	}
}
