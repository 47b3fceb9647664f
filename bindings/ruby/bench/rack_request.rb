# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

# N requests through MtlsAuthz::Rack (no logger, no hook), for counting instructions, which a
# busy machine does not change as it changes times:
#
#   for n in 2000 12000; do
#     MTLSAUTHZ_LIB=$PWD/build/lib/libmtlsauthz.so.0 valgrind --tool=callgrind \
#         --callgrind-out-file=cg.$n ruby bindings/ruby/bench/rack_request.rb allow $n
#   done
#   # instructions per request: (totals of cg.12000 - totals of cg.2000) / 10000
#
# `allow` sends POST /images/build as the builder (passed on to the app), `deny` POST
# /containers/abc/exec (answered 403). CERT: the builder's PEM (default: generated).
$LOAD_PATH.unshift File.expand_path("../lib", __dir__)
require "mtlsauthz"
require "openssl"
require "tmpdir"

top = File.expand_path("../../..", __dir__)
cert = ENV["CERT"]
unless cert
  dir = Dir.mktmpdir("mtlsauthz-bench")
  at_exit { FileUtils.rm_rf(dir) }
  system(File.join(top, "tests/certs/gen-certs.sh"), dir, out: File::NULL, exception: true)
  cert = File.join(dir, "builder.pem")
end
kind = ARGV.fetch(0)
n = Integer(ARGV.fetch(1))
policy = MtlsAuthz::Policy.load_file(File.join(top, "examples/policy.yaml"))
mw = MtlsAuthz::Rack.new(->(_env) { [200, {}, ["ok\n"]] }, policy: policy)
path, want = kind == "allow" ? ["/images/build", 200] : ["/containers/abc/exec", 403]
env = { "REQUEST_METHOD" => "POST", "SCRIPT_NAME" => "", "PATH_INFO" => path,
        "REMOTE_ADDR" => "127.0.0.1",
        "puma.peercert" => OpenSSL::X509::Certificate.new(File.read(cert)) }
raise "expected #{want}" unless mw.call(env)[0] == want

200.times { mw.call(env) } # warm: the identity cache, the interned decisions and bodies
i = 0
while i < n
  mw.call(env)
  i += 1
end
