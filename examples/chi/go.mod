module github.com/libmtlsauthz/mtlsauthz/examples/chi

go 1.21

require (
	github.com/go-chi/chi/v5 v5.2.3
	github.com/libmtlsauthz/mtlsauthz/bindings/go v0.0.0
)

// The binding from this tree (examples run against the tree's build).
replace github.com/libmtlsauthz/mtlsauthz/bindings/go => ../../bindings/go
