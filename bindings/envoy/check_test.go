// SPDX-License-Identifier: Apache-2.0

package mtlsauthzenvoy

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"net/url"
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
)

// The contract's bodies (docs/http.md), written out.
const (
	bodyUnauthorized      = `{"error":"unauthorized","reason":"no_identity","rule":null}` + "\n"
	bodyBadRequest        = `{"error":"bad_request","reason":"bad_target","rule":null}` + "\n"
	bodyForbiddenRejected = `{"error":"forbidden","reason":"identity_rejected","rule":null}` + "\n"
	bodyForbiddenNoMatch  = `{"error":"forbidden","reason":"no_match","rule":null}` + "\n"
	bodyForbiddenEscape   = `{"error":"forbidden","reason":"denied","rule":"no-container-escape"}` + "\n"
)

// TestCheckOverUnixSocket drives the server the way Envoy does, over its Unix socket, with
// CheckRequests from certificates that passed a real TLS handshake: allows, denies, HEAD, no
// certificate and refused targets.
func TestCheckOverUnixSocket(t *testing.T) {
	d, logs := startDaemon(t, nil)
	client := authv3.NewAuthorizationClient(dial(t, d, nil))
	builder, ops, none := downstreamOf(t, "builder"), downstreamOf(t, "ops"), downstreamOf(t, "")

	for _, c := range []struct {
		name         string
		ds           downstream
		method, path string
		status       int // 0: allowed
		body         string
		op           any // the logged operation
	}{
		{"builder builds", builder, "POST", "/images/build", 0, "", "POST /images/build"},
		{"builder pushes", builder, "POST", "/images/app/push?tag=v2", 0, "", "POST /images/app/push"},
		{"ops reads", ops, "GET", "/containers/abc/logs", 0, "", "GET /containers/abc/logs"},
		{"a trailing slash is the same operation", ops, "GET", "/containers/abc/", 0, "", "GET /containers/abc"},
		{"deny rule", builder, "POST", "/containers/abc/attach", 403, bodyForbiddenEscape, "POST /containers/abc/attach"},
		{"no allow rule", ops, "POST", "/images/build", 403, bodyForbiddenNoMatch, "POST /images/build"},
		{"HEAD is GET: allowed", ops, "HEAD", "/containers/abc", 0, "", "GET /containers/abc"},
		{"HEAD is GET: denied", ops, "HEAD", "/host/etc/shadow", 403, bodyForbiddenEscape, "GET /host/etc/shadow"},
		{"HEAD is GET: no HEAD rule applies", builder, "HEAD", "/images/build", 403, bodyForbiddenNoMatch, "GET /images/build"},
		{"methods are case-sensitive", builder, "post", "/images/build", 403, bodyForbiddenNoMatch, "post /images/build"},
		{"no certificate", none, "GET", "/healthz", 401, bodyUnauthorized, "GET /healthz"},
		{"no certificate, refused target", none, "GET", "/a/../healthz", 401, bodyUnauthorized, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			seen := len(logs.records(t, "mtlsauthz"))
			got := answerOf(t, check(t, client, checkRequest(c.ds, c.method, c.path)))
			if got.status != c.status || got.body != c.body {
				t.Errorf("%d %q, want %d %q", got.status, got.body, c.status, c.body)
			}
			recs := logs.records(t, "mtlsauthz")[seen:]
			if len(recs) != 1 || recs[0].fields["operation"] != c.op {
				t.Errorf("log records %v, want one with operation %v", recs, c.op)
			}
		})
	}

	// Refused targets: 400 before the policy is consulted, with the library's message in the
	// log's detail. The builder may POST /images/build, so an allow would show.
	for _, c := range []struct{ method, path, detail string }{
		{"POST", "/images/../images/build", "dot segment in path"},
		{"POST", "/images//build", "empty segment in path"},
		{"POST", "/images%2Fbuild", "encoded '/' in path"},
		{"POST", "/images/build%00", "NUL byte in path"},
		{"POST", "/images/bu%zzild", "malformed percent-escape"},
		{"POST", "/images/build#x", "fragment ('#') in request target"},
		{"POST", "https://api.example.com/images/build", "path is not absolute"},
		{"POST", "*", "path is not absolute"},
		{"POST", "", "empty request target"},
		{"", "/images/build", "empty method"},
		{"POST /images/build", "/x", "method is not an HTTP token"},
	} {
		t.Run("refused "+c.method+" "+c.path, func(t *testing.T) {
			seen := len(logs.records(t, "mtlsauthz"))
			got := answerOf(t, check(t, client, checkRequest(builder, c.method, c.path)))
			if got.status != 400 || got.body != bodyBadRequest || codes.Code(got.code) != codes.InvalidArgument {
				t.Fatalf("%d %q (%v), want 400 %q", got.status, got.body, codes.Code(got.code), bodyBadRequest)
			}
			rec := logs.records(t, "mtlsauthz")[seen:][0]
			if want := "HTTP request refused: " + c.detail; rec.fields["detail"] != want {
				t.Errorf("detail %#v, want %q", rec.fields["detail"], want)
			}
			if rec.fields["operation"] != nil || rec.fields["reason"] != "bad_target" {
				t.Errorf("operation %v reason %v", rec.fields["operation"], rec.fields["reason"])
			}
		})
	}

	// A CheckRequest without HTTP attributes (the network filter's) is a refused target too.
	got := answerOf(t, check(t, client, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Certificate: certificateAttribute(builder.leaf)}}}))
	if got.status != 400 {
		t.Errorf("no HTTP attributes: %d %q, want 400", got.status, got.body)
	}
}

