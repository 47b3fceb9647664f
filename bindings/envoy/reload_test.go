// SPDX-License-Identifier: Apache-2.0

package mtlsauthzenvoy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Two policies that agree on GET /healthz (allowed to any verified client) and disagree on
// GET /flag, so a Check on /flag tells which one is in use; and one that does not load.
const (
	policyA = `version: 1
protocol: http
rules:
  - {id: health, effect: allow, principals: ["*"], operations: ["GET /healthz"]}
  - {id: flag-a, effect: allow, principals: ["*"], operations: ["GET /flag"]}
`
	policyB = `version: 1
protocol: http
rules:
  - {id: health, effect: allow, principals: ["*"], operations: ["GET /healthz"]}
  - {id: flag-b, effect: deny, principals: ["*"], operations: ["GET /flag"]}
`
	policyBad = `version: 1
protocol: http
rules:
  - {id: health, efect: allow, principals: ["*"], operations: ["GET /healthz"]}
`
)

// flagRule is the rule that decided GET /flag: flag-a under policy A, flag-b under B.
func flagRule(t testing.TB, c authv3.AuthorizationClient, ds downstream) string {
	t.Helper()
	m := answerOf(t, check(t, c, checkRequest(ds, "GET", "/flag"))).metadata
	rule, _ := m["rule"].(string)
	return rule
}

