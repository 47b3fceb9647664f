# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

require_relative "test_helper"
require "openssl"

# The shared HTTP-contract fixture (tests/data/http-contract/cases.json, docs/http.md) over
# real mutual TLS: Puma verifies the client certificates (verify_mode "peer", so a client
# without one gets in and is answered 401), MtlsAuthz::Rack guards an app that answers 200
# "ok\n", and its decision log is JSON (MtlsAuthz::JSONFormatter). Every case: the exact
# status, the exact body bytes, the headers of a refusal, and the log record key by key.
class HTTPContractTest < Minitest::Test
  include TestSupport

  FIXTURE = File.join(TOP, "tests/data/http-contract/cases.json")
  REFUSAL_HEADERS = { "content-type" => "application/json", "cache-control" => "no-store",
                      "x-content-type-options" => "nosniff" }.freeze

  # The subjects as the library prints them (RFC 2253, what `dn:` patterns match), written out
  # rather than read through the code under test; never OpenSSL's "/O=.../CN=..." order.
  SUBJECTS = { "plain" => "CN=plain", "builder" => "CN=builder,O=Example Corp",
               "ops" => "CN=alice,OU=ops,O=Example Corp",
               "nul-cn" => "CN=admin\\00.evil.com,O=Example Corp",
               "spiffe-two-uri" => "CN=spiffe-two-uri" }.freeze
  ISSUER = "CN=mtlsauthz Test Intermediate CA,O=Example Corp"

  APP = <<~RUBY
    require "mtlsauthz"
    require "logger"
    # An IO, not a path: given a path, Logger starts a new file with a "# Logfile created" line.
    io = File.open(ENV.fetch("DECISION_LOG"), "a").tap { |f| f.sync = true }
    logger = Logger.new(io, formatter: MtlsAuthz::JSONFormatter.new)
    use MtlsAuthz::Rack, policy: ENV.fetch("TEST_POLICY"), logger: logger, log_format: :json
    run ->(_env) { [200, { "content-type" => "text/plain" }, ["ok\\n"]] }
  RUBY

  def self.server
    @server ||= begin
      dir = Dir.mktmpdir("mtlsauthz-contract")
      certs = TestSupport.certs
      File.write(File.join(dir, "config.ru"), APP)
      File.write(File.join(dir, "puma.rb"), <<~RUBY)
        ssl_bind "127.0.0.1", "0", cert: #{File.join(certs, 'server-chain.pem').inspect},
                 key: #{File.join(certs, 'server.key').inspect},
                 ca: #{File.join(certs, 'ca.pem').inspect}, verify_mode: "peer"
        rackup #{File.join(dir, 'config.ru').inspect}
        threads 1, 4
        environment "test"
      RUBY
      log = File.join(dir, "decisions.log")
      policy = File.join(TOP, JSON.parse(File.read(FIXTURE)).fetch("policy"))
      env = { "MTLSAUTHZ_LIB" => MtlsAuthz.library_path,
              "RUBYLIB" => File.join(TOP, "bindings/ruby/lib"),
              "TEST_POLICY" => policy, "DECISION_LOG" => log }
      s = PumaProcess.start(["puma", "-C", File.join(dir, "puma.rb")], env: env,
                            log_path: File.join(dir, "puma.log"))
      [s, log]
    end
  end

  Minitest.after_run { @server&.first&.stop }

  # [status, headers (lowercase names), body bytes] of one request, made with curl exactly as
  # the case says (--path-as-is: curl must not resolve the target's dot segments itself).
  def request(port, c)
    Dir.mktmpdir do |tmp|
      head = File.join(tmp, "head")
      body = File.join(tmp, "body")
      args = ["curl", "-sS", "--path-as-is", "--max-time", "20",
              "--cacert", cert_path("ca.pem"), "-D", head, "-o", body, "-w", "%{http_code}"]
      args += c["method"] == "HEAD" ? ["--head"] : ["-X", c["method"]]
      if c["cert"]
        dir, name = client_cert(c["cert"])
        args += ["--cert", File.join(dir, "#{name}-chain.pem"),
                 "--key", File.join(dir, "#{name}.key")]
      end
      args << "https://localhost:#{port}#{c['target']}"
      out, err, st = Open3.capture3(*args)
      assert st.success?, "#{c['name']}: curl failed: #{err}"
      headers = File.read(head).lines.drop(1).map(&:strip).reject(&:empty?).to_h do |l|
        k, v = l.split(":", 2)
        [k.downcase, v.strip]
      end
      # A response to HEAD has no body (RFC 9110, 9.3.2): curl --head reads none, and writes
      # the headers where -o points.
      [Integer(out), headers, c["method"] == "HEAD" ? "".b : File.binread(body)]
    end
  end

  # [directory, name] of the fixture's certificate NAME, from gen-certs.sh.
  def client_cert(name)
    [TestSupport.certs, name]
  end

  # The log records written so far.
  def records(log)
    File.exist?(log) ? File.readlines(log).map { |l| JSON.parse(l) } : []
  end

  def test_every_case_over_real_mtls
    server, log = self.class.server
    fixture = JSON.parse(File.read(FIXTURE))
    assert_operator fixture["cases"].size, :>=, 10
    fixture["cases"].each do |c|
      name = c["name"]
      before = records(log).size
      status, headers, body = request(server.port, c)
      assert_equal c["status"], status, name
      assert_equal c["body"].b, body, name
      REFUSAL_HEADERS.each { |k, v| assert_equal v, headers[k], "#{name}: #{k}" } if status >= 400
      assert_equal body.bytesize.to_s, headers["content-length"], name if status >= 400

      # The record is written before the answer is sent: it is there now.
      recs = records(log)
      assert_equal before + 1, recs.size, "#{name}: one record per request"
      rec = recs.last
      assert_equal %w[time level pid msg] + MtlsAuthz::HTTPContract::RECORD_KEYS, rec.keys, name
      want_level = rec["decision"] == "deny" || !rec["dry_run"].empty? ? "WARN" : "INFO"
      assert_equal want_level, rec["level"], name
      want = { "remote" => "127.0.0.1", "subject" => SUBJECTS[c["cert"]],
               "issuer" => c["cert"] && ISSUER, "serial" => nil, "sha256" => nil,
               "spiffe_id" => nil }
      if c["cert"]
        pem = File.read("#{File.join(*client_cert(c['cert']))}.pem")
        id = MtlsAuthz::Identity.from_pem(pem)
        der = OpenSSL::X509::Certificate.new(pem).to_der
        want.merge!("serial" => id.serial, "spiffe_id" => id.spiffe_id,
                    "sha256" => OpenSSL::Digest::SHA256.hexdigest(der))
      end
      want.merge!(c["log"]) # the fixture's keys, each as it says
      assert_equal want, rec.slice(*want.keys), name
    end
  end
end
