// SPDX-License-Identifier: Apache-2.0

package mtlsauthzenvoy

import (
	"context"
	"log/slog"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// log writes the decision-log record of st (docs/http.md, "The decision log"), when the
// logger is enabled for its level; nothing is built otherwise.
func (s *Server) log(ctx context.Context, st *checkState, req *authv3.CheckRequest) {
	if st.certErr != nil && s.logger.Enabled(ctx, slog.LevelWarn) {
		// Why the certificate was refused has no key in the decision record; it gets its own.
		s.logger.LogAttrs(ctx, slog.LevelWarn, "mtlsauthz-envoy: source.certificate refused",
			slog.String("err", st.certErr.Error()),
			nullable("remote", remoteAddress(req.GetAttributes().GetSource().GetAddress())))
	}
	level := slog.LevelInfo
	if st.status != 0 || st.d.DryRunCount > 0 {
		level = slog.LevelWarn
	}
	if !s.logger.Enabled(ctx, level) {
		return
	}
	s.logger.LogAttrs(ctx, level, "mtlsauthz", decisionRecord(st, req)...)
}

// noDryRun is the dry_run of a decision without matches: an empty list, never null.
var noDryRun = []string{}

// decisionRecord is the record of docs/http.md: every key present, in its order, null when
// it has no value. remote is the client's address as Envoy saw it (attributes.source.address).
func decisionRecord(st *checkState, req *authv3.CheckRequest) []slog.Attr {
	d := &st.d
	decision := "deny"
	if st.status == 0 {
		decision = "allow"
	}
	dryRun := noDryRun
	if len(d.DryRun) > 0 {
		dryRun = d.DryRun
	}
	var spiffeID, subject, issuer, serial, sha256 string
	if id := st.id; id != nil {
		spiffeID, subject, issuer = id.SPIFFEID(), id.SubjectDN(), id.IssuerDN()
		serial, sha256 = id.Serial(), id.SHA256()
	}
	hasID := st.id != nil
	status := slog.Any("status", nil)
	if st.status != 0 {
		status = slog.Int("status", st.status)
	}
	return []slog.Attr{
		slog.String("decision", decision),
		slog.String("reason", d.Reason),
		nullable("rule", d.Rule),
		slog.Any("dry_run", dryRun),
		nullable("operation", st.op),
		status,
		// A SPIFFE ID is never empty: "" is a certificate without one.
		nullable("spiffe_id", spiffeID),
		nullableIf("subject", subject, hasID),
		nullableIf("issuer", issuer, hasID),
		nullableIf("serial", serial, hasID),
		nullableIf("sha256", sha256, hasID),
		nullable("remote", remoteAddress(req.GetAttributes().GetSource().GetAddress())),
		nullableIf("detail", st.detail, st.status == 400),
	}
}

// nullable is key: v, or key: null for "" (slog's JSON handler writes a nil any as null).
func nullable(key, v string) slog.Attr {
	return nullableIf(key, v, v != "")
}

func nullableIf(key, v string, ok bool) slog.Attr {
	if !ok {
		return slog.Any(key, nil)
	}
	return slog.String(key, v)
}
