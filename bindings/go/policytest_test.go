// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The example's test file, whose certificate cases read certDir (see TestMain).
const examplePolicyTests = "../../examples/policy-tests.yaml"

// failingTests is a test file with one case of each outcome that fails, and one that passes.
const failingTests = `- name: health
  identity: {cn: [x]}
  op: GET /healthz
  expect: allow
- name: ops may exec
  identity: {cn: [alice], o: [Example Corp], ou: [ops]}
  request: POST /containers/abc/exec
  expect: allow
- name: refused
  identity: {cn: [x]}
  request: GET /a//b
  expect: deny
- name: no such certificate
  cert: no-such.pem
  op: GET /healthz
  expect: allow
`

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunPolicyTestsPassesTheExample(t *testing.T) {
	RunPolicyTests(t, examplePolicy, examplePolicyTests, WithCertDir(certDir))
}

func TestPolicyRunTestsResults(t *testing.T) {
	p, err := LoadPolicyFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dir := t.TempDir()
	path := writeFile(t, dir, "tests.yaml", failingTests)
	results, err := p.RunTests(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 4 {
		t.Fatalf("%d results, want 4", len(results))
	}
	health := PolicyTestResult{Name: "health", Line: 1, Operation: "GET /healthz",
		Expected: "allow", Got: "allow", Passed: true, Rule: "health", Reason: ReasonAllowed}
	if fmt.Sprint(results[0]) != fmt.Sprint(health) {
		t.Errorf("health:\n got %+v\nwant %+v", results[0], health)
	}
	opsExec := results[1]
	if opsExec.Passed || opsExec.Got != "deny" || opsExec.Rule != "no-container-escape" ||
		opsExec.Request != "POST /containers/abc/exec" || opsExec.Line != 5 ||
		opsExec.Failure != "expected allow, got deny (reason denied, rule no-container-escape)" ||
		!strings.HasPrefix(opsExec.Explanation, "operation: POST /containers/abc/exec\n") {
		t.Errorf("ops may exec: %+v", opsExec)
	}
	refused := results[2]
	if refused.Passed || refused.Got != "error" || refused.Operation != "" || refused.Reason != "" ||
		refused.Error != "HTTP request refused: empty segment in path" || refused.Explanation != "" {
		t.Errorf("refused: %+v", refused)
	}
	// Relative to the test file's directory, and named in the failure.
	missing := results[3]
	want := "cannot use the certificate: " + filepath.Join(dir, "no-such.pem") + ": No such file or directory"
	if missing.Passed || missing.Got != "" || missing.Failure != want {
		t.Errorf("no such certificate: %+v\nwant failure %q", missing, want)
	}
}

func TestPolicyRunTestsDryRun(t *testing.T) {
	p, err := LoadPolicyFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	path := writeFile(t, t.TempDir(), "tests.yaml", `- identity: {o: [Example Corp], ou: [ops]}
  op: GET /containers/abc/logs
  expect: allow
  dry_run: [watch-logs]
`)
	results, err := p.RunTests(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if r := results[0]; !r.Passed || r.DryRunCount != 1 || len(r.DryRun) != 1 || r.DryRun[0] != "watch-logs" ||
		r.Name != "GET /containers/abc/logs" {
		t.Errorf("%+v", r)
	}
}

func TestPolicyRunTestsErrors(t *testing.T) {
	p, err := LoadPolicyFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, t.TempDir(), "tests.yaml", "- {identity: {ip: [10.0.0.0/8]}, op: x, expect: deny}\n")
	_, err = p.RunTests(path, "")
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrPolicy) || e.File != path || e.Line != 1 || e.Column != 3 ||
		!strings.HasPrefix(e.Message, path+":1:3: case 1: identity: ip '10.0.0.0/8' is a block") ||
		strings.Count(e.Message, path) != 1 {
		t.Errorf("an invalid test file: %#v", err)
	}
	if _, err := p.RunTests(filepath.Join(t.TempDir(), "none.yaml"), ""); !errors.Is(err, ErrIO) {
		t.Errorf("a missing test file: %v", err)
	}
	p.Close()
	if _, err := p.RunTests(examplePolicyTests, certDir); !errors.Is(err, ErrClosed) {
		t.Errorf("a closed policy: %v", err)
	}
}

