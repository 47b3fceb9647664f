// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

// xfccPolicy tells the identities of these tests apart by what each rule can see: by-spiffe
// needs only a SPIFFE ID, which a partial identity has; by-eku also needs the clientAuth EKU,
// which only a certificate shows; ops-only allows OU=ops, which the proxy's own certificate
// has, so a request decided on the proxy instead of its client is seen.
const xfccPolicy = `version: 1
protocol: http
principals:
  - name: builder-svid
    spiffe: ["spiffe://prod.example.com/ci/builder"]
  - name: builder-eku
    spiffe: ["spiffe://prod.example.com/ci/builder"]
    eku: [clientAuth]
  - name: ops
    ou: [ops]
rules:
  - id: by-spiffe
    effect: allow
    principals: [builder-svid]
    operations: ["GET /spiffe"]
  - id: by-eku
    effect: allow
    principals: [builder-eku]
    operations: ["GET /eku"]
  - id: ops-only
    effect: allow
    principals: [ops]
    operations: ["GET /ops"]
`

const (
	builderSPIFFE = "spiffe://prod.example.com/ci/builder"
	proxySPIFFE   = "spiffe://mesh.example.com/ns/edge/sa/envoy"
)

// proxyCert is the proxy's client certificate: the SPIFFE ID the trust selector names, and
// OU=ops, so that its own identity, were it used, would pass GET /ops and nothing else.
func proxyCert(t testing.TB) tls.Certificate {
	t.Helper()
	u, err := url.Parse(proxySPIFFE)
	if err != nil {
		t.Fatal(err)
	}
	return issueLeaf(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "envoy", Organization: []string{"Example Corp"},
			OrganizationalUnit: []string{"ops"}},
		URIs: []*url.URL{u},
	})
}

