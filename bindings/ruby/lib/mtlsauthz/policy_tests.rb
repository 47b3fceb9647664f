# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

module MtlsAuthz
  # The C library's policy tests (include/mtlsauthz/policy_test.h), read through accessor
  # functions only: no C struct layout is copied here.
  module Lib
    begin
      attach_function :mtlsauthz_policy_test_load_file, [:pointer, :string, :pointer], :int,
                      blocking: true
      attach_function :mtlsauthz_policy_test_free, [:pointer], :void
      # Runs every case: reads certificate files and decides, so without the GVL.
      attach_function :mtlsauthz_policy_test_run,
                      [:pointer, :pointer, :pointer, :string, :pointer], :int, blocking: true
      attach_function :mtlsauthz_policy_test_results_free, [:pointer], :void
      attach_function :mtlsauthz_policy_test_results_count, [:pointer], :size_t
      attach_function :mtlsauthz_policy_test_results_get, [:pointer, :size_t], :pointer
      %i[name request operation expected got rule reason error failure explanation].each do |f|
        attach_function :"mtlsauthz_policy_test_result_#{f}", [:pointer], :pointer
      end
      attach_function :mtlsauthz_policy_test_result_line, [:pointer], :uint
      attach_function :mtlsauthz_policy_test_result_passed, [:pointer], :int
      attach_function :mtlsauthz_policy_test_result_dry_run_count, [:pointer], :size_t
      attach_function :mtlsauthz_policy_test_result_dry_run, [:pointer, :size_t], :pointer
    rescue FFI::NotFoundError => e
      raise LibraryNotFound,
            "mtlsauthz: #{LOADED_FROM} is missing a symbol this gem needs " \
            "(#{e.message}); it is probably an older libmtlsauthz"
    end
  end

  # A policy test file did not load: its syntax, a case, or an inline identity no certificate
  # can carry. The message is the C library's, "FILE:LINE:COLUMN: text"; #file, #line and
  # #column as for PolicyError.
  class PolicyTestError < PolicyError; end

  # Policy tests in a Ruby test suite: the cases of a TESTS.yaml file (docs/policy.md, "Policy
  # tests") run by the C library against a policy, judged as `mtlsauthz test` judges them.
  #
  #   report = MtlsAuthz::PolicyTests.run("policy.yaml", "policy-tests.yaml")
  #   report.passed?    # => true when every case passed
  #   report.failures   # => the Results that failed
  #
  # Minitest: include MtlsAuthz::PolicyTests::Assertions, then
  #   assert_policy_tests "policy.yaml", "policy-tests.yaml"
  # RSpec:
  #   expect(MtlsAuthz::PolicyTests.run("policy.yaml", "policy-tests.yaml")).to be_passed
  # (the report's #inspect lists the failures, so the expectation's message shows them).
  module PolicyTests
    # One case's result. The strings are the library's, frozen; nil where it has none.
    #   name         the case's name, or its op or request
    #   line         where the case starts in the test file (1-based), or nil
    #   request      the case's request as written, or nil for a case with op
    #   operation    the operation decided, or nil (the request was refused, or the case could
    #                not run)
    #   expected     "allow", "deny" or "error"
    #   got          "allow", "deny", "error" (no decision), or nil (the case could not run)
    #   rule, reason the decision's deciding rule and reason (reason is a Symbol), or nil
    #   dry_run      the dry-run rules that matched (at most 8 named), dry_run_count how many
    #   error        what stood in for a decision, or nil
    #   failure      why the case failed, one line, or nil
    #   explanation  for a failed decision, what `mtlsauthz check --explain` prints
    Result = Struct.new(:name, :line, :request, :operation, :expected, :got, :passed, :rule,
                        :reason, :dry_run, :dry_run_count, :error, :failure, :explanation,
                        keyword_init: true) do
      def passed?
        passed
      end

      def failed?
        !passed
      end

      # "TESTS:LINE: name: failure", and the explanation indented under it.
      def message(tests_path = nil)
        where = [tests_path, line].compact.join(":")
        head = +"#{where.empty? ? '' : "#{where}: "}#{name}: #{failure || 'passed'}"
        explanation&.each_line { |l| head << "\n    " << l.chomp }
        head
      end
    end

    # The results of one run, in file order. Enumerable over its Results.
    class Report
      include Enumerable

      attr_reader :results, :tests_path

      def initialize(results, tests_path) # :nodoc:
        @results = results.freeze
        @tests_path = tests_path
      end

      def each(&block)
        @results.each(&block)
      end

      # True when every case passed.
      def passed?
        @results.all?(&:passed?)
      end

      # The Results of the cases that failed.
      def failures
        @results.reject(&:passed?)
      end

      # "TESTS: N passed, M failed", and each failure's message (Result#message) under it.
      def summary
        s = +"#{tests_path}: #{count - failures.size} passed, #{failures.size} failed"
        failures.each { |r| s << "\n" << r.message(tests_path) }
        s
      end
      alias to_s summary

      def inspect
        "#<#{self.class} #{summary}>"
      end
    end

    class << self
      # Runs the test file at `tests_path` against `policy` (a Policy, or the path of a policy
      # file, loaded for the run). Certificate paths in the file are relative to `cert_dir`, or
      # to the test file's directory. Returns a Report; a case that fails, or cannot run (a
      # certificate that cannot be read), is in it. Raises PolicyError (the policy file),
      # PolicyTestError (the test file; an unreadable one has #code MTLSAUTHZ_EIO), or
      # ClosedError.
      def run(policy, tests_path, cert_dir: nil)
        return policy.run_tests(tests_path, cert_dir: cert_dir) if policy.is_a?(Policy)

        p = Policy.load_file(policy)
        begin
          p.run_tests(tests_path, cert_dir: cert_dir)
        ensure
          p.close
        end
      end

      # The Results of a C results object.
      def read_results(res) # :nodoc:
        Array.new(Lib.mtlsauthz_policy_test_results_count(res)) do |i|
          read_result(Lib.mtlsauthz_policy_test_results_get(res, i))
        end
      end

      # `path` as a frozen String, for C to read without the GVL.
      def path_string(path, what) # :nodoc:
        path = path.to_path if path.respond_to?(:to_path)
        raise TypeError, "#{what}: expected a path, got #{path.class}" unless path.is_a?(String)
        raise ArgumentError, "#{what} contains a NUL byte" if path.include?("\0")

        path.dup.freeze
      end

      private

      def read_result(c)
        s = ->(f) { text(Lib.public_send(:"mtlsauthz_policy_test_result_#{f}", c)) }
        dry = []
        while (id = Lib.mtlsauthz_policy_test_result_dry_run(c, dry.size)) && !id.null?
          dry << text(id)
        end
        line = Lib.mtlsauthz_policy_test_result_line(c)
        reason = s.call(:reason)
        Result.new(name: s.call(:name), line: line.zero? ? nil : line, request: s.call(:request),
                   operation: s.call(:operation), expected: s.call(:expected), got: s.call(:got),
                   passed: Lib.mtlsauthz_policy_test_result_passed(c) == 1, rule: s.call(:rule),
                   reason: reason&.to_sym, dry_run: dry.freeze,
                   dry_run_count: Lib.mtlsauthz_policy_test_result_dry_run_count(c),
                   error: s.call(:error), failure: s.call(:failure),
                   explanation: s.call(:explanation)).freeze
      end

      def text(ptr)
        return nil if ptr.nil? || ptr.null?

        ptr.read_string.force_encoding(Encoding::UTF_8).scrub.freeze
      end
    end

    # Minitest assertions. include MtlsAuthz::PolicyTests::Assertions in a Minitest::Test.
    module Assertions
      # Fails unless every case of `tests_path` passes against `policy` (a Policy or a path);
      # the message lists each failed case with its line, failure and explanation. Returns the
      # Report.
      def assert_policy_tests(policy, tests_path, cert_dir: nil, msg: nil)
        report = MtlsAuthz::PolicyTests.run(policy, tests_path, cert_dir: cert_dir)
        assert report.passed?, -> { [msg, report.summary].compact.join("\n") }
        report
      end
    end
  end

  class Policy
    # Runs the policy test file at `tests_path` against this policy (PolicyTests.run).
    # Returns a PolicyTests::Report.
    def run_tests(tests_path, cert_dir: nil)
      tests_path = PolicyTests.path_string(tests_path, "tests_path")
      cert_dir = cert_dir && PolicyTests.path_string(cert_dir, "cert_dir")
      tests = load_tests(tests_path)
      report = with_ref do |ptr|
        out = FFI::MemoryPointer.new(:pointer)
        err = Lib::Error.new
        Lib.check(Lib.mtlsauthz_policy_test_run(out, tests, ptr, cert_dir, err), err, Error)
        res = out.read_pointer
        begin
          PolicyTests::Report.new(PolicyTests.read_results(res), tests_path)
        ensure
          Lib.mtlsauthz_policy_test_results_free(res)
        end
      end
      report or raise ClosedError, CLOSED_MESSAGE
    ensure
      Lib.mtlsauthz_policy_test_free(tests) if tests
    end

    private

    def load_tests(path)
      out = FFI::MemoryPointer.new(:pointer)
      err = Lib::Error.new
      rc = Lib.mtlsauthz_policy_test_load_file(out, path, err)
      return out.read_pointer if rc.zero?

      line = err[:line].zero? ? nil : err[:line]
      msg = err[:code].zero? ? Lib.mtlsauthz_strerror(rc) : err.message_string
      raise PolicyTestError.new(msg, code: rc, file: path, line: line, column: line && err[:column])
    end
  end
end
