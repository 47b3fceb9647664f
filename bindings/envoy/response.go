// SPDX-License-Identifier: Apache-2.0

package mtlsauthzenvoy

import (
	"strings"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	mtlsauthz "github.com/libmtlsauthz/mtlsauthz/bindings/go"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"
)

// Envoy allows a request when CheckResponse.status is OK and denies it for any other code,
// answering the client with DeniedHttpResponse (status, headers and body). The code of a
// refusal says which one it is, for whoever reads the gRPC side: UNAUTHENTICATED for a 401,
// INVALID_ARGUMENT for a 400, PERMISSION_DENIED for a 403.
var (
	statusOK           = &rpcstatus.Status{Code: int32(codes.OK)}
	statusUnauthorized = &rpcstatus.Status{Code: int32(codes.Unauthenticated), Message: mtlsauthz.ReasonNoIdentity}
	statusBadRequest   = &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: mtlsauthz.ReasonBadTarget}
)

// The refusal headers of docs/http.md ("Status codes and bodies"), replacing any that Envoy's
// local reply would set. Shared by every response: nothing writes to them.
var refusalHeaders = []*corev3.HeaderValueOption{
	refusalHeader("content-type", "application/json"),
	refusalHeader("cache-control", "no-store"),
	refusalHeader("x-content-type-options", "nosniff"),
}

func refusalHeader(k, v string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: k, Value: v},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

// response is the CheckResponse for st: OkHttpResponse for an allow, DeniedHttpResponse with
// the contract's status, headers and body for a refusal, and the decision as dynamic metadata
// in both (for Envoy's access log: %DYNAMIC_METADATA(envoy.filters.http.ext_authz:reason)%).
func response(st *checkState) *authv3.CheckResponse {
	r := &authv3.CheckResponse{DynamicMetadata: metadata(st)}
	if st.status == 0 {
		r.Status = statusOK
		r.HttpResponse = &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}}
		return r
	}
	var code typev3.StatusCode
	switch st.status {
	case 401:
		r.Status, code = statusUnauthorized, typev3.StatusCode_Unauthorized
	case 400:
		r.Status, code = statusBadRequest, typev3.StatusCode_BadRequest
	default:
		r.Status = &rpcstatus.Status{Code: int32(codes.PermissionDenied), Message: st.d.Reason}
		code = typev3.StatusCode_Forbidden
	}
	r.HttpResponse = &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
		Status:  &typev3.HttpStatus{Code: code},
		Headers: refusalHeaders,
		// The contract's bytes, from the Go binding: one place for them.
		Body: mtlsauthz.RefusalBody(st.status, st.d),
	}}
	return r
}

// metadata is the decision as a Struct: decision, reason, rule and spiffe_id, as in the
// decision log (a rule or SPIFFE ID that is absent is null).
func metadata(st *checkState) *structpb.Struct {
	decision := "deny"
	if st.status == 0 {
		decision = "allow"
	}
	spiffeID := ""
	if st.id != nil {
		spiffeID = st.id.SPIFFEID()
	}
	return &structpb.Struct{Fields: map[string]*structpb.Value{
		"decision":  structpb.NewStringValue(decision),
		"reason":    structpb.NewStringValue(st.d.Reason),
		"rule":      nullableValue(st.d.Rule),
		"spiffe_id": nullableValue(spiffeID),
	}}
}

var nullValue = structpb.NewNullValue()

// nullableValue is s, or null for "". A protobuf string must be UTF-8, so that the response
// can always be sent; rule ids and SPIFFE IDs are, and anything else is made so.
func nullableValue(s string) *structpb.Value {
	if s == "" {
		return nullValue
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return structpb.NewStringValue(s)
}