// xfccEncode is the strict URL-encoding Envoy gives Cert: every byte but letters, digits and
// -._~* as %XX.
func xfccEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("-._~*", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// builderHash is the SHA-256 of the test certificate builder, computed here from its DER.
func builderHash(t testing.TB) string {
	sum := sha256.Sum256(readFileT(t, certPath("builder.der")))
	return hex.EncodeToString(sum[:])
}

// certHeader is what Envoy forwards for the client certificate builder with
// set_current_client_cert_details {cert: true, subject: true, uri: true}.
func certHeader(t testing.TB) string {
	return "By=" + proxySPIFFE + ";Hash=" + builderHash(t) +
		`;Cert="` + xfccEncode(string(readFileT(t, certPath("builder.pem")))) +
		`";Subject="CN=builder,O=Example Corp";URI=` + builderSPIFFE
}

// istioHeader is what Istio forwards for builder by default: no certificate, so the identity
// is partial.
func istioHeader(t testing.TB) string {
	return "By=" + proxySPIFFE + ";Hash=" + builderHash(t) +
		`;Subject="CN=builder,O=Example Corp";URI=` + builderSPIFFE
}

// xfccSeen records what the middleware decided and on which identity, from a decision hook.
type xfccSeen struct {
	mu   sync.Mutex
	last struct {
		d  Decision
		id *Identity
	}
}

func (s *xfccSeen) hook(r *http.Request, d Decision) {
	_, id, _ := FromContext(r.Context())
	s.mu.Lock()
	s.last.d, s.last.id = d, id
	s.mu.Unlock()
}

func (s *xfccSeen) get() (Decision, *Identity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last.d, s.last.id
}

// doXFCC sends a GET with one X-Forwarded-Client-Cert field per value.
func doXFCC(t testing.TB, c *http.Client, url string, values ...string) result {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		req.Header.Add(xfccHeader, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{resp.StatusCode, string(b)}
}

// xfccGuarded starts an mTLS server that authorizes with xfccPolicy and opts.
func xfccGuarded(t *testing.T, opts ...Option) (*httptest.Server, *reached) {
	t.Helper()
	next := new(reached)
	h := Middleware(loadYAML(t, xfccPolicy), opts...)(next.handler())
	return newServer(t, h, tls.RequireAndVerifyClientCert), next
}

func trustProxy(t testing.TB) func(*http.Request) bool {
	t.Helper()
	trusted, err := TrustProxyCertificate("spiffe:" + proxySPIFFE)
	if err != nil {
		t.Fatal(err)
	}
	return trusted
}

// TestXFCCFromTrustedProxy: a proxy whose verified certificate the trust selector selects
// forwards its client's identity; the request is decided on that identity, never on the
// proxy's, and logged with it.
func TestXFCCFromTrustedProxy(t *testing.T) {
	var logs logCapture
	var seen xfccSeen
	srv, next := xfccGuarded(t, WithXFCC(trustProxy(t)), WithLogger(logs.logger()),
		WithDecisionHook(seen.hook))
	pc := proxyCert(t)
	proxy := newClient(t, &pc)
	contract := contractLogKeys(t)
	lastRecord := func() map[string]any {
		t.Helper()
		recs := logs.decisions(t)
		r := recs[len(recs)-1]
		wantRecordKeys(t, r.keys, contract)
		return r.fields
	}

	t.Run("Cert", func(t *testing.T) {
		h := certHeader(t)
		if got := doXFCC(t, proxy, srv.URL+"/eku", h); got.status != 200 {
			t.Fatalf("GET /eku: %d %s, want 200 (by-eku: the certificate has clientAuth)", got.status, got.body)
		}
		d, id := seen.get()
		if d.Rule != "by-eku" || id == nil || id.Partial() || id.SPIFFEID() != builderSPIFFE || id.Leaf() != nil {
			t.Errorf("decision %+v on %v, want by-eku on builder's certificate", d, id)
		}
		leaf := verifiedChainOf(t, "builder")[0]
		fields := lastRecord()
		wantIdentityFields(t, fields, ptr("builder"), leaf)
		if fields["spiffe_id"] != builderSPIFFE || fields["rule"] != "by-eku" {
			t.Errorf("log %v", fields)
		}
		// The proxy is OU=ops; its client is not.
		wantRefusal(t, doXFCC(t, proxy, srv.URL+"/ops", h), 403,
			map[string]string{"reason": `"no_match"`, "rule": "null"})
	})

	t.Run("Istio partial", func(t *testing.T) {
		h := istioHeader(t)
		if got := doXFCC(t, proxy, srv.URL+"/spiffe", h); got.status != 200 {
			t.Fatalf("GET /spiffe: %d %s, want 200 (by-spiffe)", got.status, got.body)
		}
		d, id := seen.get()
		if d.Rule != "by-spiffe" || id == nil || !id.Partial() || id.SPIFFEID() != builderSPIFFE {
			t.Errorf("decision %+v on %v, want by-spiffe on a partial identity", d, id)
		}
		fields := lastRecord()
		for k, want := range map[string]any{
			"subject": "CN=builder,O=Example Corp", "issuer": nil, "serial": nil,
			"sha256": builderHash(t), "spiffe_id": builderSPIFFE, "detail": nil,
		} {
			if fields[k] != want {
				t.Errorf("log %s = %#v, want %#v", k, fields[k], want)
			}
		}
		// A partial identity shows no EKU, so a principal that needs one never matches it.
		wantRefusal(t, doXFCC(t, proxy, srv.URL+"/eku", h), 403,
			map[string]string{"reason": `"no_match"`, "rule": "null"})
		wantRefusal(t, doXFCC(t, proxy, srv.URL+"/ops", h), 403,
			map[string]string{"reason": `"no_match"`})
	})

	t.Run("no header", func(t *testing.T) {
		// The proxy's own identity is not its client's: a client without a certificate.
		wantRefusal(t, doXFCC(t, proxy, srv.URL+"/ops"), 401,
			map[string]string{"reason": `"no_identity"`, "rule": "null"})
		if fields := lastRecord(); fields["subject"] != nil || fields["status"] != float64(401) {
			t.Errorf("log %v, want no identity and status 401", fields)
		}
	})

	if n := next.count(); n != 2 {
		t.Errorf("the handler ran %d times, want 2", n)
	}
}

// TestXFCCFromUntrustedPeerIgnored: the same headers from a verified client that the trust
// selector does not select are ignored; the client is decided on its own certificate, and the
// ignoring is logged, once.
func TestXFCCFromUntrustedPeerIgnored(t *testing.T) {
	var logs logCapture
	var seen xfccSeen
	srv, _ := xfccGuarded(t, WithXFCC(trustProxy(t)), WithLogger(logs.logger()),
		WithDecisionHook(seen.hook))
	ops := clientFor(t, "ops")

	wantRefusal(t, doXFCC(t, ops, srv.URL+"/eku", certHeader(t)), 403,
		map[string]string{"reason": `"no_match"`})
	wantRefusal(t, doXFCC(t, ops, srv.URL+"/spiffe", istioHeader(t)), 403,
		map[string]string{"reason": `"no_match"`})
	if got := doXFCC(t, ops, srv.URL+"/ops", istioHeader(t)); got.status != 200 {
		t.Fatalf("GET /ops: %d %s, want 200 on the client's own certificate", got.status, got.body)
	}
	if _, id := seen.get(); id == nil || id.SubjectDN() != libraryDN["ops"] || id.Partial() {
		t.Errorf("decided on %v, want the client's own certificate", id)
	}

	warnings := xfccWarnings(t, &logs)
	if len(warnings) != 1 {
		t.Fatalf("%d warnings about the ignored header, want 1 (at most one a minute):\n%s",
			len(warnings), logs.buf.String())
	}
	w := warnings[0]
	if w["level"] != "WARN" || w["ignored"] != float64(1) || w["peer_subject"] != libraryDN["ops"] ||
		w["peer_spiffe_id"] != nil || !strings.HasPrefix(w["remote"].(string), "127.0.0.1:") {
		t.Errorf("warning %v", w)
	}
}

// xfccWarnings are the logged warnings about ignored headers.
func xfccWarnings(t testing.TB, logs *logCapture) []map[string]any {
	t.Helper()
	logs.mu.Lock()
	defer logs.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if m["msg"] == xfccIgnoredWarning {
			out = append(out, m)
		}
	}
	return out
}

// TestXFCCIgnoredWarningRateLimited: one warning per interval, counting the headers ignored
// since the previous one.
func TestXFCCIgnoredWarningRateLimited(t *testing.T) {
	var logs logCapture
	cfg := newConfig([]Option{WithXFCC(func(*http.Request) bool { return false }), WithLogger(logs.logger())})
	r := httpRequest(t)
	for i := 0; i < 3; i++ {
		cfg.ignoreXFCC(r, nil)
	}
	if n := len(xfccWarnings(t, &logs)); n != 1 {
		t.Fatalf("%d warnings, want 1", n)
	}
	cfg.xfccIgnored.last.Store(time.Now().Add(-xfccWarnInterval - time.Second).UnixNano())
	cfg.ignoreXFCC(r, nil)
	w := xfccWarnings(t, &logs)
	if len(w) != 2 || w[0]["ignored"] != float64(1) || w[1]["ignored"] != float64(3) {
		t.Fatalf("warnings %v, want ignored 1 then 3", w)
	}
}

func httpRequest(t testing.TB) *http.Request {
	t.Helper()
	r, err := http.NewRequest("GET", "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestXFCCRefusedFromTrustedProxy: a trusted proxy's header that gives no identity, or that
// gives one the library rejects, is a deny (403 identity_rejected), never the proxy's own
// identity and never no identity.
func TestXFCCRefusedFromTrustedProxy(t *testing.T) {
	var logs logCapture
	var seen xfccSeen
	srv, next := xfccGuarded(t, WithXFCC(trustProxy(t)), WithLogger(logs.logger()),
		WithDecisionHook(seen.hook))
	pc := proxyCert(t)
	proxy := newClient(t, &pc)
	cert := certHeader(t)
	wrongHash := strings.Replace(cert, builderHash(t), strings.Repeat("0", 64), 1)
	for _, c := range []struct {
		name   string
		values []string
		detail string // the log's detail; "" for an identity the library read and rejected
		code   error  // errors.Is the decision's Err
	}{
		{"bad Hash", []string{"Hash=zz"}, "X-Forwarded-Client-Cert: 'z' in Hash", ErrCert},
		{"unterminated quote", []string{`Subject="CN=builder`}, "X-Forwarded-Client-Cert:", ErrCert},
		{"JSON", []string{`{"Hash":"` + builderHash(t) + `"}`}, "the header is JSON", ErrCert},
		{"empty", []string{""}, "X-Forwarded-Client-Cert: the header is empty", ErrCert},
		{"two fields", []string{istioHeader(t), istioHeader(t)},
			"2 X-Forwarded-Client-Cert header fields in one request; a proxy sends one", ErrXFCC},
		{"oversize", []string{"URI=https://a.example/" + strings.Repeat("a", 70000)}, "X-Forwarded-Client-Cert", ErrLimit},
		{"Hash of another certificate", []string{wrongHash}, "", nil},
		{"invalid SPIFFE ID", []string{"URI=spiffe://prod.example.com/ci/../builder"}, "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			// GET /ops: allowed to the proxy's own certificate, so a header that fell back to it
			// would pass.
			wantRefusal(t, doXFCC(t, proxy, srv.URL+"/ops", c.values...), 403,
				map[string]string{"error": `"forbidden"`, "reason": `"identity_rejected"`, "rule": "null"})
			recs := logs.decisions(t)
			fields := recs[len(recs)-1].fields
			d, id := seen.get()
			if c.detail == "" {
				// Read, then rejected by the library: the decision is the policy's.
				if fields["detail"] != nil || id == nil || id.Rejected() == "" || d.Err != nil {
					t.Errorf("log %v, identity %v, decision %+v: want a rejected identity", fields, id, d)
				}
				return
			}
			detail, _ := fields["detail"].(string)
			if !strings.Contains(detail, c.detail) {
				t.Errorf("log detail %q, want %q", detail, c.detail)
			}
			if fields["subject"] != nil || fields["sha256"] != nil || id != nil {
				t.Errorf("log %v: an identity from a header that gave none", fields)
			}
			if !errors.Is(d.Err, ErrXFCC) || !errors.Is(d.Err, c.code) {
				t.Errorf("decision Err %v, want ErrXFCC and %v", d.Err, c.code)
			}
		})
	}
	if n := next.count(); n != 0 {
		t.Errorf("the handler ran %d times, want 0", n)
	}
}

// TestXFCCOverUnixSocket: a proxy on the same host reaches the application over a Unix socket,
// in plain HTTP; TrustLocalPeer trusts it.
func TestXFCCOverUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "app.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var seen xfccSeen
	next := new(reached)
	srv := &http.Server{
		Handler: Middleware(loadYAML(t, xfccPolicy), WithXFCC(TrustLocalPeer),
			WithDecisionHook(seen.hook))(next.handler()),
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	const base = "http://app.internal"

	if got := doXFCC(t, client, base+"/spiffe", istioHeader(t)); got.status != 200 {
		t.Fatalf("GET /spiffe: %d %s, want 200", got.status, got.body)
	}
	if d, id := seen.get(); d.Rule != "by-spiffe" || id == nil || !id.Partial() {
		t.Errorf("decision %+v on %v", d, id)
	}
	wantRefusal(t, doXFCC(t, client, base+"/eku", istioHeader(t)), 403,
		map[string]string{"reason": `"no_match"`})
	if got := doXFCC(t, client, base+"/eku", certHeader(t)); got.status != 200 {
		t.Fatalf("GET /eku with Cert: %d %s, want 200", got.status, got.body)
	}
	wantRefusal(t, doXFCC(t, client, base+"/spiffe"), 401, map[string]string{"reason": `"no_identity"`})
	wantRefusal(t, doXFCC(t, client, base+"/spiffe", "Hash=zz"), 403,
		map[string]string{"reason": `"identity_rejected"`})
	if n := next.count(); n != 2 {
		t.Errorf("the handler ran %d times, want 2", n)
	}
}

// TestTrustLocalPeerOverTCP: over TCP, TrustLocalPeer trusts a connection to a loopback
// address and no other, whatever the request says about its origin: behind Chi's RealIP,
// which rewrites r.RemoteAddr from X-Real-IP, a client that claims 127.0.0.1 is still not
// trusted.
func TestTrustLocalPeerOverTCP(t *testing.T) {
	router := chi.NewRouter()
	router.Use(middleware.RealIP)
	next := new(reached)
	var logs logCapture
	router.Use(Middleware(loadYAML(t, xfccPolicy), WithXFCC(TrustLocalPeer),
		WithLogger(logs.logger())))
	router.Handle("/*", next.handler())
	ops := clientFor(t, "ops")

	loop := newServer(t, router, tls.RequireAndVerifyClientCert)
	if got := doXFCC(t, ops, loop.URL+"/spiffe", istioHeader(t)); got.status != 200 {
		t.Fatalf("loopback: GET /spiffe: %d %s, want 200 (the header's identity)", got.status, got.body)
	}

	ip := nonLoopbackIP(t)
	remote := newServer(t, router, tls.RequireAndVerifyClientCert, func(s *httptest.Server) {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
		if err != nil {
			t.Skipf("cannot listen on %s: %v", ip, err)
		}
		s.Listener.Close()
		s.Listener = ln
	})
	req, err := http.NewRequest("GET", remote.URL+"/spiffe", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(xfccHeader, istioHeader(t))
	req.Header.Set("X-Real-IP", "127.0.0.1")
	resp, err := ops.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("%s: GET /spiffe: %d, want 403 (the client's own certificate)", ip, resp.StatusCode)
	}
	if n := next.count(); n != 1 {
		t.Errorf("the handler ran %d times, want 1", n)
	}
	if n := len(xfccWarnings(t, &logs)); n != 1 {
		t.Errorf("%d warnings about the ignored header, want 1", n)
	}
}

// nonLoopbackIP is an address of this host that is not a loopback one; the test is skipped
// without one.
func nonLoopbackIP(t *testing.T) net.IP {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP
		}
	}
	t.Skip("no non-loopback IPv4 address")
	return nil
}

