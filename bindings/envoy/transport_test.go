// SPDX-License-Identifier: Apache-2.0

package mtlsauthzenvoy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// mtlsDaemon serves mutual TLS on loopback, letting in the Envoy proxies whose SPIFFE ID is
// under spiffe://td/ns/web/ (gen-certs.sh's "web"; "web-admin" is a sibling namespace).
func mtlsDaemon(t *testing.T) (*Daemon, *logBuffer) {
	return startDaemon(t, func(c *Config) {
		c.Listen = "tcp:127.0.0.1:0"
		c.TLSCert, c.TLSKey, c.ClientCA = certPath("server-chain.pem"), certPath("server.key"), certPath("ca.pem")
		c.AllowClients = []string{"spiffe:spiffe://td/ns/web/*"}
	})
}

// callerCreds are the TLS credentials of a gRPC client presenting cert (none if nil), trusting
// the test CA for the server's certificate.
func callerCreds(t testing.TB, cert *tls.Certificate) credentials.TransportCredentials {
	cfg := &tls.Config{RootCAs: caPool(t), ServerName: "localhost"}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return credentials.NewTLS(cfg)
}

// TestCheckOverMutualTLS asks over TCP with mutual TLS as an allowed Envoy proxy, and checks
// that the answers are the same as over the Unix socket.
func TestCheckOverMutualTLS(t *testing.T) {
	d, _ := mtlsDaemon(t)
	envoy := keyPair(t, "web")
	client := authv3.NewAuthorizationClient(dial(t, d, callerCreds(t, &envoy)))
	builder := downstreamOf(t, "builder")
	if got := answerOf(t, check(t, client, checkRequest(builder, "POST", "/images/build"))); got.status != 0 {
		t.Errorf("allow: %d %q", got.status, got.body)
	}
	if got := answerOf(t, check(t, client, checkRequest(builder, "POST", "/containers/x/exec"))); got.status != 403 ||
		got.body != bodyForbiddenEscape {
		t.Errorf("deny: %d %q", got.status, got.body)
	}
	if got := answerOf(t, check(t, client, checkRequest(downstreamOf(t, ""), "GET", "/healthz"))); got.status != 401 {
		t.Errorf("no certificate: %d %q", got.status, got.body)
	}
}

// TestCallerThatIsNotEnvoy: over TCP, only a client with a certificate from --client-ca that
// an --allow-client selector matches may ask; every other caller is refused in the handshake.
func TestCallerThatIsNotEnvoy(t *testing.T) {
	d, logs := mtlsDaemon(t)
	spiffe, _ := url.Parse("spiffe://td/ns/web/x")
	forged := mintLeaf(t, &x509.Certificate{Subject: pkix.Name{CommonName: "web"}, URIs: []*url.URL{spiffe}}, true)
	webAdmin, builder := keyPair(t, "web-admin"), keyPair(t, "builder")
	req := checkRequest(downstreamOf(t, "builder"), "POST", "/images/build")

	for _, c := range []struct {
		name    string
		creds   credentials.TransportCredentials
		refusal string // in the server's log; "" when refused before the policy is asked
	}{
		{"a verified client in a sibling namespace", callerCreds(t, &webAdmin), "spiffe://td/ns/web-admin/x"},
		{"a verified client that is not an Envoy proxy", callerCreds(t, &builder), "spiffe://prod.example.com/ci/builder"},
		{"the allowed SPIFFE ID from another CA", callerCreds(t, &forged), ""},
		{"no client certificate", callerCreds(t, nil), ""},
		{"plain text", nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			seen := len(logs.records(t, "mtlsauthz-envoy: caller refused"))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := authv3.NewAuthorizationClient(dial(t, d, c.creds)).Check(ctx, req)
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("Check: %v, want a refused connection (Unavailable)", err)
			}
			refused := logs.records(t, "mtlsauthz-envoy: caller refused")[seen:]
			if c.refusal == "" {
				if len(refused) != 0 {
					t.Errorf("refused by the selector, want by TLS: %v", refused)
				}
				return
			}
			if len(refused) == 0 {
				t.Fatal("no refusal logged")
			}
			if e, _ := refused[0].fields["err"].(string); !strings.Contains(e, c.refusal) {
				t.Errorf("refusal %q does not name %s", e, c.refusal)
			}
		})
	}
	// The decision log saw none of them.
	if recs := logs.records(t, "mtlsauthz"); len(recs) != 0 {
		t.Errorf("%d decisions for refused callers", len(recs))
	}
}