// TestReloadUnderLoad reloads the policy, by the file watch and by Reload (SIGHUP's path), over
// and over (and then 400 times back to back) while four clients send Checks: no Check fails or is denied, a bad policy keeps the
// last good one, and the policy in use follows the file.
func TestReloadUnderLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, path, policyA)
	d, logs := startDaemon(t, func(c *Config) {
		c.Policy = path
		c.ReloadInterval = 5 * time.Millisecond
	})
	client := authv3.NewAuthorizationClient(dial(t, d, nil))
	ops := downstreamOf(t, "ops")
	req := checkRequest(ops, "GET", "/healthz")

	var checks, failures atomic.Int64
	var firstFailure atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 100000; n++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				r, err := client.Check(ctx, req)
				cancel()
				checks.Add(1)
				if err == nil && r.GetStatus().GetCode() != 0 {
					err = fmt.Errorf("denied: %v", r.GetDynamicMetadata().AsMap())
				}
				if err != nil {
					failures.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}

	policies := []string{policyB, policyA, policyBad, policyB}
	for i := 0; i < 24; i++ {
		writeFile(t, path, policies[i%len(policies)])
		if i%3 == 0 {
			d.Store().Reload() // as SIGHUP does; an error for the bad policy
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Then reloads back to back, as fast as the store takes them, for a decision to meet a
	// policy that a reload has just replaced and closed.
	for i := 0; i < 400; i++ {
		writeFile(t, path, policies[i%2])
		d.Store().Reload()
	}
	writeFile(t, path, policyB)
	// The file ends with policy B: wait for the watch to load it.
	deadline := time.Now().Add(5 * time.Second)
	for flagRule(t, client, ops) != "flag-b" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()

	if failures.Load() != 0 {
		t.Errorf("%d of %d Checks failed during reloads; the first: %v", failures.Load(), checks.Load(), firstFailure.Load())
	}
	st := d.Store().Status()
	if st.Reloads < 400 || st.ReloadFailures < 3 {
		t.Errorf("%d reloads and %d failures, want at least 400 and 3", st.Reloads, st.ReloadFailures)
	}
	if got := flagRule(t, client, ops); got != "flag-b" {
		t.Errorf("GET /flag decided by %q, want flag-b (the file's policy)", got)
	}
	// A bad policy now: the last good one (B) stays.
	writeFile(t, path, policyBad)
	if err := d.Store().Reload(); err == nil {
		t.Fatal("the bad policy loaded")
	}
	if got := flagRule(t, client, ops); got != "flag-b" {
		t.Errorf("after a bad policy, GET /flag decided by %q, want flag-b", got)
	}
	if len(logs.records(t, "mtlsauthz-envoy: policy reload failed; keeping the last good policy")) == 0 {
		t.Error("no reload failure logged")
	}
	t.Logf("%d Checks during %d reloads and %d failed reloads", checks.Load(), st.Reloads, st.ReloadFailures)
}

// envoyBinary is the built command: $MTLSAUTHZ_ENVOY_BIN (make check-envoy builds it), or one
// built here.
var envoyBinary = sync.OnceValues(func() (string, error) {
	if p := os.Getenv("MTLSAUTHZ_ENVOY_BIN"); p != "" {
		return p, nil
	}
	dir, err := os.MkdirTemp("", "mtlsauthz-envoy-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "mtlsauthz-envoy")
	out, err := exec.Command("go", "build", "-o", bin, "./cmd/mtlsauthz-envoy").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// process is the command running in the background, with its log.
type process struct {
	cmd  *exec.Cmd
	logs *logBuffer
	done chan error
}

func startBinary(t *testing.T, args ...string) *process {
	t.Helper()
	bin, err := envoyBinary()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: exec.Command(bin, args...), logs: &logBuffer{}, done: make(chan error, 1)}
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// waitFor waits until the process has logged a record whose msg is msg, n times in all.
func (p *process) waitFor(t *testing.T, msg string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(p.logs.records(t, msg)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log after 10s:\n%s", msg, p.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCommandSIGHUP runs the command as a service would: it serves on its Unix socket with
// mode 0660, reloads on SIGHUP (the file watch is off), keeps the last good policy after a bad
// one, and stops on SIGTERM, removing its socket.
func TestCommandSIGHUP(t *testing.T) {
	dir := t.TempDir()
	policy, sock := filepath.Join(dir, "policy.yaml"), filepath.Join(dir, "envoy.sock")
	writeFile(t, policy, policyA)
	p := startBinary(t, "--policy", policy, "--listen", "unix:"+sock, "--reload-interval", "0")
	p.waitFor(t, "mtlsauthz-envoy: serving", 1)
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("the socket: %v %v, want mode 0660", fi, err)
	}
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := authv3.NewAuthorizationClient(conn)
	ops := downstreamOf(t, "ops")
	if got := flagRule(t, client, ops); got != "flag-a" {
		t.Fatalf("GET /flag decided by %q, want flag-a", got)
	}

	writeFile(t, policy, policyB)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "mtlsauthz-envoy: policy reloaded", 1)
	if got := flagRule(t, client, ops); got != "flag-b" {
		t.Fatalf("after SIGHUP, GET /flag decided by %q, want flag-b", got)
	}

	writeFile(t, policy, policyBad)
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitFor(t, "mtlsauthz-envoy: policy reload failed; keeping the last good policy", 1)
	if got := flagRule(t, client, ops); got != "flag-b" {
		t.Fatalf("after a bad policy, GET /flag decided by %q, want flag-b", got)
	}
	rec := p.logs.records(t, "mtlsauthz-envoy: policy reload failed; keeping the last good policy")[0]
	if e, _ := rec.fields["err"].(string); !strings.Contains(e, "efect") {
		t.Errorf("the failure does not carry the library's message: %q", e)
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, p.logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("still running 15s after SIGTERM")
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket is still there after the stop: %v", err)
	}
}

// TestCommandRefusesToStart: the command's own errors go to stderr as one line, with exit
// status 1 (configuration) or 2 (usage), before anything listens.
func TestCommandRefusesToStart(t *testing.T) {
	bin, err := envoyBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--policy", examplePolicy, "--listen", "tcp:0.0.0.0:9191"}, 1, "--insecure-allow-plaintext-tcp"},
		{[]string{"--policy", examplePolicy}, 1, "--listen unix:PATH or --listen tcp:HOST:PORT is required"},
		{[]string{"--policy", "/nonexistent.yaml", "--listen", "unix:" + filepath.Join(t.TempDir(), "s")}, 1, "--policy /nonexistent.yaml"},
		{[]string{"--policy", examplePolicy, "--listen", "unix:/x", "stray"}, 2, `unexpected argument "stray"`},
		{[]string{"--polcy", examplePolicy}, 2, "flag provided but not defined: -polcy"},
	} {
		cmd := exec.Command(bin, c.args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != c.code {
			t.Errorf("%v: %v, want exit status %d", c.args, err, c.code)
		}
		if !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: stderr %q does not say %q", c.args, stderr.String(), c.want)
		}
	}
}