// TestTrustLocalPeer decides on the connection's local address alone.
func TestTrustLocalPeer(t *testing.T) {
	for _, c := range []struct {
		local net.Addr
		want  bool
	}{
		{&net.UnixAddr{Name: "/run/app.sock", Net: "unix"}, true},
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 8443}, true},
		{&net.TCPAddr{IP: net.ParseIP("127.3.2.1"), Port: 8443}, true},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 8443}, true},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1"), Port: 8443}, true},
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.2"), Port: 8443}, false},
		{&net.TCPAddr{IP: net.ParseIP("::"), Port: 8443}, false},
		{&net.TCPAddr{Port: 8443}, false},
		{&net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: 8443}, false},
		{nil, false},
	} {
		r := httpRequest(t)
		r.RemoteAddr = "127.0.0.1:1234" // never read
		if c.local != nil {
			r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, c.local))
		}
		if got := TrustLocalPeer(r); got != c.want {
			t.Errorf("local %v: %v, want %v", c.local, got, c.want)
		}
	}
}

// TestTrustProxyCertificateSelectors: selectors are the library's principal patterns; a bad
// one is refused with its text.
func TestTrustProxyCertificateSelectors(t *testing.T) {
	for _, c := range []struct {
		selectors []string
		err       string
	}{
		{nil, "at least one"},
		{[]string{"spiffe"}, `selector "spiffe": expected KEY:PATTERN`},
		{[]string{"name:envoy"}, `selector "name:envoy"`},
		{[]string{"spife:spiffe://a/b"}, `selector "spife:spiffe://a/b": `},
		{[]string{"spiffe:" + proxySPIFFE, "spiffe:http://x"}, `selector "spiffe:http://x": principal`},
	} {
		_, err := TrustProxyCertificate(c.selectors...)
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%q: %v, want %q", c.selectors, err, c.err)
		}
		if err != nil && strings.Contains(err.Error(), ": 1:") {
			t.Errorf("%q: %v: a position in a policy the user never wrote", c.selectors, err)
		}
	}

	pc, ops := proxyCert(t), keyPair(t, "ops")
	for _, c := range []struct {
		selectors []string
		cert      *tls.Certificate
		want      bool
	}{
		{[]string{"spiffe:" + proxySPIFFE}, &pc, true},
		{[]string{"spiffe:spiffe://mesh.example.com/ns/edge/sa/*"}, &pc, true},
		{[]string{"spiffe:spiffe://mesh.example.com/ns/other/sa/*"}, &pc, false},
		{[]string{"dn:CN=alice,OU=ops,O=Example Corp", "spiffe:" + proxySPIFFE}, &ops, true},
		{[]string{"spiffe:" + proxySPIFFE}, &ops, false},
		{[]string{"ou:ops"}, nil, false},
	} {
		trusted, err := TrustProxyCertificate(c.selectors...)
		if err != nil {
			t.Fatal(err)
		}
		r := httpRequest(t)
		if c.cert != nil {
			r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{verifyRaw(t, c.cert.Certificate)}}
		}
		if got := trusted(r); got != c.want {
			t.Errorf("%q: %v, want %v", c.selectors, got, c.want)
		}
	}
}