// TestHealth: grpc.health.v1 answers SERVING for the server and the Authorization service,
// NOT_FOUND for anything else, and NOT_SERVING once the server shuts down.
func TestHealth(t *testing.T) {
	d, _ := startDaemon(t, nil)
	h := healthpb.NewHealthClient(dial(t, d, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, svc := range []string{"", "envoy.service.auth.v3.Authorization"} {
		r, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("%q: %v %v, want SERVING", svc, r, err)
		}
	}
	if _, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: "grpc.health.v1.Health"}); status.Code(err) != codes.NotFound {
		t.Errorf("an unknown service: %v, want NotFound", err)
	}
	w, err := h.Watch(ctx, &healthpb.HealthCheckRequest{Service: "envoy.service.auth.v3.Authorization"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := w.Recv(); err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("watch: %v %v", r, err)
	}
	go d.Shutdown(ctx)
	if r, err := w.Recv(); err != nil || r.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("watch after Shutdown: %v %v, want NOT_SERVING", r, err)
	}
}

// TestMetrics scrapes --metrics-listen after a few Checks and a reload: the counters of
// docs/http.md, by decision, reason and rule.
func TestMetrics(t *testing.T) {
	d, _ := startDaemon(t, func(c *Config) { c.MetricsListen = "127.0.0.1:0" })
	client := authv3.NewAuthorizationClient(dial(t, d, nil))
	builder, ops, none := downstreamOf(t, "builder"), downstreamOf(t, "ops"), downstreamOf(t, "")
	for _, r := range []*authv3.CheckRequest{
		checkRequest(builder, "POST", "/images/build"),
		checkRequest(builder, "POST", "/images/build"),
		checkRequest(builder, "POST", "/containers/a/exec"),
		checkRequest(ops, "GET", "/containers/a/logs"),
		checkRequest(none, "GET", "/healthz"),
		checkRequest(ops, "GET", "/a/../b"),
	} {
		check(t, client, r)
	}
	if err := d.Store().Reload(); err != nil {
		t.Fatal(err)
	}
	base := "http://" + d.MetricsAddr().String()
	body := get(t, base+"/metrics")
	for _, line := range []string{
		`mtlsauthz_decisions_total{decision="allow",reason="allowed",rule="build-images"} 2`,
		`mtlsauthz_decisions_total{decision="deny",reason="denied",rule="no-container-escape"} 1`,
		`mtlsauthz_decisions_total{decision="allow",reason="allowed",rule="ops-read"} 1`,
		`mtlsauthz_decisions_total{decision="deny",reason="no_identity",rule=""} 1`,
		`mtlsauthz_decisions_total{decision="deny",reason="bad_target",rule=""} 1`,
		`mtlsauthz_dry_run_matches_total{rule="watch-logs"} 1`,
		`mtlsauthz_policy_reloads_total{result="success"} 1`,
		`mtlsauthz_policy_reloads_total{result="failure"} 0`,
		`mtlsauthz_policy_rules 5`,
	} {
		if !strings.Contains(body, "\n"+line+"\n") {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	if got := get(t, base+"/healthz"); got != "ok\n" {
		t.Errorf("/healthz: %q", got)
	}
}

func get(t testing.TB, u string) string {
	t.Helper()
	r, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", u, r.StatusCode, err)
	}
	return string(b)
}
