# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

# Where MtlsAuthz::Rack's time goes on one request, in-process (no server, no TLS): the CPU
# time per call of the bare app, of the parts of the middleware's work for a Puma request,
# and of a whole GET /healthz through the middleware, each with a fresh copy of an env shaped
# as Puma 5 makes one (its 29 keys; the same certificate object on every request, as on one
# kept-alive connection). CPU time, so a busy machine changes it less than wall time.
# docs/performance.md, "Whole requests".
#
#   MTLSAUTHZ_LIB=$PWD/build/lib/libmtlsauthz.so.0 ruby bench/http/rack/middleware_cost.rb \
#       build/test-certs/builder.pem [N]
#
# With a third argument, "app" or "middleware", it only makes N such calls, for an
# instruction count that does not depend on the machine's load (bench/http/rack/instructions.sh).
$LOAD_PATH.unshift File.expand_path("../../../bindings/ruby/lib", __dir__)
require "mtlsauthz"
require "openssl"
require "stringio"

cert = OpenSSL::X509::Certificate.new(File.read(ARGV.fetch(0)))
n = Integer(ARGV.fetch(1, "100000"))
only = ARGV[2]
policy = MtlsAuthz::Policy.load_file(File.expand_path("../../../examples/policy.yaml", __dir__))
app = ->(_env) { [200, {}, ["ok\n"]] }
mw = MtlsAuthz::Rack.new(app, policy: policy)
io = Object.new
puma_env = {
  "rack.version" => [1, 6], "rack.errors" => $stderr, "rack.multithread" => true,
  "rack.multiprocess" => false, "rack.run_once" => false, "rack.url_scheme" => "https",
  "SCRIPT_NAME" => "", "QUERY_STRING" => "", "SERVER_PROTOCOL" => "HTTP/1.1",
  "SERVER_SOFTWARE" => "puma 5.6.5", "GATEWAY_INTERFACE" => "CGI/1.2", "HTTPS" => "https",
  "REQUEST_METHOD" => "GET", "REQUEST_PATH" => "/healthz", "REQUEST_URI" => "/healthz",
  "HTTP_VERSION" => "HTTP/1.1", "HTTP_HOST" => "127.0.0.1:8443",
  "puma.request_body_wait" => 0, "SERVER_NAME" => "127.0.0.1", "SERVER_PORT" => "8443",
  "PATH_INFO" => "/healthz", "REMOTE_ADDR" => "127.0.0.1", "puma.socket" => io,
  "puma.peercert" => cert, "rack.hijack?" => true, "rack.hijack" => io,
  "rack.input" => StringIO.new, "rack.after_reply" => [], "puma.config" => io
}.freeze
raise "expected 200" unless mw.call(puma_env.dup)[0] == 200

if only
  target = { "app" => app, "middleware" => mw }.fetch(only)
  i = 0
  while i < n
    target.call(puma_env.dup)
    i += 1
  end
  exit
end

cpu = -> { Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) }
identity = MtlsAuthz::Identity.from_der(cert.to_der)
measure = lambda do |name, &blk|
  GC.start
  gcs = GC.count
  t0 = cpu.call
  n.times(&blk)
  printf("%-42s %7.2f us/call  (%d GC runs)\n", name, (cpu.call - t0) * 1e6 / n, GC.count - gcs)
end
3.times do
  measure.call("app alone, fresh env") { app.call(puma_env.dup) }
  measure.call("MtlsAuthz.http_operation (not kept)") { MtlsAuthz.http_operation("GET", "/healthz") }
  measure.call("Policy#authorize, cached identity") { policy.authorize(identity, "GET /healthz") }
  measure.call("middleware + app, fresh env") { mw.call(puma_env.dup) }
end
