# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

require_relative "test_helper"

# examples/grape runs as its README says: run.sh starts Puma with mTLS, and the story holds.
class GrapeExampleTest < Minitest::Test
  include TestSupport
  include CurlSupport

  def test_example_runs_and_tells_the_story
    dir = Dir.mktmpdir("mtlsauthz-example")
    env = child_env.merge("PORT" => "0", "MTLSAUTHZ_EXAMPLE_CERTS" => TestSupport.certs)
    server = PumaProcess.start([File.join(TOP, "examples/grape/run.sh")], env: env,
                               log_path: File.join(dir, "puma.log"))
    certs = TestSupport.certs
    p = server.port
    expect = [
      ["GET", "/healthz", "plain", 200, "health"],
      ["POST", "/images/build", "builder", 201, "build-images"],
      ["POST", "/images/web/push", "builder", 201, "build-images"],
      ["POST", "/containers/abc/exec", "builder", 403, "no-container-escape"],
      ["POST", "/containers/abc/%65xec", "builder", 403, "no-container-escape"],
      ["POST", "/containers/abc/exec.json", "builder", 403, "no-container-escape"],
      ["GET", "/containers/abc/logs.json", "ops", 403, nil],
      ["HEAD", "/containers/abc/logs", "ops", 200, "ops-read"],
      ["POST", "/containers/abc/exec", "ops", 403, "no-container-escape"],
      ["POST", "/containers/abc/attach", "sre", 403, "no-container-escape"],
      ["GET", "/host/etc/shadow", "ops", 403, "no-container-escape"],
      ["GET", "/containers", "ops", 200, "ops-read"],
      ["GET", "/containers/abc/logs", "sre", 200, "ops-read"],
      ["GET", "/containers", "builder", 403, nil],
      ["POST", "/images/build", "builder-noeku", 403, nil]
    ]
    expect.each do |method, path, who, want, rule|
      status, body = curl(p, path, cert: who, method: method, certs: certs)
      assert_equal want, status, "#{who} #{method} #{path}: #{body}"
      assert_includes server.log, %(rule="#{rule}") if rule
    end
    status, _body, exit_status = curl(p, "/healthz", certs: certs)
    assert_equal 0, status
    refute_equal 0, exit_status
    refute_match(/exec started|attached|host access/, server.log)
    dry = 'decision="allow" reason="allowed" rule="ops-read" dry_run=["watch-logs"]'
    assert_includes server.log, "WARN -- : mtlsauthz: #{dry}"
  ensure
    server&.stop
    FileUtils.rm_rf(dir) if dir
  end
end
