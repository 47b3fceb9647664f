# frozen_string_literal: true

require_relative "lib/mtlsauthz/version"

Gem::Specification.new do |s|
  s.name = "mtlsauthz"
  s.version = MtlsAuthz::VERSION
  s.summary = "Mutual-TLS identity authorization: least-privilege policies for verified peers"
  s.description = <<~DESC
    Ruby binding (FFI) for libmtlsauthz: load a YAML policy, read identities from verified
    client certificates, and authorize operations. Includes MtlsAuthz::Rack, a Rack
    middleware for Grape and any Rack app under Puma (or behind a TLS-terminating proxy).
    Needs the libmtlsauthz shared library (found via MTLSAUTHZ_LIB, pkg-config, or the
    system library path).
  DESC
  s.authors = ["libmtlsauthz authors"]
  s.files = Dir[File.join(__dir__, "lib/**/*.rb")].map { |f| f.delete_prefix("#{__dir__}/") } +
            ["README.md"]
  s.require_paths = ["lib"]
  s.required_ruby_version = ">= 2.7"
  s.add_dependency "ffi", ">= 1.15"
  s.add_development_dependency "grape", ">= 1.6"
  s.add_development_dependency "minitest", ">= 5"
  s.add_development_dependency "puma", ">= 5"
  s.add_development_dependency "rack-test", ">= 1"
end
