// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

import (
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

// TestErrorCodeSentinels: one sentinel per code of the library's error list, each named as
// the library names it, and no code without one.
func TestErrorCodeSentinels(t *testing.T) {
	byCode := map[int]ErrorCode{}
	for _, c := range errorCodes {
		if _, dup := byCode[int(c)]; dup {
			t.Errorf("code %d listed twice", c)
		}
		byCode[int(c)] = c
	}
	n := 0
	for code := -1; code > codeLast; code-- {
		n++
		name := errName(code)
		c, ok := byCode[code]
		if !ok {
			t.Errorf("%s (%d) has no ErrorCode sentinel", name, code)
			continue
		}
		if c.Name() != name || name == "MTLSAUTHZ_EUNKNOWN" {
			t.Errorf("sentinel %d: Name %q, library %q", code, c.Name(), name)
		}
		if c.Error() != "mtlsauthz: "+errDescription(code) {
			t.Errorf("sentinel %d: %q", code, c.Error())
		}
	}
	if n != len(errorCodes) {
		t.Errorf("%d sentinels for the library's %d codes", len(errorCodes), n)
	}
}

// TestErrorsIs: each *Error the binding returns is errors.Is its code's sentinel, through
// wrapping too, and no other.
func TestErrorsIs(t *testing.T) {
	errOf := func(_ any, err error) error { return err }
	badCert := &x509.Certificate{Raw: []byte{0x30, 0x03, 0x02, 0x01}}
	for _, c := range []struct {
		name string
		err  error
		want ErrorCode
	}{
		{"bad YAML", errOf(LoadPolicy([]byte("version: 1\nrules: [\n"))), ErrPolicy},
		{"version", errOf(LoadPolicy([]byte("version: 2\nrules: []\n"))), ErrVersion},
		{"missing file", errOf(LoadPolicyFile(filepath.Join(t.TempDir(), "missing.yaml"))), ErrIO},
		{"refused target", errOf(HTTPOperation("GET", "/a//b")), ErrOperation},
		{"malformed certificate", errOf(IdentityFromChain([]*x509.Certificate{badCert})), ErrCert},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.err == nil {
				t.Fatal("no error")
			}
			for _, err := range []error{c.err, fmt.Errorf("wrapped: %w", c.err)} {
				for _, s := range errorCodes {
					if got := errors.Is(err, s); got != (s == c.want) {
						t.Errorf("errors.Is(%v, %s) = %v", err, s.Name(), got)
					}
				}
			}
			var e *Error
			if !errors.As(c.err, &e) || e.Name != c.want.Name() {
				t.Errorf("%v: want an *Error named %s", c.err, c.want.Name())
			}
		})
	}
	// Neither another error nor a nil *Error is a sentinel; ErrClosed is not a code.
	if errors.Is(ErrClosed, ErrPolicy) || errors.Is(ErrNoVerifiedChain, ErrCert) {
		t.Error("a binding error is a library code")
	}
	if (*Error)(nil).Is(ErrPolicy) {
		t.Error("a nil *Error is ErrPolicy")
	}
	if errors.Is(&Error{Code: codePolicy}, ErrClosed) {
		t.Error("an *Error is ErrClosed")
	}
}
