# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

require_relative "test_helper"
require "logger"
require "stringio"
require "open3"

# Reloading from the policy file (PolicyHolder#reload_if_changed and #watch), its counters,
# and how MtlsAuthz::Rack reports reloads. puma_reload_test.rb runs the same over real Puma.
class ReloadTest < Minitest::Test
  include TestSupport

  ONE = TestSupport.allow_only("one")
  TWO = TestSupport.allow_only("two")
  THREE = TestSupport.allow_only("three")
  BAD = TestSupport::BAD_POLICY

  def setup
    @dir = Dir.mktmpdir("mtlsauthz-reload")
    @id = identity("plain")
  end

  def teardown
    @holders&.each(&:close)
    FileUtils.rm_rf(@dir)
  end

  def holder(path, **options)
    (@holders ||= []) << MtlsAuthz::PolicyHolder.new(path, **options)
    @holders.last
  end

  # Which of /one, /two, /three the policy in use allows.
  def allowed(h)
    %w[one two three].select { |p| h.authorize(@id, "GET /#{p}").allowed? }
  end

  def wait_for(timeout = 10)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    until yield
      flunk "not within #{timeout}s" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      sleep 0.02
    end
  end

  def test_stats_of_the_first_load
    h = holder(EXAMPLE_POLICY)
    s = h.stats
    assert_equal 0, s[:reload_successes]
    assert_equal 0, s[:reload_failures]
    assert_nil s[:last_reload_error]
    assert_equal example_policy.rule_count, s[:rules]
    assert_kind_of Float, s[:load_seconds]
    assert_operator s[:load_seconds], :>, 0
    assert_in_delta Time.now, s[:loaded_at], 60
    assert_equal EXAMPLE_POLICY, s[:path]
    assert_nil s[:watch_interval]
  end

  def test_failed_reload_is_counted_and_the_old_policy_stays
    path = File.join(@dir, "policy.yaml")
    File.write(path, ONE)
    h = holder(path)
    failures = []
    h.on_reload_failure { |e| failures << e }
    File.write(path, BAD)
    e = assert_raises(MtlsAuthz::PolicyError) { h.reload! }
    assert_equal [e], failures
    assert_equal %w[one], allowed(h)
    s = h.stats
    assert_equal [0, 1, e.message], s.values_at(:reload_successes, :reload_failures,
                                                :last_reload_error)
    assert_in_delta Time.now, s[:last_reload_failure_at], 60
    File.write(path, TWO)
    h.reload!
    assert_equal %w[two], allowed(h)
    assert_equal [1, 1, 1], h.stats.values_at(:reload_successes, :reload_failures, :rules)
  end

  def test_reload_if_changed_after_a_rewrite
    path = File.join(@dir, "policy.yaml")
    File.write(path, ONE)
    h = holder(path)
    assert_equal :unchanged, h.reload_if_changed
    File.write(path, TWO)
    assert_equal :reloaded, h.reload_if_changed
    assert_equal %w[two], allowed(h)
    assert_equal :unchanged, h.reload_if_changed
    assert_equal 1, h.stats[:reload_successes]
  end

  # A file renamed over the policy with the same size and mtime: the inode tells them apart.
  def test_rename_over_with_the_same_size_and_mtime
    path = File.join(@dir, "policy.yaml")
    File.write(path, ONE)
    h = holder(path)
    tmp = File.join(@dir, "new.yaml")
    File.write(tmp, ONE.gsub("one", "two"))
    assert_equal File.size(path), File.size(tmp)
    File.utime(File.atime(path), File.mtime(path), tmp)
    File.rename(tmp, path)
    assert_equal :reloaded, h.reload_if_changed
    assert_equal %w[two], allowed(h)
  end

  # The kubelet's update of a ConfigMap volume: symlinks swapped by rename, the file the
  # holder read never written.
  def test_configmap_symlink_swap
    cm = ConfigMapDir.new(@dir, "policy.yaml" => ONE)
    h = holder(cm.path("policy.yaml"))
    assert_equal %w[one], allowed(h)
    cm.update("policy.yaml" => TWO)
    assert_equal :reloaded, h.reload_if_changed
    assert_equal %w[two], allowed(h)

    cm.update("policy.yaml" => BAD)
    assert_equal :failed, h.reload_if_changed
    assert_equal %w[two], allowed(h)
    assert_equal :unchanged, h.reload_if_changed # a bad file is tried once, not every check
    assert_equal [1, 1], h.stats.values_at(:reload_successes, :reload_failures)

    cm.update("policy.yaml" => THREE)
    assert_equal :reloaded, h.reload_if_changed
    assert_equal %w[three], allowed(h)
    assert_equal cm.path("policy.yaml"), h.path
  end

  def test_missing_file_keeps_the_policy
    path = File.join(@dir, "policy.yaml")
    File.write(path, ONE)
    h = holder(path)
    File.unlink(path)
    assert_equal :failed, h.reload_if_changed
    assert_equal %w[one], allowed(h)
    assert_equal :unchanged, h.reload_if_changed
    File.write(path, TWO)
    assert_equal :reloaded, h.reload_if_changed
    assert_equal %w[two], allowed(h)
  end

  def test_watch_thread_reloads
    cm = ConfigMapDir.new(@dir, "policy.yaml" => ONE)
    h = holder(cm.path("policy.yaml"), watch: 0.05)
    refute h.watching?, "started lazily, by the first request"
    h.watch_tick
    assert h.watching?
    cm.update("policy.yaml" => TWO)
    wait_for { allowed(h) == %w[two] }
    cm.update("policy.yaml" => BAD)
    wait_for { h.stats[:reload_failures] == 1 }
    sleep 0.3 # several checks: the bad file is not tried again, the good policy stays
    assert_equal %w[two], allowed(h)
    assert_equal [1, 1], h.stats.values_at(:reload_successes, :reload_failures)
    cm.update("policy.yaml" => THREE)
    wait_for { allowed(h) == %w[three] }
    h.unwatch
    refute h.watching?
  end

  # The first request of a process picks up a change made before it, before it is decided.
  def test_first_request_sees_an_earlier_change
    path = File.join(@dir, "policy.yaml")
    File.write(path, ONE)
    h = holder(path, watch: 60)
    File.write(path, TWO)
    h.watch_tick
    assert_equal %w[two], allowed(h)
  end

  # A forked child (a Puma worker) has none of its parent's threads: its first request starts
  # its own watch.
  def test_watch_restarts_after_fork
    cm = ConfigMapDir.new(@dir, "policy.yaml" => ONE)
    h = holder(cm.path("policy.yaml"), watch: 0.05)
    h.watch_tick
    assert h.watching?
    rd, wr = IO.pipe
    pid = fork do
      rd.close
      wr.puts(h.watching? ? "watching" : "not watching")
      h.watch_tick
      wr.puts(h.watching? ? "watching" : "not watching")
      cm.update("policy.yaml" => TWO)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
      sleep 0.02 until allowed(h) == %w[two] ||
                       Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      wr.puts(allowed(h).inspect)
      wr.close
      exit!(0)
    end
    wr.close
    assert_equal ["not watching\n", "watching\n", %(["two"]\n)], rd.readlines
    Process.wait(pid)
  end

  def test_watch_arguments
    assert_raises(ArgumentError) { MtlsAuthz::PolicyHolder.new(example_policy).watch }
    assert_raises(ArgumentError) { holder(EXAMPLE_POLICY, watch: 0) }
    assert_raises(ArgumentError) { holder(EXAMPLE_POLICY, watch: "2") }
    assert_raises(ArgumentError) { holder(EXAMPLE_POLICY, watch: Float::INFINITY) }
    assert_equal MtlsAuthz::PolicyHolder::DEFAULT_WATCH_INTERVAL,
                 holder(EXAMPLE_POLICY, watch: true).watch_interval
    h = holder(EXAMPLE_POLICY)
    h.watch_tick
    refute h.watching?, "no watch unless asked for"
  end

  # The watch thread is stopped and joined before the interpreter exits: the at_exit hook
  # registered first runs last, and sees no watch thread and no error from the others.
  def test_watch_thread_is_joined_at_exit
    script = <<~RUBY
      at_exit { puts "threads at exit: \#{Thread.list.map(&:name).compact.sort.inspect}" }
      require "mtlsauthz"
      h = MtlsAuthz::PolicyHolder.new(ARGV[0], watch: 0.05)
      h.watch_tick # the watch thread starts with the first request
      abort "no watch thread" unless h.watching?
      sleep 0.2
    RUBY
    out, err, status = Open3.capture3(RbConfig.ruby, "-I", File.expand_path("../lib", __dir__),
                                      "-e", script, EXAMPLE_POLICY)
    assert status.success?, err
    assert_equal "", err
    assert_equal "threads at exit: []\n", out
  end

  # ---- MtlsAuthz::Rack's reports ----

  def test_rack_reports_reloads
    path = File.join(@dir, "policy.yaml")
    File.write(path, ONE)
    log = StringIO.new
    events = []
    mw = MtlsAuthz::Rack.new(->(_e) { [200, {}, ["ok\n"]] }, policy: path, watch: 60,
                             logger: Logger.new(log), on_reload: ->(e) { events << e })
    assert_equal 60.0, mw.holder.watch_interval
    File.write(path, TWO)
    mw.reload!
    File.write(path, BAD)
    assert_raises(MtlsAuthz::PolicyError) { mw.reload! }
    assert_equal 2, events.size
    ok, failed = events
    assert_equal ["success", path, nil, 1], ok.values_at("result", "path", "error", "rules")
    assert_kind_of Float, ok["load_seconds"]
    assert_kind_of Time, ok["loaded_at"]
    assert_equal ["failure", path, 1, ok["loaded_at"]],
                 failed.values_at("result", "path", "rules", "loaded_at")
    assert_match(/missing key .principals./, failed["error"])
    lines = log.string.lines
    assert_match(/INFO -- : mtlsauthz: policy reloaded: result="success" path=/, lines[0])
    assert_match(/ERROR -- : mtlsauthz: policy reload failed; keeping the last good policy: /,
                 lines[1])
    assert_match(/result="failure" path=.* error=".*missing key/, lines[1])
    assert_equal({ reload_successes: 1, reload_failures: 1, hook_errors: 0 },
                 mw.stats.slice(:reload_successes, :reload_failures, :hook_errors))
  end

  def test_rack_reload_failure_without_logger_goes_to_stderr
    path = File.join(@dir, "policy.yaml")
    File.write(path, ONE)
    mw = MtlsAuthz::Rack.new(->(_e) { [200, {}, ["ok\n"]] }, policy: path)
    File.write(path, BAD)
    _out, err = capture_io { assert_raises(MtlsAuthz::PolicyError) { mw.reload! } }
    assert_match(/\Amtlsauthz: policy reload failed; keeping the last good policy: /, err)
    assert_match(/: result="failure" path=/, err)
  end

  def test_raising_on_reload_hook_does_not_undo_the_reload
    path = File.join(@dir, "policy.yaml")
    File.write(path, ONE)
    mw = MtlsAuthz::Rack.new(->(_e) { [200, {}, ["ok\n"]] }, policy: path,
                             on_reload: ->(_e) { raise "gauge broken" })
    File.write(path, TWO)
    _out, err = capture_io { mw.reload! }
    assert_match(/on_reload hook raised RuntimeError: gauge broken; the reload stands/, err)
    assert_equal %w[two], allowed(mw.holder)
    assert_equal 1, mw.stats[:hook_errors]
  end
end
