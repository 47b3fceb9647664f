# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

# `make gem` builds build/mtlsauthz-X.Y.Z.gem from a copy of this directory that also holds
# the top-level LICENSE (bindings/ruby/ruby.mk); README.md, "Install", says how to use it.
require_relative "lib/mtlsauthz/version"

Gem::Specification.new do |s|
  s.name = "mtlsauthz"
  s.version = MtlsAuthz::VERSION
  s.summary = "Mutual-TLS identity authorization: least-privilege policies for verified peers"
  s.description = <<~DESC
    Ruby binding (FFI) for libmtlsauthz: load a YAML policy, read identities from verified
    client certificates, and authorize operations. Includes MtlsAuthz::Rack, a Rack
    middleware for Grape and any Rack app under Puma (or behind a TLS-terminating proxy).
    Needs the libmtlsauthz shared library, libmtlsauthz.so.0 (Debian: libmtlsauthz0), found
    via MTLSAUTHZ_LIB, pkg-config or the system library path.
  DESC
  s.authors = ["libmtlsauthz authors"]
  s.license = "Apache-2.0"
  s.homepage = "https://github.com/libmtlsauthz/mtlsauthz"
  s.metadata = {
    "homepage_uri" => s.homepage,
    "source_code_uri" => "https://github.com/libmtlsauthz/mtlsauthz/tree/main/bindings/ruby",
    "changelog_uri" => "https://github.com/libmtlsauthz/mtlsauthz/blob/main/CHANGELOG.md",
    "bug_tracker_uri" => "https://github.com/libmtlsauthz/mtlsauthz/issues",
    "rubygems_mfa_required" => "true"
  }
  s.files = Dir.glob("lib/**/*.rb", base: __dir__).sort + %w[README.md LICENSE]
  s.require_paths = ["lib"]
  s.required_ruby_version = ">= 2.7"
  # Debian 12 has ruby-ffi 1.15.5.
  s.add_dependency "ffi", ">= 1.15", "< 2"
  # MtlsAuthz::Rack needs no part of the rack gem (a middleware is an object with #call), so
  # rack is not a runtime dependency; the application's Gemfile names it (README.md, "Install").
  s.add_development_dependency "grape", ">= 1.6", "< 3"
  s.add_development_dependency "minitest", ">= 5", "< 6"
  s.add_development_dependency "puma", ">= 5", "< 7"
  s.add_development_dependency "rack", ">= 2.2", "< 4"
  s.add_development_dependency "rack-test", ">= 1", "< 3"
end
