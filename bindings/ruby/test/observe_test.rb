# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

require_relative "test_helper"
require "logger"
require "openssl"
require "rack"
require "rack/lint"
require "rack/mock"
require "stringio"

# The decision records of MtlsAuthz::Rack (docs/http.md, "The decision log"): what the logger,
# the on_decision hook and ActiveSupport::Notifications see, and that none of them can change
# an answer.
class ObserveTest < Minitest::Test
  include TestSupport

  OK = ->(_env) { [200, { "content-type" => "text/plain" }, ["ok\n"]] }

  def setup
    @log = StringIO.new
    @records = []
  end

  def middleware(**options)
    options = { policy: EXAMPLE_POLICY, on_decision: ->(r) { @records << r } }.merge(options)
    MtlsAuthz::Rack.new(OK, **options)
  end

  def request(mw, method, target, cert = nil)
    env = Rack::MockRequest.env_for(target, method: method)
    # Rack::MockRequest decodes nothing, but it does split the query off: keep the raw path.
    env["PATH_INFO"] = target.split("?", 2).first
    env["REMOTE_ADDR"] = "192.0.2.7"
    env["puma.peercert"] = OpenSSL::X509::Certificate.new(pem(cert)) if cert
    status, headers, body = Rack::Lint.new(mw).call(env)
    text = +""
    body.each { |chunk| text << chunk }
    body.close if body.respond_to?(:close)
    [status, headers, text]
  end

  # The identity keys of a record, as the library reads the certificate.
  def identity_keys(name)
    id = identity(name)
    { "spiffe_id" => id.spiffe_id, "subject" => id.dn, "issuer" => id.issuer,
      "serial" => id.serial, "sha256" => id.sha256 }
  end

  NO_IDENTITY_KEYS = { "spiffe_id" => nil, "subject" => nil, "issuer" => nil, "serial" => nil,
                       "sha256" => nil }.freeze

  def test_records_key_by_key
    mw = middleware
    request(mw, "POST", "/containers/abc/exec", "builder")
    request(mw, "GET", "/containers/abc/logs", "ops")
    request(mw, "GET", "/containers/abc%2Flogs", "ops")
    request(mw, "GET", "/healthz")
    request(mw, "POST", "/images/build?t=app", "builder")
    want = [
      { "decision" => "deny", "reason" => "denied", "rule" => "no-container-escape",
        "dry_run" => [], "operation" => "POST /containers/abc/exec", "status" => 403,
        **identity_keys("builder"), "remote" => "192.0.2.7", "detail" => nil },
      { "decision" => "allow", "reason" => "allowed", "rule" => "ops-read",
        "dry_run" => ["watch-logs"], "operation" => "GET /containers/abc/logs", "status" => nil,
        **identity_keys("ops"), "remote" => "192.0.2.7", "detail" => nil },
      { "decision" => "deny", "reason" => "bad_target", "rule" => nil, "dry_run" => [],
        "operation" => nil, "status" => 400, **identity_keys("ops"), "remote" => "192.0.2.7",
        "detail" => "HTTP request refused: encoded '/' in path" },
      { "decision" => "deny", "reason" => "no_identity", "rule" => nil, "dry_run" => [],
        "operation" => "GET /healthz", "status" => 401, **NO_IDENTITY_KEYS,
        "remote" => "192.0.2.7", "detail" => nil },
      { "decision" => "allow", "reason" => "allowed", "rule" => "build-images", "dry_run" => [],
        "operation" => "POST /images/build", "status" => nil, **identity_keys("builder"),
        "remote" => "192.0.2.7", "detail" => nil }
    ]
    assert_equal want.size, @records.size
    want.zip(@records).each do |w, r|
      assert_equal MtlsAuthz::HTTPContract::RECORD_KEYS, r.keys, "every key, in order"
      assert_equal w, r
      assert r.frozen?
    end
  end

  def test_rejected_and_error_records
    mw = middleware
    status, = request(mw, "GET", "/healthz", "nul-cn")
    assert_equal 403, status
    r = @records.last
    assert_equal ["deny", "identity_rejected", nil, 403], r.values_at("decision", "reason", "rule",
                                                                      "status")
    assert_equal "CN=admin\\00.evil.com,O=Example Corp", r["subject"]

    env_cert = "not a certificate"
    env = Rack::MockRequest.env_for("/healthz").merge("SSL_CLIENT_CERT" => env_cert)
    status, _h, body = mw.call(env)
    assert_equal 403, status
    assert_equal [%({"error":"forbidden","reason":"error","rule":null}\n)], body
    assert_equal ["deny", "error", nil, 403, nil], @records.last.values_at(
      "decision", "reason", "rule", "status", "subject"
    )
  end

  def test_headers_of_every_refusal
    mw = middleware
    [["GET", "/healthz", nil, 401], ["GET", "/a%2Fb", "ops", 400],
     ["POST", "/images/build", "ops", 403]].each do |method, target, cert, want|
      status, headers, body = request(mw, method, target, cert)
      assert_equal want, status
      assert_equal({ "content-type" => "application/json",
                     "content-length" => body.bytesize.to_s, "cache-control" => "no-store",
                     "x-content-type-options" => "nosniff" }, headers)
    end
  end

  # The body is the JSON minimum: a rule id with quotes, "<", "&" and non-ASCII text.
  def test_body_escaping_of_a_rule_id
    policy = MtlsAuthz::Policy.load(<<~YAML)
      version: 1
      protocol: http
      rules:
        - id: 'no "<exec>" & é \\ here'
          effect: deny
          principals: ["*"]
          operations: ["POST /x"]
    YAML
    status, _h, body = request(middleware(policy: policy), "POST", "/x", "ops")
    assert_equal 403, status
    assert_equal %({"error":"forbidden","reason":"denied",) +
                 %("rule":"no \\"<exec>\\" & é \\\\ here"}\n), body
    assert_equal Encoding::UTF_8, body.encoding
  end

  # Bodies are interned, in a bounded table: rule ids from many reloads cannot grow it.
  def test_body_table_is_bounded
    max = MtlsAuthz::HTTPContract::BODY_CACHE_MAX
    (max + 10).times do |i|
      body = MtlsAuthz::HTTPContract.body(403, :denied, "rule-#{i}")
      assert_equal %({"error":"forbidden","reason":"denied","rule":"rule-#{i}"}\n), body
      assert_same body, MtlsAuthz::HTTPContract.body(403, :denied, "rule-#{i}")
    end
    assert_operator MtlsAuthz::HTTPContract.instance_variable_get(:@size), :<=, max
  end

  # ---- levels and formats ----

  def test_levels
    mw = middleware(logger: Logger.new(@log))
    request(mw, "POST", "/images/build", "builder") # allow: info
    request(mw, "GET", "/containers/abc/logs", "ops") # allow with a dry-run match: warn
    request(mw, "POST", "/containers/abc/exec", "builder") # deny: warn
    request(mw, "GET", "/a%2Fb", "ops") # refused: warn
    levels = @log.string.lines.map { |l| l[/ (INFO|WARN|ERROR|DEBUG) -- /, 1] }
    assert_equal %w[INFO WARN WARN WARN], levels

    # At the default level of a production logger (warn), allows are not written.
    quiet = StringIO.new
    mw = middleware(logger: Logger.new(quiet, level: Logger::WARN))
    request(mw, "POST", "/images/build", "builder")
    assert_equal "", quiet.string
    request(mw, "GET", "/containers/abc/logs", "ops")
    assert_equal 1, quiet.string.lines.size
  end

  def test_json_log_key_by_key
    logger = Logger.new(@log, formatter: MtlsAuthz::JSONFormatter.new)
    mw = middleware(logger: logger, log_format: :json)
    request(mw, "GET", "/containers/abc/logs", "ops")
    request(mw, "GET", "/healthz")
    lines = @log.string.lines
    assert_equal 2, lines.size
    lines.each { |l| assert l.end_with?("}\n") }
    first = JSON.parse(lines[0])
    assert_equal %w[time level pid msg] + MtlsAuthz::HTTPContract::RECORD_KEYS, first.keys
    assert_equal "WARN", first["level"]
    assert_equal Process.pid, first["pid"]
    assert_equal "mtlsauthz", first["msg"]
    assert_in_delta Time.now, Time.iso8601(first["time"]), 60
    assert_equal @records[0], first.slice(*MtlsAuthz::HTTPContract::RECORD_KEYS)
    second = JSON.parse(lines[1])
    assert_equal @records[1], second.slice(*MtlsAuthz::HTTPContract::RECORD_KEYS)
    assert_equal [nil, nil, 401], second.values_at("rule", "subject", "status")
  end

  def test_json_formatter_messages
    f = MtlsAuthz::JSONFormatter.new
    t = Time.utc(2026, 1, 2, 3, 4, 5.25r)
    line = f.call("INFO", t, "app", "hello")
    assert_equal %({"time":"2026-01-02T03:04:05.250000Z","level":"INFO","pid":#{Process.pid},) +
                 %("progname":"app","msg":"hello"}\n), line
    assert_equal "boom (RuntimeError)",
                 JSON.parse(f.call("ERROR", t, nil, RuntimeError.new("boom")))["msg"]
    assert_equal ":sym", JSON.parse(f.call("INFO", t, nil, :sym))["msg"]
    # Bytes that are not UTF-8 (an identity's values may be) are written, not raised on.
    bad = (+"CN=\xFF\xFEx").force_encoding(Encoding::BINARY)
    msg = { "subject" => bad, "dry_run" => [bad], "n" => Float::NAN }
    h = JSON.parse(f.call("WARN", t, nil, msg))
    assert_equal "CN=\uFFFD\uFFFDx", h["subject"]
    assert_equal ["CN=\uFFFD\uFFFDx"], h["dry_run"]
    assert_equal "NaN", h["n"]
  end

  def test_text_log_with_bytes_that_are_not_utf8
    mw = middleware(logger: Logger.new(@log))
    request(mw, "GET", "/healthz", "nul-cn")
    assert_includes @log.string, 'subject="CN=admin\\\\00.evil.com,O=Example Corp"'
  end

  def test_option_checks
    assert_raises(ArgumentError) { middleware(log_format: :xml) }
    assert_raises(ArgumentError) { middleware(on_decision: "not callable") }
    assert_raises(ArgumentError) { middleware(on_reload: 42) }
    assert_raises(ArgumentError) { middleware(policy: example_policy, watch: true) }
  end

  # ---- the hook ----

  def test_on_decision_counts_by_decision_reason_and_rule
    counts = Hash.new(0)
    dry = Hash.new(0)
    hook = lambda do |r|
      counts[[r["decision"], r["reason"], r["rule"] || ""]] += 1
      r["dry_run"].each { |id| dry[id] += 1 }
    end
    mw = middleware(on_decision: hook)
    2.times { request(mw, "POST", "/containers/abc/exec", "builder") }
    request(mw, "POST", "/images/build", "builder")
    request(mw, "POST", "/images/build", "ops")
    3.times { request(mw, "GET", "/containers/abc/logs", "ops") }
    request(mw, "GET", "/healthz")
    request(mw, "GET", "/a%2Fb", "ops")
    assert_equal({ %w[deny denied no-container-escape] => 2, %w[allow allowed build-images] => 1,
                   ["deny", "no_match", ""] => 1, %w[allow allowed ops-read] => 3,
                   ["deny", "no_identity", ""] => 1, ["deny", "bad_target", ""] => 1 }, counts)
    assert_equal({ "watch-logs" => 3 }, dry)
  end

  # A hook that raises cannot turn a deny into an allow, nor fail the request: the answer is
  # the decision's, the error is logged at error level and counted.
  def test_raising_hook_changes_nothing
    mw = middleware(on_decision: ->(_r) { raise "metrics backend down" }, logger: Logger.new(@log))
    status, _h, body = request(mw, "POST", "/containers/abc/exec", "builder")
    assert_equal 403, status
    assert_equal %({"error":"forbidden","reason":"denied","rule":"no-container-escape"}\n), body
    status, _h, body = request(mw, "POST", "/images/build", "builder")
    assert_equal 200, status
    assert_equal "ok\n", body
    status, = request(mw, "GET", "/healthz")
    assert_equal 401, status
    assert_equal 3, mw.stats[:hook_errors]
    errors = @log.string.lines.grep(/ERROR -- /)
    assert_equal 3, errors.size
    assert_match(/the on_decision hook raised RuntimeError: metrics backend down; the request /,
                 errors[0])
    assert_match(/is answered as decided/, errors[0])
    # The record is frozen: a hook cannot change what the others see.
    mw = middleware(on_decision: ->(r) { r["decision"] = "allow" })
    status = nil
    _out, err = capture_io { status, = request(mw, "POST", "/containers/abc/exec", "builder") }
    assert_equal 403, status
    assert_match(/raised FrozenError/, err)
    assert_equal 1, mw.stats[:hook_errors]
  end

  def test_raising_logger_changes_nothing
    broken = Logger.new(@log)
    def broken.warn(*)
      raise IOError, "disk full"
    end
    mw = MtlsAuthz::Rack.new(OK, policy: EXAMPLE_POLICY, logger: broken)
    status, = nil
    _out, err = capture_io do
      status, = request(mw, "POST", "/containers/abc/exec", "builder")
    end
    assert_equal 403, status
    assert_equal 1, mw.stats[:hook_errors]
    assert_match(/the logger raised IOError: disk full/, @log.string + err)
  end

  # Without a logger, a hook's error goes to $stderr.
  def test_raising_hook_without_logger
    mw = middleware(on_decision: ->(_r) { raise ArgumentError, "bad label" })
    _out, err = capture_io { assert_equal 403, request(mw, "POST", "/images/build", "ops")[0] }
    assert_match(/mtlsauthz: the on_decision hook raised ArgumentError: bad label/, err)
  end

  # Without a logger, a hook or a subscriber, no record is built at all.
  def test_no_record_without_observers
    built = 0
    mw = MtlsAuthz::Rack.new(OK, policy: EXAMPLE_POLICY)
    mw.define_singleton_method(:record) { |*a| built += 1; super(*a) }
    request(mw, "POST", "/images/build", "builder")
    request(mw, "POST", "/containers/abc/exec", "builder")
    assert_equal 0, built
    mw = middleware
    mw.define_singleton_method(:record) { |*a| built += 1; super(*a) }
    request(mw, "POST", "/images/build", "builder")
    assert_equal 1, built
  end
end
