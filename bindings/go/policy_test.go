// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestReasonConstantsAreTheLibrarys(t *testing.T) {
	want := map[int]string{}
	for i, s := range reasons {
		want[i] = s
	}
	got := map[int]string{0: ReasonError, 1: ReasonAllowed, 2: ReasonDenied, 3: ReasonNoMatch,
		4: ReasonNoIdentity, 5: ReasonIdentityRejected}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("reason constants %v, library %v", got, want)
	}
	if Version() == "" {
		t.Fatal("empty library version")
	}
}

func TestLoadPolicyErrorsCarryTheLibraryMessage(t *testing.T) {
	cases := []struct {
		name, yaml, code string
		contains         []string
	}{
		{"unknown key", "version: 1\nprincipals:\n  - name: a\n    cn: [x]\nrules:\n  - id: r\n    effect: allow\n    principals: [a]\n    operations: [x]\n    colour: red\n",
			"MTLSAUTHZ_EPOLICY", []string{"colour"}},
		{"undefined principal", "version: 1\nrules:\n  - id: r\n    effect: allow\n    principals: [ghost]\n    operations: [x]\n",
			"MTLSAUTHZ_EPOLICY", []string{"ghost"}},
		{"unbound capture", "version: 1\nprincipals:\n  - name: a\n    cn: [x]\nrules:\n  - id: r\n    effect: allow\n    principals: [a]\n    operations: [\"GET /t/{tenant}\"]\n",
			"MTLSAUTHZ_EPOLICY", []string{"tenant"}},
		{"version", "version: 2\nrules: []\n", "MTLSAUTHZ_EVERSION", []string{"2"}},
		{"empty", "", "MTLSAUTHZ_EPOLICY", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := LoadPolicy([]byte(c.yaml))
			if err == nil {
				p.Close()
				t.Fatal("loaded")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%T %v, want *Error", err, err)
			}
			if e.Name != c.code || e.Code >= 0 {
				t.Errorf("code %d %s, want %s", e.Code, e.Name, c.code)
			}
			if e.Message == "" || !strings.HasPrefix(err.Error(), "mtlsauthz: ") {
				t.Errorf("error %q", err)
			}
			for _, s := range c.contains {
				if !strings.Contains(e.Message, s) {
					t.Errorf("message %q does not name %q", e.Message, s)
				}
			}
		})
	}

	_, err := LoadPolicyFile(filepath.Join(t.TempDir(), "missing.yaml"))
	var e *Error
	if !errors.As(err, &e) || e.Name != "MTLSAUTHZ_EIO" || !strings.Contains(e.Message, "missing.yaml") {
		t.Fatalf("missing file: %v", err)
	}

	// A NUL byte inside the text is an error, not a truncation (the bytes are passed with
	// their length).
	_, err = LoadPolicy([]byte("version: 1\nrules:\n  - id: \"r\x00\"\n"))
	if !errors.As(err, &e) {
		t.Fatalf("NUL in policy: %v", err)
	}
}

