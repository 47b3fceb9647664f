// SPDX-License-Identifier: Apache-2.0

package mtlsauthzenvoy

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// certDir holds the certificates made by tests/certs/gen-certs.sh (see TestMain).
var certDir string

// examplePolicy is the container-escape policy of the HTTP contract's fixture.
const examplePolicy = "../../examples/policy.yaml"

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	certDir = os.Getenv("MTLSAUTHZ_TEST_CERTS")
	if certDir == "" {
		dir, err := os.MkdirTemp("", "mtlsauthz-envoy-certs-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if out, err := exec.Command("../../tests/certs/gen-certs.sh", dir).CombinedOutput(); err != nil {
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
// want is set, as make check-envoy does): Go's build cache does not see C libraries, so a stale
// package could link another build directory's library.
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

// mintLeaf completes tmpl (subject and SANs) as a client leaf, the way a CA issues one: not a
// CA, keyUsage digitalSignature, extKeyUsage clientAuth, valid for an hour, a random serial.
// It is signed by the test intermediate, or self-signed when selfSigned is true; the chain
// holds the issuer too.
func mintLeaf(t testing.TB, tmpl *x509.Certificate, selfSigned bool) tls.Certificate {
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
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	parent, parentKey := tmpl, any(key)
	if !selfSigned {
		parent, parentKey = testIssuer(t)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	chain := [][]byte{der}
	if !selfSigned {
		chain = append(chain, parent.Raw)
	}
	return tls.Certificate{Certificate: chain, PrivateKey: key}
}

// logBuffer collects what the server logs, for tests to read back.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// record is one JSON log record: its keys in order, and its values.
type record struct {
	keys   []string
	fields map[string]any
}

// records are the JSON records logged so far whose msg is msg, in order.
func (l *logBuffer) records(t testing.TB, msg string) []record {
	t.Helper()
	var out []record
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if line == "" {
			continue
		}
		var r record
		if err := json.Unmarshal([]byte(line), &r.fields); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if r.fields["msg"] != msg {
			continue
		}
		r.keys = jsonKeys(t, line)
		out = append(out, r)
	}
	return out
}

// jsonKeys are the top-level keys of a JSON object, in order.
func jsonKeys(t testing.TB, obj string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(obj))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// writeFile writes data to path atomically (a rename), as a deployment tool would.
func writeFile(t testing.TB, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
