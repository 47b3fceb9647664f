package mtlsauthz

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
)

// HTTPOperation is the library's canonical operation for an HTTP request
// (mtlsauthz_http_operation): "METHOD SP path" from the method and the raw request target,
// with the query stripped, the path percent-decoded and a single trailing slash removed. It
// refuses (an *Error) a target whose decoded path has an encoded "/", a dot or empty segment,
// a NUL or control byte, or that is not in origin form ("/..."), so that a router and the
// policy can never disagree about the path.
func HTTPOperation(method, target string) (string, error) {
	return cHTTPOperation(method, target)
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
}

// WithOperation replaces the default operation (RequestOperation). An error answers 400.
// Operations from f may be named ones ("images:build"), so the policy need not declare
// "protocol: http".
func WithOperation(f func(r *http.Request) (string, error)) Option {
	return func(c *config) { c.operation, c.ownOperation = f, true }
}

// WithLogger logs every decision to l: allows at Info, refusals and denies at Warn, with the
// operation, status, rule, reason, dry-run rules and the client certificate's subject. The
// start-up warning about a policy without "protocol: http" goes to l too (else to
// slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithDryRun makes the middleware log only: every request is passed on, and what would have
// happened (status 400, 401 or 403) is logged with dry_run=true. Use it with WithLogger.
func WithDryRun() Option {
	return func(c *config) { c.dryRun = true }
}

// WithIdentityCacheSize bounds how many client identities the middleware keeps (one per
// TLS connection it has seen recently; default 1024).
func WithIdentityCacheSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.cacheSize = n
		}
	}
}

// Middleware authorizes every request with policy p, in the net/http and Chi middleware shape
// (r.Use(mtlsauthz.Middleware(p))). For each request, in order:
//
//   - no verified client certificate (r.TLS.VerifiedChains is empty): 401;
//   - the operation is refused (a raw target the library will not canonicalize): 400;
//   - the policy denies (any error is a deny): 403, with {"error":"forbidden","rule":...,
//     "reason":...};
//   - otherwise the request goes to next.
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

func newConfig(opts []Option) *config {
	cfg := &config{operation: RequestOperation, cacheSize: 1024}
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

func (c *config) middleware(authorize func(*Identity, string) Decision) func(http.Handler) http.Handler {
	cache := &identityCache{max: c.cacheSize}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			chain := verifiedChain(r.TLS)
			if chain == nil {
				c.refuse(w, r, next, http.StatusUnauthorized, "", nil,
					response{Error: "unauthorized", Reason: ReasonNoIdentity},
					slog.String("reason", ReasonNoIdentity))
				return
			}
			leaf := chain[0]
			op, err := c.operation(r)
			if err != nil {
				c.refuse(w, r, next, http.StatusBadRequest, "", leaf,
					response{Error: "bad_request", Detail: err.Error()}, slog.String("error", err.Error()))
				return
			}
			var d Decision
			if id, err := cache.get(chain); err != nil {
				d = denyError(err)
			} else {
				d = authorize(id, op)
			}
			if !d.Allowed {
				var rule *string
				if d.Rule != "" {
					rule = &d.Rule
				}
				attrs := decisionAttrs(&d)
				c.refuse(w, r, next, http.StatusForbidden, op, leaf,
					response{Error: "forbidden", Rule: rule, Reason: d.Reason}, attrs...)
				return
			}
			if c.logger != nil && c.logger.Enabled(r.Context(), slog.LevelInfo) {
				c.log(r.Context(), slog.LevelInfo, r, http.StatusOK, op, leaf, decisionAttrs(&d))
			}
			next.ServeHTTP(w, r)
		})
	}
}

// response is the JSON body of a refusal.
type response struct {
	Error  string  `json:"error"`
	Rule   *string `json:"rule,omitempty"`
	Reason string  `json:"reason,omitempty"`
	Detail string  `json:"detail,omitempty"`
}

// MarshalJSON always writes "rule" for a 403 (null when no rule decided).
func (b response) MarshalJSON() ([]byte, error) {
	type plain response
	if b.Error != "forbidden" {
		return json.Marshal(plain(b))
	}
	return json.Marshal(struct {
		Error  string  `json:"error"`
		Rule   *string `json:"rule"`
		Reason string  `json:"reason"`
	}{b.Error, b.Rule, b.Reason})
}

func (c *config) refuse(w http.ResponseWriter, r *http.Request, next http.Handler, status int,
	op string, leaf *x509.Certificate, body response, attrs ...slog.Attr) {
	if c.logger != nil {
		c.log(r.Context(), slog.LevelWarn, r, status, op, leaf, attrs)
	}
	if c.dryRun {
		next.ServeHTTP(w, r)
		return
	}
	buf, err := json.Marshal(body)
	if err != nil {
		buf = []byte(`{"error":"internal"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(buf, '\n'))
}

func (c *config) log(ctx context.Context, level slog.Level, r *http.Request, status int, op string,
	leaf *x509.Certificate, attrs []slog.Attr) {
	all := make([]slog.Attr, 0, 8+len(attrs))
	all = append(all,
		slog.Bool("allowed", status == http.StatusOK),
		slog.Int("status", status),
		slog.String("method", r.Method),
		slog.String("target", r.RequestURI),
		slog.String("remote", r.RemoteAddr))
	if op != "" {
		all = append(all, slog.String("op", op))
	}
	if leaf != nil {
		all = append(all, slog.String("subject", leaf.Subject.String()))
	}
	if c.dryRun {
		all = append(all, slog.Bool("dry_run", true))
	}
	all = append(all, attrs...)
	c.logger.LogAttrs(ctx, level, "mtlsauthz", all...)
}

func decisionAttrs(d *Decision) []slog.Attr {
	attrs := []slog.Attr{slog.String("rule", d.Rule), slog.String("reason", d.Reason)}
	if len(d.DryRun) > 0 {
		attrs = append(attrs, slog.Any("dry_run_rules", d.DryRun))
	}
	if d.Err != nil {
		attrs = append(attrs, slog.String("error", d.Err.Error()))
	}
	return attrs
}

// identityCache maps a connection's verified leaf certificate to its Identity. crypto/tls
// parses the peer's certificates once per handshake and net/http shares that
// ConnectionState with every request on the connection, so the *x509.Certificate is a
// per-connection key; holding it in the map keeps the address from being reused. The map is
// bounded; an evicted Identity is not closed (a request may still be using it) and its C
// memory goes with the garbage collector.
type identityCache struct {
	max int
	m   sync.Map // *x509.Certificate -> *Identity
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
	if v, loaded := c.m.LoadOrStore(leaf, id); loaded {
		id.Close()
		return v.(*Identity), nil
	}
	if c.n.Add(1) > int64(c.max) {
		c.m.Range(func(k, _ any) bool {
			if k == leaf {
				return true
			}
			if _, ok := c.m.LoadAndDelete(k); ok {
				c.n.Add(-1)
			}
			return c.n.Load() > int64(c.max)
		})
	}
	return id, nil
}

// verifiedChain is cs.VerifiedChains[0], or nil. Never cs.PeerCertificates: under
// tls.RequireAnyClientCert those are not verified.
func verifiedChain(cs *tls.ConnectionState) []*x509.Certificate {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return nil
	}
	return cs.VerifiedChains[0]
}