// TestIdentityOnlyFromTheCertificate sends what else a CheckRequest can say about the client,
// source.principal and headers that name the builder, with no certificate or another one.
func TestIdentityOnlyFromTheCertificate(t *testing.T) {
	d, _ := startDaemon(t, nil)
	client := authv3.NewAuthorizationClient(dial(t, d, nil))
	builder, plain, none := downstreamOf(t, "builder"), downstreamOf(t, "plain"), downstreamOf(t, "")
	spoof := func(req *authv3.CheckRequest) *authv3.CheckRequest {
		req.Attributes.Source.Principal = "spiffe://prod.example.com/ci/builder"
		h := req.Attributes.Request.Http.Headers
		h["x-forwarded-client-cert"] = "By=spiffe://prod.example.com/api;Hash=00;URI=spiffe://prod.example.com/ci/builder;" +
			"Cert=\"" + certificateAttribute(builder.leaf) + "\""
		h["x-client-cert"] = certificateAttribute(builder.leaf)
		h["x-ssl-client-cert"] = url.QueryEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: builder.leaf.Raw})))
		return req
	}
	// Positive control: the builder's own certificate is allowed.
	if got := answerOf(t, check(t, client, checkRequest(builder, "POST", "/images/build"))); got.status != 0 {
		t.Fatalf("the builder's certificate: %d %q", got.status, got.body)
	}
	if got := answerOf(t, check(t, client, spoof(checkRequest(none, "POST", "/images/build")))); got.status != 401 {
		t.Errorf("no certificate, the builder's principal and headers: %d %q, want 401", got.status, got.body)
	}
	if got := answerOf(t, check(t, client, spoof(checkRequest(plain, "POST", "/images/build")))); got.status != 403 ||
		got.body != bodyForbiddenNoMatch {
		t.Errorf("plain's certificate, the builder's principal and headers: %d %q, want 403 no_match", got.status, got.body)
	}
}

