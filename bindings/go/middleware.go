// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// HTTPOperation is the library's canonical operation for an HTTP request
// (mtlsauthz_http_operation): "METHOD SP path" from the method and the raw request target,
// with the query stripped, the path percent-decoded and a single trailing slash removed. It
// refuses (an *Error, errors.Is ErrOperation) a target whose decoded path has an encoded "/",
// a dot or empty segment, a NUL or control byte, or that is not in origin form ("/..."), so
// that a router and the policy can never disagree about the path.
func HTTPOperation(method, target string) (string, error) {
	return cHTTPOperation(nil, method, target)
}

// RequestOperation is the default operation of a request: HTTPOperation(r.Method,
// r.RequestURI). RequestURI is the raw request target; r.URL.Path is already decoded and
// must not be used. (An absolute-form target, "https://host/path", is refused.)
func RequestOperation(r *http.Request) (string, error) {
	return HTTPOperation(r.Method, r.RequestURI)
}

// Option configures Middleware.
type Option func(*config)

type config struct {
	operation func(*http.Request) (string, error)
	// ownOperation: WithOperation supplied the operations, so they need not be HTTP ones.
	ownOperation bool
	logger       *slog.Logger
	dryRun       bool
	cacheSize    int
	hooks        []func(*http.Request, Decision)
	// xfcc is WithXFCC's trust function (nil: the header is never read); xfccIgnored limits
	// the warnings about headers from other peers.
	xfcc        func(*http.Request) bool
	xfccIgnored ignoredXFCC
}

// WithOperation replaces the default operation (RequestOperation). An error answers 400
// (reason bad_target). Operations from f may be named ones ("images:build"), so the policy
// need not declare "protocol: http".
func WithOperation(f func(r *http.Request) (string, error)) Option {
	return func(c *config) { c.operation, c.ownOperation = f, true }
}

// WithLogger writes the decision log to l: one record per decided request, with the keys of
// docs/http.md ("The decision log"), denies and refusals at Warn, allows at Info, and allows
// with a dry-run rule match at Warn. A record is built only when l is enabled for its level.
// The start-up warning about a policy without "protocol: http" goes to l too (else to
// slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithDecisionHook calls f for every decided request (401, 400, 403 and allow), before the
// request is answered or passed on, with the request (FromContext works on its context) and
// the decision. A request refused with 401 has reason no_identity, one refused with 400 has
// reason bad_target and the refusal in Err. Hooks run in the order given, on the request's
// goroutine: keep them fast (mtlsauthzprom's Collector.Observe counts without locks).
func WithDecisionHook(f func(*http.Request, Decision)) Option {
	return func(c *config) {
		if f != nil {
			c.hooks = append(c.hooks, f)
		}
	}
}

// WithDryRun makes the middleware log only: every request is passed on, and the decision
// log says what enforcement would have done (decision and reason), with status null since
// nothing was refused. Use it with WithLogger.
func WithDryRun() Option {
	return func(c *config) { c.dryRun = true }
}

// WithIdentityCacheSize bounds how many client identities the middleware keeps (one per
// TLS connection it has seen recently, and under WithXFCC one per distinct header value;
// default 1024).
func WithIdentityCacheSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.cacheSize = n
		}
	}
}

