// SPDX-License-Identifier: Apache-2.0

package mtlsauthzenvoy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// This file stands in for Envoy: what its listener learns in a mutual TLS handshake, and the
// CheckRequest its ext_authz filter builds from it (source/extensions/filters/common/ext_authz/
// check_request_utils.cc, with include_peer_certificate: true).

// downstream is what Envoy's listener knows of a client after the TLS handshake: the leaf the
// client presented, as verified against the CA, and the client's address.
type downstream struct {
	leaf *x509.Certificate // nil: no client certificate
	addr *net.TCPAddr
}

// handshake runs a real mutual TLS handshake over loopback: the client presents cert (none if
// nil) to a server that, like an Envoy listener with require_client_certificate and a
// validation_context, verifies it against the test CA. It returns what that server verified.
func handshake(t testing.TB, cert *tls.Certificate) downstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	auth := tls.RequireAndVerifyClientCert
	if cert == nil {
		auth = tls.VerifyClientCertIfGiven
	}
	type result struct {
		d   downstream
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		s := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{keyPair(t, "server")},
			ClientAuth: auth, ClientCAs: caPool(t)})
		s.SetDeadline(time.Now().Add(10 * time.Second))
		if err := s.Handshake(); err != nil {
			done <- result{err: err}
			return
		}
		// Read the client's byte, so that it knows the server accepted its certificate.
		var b [1]byte
		io.ReadFull(s, b[:])
		cs := s.ConnectionState()
		d := downstream{addr: c.RemoteAddr().(*net.TCPAddr)}
		if len(cs.VerifiedChains) > 0 {
			d.leaf = cs.VerifiedChains[0][0]
		}
		done <- result{d: d}
	}()
	cfg := &tls.Config{RootCAs: caPool(t), ServerName: "localhost"}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte{1}); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("handshake: the server refused the certificate: %v", r.err)
	}
	if cert != nil && r.d.leaf == nil {
		t.Fatal("handshake: no verified client certificate")
	}
	return r.d
}

// downstreamOf is handshake with the test certificate NAME (NAME-chain.pem, NAME.key), or
// with no certificate for "".
func downstreamOf(t testing.TB, name string) downstream {
	t.Helper()
	if name == "" {
		return handshake(t, nil)
	}
	kp := keyPair(t, name)
	return handshake(t, &kp)
}

// envoyURLEncode is Envoy's Http::Utility::PercentEncoding::urlEncode: ALPHA, DIGIT, '*',
// '-', '.' and '_' as they are, every other byte as %XX in uppercase hex.
func envoyURLEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '*' || c == '-' || c == '.' || c == '_' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// certificateAttribute is source.certificate for leaf: its PEM as PEM_write_bio_X509 writes
// it (64-character lines, the same as Go's pem.Encode), URL-encoded as Envoy does.
func certificateAttribute(leaf *x509.Certificate) string {
	return envoyURLEncode(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})))
}

// principalOf is Envoy's source.principal for leaf: the first URI SAN, else the first DNS SAN,
// else the subject. The server must never use it.
func principalOf(leaf *x509.Certificate) string {
	switch {
	case len(leaf.URIs) > 0:
		return leaf.URIs[0].String()
	case len(leaf.DNSNames) > 0:
		return leaf.DNSNames[0]
	}
	return leaf.Subject.String()
}

// checkRequest is the CheckRequest Envoy's HTTP ext_authz filter sends for a request on the
// downstream connection d, with include_peer_certificate: true.
func checkRequest(d downstream, method, target string) *authv3.CheckRequest {
	source := &authv3.AttributeContext_Peer{
		Address: socketAddress(d.addr.IP.String(), uint32(d.addr.Port)),
	}
	if d.leaf != nil {
		source.Principal = principalOf(d.leaf)
		source.Certificate = certificateAttribute(d.leaf)
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: source,
		Destination: &authv3.AttributeContext_Peer{
			Address:   socketAddress("127.0.0.1", 8443),
			Principal: "localhost",
		},
		Request: &authv3.AttributeContext_Request{
			Time: timestamppb.Now(),
			Http: &authv3.AttributeContext_HttpRequest{
				Id:     "5bc5ad4c-0b5e-4a47-9f0a-0c4e4d1b4a10",
				Method: method,
				Headers: map[string]string{
					":authority": "api.example.com", ":method": method, ":path": target,
					":scheme": "https", "user-agent": "curl/8.5.0", "x-forwarded-proto": "https",
					"x-request-id": "5bc5ad4c-0b5e-4a47-9f0a-0c4e4d1b4a10",
				},
				Path:     target,
				Host:     "api.example.com",
				Scheme:   "https",
				Protocol: "HTTP/2",
				Size:     0,
			},
		},
	}}
}

func socketAddress(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

// startDaemon starts the server in-process with the example policy on a Unix socket in a
// temporary directory, after edit changes the configuration. It is shut down at the end of
// the test.
func startDaemon(t testing.TB, edit func(*Config)) (*Daemon, *logBuffer) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Policy = examplePolicy
	cfg.Listen = "unix:" + filepath.Join(t.TempDir(), "envoy.sock")
	if edit != nil {
		edit(&cfg)
	}
	logs := &logBuffer{}
	d, err := Start(&cfg, logs)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.Shutdown(ctx)
	})
	return d, logs
}

// dial is a gRPC client of the daemon: over its Unix socket, or over TCP with creds.
func dial(t testing.TB, d *Daemon, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	target := "unix://" + d.Addr().String()
	if d.Addr().Network() == "tcp" {
		target = d.Addr().String()
	}
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// check sends one CheckRequest and fails the test on an RPC error.
func check(t testing.TB, c authv3.AuthorizationClient, req *authv3.CheckRequest) *authv3.CheckResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := c.Check(ctx, req)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return r
}

// answer is what Envoy makes of a CheckResponse: the HTTP status it answers (0: the request
// goes upstream), the body and headers of a refusal, and the dynamic metadata.
type answer struct {
	status   int
	body     string
	headers  map[string]string
	metadata map[string]any
	code     int32
}

func answerOf(t testing.TB, r *authv3.CheckResponse) answer {
	t.Helper()
	a := answer{code: r.GetStatus().GetCode(), metadata: r.GetDynamicMetadata().AsMap()}
	switch h := r.GetHttpResponse().(type) {
	case *authv3.CheckResponse_OkResponse:
		if a.code != 0 {
			t.Errorf("an OkHttpResponse with status code %d", a.code)
		}
	case *authv3.CheckResponse_DeniedResponse:
		if a.code == 0 {
			t.Errorf("a DeniedHttpResponse with status OK: Envoy would allow")
		}
		a.status = int(h.DeniedResponse.GetStatus().GetCode())
		a.body = h.DeniedResponse.GetBody()
		a.headers = map[string]string{}
		for _, o := range h.DeniedResponse.GetHeaders() {
			if o.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
				t.Errorf("header %s: append action %v", o.GetHeader().GetKey(), o.GetAppendAction())
			}
			a.headers[o.GetHeader().GetKey()] = o.GetHeader().GetValue()
		}
	default:
		t.Fatalf("a CheckResponse without an HTTP response: %v", r)
	}
	return a
}
