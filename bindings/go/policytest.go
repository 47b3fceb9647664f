// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

// Policy tests (docs/policy.md, "Policy tests"): the cases of a TESTS.yaml file, run by the C
// library (include/mtlsauthz/policy_test.h) against a policy, so a service's `go test` runs the
// same file as `mtlsauthz test` and judges it the same way. The C calls are here rather than in
// capi.go so that the testing helper and its C calls read as one piece.

/*
#cgo pkg-config: mtlsauthz
#include <stdlib.h>
#include <mtlsauthz/mtlsauthz.h>
*/
import "C"

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

// PolicyTestResult is the result of one case of a policy test file. The strings are the
// library's (mtlsauthz_policy_test_result_*); "" stands for its NULL.
type PolicyTestResult struct {
	Name      string // the case's name; without one, its op or request
	Line      int    // the 1-based line where the case starts in the test file; 0 when unknown
	Request   string // the case's request as written; "" for a case with op
	Operation string // the operation decided; "" when the request was refused or the case could not run
	Expected  string // "allow", "deny" or "error"
	// Got is "allow" or "deny" (a decision), "error" (the request was refused or the decision
	// failed), or "" (the case could not run, such as for a certificate that cannot be read).
	Got         string
	Passed      bool
	Rule        string   // the deciding rule; "" without a decision or without a deciding rule
	Reason      string   // the decision's reason; "" without a decision
	DryRun      []string // the dry-run rules that matched, in file order (at most 8 named)
	DryRunCount int      // how many matched
	Error       string   // what stood in for a decision; "" when there is one
	Failure     string   // why the case failed, one line; "" when it passed
	Explanation string   // for a failed decision: the account mtlsauthz check --explain prints
}

// RunTests runs the policy test file at testsPath against p, every case in file order, and
// returns their results. Certificate paths in the file are relative to certDir, or to the
// test file's directory when certDir is "". A case that fails, or cannot run (a certificate
// that cannot be read), is a result, not an error. Errors are *Error: a test file that does not
// load (Message "FILE:LINE:COLUMN: text", File set to testsPath, Line and Column set), or
// ErrClosed.
func (p *Policy) RunTests(testsPath, certDir string) ([]PolicyTestResult, error) {
	tests, err := cPolicyTestLoadFile(testsPath)
	if err != nil {
		return nil, err
	}
	defer C.mtlsauthz_policy_test_free(tests)
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.c == nil {
		return nil, ErrClosed
	}
	return cPolicyTestRun(tests, p.c, certDir)
}

// PolicyTestOption configures RunPolicyTests.
type PolicyTestOption func(*policyTestConfig)

type policyTestConfig struct {
	certDir string
}

// WithCertDir makes the certificate paths of the test file relative to dir instead of the
// test file's directory (the --certs option of mtlsauthz test).
func WithCertDir(dir string) PolicyTestOption {
	return func(c *policyTestConfig) { c.certDir = dir }
}

// RunPolicyTests runs the policy test file at testsPath against the policy at policyPath, for
// use inside `go test`:
//
//	func TestPolicy(t *testing.T) {
//		mtlsauthz.RunPolicyTests(t, "policy.yaml", "policy-tests.yaml")
//	}
//
// Each case is a subtest named after the case (t.Run; for a t that is not a *testing.T or a
// *testing.B, the cases are checked in t itself), which fails with the case's line, its
// failure and, for a failed decision, the explanation of that decision. A policy or test file
// that does not load stops the test (t.Fatal) with the library's message, which names the
// file, line and column.
func RunPolicyTests(t testing.TB, policyPath, testsPath string, opts ...PolicyTestOption) {
	t.Helper()
	var cfg policyTestConfig
	for _, o := range opts {
		o(&cfg)
	}
	p, err := LoadPolicyFile(policyPath)
	if err != nil {
		t.Fatal(err)
		return
	}
	defer p.Close()
	results, err := p.RunTests(testsPath, cfg.certDir)
	if err != nil {
		t.Fatal(err)
		return
	}
	for _, r := range results {
		r := r
		switch tt := t.(type) {
		case *testing.T:
			tt.Run(r.Name, func(st *testing.T) {
				st.Helper()
				if !r.Passed {
					st.Error(r.report(testsPath))
				}
			})
		case *testing.B:
			tt.Run(r.Name, func(sb *testing.B) {
				sb.Helper()
				if !r.Passed {
					sb.Error(r.report(testsPath))
				}
			})
		default:
			if !r.Passed {
				t.Errorf("case %q: %s", r.Name, r.report(testsPath))
			}
		}
	}
}

