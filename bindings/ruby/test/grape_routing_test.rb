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
      - id: no-secrets
        effect: deny
        principals: ["*"]
        operations: ["GET /containers/*/secrets"]
  YAML

  APP = <<~RUBY
    require "mtlsauthz"
    require "grape"
    class RoutingAPI < Grape::API
      get("containers/:id/secrets") { warn "HANDLER RAN secrets \#{params[:id]}"; "s3cr3t" }
      get("containers/:id/status") { warn "HANDLER RAN status \#{params[:id]}"; "running" }
    end
    use MtlsAuthz::Rack, policy: ENV.fetch("TEST_POLICY")
    run RoutingAPI
  RUBY

  def self.servers
    @servers ||= {}
  end

  Minitest.after_run { servers.each_value(&:stop) }

  def server
    self.class.servers[:default] ||= begin
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
                        env: child_env.merge("TEST_POLICY" => File.join(dir, "policy.yaml")),
                        log_path: File.join(dir, "puma.log"))
    end
  end

  # [status, what the handlers logged while the request ran]
  def request(method, path, cert: "ops")
    s = server
    before = s.log.bytesize
    status, body = curl(s.port, path, cert: cert, method: method, certs: TestSupport.certs)
    [status, s.log.byteslice(before..).scan(/HANDLER RAN .*/), body]
  end

  # Grape runs the GET handler for HEAD: a deny on GET holds for HEAD.
  def test_head_is_decided_as_get
    status, ran, body = request("GET", "/containers/x/secrets")
    assert_equal [403, []], [status, ran], body
    status, ran = request("HEAD", "/containers/x/secrets")
    assert_equal [403, []], [status, ran], "HEAD must not reach the GET handler"
    # An allowed HEAD still reaches the GET handler.
    status, ran = request("HEAD", "/containers/x/status")
    assert_equal [200, ["HANDLER RAN status x"]], [status, ran]
  end
end
