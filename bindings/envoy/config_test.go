// SPDX-License-Identifier: Apache-2.0

package mtlsauthzenvoy

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	mtlsauthz "github.com/libmtlsauthz/mtlsauthz/bindings/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestParseFlags(t *testing.T) {
	cfg, err := ParseFlags([]string{"--policy", "p.yaml", "--listen", "tcp:127.0.0.1:9191",
		"--tls-cert", "c.pem", "--tls-key", "k.pem", "--client-ca", "ca.pem",
		"--allow-client", "spiffe:spiffe://td/ns/edge/sa/envoy", "--allow-client", "dns:envoy.example.com",
		"--metrics-listen", "127.0.0.1:9090", "--log-format", "text", "--log-level", "warn",
		"--cache-size", "10", "--reload-interval", "250ms", "--socket-mode", "0600"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Policy: "p.yaml", Listen: "tcp:127.0.0.1:9191", SocketMode: 0o600,
		TLSCert: "c.pem", TLSKey: "k.pem", ClientCA: "ca.pem",
		AllowClients:  []string{"spiffe:spiffe://td/ns/edge/sa/envoy", "dns:envoy.example.com"},
		MetricsListen: "127.0.0.1:9090", LogFormat: "text", LogLevel: "warn", CacheSize: 10,
		ReloadInterval: 250 * time.Millisecond}
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("\n got %+v\nwant %+v", *cfg, want)
	}
	def, err := ParseFlags(nil, io.Discard)
	if err != nil || !reflect.DeepEqual(*def, DefaultConfig()) {
		t.Errorf("no flags: %+v %v", def, err)
	}
	for _, args := range [][]string{
		{"--socket-mode", "0666x"}, {"--socket-mode", "1777"}, {"--cache-size", "x"}, {"extra"},
	} {
		if _, err := ParseFlags(args, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// TestConfigRefusals: a configuration that would let anyone but Envoy ask, or that asks for
// something the server would not do, does not start.
func TestConfigRefusals(t *testing.T) {
	tlsFlags := func(c *Config) {
		c.TLSCert, c.TLSKey, c.ClientCA = certPath("server-chain.pem"), certPath("server.key"), certPath("ca.pem")
	}
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no policy", func(c *Config) { c.Policy = "" }, "--policy FILE is required"},
		{"no listen", func(c *Config) { c.Listen = "" }, "--listen unix:PATH or --listen tcp:HOST:PORT is required"},
		{"bad listen", func(c *Config) { c.Listen = "udp:1.2.3.4:5" }, "expected unix:PATH or tcp:HOST:PORT"},
		{"tcp without a port", func(c *Config) { c.Listen = "tcp:127.0.0.1" }, "expected unix:PATH or tcp:HOST:PORT"},
		{"plain TCP on every interface", func(c *Config) { c.Listen = "tcp:0.0.0.0:9191" }, "--insecure-allow-plaintext-tcp"},
		{"plain TCP, empty host", func(c *Config) { c.Listen = "tcp::9191" }, "--insecure-allow-plaintext-tcp"},
		{"plain TCP on a public address", func(c *Config) { c.Listen = "tcp:192.0.2.1:9191" }, "--insecure-allow-plaintext-tcp"},
		{"plain TCP on localhost by name", func(c *Config) { c.Listen = "tcp:localhost:9191" }, "--insecure-allow-plaintext-tcp"},
		{"plain TCP with --allow-client", func(c *Config) {
			c.Listen = "tcp:127.0.0.1:0"
			c.AllowClients = []string{"spiffe:spiffe://td/x"}
		}, "--allow-client needs mutual TLS"},
		{"TLS without --allow-client", func(c *Config) { c.Listen = "tcp:127.0.0.1:0"; tlsFlags(c) },
			"at least one --allow-client"},
		{"TLS without a CA", func(c *Config) {
			c.Listen = "tcp:127.0.0.1:0"
			tlsFlags(c)
			c.ClientCA = ""
		}, "needs all of --tls-cert, --tls-key and --client-ca"},
		{"TLS and the insecure flag", func(c *Config) {
			c.Listen = "tcp:127.0.0.1:0"
			tlsFlags(c)
			c.AllowClients = []string{"spiffe:spiffe://td/x"}
			c.InsecurePlaintextTCP = true
		}, "has no effect"},
		{"TLS flags on a Unix socket", tlsFlags, "apply to --listen tcp: only"},
		{"a socket others may use", func(c *Config) { c.SocketMode = 0o666 }, "--socket-mode 0666"},
		{"a bad selector key", func(c *Config) {
			c.Listen = "tcp:127.0.0.1:0"
			tlsFlags(c)
			c.AllowClients = []string{"spiffe:spiffe://td/ns/edge/*", "spifee:spiffe://td/x"}
		}, `--allow-client "spifee:spiffe://td/x"`},
		{"a selector without a key", func(c *Config) {
			c.Listen = "tcp:127.0.0.1:0"
			tlsFlags(c)
			c.AllowClients = []string{"spiffe://td/x"}
		}, `--allow-client "spiffe://td/x": mtlsauthz: principal 'allow-client-1', key 'spiffe', entry '//td/x': a spiffe pattern must start with "spiffe://"`},
		{"a selector without a pattern", func(c *Config) {
			c.Listen = "tcp:127.0.0.1:0"
			tlsFlags(c)
			c.AllowClients = []string{"spiffe"}
		}, `--allow-client "spiffe": expected KEY:PATTERN`},
		{"a CA file without certificates", func(c *Config) {
			c.Listen = "tcp:127.0.0.1:0"
			tlsFlags(c)
			c.ClientCA = certPath("server.key")
			c.AllowClients = []string{"spiffe:spiffe://td/x"}
		}, "no PEM certificate"},
		{"a policy that does not load", func(c *Config) { c.Policy = "../../tests/data/http-contract/cases.json" }, "--policy"},
		{"log format", func(c *Config) { c.LogFormat = "xml" }, "--log-format"},
		{"log level", func(c *Config) { c.LogLevel = "loud" }, "--log-level"},
		{"cache size", func(c *Config) { c.CacheSize = 0 }, "--cache-size"},
		{"reload interval", func(c *Config) { c.ReloadInterval = -time.Second }, "--reload-interval"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Policy = examplePolicy
			cfg.Listen = "unix:" + filepath.Join(t.TempDir(), "s")
			c.edit(&cfg)
			d, err := Start(&cfg, io.Discard)
			if err == nil {
				d.Shutdown(context.Background())
				t.Fatalf("started; want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v\ndoes not say %q", err, c.want)
			}
		})
	}
	// Positive controls: plain TCP on loopback, v4 and v6, and with the explicit flag.
	for _, listen := range []string{"tcp:127.0.0.1:0", "tcp:[::1]:0", "tcp:127.0.0.2:0"} {
		d, logs := startDaemon(t, func(c *Config) { c.Listen = listen })
		if len(logs.records(t, "mtlsauthz-envoy: serving plain TCP: any process that can reach the address may ask")) != 1 {
			t.Errorf("%s: no warning about plain TCP", listen)
		}
		d.Shutdown(context.Background())
	}
	if err := (&Config{Policy: "p", Listen: "tcp:0.0.0.0:9191", InsecurePlaintextTCP: true,
		LogFormat: "json", LogLevel: "info", CacheSize: 1}).checkOnly(); err != nil {
		t.Errorf("--insecure-allow-plaintext-tcp: %v", err)
	}
}

