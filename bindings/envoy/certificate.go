// SPDX-License-Identifier: Apache-2.0

package mtlsauthzenvoy

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
)

// The client's certificate reaches the server as CheckRequest.attributes.source.certificate:
// the leaf's PEM (as BoringSSL's PEM_write_bio_X509 writes it), URL-encoded by Envoy's
// Http::Utility::PercentEncoding::urlEncode, which leaves ALPHA, DIGIT, '*', '-', '.' and '_'
// as they are and writes every other byte as %XX with uppercase hex digits. Envoy sends it
// only for a downstream connection that presented a certificate, and only when the ext_authz
// filter sets include_peer_certificate.

// maxCertificateDER is the library's limit on one DER certificate (docs/limits.md,
// MTLSAUTHZ__MAX_CERT_BYTES).
const maxCertificateDER = 65536

const (
	pemBegin = "-----BEGIN CERTIFICATE-----\n"
	pemEnd   = "-----END CERTIFICATE-----\n"
)

// pemSize is the length of the PEM of a certificate of n DER bytes, as PEM_write_bio_X509 (and
// Go's pem.Encode) write it: base64 in lines of 64 characters.
func pemSize(n int) int {
	b64 := base64.StdEncoding.EncodedLen(n)
	return len(pemBegin) + b64 + (b64+63)/64 + len(pemEnd)
}

// MaxCertificateAttribute is the longest source.certificate the server decodes: the
// URL-encoded PEM of a certificate of the library's largest size, with every byte
// percent-encoded. A longer one is refused before a byte of it is decoded.
var MaxCertificateAttribute = 3 * pemSize(maxCertificateDER)

// CertificateError says why a source.certificate was refused. The request is denied with 403
// identity_rejected: a certificate was sent, so the identity is not missing (that would be
// 401), but none can be read from it.
type CertificateError struct {
	Msg string
}

func (e *CertificateError) Error() string { return "source.certificate: " + e.Msg }

func certErrorf(format string, args ...any) error {
	return &CertificateError{Msg: fmt.Sprintf(format, args...)}
}

// decodeCertificate reads the leaf certificate out of a source.certificate attribute. It is
// strict, so that the bytes the policy decides on are exactly the bytes Envoy verified:
//
//   - the attribute is at most MaxCertificateAttribute bytes;
//   - it holds only the bytes Envoy leaves unencoded and %XX escapes (either case of hex), so a
//     '+' (a space in form encoding, a plus sign elsewhere), a raw space or newline, or a '%'
//     without two hex digits after it is refused rather than guessed at;
//   - the decoded text is exactly the PEM of one certificate as PEM_write_bio_X509 writes it:
//     one CERTIFICATE block without headers, base64 in lines of 64 characters, and nothing
//     before or after it;
//   - its DER is at most the library's 64 KiB, and parses as one certificate with nothing
//     after it.
func decodeCertificate(attr string) (*x509.Certificate, error) {
	if len(attr) > MaxCertificateAttribute {
		return nil, certErrorf("%d bytes, more than the %d that the URL-encoded PEM of a "+
			"certificate of the library's largest size (%d bytes, docs/limits.md) can take",
			len(attr), MaxCertificateAttribute, maxCertificateDER)
	}
	text, err := urlDecode(attr)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(text)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, certErrorf("the decoded text is not a PEM CERTIFICATE block")
	}
	// pem.Decode skips text before a block, and a malformed block for a later one; only the
	// canonical encoding of the one block it found is accepted.
	if !bytes.Equal(text, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes})) {
		return nil, certErrorf("the decoded text is not exactly one PEM CERTIFICATE block " +
			"(without headers, in lines of 64 characters, and nothing before or after it)")
	}
	if len(block.Bytes) > maxCertificateDER {
		return nil, certErrorf("a certificate of %d bytes, more than the library's limit of %d "+
			"(docs/limits.md)", len(block.Bytes), maxCertificateDER)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, certErrorf("not a certificate: %v", err)
	}
	return cert, nil
}

// urlDecode undoes Envoy's URL encoding and refuses everything it would not have produced
// other than lowercase hex digits, which RFC 3986 section 2.1 makes equivalent.
func urlDecode(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) {
				return nil, certErrorf("'%%' at byte %d is not followed by two hex digits", i)
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return nil, certErrorf("'%%' at byte %d is not followed by two hex digits", i)
			}
			out = append(out, hi<<4|lo)
			i += 2
		case unencoded(c):
			out = append(out, c)
		default:
			return nil, certErrorf("byte %d (%q) is not in Envoy's URL encoding, which leaves "+
				"only A-Z a-z 0-9 * - . _ unencoded", i, c)
		}
	}
	return out, nil
}

// unencoded reports whether Envoy's urlEncode leaves c as it is.
func unencoded(c byte) bool {
	switch {
	case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		return true
	}
	return c == '*' || c == '-' || c == '.' || c == '_'
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