// recorder is a testing.TB that is neither a *testing.T nor a *testing.B: RunPolicyTests then
// checks the cases in it, and the messages can be read.
type recorder struct {
	testing.TB
	errors []string
	fatal  []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatal(args ...any) { r.fatal = append(r.fatal, fmt.Sprint(args...)) }

func TestRunPolicyTestsReportsEachFailure(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "tests.yaml", failingTests)
	rec := &recorder{TB: t}
	RunPolicyTests(rec, examplePolicy, path)
	if len(rec.errors) != 3 || len(rec.fatal) != 0 {
		t.Fatalf("errors %q, fatal %q; want 3 errors", rec.errors, rec.fatal)
	}
	first := rec.errors[0]
	for _, want := range []string{
		`case "ops may exec": ` + path + ":5: expected allow, got deny (reason denied, rule no-container-escape)",
		"\n    operation: POST /containers/abc/exec\n",
		"\n    decision: deny (rule no-container-escape, reason denied)",
	} {
		if !strings.Contains(first, want) {
			t.Errorf("the failure lacks %q:\n%s", want, first)
		}
	}
	if want := `case "refused": ` + path + ":9: expected deny, got error (HTTP request refused: empty segment in path)"; rec.errors[1] != want {
		t.Errorf("got %q\nwant %q", rec.errors[1], want)
	}

	rec = &recorder{TB: t}
	RunPolicyTests(rec, filepath.Join(dir, "no-policy.yaml"), path)
	if len(rec.fatal) != 1 || !strings.Contains(rec.fatal[0], "no-policy.yaml: No such file or directory") {
		t.Errorf("a missing policy: fatal %q", rec.fatal)
	}
}

// TestRunPolicyTestsInAUsersModule is what a user does (README, "Policy tests in go test"): a
// module of their own, outside this one, whose go.mod replaces the binding with this tree, and
// whose _test.go calls RunPolicyTests. `go test` passes on the example's tests, and fails, with
// the failing case named, on a test file that fails.
func TestRunPolicyTestsInAUsersModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module of its own")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	binding, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	examples, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	mod := t.TempDir()
	writeFile(t, mod, "go.mod", `module example.com/usersvc

go 1.21

require github.com/libmtlsauthz/mtlsauthz/bindings/go v0.0.0

replace github.com/libmtlsauthz/mtlsauthz/bindings/go => `+binding+"\n")
	// The binding's own go.sum: its requirements, for a module that resolves nothing else.
	sum, err := os.ReadFile("go.sum")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, mod, "go.sum", string(sum))
	writeFile(t, mod, "failing.yaml", failingTests)
	writeFile(t, mod, "policy_test.go", fmt.Sprintf(`package usersvc

import (
	"os"
	"testing"

	"github.com/libmtlsauthz/mtlsauthz/bindings/go"
)

func TestPolicy(t *testing.T) {
	mtlsauthz.RunPolicyTests(t, %q, %q, mtlsauthz.WithCertDir(os.Getenv("MTLSAUTHZ_TEST_CERTS")))
}

func TestFailing(t *testing.T) {
	mtlsauthz.RunPolicyTests(t, %q, "failing.yaml")
}
`, filepath.Join(examples, "policy.yaml"), filepath.Join(examples, "policy-tests.yaml"),
		filepath.Join(examples, "policy.yaml")))

	goTest := func(run string) (string, error) {
		cmd := exec.Command(goBin, "test", "-count=1", "-v", "-run", run, ".")
		cmd.Dir = mod
		cmd.Env = append(os.Environ(), "MTLSAUTHZ_TEST_CERTS="+certDir, "GOFLAGS=-mod=mod")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := goTest("^TestPolicy$")
	if err != nil {
		t.Fatalf("go test in the user's module: %v\n%s", err, out)
	}
	for _, want := range []string{
		"--- PASS: TestPolicy/builder_builds_images ",
		"--- PASS: TestPolicy/an_inline_builder_identity_pushes_an_image ",
		"--- PASS: TestPolicy ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("go test output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "--- PASS: TestPolicy/"); n != 14 {
		t.Errorf("%d cases passed, want 14:\n%s", n, out)
	}

	out, err = goTest("^TestFailing$")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("go test on a failing test file: %v, want exit status 1\n%s", err, out)
	}
	for _, want := range []string{
		"--- PASS: TestFailing/health ",
		"--- FAIL: TestFailing/ops_may_exec ",
		"failing.yaml:5: expected allow, got deny (reason denied, rule no-container-escape)",
		"    decision: deny (rule no-container-escape, reason denied)",
		"--- FAIL: TestFailing/refused ",
		"--- FAIL: TestFailing/no_such_certificate ",
		"cannot use the certificate: ./no-such.pem: No such file or directory",
		"--- FAIL: TestFailing ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("go test output lacks %q:\n%s", want, out)
		}
	}
}