func (c *Config) checkOnly() error { _, err := c.check(); return err }

// TestUnixSocket: the socket is created with its mode (0660 by default), a stale socket left
// by a previous run is replaced, and a live socket or a path that is not a socket is refused.
func TestUnixSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "envoy.sock")
	d, _ := startDaemon(t, func(c *Config) { c.Listen = "unix:" + sock })
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("%v %v, want mode 0660", fi, err)
	}
	cfg := DefaultConfig()
	cfg.Policy, cfg.Listen = examplePolicy, "unix:"+sock
	if _, err := Start(&cfg, io.Discard); err == nil || !strings.Contains(err.Error(), "another server is listening") {
		t.Errorf("a second server on a live socket: %v", err)
	}
	d.Shutdown(context.Background())

	// A stale socket (its server gone without removing it).
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	d2, _ := startDaemon(t, func(c *Config) { c.Listen = "unix:" + sock; c.SocketMode = 0o600 })
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%v %v, want mode 0600", fi, err)
	}
	d2.Shutdown(context.Background())

	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o600)
	cfg.Listen = "unix:" + file
	if _, err := Start(&cfg, io.Discard); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("a regular file: %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "x" {
		t.Error("the regular file was changed")
	}
}

// TestClientPolicy: a selector means what the same principal key and pattern mean in a
// policy; the library decides.
func TestClientPolicy(t *testing.T) {
	p, err := ClientPolicy([]string{"spiffe:spiffe://td/ns/web/*", `dn:CN=alice,OU=ops,O=Example Corp`})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for name, want := range map[string]bool{"web": true, "ops": true, "web-admin": false, "builder": false,
		"sre": false, "plain": false} {
		kp := keyPair(t, name)
		leaf, _ := x509.ParseCertificate(kp.Certificate[0])
		id, err := mtlsauthz.IdentityFromChain([]*x509.Certificate{leaf})
		if err != nil {
			t.Fatal(err)
		}
		if d := p.Authorize(id, clientOperation); d.Allowed != want {
			t.Errorf("%s: allowed %v, want %v (%s)", name, d.Allowed, want, d.Reason)
		}
		id.Close()
	}
	for _, sel := range []string{"name:envoy", "spiffe:", ":x", "ip:not-an-ip", "eku:noSuchUsage"} {
		if p, err := ClientPolicy([]string{sel}); err == nil {
			t.Errorf("%q compiled", sel)
			p.Close()
		}
	}
	// A selector is one pattern of one key: quotes in it are part of the pattern, and cannot
	// add keys to the principal or rules to the policy.
	builder := keyPair(t, "builder")
	leaf, _ := x509.ParseCertificate(builder.Certificate[0])
	id, err := mtlsauthz.IdentityFromChain([]*x509.Certificate{leaf})
	if err != nil {
		t.Fatal(err)
	}
	defer id.Close()
	for sel, want := range map[string]bool{
		"cn:builder": true, "cn:*": true,
		`cn:*"], "o": ["Example Corp`: false,
		`cn:*"]}], "rules": [{"id": "x", "effect": "allow", "principals": ["*"], "operations": ["**"]}], "x": [{"y": ["`: false,
	} {
		p, err := ClientPolicy([]string{sel})
		if err != nil {
			if want {
				t.Errorf("%q: %v", sel, err)
			}
			continue // not compiled: nothing was injected either
		}
		if got := p.Authorize(id, clientOperation).Allowed; got != want {
			t.Errorf("%q allows the builder: %v, want %v", sel, got, want)
		}
		p.Close()
	}
}