func TestLoadPolicyErrorsSayWhere(t *testing.T) {
	// An unknown key, at the key (line 4, column 5), with the key meant.
	const broken = "version: 1\nrules:\n  - id: r\n    efect: allow\n    principals: [\"*\"]\n    operations: [x]\n"
	const text = "unknown key 'efect' in rule 'r'; did you mean 'effect'?"
	var e *Error
	_, err := LoadPolicy([]byte(broken))
	if !errors.As(err, &e) {
		t.Fatalf("%T %v, want *Error", err, err)
	}
	if e.File != "" || e.Line != 4 || e.Column != 5 || e.Message != "4:5: "+text || e.Text() != text {
		t.Errorf("LoadPolicy: %+v, Text %q", e, e.Text())
	}

	path := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(path, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadPolicyFile(path)
	if !errors.As(err, &e) {
		t.Fatalf("%T %v, want *Error", err, err)
	}
	// The path once, in front: FILE:LINE:COLUMN: text.
	if e.File != path || e.Line != 4 || e.Column != 5 || e.Message != path+":4:5: "+text ||
		err.Error() != "mtlsauthz: "+path+":4:5: "+text || e.Text() != text {
		t.Errorf("LoadPolicyFile: %+v, Text %q", e, e.Text())
	}

	// No position: a file that cannot be read.
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	_, err = LoadPolicyFile(missing)
	if !errors.As(err, &e) || e.File != missing || e.Line != 0 || e.Column != 0 ||
		!strings.HasPrefix(e.Message, missing+": ") || strings.Count(e.Message, missing) != 1 ||
		e.Text() != strings.TrimPrefix(e.Message, missing+": ") {
		t.Errorf("missing file: %+v, Text %q", e, e.Text())
	}

	// A Store's load error is LoadPolicyFile's.
	if _, err := NewStore(path); !errors.As(err, &e) || e.File != path || e.Line != 4 {
		t.Errorf("NewStore: %v", err)
	}
}

func TestAuthorize(t *testing.T) {
	p := loadExample(t)
	if n := p.RuleCount(); n != 5 {
		t.Fatalf("RuleCount = %d", n)
	}
	builder, ops := identityOf(t, "builder"), identityOf(t, "ops")
	cases := []struct {
		id           *Identity
		op           string
		allowed      bool
		rule, reason string
		dryRun       []string
		wantErr      bool
	}{
		{builder, "POST /images/build", true, "build-images", ReasonAllowed, nil, false},
		{builder, "GET /healthz", true, "health", ReasonAllowed, nil, false},
		{ops, "POST /images/build", false, "", ReasonNoMatch, nil, false},
		{builder, "POST /containers/abc/exec", false, "no-container-escape", ReasonDenied, nil, false},
		{ops, "GET /containers/abc/logs", true, "ops-read", ReasonAllowed, []string{"watch-logs"}, false},
		{identityOf(t, "builder-noeku"), "POST /images/build", false, "", ReasonNoMatch, nil, false},
		{identityOf(t, "spiffe-two-uri"), "GET /healthz", false, "", ReasonIdentityRejected, nil, false},
		{nil, "GET /healthz", false, "", ReasonNoIdentity, nil, false},
		{builder, "POST /images/build\x00", false, "", ReasonError, nil, true},
	}
	for _, c := range cases {
		d := p.Authorize(c.id, c.op)
		if d.Allowed != c.allowed || d.Rule != c.rule || d.Reason != c.reason ||
			!reflect.DeepEqual(d.DryRun, c.dryRun) || (d.Err != nil) != c.wantErr {
			t.Errorf("%q: got %+v, want allowed=%v rule=%q reason=%s dry_run=%v err=%v",
				c.op, d, c.allowed, c.rule, c.reason, c.dryRun, c.wantErr)
		}
	}
	if d := p.Authorize(builder, "POST /images/build\x00"); d.Err == nil || !strings.Contains(d.Err.Error(), "NUL") {
		t.Errorf("NUL operation: %v", d.Err)
	}
}

func TestHTTPOperation(t *testing.T) {
	for _, c := range []struct{ method, target, op string }{
		{"POST", "/containers/abc/%65xec", "POST /containers/abc/exec"},
		{"POST", "/containers/abc/exec/", "POST /containers/abc/exec"},
		{"GET", "/healthz?verbose=1", "GET /healthz"},
		{"GET", "/", "GET /"},
		{"HEAD", "/containers/x/secrets?a=1", "GET /containers/x/secrets"}, // HEAD runs the GET handler
		{"get", "/x", "get /x"},
	} {
		if op, err := HTTPOperation(c.method, c.target); err != nil || op != c.op {
			t.Errorf("%s %s: %q, %v; want %q", c.method, c.target, op, err, c.op)
		}
	}
	for _, c := range []struct{ method, target, why string }{
		{"POST", "/containers/abc%2Fexec", "encoded '/'"},
		{"POST", "/containers/abc/%00", "NUL"},
		{"POST", "/containers/../exec", "dot segment"},
		{"POST", "/containers/./exec", "dot segment"},
		{"POST", "//containers", "empty segment"},
		{"POST", "containers", ""},
		{"POST", "", ""},
		{"", "/", ""},
		{"GET /x", "/", ""},
	} {
		op, err := HTTPOperation(c.method, c.target)
		var e *Error
		if !errors.As(err, &e) || e.Name != "MTLSAUTHZ_EOPERATION" || !strings.Contains(e.Message, c.why) {
			t.Errorf("%q %q: %q, %v; want MTLSAUTHZ_EOPERATION (%s)", c.method, c.target, op, err, c.why)
		}
	}
}

func TestRejectedIdentities(t *testing.T) {
	// nul-cn is byte-patched after signing, so it cannot pass TLS; the library reads it all
	// the same (it never verifies) and rejects it.
	p := loadYAML(t, "version: 1\nrules:\n  - id: all\n    effect: allow\n    principals: [\"*\"]\n    operations: [\"**\"]\n")
	for _, name := range []string{"nul-cn", "nul-dns", "spiffe-two-uri"} {
		der := readFileT(t, certPath(name+".der"))
		id, err := IdentityFromChain(mustParse(t, der))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if id.Rejected() == "" {
			t.Errorf("%s: not rejected", name)
		}
		if d := p.Authorize(id, "GET /healthz"); d.Allowed || d.Reason != ReasonIdentityRejected {
			t.Errorf("%s under principals [*]: %+v", name, d)
		}
		id.Close()
	}
	builder := identityOf(t, "builder")
	if r := builder.Rejected(); r != "" {
		t.Fatalf("builder rejected: %s", r)
	}
	if d := p.Authorize(builder, "GET /healthz"); !d.Allowed {
		t.Fatalf("builder under principals [*]: %+v", d)
	}
	js, err := builder.JSON()
	if err != nil || !strings.Contains(js, "spiffe://prod.example.com/ci/builder") {
		t.Fatalf("JSON: %v %s", err, js)
	}
}

func mustParse(t testing.TB, der []byte) []*x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return []*x509.Certificate{c}
}

