// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

import "net/http"

// RefusalBody is the body of a refusal of the HTTP contract (docs/http.md, "Status codes and
// bodies"), byte for byte as the middleware writes it: {"error","reason","rule"} and a newline,
// for a request refused with status (401, 400 or 403) and decision d (its Reason and Rule; a
// Rule of "" is null). Servers built on this package that answer for a proxy, such as the
// Envoy ext_authz server (bindings/envoy), answer with it.
func RefusalBody(status int, d Decision) string {
	switch status {
	case http.StatusUnauthorized:
		return string(bodyUnauthorized)
	case http.StatusBadRequest:
		return string(bodyBadRequest)
	}
	return string(forbiddenBody(d.Reason, d.Rule))
}
