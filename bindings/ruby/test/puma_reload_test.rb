# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

require_relative "test_helper"
require "net/http"
require "openssl"

# The README's reload recipe (`watch:`) under a real Puma with mutual TLS, in cluster mode
# (`workers 2`, with and without preload_app!) and in single mode: the policy, mounted the
# way Kubernetes mounts a ConfigMap, is changed while clients keep sending requests. Every
# worker must answer by the new policy, a bad policy must leave the old one in force (and be
# logged by every worker), and no request may fail: no connection error, no 5xx.
class PumaReloadTest < Minitest::Test
  include TestSupport

  ONE = TestSupport.allow_only("one")
  TWO = TestSupport.allow_only("two")
  BAD = TestSupport::BAD_POLICY
  INTERVAL = 0.2

  APP = <<~RUBY
    require "mtlsauthz"
    require "logger"
    # Which process answered, for the test (the middleware's own 403s included).
    class WorkerPid
      def initialize(app)
        @app = app
      end

      def call(env)
        status, headers, body = @app.call(env)
        headers["x-worker-pid"] = Process.pid.to_s
        [status, headers, body]
      end
    end
    use WorkerPid
    use MtlsAuthz::Rack, policy: ENV.fetch("TEST_POLICY"), watch: #{INTERVAL},
                         logger: Logger.new($stdout, formatter: MtlsAuthz::JSONFormatter.new),
                         log_format: :json
    run ->(_env) { [200, { "content-type" => "text/plain" }, ["ok\\n"]] }
  RUBY

  def setup
    @dir = Dir.mktmpdir("mtlsauthz-puma-reload")
    @cm = ConfigMapDir.new(File.join(@dir, "config").tap { |d| Dir.mkdir(d) },
                           "policy.yaml" => ONE)
  end

  def teardown
    @stop = true
    @clients&.each(&:join)
    @server&.stop
    FileUtils.rm_rf(@dir)
  end

  def start_puma(mode)
    config = +<<~RUBY
      ssl_bind "127.0.0.1", "0", cert: #{cert_path('server-chain.pem').inspect},
               key: #{cert_path('server.key').inspect}, ca: #{cert_path('ca.pem').inspect},
               verify_mode: "force_peer"
      rackup #{File.join(@dir, 'config.ru').inspect}
      threads 1, 4
      environment "test"
    RUBY
    config << "workers 2\n" if mode != :single
    config << "preload_app!\n" if mode == :preload
    File.write(File.join(@dir, "config.ru"), APP)
    File.write(File.join(@dir, "puma.rb"), config)
    @server = PumaProcess.start(["puma", "-C", File.join(@dir, "puma.rb")],
                                env: child_env.merge("TEST_POLICY" => @cm.path("policy.yaml")),
                                log_path: File.join(@dir, "puma.log"))
  end

  # Client threads, each sending GET /one and GET /two in turn on a new TLS connection per
  # request (so that both workers get connections), recording every outcome.
  def start_clients(count = 4)
    @results = Queue.new
    @stop = false
    @clients = Array.new(count) do |t|
      Thread.new do
        i = t
        until @stop
          path = i.even? ? "/one" : "/two"
          i += 1
          @results << request(path)
          sleep 0.005
        end
      end
    end
  end

  # [monotonic time it was sent, path, status or the exception, worker pid]
  def request(path)
    sent = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    http = Net::HTTP.new("localhost", @server.port)
    http.use_ssl = true
    http.ca_file = cert_path("ca.pem")
    http.verify_mode = OpenSSL::SSL::VERIFY_PEER
    http.cert = OpenSSL::X509::Certificate.new(File.read(cert_path("plain.pem")))
    http.extra_chain_cert = [OpenSSL::X509::Certificate.new(File.read(cert_path("int.pem")))]
    http.key = OpenSSL::PKey.read(File.read(cert_path("plain.key")))
    http.open_timeout = http.read_timeout = 20
    res = http.start { |h| h.get(path) }
    [sent, path, Integer(res.code), res["x-worker-pid"]]
  rescue StandardError => e
    [sent, path, e, nil]
  end

  def drain
    @seen ||= []
    @seen << @results.pop until @results.empty?
    @seen
  end

  # Waits until, for every worker, requests sent after `since` were answered as `want`
  # ({"/one" => 200, "/two" => 403}); returns the worker pids.
  def wait_all_workers(since, want, workers)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 60
    loop do
      by_pid = drain.select { |sent, _p, st, _pid| sent > since && st.is_a?(Integer) }
                    .group_by { |r| r[3] }
      done = by_pid.size == workers && by_pid.values.all? do |rs|
        want.all? { |path, status| rs.any? { |r| r[1] == path && r[2] == status } }
      end
      return by_pid.keys.sort if done
      if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
        flunk "workers did not all answer #{want} within 60s: " \
              "#{by_pid.transform_values { |rs| rs.map { |r| r[1..2] }.uniq }}\n#{@server.log}"
      end
      sleep 0.05
    end
  end

  def now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  # The JSON records Puma's workers logged.
  def log_records
    @server.log.lines.filter_map do |l|
      JSON.parse(l) if l.start_with?("{")
    rescue JSON::ParserError
      nil
    end
  end

  def run_story(mode, workers)
    start_puma(mode)
    start_clients
    pids = wait_all_workers(now, { "/one" => 200, "/two" => 403 }, workers)
    assert_equal workers, pids.size

    changed = now
    @cm.update("policy.yaml" => TWO)
    assert_equal pids, wait_all_workers(changed, { "/one" => 403, "/two" => 200 }, workers)

    broken = now
    @cm.update("policy.yaml" => BAD)
    deadline = now + 60
    until log_records.select { |r| r["result"] == "failure" }.map { |r| r["pid"].to_s }
                     .uniq.sort == pids
      flunk "not every worker logged the failed reload:\n#{@server.log}" if now > deadline
      sleep 0.05
    end
    sleep INTERVAL * 5 # more checks: the bad file is not retried, the last good policy stays
    after = drain.select { |sent, _p, st, _pid| sent > broken && st.is_a?(Integer) }
    refute_empty after
    after.each do |_s, path, status, pid|
      assert_equal path == "/two" ? 200 : 403, status, "#{pid} #{path}"
    end

    fixed = now
    @cm.update("policy.yaml" => ONE)
    assert_equal pids, wait_all_workers(fixed, { "/one" => 200, "/two" => 403 }, workers)

    @stop = true
    @clients.each(&:join)
    all = drain
    failed = all.reject { |r| r[2].is_a?(Integer) && r[2] < 500 }
    assert_empty failed.first(5), "#{failed.size} of #{all.size} requests failed"
    assert_operator all.size, :>, 50

    records = log_records
    failures = records.select { |r| r["msg"].to_s.start_with?("mtlsauthz: policy reload failed") }
    assert_equal pids, failures.map { |r| r["pid"].to_s }.sort,
                 "one failure per worker, not one per check"
    failures.each do |r|
      assert_equal "ERROR", r["level"]
      assert_equal @cm.path("policy.yaml"), r["path"]
      assert_match(/missing key 'principals'/, r["error"])
    end
    reloads = records.select { |r| r["msg"] == "mtlsauthz: policy reloaded" }
    assert_equal pids.flat_map { |p| [p, p] }, reloads.map { |r| r["pid"].to_s }.sort
    # Nothing was restarted: no shutdown, and each worker booted once.
    refute_match(/Goodbye|shutting down|Gracefully stopping/, @server.log)
    assert_equal workers, @server.log.scan(/Worker \d+ \(PID: \d+\) booted/).size if workers > 1
  end

  def test_cluster_mode
    run_story(:cluster, 2)
  end

  def test_cluster_mode_with_preload_app
    run_story(:preload, 2)
  end

  def test_single_mode
    run_story(:single, 1)
  end
end
