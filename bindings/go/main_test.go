// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// certDir holds the certificates made by tests/certs/gen-certs.sh (see TestMain).
var certDir string

// examplePolicy is the container-escape policy shared with the demo and examples/chi.
const examplePolicy = "../../examples/policy.yaml"

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	certDir = os.Getenv("MTLSAUTHZ_TEST_CERTS")
	if certDir == "" {
		dir, err := os.MkdirTemp("", "mtlsauthz-go-certs-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		cmd := exec.Command("../../tests/certs/gen-certs.sh", dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "gen-certs.sh: %v\n%s", err, out)
			return 1
		}
		certDir = dir
	}
	if err := checkLibDir(os.Getenv("MTLSAUTHZ_TEST_LIBDIR")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// checkLibDir fails when the C library this test binary loaded is not the one in want (when
// want is set, as make check-go does). Go's build cache does not see C libraries: a package
// compiled against another build directory keeps that directory's rpath, and the tests would
// quietly run against a stale library.
func checkLibDir(want string) error {
	if want == "" {
		return nil
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return fmt.Errorf("checking which libmtlsauthz is loaded: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || !strings.Contains(filepath.Base(fields[5]), "libmtlsauthz.so") {
			continue
		}
		got, _ := filepath.EvalSymlinks(filepath.Dir(fields[5]))
		exp, _ := filepath.EvalSymlinks(want)
		if got != exp {
			return fmt.Errorf("the tests loaded %s, not the library in %s (a stale go build cache?)", fields[5], want)
		}
		return nil
	}
	return fmt.Errorf("libmtlsauthz.so is not mapped; expected it from %s", want)
}

func certPath(name string) string { return filepath.Join(certDir, name) }

func readFileT(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func caPool(t testing.TB) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(readFileT(t, certPath("ca.pem"))) {
		t.Fatal("ca.pem: no certificate")
	}
	return pool
}

// keyPair is NAME-chain.pem (leaf, then the intermediate) with NAME.key.
func keyPair(t testing.TB, name string) tls.Certificate {
	t.Helper()
	kp, err := tls.LoadX509KeyPair(certPath(name+"-chain.pem"), certPath(name+".key"))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return kp
}

// verifiedChain verifies NAME-chain.pem against the test CA, as crypto/tls would for a
// client certificate, and returns the verified chain (leaf, intermediate, root).
func verifiedChainOf(t testing.TB, name string) []*x509.Certificate {
	t.Helper()
	kp := keyPair(t, name)
	return verifyRaw(t, kp.Certificate)
}

func verifyRaw(t testing.TB, ders [][]byte) []*x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	for _, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := certs[0].Verify(x509.VerifyOptions{Roots: caPool(t), Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		t.Fatal(err)
	}
	return chains[0]
}

func identityOf(t testing.TB, name string) *Identity {
	t.Helper()
	id, err := IdentityFromChain(verifiedChainOf(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() { id.Close() })
	return id
}

func loadExample(t testing.TB) *Policy {
	t.Helper()
	p, err := LoadPolicyFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func loadYAML(t testing.TB, yaml string) *Policy {
	t.Helper()
	p, err := LoadPolicy([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// testIssuer is the test intermediate and its key: the CA that issues the suite's leaves.
func testIssuer(t testing.TB) (*x509.Certificate, any) {
	t.Helper()
	intBlock, _ := pem.Decode(readFileT(t, certPath("int.pem")))
	intCert, err := x509.ParseCertificate(intBlock.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	keyBlock, _ := pem.Decode(readFileT(t, certPath("int.key")))
	intKey, err := x509.ParsePKCS8PrivateKey(keyBlock.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return intCert, intKey
}

// mintNulCN signs, with the test intermediate, a client certificate whose CN has a NUL byte
// ("admin\x00.evil.com"), so it verifies over real TLS (gen-certs.sh's nul-cn is patched after
// signing and would not).
func mintNulCN(t testing.TB) tls.Certificate {
	t.Helper()
	intCert, intKey := testIssuer(t)
	return mintClient(t, "admin\x00.evil.com", intCert, intKey)
}

// selfSigned is a client certificate no CA vouches for.
func selfSigned(t testing.TB) tls.Certificate {
	return mintClient(t, "builder", nil, nil)
}

// mintClient makes a clientAuth certificate for cn (O=Example Corp), signed by parent
// (self-signed if nil); the chain holds the parent too.
func mintClient(t testing.TB, cn string, parent *x509.Certificate, parentKey any) tls.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: cn, Organization: []string{"Example Corp"}}}
	return mintLeaf(t, tmpl, parent, parentKey)
}

// mintLeaf completes tmpl (which supplies the subject and SANs) as a client leaf, the way a
// CA issues one: not a CA, keyUsage digitalSignature, extKeyUsage clientAuth, valid for an
// hour, a random serial. It is signed by parent (self-signed if nil); the chain holds the
// parent too.
func mintLeaf(t testing.TB, tmpl *x509.Certificate, parent *x509.Certificate, parentKey any) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(time.Hour)
	tmpl.BasicConstraintsValid = true
	tmpl.IsCA = false
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	chain := [][]byte{der}
	if parent != tmpl {
		chain = append(chain, parent.Raw)
	}
	return tls.Certificate{Certificate: chain, PrivateKey: key}
}

// newServer starts an HTTPS server with the test server certificate, asking for client
// certificates as auth says and verifying them against the test CA.
func newServer(t testing.TB, h http.Handler, auth tls.ClientAuthType, edit ...func(*httptest.Server)) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{keyPair(t, "server")},
		ClientCAs:    caPool(t),
		ClientAuth:   auth,
	}
	for _, f := range edit {
		f(srv)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// clientTLS trusts the test CA and presents cert (none when cert is nil).
func clientTLS(t testing.TB, cert *tls.Certificate) *tls.Config {
	t.Helper()
	cfg := &tls.Config{RootCAs: caPool(t), ServerName: "localhost"}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return cfg
}

func newClient(t testing.TB, cert *tls.Certificate) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: clientTLS(t, cert)}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func clientFor(t testing.TB, name string) *http.Client {
	t.Helper()
	kp := keyPair(t, name)
	return newClient(t, &kp)
}

// result is a response's status and body.
type result struct {
	status int
	body   string
}

func do(t testing.TB, c *http.Client, method, url string) result {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{resp.StatusCode, string(b)}
}

// rawResponse is a response to one request sent with the exact target given.
type rawResponse struct {
	status int
	header http.Header
	body   string
}

// rawDo sends method and target as written over a new mTLS connection (nil cert: none), and
// reads the response as a response to that method (a HEAD's has no body).
func rawDo(t testing.TB, srv *httptest.Server, cert *tls.Certificate, method, target string) rawResponse {
	t.Helper()
	conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), clientTLS(t, cert))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
		method, target)
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	return rawResponse{resp.StatusCode, resp.Header, string(b)}
}

// raw sends one request with the exact request target given (no client-side URL cleaning or
// re-encoding) over a new mTLS connection.
func raw(t testing.TB, srv *httptest.Server, cert *tls.Certificate, method, target string) result {
	t.Helper()
	r := rawDo(t, srv, cert, method, target)
	return result{r.status, r.body}
}

// refusal decodes a JSON refusal body, keeping "rule" as a raw value so null is visible.
func refusal(t testing.TB, body string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	return m
}

func wantRefusal(t testing.TB, got result, status int, fields map[string]string) {
	t.Helper()
	if got.status != status {
		t.Fatalf("status = %d (%s), want %d", got.status, strings.TrimSpace(got.body), status)
	}
	m := refusal(t, got.body)
	for k, v := range fields {
		if string(m[k]) != v {
			t.Errorf("body %s: %s = %s, want %s", strings.TrimSpace(got.body), k, m[k], v)
		}
	}
}
