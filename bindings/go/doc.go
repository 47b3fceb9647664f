// SPDX-License-Identifier: Apache-2.0

// Package mtlsauthz enforces libmtlsauthz policies in Go servers that use mutual TLS.
//
// TLS says who the client is; the policy says what it may do. The package is a thin cgo shim
// over the C library (linked with `#cgo pkg-config: mtlsauthz`): every decision, the
// canonical HTTP operation and every reason code come from the C core, and the Go side holds
// no policy logic.
//
//	p, err := mtlsauthz.LoadPolicyFile("policy.yaml")
//	...
//	r := chi.NewRouter()
//	r.Use(mtlsauthz.Middleware(p))
//
// The middleware keeps the HTTP contract of docs/http.md (the answers, the decision log
// written through log/slog with WithLogger); handlers find the decision and the identity
// with FromContext, and WithDecisionHook sees every decision (the mtlsauthzprom module
// counts them for Prometheus).
//
// For hot reload, keep the policy in a Store and use StoreMiddleware, with Store.WatchFile
// (Kubernetes ConfigMap updates included) or Store.WatchSIGHUP; to refuse the TLS handshake
// itself, set tls.Config.VerifyConnection to VerifyConnection(store, "connect").
//
// Identities come only from tls.ConnectionState.VerifiedChains[0], never from
// PeerCertificates. The per-connection work (reading the certificate and resolving it
// against a policy) is done once per connection and policy; each request then costs one
// cgo call that matches the operation.
package mtlsauthz