// Middleware authorizes every request with policy p, in the net/http and Chi middleware shape
// (r.Use(mtlsauthz.Middleware(p))). It keeps the HTTP contract of docs/http.md: for each
// request, in order,
//
//   - no verified client certificate (r.TLS.VerifiedChains is empty): 401,
//     {"error":"unauthorized","reason":"no_identity","rule":null};
//   - the operation is refused (a raw target the library will not canonicalize): 400,
//     {"error":"bad_request","reason":"bad_target","rule":null};
//   - the policy denies (any error is a deny): 403, {"error":"forbidden","reason":...,
//     "rule":...};
//   - otherwise the request goes to next, whose handlers find the decision and the identity
//     with FromContext(r.Context()).
//
// The identity is read once per TLS connection (cached by leaf certificate) and resolved
// once per policy. The server's tls.Config must verify client certificates
// (RequireAndVerifyClientCert, or VerifyClientCertIfGiven); under RequireAnyClientCert
// nothing is verified and every request gets 401.
//
// Unless WithOperation supplies the operations, Middleware logs a warning when p does not
// declare "protocol: http" (see Policy.Protocol): only under that key is every operation
// pattern checked, at load, to be one an HTTP request can match.
func Middleware(p *Policy, opts ...Option) func(http.Handler) http.Handler {
	cfg := newConfig(opts)
	cfg.checkProtocol(p, "")
	return cfg.middleware(func(id *Identity, op string) Decision { return p.Authorize(id, op) })
}

// StoreMiddleware is Middleware with the policy currently in s, so a Reload takes effect on
// the next request. Connections keep their identity; it is resolved again against the new
// policy. The "protocol: http" warning is checked at construction and again on every
// successful Reload.
func StoreMiddleware(s *Store, opts ...Option) func(http.Handler) http.Handler {
	cfg := newConfig(opts)
	if !cfg.ownOperation {
		s.onReload(func(p *Policy) { cfg.checkProtocol(p, s.Path()) })
	}
	return cfg.middleware(s.Authorize)
}

// defaultCacheSize is how many identities the middleware keeps by default.
const defaultCacheSize = 1024

func newConfig(opts []Option) *config {
	cfg := &config{operation: RequestOperation, cacheSize: defaultCacheSize}
	for _, o := range opts {
		o(cfg)
	}
	return cfg
}

// checkProtocol warns when the middleware derives HTTP operations from requests and p does
// not declare "protocol: http". Only under that key must every operation pattern be an HTTP
// one; without it, a deny written as "/host/**" (no method) loads and never applies. path
// names the policy file, when there is one.
func (c *config) checkProtocol(p *Policy, path string) {
	if c.ownOperation || p.Protocol() == ProtocolHTTP {
		return
	}
	l := c.logger
	if l == nil {
		l = slog.Default()
	}
	attrs := []slog.Attr{slog.String("protocol", p.Protocol())}
	if path != "" {
		attrs = append(attrs, slog.String("policy", path))
	}
	l.LogAttrs(context.Background(), slog.LevelWarn, protocolWarning, attrs...)
}

// protocolWarning is the message of checkProtocol's warning.
const protocolWarning = "mtlsauthz: the policy does not declare `protocol: http`; add it at the top level, " +
	"so that an operation pattern no HTTP request can match is a load error (docs/policy.md)"

// ReasonBadTarget is the reason of a request the middleware refused with 400 because the
// library would not make an operation of its target (docs/http.md). No policy decision has
// this reason: the policy is not consulted.
const ReasonBadTarget = "bad_target"

func (c *config) middleware(authorize func(*Identity, string) Decision) func(http.Handler) http.Handler {
	cache := &identityCache{max: c.cacheSize}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st := &requestState{Context: r.Context()}
			c.decide(st, r, cache, authorize)
			r = st.attach(r)
			for _, h := range c.hooks {
				h(r, st.d)
			}
			if c.logger != nil {
				c.log(r, st)
			}
			if st.status == 0 {
				next.ServeHTTP(w, r)
				return
			}
			writeRefusal(w, st.status, &st.d)
		})
	}
}

