// SPDX-License-Identifier: Apache-2.0

package mtlsauthzprom

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	mtlsauthz "github.com/libmtlsauthz/mtlsauthz/bindings/go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

const examplePolicy = "../../../examples/policy.yaml"

// certDir holds the certificates of tests/certs/gen-certs.sh: MTLSAUTHZ_TEST_CERTS (as make
// check-go sets it), or made here.
var certDir string

func TestMain(m *testing.M) {
	certDir = os.Getenv("MTLSAUTHZ_TEST_CERTS")
	if certDir == "" {
		dir, err := os.MkdirTemp("", "mtlsauthzprom-certs-")
		if err != nil {
			log.Fatal(err)
		}
		if out, err := exec.Command("../../../tests/certs/gen-certs.sh", dir).CombinedOutput(); err != nil {
			log.Fatalf("gen-certs.sh: %v\n%s", err, out)
		}
		certDir = dir
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func keyPair(t *testing.T, name string) *tls.Certificate {
	t.Helper()
	kp, err := tls.LoadX509KeyPair(filepath.Join(certDir, name+"-chain.pem"), filepath.Join(certDir, name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	return &kp
}

func caPool(t *testing.T) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(certDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatal("ca.pem: no certificate")
	}
	return pool
}

// newServer is an HTTPS server with the test server certificate that verifies client
// certificates against the test CA when a client sends one.
func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*keyPair(t, "server")}, ClientCAs: caPool(t),
		ClientAuth: tls.VerifyClientCertIfGiven}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// send sends method and target as written over a new mTLS connection (nil cert: none) and
// returns the status.
func send(t *testing.T, srv *httptest.Server, cert *tls.Certificate, method, target string) int {
	t.Helper()
	cfg := &tls.Config{RootCAs: caPool(t), ServerName: "localhost"}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", method, target)
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCollectorAfterRequests scrapes the collector after a scripted sequence of requests over
// mTLS and two reloads, and checks every count.
func TestCollectorAfterRequests(t *testing.T) {
	example, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, path, string(example))
	before := time.Now()
	store, err := mtlsauthz.NewStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	metrics := New(WithStore(store))
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics)

	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	srv := newServer(t, mtlsauthz.StoreMiddleware(store, mtlsauthz.WithDecisionHook(metrics.Observe))(ok))
	builder, ops := keyPair(t, "builder"), keyPair(t, "ops")
	for _, r := range []struct {
		cert           *tls.Certificate
		method, target string
		times, status  int
	}{
		{builder, "POST", "/images/build", 3, 200},
		{builder, "POST", "/containers/abc/exec", 2, 403},
		{ops, "POST", "/images/build", 1, 403},
		{ops, "GET", "/containers/abc/logs", 2, 200}, // and a dry-run match each
		{nil, "GET", "/healthz", 1, 401},
		{ops, "GET", "/a//b", 1, 400},
	} {
		for i := 0; i < r.times; i++ {
			if got := send(t, srv, r.cert, r.method, r.target); got != r.status {
				t.Fatalf("%s %s: %d, want %d", r.method, r.target, got, r.status)
			}
		}
	}
	for _, bad := range []string{"version: 1\nrules: [\n", "version: 2\n"} {
		writeFile(t, path, bad)
		if store.Reload() == nil {
			t.Fatalf("a bad policy reloaded: %q", bad)
		}
	}
	writeFile(t, path, string(example)+"\n  - id: freeze-ops\n    effect: deny\n    principals: [ops]\n    operations: [\"* /**\"]\n")
	beforeReload := time.Now()
	if err := store.Reload(); err != nil {
		t.Fatal(err)
	}
	afterReload := time.Now()
	if got := send(t, srv, ops, "GET", "/containers/abc/logs"); got != 403 {
		t.Fatalf("after the reload: %d", got)
	}

	const want = `
# HELP mtlsauthz_decisions_total Requests decided by libmtlsauthz, by decision, reason and deciding rule ("" when none).
# TYPE mtlsauthz_decisions_total counter
mtlsauthz_decisions_total{decision="allow",reason="allowed",rule="build-images"} 3
mtlsauthz_decisions_total{decision="allow",reason="allowed",rule="ops-read"} 2
mtlsauthz_decisions_total{decision="deny",reason="bad_target",rule=""} 1
mtlsauthz_decisions_total{decision="deny",reason="denied",rule="freeze-ops"} 1
mtlsauthz_decisions_total{decision="deny",reason="denied",rule="no-container-escape"} 2
mtlsauthz_decisions_total{decision="deny",reason="no_identity",rule=""} 1
mtlsauthz_decisions_total{decision="deny",reason="no_match",rule=""} 1
# HELP mtlsauthz_dry_run_matches_total Matches of dry-run rules, which are reported and not enforced.
# TYPE mtlsauthz_dry_run_matches_total counter
mtlsauthz_dry_run_matches_total{rule="watch-logs"} 3
# HELP mtlsauthz_policy_reloads_total Policy reloads, by result (success, or failure: the last good policy was kept).
# TYPE mtlsauthz_policy_reloads_total counter
mtlsauthz_policy_reloads_total{result="failure"} 2
mtlsauthz_policy_reloads_total{result="success"} 1
# HELP mtlsauthz_policy_rules Rules in the policy in use.
# TYPE mtlsauthz_policy_rules gauge
mtlsauthz_policy_rules 6
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"mtlsauthz_decisions_total", "mtlsauthz_dry_run_matches_total",
		"mtlsauthz_policy_reloads_total", "mtlsauthz_policy_rules"); err != nil {
		t.Error(err)
	}

	// The two time gauges are those of the policy in use: the one the second reload loaded.
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	gauge := func(name string) float64 {
		for _, f := range families {
			if f.GetName() == name {
				return f.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatalf("no %s", name)
		return 0
	}
	if s := gauge("mtlsauthz_policy_load_seconds"); s <= 0 || s > afterReload.Sub(beforeReload).Seconds() {
		t.Errorf("mtlsauthz_policy_load_seconds %v, want in (0, %v]", s, afterReload.Sub(beforeReload).Seconds())
	}
	ts := gauge("mtlsauthz_policy_last_reload_success_timestamp_seconds")
	if lo, hi := float64(beforeReload.UnixNano())/1e9, float64(afterReload.UnixNano())/1e9; ts < lo || ts > hi {
		t.Errorf("last reload %v, want in [%v, %v] (the store was made at %v)", ts, lo, hi, float64(before.UnixNano())/1e9)
	}
}

// TestCollectorWithoutStore exports decisions only, and describes what it collects (the
// pedantic registry checks Collect against Describe).
func TestCollectorWithoutStore(t *testing.T) {
	c := New()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	c.Observe(nil, mtlsauthz.Decision{Reason: mtlsauthz.ReasonNoMatch})
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
	}
	if strings.Join(names, ",") != "mtlsauthz_decisions_total" {
		t.Errorf("families %v", names)
	}
}

// TestObserveConcurrently counts decisions from several goroutines while new series appear
// and scrapes run: no count is lost (run under -race).
func TestObserveConcurrently(t *testing.T) {
	c := New()
	const goroutines, perG, rules = 4, 5000, 300
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				_ = testutil.CollectAndCount(c)
			}
		}
	}()
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < perG; i++ {
				rule := fmt.Sprintf("rule-%d", (i*7+g)%rules)
				c.Observe(nil, mtlsauthz.Decision{Allowed: true, Reason: mtlsauthz.ReasonAllowed, Rule: rule,
					DryRun: []string{"dry-" + rule}, DryRunCount: 1})
			}
		}(g)
	}
	wg.Wait()
	close(stop)
	var total, dry float64
	var series int
	ch := make(chan prometheus.Metric, 4*rules)
	go func() { c.Collect(ch); close(ch) }()
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		if m.Desc() == descDecisions {
			total += pb.GetCounter().GetValue()
			series++
		} else {
			dry += pb.GetCounter().GetValue()
		}
	}
	if total != goroutines*perG || dry != goroutines*perG || series != rules {
		t.Fatalf("counted %v decisions in %d series and %v dry-run matches, want %d in %d", total, series, dry,
			goroutines*perG, rules)
	}
}

// decisionCounts collects c's mtlsauthz_decisions_total as "decision reason rule" -> count.
func decisionCounts(t *testing.T, c *Collector) map[string]float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1024)
	go func() { c.Collect(ch); close(ch) }()
	out := map[string]float64{}
	for m := range ch {
		if m.Desc() != descDecisions {
			continue
		}
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		var labels []string
		for _, l := range pb.GetLabel() {
			labels = append(labels, l.GetValue())
		}
		out[strings.Join(labels, " ")] = pb.GetCounter().GetValue()
	}
	return out
}

// TestObserveKeepsSeriesApart: decisions that share their strings (the same rule and reason,
// as the binding hands them out) but differ in any label are counted apart, and a series is
// collected from its first decision on.
func TestObserveKeepsSeriesApart(t *testing.T) {
	c := New()
	rule, reason := "shared", mtlsauthz.ReasonDenied
	want := map[string]float64{}
	for i := 0; i < 60; i++ {
		for _, d := range []mtlsauthz.Decision{
			{Allowed: true, Reason: reason, Rule: rule},
			{Allowed: false, Reason: reason, Rule: rule},
			{Reason: mtlsauthz.ReasonNoMatch},
			{Reason: mtlsauthz.ReasonNoIdentity},
		} {
			c.Observe(nil, d)
			decision := "deny"
			if d.Allowed {
				decision = "allow"
			}
			want[decision+" "+d.Reason+" "+d.Rule]++
		}
		// A new series each round, visible at once.
		fresh := fmt.Sprintf("rule-%d", i)
		c.Observe(nil, mtlsauthz.Decision{Allowed: true, Reason: mtlsauthz.ReasonAllowed, Rule: fresh})
		want["allow allowed "+fresh]++
		if got := decisionCounts(t, c); !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d:\n got %v\nwant %v", i, got, want)
		}
	}
}
