// SPDX-License-Identifier: Apache-2.0

// Package mtlsauthzenvoy is libmtlsauthz's Envoy external authorization server: an
// implementation of envoy.service.auth.v3.Authorization/Check that decides each request Envoy
// asks about with a libmtlsauthz policy, and answers, logs and counts it as every HTTP binding
// of the library does (docs/http.md). The command mtlsauthz-envoy (cmd/mtlsauthz-envoy) runs
// it; README.md describes the set-up with Envoy and Istio.
//
// The server is a shim over the Go binding: the identity, the canonical HTTP operation and the
// decision are the library's.
package mtlsauthzenvoy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	mtlsauthz "github.com/libmtlsauthz/mtlsauthz/bindings/go"
)

// Server answers Envoy's Check calls with the policy in a Store. It is safe for concurrent
// use.
type Server struct {
	authv3.UnimplementedAuthorizationServer

	store  *mtlsauthz.Store
	cache  *identityCache
	logger *slog.Logger
	hooks  []func(mtlsauthz.Decision)
}

// Option configures a Server.
type Option func(*Server)

// WithLogger writes the decision log (docs/http.md, "The decision log") to l: one record per
// Check, denies at Warn, allows at Info, allows with a dry-run rule match at Warn. A record is
// built only when l is enabled for its level. A certificate that cannot be read is also logged
// at Warn, with the reason, in a record of its own (msg "mtlsauthz-envoy: source.certificate
// refused").
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) { s.logger = l }
}

// WithDecisionHook calls f with the decision of every Check (401 and 400 included: their
// reasons are no_identity and bad_target), before it is answered. mtlsauthzprom's
// Collector.Observe counts them: WithDecisionHook(func(d mtlsauthz.Decision) {
// c.Observe(nil, d) }).
func WithDecisionHook(f func(mtlsauthz.Decision)) Option {
	return func(s *Server) {
		if f != nil {
			s.hooks = append(s.hooks, f)
		}
	}
}

// WithIdentityCacheSize bounds how many client certificates the server keeps read
// (DefaultIdentityCacheSize if n is not positive).
func WithIdentityCacheSize(n int) Option {
	return func(s *Server) { s.cache = newIdentityCache(n) }
}

// NewServer returns a Server deciding with the policy current in store at each Check.
func NewServer(store *mtlsauthz.Store, opts ...Option) *Server {
	s := &Server{store: store}
	for _, o := range opts {
		o(s)
	}
	if s.cache == nil {
		s.cache = newIdentityCache(DefaultIdentityCacheSize)
	}
	return s
}

// checkState is one Check: the decision and what the log and the answer need.
type checkState struct {
	d       mtlsauthz.Decision
	ci      *cachedIdentity // the identity and its responses, when one was read
	id      *mtlsauthz.Identity
	op      string
	status  int // 0: allowed, the request goes on
	detail  string
	certErr error
}

// Check decides one request (docs/http.md, "Order of checks"):
//
//  1. no source.certificate: 401, no_identity;
//  2. a method and path the library will not make an operation of: 400, bad_target;
//  3. a certificate that cannot be read (bad URL encoding, not one PEM certificate, larger
//     than the library's limit): 403, identity_rejected;
//  4. the policy's decision: 403 for a deny (any error is a deny), else allowed.
//
// The identity comes only from source.certificate, never from source.principal or from a
// request header. Check returns an error only when ctx is done; every decision, allow or
// deny, is a CheckResponse.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var st checkState
	s.decide(&st, req)
	for _, h := range s.hooks {
		h(st.d)
	}
	if s.logger != nil {
		s.log(ctx, &st, req)
	}
	if st.ci != nil {
		return st.ci.response(&st), nil
	}
	return response(&st), nil
}

func (s *Server) decide(st *checkState, req *authv3.CheckRequest) {
	attrs := req.GetAttributes()
	http := attrs.GetRequest().GetHttp()
	op, opErr := mtlsauthz.HTTPOperation(http.GetMethod(), http.GetPath())
	if opErr == nil {
		st.op = op
	}
	cert := attrs.GetSource().GetCertificate()
	if cert == "" {
		st.d = mtlsauthz.Decision{Reason: mtlsauthz.ReasonNoIdentity}
		st.status = 401
		return
	}
	// The identity of a refused target is read too, for the log.
	ci, idErr := s.cache.get(cert)
	var id *mtlsauthz.Identity
	if ci != nil {
		st.ci, id = ci, ci.id
	}
	st.id = id
	var certErr *CertificateError
	switch {
	case opErr != nil:
		st.d = mtlsauthz.Decision{Reason: mtlsauthz.ReasonBadTarget, Err: opErr}
		st.detail = refusalDetail(opErr)
		st.status = 400
	case errors.As(idErr, &certErr):
		st.d = mtlsauthz.Decision{Reason: mtlsauthz.ReasonIdentityRejected, Err: idErr}
		st.certErr = idErr
		st.status = 403
	case idErr != nil:
		st.d = mtlsauthz.Decision{Reason: mtlsauthz.ReasonError, Err: idErr}
		st.status = 403
	default:
		st.d = s.store.Authorize(id, op)
		if !st.d.Allowed {
			st.status = 403
		}
	}
}

// refusalDetail is the log's detail for a refused target: the library's own message.
func refusalDetail(err error) string {
	var e *mtlsauthz.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

// remoteAddress is the client's address as Envoy saw it (attributes.source.address):
// "host:port", a Unix socket's path, or "" when Envoy sent none.
func remoteAddress(a *corev3.Address) string {
	if sa := a.GetSocketAddress(); sa != nil && sa.GetAddress() != "" {
		return net.JoinHostPort(sa.GetAddress(), strconv.FormatUint(uint64(sa.GetPortValue()), 10))
	}
	if p := a.GetPipe(); p != nil {
		return p.GetPath()
	}
	return ""
}