// decide fills st with the decision on r and the status to answer (0: pass it on), in the
// order of docs/http.md: no identity, a refused target, the policy.
func (c *config) decide(st *requestState, r *http.Request, cache *identityCache,
	authorize func(*Identity, string) Decision) {
	var opErr error
	if c.ownOperation {
		st.op, opErr = c.operation(r)
	} else {
		st.op, opErr = cHTTPOperation(st.opBuf[:], r.Method, r.RequestURI)
	}
	if opErr != nil {
		st.op = ""
	}
	id, ok, err := c.identity(r, cache)
	if !ok {
		st.d = Decision{Reason: ReasonNoIdentity}
		st.status = http.StatusUnauthorized
	} else {
		// The identity of a refused target is read too, for the log, and cached for the
		// connection as usual.
		st.id = id
		switch {
		case opErr != nil:
			st.d = Decision{Reason: ReasonBadTarget, Err: opErr}
			st.detail = refusalDetail(opErr)
			st.status = http.StatusBadRequest
		case err != nil:
			// A header a trusted proxy sent that gives no identity refuses the identity, as a
			// rejected certificate does (docs/http.md, "Behind a trusted proxy").
			if xe, isXFCC := err.(*xfccError); isXFCC {
				st.d = Decision{Reason: ReasonIdentityRejected, Err: err}
				st.detail = xe.detail
			} else {
				st.d = denyError(err)
			}
			st.status = http.StatusForbidden
		default:
			st.d = authorize(id, st.op)
			if !st.d.Allowed {
				st.status = http.StatusForbidden
			}
		}
	}
	if c.dryRun {
		st.status = 0
	}
}

// identity is the identity r is decided on; ok is false when it has none (401). It is the
// client certificate's, or, under WithXFCC from a trusted peer, the X-Forwarded-Client-Cert
// header's (see xfccIdentity).
func (c *config) identity(r *http.Request, cache *identityCache) (id *Identity, ok bool, err error) {
	if c.xfcc != nil && c.xfcc(r) {
		return xfccIdentity(r, cache)
	}
	if chain := verifiedChain(r.TLS); chain != nil {
		id, err = cache.get(chain)
		ok = true
	}
	if c.xfcc != nil && len(r.Header[xfccHeader]) > 0 {
		c.ignoreXFCC(r, id)
	}
	return id, ok, err
}

