module github.com/libmtlsauthz/mtlsauthz/bindings/envoy

go 1.23.0

require (
	github.com/envoyproxy/go-control-plane/envoy v1.36.0
	github.com/libmtlsauthz/mtlsauthz/bindings/go v0.0.0
	github.com/libmtlsauthz/mtlsauthz/bindings/go/mtlsauthzprom v0.0.0
	github.com/prometheus/client_golang v1.23.2
	google.golang.org/genproto/googleapis/rpc v0.0.0-20250728155136-f173205681a0
	google.golang.org/grpc v1.75.1
	google.golang.org/protobuf v1.36.10
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/cncf/xds/go v0.0.0-20250501225837-2ac532fd4443 // indirect
	github.com/envoyproxy/protoc-gen-validate v1.2.1 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/planetscale/vtprotobuf v0.6.1-0.20240319094008-0393e58bdf10 // indirect
	github.com/prometheus/client_model v0.6.2 // indirect
	github.com/prometheus/common v0.66.1 // indirect
	github.com/prometheus/procfs v0.16.1 // indirect
	go.yaml.in/yaml/v2 v2.4.2 // indirect
	golang.org/x/net v0.43.0 // indirect
	golang.org/x/sys v0.35.0 // indirect
	golang.org/x/text v0.28.0 // indirect
)

// The binding and its metrics module from this tree: this module is versioned and tested
// with them.
replace (
	github.com/libmtlsauthz/mtlsauthz/bindings/go => ../go
	github.com/libmtlsauthz/mtlsauthz/bindings/go/mtlsauthzprom => ../go/mtlsauthzprom
)
