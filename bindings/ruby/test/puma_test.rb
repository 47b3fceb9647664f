# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

require_relative "test_helper"
require "socket"

# Against a real Puma server: TLS on 127.0.0.1, client certificates verified by Puma
# (ssl_bind with ca: and verify_mode), driven by curl with real client certificates.
class PumaServerTest < Minitest::Test
  include TestSupport
  include CurlSupport

  APP = <<~RUBY
    require "mtlsauthz"
    require "grape"
    class PumaTestAPI < Grape::API
      format :json
      get(:healthz) { { status: "ok" } }
      post("images/build") { { built: true, by: env["mtlsauthz.identity"].spiffe_id } }
      post("containers/:id/exec") { warn "EXEC HANDLER RAN"; { exec: params[:id] } }
    end
    use MtlsAuthz::Rack, policy: ENV.fetch("TEST_POLICY")
    run PumaTestAPI
  RUBY

  def self.servers
    @servers ||= {}
  end

  Minitest.after_run { servers.each_value(&:stop) }

  # One server per verify mode, started on first use and kept for the run.
  def server(verify_mode)
    self.class.servers[verify_mode] ||= begin
      dir = Dir.mktmpdir("mtlsauthz-puma")
      File.write(File.join(dir, "config.ru"), APP)
      File.write(File.join(dir, "puma.rb"), <<~RUBY)
        ssl_bind "127.0.0.1", "0", cert: #{cert_path('server-chain.pem').inspect},
                 key: #{cert_path('server.key').inspect}, ca: #{cert_path('ca.pem').inspect},
                 verify_mode: #{verify_mode.inspect}
        rackup #{File.join(dir, 'config.ru').inspect}
        threads 1, 4
        environment "test"
      RUBY
      PumaProcess.start(["puma", "-C", File.join(dir, "puma.rb")],
                        env: child_env.merge("TEST_POLICY" => EXAMPLE_POLICY),
                        log_path: File.join(dir, "puma.log"))
    end
  end

  def certs
    TestSupport.certs
  end

  def test_force_peer_builder_builds_and_is_denied_exec
    s = server("force_peer")
    status, body = curl(s.port, "/images/build", cert: "builder", method: "POST", certs: certs)
    assert_equal 201, status, body
    assert_equal "spiffe://prod.example.com/ci/builder", JSON.parse(body)["by"]

    status, body = curl(s.port, "/healthz", cert: "ops", certs: certs)
    assert_equal 200, status, body

    ["/containers/abc/exec", "/containers/abc/%65xec", "/containers/abc/exec/"].each do |path|
      status, body = curl(s.port, path, cert: "builder", method: "POST", certs: certs)
      assert_equal 403, status, path
      assert_equal %({"error":"forbidden","reason":"denied","rule":"no-container-escape"}\n), body
    end
    status, = curl(s.port, "/containers/a%2Fb/exec", cert: "builder", method: "POST", certs: certs)
    assert_equal 400, status
    refute_match(/EXEC HANDLER RAN/, s.log)
  end

  def test_force_peer_refuses_handshake_without_certificate
    s = server("force_peer")
    status, _body, exit_status = curl(s.port, "/healthz", certs: certs)
    assert_equal 0, status, "no HTTP response at all"
    refute_equal 0, exit_status
    assert_match(/peer did not return a certificate/, s.log)
  end

  def test_unverifiable_certificate_fails_the_handshake
    s = server("force_peer")
    # A leaf sent without its intermediate does not chain to the CA Puma trusts.
    out, _err, st = Open3.capture3("curl", "-sS", "--max-time", "20",
                                   "--cacert", cert_path("ca.pem"),
                                   "--cert", cert_path("builder.pem"),
                                   "--key", cert_path("builder.key"),
                                   "-o", "/dev/null", "-w", "%{http_code}",
                                   "https://localhost:#{s.port}/healthz")
    assert_equal "000", out
    refute st.success?
    assert_match(/certificate verification error/, s.log)
  end

  def test_peer_mode_without_certificate_is_401
    s = server("peer")
    status, body = curl(s.port, "/healthz", certs: certs)
    assert_equal 401, status
    assert_equal %({"error":"unauthorized","reason":"no_identity","rule":null}\n), body
    status, = curl(s.port, "/images/build", cert: "builder", method: "POST", certs: certs)
    assert_equal 201, status
    status, = curl(s.port, "/containers/abc/exec", cert: "builder", method: "POST", certs: certs)
    assert_equal 403, status
    refute_match(/EXEC HANDLER RAN/, s.log)
  end

  # "none" asks the client for no certificate: Puma sets no puma.peercert, whatever it holds.
  def test_none_mode_is_always_401
    s = server("none")
    status, body = curl(s.port, "/healthz", cert: "builder", certs: certs)
    assert_equal 401, status, body
  end

  # One kept-alive HTTPS connection with a client certificate: several requests on it, as a
  # browser or an HTTP client pool sends them.
  class KeepAlive
    def initialize(port, cert, certs)
      ctx = OpenSSL::SSL::SSLContext.new
      ctx.ca_file = File.join(certs, "ca.pem")
      ctx.verify_mode = OpenSSL::SSL::VERIFY_PEER
      chain = File.read(File.join(certs, "#{cert}-chain.pem"))
      certs_in = chain.scan(/-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----/m)
      ctx.cert = OpenSSL::X509::Certificate.new(certs_in[0])
      ctx.extra_chain_cert = certs_in[1..].map { |c| OpenSSL::X509::Certificate.new(c) }
      ctx.key = OpenSSL::PKey.read(File.read(File.join(certs, "#{cert}.key")))
      @tcp = TCPSocket.new("127.0.0.1", port)
      @ssl = OpenSSL::SSL::SSLSocket.new(@tcp, ctx)
      @ssl.hostname = "localhost"
      @ssl.sync_close = true
      @ssl.connect
    end

    # [status, body] of one request on this connection.
    def request(method, path)
      @ssl.write("#{method} #{path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
      status = Integer(@ssl.gets.split(" ")[1])
      headers = {}
      while (line = @ssl.gets) && line != "\r\n"
        k, v = line.chomp.split(":", 2)
        headers[k.downcase] = v.strip
      end
      [status, read_body(headers)]
    end

    def close
      @ssl.close
    end

    private

    def read_body(headers)
      return @ssl.read(Integer(headers["content-length"])) if headers["content-length"]

      body = +""
      while (size = Integer(@ssl.gets.strip, 16)).positive?
        body << @ssl.read(size)
        @ssl.gets
      end
      @ssl.gets
      body
    end
  end

  # The middleware keeps each connection's identity with Puma's certificate object: requests
  # interleaved on two kept-alive connections, from two clients, each get their own client's
  # decision, and a connection's later requests are decided on what they ask.
  def test_interleaved_keep_alive_connections_keep_their_own_identity
    s = server("force_peer")
    builder = KeepAlive.new(s.port, "builder", certs)
    ops = KeepAlive.new(s.port, "ops", certs)
    3.times do
      status, body = builder.request("POST", "/images/build")
      assert_equal 201, status, body
      assert_equal "spiffe://prod.example.com/ci/builder", JSON.parse(body)["by"]
      status, body = ops.request("POST", "/images/build")
      assert_equal 403, status, body
      assert_equal %({"error":"forbidden","reason":"no_match","rule":null}\n), body
      status, = ops.request("GET", "/healthz")
      assert_equal 200, status
      status, body = builder.request("POST", "/containers/abc/exec")
      assert_equal 403, status, body
      assert_equal %({"error":"forbidden","reason":"denied","rule":"no-container-escape"}\n), body
    end
    refute_match(/EXEC HANDLER RAN/, s.log)
  ensure
    builder&.close
    ops&.close
  end

  # Headers are never a certificate source here: no trusted_proxies.
  def test_forged_header_is_ignored_over_real_tls
    s = server("peer")
    escaped = nginx_escape(pem("builder"))
    out, _err, _st = Open3.capture3("curl", "-sS", "--max-time", "20",
                                    "--cacert", cert_path("ca.pem"),
                                    "-H", "X-SSL-Client-Cert: #{escaped}",
                                    "-H", "X-SSL-Client-Verify: SUCCESS",
                                    "-X", "POST", "-o", "/dev/null", "-w", "%{http_code}",
                                    "https://localhost:#{s.port}/images/build")
    assert_equal "401", out
  end
end
