// SPDX-License-Identifier: Apache-2.0

package mtlsauthzenvoy

import (
	"bytes"
	"crypto/x509"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestDecodeCertificateRoundTrip: every certificate gen-certs.sh makes, encoded as Envoy
// encodes it, decodes to its own DER.
func TestDecodeCertificateRoundTrip(t *testing.T) {
	files, _ := filepath.Glob(certPath("*.der"))
	if len(files) < 20 {
		t.Fatalf("only %d certificates in %s", len(files), certDir)
	}
	for _, f := range files {
		der := readFileT(t, f)
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			continue // gen-certs.sh also makes certificates Go will not parse
		}
		got, err := decodeCertificate(certificateAttribute(cert))
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		if !bytes.Equal(got.Raw, der) {
			t.Errorf("%s: decoded to other bytes", filepath.Base(f))
		}
	}
}

func TestURLDecode(t *testing.T) {
	for in, want := range map[string]string{
		"":                "",
		"AZaz09*-._":      "AZaz09*-._",
		"%2B%2b%20%0A%25": "++ \n%",
		"%00%FF":          "\x00\xff",
		"%2541":           "%41", // decoded once
	} {
		got, err := urlDecode(in)
		if err != nil || string(got) != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"+", " ", "~", "/", "=", "\n", "%", "%2", "%G0", "%0g", "a%", "\x80", "%%41"} {
		if got, err := urlDecode(in); err == nil {
			t.Errorf("%q decoded to %q", in, got)
		}
	}
}

// TestMaxCertificateAttribute: the bound holds the URL-encoded PEM of the largest certificate
// the library reads, encoded in full, and is checked before decoding.
func TestMaxCertificateAttribute(t *testing.T) {
	der := make([]byte, maxCertificateDER)
	var b strings.Builder
	b.WriteString(pemBegin)
	for i := 0; i < pemSize(maxCertificateDER)-len(pemBegin)-len(pemEnd); i++ {
		b.WriteByte('=')
	}
	b.WriteString(pemEnd)
	if b.Len() != pemSize(len(der)) {
		t.Fatalf("pemSize: %d, want %d", pemSize(len(der)), b.Len())
	}
	full := strings.Repeat("%3D", b.Len())
	if len(full) != MaxCertificateAttribute {
		t.Errorf("a fully encoded PEM of %d bytes is %d bytes, the bound %d", maxCertificateDER, len(full), MaxCertificateAttribute)
	}
	var ce *CertificateError
	if _, err := decodeCertificate(full); !errors.As(err, &ce) || strings.Contains(err.Error(), "more than the") {
		t.Errorf("at the bound: %v, want a decoding error, not the size", err)
	}
	if _, err := decodeCertificate(full + "A"); err == nil || !strings.Contains(err.Error(), "more than the") {
		t.Errorf("past the bound: %v", err)
	}
}
