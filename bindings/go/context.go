// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

import (
	"context"
	"net/http"
)

// requestState is the request's context once the middleware has decided: the parent context
// with the decision and the identity on it. One allocation per request carries all of it,
// the default operation's bytes (opBuf) and the request passed on (req) included, so the
// request path allocates once, whether or not anything reads it.
type requestState struct {
	context.Context
	d  Decision
	id *Identity
	// op is the canonical operation ("" when refused); detail the refusal's message.
	op, detail string
	// status is the HTTP status the middleware answered, 0 when it passed the request on.
	status int
	opBuf  [opBufSize]byte
	// req is the request with this state as its context: the copy http.Request.WithContext
	// makes, kept here instead of in an allocation of its own (attach).
	req http.Request
}

// attach is r with st as its context, in st.req. WithContext is inlined and its own copy does
// not escape, so the only allocation is st's.
func (st *requestState) attach(r *http.Request) *http.Request {
	st.req = *r.WithContext(st)
	return &st.req
}

// opBufSize holds the operation of most requests ("METHOD SP path"); longer ones get a
// buffer of their own.
const opBufSize = 64

type stateKey struct{}

func (s *requestState) Value(key any) any {
	if _, ok := key.(stateKey); ok {
		return s
	}
	return s.Context.Value(key)
}

// FromContext returns the decision the middleware made for this request and the client's
// identity, from r.Context() in a handler behind Middleware or StoreMiddleware, or in a
// decision hook (WithDecisionHook). ok is false when the context has passed through neither.
// The identity is nil when there was no verified client certificate, and for the rare
// certificate the library could not read (then the decision's Err says why). Under WithXFCC it
// is the identity a trusted proxy forwarded (Leaf is nil, and it may be Partial). It belongs to
// the middleware's per-connection cache: use it, do not Close it.
func FromContext(ctx context.Context) (d Decision, id *Identity, ok bool) {
	s, ok := ctx.Value(stateKey{}).(*requestState)
	if !ok {
		return Decision{}, nil, false
	}
	return s.d, s.id, true
}
