# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

require_relative "test_helper"
require "grape"
require "rack/test"
require "logger"
require "openssl"
require "stringio"

# Grape compiles every route with an optional format suffix, so a request whose last segment
# has one runs a handler whose operation, as sent, a deny does not name. These tests pin down
# what Grape routes (so a Grape upgrade that routes more fails here first), and what
# MtlsAuthz::Rack decides for each form. grape_routing_test.rb runs the attack over real Puma.
module SuffixAPIs
  CALLS = Queue.new

  # No `format`: every route ends in "(.:format)".
  class Plain < Grape::API
    post("containers/:id/exec") { CALLS << [:exec, params[:id], params[:format]]; "exec" }
    post("containers/:id/exec.v2") { CALLS << [:exec_v2, params[:id], params[:format]]; "v2" }
    get("containers/:id/logs") { CALLS << [:logs, params[:id]]; "logs" }
    get("files/:name") { CALLS << [:file, params[:name], params[:format]]; "file" }
    get("/") { CALLS << [:root]; "root" }
  end

  # `format :json`: every route ends in "(.json)".
  class Json < Grape::API
    format :json
    post("containers/:id/exec") { CALLS << [:exec, params[:id], params[:format]]; {} }
  end
end

class FormatSuffixTest < Minitest::Test
  include TestSupport
  include Rack::Test::Methods

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
        operations: ["* /containers/**", "GET /files/report.pdf", "GET /files/notes", "GET /"]
      - id: no-exec
        effect: deny
        principals: ["*"]
        operations: ["POST /containers/*/exec", "POST /containers/*/exec.v2"]
      - id: private-file
        effect: deny
        principals: ["*"]
        operations: ["GET /files/a.b"]
      - id: watch-logs
        effect: deny
        mode: dry-run
        principals: [ops]
        operations: ["GET /containers/*/logs"]
  YAML

  # What Grape 1.6 routes to the exec handler, raw segment after /containers/abc/ =>
  # [Plain (.:format), Json (.json)]. Probed against Debian's ruby-grape 1.6.2 with
  # Mustermann 3: a format is one or more characters other than "/", "?", "#" and a literal
  # "."; an encoded dot (%2E) matches a "." in the route and may also sit inside the format.
  GRAPE_ROUTES_EXEC = {
    "exec" => [true, true],
    "exec.json" => [true, true],
    "exec.json/" => [true, true],
    "exec%2Ejson" => [true, true],
    "exec%2ejson" => [true, true],
    "exec.%6Ason" => [true, true],
    "exec.j%73on" => [true, true],
    "exec.xml" => [true, false],
    "exec.JSON" => [true, false],
    "exec.foo" => [true, false],
    "exec.1" => [true, false],
    "exec.a+b" => [true, false],
    "exec.a%20b" => [true, false],
    "exec.%C3%A9" => [true, false],
    "exec.json~" => [true, false],
    "exec.json%2Ejson" => [true, false], # format "json.json"
    "exec%2Ejson%2Ejson" => [true, false],
    "exec.a%2Eb" => [true, false],
    "exec%2E%2Ejson" => [true, false],   # format ".json"
    "exec.%2Ejson" => [true, false],
    "exec.v2%2Ejson" => [true, false],   # the exec handler, format "v2.json"
    "exec." => [false, false],
    "exec%2E" => [false, false],
    "exec..json" => [false, false],
    "exec.json.json" => [false, false],
    "exec.tar.gz" => [false, false],
    "exec;json" => [false, false],
    "exec~json" => [false, false],
    "EXEC" => [false, false],
    "EXEC.json" => [false, false]
  }.freeze

  def setup
    SuffixAPIs::CALLS.clear
    @log = StringIO.new
    @records = []
    @options = { policy: MtlsAuthz::Policy.load(POLICY), logger: Logger.new(@log),
                 on_decision: ->(r) { @records << r } }
    @app = nil
  end

  def app
    @app ||= begin
      options = @options
      Rack::Builder.new do
        use Rack::Lint
        use MtlsAuthz::Rack, **options
        run SuffixAPIs::Plain
      end.to_app
    end
  end

  # Rack::Test keeps the app of its first request: drop both after changing @options.
  def rebuild
    @app = nil
    @_rack_test_sessions = nil
    @_rack_test_current_session = nil
  end

  def calls
    out = []
    out << SuffixAPIs::CALLS.pop until SuffixAPIs::CALLS.empty?
    out
  end

  def ops
    { "puma.peercert" => OpenSSL::X509::Certificate.new(pem("ops")), "HTTPS" => "on" }
  end

  def readings(op)
    MtlsAuthz::Rack.format_suffix_readings(op)
  end

  # ---- what Grape routes ----

  def test_what_grape_routes_to_the_exec_handler
    got = GRAPE_ROUTES_EXEC.keys.to_h do |seg|
      routed = [SuffixAPIs::Plain, SuffixAPIs::Json].map do |api|
        Rack::MockRequest.new(api).post("/containers/abc/#{seg}")
        calls.any? { |c| c[0] == :exec && c[1] == "abc" }
      end
      [seg, routed]
    end
    assert_equal GRAPE_ROUTES_EXEC, got
  end

  # A suffix is not cut from a segment before the last: Grape's ":id" takes no literal ".",
  # and an encoded one stays in the parameter.
  def test_grape_has_no_suffix_on_an_inner_segment
    bare = Rack::MockRequest.new(SuffixAPIs::Plain)
    assert_equal 404, bare.post("/containers/abc.json/exec").status
    assert_equal 201, bare.post("/containers/abc%2Ejson/exec").status
    assert_equal [[:exec, "abc.json", nil]], calls
    assert_equal 200, bare.get("/.json").status # the root route has a suffix too
    assert_equal [[:root]], calls
  end

  # ---- the readings ----

  def test_readings
    assert_equal [], readings("POST /containers/abc/exec")
    assert_equal ["POST /containers/abc/exec"], readings("POST /containers/abc/exec.json")
    assert_equal ["POST /containers/abc/exec", "POST /containers/abc/exec.json"],
                 readings("POST /containers/abc/exec.json.json")
    assert_equal ["POST /containers/abc/exec", "POST /containers/abc/exec."],
                 readings("POST /containers/abc/exec..json")
    assert_equal ["POST /containers/abc/exec"], readings("POST /containers/abc/exec.")
    assert_equal ["GET /"], readings("GET /.json")
    assert_equal ["GET /files"], readings("GET /files/.json")
    assert_equal ["GET /files/r", "GET /files/r.tar"], readings("GET /files/r.tar.gz")
    assert_equal ["GET /files/é"], readings("GET /files/é.json")
    assert_equal [], readings("GET /a.b/c")          # an inner segment keeps its dot
    assert_equal [], readings("images:build")        # a named operation
    assert_equal [], readings("/pkg.Service/Method") # a gRPC method: no HTTP method
    assert_equal [], readings("GET x.json")
    assert_equal [], readings(" /x.json")
    assert_equal ["GET /\xFF"], readings((+"GET /\xFF.json").force_encoding(Encoding::UTF_8))
    assert readings("GET /x.json").frozen?
  end

  def test_readings_are_bounded
    max = MtlsAuthz::Rack::MAX_SUFFIX_DOTS
    assert_equal max, readings("GET /f#{'.x' * max}").size
    e = assert_raises(MtlsAuthz::OperationError) { readings("GET /f#{'.x' * (max + 1)}") }
    assert_match(/more than #{max} '\.' in the last path segment/, e.message)
    assert_equal 1, readings("GET /#{'a.' * (max + 1)}/f.x").size # only the last segment counts

    post "/containers/abc/exec#{'.' * (max + 1)}json", {}, ops
    assert_equal 400, last_response.status
    assert_equal %({"error":"bad_request","reason":"bad_target","rule":null}\n), last_response.body
    assert_nil last_request.env["mtlsauthz.decision"]
    assert_nil last_request.env["mtlsauthz.operation"]
    r = @records.last
    assert_equal ["deny", "bad_target", nil, 400], r.values_at("decision", "reason", "operation",
                                                                 "status")
    assert_equal "HTTP request refused: more than #{max} '.' in the last path segment",
                 r["detail"]
    assert_empty calls
  end

  # ---- what the middleware decides ----

  def test_every_form_grape_routes_is_denied
    routed = GRAPE_ROUTES_EXEC.select { |_seg, (plain, _json)| plain }.keys
    routed.each do |seg|
      post "/containers/abc/#{seg}", {}, ops
      assert_equal 403, last_response.status, seg
      d = last_request.env["mtlsauthz.decision"]
      assert_equal [:denied, "no-exec"], [d.reason, d.rule], seg
      assert_equal MtlsAuthz.http_operation("POST", "/containers/abc/#{seg}"),
                   last_request.env["mtlsauthz.operation"], "the operation as sent"
    end
    assert_empty calls
    # A form Grape does not route is denied too: broader than needed, never an allow.
    post "/containers/abc/exec.tar.gz", {}, ops
    assert_equal 403, last_response.status
  end

  # A route that ends in a dotted literal: its deny holds with a suffix, encoded or not.
  def test_dotted_route_with_suffix_is_denied
    ["exec.v2", "exec.v2.json", "exec%2Ev2%2Ejson", "exec.v2%2Ejson"].each do |seg|
      post "/containers/abc/#{seg}", {}, ops
      assert_equal 403, last_response.status, seg
    end
    assert_empty calls
  end

  # An inner segment: the handler gets the id "a.b", which the policy sees as such.
  def test_inner_segment_with_encoded_dot
    post "/containers/a%2Eb/exec", {}, ops
    assert_equal 403, last_response.status
    assert_equal "POST /containers/a.b/exec", last_request.env["mtlsauthz.operation"]
  end

  def test_allow_needs_the_operation_as_sent
    get "/files/report.pdf", {}, ops
    assert_equal 200, last_response.status
    get "/files/notes", {}, ops
    assert_equal 200, last_response.status
    # Grape routes both to the files handler with name "notes"/"report"; neither is granted.
    ["/files/notes.txt", "/files/report", "/files/report.pdf.txt"].each do |path|
      get path, {}, ops
      assert_equal 403, last_response.status, path
      assert_equal :no_match, last_request.env["mtlsauthz.decision"].reason, path
    end
    assert_equal [[:file, "report", "pdf"], [:file, "notes", nil]], calls
  end

  # /files/a%2Eb.c runs the files handler with name "a.b": the deny on "GET /files/a.b"
  # holds, which a cut at the last dot alone would miss.
  def test_deny_on_a_dotted_name
    get "/files/a%2Eb.c", {}, ops
    assert_equal 403, last_response.status
    assert_equal "private-file", last_request.env["mtlsauthz.decision"].rule
    assert_empty calls
  end

  # The record names the operation as sent and the rule that denied its reading.
  def test_deny_from_a_reading_is_logged_with_its_rule
    post "/containers/abc/exec.json", {}, ops
    assert_equal %({"error":"forbidden","reason":"denied","rule":"no-exec"}\n),
                 last_response.body
    r = @records.last
    assert_equal ["deny", "denied", "no-exec", "POST /containers/abc/exec.json", 403],
                 r.values_at("decision", "reason", "rule", "operation", "status")
    assert_match(/WARN -- : mtlsauthz: decision="deny" reason="denied" rule="no-exec" /,
                 @log.string)
  end

  # A dry-run rule reports the requests it would deny once enforced, suffix or not: the
  # allow's record lists it and is logged at warn.
  def test_dry_run_rule_matches_the_reading
    get "/containers/abc/logs.json", {}, ops
    assert_equal 200, last_response.status
    r = @records.last
    assert_equal ["allow", "ops-containers", ["watch-logs"], "GET /containers/abc/logs.json"],
                 r.values_at("decision", "rule", "dry_run", "operation")
    assert_match(/WARN -- : mtlsauthz: decision="allow" .*dry_run=\["watch-logs"\]/,
                 @log.string)
  end

  def test_middleware_dry_run_lets_a_suffix_deny_through
    @options[:dry_run] = true
    post "/containers/abc/exec.json", {}, ops
    assert_equal 201, last_response.status
    assert_equal "no-exec", last_request.env["mtlsauthz.decision"].rule
    r = @records.last
    assert_equal ["deny", "no-exec", nil], r.values_at("decision", "rule", "status")
    assert_match(/WARN -- : mtlsauthz: decision="deny" reason="denied" rule="no-exec" /,
                 @log.string)
  end

  # Without a certificate the answer stays 401: the readings add only enforce-mode denies.
  def test_no_identity_stays_401
    post "/containers/abc/exec.json"
    assert_equal 401, last_response.status
    assert_equal :no_identity, last_request.env["mtlsauthz.decision"].reason
  end

  def test_custom_http_operation_gets_the_rule_and_named_operations_do_not
    @options[:operation] = ->(env) { "POST #{env['PATH_INFO']}" }
    post "/containers/abc/exec.json", {}, ops
    assert_equal 403, last_response.status
    assert_equal "no-exec", last_request.env["mtlsauthz.decision"].rule

    @options[:operation] = ->(_env) { "containers.exec.json" }
    rebuild
    post "/containers/abc/exec.json", {}, ops
    assert_equal 403, last_response.status
    assert_equal :no_match, last_request.env["mtlsauthz.decision"].reason
  end

  def test_format_suffix_false_decides_as_sent_only
    @options[:format_suffix] = false
    post "/containers/abc/exec", {}, ops
    assert_equal 403, last_response.status
    post "/containers/abc/exec.json", {}, ops
    assert_equal 201, last_response.status
    assert_equal :allowed, last_request.env["mtlsauthz.decision"].reason
    post "/containers/abc/exec#{'.' * 40}json", {}, ops # no readings, so no bound either
    assert_equal 404, last_response.status
    assert_equal [[:exec, "abc", "json"]], calls
  end
end