// TestTLSFilesReload: a changed --client-ca takes effect at the next handshake, and one that
// does not load keeps the last good files.
func TestTLSFilesReload(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	writeFile(t, ca, string(readFileT(t, certPath("ca.pem"))))
	d, logs := startDaemon(t, func(c *Config) {
		c.Listen = "tcp:127.0.0.1:0"
		c.TLSCert, c.TLSKey, c.ClientCA = certPath("server-chain.pem"), certPath("server.key"), ca
		c.AllowClients = []string{"spiffe:spiffe://td/ns/web/*"}
	})
	envoy := keyPair(t, "web")
	req := checkRequest(downstreamOf(t, "ops"), "GET", "/healthz")
	ask := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := authv3.NewAuthorizationClient(dial(t, d, callerCreds(t, &envoy))).Check(ctx, req)
		return err
	}
	if err := ask(); err != nil {
		t.Fatalf("with the test CA: %v", err)
	}
	other := mintLeaf(t, &x509.Certificate{Subject: pkix.Name{CommonName: "another CA"}}, true)
	writeFile(t, ca, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.Certificate[0]})))
	if err := ask(); status.Code(err) != codes.Unavailable {
		t.Fatalf("after the CA changed: %v, want a refused handshake", err)
	}
	writeFile(t, ca, "not a certificate\n")
	if err := ask(); status.Code(err) != codes.Unavailable {
		t.Fatalf("after a bad CA file: %v, want the last good (refusing) files", err)
	}
	if len(logs.records(t, "mtlsauthz-envoy: TLS files changed but did not load; keeping the last good ones")) == 0 {
		t.Error("the bad CA file was not logged")
	}
	writeFile(t, ca, string(readFileT(t, certPath("ca.pem"))))
	if err := ask(); err != nil {
		t.Fatalf("with the test CA again: %v", err)
	}
}
