// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
)

// Identities from the X-Forwarded-Client-Cert header (XFCC), behind a proxy that terminates
// mutual TLS (docs/policy.md, "Identities from X-Forwarded-Client-Cert"; docs/http.md,
// "Behind a trusted proxy"). The library reads the header; this file only decides whose
// header is read and caches what the library read.

// xfccHeader is the header's name in canonical form (http.CanonicalHeaderKey), the key of
// http.Header for every spelling the client used, over HTTP/1 and HTTP/2.
const xfccHeader = "X-Forwarded-Client-Cert"

// IdentityFromXFCC reads an identity from the value of an X-Forwarded-Client-Cert header
// (mtlsauthz_identity_from_xfcc): the last element, the one the nearest proxy added. With the
// element's Cert (or Chain) it is that certificate's identity; without, it is Partial. Read
// the header only from a proxy you trust to have written it (WithXFCC): anyone can send it.
// A header that does not parse is an *Error (errors.Is ErrCert, or ErrLimit beyond 64 KiB)
// whose message says what and where; it never gives an identity.
func IdentityFromXFCC(header string) (*Identity, error) {
	c, err := cIdentityFromXFCC(header)
	if err != nil {
		return nil, err
	}
	if h := testHookIdentity.Load(); h != nil {
		(*h)()
	}
	id := &Identity{c: c, partial: cIdentityPartial(c)}
	runtime.SetFinalizer(id, (*Identity).Close)
	return id, nil
}

// WithXFCC makes the middleware decide the requests of a trusted peer, a proxy that
// terminates mutual TLS, on the client identity the proxy forwards in X-Forwarded-Client-Cert
// (docs/http.md, "Behind a trusted proxy"). trusted is asked about every request and decides on
// the immediate peer only (its verified certificate, its address), never on the request's
// headers: TrustProxyCertificate and TrustLocalPeer are ready-made.
//
// From a trusted peer:
//   - one header field: the identity is IdentityFromXFCC's, cached by the SHA-256 of the
//     value (WithIdentityCacheSize bounds certificate and header identities together);
//   - no header: 401 no_identity, since the proxy's own certificate is not its client's (a
//     proxy forwards no header for a client that sent no certificate);
//   - a header that does not parse, or several X-Forwarded-Client-Cert fields: 403
//     identity_rejected, with the library's message as the log's detail and the Decision's Err
//     (errors.Is ErrXFCC).
//
// From any other peer the header is ignored: the request is decided on the peer's own
// certificate as without WithXFCC. Ignoring is logged at Warn (to the WithLogger logger, else
// slog.Default()), at most once a minute, with the number of headers ignored meanwhile.
func WithXFCC(trusted func(*http.Request) bool) Option {
	return func(c *config) { c.xfcc = trusted }
}

// ErrXFCC is errors.Is the Err of a decision refused because the X-Forwarded-Client-Cert
// header of a trusted peer gave no identity (WithXFCC). A header the library refused also
// unwraps to its *Error.
var ErrXFCC = errors.New("mtlsauthz: X-Forwarded-Client-Cert refused")

// xfccError is a trusted peer's header refused: detail is the decision log's detail.
type xfccError struct {
	err    error
	detail string
}

func (e *xfccError) Error() string        { return ErrXFCC.Error() + ": " + e.detail }
func (e *xfccError) Is(target error) bool { return target == ErrXFCC }
func (e *xfccError) Unwrap() error        { return e.err }

// xfccIdentity is the identity of a trusted peer's request: ok is false without the header.
func xfccIdentity(r *http.Request, cache *identityCache) (id *Identity, ok bool, err error) {
	values := r.Header[xfccHeader]
	switch {
	case len(values) == 0:
		return nil, false, nil
	case len(values) > 1:
		// Which field holds the nearest proxy's element depends on how the fields were joined
		// on the way; a proxy sends one field, so several are refused, never guessed at.
		return nil, true, &xfccError{detail: fmt.Sprintf("%d X-Forwarded-Client-Cert header fields "+
			"in one request; a proxy sends one", len(values))}
	}
	id, err = cache.getXFCC(values[0])
	if err != nil {
		return nil, true, &xfccError{err: err, detail: refusalDetail(err)}
	}
	return id, true, nil
}

// xfccKey is the identity cache's key for a header: the SHA-256 of its value exactly as
// received, collision-resistant, so one header is never taken for another, and 32 bytes
// whatever the header's size.
type xfccKey [sha256.Size]byte

func (c *identityCache) getXFCC(header string) (*Identity, error) {
	k := xfccKey(sha256.Sum256([]byte(header)))
	if v, ok := c.m.Load(k); ok {
		return v.(*Identity), nil
	}
	id, err := IdentityFromXFCC(header)
	if err != nil {
		return nil, err
	}
	return c.add(k, id), nil
}

// ignoredXFCC limits the warnings about headers from untrusted peers to one per
// xfccWarnInterval, so that a client sending the header on every request cannot flood the log.
type ignoredXFCC struct {
	last  atomic.Int64 // time.Now().UnixNano() of the last warning; 0 before the first
	count atomic.Int64 // headers ignored since the last warning
}

const xfccWarnInterval = time.Minute

// xfccIgnoredWarning is the message of the warning about an ignored header.
const xfccIgnoredWarning = "mtlsauthz: ignored an X-Forwarded-Client-Cert header from a peer that WithXFCC " +
	"does not trust, and decided the request on the peer's own certificate; if the peer is your proxy, " +
	"make the WithXFCC function trust it, otherwise a client is sending the header itself " +
	"(at most one such warning a minute; 'ignored' counts the headers since the last one)"