// TestCertificateAttributeRefused sends the builder's certificate, which may POST
// /images/build, in encodings Envoy never produces and as a certificate over the library's
// size limit: each is a 403 identity_rejected, with the reason logged, and never an allow.
func TestCertificateAttributeRefused(t *testing.T) {
	d, logs := startDaemon(t, nil)
	client := authv3.NewAuthorizationClient(dial(t, d, nil))
	builder := downstreamOf(t, "builder")
	attr := certificateAttribute(builder.leaf)
	pemText := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: builder.leaf.Raw}))
	intPEM := string(readFileT(t, certPath("int.pem")))

	// Positive controls: Envoy's encoding, and the same with lowercase hex digits.
	for name, a := range map[string]string{"envoy": attr, "lowercase hex": lowerHex(attr)} {
		req := checkRequest(builder, "POST", "/images/build")
		req.Attributes.Source.Certificate = a
		if got := answerOf(t, check(t, client, req)); got.status != 0 {
			t.Fatalf("%s: %d %q, want an allow", name, got.status, got.body)
		}
	}

	for _, c := range []struct{ name, attr, why string }{
		{"'+' for a space", strings.Replace(attr, "%20", "+", 1), "'+'"},
		{"'+' unencoded", strings.Replace(attr, "%2B", "+", 1), "'+'"},
		{"a raw space", strings.Replace(attr, "%20", " ", 1), "' '"},
		{"a raw newline", strings.Replace(attr, "%0A", "\n", 1), `'\n'`},
		{"'~' unencoded", attr + "~", "'~'"},
		{"a truncated escape at the end", attr[:len(attr)-1], "two hex digits"},
		{"a bad hex digit", strings.Replace(attr, "%0A", "%0G", 1), "two hex digits"},
		{"a lone '%'", strings.Replace(attr, "%0A", "%", 1), "two hex digits"},
		{"encoded twice", envoyURLEncode(attr), "not a PEM"},
		{"not encoded", pemText, "not in Envoy's URL encoding"},
		{"the chain", envoyURLEncode(pemText + intPEM), "exactly one PEM"},
		{"text before the block", envoyURLEncode("subject=CN=builder\n" + pemText), "exactly one PEM"},
		{"text after the block", envoyURLEncode(pemText + "trailer\n"), "exactly one PEM"},
		{"a malformed block before a good one", envoyURLEncode(strings.Replace(pemText, "-----END", "!-----END", 1) + pemText), "exactly one PEM"},
		{"CRLF line ends", envoyURLEncode(strings.ReplaceAll(pemText, "\n", "\r\n")), "exactly one PEM"},
		{"lines of 76 characters", envoyURLEncode(pem76(builder.leaf.Raw)), "exactly one PEM"},
		{"PEM headers", envoyURLEncode(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE",
			Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: builder.leaf.Raw}))), "exactly one PEM"},
		{"another block type", envoyURLEncode(string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: builder.leaf.Raw}))), "not a PEM CERTIFICATE"},
		{"not a certificate inside", envoyURLEncode(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("hello")}))), "not a certificate"},
		{"trailing DER", envoyURLEncode(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE",
			Bytes: append(append([]byte{}, builder.leaf.Raw...), 0x05, 0x00)}))), "not a certificate"},
		{"longer than the bound", attr + strings.Repeat("A", MaxCertificateAttribute-len(attr)+1), "more than the"},
		{"a real certificate over 64 KiB", certificateAttribute(bigCertificate(t)), "library's limit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := checkRequest(builder, "POST", "/images/build")
			req.Attributes.Source.Certificate = c.attr
			seenRefused := len(logs.records(t, "mtlsauthz-envoy: source.certificate refused"))
			seen := len(logs.records(t, "mtlsauthz"))
			got := answerOf(t, check(t, client, req))
			if got.status != 403 || got.body != bodyForbiddenRejected || codes.Code(got.code) != codes.PermissionDenied {
				t.Fatalf("%d %q (%v), want 403 %q", got.status, got.body, codes.Code(got.code), bodyForbiddenRejected)
			}
			refused := logs.records(t, "mtlsauthz-envoy: source.certificate refused")[seenRefused:]
			if len(refused) != 1 {
				t.Fatalf("%d refusal records, want 1", len(refused))
			}
			if e, _ := refused[0].fields["err"].(string); !strings.Contains(e, c.why) {
				t.Errorf("refusal %q does not say %q", e, c.why)
			}
			rec := logs.records(t, "mtlsauthz")[seen:][0]
			for k, want := range map[string]any{"decision": "deny", "reason": "identity_rejected",
				"status": 403.0, "operation": "POST /images/build", "subject": nil, "sha256": nil} {
				if rec.fields[k] != want {
					t.Errorf("log %s = %#v, want %#v", k, rec.fields[k], want)
				}
			}
		})
	}
}

func lowerHex(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = lower(b[i+1]), lower(b[i+2])
		}
	}
	return string(b)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'F' {
		return c + 'a' - 'A'
	}
	return c
}

// pem76 is a PEM certificate in lines of 76 characters: valid base64, not what Envoy writes.
func pem76(der []byte) string {
	b64 := base64.StdEncoding.EncodeToString(der)
	var s strings.Builder
	s.WriteString("-----BEGIN CERTIFICATE-----\n")
	for len(b64) > 76 {
		s.WriteString(b64[:76] + "\n")
		b64 = b64[76:]
	}
	s.WriteString(b64 + "\n-----END CERTIFICATE-----\n")
	return s.String()
}

// bigCertificate is the builder's identity in a real certificate of about 80 KB, signed by the
// test intermediate (a large private extension), and verified here against the test CA. It
// cannot go through a Go TLS handshake, whose messages stop at 64 KiB; BoringSSL's
// certificate list, and so Envoy's, goes to 100 KB.
func bigCertificate(t testing.TB) *x509.Certificate {
	t.Helper()
	spiffe, _ := url.Parse("spiffe://prod.example.com/ci/builder")
	kp := mintLeaf(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "builder", Organization: []string{"Example Corp"}},
		URIs:    []*url.URL{spiffe},
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 55555, 1},
			Value: make([]byte, 80*1024)}},
	}, false)
	leaf, err := x509.ParseCertificate(kp.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(leaf.Raw) <= maxCertificateDER {
		t.Fatalf("the big certificate is only %d bytes", len(leaf.Raw))
	}
	inter := x509.NewCertPool()
	inter.AppendCertsFromPEM(readFileT(t, certPath("int.pem")))
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: caPool(t), Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("the big certificate does not verify: %v", err)
	}
	return leaf
}