// TestIdentityFromXFCC reads the identities the middleware decides on.
func TestIdentityFromXFCC(t *testing.T) {
	id, err := IdentityFromXFCC(certHeader(t))
	if err != nil {
		t.Fatal(err)
	}
	defer id.Close()
	leaf := verifiedChainOf(t, "builder")[0]
	if id.Partial() || id.SHA256() != builderHash(t) || id.Serial() != leaf.SerialNumber.Text(16) ||
		id.IssuerDN() != testIssuerDN {
		t.Errorf("Cert: partial %v, sha256 %s, serial %s, issuer %s", id.Partial(), id.SHA256(), id.Serial(), id.IssuerDN())
	}
	p, err := IdentityFromXFCC(istioHeader(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !p.Partial() || p.SPIFFEID() != builderSPIFFE || p.Serial() != "" || p.Leaf() != nil {
		t.Errorf("Istio: partial %v, spiffe %s, serial %q", p.Partial(), p.SPIFFEID(), p.Serial())
	}
	_, err = IdentityFromXFCC("Hash=zz")
	var e *Error
	if !errors.Is(err, ErrCert) || !errors.As(err, &e) || !strings.Contains(e.Message, "Hash") {
		t.Errorf("Hash=zz: %v", err)
	}
}

// TestXFCCIdentityCache: a header is read once and then found by its hash; distinct headers
// are bounded by the cache's size.
func TestXFCCIdentityCache(t *testing.T) {
	var reads atomic.Int64
	testHookIdentity.Store(ptr(func() { reads.Add(1) }))
	defer testHookIdentity.Store(nil)
	cache := &identityCache{max: 2}
	a1, err := cache.getXFCC(istioHeader(t))
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := cache.getXFCC(istioHeader(t))
	if a1 != a2 || reads.Load() != 1 {
		t.Errorf("the same header read %d times, identities %p %p", reads.Load(), a1, a2)
	}
	b, _ := cache.getXFCC(certHeader(t))
	if b == a1 || b.Partial() {
		t.Error("another header gave the same identity")
	}
	for i := 0; i < 5; i++ {
		if _, err := cache.getXFCC("DNS=host" + string(rune('a'+i)) + ".example.com"); err != nil {
			t.Fatal(err)
		}
	}
	if n := cache.n.Load(); n > 2 {
		t.Errorf("%d identities cached, want at most 2", n)
	}
	if _, err := cache.getXFCC("Hash=zz"); err == nil || cache.n.Load() > 2 {
		t.Errorf("a refused header: %v, %d cached", err, cache.n.Load())
	}
}
