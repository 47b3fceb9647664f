# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

# Benchmark: Policy#authorize with a cached identity (the per-request cost in a server that
# keeps identities per certificate, as MtlsAuthz::Rack does), against a bare FFI call; and
# one request through MtlsAuthz::Rack (operation, certificate, identity cache, decision).
#
#   make bench-ruby
#   MTLSAUTHZ_LIB=$PWD/build/lib/libmtlsauthz.so.0 ruby bindings/ruby/bench/authorize.rb [CERT.pem]
#
# Without CERT it generates the test certificates (tests/certs/gen-certs.sh) into a temp dir.
# Prints ns per call, the best of 5 rounds of N calls each (N = ENV["N"] or 1,000,000; the
# middleware rounds are N/10 requests), in wall-clock time and in this thread's CPU time (the
# second is steadier on a busy machine).
$LOAD_PATH.unshift File.expand_path("../lib", __dir__)
require "mtlsauthz"
require "openssl"
require "tmpdir"

top = File.expand_path("../../..", __dir__)
cert = ARGV[0]
unless cert
  dir = Dir.mktmpdir("mtlsauthz-bench")
  at_exit { FileUtils.rm_rf(dir) }
  system(File.join(top, "tests/certs/gen-certs.sh"), dir, out: File::NULL, exception: true)
  cert = File.join(dir, "builder.pem")
end

n = Integer(ENV.fetch("N", "1000000"))
policy = MtlsAuthz::Policy.load_file(File.join(top, "examples/policy.yaml"))
id = MtlsAuthz::Identity.from_pem(File.read(cert))
allow_op = "POST /images/build"
deny_op = "POST /containers/abc/exec"
raise "expected allow" unless policy.authorize(id, allow_op).allowed?
raise "expected deny" if policy.authorize(id, deny_op).allowed?

# [wall ns, cpu ns] per call, each the best of 5 rounds.
def measure(n)
  wall = cpu = Float::INFINITY
  5.times do
    w0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    c0 = Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID)
    i = 0
    while i < n
      yield
      i += 1
    end
    c1 = Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID)
    w1 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    wall = [wall, w1 - w0].min
    cpu = [cpu, c1 - c0].min
  end
  [wall * 1e9 / n, cpu * 1e9 / n]
end

# A bare FFI call with a String argument and its length, for scale.
# (It returns at once: a NULL output is an invalid argument.)
bare = measure(n) do
  MtlsAuthz::Lib.mtlsauthz_identity_from_der(nil, allow_op, allow_op.bytesize, nil)
end
allow = measure(n) { policy.authorize(id, allow_op) }
deny = measure(n) { policy.authorize(id, deny_op) }

# One request through the middleware, as Puma hands it over: the verified certificate in
# puma.peercert (its identity cached after the first request), no logger.
app = ->(_env) { [200, {}, ["ok\n"]] }
mw = MtlsAuthz::Rack.new(app, policy: policy)
peercert = OpenSSL::X509::Certificate.new(File.read(cert))
env_for = lambda do |method, path|
  { "REQUEST_METHOD" => method, "SCRIPT_NAME" => "", "PATH_INFO" => path,
    "REMOTE_ADDR" => "127.0.0.1", "puma.peercert" => peercert }
end
allow_env = env_for.call("POST", "/images/build")
deny_env = env_for.call("POST", "/containers/abc/exec")
raise "expected 200" unless mw.call(allow_env)[0] == 200
raise "expected 403" unless mw.call(deny_env)[0] == 403

rack_allow = measure(n / 10) { mw.call(allow_env) }
rack_deny = measure(n / 10) { mw.call(deny_env) }
# With an on_decision hook (a counter, as a metrics hook is): each request builds its record.
counts = Hash.new(0)
hooked = MtlsAuthz::Rack.new(app, policy: policy,
                                  on_decision: ->(r) { counts[r["rule"]] += 1 })
rack_hook = measure(n / 10) { hooked.call(allow_env) }

puts "ruby #{RUBY_VERSION}, ffi #{FFI::VERSION}, libmtlsauthz #{MtlsAuthz.library_version}, N=#{n}"
empty = measure(n) {}

puts "#{' ' * 35}   wall     cpu  (ns per call)"
printf("empty loop (overhead, included):   %6.0f  %6.0f\n", *empty)
printf("bare ffi call (String arg):        %6.0f  %6.0f\n", *bare)
printf("authorize, cached identity, allow: %6.0f  %6.0f\n", *allow)
printf("authorize, cached identity, deny:  %6.0f  %6.0f\n", *deny)
printf("Rack middleware, allow:            %6.0f  %6.0f\n", *rack_allow)
printf("Rack middleware, deny (403):       %6.0f  %6.0f\n", *rack_deny)
printf("Rack middleware, allow, hook:      %6.0f  %6.0f\n", *rack_hook)
