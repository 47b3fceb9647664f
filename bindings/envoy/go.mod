module github.com/libmtlsauthz/mtlsauthz/bindings/envoy

go 1.24.0

require (
	github.com/envoyproxy/go-control-plane/envoy v1.36.0
	github.com/libmtlsauthz/mtlsauthz/bindings/go v0.0.0
	github.com/libmtlsauthz/mtlsauthz/bindings/go/mtlsauthzprom v0.0.0
	github.com/prometheus/client_golang v1.23.2
	google.golang.org/genproto/googleapis/rpc v0.0.0-20251213004720-97cd9d5aeac2
	google.golang.org/grpc v1.77.0
	google.golang.org/protobuf v1.36.11
	istio.io/api v1.32.0
	sigs.k8s.io/yaml v1.6.0
)

require (
	cel.dev/expr v0.24.0 // indirect
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/cncf/xds/go v0.0.0-20251022180443-0feb69152e9f // indirect
	github.com/envoyproxy/protoc-gen-validate v1.2.1 // indirect
	github.com/golang/protobuf v1.5.4 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/planetscale/vtprotobuf v0.6.1-0.20240319094008-0393e58bdf10 // indirect
	github.com/prometheus/client_model v0.6.2 // indirect
	github.com/prometheus/common v0.66.1 // indirect
	github.com/prometheus/procfs v0.16.1 // indirect
	go.yaml.in/yaml/v2 v2.4.2 // indirect
	golang.org/x/net v0.48.0 // indirect
	golang.org/x/sys v0.39.0 // indirect
	golang.org/x/text v0.32.0 // indirect
	google.golang.org/genproto/googleapis/api v0.0.0-20251213004720-97cd9d5aeac2 // indirect
)

// The binding and its metrics module from this tree: this module is versioned and tested
// with them.
replace (
	github.com/libmtlsauthz/mtlsauthz/bindings/go => ../go
	github.com/libmtlsauthz/mtlsauthz/bindings/go/mtlsauthzprom => ../go/mtlsauthzprom
)