// refusalDetail is the log's detail for a refused target: the library's own message, or the
// WithOperation function's error.
func refusalDetail(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

// The refusal bodies of docs/http.md ("Status codes and bodies"): three keys in this order,
// and a newline. The 403 with a rule is built per request.
var (
	bodyUnauthorized     = []byte(`{"error":"unauthorized","reason":"no_identity","rule":null}` + "\n")
	bodyBadRequest       = []byte(`{"error":"bad_request","reason":"bad_target","rule":null}` + "\n")
	bodyForbiddenNoMatch = []byte(`{"error":"forbidden","reason":"no_match","rule":null}` + "\n")
)

func writeRefusal(w http.ResponseWriter, status int, d *Decision) {
	var body []byte
	switch {
	case status == http.StatusUnauthorized:
		body = bodyUnauthorized
	case status == http.StatusBadRequest:
		body = bodyBadRequest
	case d.Reason == ReasonNoMatch && d.Rule == "":
		body = bodyForbiddenNoMatch
	default:
		body = forbiddenBody(d.Reason, d.Rule)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// forbiddenBody is the 403 body; rule "" is null. Strings are escaped as JSON requires and no
// more (no HTML escaping), so every binding writes the same bytes for a rule id.
func forbiddenBody(reason, rule string) []byte {
	b := make([]byte, 0, 64+len(reason)+len(rule))
	b = append(b, `{"error":"forbidden","reason":`...)
	b = appendJSONString(b, reason)
	b = append(b, `,"rule":`...)
	if rule == "" {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, rule)
	}
	return append(b, "}\n"...)
}

// appendJSONString appends s as a JSON string (RFC 8259 section 7): '"', '\\' and control
// characters escaped, invalid UTF-8 replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}

// log writes st's decision-log record (docs/http.md), when the logger is enabled for its
// level; nothing is built otherwise.
func (c *config) log(r *http.Request, st *requestState) {
	level := slog.LevelInfo
	if !st.d.Allowed || st.d.DryRunCount > 0 {
		level = slog.LevelWarn
	}
	ctx := r.Context()
	if !c.logger.Enabled(ctx, level) {
		return
	}
	c.logger.LogAttrs(ctx, level, "mtlsauthz", decisionRecord(st, r.RemoteAddr)...)
}

// noDryRun is the dry_run of a decision without matches: an empty list, never null.
var noDryRun = []string{}

// decisionRecord is the decision-log record of docs/http.md, every key present, in its order.
func decisionRecord(st *requestState, remote string) []slog.Attr {
	d := &st.d
	decision := "deny"
	if d.Allowed {
		decision = "allow"
	}
	dryRun := noDryRun
	if len(d.DryRun) > 0 {
		dryRun = d.DryRun
	}
	var names identityNames
	if st.id != nil {
		names = *st.id.fields()
	}
	return []slog.Attr{
		slog.String("decision", decision),
		slog.String("reason", d.Reason),
		nullable("rule", d.Rule, d.Rule != ""),
		slog.Any("dry_run", dryRun),
		nullable("operation", st.op, st.op != ""),
		nullableInt("status", st.status),
		nullable("spiffe_id", names.spiffeID, names.hasSPIFFE),
		nullable("subject", names.subject, names.hasSubject),
		nullable("issuer", names.issuer, names.hasIssuer),
		nullable("serial", names.serial, names.hasSerial),
		nullable("sha256", names.sha256, names.hasSHA256),
		slog.String("remote", remote),
		nullable("detail", st.detail, d.Reason == ReasonBadTarget || st.detail != ""),
	}
}

// nullable is key: v, or key: null when !ok (slog's JSON handler writes a nil any as null).
func nullable(key, v string, ok bool) slog.Attr {
	if !ok {
		return slog.Any(key, nil)
	}
	return slog.String(key, v)
}

func nullableInt(key string, v int) slog.Attr {
	if v == 0 {
		return slog.Any(key, nil)
	}
	return slog.Int(key, v)
}

// identityCache maps a connection's verified leaf certificate to its Identity. crypto/tls
// parses the peer's certificates once per handshake and net/http shares that
// ConnectionState with every request on the connection, so the *x509.Certificate is a
// per-connection key; holding it in the map keeps the address from being reused. The map is
// bounded; an evicted Identity is not closed (a request may still be using it) and its C
// memory goes with the garbage collector.
type identityCache struct {
	max int
	m   sync.Map // *x509.Certificate or xfccKey -> *Identity
	n   atomic.Int64
}

func (c *identityCache) get(chain []*x509.Certificate) (*Identity, error) {
	leaf := chain[0]
	if v, ok := c.m.Load(leaf); ok {
		return v.(*Identity), nil
	}
	id, err := IdentityFromChain(chain)
	if err != nil {
		return nil, err
	}
	return c.add(leaf, id), nil
}

// add stores id under key, unless another request stored one first (then id is closed and
// that one returned), and evicts other entries beyond max. Keys of different types never
// compare equal, so certificate and X-Forwarded-Client-Cert identities share the map and its
// bound.
func (c *identityCache) add(key any, id *Identity) *Identity {
	if v, loaded := c.m.LoadOrStore(key, id); loaded {
		id.Close()
		return v.(*Identity)
	}
	if c.n.Add(1) > int64(c.max) {
		c.m.Range(func(k, _ any) bool {
			if k == key {
				return true
			}
			if _, ok := c.m.LoadAndDelete(k); ok {
				c.n.Add(-1)
			}
			return c.n.Load() > int64(c.max)
		})
	}
	return id
}

// verifiedChain is cs.VerifiedChains[0], or nil. Never cs.PeerCertificates: under
// tls.RequireAnyClientCert those are not verified.
func verifiedChain(cs *tls.ConnectionState) []*x509.Certificate {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return nil
	}
	return cs.VerifiedChains[0]
}
