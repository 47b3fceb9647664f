# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

require_relative "test_helper"
require "grape"
require "rack/test"
require "logger"
require "openssl"
require "stringio"

# The container-escape story as a Grape API. Every handler records that it ran, so a test can
# prove a denied request never reached it.
class StoryAPI < Grape::API
  CALLS = Queue.new

  format :json

  get("healthz") { CALLS << :healthz; { status: "ok" } }
  post("images/build") { CALLS << :build; { built: true, rule: env["mtlsauthz.decision"].rule } }
  get("containers") { CALLS << :list; [] }
  post("containers/:id/exec") { CALLS << [:exec, params[:id]]; { exec: params[:id] } }
  get("whoami") do
    CALLS << :whoami
    d = env["mtlsauthz.decision"]
    { op: env["mtlsauthz.operation"], reason: d.reason, allowed: d.allowed?,
      dn: env["mtlsauthz.identity"]&.dn }
  end
end

class RackMiddlewareTest < Minitest::Test
  include TestSupport
  include Rack::Test::Methods

  WHOAMI_POLICY = <<~YAML
    version: 1
    protocol: http
    rules:
      - id: whoami
        effect: allow
        principals: ["*"]
        operations: ["GET /whoami", "GET /api/whoami"]
  YAML

  def setup
    StoryAPI::CALLS.clear
    @log = StringIO.new
    @options = { policy: EXAMPLE_POLICY, logger: Logger.new(@log) }
    @app = nil
  end

  def app
    @app ||= build_app(**@options)
  end

  # Rack::Test keeps the app of its first request: swap both.
  def use_app(app)
    @app = app
    @_rack_test_sessions = nil
    @_rack_test_current_session = nil
  end

  def build_app(**options)
    inner = Rack::Builder.new do
      use Rack::Lint # our responses follow the Rack spec
      use MtlsAuthz::Rack, **options
      run StoryAPI
    end.to_app
    @middleware = inner
    inner
  end

  def calls
    out = []
    out << StoryAPI::CALLS.pop until StoryAPI::CALLS.empty?
    out
  end

  def peer(name)
    { "puma.peercert" => OpenSSL::X509::Certificate.new(pem(name)), "HTTPS" => "on" }
  end

  def json
    JSON.parse(last_response.body)
  end

  # ---- the story ----

  def test_builder_builds_images
    post "/images/build", {}, peer("builder")
    assert_equal 201, last_response.status
    assert_equal "build-images", json["rule"]
    assert_equal [:build], calls
    d = last_request.env["mtlsauthz.decision"]
    assert d.allowed?
    assert_equal "POST /images/build", last_request.env["mtlsauthz.operation"]
  end

  def test_exec_denied_403_and_handler_never_runs
    post "/containers/abc/exec", {}, peer("builder")
    assert_equal 403, last_response.status
    assert_equal "application/json", last_response.content_type
    assert_equal %({"error":"forbidden","reason":"denied","rule":"no-container-escape"}\n),
                 last_response.body
    assert_equal "no-container-escape", last_request.env["mtlsauthz.decision"].rule
    assert_empty calls
  end

  # Grape routes these to the exec handler (shown first without the middleware), so the
  # middleware must authorize them as .../exec.
  def test_encoded_and_trailing_slash_variants_are_authorized_as_exec
    variants = ["/containers/abc/%65xec", "/containers/abc/exec/", "/containers/abc/%65%78%65%63",
                "/containers/abc/exec?via=query"]
    bare = Rack::MockRequest.new(StoryAPI)
    variants.each do |path|
      assert_equal 201, bare.post(path).status, "Grape routes #{path} to exec"
      assert_equal [[:exec, "abc"]], calls, path
    end
    variants.each do |path|
      post path, {}, peer("builder")
      assert_equal 403, last_response.status, path
      assert_equal "POST /containers/abc/exec", last_request.env["mtlsauthz.operation"], path
      assert_equal "no-container-escape", last_request.env["mtlsauthz.decision"].rule
      assert_empty calls, path
    end
  end

  def test_health_open_to_any_verified_client
    %w[builder ops plain].each do |name|
      get "/healthz", {}, peer(name)
      assert_equal 200, last_response.status, name
    end
    assert_equal [:healthz] * 3, calls
  end

  def test_default_deny_for_unlisted_route
    get "/containers", {}, peer("builder")
    assert_equal 403, last_response.status
    assert_equal "no_match", json["reason"]
    get "/containers", {}, peer("ops")
    assert_equal 200, last_response.status
    assert_equal [:list], calls
  end

  def test_no_cert_is_401
    get "/healthz"
    assert_equal 401, last_response.status
    assert_equal %({"error":"unauthorized","reason":"no_identity","rule":null}\n),
                 last_response.body
    assert_equal :no_identity, last_request.env["mtlsauthz.decision"].reason
    assert_empty calls
  end

  # docs/http.md, "Order of checks": no verified certificate (401), then a refused target
  # (400), then the policy (403). A refused target is never decided.
  def test_refused_target_is_400_before_authorization
    ["/containers/a%2Fb/exec", "/containers/abc/../x", "/containers//exec", "/a%00b"].each do |path|
      post path, {}, peer("builder")
      assert_equal 400, last_response.status, path
      assert_equal %({"error":"bad_request","reason":"bad_target","rule":null}\n),
                   last_response.body
      assert_nil last_request.env["mtlsauthz.decision"], path
      assert_nil last_request.env["mtlsauthz.operation"], path
      post path # no certificate: 401 comes first
      assert_equal 401, last_response.status, path
      post path, {}, peer("nul-cn") # a rejected identity is decided after the target: 400
      assert_equal 400, last_response.status, path
      post path, {}, "puma.peercert" => "a string" # an unreadable certificate, the same
      assert_equal 400, last_response.status, path
    end
    assert_empty calls
  end

  def test_query_string_is_not_part_of_the_operation
    post "/images/build?x=/containers/abc/exec", {}, peer("builder")
    assert_equal 201, last_response.status
    assert_equal "POST /images/build", last_request.env["mtlsauthz.operation"]
  end

  def test_rejected_identity_403
    get "/healthz", {}, peer("nul-cn")
    assert_equal 403, last_response.status
    assert_equal "identity_rejected", json["reason"]
    get "/healthz", {}, "SSL_CLIENT_CERT" => pem("spiffe-two-uri"), "SSL_CLIENT_VERIFY" => "SUCCESS"
    assert_equal 403, last_response.status
    assert_equal "identity_rejected", json["reason"]
    assert_empty calls
  end

  # ---- where the certificate comes from ----

  def test_ssl_client_cert_requires_verify_success_when_reported
    env = { "SSL_CLIENT_CERT" => pem("builder") }
    post "/images/build", {}, env.merge("SSL_CLIENT_VERIFY" => "SUCCESS")
    assert_equal 201, last_response.status
    post "/images/build", {}, env # the server reports no verification result: taken
    assert_equal 201, last_response.status
    ["FAILED:unable to get issuer certificate", "NONE", "success", ""].each do |v|
      post "/images/build", {}, env.merge("SSL_CLIENT_VERIFY" => v)
      assert_equal 401, last_response.status, v
    end
    # A failed verification also hides puma.peercert: fail closed.
    post "/images/build", {}, peer("builder").merge("SSL_CLIENT_VERIFY" => "FAILED:x")
    assert_equal 401, last_response.status
    assert_equal [:build, :build], calls
  end

  def test_ssl_client_cert_not_pem_is_error_deny
    get "/healthz", {}, "SSL_CLIENT_CERT" => "not a certificate", "SSL_CLIENT_VERIFY" => "SUCCESS"
    assert_equal 403, last_response.status
    assert_equal "error", json["reason"]
    get "/healthz", {}, "SSL_CLIENT_CERT" => pem("builder").sub("MII", "M*I"),
                        "SSL_CLIENT_VERIFY" => "SUCCESS"
    assert_equal 403, last_response.status
    broken = Object.new
    def broken.to_der
      raise OpenSSL::X509::CertificateError, "broken"
    end
    get "/healthz", {}, "puma.peercert" => broken
    assert_equal 403, last_response.status
    assert_match(/broken/, last_request.env["mtlsauthz.decision"].error)
    get "/healthz", {}, "puma.peercert" => "a string"
    assert_equal 403, last_response.status
    assert_empty calls
  end

  def forwarded(name, verify: "SUCCESS", remote: "10.1.2.3")
    env = { "REMOTE_ADDR" => remote, "HTTP_X_SSL_CLIENT_CERT" => nginx_escape(pem(name)) }
    env["HTTP_X_SSL_CLIENT_VERIFY"] = verify if verify
    env
  end

  def test_forwarded_header_from_trusted_proxy
    @options[:trusted_proxies] = ["10.0.0.0/8", "::1"]
    post "/images/build", {}, forwarded("builder")
    assert_equal 201, last_response.status
    post "/containers/abc/exec", {}, forwarded("builder")
    assert_equal 403, last_response.status
    post "/images/build", {}, forwarded("builder", remote: "::1")
    assert_equal 201, last_response.status
    assert_equal [:build, :build], calls
  end

  def test_forwarded_header_spoofed_from_untrusted_address_is_ignored
    @options[:trusted_proxies] = ["10.0.0.0/8"]
    post "/images/build", {}, forwarded("builder", remote: "203.0.113.5")
    assert_equal 401, last_response.status
    post "/images/build", {}, forwarded("builder", remote: "203.0.113.5")
                              .merge("HTTP_X_FORWARDED_FOR" => "10.1.2.3")
    assert_equal 401, last_response.status
    # The connection's own verified certificate still counts for a direct client.
    post "/images/build", {}, forwarded("ops", remote: "203.0.113.5").merge(peer("builder"))
    assert_equal 201, last_response.status
    assert_equal "CN=builder,O=Example Corp", last_request.env["mtlsauthz.identity"].dn
    assert_equal [:build], calls
  end

  def test_forwarded_header_ignored_without_trusted_proxies
    post "/images/build", {}, forwarded("builder", remote: "127.0.0.1")
    assert_equal 401, last_response.status
    assert_empty calls
  end

  def test_forwarded_header_from_trusted_proxy_without_verify_success_is_ignored
    @options[:trusted_proxies] = ["10.0.0.0/8"]
    [nil, "NONE", "FAILED:certificate has expired", "success"].each do |v|
      post "/images/build", {}, forwarded("builder", verify: v)
      assert_equal 401, last_response.status, v.inspect
    end
    # Nor does the proxy's own connection certificate stand in for the client.
    post "/images/build", {}, forwarded("ops", verify: "NONE").merge(peer("builder"))
    assert_equal 401, last_response.status
    assert_empty calls
  end

  def test_custom_header_names
    @options.merge!(trusted_proxies: ["10.0.0.1"], cert_header: "X-Client-Cert",
                    verify_header: "X-Client-Verify")
    env = { "REMOTE_ADDR" => "10.0.0.1", "HTTP_X_CLIENT_CERT" => nginx_escape(pem("builder")),
            "HTTP_X_CLIENT_VERIFY" => "SUCCESS" }
    post "/images/build", {}, env
    assert_equal 201, last_response.status
    post "/images/build", {}, forwarded("builder", remote: "10.0.0.1")
    assert_equal 401, last_response.status
  end

  # ---- options ----

  def test_operation_lambda
    @options[:operation] = lambda do |env|
      env["PATH_INFO"] == "/healthz" ? "GET /healthz" : "host:mount"
    end
    post "/images/build", {}, peer("builder")
    assert_equal 403, last_response.status
    assert_equal "host:mount", last_request.env["mtlsauthz.operation"]
    get "/healthz", {}, peer("builder")
    assert_equal 200, last_response.status
  end

  def test_operation_lambda_errors_fail_closed
    @options[:operation] = ->(_env) { raise "boom" }
    get "/healthz", {}, peer("builder")
    assert_equal 403, last_response.status
    assert_equal "error", json["reason"]
    assert_match(/boom/, last_request.env["mtlsauthz.decision"].error)

    use_app build_app(**@options.merge(operation: ->(_env) {}))
    get "/healthz", {}, peer("builder")
    assert_equal 403, last_response.status
    assert_equal "error", json["reason"]

    refused = ->(_env) { MtlsAuthz.http_operation("GET", "/a%2Fb") }
    use_app build_app(**@options.merge(operation: refused))
    get "/healthz", {}, peer("builder")
    assert_equal 400, last_response.status
    assert_empty calls
  end

  def test_dry_run_lets_through_and_logs
    @options[:dry_run] = true
    post "/containers/abc/exec", {}, peer("builder")
    assert_equal 201, last_response.status
    refute last_request.env["mtlsauthz.decision"].allowed?
    get "/healthz"
    assert_equal 200, last_response.status
    assert_equal [[:exec, "abc"], :healthz], calls
    # Denies still logged at warn; "status" is null: the binding answered nothing itself.
    assert_match(/WARN -- : mtlsauthz: decision="deny" reason="denied" rule="no-con/,
                 @log.string)
    assert_includes @log.string, 'operation="POST /containers/abc/exec" status=null'
    assert_includes @log.string, 'reason="no_identity" rule=null dry_run=[] ' \
                                 'operation="GET /healthz" status=null'
  end

  def test_logger_records_denies_and_dry_run_rules
    post "/containers/abc/exec", {}, peer("builder")
    get "/containers/abc/logs", {}, peer("ops")
    lines = @log.string.lines
    assert_equal 2, lines.size
    b = identity("builder")
    assert_includes lines[0], 'WARN -- : mtlsauthz: decision="deny" reason="denied" ' \
                              'rule="no-container-escape" dry_run=[] ' \
                              'operation="POST /containers/abc/exec" status=403 ' \
                              'spiffe_id="spiffe://prod.example.com/ci/builder" ' \
                              "subject=#{b.dn.to_json} issuer=#{b.issuer.to_json} " \
                              "serial=#{b.serial.to_json} sha256=#{b.sha256.to_json} " \
                              'remote="127.0.0.1" detail=null'
    assert_includes lines[1], 'WARN -- : mtlsauthz: decision="allow" ' \
                              'reason="allowed" rule="ops-read" dry_run=["watch-logs"] ' \
                              'operation="GET /containers/abc/logs" status=null spiffe_id=null'
  end

  def test_script_name_is_part_of_the_raw_path
    policy = MtlsAuthz::Policy.load(WHOAMI_POLICY)
    api = Rack::Builder.new do
      use MtlsAuthz::Rack, policy: policy
      run StoryAPI
    end
    @app = Rack::URLMap.new("/api" => api)
    get "/api/whoami", {}, peer("ops")
    assert_equal 200, last_response.status
    assert_equal "GET /api/whoami", json["op"]
    assert_equal identity("ops").dn, json["dn"]
    assert_equal "allowed", json["reason"]
  end

  def test_identity_cache_by_der
    get "/healthz", {}, peer("builder")
    first = last_request.env["mtlsauthz.identity"]
    get "/healthz", {}, "SSL_CLIENT_CERT" => pem("builder")
    assert_same first, last_request.env["mtlsauthz.identity"]
    mw = find_middleware
    assert_equal 1, mw.identity_cache.size
    assert mw.identity_cache.key?(der("builder"))
  end

  def test_identity_cache_is_bounded_lru
    @options[:identity_cache] = 2
    %w[builder ops builder plain].each { |n| get "/healthz", {}, peer(n) }
    cache = find_middleware.identity_cache
    assert_equal 2, cache.size
    assert cache.key?(der("builder"))
    refute cache.key?(der("ops"))
  end

  # A certificate object that counts how often its DER is read, as Puma's (one per
  # connection, the same object for every request on it).
  class CountingCert
    attr_reader :reads

    def initialize(der)
      @der = der
      @reads = 0
    end

    def to_der
      @reads += 1
      @der.dup
    end
  end

  def test_puma_certificate_object_is_read_once_per_connection
    builder = CountingCert.new(der("builder"))
    ops = CountingCert.new(der("ops"))
    3.times do
      post "/images/build", {}, "puma.peercert" => builder
      assert_equal 201, last_response.status
      assert_equal identity("builder").spiffe_id, last_request.env["mtlsauthz.identity"].spiffe_id
      # Another connection, another certificate, between two requests of the first: never
      # answered with the first one's identity.
      post "/images/build", {}, "puma.peercert" => ops
      assert_equal 403, last_response.status
      assert_equal identity("ops").dn, last_request.env["mtlsauthz.identity"].dn
    end
    assert_equal 1, builder.reads
    assert_equal 1, ops.reads
    # A new connection from the same client: its own object, read once, the same identity.
    again = CountingCert.new(der("builder"))
    post "/images/build", {}, "puma.peercert" => again
    assert_equal 201, last_response.status
    assert_equal 1, again.reads
  end

  def test_operation_is_frozen_and_kept_per_method_and_path
    get "/healthz", {}, peer("builder")
    op = last_request.env["mtlsauthz.operation"]
    assert_equal "GET /healthz", op
    assert op.frozen?, "an app must not be able to change the kept operation"
    get "/healthz", {}, peer("builder")
    assert_same op, last_request.env["mtlsauthz.operation"]
    # The same path under another method is another operation.
    post "/healthz", {}, peer("builder")
    assert_equal 403, last_response.status
    assert_equal "POST /healthz", last_request.env["mtlsauthz.operation"]
    get "/healthz", {}, peer("builder")
    assert_equal 200, last_response.status
  end

  # The kept operation is the one of SCRIPT_NAME + PATH_INFO together: a request whose mount
  # point differs is never answered with another's operation.
  def test_operation_kept_for_the_whole_path
    mw = find_middleware
    env = lambda do |script, info|
      { "REQUEST_METHOD" => "POST", "SCRIPT_NAME" => script, "PATH_INFO" => info,
        "puma.peercert" => OpenSSL::X509::Certificate.new(pem("builder")) }
    end
    inner = ->(e) { [200, {}, [e["mtlsauthz.operation"]]] }
    mw.instance_variable_set(:@app, inner)
    answer = ->(script, info) { mw.call(env.call(script, info)).then { |r| [r[0], r[2][0]] } }
    assert_equal [200, "POST /images/build"], answer.call("", "/images/build")
    assert_equal [200, "POST /images/build"], answer.call("/images", "/build")
    assert_equal 403, mw.call(env.call("/containers/abc", "/images/build"))[0]
    assert_equal 403, mw.call(env.call("/containers/abc", "/exec"))[0]
    assert_equal 200, mw.call(env.call("", "/images/build"))[0]
  end

  def test_refused_target_stays_refused
    3.times do
      post "/containers/a%2Fb/exec", {}, peer("builder")
      assert_equal 400, last_response.status
      assert_nil last_request.env["mtlsauthz.operation"]
    end
  end

  def test_operation_cache_is_bounded
    mw = find_middleware
    limit = MtlsAuthz::Rack::OPERATION_CACHE_SIZE
    cert = OpenSSL::X509::Certificate.new(pem("ops"))
    inner = ->(_e) { [200, {}, []] }
    mw.instance_variable_set(:@app, inner)
    (limit + 10).times do |i|
      e = { "REQUEST_METHOD" => "GET", "SCRIPT_NAME" => "", "PATH_INFO" => "/containers/c#{i}",
            "puma.peercert" => cert }
      assert_equal 200, mw.call(e)[0]
    end
    kept = mw.instance_variable_get(:@operations).each_value.sum(&:size)
    assert_operator kept, :<=, limit
    assert_operator kept, :>=, 1
  end

  def test_policy_object_holder_and_reload
    policy = MtlsAuthz::Policy.load(WHOAMI_POLICY)
    holder = MtlsAuthz::PolicyHolder.new(policy)
    @app = build_app(policy: holder, logger: Logger.new(@log))
    get "/whoami", {}, peer("plain")
    assert_equal 200, last_response.status
    get "/healthz", {}, peer("plain")
    assert_equal 403, last_response.status
    holder.reload!(EXAMPLE_POLICY)
    assert policy.closed?
    get "/healthz", {}, peer("plain")
    assert_equal 200, last_response.status
    get "/whoami", {}, peer("plain")
    assert_equal 403, last_response.status
    assert_raises(MtlsAuthz::PolicyError) { holder.reload!("/nonexistent.yaml") }
    get "/healthz", {}, peer("plain") # the old policy stays after a failed reload
    assert_equal 200, last_response.status
  end

  # ---- the protocol warning ----

  ANY_POLICY = WHOAMI_POLICY.sub("protocol: http\n", "")
  PROTOCOL_WARNING = Regexp.new(
    Regexp.escape("does not declare `protocol: http`. Add `protocol: http` at its top level:") +
    ".* only under `protocol: http` is every operation pattern checked at load"
  ).freeze

  def test_warns_at_start_up_without_protocol_http
    log = StringIO.new
    MtlsAuthz::Rack.new(StoryAPI, policy: MtlsAuthz::Policy.load(ANY_POLICY),
                                  logger: Logger.new(log))
    assert_match(/WARN -- : mtlsauthz: the policy #{PROTOCOL_WARNING}/, log.string)
    assert_equal 1, log.string.lines.size

    explicit_any = ANY_POLICY.sub("version: 1\n", "version: 1\nprotocol: any\n")
    Dir.mktmpdir do |dir|
      path = File.join(dir, "any.yaml")
      File.write(path, explicit_any)
      # Without a logger, the warning goes to $stderr, naming the file.
      assert_output("", /\Amtlsauthz: policy #{Regexp.escape(path)} #{PROTOCOL_WARNING}/) do
        MtlsAuthz::Rack.new(StoryAPI, policy: path)
      end
    end
  end

  def test_no_warning_with_protocol_http_or_a_custom_operation
    log = StringIO.new
    MtlsAuthz::Rack.new(StoryAPI, policy: MtlsAuthz::Policy.load(WHOAMI_POLICY),
                                  logger: Logger.new(log))
    MtlsAuthz::Rack.new(StoryAPI, policy: MtlsAuthz::Policy.load(ANY_POLICY),
                                  logger: Logger.new(log), operation: ->(_env) { "images:build" })
    assert_equal "", log.string
    assert_output("", "") do
      MtlsAuthz::Rack.new(StoryAPI, policy: MtlsAuthz::Policy.load(WHOAMI_POLICY))
      MtlsAuthz::Rack.new(StoryAPI, policy: MtlsAuthz::Policy.load(ANY_POLICY),
                                    operation: ->(_env) { "images:build" })
    end
  end

  def test_reload_rechecks_protocol
    log = StringIO.new
    holder = MtlsAuthz::PolicyHolder.new(MtlsAuthz::Policy.load(WHOAMI_POLICY))
    mw = MtlsAuthz::Rack.new(StoryAPI, policy: holder, logger: Logger.new(log))
    custom = MtlsAuthz::Rack.new(StoryAPI, policy: holder, logger: Logger.new(log),
                                           operation: ->(_env) { "images:build" })
    assert_equal "", log.string
    holder.reload!(MtlsAuthz::Policy.load(ANY_POLICY))
    assert_equal 1, log.string.scan(PROTOCOL_WARNING).size # from mw only, not from custom
    mw.reload!(MtlsAuthz::Policy.load(WHOAMI_POLICY))
    assert_equal 1, log.string.scan(PROTOCOL_WARNING).size
    assert_raises(MtlsAuthz::PolicyError) { holder.reload!("/nonexistent.yaml") }
    assert_equal 1, log.string.scan(PROTOCOL_WARNING).size
    custom.reload!(MtlsAuthz::Policy.load(ANY_POLICY))
    assert_equal 2, log.string.scan(PROTOCOL_WARNING).size
  end

  # ---- middleware order ----

  class OverrideAPI < Grape::API
    post("containers/:id") { StoryAPI::CALLS << [:create, params[:id]]; {} }
    delete("containers/:id") { StoryAPI::CALLS << [:delete, params[:id]]; { deleted: params[:id] } }
  end

  OVERRIDE_POLICY = <<~YAML
    version: 1
    protocol: http
    rules:
      - id: create
        effect: allow
        principals: ["*"]
        operations: ["POST /containers/*"]
  YAML

  # Rack::MethodOverride turns a POST with _method=DELETE (a form field) or an
  # X-HTTP-Method-Override header into a DELETE. The middleware authorizes the request it
  # sees, so a rewrite after it is a bypass, and one before it is decided as rewritten.
  def test_method_override_must_run_before_the_middleware
    policy = MtlsAuthz::Policy.load(OVERRIDE_POLICY)
    after = Rack::Builder.new do
      use MtlsAuthz::Rack, policy: policy
      use Rack::MethodOverride
      run OverrideAPI
    end
    before = Rack::Builder.new do
      use Rack::MethodOverride
      use MtlsAuthz::Rack, policy: policy
      run OverrideAPI
    end
    overrides = [
      { input: "_method=DELETE", "CONTENT_TYPE" => "application/x-www-form-urlencoded" },
      { "HTTP_X_HTTP_METHOD_OVERRIDE" => "DELETE" }
    ]
    overrides.each do |override|
      env = peer("ops").merge(override)
      res = Rack::MockRequest.new(after).post("/containers/abc", env)
      assert_equal 200, res.status, "authorized as POST, run as DELETE: #{override}"
      assert_equal [[:delete, "abc"]], calls

      res = Rack::MockRequest.new(before).post("/containers/abc", env)
      assert_equal 403, res.status, override.to_s
      assert_empty calls
    end
    assert_equal 201, Rack::MockRequest.new(before).post("/containers/abc", peer("ops")).status
    assert_equal [[:create, "abc"]], calls
  end

  def test_bad_policy_path_raises_at_build
    e = assert_raises(MtlsAuthz::PolicyError) { build_app(policy: "/nonexistent/policy.yaml") }
    assert_match(/nonexistent/, e.message)
  end

  # ---- options given as a positional Hash ----

  # Puma's own builder (what puma uses for config.ru when the rack gem is absent) calls
  # middleware.new(app, *args): `use MtlsAuthz::Rack, policy: ...` arrives as one Hash.
  def test_puma_builder_passes_options_as_a_positional_hash
    require "puma/rack/builder"
    policy = EXAMPLE_POLICY
    inner = Puma::Rack::Builder.new do
      use MtlsAuthz::Rack, policy: policy
      run StoryAPI
    end.to_app
    use_app(inner)
    post "/containers/abc/exec", {}, peer("builder")
    assert_equal 403, last_response.status
    post "/images/build", {}, peer("builder")
    assert_equal 201, last_response.status
    assert_equal [:build], calls
  end

  def test_positional_options_are_checked_like_keywords
    app = ->(_env) { [200, {}, ["ok"]] }
    err = assert_raises(ArgumentError) { MtlsAuthz::Rack.new(app, { policy: EXAMPLE_POLICY, polcy: 1 }) }
    assert_match(/polcy/, err.message)
    err = assert_raises(ArgumentError) { MtlsAuthz::Rack.new(app, { "policy" => EXAMPLE_POLICY }) }
    assert_match(/keyword options/, err.message)
    assert_raises(ArgumentError) { MtlsAuthz::Rack.new(app, EXAMPLE_POLICY) }
    # Keywords win over the same key in the Hash.
    mw = MtlsAuthz::Rack.new(app, { log_format: :bogus }, policy: EXAMPLE_POLICY, log_format: :json)
    assert_kind_of MtlsAuthz::Rack, mw
  end

  private

  # The MtlsAuthz::Rack instance inside the built app.
  def find_middleware
    app
    obj = @middleware
    obj = obj.instance_variable_get(:@app) until obj.nil? || obj.is_a?(MtlsAuthz::Rack)
    obj
  end
end

class LRUTest < Minitest::Test
  def test_lru_order_and_bound
    lru = MtlsAuthz::LRU.new(2)
    assert_equal 1, lru.fetch(:a) { 1 }
    assert_equal 2, lru.fetch(:b) { 2 }
    assert_equal 1, lru.fetch(:a) { flunk "cached" }
    lru.fetch(:c) { 3 }
    assert lru.key?(:a)
    refute lru.key?(:b)
    assert_equal 2, lru.size
    assert_raises(ArgumentError) { MtlsAuthz::LRU.new(0) }
  end

  def test_lru_threads
    lru = MtlsAuthz::LRU.new(8)
    threads = 4.times.map do |t|
      Thread.new do
        2000.times do |i|
          k = (i + t) % 20
          assert_equal k, lru.fetch(k) { k }
        end
      end
    end
    threads.each(&:join)
    assert_operator lru.size, :<=, 8
  end
end
