# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

require_relative "test_helper"

# Identities from X-Forwarded-Client-Cert (docs/policy.md) in MtlsAuthz::Rack: read only from a
# peer trusted for it, by address (a CIDR, or "unix" for a Unix socket) or by its own verified
# certificate (a selector the library compiles). Over real Puma with mutual TLS, driven by
# curl, the way a mesh sidecar would call the app.
class XFCCTest < Minitest::Test
  include TestSupport

  REVIEWS = "spiffe://cluster.local/ns/default/sa/reviews"
  HASH = "ab" * 32
  # Istio's default: Hash, Subject, URI and DNS, no Cert (a partial identity).
  ISTIO = "By=spiffe://cluster.local/ns/default/sa/productpage;Hash=#{HASH};" \
          "Subject=\"\";URI=#{REVIEWS}".freeze
  MALFORMED = "By=spiffe://x;Hash=\"unterminated"

  POLICY = <<~YAML
    version: 1
    protocol: http
    principals:
      - name: builder
        spiffe: ["spiffe://prod.example.com/ci/builder"]
      - name: reviews
        spiffe: ["#{REVIEWS}"]
      - name: reviews-client
        spiffe: ["#{REVIEWS}"]
        eku: [clientAuth]
      - name: ops
        ou: [ops]
    rules:
      - id: build
        effect: allow
        principals: [builder]
        operations: ["POST /images/build"]
      - id: reviews-read
        effect: allow
        principals: [reviews]
        operations: ["GET /products/**"]
      - id: reviews-write
        effect: allow
        principals: [reviews-client]
        operations: ["POST /products/**"]
      - id: ops-logs
        effect: allow
        principals: [ops]
        operations: ["GET /logs"]
  YAML

  APP = <<~RUBY
    require "mtlsauthz"
    require "logger"
    require "json"
    io = File.open(ENV.fetch("DECISION_LOG"), "a").tap { |f| f.sync = true }
    logger = Logger.new(io, formatter: MtlsAuthz::JSONFormatter.new)
    use MtlsAuthz::Rack, policy: ENV.fetch("TEST_POLICY"), logger: logger, log_format: :json,
        **eval(ENV.fetch("RACK_OPTIONS"))
    run lambda { |env|
      id = env["mtlsauthz.identity"]
      [200, { "content-type" => "application/json" },
       [JSON.generate("spiffe_id" => id.spiffe_id, "dn" => id.dn,
                      "partial" => id.partial?) + "\\n"]]
    }
  RUBY

  # Trusted by a Unix socket, or by the connection's certificate (web's SPIFFE ID); 127.0.0.1
  # over TCP is not trusted. And trusted by address: 127.0.0.1 in trusted_proxies, xfcc: true.
  SERVERS = {
    mesh: '{ xfcc: { trusted_proxies: ["unix"], ' \
          'proxy_identities: ["spiffe:spiffe://td/ns/web/x"] } }',
    loopback: '{ trusted_proxies: ["127.0.0.1"], xfcc: true }'
  }.freeze

  Server = Struct.new(:puma, :log, :socket) do
    # The decision records of the log (the log also has the XFCC notices).
    def records
      return [] unless File.exist?(log)

      File.readlines(log).map { |l| JSON.parse(l) }.select { |r| r.key?("decision") }
    end
  end

  def self.servers
    @servers ||= {}
  end

  Minitest.after_run { servers.each_value { |s| s.puma.stop } }

  def server(name)
    self.class.servers[name] ||= begin
      dir = Dir.mktmpdir("mtlsauthz-xfcc")
      certs = TestSupport.certs
      socket = File.join(dir, "puma.sock")
      File.write(File.join(dir, "policy.yaml"), POLICY)
      File.write(File.join(dir, "config.ru"), APP)
      File.write(File.join(dir, "puma.rb"), <<~RUBY)
        ssl_bind "127.0.0.1", "0", cert: #{File.join(certs, 'server-chain.pem').inspect},
                 key: #{File.join(certs, 'server.key').inspect},
                 ca: #{File.join(certs, 'ca.pem').inspect}, verify_mode: "peer"
        bind "unix://#{socket}"
        rackup #{File.join(dir, 'config.ru').inspect}
        threads 1, 4
        environment "test"
      RUBY
      log = File.join(dir, "decisions.log")
      env = child_env.merge("TEST_POLICY" => File.join(dir, "policy.yaml"),
                            "DECISION_LOG" => log, "RACK_OPTIONS" => SERVERS.fetch(name))
      puma = PumaProcess.start(["puma", "-C", File.join(dir, "puma.rb")], env: env,
                               log_path: File.join(dir, "puma.log"))
      Server.new(puma, log, socket)
    end
  end

  # [status, body, the decision record of this request] over TLS (cert: the client's
  # certificate, none by default) or over the Unix socket. `xfcc`: a value, or a list of
  # values sent as separate header lines.
  def request(srv, path, method: "GET", cert: nil, xfcc: nil, unix: false)
    before = srv.records.size
    args = ["curl", "-sS", "--max-time", "20", "-X", method, "-o", "-", "-w", "\n%{http_code}"]
    # (curl drops a header given as "Name: ", and sends "Name;" as one with an empty value)
    Array(xfcc).each do |v|
      args += ["-H", v.empty? ? "X-Forwarded-Client-Cert;" : "X-Forwarded-Client-Cert: #{v}"]
    end
    if unix
      args += ["--unix-socket", srv.socket, "http://localhost#{path}"]
    else
      args += ["--cacert", cert_path("ca.pem")]
      args += ["--cert", cert_path("#{cert}-chain.pem"), "--key", cert_path("#{cert}.key")] if cert
      args << "https://localhost:#{srv.puma.port}#{path}"
    end
    out, err, st = Open3.capture3(*args)
    assert st.success?, "curl failed: #{err}"
    body, _, code = out.rpartition("\n")
    records = srv.records
    assert_equal before + 1, records.size, "one decision record per request"
    [Integer(code), body, records.last]
  end

  # Envoy's Cert=: the URL-encoded PEM of the client's leaf.
  def cert_element(name)
    "By=spiffe://td/ns/web/x;Cert=\"#{nginx_escape(pem(name))}\""
  end

  def puma_log_since(srv, mark)
    srv.puma.log[mark..]
  end

  # -- trusted proxies --------------------------------------------------------------------

  def test_trusted_by_address_decides_the_forwarded_certificate
    s = server(:loopback)
    status, body, rec = request(s, "/images/build", method: "POST", xfcc: cert_element("builder"))
    assert_equal 200, status, body
    assert_equal({ "spiffe_id" => "spiffe://prod.example.com/ci/builder",
                   "dn" => "CN=builder,O=Example Corp", "partial" => false }, JSON.parse(body))
    assert_equal "allow", rec["decision"]
    assert_equal "build", rec["rule"]
    assert_equal "CN=mtlsauthz Test Intermediate CA,O=Example Corp", rec["issuer"]
    assert_equal identity("builder").sha256, rec["sha256"]
    assert_equal identity("builder").serial, rec["serial"]

    status, body, rec = request(s, "/logs", xfcc: cert_element("builder"))
    assert_equal 403, status
    assert_equal %({"error":"forbidden","reason":"no_match","rule":null}\n), body
    assert_equal "CN=builder,O=Example Corp", rec["subject"]
  end

  def test_trusted_by_unix_socket
    s = server(:mesh)
    status, body, rec = request(s, "/logs", xfcc: cert_element("ops"), unix: true)
    assert_equal 200, status, body
    assert_equal "CN=alice,OU=ops,O=Example Corp", JSON.parse(body)["dn"]
    assert_equal "ops-logs", rec["rule"]
  end

  def test_trusted_by_the_proxy_certificate
    s = server(:mesh)
    status, body, rec = request(s, "/logs", cert: "web", xfcc: cert_element("ops"))
    assert_equal 200, status, body
    assert_equal "CN=alice,OU=ops,O=Example Corp", rec["subject"]
    # The proxy's own certificate is never the identity: without a header, no identity.
    status, body, = request(s, "/logs", cert: "web")
    assert_equal 401, status
    assert_equal %({"error":"unauthorized","reason":"no_identity","rule":null}\n), body
  end

  # Istio's default header: a partial identity. Its SPIFFE ID matches; the EKU, which the
  # header cannot carry, never does.
  def test_istio_partial_identity
    s = server(:mesh)
    status, body, rec = request(s, "/products/42", cert: "web", xfcc: ISTIO)
    assert_equal 200, status, body
    assert_equal({ "spiffe_id" => REVIEWS, "dn" => "", "partial" => true }, JSON.parse(body))
    assert_equal "reviews-read", rec["rule"]
    assert_equal REVIEWS, rec["spiffe_id"]
    assert_equal HASH, rec["sha256"]
    assert_nil rec["issuer"]
    assert_nil rec["serial"]
    assert_equal "", rec["subject"]

    status, body, rec = request(s, "/products/42", method: "POST", cert: "web", xfcc: ISTIO)
    assert_equal 403, status
    assert_equal %({"error":"forbidden","reason":"no_match","rule":null}\n), body
    assert_equal "deny", rec["decision"]
  end

  def test_trusted_proxy_without_header_is_401
    s = server(:loopback)
    status, body, rec = request(s, "/logs")
    assert_equal 401, status
    assert_equal %({"error":"unauthorized","reason":"no_identity","rule":null}\n), body
    assert_equal "no_identity", rec["reason"]
    # The connection's own certificate is the proxy's: never the identity.
    status, = request(s, "/logs", cert: "ops")
    assert_equal 401, status
  end

  def test_malformed_header_from_trusted_proxy_is_403
    s = server(:loopback)
    [MALFORMED, "", "Hash=#{HASH}x", "Subject=\"CN=a\";Subject=\"CN=b\""].each do |bad|
      mark = s.puma.log.size
      status, body, rec = request(s, "/logs", xfcc: bad)
      assert_equal 403, status, bad
      assert_equal %({"error":"forbidden","reason":"identity_rejected","rule":null}\n), body
      assert_equal "identity_rejected", rec["reason"]
      assert_equal 403, rec["status"]
      assert_nil rec["sha256"]
      # the log's detail is the core's message (docs/http.md, "Behind a trusted proxy")
      core = assert_raises(MtlsAuthz::IdentityError) { MtlsAuthz::Identity.from_xfcc(bad) }
      assert_equal core.message, rec["detail"], bad
      assert_match(/X-Forwarded-Client-Cert/, rec["detail"], bad)
      assert_match(/refused the X-Forwarded-Client-Cert header of trusted proxy 127\.0\.0\.1 /,
                   File.read(s.log).lines.last(2).join, bad)
      assert_equal mark, s.puma.log.size # a refusal, not a crash
    end
  end

  # A header that parses into an identity the core rejects (an invalid SPIFFE ID).
  def test_rejected_identity_from_trusted_proxy_is_403
    s = server(:loopback)
    status, body, rec = request(s, "/products/1",
                                xfcc: "Hash=#{HASH};URI=spiffe://cluster.local/a/../b")
    assert_equal 403, status
    assert_equal %({"error":"forbidden","reason":"identity_rejected","rule":null}\n), body
    assert_equal "identity_rejected", rec["reason"]
    assert_nil rec["detail"], "an identity the core read and rejected is not a refused header"
  end

  # Puma joins repeated header lines with ", " (RFC 9110 5.3): the same list as one line with
  # those elements, of which the core reads the last, the nearest proxy's.
  def test_repeated_header_lines_are_one_list
    s = server(:loopback)
    status, body, = request(s, "/products/1", xfcc: [cert_element("builder"), ISTIO])
    assert_equal 200, status, body
    assert_equal REVIEWS, JSON.parse(body)["spiffe_id"]
    status, = request(s, "/products/1", xfcc: [ISTIO, MALFORMED])
    assert_equal 403, status
  end

  # -- untrusted peers --------------------------------------------------------------------

  # 127.0.0.1 over TCP is not trusted by the mesh server: the header is ignored and logged,
  # and the request is decided on the connection's own certificate.
  def test_header_from_untrusted_peer_is_ignored_and_logged
    s = server(:mesh)
    status, body, rec = request(s, "/products/1", cert: "builder", xfcc: ISTIO)
    assert_equal 403, status, body
    assert_equal "CN=builder,O=Example Corp", rec["subject"]
    assert_match(/ignored X-Forwarded-Client-Cert from 127\.0\.0\.1, a peer not trusted/,
                 File.read(s.log).lines.last(2).join)

    status, body, = request(s, "/images/build", method: "POST", cert: "builder",
                                                 xfcc: cert_element("ops"))
    assert_equal 200, status, body
    assert_equal "CN=builder,O=Example Corp", JSON.parse(body)["dn"]

    # No certificate of its own: no identity, whatever the header says.
    status, = request(s, "/products/1", xfcc: ISTIO)
    assert_equal 401, status
    assert_match(/ignored X-Forwarded-Client-Cert/, File.read(s.log).lines.last(2).join)
  end

  def test_header_from_untrusted_certificate_is_ignored
    s = server(:mesh)
    status, = request(s, "/logs", cert: "web-admin", xfcc: cert_element("ops"))
    assert_equal 403, status
    assert_match(/ignored X-Forwarded-Client-Cert/, File.read(s.log).lines.last(2).join)
  end

  # -- the API ----------------------------------------------------------------------------

  def test_identity_from_xfcc
    id = MtlsAuthz::Identity.from_xfcc(ISTIO)
    assert id.partial?
    assert_equal REVIEWS, id.spiffe_id
    assert_equal HASH, id.sha256
    assert_empty id.eku
    assert_nil id.issuer
    assert_equal 0, id.chain_length
    assert id.to_h[:partial]

    full = MtlsAuthz::Identity.from_xfcc(cert_element("builder"))
    refute full.partial?
    assert_equal identity("builder").to_h, full.to_h
    refute identity("builder").partial?

    e = assert_raises(MtlsAuthz::IdentityError) { MtlsAuthz::Identity.from_xfcc(MALFORMED) }
    assert_match(/X-Forwarded-Client-Cert/, e.message)
    assert_raises(TypeError) { MtlsAuthz::Identity.from_xfcc(nil) }
  end

  def test_options_are_checked
    app = ->(_env) { [200, {}, []] }
    policy = MtlsAuthz::Policy.load(POLICY)
    bad = [
      [{ xfcc: true }, /there are none/],
      [{ xfcc: {} }, /no trusted proxy/],
      [{ xfcc: { trusted_proxies: ["nope"] } }, /"nope" is not an IP address, a CIDR or "unix"/],
      [{ xfcc: { proxies: ["unix"] } }, /unknown key :proxies/],
      [{ xfcc: "unix" }, /xfcc must be/],
      [{ xfcc: { proxy_identities: ["spiffe"] } }, /expected KEY:PATTERN/],
      [{ xfcc: { proxy_identities: ["name:x"] } }, /'name' is not a key/],
      [{ xfcc: { proxy_identities: ["spife:spiffe://td/x"] } },
       /"spife:spiffe:\/\/td\/x": unknown key 'spife'.*did you mean 'spiffe'/],
      [{ xfcc: { proxy_identities: ["spiffe:https://td/x"] } },
       /"spiffe:https:\/\/td\/x": .*must start with "spiffe:\/\/"/]
    ]
    bad.each do |opts, msg|
      e = assert_raises(ArgumentError, opts.inspect) do
        MtlsAuthz::Rack.new(app, policy: policy, **opts)
      end
      assert_match msg, e.message
    end
    MtlsAuthz::Rack.new(app, policy: policy, xfcc: { trusted_proxies: ["10.0.0.0/8", "unix"] })
  end

  # The core's message for a refused header is the Decision's #error, for the app (dry_run:
  # true lets the request through) and for a log without a logger ($stderr).
  def test_refused_header_message_without_logger
    seen = nil
    app = lambda { |env|
      seen = env["mtlsauthz.decision"]
      [200, {}, []]
    }
    mw = MtlsAuthz::Rack.new(app, policy: MtlsAuthz::Policy.load(POLICY), dry_run: true,
                                  xfcc: { trusted_proxies: ["10.0.0.0/8"] })
    env = { "REQUEST_METHOD" => "GET", "SCRIPT_NAME" => "", "PATH_INFO" => "/logs",
            "REMOTE_ADDR" => "10.1.2.3", "HTTP_X_FORWARDED_CLIENT_CERT" => MALFORMED }
    _out, err = capture_io { mw.call(env) }
    assert_equal :identity_rejected, seen.reason
    assert_match(/\AX-Forwarded-Client-Cert: the quoted value of Hash has no closing/, seen.error)
    assert_match(/refused the X-Forwarded-Client-Cert header of trusted proxy 10\.1\.2\.3/, err)

    # From 10.1.2.3 the header is read; from 192.0.2.1 it is not, and counted.
    _out, err = capture_io { mw.call(env.merge("REMOTE_ADDR" => "192.0.2.1")) }
    assert_equal :no_identity, seen.reason
    assert_match(/ignored X-Forwarded-Client-Cert from 192\.0\.2\.1/, err)
    assert_equal 1, mw.stats[:xfcc_ignored]
    untrusted = env.merge("REMOTE_ADDR" => "192.0.2.1", "HTTP_X_FORWARDED_CLIENT_CERT" => ISTIO)
    capture_io { mw.call(untrusted) }
    assert_equal 2, mw.stats[:xfcc_ignored]
    mw.call(env.merge("HTTP_X_FORWARDED_CLIENT_CERT" => ISTIO))
    assert_equal :no_match, seen.reason
    assert_equal 2, mw.stats[:xfcc_ignored]
  end

  # Without a Puma socket (another server, or rack-test), a peer is trusted only by address;
  # "unix" never matches a TCP peer that Puma reports as 127.0.0.1.
  def test_unix_is_not_loopback
    xfcc = MtlsAuthz::XFCC.new(trusted_proxies: ["unix"])
    refute xfcc.trusted_address?("REMOTE_ADDR" => "127.0.0.1")
    loopback = MtlsAuthz::XFCC.new(trusted_proxies: ["127.0.0.1"])
    assert loopback.trusted_address?("REMOTE_ADDR" => "127.0.0.1")
    refute loopback.trusted_address?("REMOTE_ADDR" => "127.0.0.2")
    refute loopback.trusted_address?("REMOTE_ADDR" => "::1")
    refute loopback.trusted_address?("REMOTE_ADDR" => "garbage")
    a, b = UNIXSocket.pair
    unix = { "REMOTE_ADDR" => "127.0.0.1", "puma.socket" => a }
    assert xfcc.trusted_address?(unix)
    refute loopback.trusted_address?(unix)
  ensure
    a&.close
    b&.close
  end

  # Puma reports a Unix socket peer as 127.0.0.1; trusting 127.0.0.1 trusts TCP loopback only.
  def test_unix_peer_of_a_loopback_trust_is_ignored
    s = server(:loopback)
    status, = request(s, "/logs", xfcc: cert_element("ops"), unix: true)
    assert_equal 401, status
    assert_match(/ignored X-Forwarded-Client-Cert from 127\.0\.0\.1/,
                 File.read(s.log).lines.last(2).join)
  end
end