func TestIdentityOnlyFromVerifiedChains(t *testing.T) {
	chain := verifiedChainOf(t, "builder")
	cs := &tls.ConnectionState{PeerCertificates: chain}
	if _, err := IdentityFromConnectionState(cs); !errors.Is(err, ErrNoVerifiedChain) {
		t.Fatalf("PeerCertificates only: %v", err)
	}
	if _, err := IdentityFromConnectionState(nil); !errors.Is(err, ErrNoVerifiedChain) {
		t.Fatalf("nil state: %v", err)
	}
	if _, err := IdentityFromChain(nil); !errors.Is(err, ErrNoVerifiedChain) {
		t.Fatalf("empty chain: %v", err)
	}
	var e *Error
	if _, err := IdentityFromChain([]*x509.Certificate{{Raw: []byte("junk")}}); !errors.As(err, &e) || e.Name != "MTLSAUTHZ_ECERT" {
		t.Fatalf("junk DER: %v", err)
	}
	if _, err := IdentityFromChain([]*x509.Certificate{{}}); !errors.As(err, &e) || e.Name != "MTLSAUTHZ_ECERT" {
		t.Fatalf("no DER: %v", err)
	}
	cs.VerifiedChains = [][]*x509.Certificate{chain}
	id, err := IdentityFromConnectionState(cs)
	if err != nil {
		t.Fatal(err)
	}
	defer id.Close()
	if id.Leaf() != chain[0] {
		t.Fatal("leaf is not VerifiedChains[0][0]")
	}
}

func TestIdentityCachesOnePeerPerPolicy(t *testing.T) {
	var peers atomic.Int64
	testHookPeer.Store(ptr(func() { peers.Add(1) }))
	defer testHookPeer.Store(nil)
	p1, p2 := loadExample(t), loadExample(t)
	id := identityOf(t, "builder")
	for i := 0; i < 10; i++ {
		if !p1.Authorize(id, "POST /images/build").Allowed || !p2.Authorize(id, "POST /images/build").Allowed {
			t.Fatal("denied")
		}
	}
	if n := peers.Load(); n != 2 {
		t.Fatalf("%d peers resolved for 2 policies, want 2", n)
	}
	// A closed policy denies, and its peer is not consulted.
	p1.Close()
	if d := p1.Authorize(id, "POST /images/build"); d.Allowed || d.Reason != ReasonError || !errors.Is(d.Err, ErrClosed) {
		t.Fatalf("closed policy: %+v", d)
	}
	// A closed identity denies.
	id.Close()
	if d := p2.Authorize(id, "POST /images/build"); d.Allowed || !errors.Is(d.Err, ErrClosed) {
		t.Fatalf("closed identity: %+v", d)
	}
}

// TestCloseWhileAuthorizing closes policies while other goroutines decide with them, on
// cached and uncached identities. Run with -race. Every decision must be either the real one
// (before Close) or a deny with ErrClosed (after), never anything else, and nothing may crash.
func TestCloseWhileAuthorizing(t *testing.T) {
	// Identities are made once (reading a certificate is the slow, per-connection step);
	// each round's new policy has no peer cached for any of them, so the odd goroutines
	// resolve peers (under the policy's lock) while Close runs, and the even ones decide on a
	// cached peer.
	chain := verifiedChainOf(t, "builder")
	fresh := make([]*Identity, 64)
	for i := range fresh {
		var err error
		if fresh[i], err = IdentityFromChain(chain); err != nil {
			t.Fatal(err)
		}
		defer fresh[i].Close()
	}
	const goroutines, decisions = 8, 400
	var mixed int // rounds in which Close landed while decisions were running
	for round := 0; round < 50; round++ {
		p, err := LoadPolicyFile(examplePolicy)
		if err != nil {
			t.Fatal(err)
		}
		shared := fresh[0]
		if d := p.Authorize(shared, "POST /images/build"); !d.Allowed {
			t.Fatalf("before Close: %+v", d)
		}
		var wg sync.WaitGroup
		var allowed, closed atomic.Int64
		start := make(chan struct{})
		for g := 0; g < goroutines; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				<-start
				for i := 0; i < decisions; i++ {
					id := shared
					if g%2 == 1 {
						id = fresh[1+(i+g)%(len(fresh)-1)]
					}
					d := p.Authorize(id, "POST /images/build")
					switch {
					case d.Allowed && d.Rule == "build-images":
						allowed.Add(1)
					case !d.Allowed && d.Reason == ReasonError && errors.Is(d.Err, ErrClosed):
						closed.Add(1)
					default:
						t.Errorf("unexpected decision %+v", d)
					}
				}
			}(g)
		}
		close(start)
		if round%2 == 1 {
			runtime.Gosched()
		}
		p.Close()
		wg.Wait()
		if allowed.Load()+closed.Load() != goroutines*decisions {
			t.Fatalf("decisions: %d allowed + %d closed", allowed.Load(), closed.Load())
		}
		if allowed.Load() > 0 && closed.Load() > 0 {
			mixed++
		}
		if d := p.Authorize(shared, "POST /images/build"); d.Allowed {
			t.Fatalf("after Close: %+v", d)
		}
	}
	t.Logf("%d of 50 rounds closed the policy mid-decisions", mixed)
}
