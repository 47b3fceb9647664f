module github.com/libmtlsauthz/mtlsauthz/bench/http/go

go 1.21

require (
	github.com/go-chi/chi/v5 v5.2.3
	github.com/libmtlsauthz/mtlsauthz/bindings/go v0.0.0
)

// The binding from this tree (the benchmark runs against the tree's build).
replace github.com/libmtlsauthz/mtlsauthz/bindings/go => ../../../bindings/go
