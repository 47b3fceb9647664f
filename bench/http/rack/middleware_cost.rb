# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

# Where MtlsAuthz::Rack's time goes on one request, in-process (no server, no TLS): the CPU
# time per call of the bare app, of each step the middleware takes for a Puma request
# (the certificate's DER, its SHA-256 for the identity cache key, the HTTP operation), and of
# a whole GET /healthz through the middleware with a fresh env, as Puma makes one per request.
# CPU time, so a busy machine changes it less than wall time. docs/performance.md,
# "Whole requests".
#
#   MTLSAUTHZ_LIB=$PWD/build/lib/libmtlsauthz.so.0 ruby bench/http/rack/middleware_cost.rb \
#       build/test-certs/builder.pem [N]
$LOAD_PATH.unshift File.expand_path("../../../bindings/ruby/lib", __dir__)
require "mtlsauthz"
require "openssl"
require "digest"

cert = OpenSSL::X509::Certificate.new(File.read(ARGV.fetch(0)))
n = Integer(ARGV.fetch(1, "100000"))
policy = MtlsAuthz::Policy.load_file(File.expand_path("../../../examples/policy.yaml", __dir__))
app = ->(_env) { [200, {}, ["ok\n"]] }
mw = MtlsAuthz::Rack.new(app, policy: policy)
env_for = lambda do
  { "REQUEST_METHOD" => "GET", "SCRIPT_NAME" => "", "PATH_INFO" => "/healthz",
    "REMOTE_ADDR" => "127.0.0.1", "puma.peercert" => cert }
end
raise "expected 200" unless mw.call(env_for.call)[0] == 200

cpu = -> { Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) }
measure = lambda do |name, &blk|
  GC.start
  gcs = GC.count
  t0 = cpu.call
  n.times(&blk)
  printf("%-42s %7.2f us/call  (%d GC runs)\n", name, (cpu.call - t0) * 1e6 / n, GC.count - gcs)
end
3.times do
  measure.call("app alone, fresh env") { app.call(env_for.call) }
  measure.call("cert.to_der") { cert.to_der }
  measure.call("SHA-256 of cert.to_der") { Digest::SHA256.digest(cert.to_der) }
  measure.call("MtlsAuthz.http_operation") { MtlsAuthz.http_operation("GET", "/healthz") }
  measure.call("middleware + app, fresh env") { mw.call(env_for.call) }
end
