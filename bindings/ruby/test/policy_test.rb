# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

require_relative "test_helper"

class PolicyTest < Minitest::Test
  include TestSupport

  DRY = <<~YAML
    version: 1
    principals:
      - name: builder
        spiffe: ["spiffe://prod.example.com/ci/builder"]
    rules:
      - id: build
        effect: allow
        principals: [builder]
        operations: ["images:build", "images:push"]
      - id: watch-push
        effect: deny
        mode: dry-run
        principals: [builder]
        operations: ["images:push"]
  YAML

  def setup
    @policy = example_policy
  end

  def teardown
    @policy.close
  end

  def test_allow_and_rule
    d = @policy.authorize(identity("builder"), "POST /images/build")
    assert d.allowed?
    refute d.denied?
    assert_equal :allowed, d.reason
    assert_equal "build-images", d.rule
    assert_equal [], d.dry_run
  end

  def test_deny_overrides_with_deciding_rule
    d = @policy.authorize(identity("builder"), "POST /containers/abc/exec")
    refute d.allowed?
    assert_equal :denied, d.reason
    assert_equal "no-container-escape", d.rule
  end

  def test_default_deny_no_match
    d = @policy.authorize(identity("plain"), "POST /images/build")
    refute d.allowed?
    assert_equal :no_match, d.reason
    assert_nil d.rule
  end

  def test_eku_required_for_builder
    assert @policy.authorize(identity("builder"), "POST /images/build").allowed?
    d = @policy.authorize(identity("builder-noeku"), "POST /images/build")
    refute d.allowed?
    assert_equal :no_match, d.reason
  end

  def test_health_open_to_any_verified_client
    %w[builder ops plain tenant-acme].each do |name|
      assert @policy.authorize(identity(name), "GET /healthz").allowed?, name
    end
  end

  def test_no_identity_is_denied
    d = @policy.authorize(nil, "GET /healthz")
    refute d.allowed?
    assert_equal :no_identity, d.reason
  end

  def test_rejected_identity_denied_even_for_star
    d = @policy.authorize(identity("nul-cn"), "GET /healthz")
    refute d.allowed?
    assert_equal :identity_rejected, d.reason
    d = @policy.authorize(identity("spiffe-two-uri"), "GET /healthz")
    assert_equal :identity_rejected, d.reason
  end

  def test_dry_run_reported_not_enforced
    policy = MtlsAuthz::Policy.load(DRY)
    id = identity("builder")
    d = policy.authorize(id, "images:push")
    assert d.allowed?
    assert_equal ["watch-push"], d.dry_run
    assert_equal 1, d.dry_run_count
    d = policy.authorize(id, "images:build")
    assert d.allowed?
    assert_equal [], d.dry_run
    # The example policy's ops dry-run rule, through a cached peer, twice (cached decisions
    # must not lose the dry-run list).
    2.times do
      d = @policy.authorize(identity("ops"), "GET /containers/abc/logs")
      assert d.allowed?
      assert_equal "ops-read", d.rule
      assert_equal ["watch-logs"], d.dry_run
    end
  end

  def test_repeated_decisions_are_consistent
    id = identity("builder")
    ops = ["POST /images/build", "POST /containers/abc/exec", "GET /nothing", "GET /healthz"]
    first = ops.map { |op| @policy.authorize(id, op).to_h }
    3.times { assert_equal first, ops.map { |op| @policy.authorize(id, op).to_h } }
    assert_equal [true, false, false, true], first.map { |h| h["decision"] == "allow" }
  end

  def test_operation_is_bytes_nul_is_error_deny
    d = @policy.authorize(identity("builder"), "POST /images/build\0x")
    refute d.allowed?
    assert_equal :error, d.reason
    assert_match(/NUL/, d.error)
  end

  def test_segment_boundary_in_operation
    refute @policy.authorize(identity("builder"), "POST /images/a/b/push").allowed?
    assert @policy.authorize(identity("builder"), "POST /images/a/push").allowed?
  end

  def test_type_errors
    assert_raises(TypeError) { @policy.authorize(identity("builder"), :op) }
    assert_raises(TypeError) { @policy.authorize("builder", "GET /healthz") }
  end

  def test_protocol
    rule = "rules:\n  - id: a\n    effect: allow\n    principals: [\"*\"]\n" \
           "    operations: [\"GET /x\"]\n"
    assert_equal "http", MtlsAuthz::Policy.load("version: 1\nprotocol: http\n#{rule}").protocol
    assert_equal "any", MtlsAuthz::Policy.load("version: 1\nprotocol: any\n#{rule}").protocol
    assert_equal "any", MtlsAuthz::Policy.load("version: 1\n#{rule}").protocol
    assert_equal "any", MtlsAuthz::Policy.load(DRY).protocol
    e = assert_raises(MtlsAuthz::PolicyError) do
      MtlsAuthz::Policy.load("version: 1\nprotocol: grpc\n#{rule}")
    end
    assert_match(/protocol/, e.message)
    closed = MtlsAuthz::Policy.load("version: 1\nprotocol: http\n#{rule}")
    closed.close
    assert_raises(MtlsAuthz::ClosedError) { closed.protocol }
  end

  def test_policy_error_carries_c_message
    e = assert_raises(MtlsAuthz::PolicyError) do
      MtlsAuthz::Policy.load("version: 1\nrules:\n  - id: a\n    effect: allow\n" \
                             "    principals: [\"*\"]\n    operations: [x]\n    bogus: 1\n")
    end
    assert_match(/bogus/, e.message)
    assert_equal "MTLSAUTHZ_EPOLICY", e.code_name
    assert_operator e.code, :<, 0

    e = assert_raises(MtlsAuthz::PolicyError) do
      MtlsAuthz::Policy.load("version: 1\nrules:\n  - id: a\n    effect: allow\n" \
                             "    principals: [nobody]\n    operations: [x]\n")
    end
    assert_match(/nobody/, e.message)

    e = assert_raises(MtlsAuthz::PolicyError) { MtlsAuthz::Policy.load("version: 9\n") }
    assert_match(/version/, e.message)
    e = assert_raises(MtlsAuthz::PolicyError) { MtlsAuthz::Policy.load("") }
    refute_empty e.message
    e = assert_raises(MtlsAuthz::PolicyError) { MtlsAuthz::Policy.load("version: 1\0") }
    refute_empty e.message
  end

  def test_load_file_errors
    e = assert_raises(MtlsAuthz::PolicyError) { MtlsAuthz::Policy.load_file("/nonexistent/p.yaml") }
    assert_match(%r{\A/nonexistent/p\.yaml: }, e.message)
    assert_equal 1, e.message.scan("/nonexistent/p.yaml").size
    assert_equal "/nonexistent/p.yaml", e.file
    assert_nil e.line
    assert_nil e.column
    assert_raises(MtlsAuthz::PolicyError) { MtlsAuthz::Policy.load_file("a\0b") }
    assert_raises(TypeError) { MtlsAuthz::Policy.load(nil) }
  end

  BROKEN = "version: 1\nrules:\n  - id: r\n    efect: allow\n    principals: [\"*\"]\n" \
           "    operations: [x]\n"
  BROKEN_TEXT = "unknown key 'efect' in rule 'r'; did you mean 'effect'?"

  def test_policy_error_says_where
    # At the key (line 4, column 5), as attributes and in front of the message.
    e = assert_raises(MtlsAuthz::PolicyError) { MtlsAuthz::Policy.load(BROKEN) }
    assert_nil e.file
    assert_equal [4, 5], [e.line, e.column]
    assert_equal "4:5: #{BROKEN_TEXT}", e.message

    Dir.mktmpdir do |dir|
      path = File.join(dir, "broken.yaml")
      File.write(path, BROKEN)
      e = assert_raises(MtlsAuthz::PolicyError) { MtlsAuthz::Policy.load_file(path) }
      assert_equal path, e.file
      assert_equal [4, 5], [e.line, e.column]
      assert_equal "#{path}:4:5: #{BROKEN_TEXT}", e.message

      # A holder's reload raises the same error and keeps the old policy.
      holder = MtlsAuthz::PolicyHolder.new(MtlsAuthz::Policy.load(DRY))
      e = assert_raises(MtlsAuthz::PolicyError) { holder.reload!(path) }
      assert_equal [path, 4, 5], [e.file, e.line, e.column]
    end
  end

  def test_close_denies_and_is_idempotent
    policy = example_policy
    id = identity("builder")
    assert policy.authorize(id, "POST /images/build").allowed?
    policy.close
    policy.close
    assert policy.closed?
    d = policy.authorize(id, "POST /images/build")
    refute d.allowed?
    assert_equal :error, d.reason
    assert_match(/closed/, d.error)
    refute policy.authorize(identity("ops"), "GET /healthz").allowed?
    assert_raises(MtlsAuthz::ClosedError) { policy.rule_count }
  end

  def test_rule_count_explain_lint
    assert_equal 5, @policy.rule_count
    text, d = @policy.explain(identity("builder"), "POST /images/build")
    assert d.allowed?
    assert_match(/build-images/, text)
    assert_equal [], @policy.lint
    sloppy = MtlsAuthz::Policy.load_file(File.join(TOP, "examples/demo/sloppy-policy.yaml"))
    refute_empty sloppy.lint
  end

  def test_identity_cached_across_policies
    id = identity("builder")
    other = MtlsAuthz::Policy.load(DRY)
    assert @policy.authorize(id, "POST /images/build").allowed?
    refute other.authorize(id, "POST /images/build").allowed?
    assert other.authorize(id, "images:build").allowed?
    refute @policy.authorize(id, "images:build").allowed?
  end

  # Objects allocated by `n` runs of the block, after a few to warm up (a call site's first
  # calls allocate its inline caches, and a peer's first decisions fill its own).
  # GC.stat counts every thread's objects: a thread left by another test may allocate a few
  # meanwhile. OTHER_THREADS is that slack, far below one object per call (n >= 1000).
  OTHER_THREADS = 64

  def allocations(n)
    3.times { yield }
    before = GC.stat(:total_allocated_objects)
    n.times { yield }
    GC.stat(:total_allocated_objects) - before
  end

  # The per-request path with a cached identity allocates nothing: each outcome is one shared,
  # frozen Decision (docs/performance.md, "Ruby binding"). One object per call would be 3000.
  def test_cached_decisions_allocate_no_objects
    id = identity("builder")
    ops = ["POST /images/build", "POST /containers/abc/exec", "GET /nope"]
    allocated = allocations(1000) { ops.each { |op| @policy.authorize(id, op) } }
    assert_operator allocated, :<=, 2 + OTHER_THREADS, "#{allocated} objects for 3000 decisions"
  end

  def test_equal_outcomes_share_one_frozen_decision
    builder = identity("builder")
    ops_id = identity("ops")
    a = @policy.authorize(builder, "GET /healthz")
    assert_same a, @policy.authorize(builder, "GET /healthz")
    # Another peer of the same policy, the same rule and reason: the same object.
    assert_same a, @policy.authorize(ops_id, "GET /healthz")
    assert a.frozen?
    assert_equal "health", a.rule
    # Different outcomes are different objects.
    d = @policy.authorize(builder, "POST /containers/abc/exec")
    refute_same a, d
    assert_equal "no-container-escape", d.rule
    refute_same d, @policy.authorize(builder, "GET /nope")
    # Another policy with the same rule index and reason has its own Decision.
    other = MtlsAuthz::Policy.load(DRY)
    b = other.authorize(builder, "images:build")
    assert_equal "build", b.rule
    assert_equal "build-images", @policy.authorize(builder, "POST /images/build").rule
  end

  # A decision with dry-run matches allocates its result and the list of ids, nothing else;
  # once a peer has seen one, its other decisions still allocate nothing.
  def test_dry_run_decisions_allocate_only_the_result
    policy = MtlsAuthz::Policy.load(DRY)
    id = identity("builder")
    want = ["watch-push"].freeze
    allocated = allocations(1000) do
      d = policy.authorize(id, "images:push")
      raise "lost the dry-run ids" unless d.dry_run == want && d.allowed?
    end
    assert_operator allocated, :<=, 2 * 1000 + 2 + OTHER_THREADS, "#{allocated} objects for 1000 decisions"
    build = policy.authorize(id, "images:build")
    assert_equal [], build.dry_run
    assert_same build, policy.authorize(id, "images:build")
    allocated = allocations(1000) { policy.authorize(id, "images:build") }
    assert_operator allocated, :<=, 2 + OTHER_THREADS, "#{allocated} objects for 1000 decisions"
  ensure
    policy&.close
  end

  # One C call per decision: a child Ruby counts the calls into MtlsAuthz::Lib (a counter in
  # front of every attached function would slow this process's other tests). The first
  # decision of a kind may take two (the second fills the one Decision for its outcome, or
  # learns that the peer's decisions have dry-run ids); every later one takes one.
  def test_one_c_call_per_decision
    script = <<~RUBY
      require "mtlsauthz"
      calls = Hash.new(0)
      counter = Module.new do
        MtlsAuthz::Lib.singleton_methods.grep(/\\Amtlsauthz_/).each do |m|
          define_method(m) { |*a| calls[m] += 1; super(*a) }
        end
      end
      MtlsAuthz::Lib.singleton_class.prepend(counter)
      policy = MtlsAuthz::Policy.load_file(ARGV[0])
      dry = MtlsAuthz::Policy.load(ARGV[2])
      id = MtlsAuthz::Identity.from_pem(File.read(ARGV[1]))
      [[policy, "POST /images/build"], [policy, "POST /containers/abc/exec"],
       [policy, "GET /nope"], [dry, "images:push"], [dry, "images:build"]].each do |pol, op|
        2.times { pol.authorize(id, op) }
        calls.clear
        d = pol.authorize(id, op)
        puts "\#{op}: \#{d.allowed? ? 'allow' : 'deny'} \#{calls.values.sum} \#{calls.keys.join(',')}"
      end
    RUBY
    out, err, status = Open3.capture3(child_env, RbConfig.ruby, "-e", script, EXAMPLE_POLICY,
                                      cert_path("builder.pem"), DRY)
    assert status.success?, err
    assert_equal <<~OUT, out
      POST /images/build: allow 1 mtlsauthz_peer_decide_code
      POST /containers/abc/exec: deny 1 mtlsauthz_peer_decide_code
      GET /nope: deny 1 mtlsauthz_peer_decide_code
      images:push: allow 1 mtlsauthz_peer_decide_code
      images:build: allow 1 mtlsauthz_peer_decide_code
    OUT
  end
end
