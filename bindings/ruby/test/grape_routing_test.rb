# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

require_relative "test_helper"

# Attack tests over real Puma, Grape and mutual TLS: requests that Grape routes to a handler
# in a form other than the operation a deny rule names (docs/policy.md, "HTTP operations").
# The policy is the recommended shape: a broad allow to ops, and narrower denies to everyone.
# Every handler logs that it ran, so a test can prove a denied request never reached it.
class GrapeRoutingTest < Minitest::Test
  include TestSupport
  include CurlSupport

  POLICY = <<~YAML
    version: 1
    protocol: http
    principals:
      - name: ops
        o: [Example Corp]
        ou: [ops, sre]
    rules:
      - id: ops-containers
        effect: allow
        principals: [ops]
        operations: ["* /containers/**"]
      - id: report
        effect: allow
        principals: [ops]
        operations: ["GET /files/report.pdf"]
      - id: no-secrets
        effect: deny
        principals: ["*"]
        operations: ["GET /containers/*/secrets"]
      - id: no-exec
        effect: deny
        principals: ["*"]
        operations: ["POST /containers/*/exec"]
  YAML

  # No `format` declared, so Grape compiles each route with "(.:format)": the widest set of
  # suffixes (an API with `format :json` routes a subset of them, see format_suffix_test.rb).
  APP = <<~RUBY
    require "mtlsauthz"
    require "grape"
    require "logger"
    class RoutingAPI < Grape::API
      get("containers/:id/secrets") { warn "HANDLER RAN secrets \#{params[:id]}"; "s3cr3t" }
      get("containers/:id/status") { warn "HANDLER RAN status \#{params[:id]}"; "running" }
      post("containers/:id/exec") do
        warn "HANDLER RAN exec \#{params[:id]} format=\#{params[:format].inspect}"
        "exec started"
      end
      get("files/:name") { warn "HANDLER RAN files \#{params[:name]}"; "file" }
    end
    options = { policy: ENV.fetch("TEST_POLICY"), logger: Logger.new($stderr) }
    options[:format_suffix] = false if ENV["TEST_FORMAT_SUFFIX"] == "off"
    use MtlsAuthz::Rack, **options
    run RoutingAPI
  RUBY

  def self.servers
    @servers ||= {}
  end

  Minitest.after_run { servers.each_value(&:stop) }

  def server(format_suffix: "on")
    self.class.servers[format_suffix] ||= begin
      dir = Dir.mktmpdir("mtlsauthz-routing")
      File.write(File.join(dir, "policy.yaml"), POLICY)
      File.write(File.join(dir, "config.ru"), APP)
      File.write(File.join(dir, "puma.rb"), <<~RUBY)
        ssl_bind "127.0.0.1", "0", cert: #{cert_path('server-chain.pem').inspect},
                 key: #{cert_path('server.key').inspect}, ca: #{cert_path('ca.pem').inspect},
                 verify_mode: "force_peer"
        rackup #{File.join(dir, 'config.ru').inspect}
        threads 1, 4
        environment "test"
      RUBY
      PumaProcess.start(["puma", "-C", File.join(dir, "puma.rb")],
                        env: child_env.merge("TEST_POLICY" => File.join(dir, "policy.yaml"),
                                             "TEST_FORMAT_SUFFIX" => format_suffix),
                        log_path: File.join(dir, "puma.log"))
    end
  end

  # [status, what the handlers logged while the request ran, body, the whole log meanwhile]
  def request(method, path, cert: "ops", format_suffix: "on")
    s = server(format_suffix: format_suffix)
    before = s.log.bytesize
    status, body = curl(s.port, path, cert: cert, method: method, certs: TestSupport.certs)
    log = s.log.byteslice(before..)
    [status, log.scan(/HANDLER RAN .*/), body, log]
  end

  # Each of these reaches the exec handler in Grape (format_suffix_test.rb proves it without the
  # middleware); as sent, none is the operation the deny names.
  SUFFIXED_EXEC = ["exec.json", "exec.xml", "exec.JSON", "exec.foo", "exec.json/", "exec%2Ejson",
                   "exec.%6Ason", "exec.json%2Ejson", "exec%2E%2Ejson", "exec.a%20b"].freeze

  # Grape runs the GET handler for HEAD: a deny on GET holds for HEAD.
  def test_head_is_decided_as_get
    status, ran, body = request("GET", "/containers/x/secrets")
    assert_equal [403, []], [status, ran], body
    status, ran = request("HEAD", "/containers/x/secrets")
    assert_equal [403, []], [status, ran], "HEAD must not reach the GET handler"
    status, ran = request("HEAD", "/containers/x/secrets.json") # and with a format suffix
    assert_equal [403, []], [status, ran]
    # An allowed HEAD still reaches the GET handler.
    status, ran = request("HEAD", "/containers/x/status")
    assert_equal [200, ["HANDLER RAN status x"]], [status, ran]
  end

  # Grape routes ".../exec.json" to the exec handler; the deny on ".../exec" holds for it.
  def test_format_suffix_does_not_reach_a_denied_handler
    status, ran = request("POST", "/containers/abc/exec")
    assert_equal [403, []], [status, ran]
    results = SUFFIXED_EXEC.map { |seg| [seg, *request("POST", "/containers/abc/#{seg}")] }
    # One line per form, so a failure shows each one's status and whether the handler ran.
    assert_equal SUFFIXED_EXEC.map { |seg| "#{seg} 403 []" }.join("\n"),
                 results.map { |seg, status, ran| "#{seg} #{status} #{ran}" }.join("\n")
    results.each do |seg, _status, _ran, body, log|
      assert_equal %({"error":"forbidden","reason":"denied","rule":"no-exec"}\n), body, seg
      sent = MtlsAuthz.http_operation("POST", "/containers/abc/#{seg}")
      assert_includes log, 'decision="deny" reason="denied" rule="no-exec" dry_run=[] ' \
                           "operation=#{JSON.generate(sent)} status=403", seg
    end
  end

  # An allow needs the operation as sent: an exact grant works, and a suffix widens nothing.
  def test_format_suffix_keeps_exact_grants_and_widens_no_allow
    status, ran = request("GET", "/files/report.pdf")
    assert_equal [200, ["HANDLER RAN files report"]], [status, ran]
    ["/files/report", "/files/report.txt", "/files/report.pdf.txt"].each do |path|
      status, ran, body = request("GET", path)
      assert_equal [403, []], [status, ran], path
      assert_equal "no_match", JSON.parse(body)["reason"], path
    end
    status, ran = request("GET", "/containers/abc/status.json")
    assert_equal [200, ["HANDLER RAN status abc"]], [status, ran]
  end

  # format_suffix: false decides the operation as sent only (for apps without format routes).
  def test_format_suffix_off_decides_as_sent_only
    status, ran = request("POST", "/containers/abc/exec", format_suffix: "off")
    assert_equal [403, []], [status, ran]
    status, ran = request("POST", "/containers/abc/exec.json", format_suffix: "off")
    assert_equal [201, ['HANDLER RAN exec abc format="json"']], [status, ran]
  end
end
