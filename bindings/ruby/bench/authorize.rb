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
# Runs ROUNDS rounds (ENV["ROUNDS"], default 5, at least 5) of N calls each (N = ENV["N"] or
# 1,000,000; the middleware rounds are N/10 requests) and prints, in ns per call, each round's
# wall-clock time, their median (p50) and best, and the median in this thread's CPU time (the
# steadier one on a busy machine). The last lines check the target of docs/performance.md,
# "Ruby binding": authorize's p50 <= max(400 ns, 2 x the bare ffi call's p50 in the same run).
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

ROUNDS = [Integer(ENV.fetch("ROUNDS", "5")), 5].max

def median(xs)
  s = xs.sort
  s.size.odd? ? s[s.size / 2] : (s[(s.size / 2) - 1] + s[s.size / 2]) / 2.0
end

# {wall: [ns per call, one a round], cpu: [...]}
def measure(n)
  wall = []
  cpu = []
  ROUNDS.times do
    w0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    c0 = Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID)
    i = 0
    while i < n
      yield
      i += 1
    end
    c1 = Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID)
    w1 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    wall << (w1 - w0) * 1e9 / n
    cpu << (c1 - c0) * 1e9 / n
  end
  { wall: wall, cpu: cpu }
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

puts "ruby #{RUBY_VERSION}, ffi #{FFI::VERSION}, libmtlsauthz #{MtlsAuthz.library_version}, " \
     "N=#{n}, #{ROUNDS} rounds"
empty = measure(n) {}

rows = [
  ["empty loop (overhead, included)", empty],
  ["bare ffi call (String arg)", bare],
  ["authorize, cached identity, allow", allow],
  ["authorize, cached identity, deny", deny],
  ["Rack middleware, allow", rack_allow],
  ["Rack middleware, deny (403)", rack_deny],
  ["Rack middleware, allow, hook", rack_hook]
]
printf("%-35s %7s %7s %7s  %s\n", "(ns per call)", "p50", "best", "p50 cpu", "wall, each round")
rows.each do |label, m|
  printf("%-35s %7.0f %7.0f %7.0f  %s\n", label, median(m[:wall]), m[:wall].min,
         median(m[:cpu]), m[:wall].map { |x| format("%.0f", x) }.join(" "))
end

# Checked on wall-clock time, and on CPU time, which a busy machine disturbs less.
ok = true
%i[wall cpu].each do |clock|
  bare_p50 = median(bare[clock])
  limit = [400, 2 * bare_p50].max
  [["allow", allow], ["deny", deny]].each do |name, m|
    p50 = median(m[clock])
    held = p50 <= limit
    ok &&= held || clock == :cpu
    printf("target (%s): authorize %s p50 %.0f ns <= max(400, 2 x bare ffi p50 %.0f) = %.0f: %s\n",
           clock, name, p50, bare_p50, limit, held ? "holds" : "DOES NOT HOLD")
  end
end
puts "target: #{ok ? 'holds' : 'does not hold'} (wall clock) in this run"