// ignoreXFCC counts a header from an untrusted peer and warns about it, at most once per
// interval. peer is the peer's own identity, or nil.
func (c *config) ignoreXFCC(r *http.Request, peer *Identity) {
	c.xfccIgnored.count.Add(1)
	now := time.Now().UnixNano()
	last := c.xfccIgnored.last.Load()
	if last != 0 && now-last < int64(xfccWarnInterval) {
		return
	}
	if !c.xfccIgnored.last.CompareAndSwap(last, now) {
		return
	}
	l := c.logger
	if l == nil {
		l = slog.Default()
	}
	attrs := []slog.Attr{slog.String("remote", r.RemoteAddr),
		slog.Int64("ignored", c.xfccIgnored.count.Swap(0))}
	if peer != nil {
		attrs = append(attrs, nullable("peer_subject", peer.SubjectDN(), peer.fields().hasSubject),
			nullable("peer_spiffe_id", peer.SPIFFEID(), peer.fields().hasSPIFFE))
	}
	l.LogAttrs(r.Context(), slog.LevelWarn, xfccIgnoredWarning, attrs...)
}

// TrustLocalPeer trusts a peer that reached the server over a Unix socket or a loopback
// address: for WithXFCC behind a proxy on the same host (or in the same Kubernetes pod). It
// reads the address the connection arrived at (http.LocalAddrContextKey), which only the
// host's own processes can reach when it is a loopback address, and not r.RemoteAddr, which
// middleware such as Chi's RealIP rewrites from request headers. Every process that can
// connect to the socket or to loopback is trusted: keep the socket's permissions to the proxy.
func TrustLocalPeer(r *http.Request) bool {
	switch a := r.Context().Value(http.LocalAddrContextKey).(type) {
	case *net.UnixAddr:
		return true
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		return ok && ip.Unmap().IsLoopback()
	}
	return false
}

// xfccProxyOperation is the only operation of TrustProxyCertificate's policy.
const xfccProxyOperation = "xfcc:forward"

// TrustProxyCertificate trusts a peer whose verified client certificate (r.TLS.VerifiedChains)
// one of selectors selects: for WithXFCC behind a proxy that connects with mutual TLS. A
// selector is KEY:PATTERN, a principal key of the policy language and one of its patterns
// (docs/policy.md, "Principals"): "spiffe:spiffe://cluster.local/ns/istio-system/sa/gateway",
// "dns:envoy.internal.example.com", "dn:CN=envoy,O=Example Corp", "sha256:<fingerprint>". The
// selectors become a policy of their own, which the library compiles and decides, so a
// selector means exactly what the same pattern means in any policy. An unknown key or a bad
// pattern is the library's load error, naming the selector. The peer's identity is read once
// per connection (at most WithIdentityCacheSize's default of connections are kept).
func TrustProxyCertificate(selectors ...string) (func(*http.Request) bool, error) {
	p, err := selectorPolicy(selectors)
	if err != nil {
		return nil, err
	}
	cache := &identityCache{max: defaultCacheSize}
	return func(r *http.Request) bool {
		chain := verifiedChain(r.TLS)
		if chain == nil {
			return false
		}
		id, err := cache.get(chain)
		if err != nil {
			return false
		}
		return p.Authorize(id, xfccProxyOperation).Allowed
	}, nil
}

// selectorPolicy is the policy that allows xfccProxyOperation to the identities selectors
// select, one principal each.
func selectorPolicy(selectors []string) (*Policy, error) {
	if len(selectors) == 0 {
		return nil, errors.New("mtlsauthz: TrustProxyCertificate needs at least one KEY:PATTERN selector")
	}
	var keys, patterns []string
	for _, sel := range selectors {
		key, pattern, ok := strings.Cut(sel, ":")
		if !ok || key == "" || pattern == "" || key == "name" {
			return nil, fmt.Errorf("mtlsauthz: TrustProxyCertificate selector %q: expected KEY:PATTERN, a "+
				"principal key of the policy language and a pattern, such as "+
				"spiffe:spiffe://cluster.local/ns/istio-system/sa/gateway (docs/policy.md, \"Principals\")", sel)
		}
		// Each selector alone first, so that an error names the selector it is about.
		one, err := compileSelectors([]string{key}, []string{pattern})
		if err != nil {
			return nil, fmt.Errorf("mtlsauthz: TrustProxyCertificate selector %q: %s", sel,
				messageWithoutPosition(err))
		}
		one.Close()
		keys, patterns = append(keys, key), append(patterns, pattern)
	}
	return compileSelectors(keys, patterns)
}

func compileSelectors(keys, patterns []string) (*Policy, error) {
	type principal map[string]any
	principals := make([]principal, len(keys))
	names := make([]string, len(keys))
	for i, key := range keys {
		names[i] = fmt.Sprintf("proxy-%d", i+1)
		principals[i] = principal{"name": names[i], key: []string{patterns[i]}}
	}
	// JSON is YAML, and encoding/json quotes every value, so a selector cannot add keys.
	doc, err := json.Marshal(map[string]any{
		"version":    1,
		"principals": principals,
		"rules": []map[string]any{{
			"id": "trusted-proxy", "effect": "allow",
			"principals": names, "operations": []string{xfccProxyOperation},
		}},
	})
	if err != nil {
		return nil, err
	}
	return LoadPolicy(doc)
}

// messageWithoutPosition is a load error's text (Error.Text): the policy was written from the
// selectors, so its positions mean nothing to the user.
func messageWithoutPosition(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Text()
	}
	return err.Error()
}
