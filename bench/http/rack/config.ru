# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

# The Rack app of `make bench-http` (docs/performance.md, "Whole requests"): one tiny
# response, behind MtlsAuthz::Rack when MTLSAUTHZ_BENCH_MIDDLEWARE=on and with nothing in
# front of it when it is "off". Everything else is the same in both modes.
$LOAD_PATH.unshift File.expand_path("../../../bindings/ruby/lib", __dir__)
# Puma 5 builds env["puma.peercert"] with OpenSSL::X509::Certificate without loading openssl
# itself (the gem loads it); loaded in both modes, so "off" serves the same requests.
require "openssl"

mode = ENV.fetch("MTLSAUTHZ_BENCH_MIDDLEWARE")
case mode
when "on"
  require "mtlsauthz"
  use MtlsAuthz::Rack, policy: ENV.fetch("MTLSAUTHZ_POLICY")
when "off"
  nil
else
  raise ArgumentError, "MTLSAUTHZ_BENCH_MIDDLEWARE must be on or off, not #{mode.inspect}"
end

BODY = ["ok\n"].freeze
HEADERS = { "content-type" => "text/plain", "content-length" => "3" }.freeze
run ->(_env) { [200, HEADERS.dup, BODY] }
