# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

require "pathname"
require_relative "test_helper"

# MtlsAuthz::PolicyTests: a policy test file run by the C library from a Ruby test suite, and
# the Minitest assertion built on it.
class PolicyTestsTest < Minitest::Test
  include TestSupport
  include MtlsAuthz::PolicyTests::Assertions

  EXAMPLE_TESTS = File.join(TestSupport::TOP, "examples/policy-tests.yaml")

  FAILING = <<~YAML
    - name: health
      identity: {cn: [x]}
      op: GET /healthz
      expect: allow
    - name: ops may exec
      identity: {cn: [alice], o: [Example Corp], ou: [ops]}
      request: POST /containers/abc/exec
      expect: allow
    - name: refused
      identity: {cn: [x]}
      request: GET /a//b
      expect: deny
    - name: no such certificate
      cert: no-such.pem
      op: GET /healthz
      expect: allow
    - identity: {o: [Example Corp], ou: [ops]}
      op: GET /containers/abc/logs
      expect: allow
      dry_run: [watch-logs]
  YAML

  def setup
    @dir = Dir.mktmpdir("mtlsauthz-policy-tests")
  end

  def teardown
    FileUtils.rm_rf(@dir)
  end

  def write(name, text)
    path = File.join(@dir, name)
    File.write(path, text)
    path
  end

  def test_the_example_passes
    report = MtlsAuthz::PolicyTests.run(EXAMPLE_POLICY, EXAMPLE_TESTS, cert_dir: TestSupport.certs)
    assert report.passed?, report.summary
    assert_equal 14, report.count
    assert_empty report.failures
    assert_equal "builder builds images", report.first.name
    assert_equal "build-images", report.first.rule
    assert_equal :allowed, report.first.reason
  end

  def test_assert_policy_tests_passes_the_example
    report = assert_policy_tests(EXAMPLE_POLICY, EXAMPLE_TESTS, cert_dir: TestSupport.certs)
    assert_instance_of MtlsAuthz::PolicyTests::Report, report
  end

  def test_a_failing_file_reports_every_failure
    path = write("tests.yaml", FAILING)
    report = MtlsAuthz::PolicyTests.run(EXAMPLE_POLICY, path)
    refute report.passed?
    assert_equal ["ops may exec", "refused", "no such certificate"], report.failures.map(&:name)

    health, exec, refused, missing, dry = report.results
    assert_equal MtlsAuthz::PolicyTests::Result.new(
      name: "health", line: 1, request: nil, operation: "GET /healthz", expected: "allow",
      got: "allow", passed: true, rule: "health", reason: :allowed, dry_run: [],
      dry_run_count: 0, error: nil, failure: nil, explanation: nil
    ), health

    refute exec.passed?
    assert_equal 5, exec.line
    assert_equal "POST /containers/abc/exec", exec.request
    assert_equal "deny", exec.got
    assert_equal "expected allow, got deny (reason denied, rule no-container-escape)", exec.failure
    assert exec.explanation.start_with?("operation: POST /containers/abc/exec\n"), exec.explanation

    assert_equal "error", refused.got
    assert_nil refused.operation
    assert_nil refused.reason
    assert_equal "HTTP request refused: empty segment in path", refused.error
    assert_nil refused.explanation

    # Relative to the test file's directory; the case could not run.
    assert_nil missing.got
    assert_equal "cannot use the certificate: #{@dir}/no-such.pem: No such file or directory",
                 missing.failure

    assert dry.passed?
    assert_equal "GET /containers/abc/logs", dry.name
    assert_equal ["watch-logs"], dry.dry_run
    assert_equal 1, dry.dry_run_count

    assert_equal "#{path}: 2 passed, 3 failed", report.summary.lines.first.chomp
    assert_includes report.summary,
                    "\n#{path}:5: ops may exec: expected allow, got deny (reason denied, rule " \
                    "no-container-escape)\n    operation: POST /containers/abc/exec\n"
    # RSpec's `be_passed` shows #inspect: the failures are in it.
    assert_includes report.inspect, "#{path}:9: refused: expected deny, got error"
  end

  def test_assert_policy_tests_fails_with_each_failure
    path = write("tests.yaml", FAILING)
    e = assert_raises(Minitest::Assertion) do
      assert_policy_tests(EXAMPLE_POLICY, path, msg: "policy")
    end
    assert e.message.start_with?("policy\n#{path}: 2 passed, 3 failed\n"), e.message
    assert_includes e.message, "#{path}:5: ops may exec: expected allow, got deny"
    assert_includes e.message, "    decision: deny (rule no-container-escape, reason denied)"
    assert_includes e.message, "no such certificate: cannot use the certificate: "
  end

  def test_a_policy_object_and_cert_dir
    policy = MtlsAuthz::Policy.load_file(EXAMPLE_POLICY)
    report = policy.run_tests(EXAMPLE_TESTS, cert_dir: TestSupport.certs)
    assert report.passed?, report.summary
    # Without cert_dir, the certificates are looked for beside the test file, and are not there.
    report = MtlsAuthz::PolicyTests.run(policy, Pathname(EXAMPLE_TESTS))
    refute report.passed?
    assert_includes report.failures.first.failure, "examples/builder.pem: No such file or directory"
    policy.close
    assert_raises(MtlsAuthz::ClosedError) { policy.run_tests(EXAMPLE_TESTS) }
  end

  def test_a_test_file_that_does_not_load
    path = write("tests.yaml", "- {identity: {ip: [10.0.0.0/8]}, op: x, expect: deny}\n")
    e = assert_raises(MtlsAuthz::PolicyTestError) do
      MtlsAuthz::PolicyTests.run(EXAMPLE_POLICY, path)
    end
    assert_kind_of MtlsAuthz::PolicyError, e
    assert e.message.start_with?("#{path}:1:3: case 1: identity: ip '10.0.0.0/8' is a block"),
           e.message
    assert_equal 1, e.message.scan(path).size, "the path once: #{e.message}"
    assert_equal [path, 1, 3], [e.file, e.line, e.column]
    assert_equal "MTLSAUTHZ_EPOLICY", e.code_name

    e = assert_raises(MtlsAuthz::PolicyTestError) do
      MtlsAuthz::PolicyTests.run(EXAMPLE_POLICY, File.join(@dir, "none.yaml"))
    end
    assert_equal "MTLSAUTHZ_EIO", e.code_name
    assert_nil e.line

    e = assert_raises(MtlsAuthz::PolicyError) do
      MtlsAuthz::PolicyTests.run(File.join(@dir, "no-policy.yaml"), path)
    end
    refute_kind_of MtlsAuthz::PolicyTestError, e
    assert_raises(ArgumentError) { MtlsAuthz::PolicyTests.run(EXAMPLE_POLICY, "a\0b") }
    assert_raises(TypeError) { MtlsAuthz::PolicyTests.run(EXAMPLE_POLICY, 42) }
  end
end
