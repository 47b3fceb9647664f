// SPDX-License-Identifier: Apache-2.0

// Command mtlsauthz-envoy is an Envoy external authorization (ext_authz) gRPC server that
// decides every request with a libmtlsauthz policy:
//
//	mtlsauthz-envoy --policy policy.yaml --listen unix:/run/mtlsauthz/envoy.sock
//
// Flags, and the set-up with Envoy and Istio, are in bindings/envoy/README.md.
package main

import (
	"os"

	mtlsauthzenvoy "github.com/libmtlsauthz/mtlsauthz/bindings/envoy"
)

func main() {
	os.Exit(mtlsauthzenvoy.Main(os.Args[1:], os.Stderr))
}