// report is what a failed case says: where it is, why it failed, and under that the
// explanation, indented as mtlsauthz test prints it.
func (r *PolicyTestResult) report(testsPath string) string {
	var b strings.Builder
	if r.Line > 0 {
		fmt.Fprintf(&b, "%s:%d: ", testsPath, r.Line)
	} else {
		fmt.Fprintf(&b, "%s: ", testsPath)
	}
	b.WriteString(r.Failure)
	for _, line := range strings.SplitAfter(r.Explanation, "\n") {
		if line != "" {
			b.WriteString("\n    ")
			b.WriteString(strings.TrimSuffix(line, "\n"))
		}
	}
	return b.String()
}

// cPolicyTestLoadFile is mtlsauthz_policy_test_load_file().
func cPolicyTestLoadFile(path string) (*C.mtlsauthz_policy_test, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var out *C.mtlsauthz_policy_test
	var cerr C.mtlsauthz_error
	if rc := C.mtlsauthz_policy_test_load_file(&out, cpath, &cerr); rc != 0 {
		e := newError(rc, &cerr)
		e.File = path
		return nil, e
	}
	return out, nil
}

// cPolicyTestRun is mtlsauthz_policy_test_run(), read into Go values through the accessors
// (no C struct layout is copied). The caller holds the policy.
func cPolicyTestRun(tests *C.mtlsauthz_policy_test, p *C.mtlsauthz_policy, certDir string) ([]PolicyTestResult, error) {
	var cdir *C.char
	if certDir != "" {
		cdir = C.CString(certDir)
		defer C.free(unsafe.Pointer(cdir))
	}
	var res *C.mtlsauthz_policy_test_results
	var cerr C.mtlsauthz_error
	if rc := C.mtlsauthz_policy_test_run(&res, tests, p, cdir, &cerr); rc != 0 {
		return nil, newError(rc, &cerr)
	}
	defer C.mtlsauthz_policy_test_results_free(res)
	n := int(C.mtlsauthz_policy_test_results_count(res))
	out := make([]PolicyTestResult, n)
	for i := range out {
		c := C.mtlsauthz_policy_test_results_get(res, C.size_t(i))
		r := &out[i]
		r.Name = C.GoString(C.mtlsauthz_policy_test_result_name(c))
		r.Line = int(C.mtlsauthz_policy_test_result_line(c))
		r.Request = C.GoString(C.mtlsauthz_policy_test_result_request(c))
		r.Operation = C.GoString(C.mtlsauthz_policy_test_result_operation(c))
		r.Expected = C.GoString(C.mtlsauthz_policy_test_result_expected(c))
		r.Got = C.GoString(C.mtlsauthz_policy_test_result_got(c))
		r.Passed = C.mtlsauthz_policy_test_result_passed(c) != 0
		r.Rule = C.GoString(C.mtlsauthz_policy_test_result_rule(c))
		r.Reason = C.GoString(C.mtlsauthz_policy_test_result_reason(c))
		r.DryRunCount = int(C.mtlsauthz_policy_test_result_dry_run_count(c))
		for j := 0; ; j++ {
			id := C.mtlsauthz_policy_test_result_dry_run(c, C.size_t(j))
			if id == nil {
				break
			}
			r.DryRun = append(r.DryRun, C.GoString(id))
		}
		r.Error = C.GoString(C.mtlsauthz_policy_test_result_error(c))
		r.Failure = C.GoString(C.mtlsauthz_policy_test_result_failure(c))
		r.Explanation = C.GoString(C.mtlsauthz_policy_test_result_explanation(c))
	}
	return out, nil
}
