# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

require_relative "test_helper"
require "logger"
require "openssl"
require "rack/mock"
require "stringio"

# ActiveSupport::Notifications (Debian's ruby-activesupport): "mtlsauthz.decision" carries the
# decision record and "mtlsauthz.reload" each reload, when ActiveSupport is loaded; the gem
# itself never loads it.
class NotificationsTest < Minitest::Test
  include TestSupport

  OK = ->(_env) { [200, {}, ["ok\n"]] }

  def env(target, cert, method: "GET")
    e = Rack::MockRequest.env_for(target, method: method, "REMOTE_ADDR" => "192.0.2.9")
    e["puma.peercert"] = OpenSSL::X509::Certificate.new(pem(cert)) if cert
    e
  end

  # In a fresh process: requiring the gem and deciding requests loads no ActiveSupport.
  def test_the_gem_does_not_load_active_support
    script = <<~RUBY
      require "mtlsauthz"
      require "logger"
      mw = MtlsAuthz::Rack.new(->(_e) { [200, {}, ["ok"]] }, policy: #{EXAMPLE_POLICY.inspect},
                               logger: Logger.new(File::NULL), on_decision: ->(_r) {})
      status, = mw.call("REQUEST_METHOD" => "GET", "PATH_INFO" => "/healthz", "SCRIPT_NAME" => "")
      raise "expected 401, got \#{status}" unless status == 401
      loaded = $LOADED_FEATURES.grep(/active_support/)
      puts defined?(ActiveSupport).inspect, loaded.size
    RUBY
    out, err, st = Open3.capture3(child_env, RbConfig.ruby, "-e", script)
    assert st.success?, err
    assert_equal "nil\n0\n", out
  end

  def with_active_support
    require "active_support"
    require "active_support/notifications"
    events = []
    subs = %w[mtlsauthz.decision mtlsauthz.reload].map do |name|
      ActiveSupport::Notifications.subscribe(name) do |*args|
        events << ActiveSupport::Notifications::Event.new(*args)
      end
    end
    yield events
  ensure
    subs&.each { |s| ActiveSupport::Notifications.unsubscribe(s) }
  end

  def test_decision_events_carry_the_record
    records = []
    mw = MtlsAuthz::Rack.new(OK, policy: EXAMPLE_POLICY, on_decision: ->(r) { records << r })
    with_active_support do |events|
      assert_equal 403, mw.call(env("/containers/abc/exec", "builder", method: "POST"))[0]
      assert_equal 200, mw.call(env("/containers/abc/logs", "ops"))[0]
      assert_equal 401, mw.call(env("/healthz", nil))[0]
      assert_equal 3, events.size
      assert_equal ["mtlsauthz.decision"] * 3, events.map(&:name)
      assert_equal records, events.map(&:payload)
      first = events[0].payload
      assert_equal MtlsAuthz::HTTPContract::RECORD_KEYS, first.keys
      assert_equal ["deny", "denied", "no-container-escape", 403, "192.0.2.9"],
                   first.values_at("decision", "reason", "rule", "status", "remote")
      assert_equal ["watch-logs"], events[1].payload["dry_run"]
    end
    # Unsubscribed: no more events, and no record is built for nobody.
    mw2 = MtlsAuthz::Rack.new(OK, policy: EXAMPLE_POLICY)
    refute MtlsAuthz::Rack.notifications_listening?("mtlsauthz.decision")
    built = 0
    mw2.define_singleton_method(:record) { |*a| built += 1; super(*a) }
    mw2.call(env("/healthz", "ops"))
    assert_equal 0, built
  end

  # Without an on_decision hook or a logger, a subscriber alone gets the records.
  def test_subscriber_alone
    mw = MtlsAuthz::Rack.new(OK, policy: EXAMPLE_POLICY)
    with_active_support do |events|
      mw.call(env("/images/build", "builder", method: "POST"))
      assert_equal 1, events.size
      assert_equal ["allow", "build-images"], events[0].payload.values_at("decision", "rule")
    end
  end

  def test_raising_subscriber_changes_nothing
    mw = MtlsAuthz::Rack.new(OK, policy: EXAMPLE_POLICY)
    with_active_support do
      sub = ActiveSupport::Notifications.subscribe("mtlsauthz.decision") { raise "subscriber bug" }
      begin
        _out, err = capture_io do
          assert_equal 403, mw.call(env("/containers/abc/exec", "builder", method: "POST"))[0]
          assert_equal 200, mw.call(env("/healthz", "builder"))[0]
        end
        assert_match(/subscriber of mtlsauthz.decision raised RuntimeError: subscriber bug/, err)
        assert_equal 2, mw.stats[:hook_errors]
      ensure
        ActiveSupport::Notifications.unsubscribe(sub)
      end
    end
  end

  def test_reload_events
    Dir.mktmpdir do |dir|
      path = File.join(dir, "policy.yaml")
      File.write(path, File.read(EXAMPLE_POLICY))
      mw = MtlsAuthz::Rack.new(OK, policy: path, logger: Logger.new(StringIO.new))
      with_active_support do |events|
        mw.reload!
        File.write(path, "version: 1\nrules: [")
        assert_raises(MtlsAuthz::PolicyError) { mw.reload! }
        assert_equal %w[success failure], events.map { |e| e.payload["result"] }
        assert_equal ["mtlsauthz.reload"] * 2, events.map(&:name)
        assert_nil events[0].payload["error"]
        assert_match(/policy.yaml/, events[1].payload["error"])
      end
    end
  end
end
