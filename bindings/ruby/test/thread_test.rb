# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

require_relative "test_helper"

# Policies are shared by Puma's threads; close and reload happen while they decide.
class ThreadSafetyTest < Minitest::Test
  include TestSupport

  EXPECT = {
    ["builder", "POST /images/build"] => [true, :allowed, "build-images"],
    ["builder", "POST /containers/abc/exec"] => [false, :denied, "no-container-escape"],
    ["ops", "GET /containers/abc"] => [true, :allowed, "ops-read"],
    ["ops", "POST /images/build"] => [false, :no_match, nil],
    ["plain", "GET /healthz"] => [true, :allowed, "health"],
    ["nul-cn", "GET /healthz"] => [false, :identity_rejected, nil]
  }.freeze

  def summary(d)
    [d.allowed?, d.reason, d.rule]
  end

  def test_concurrent_decisions_are_correct
    policy = example_policy
    ids = EXPECT.keys.map(&:first).uniq.to_h { |n| [n, identity(n)] }
    errors = Queue.new
    threads = 6.times.map do |t|
      Thread.new do
        cases = EXPECT.to_a.rotate(t)
        2000.times do |i|
          (name, op), want = cases[i % cases.size]
          got = summary(policy.authorize(ids[name], op))
          errors << [name, op, got] unless got == want
        end
      end
    end
    threads.each(&:join)
    assert errors.empty?, "wrong decisions: #{errors.size}"
  end

  def test_close_while_authorizing
    pems = EXPECT.keys.map(&:first).uniq.to_h { |n| [n, pem(n)] }
    cached = pems.transform_values { |p| MtlsAuthz::Identity.from_pem(p) }
    closed_total = 0
    10.times do
      policy = example_policy
      bad = Queue.new
      go = Queue.new
      closed_seen = Queue.new
      threads = 4.times.map do |t|
        Thread.new do
          go.pop
          i = 0
          loop do
            (name, op), want = EXPECT.to_a[(i + t) % EXPECT.size]
            # Fresh identities too, so peers are being made while the policy closes.
            id = (i % 4).zero? ? MtlsAuthz::Identity.from_pem(pems[name]) : cached[name]
            d = policy.authorize(id, op)
            if d.reason == :error
              bad << [:unexpected_error, d.error] unless d.error =~ /closed/
              closed_seen << true
              break if policy.closed? && i > 50
            elsif summary(d) != want
              bad << [name, op, summary(d)]
            end
            i += 1
            Thread.pass if (i % 64).zero?
            break if i > 5000
          end
        end
      end
      4.times { go << true }
      sleep 0.01
      policy.close
      GC.start
      threads.each(&:join)
      assert bad.empty?, "bad results: #{bad.size} #{bad.pop.inspect unless bad.empty?}"
      refute policy.authorize(identity("builder"), "POST /images/build").allowed?
      closed_total += closed_seen.size
    end
    assert_operator closed_total, :>, 0, "no thread ever decided on the closed policy"
  end

  def test_reload_while_authorizing_never_denies_an_allowed_request
    holder = MtlsAuthz::PolicyHolder.new(EXAMPLE_POLICY)
    text = File.read(EXAMPLE_POLICY)
    ids = EXPECT.keys.map(&:first).uniq.to_h { |n| [n, identity(n)] }
    stop = false
    bad = Queue.new
    count = Queue.new
    threads = 4.times.map do |t|
      Thread.new do
        n = 0
        until stop
          (name, op), want = EXPECT.to_a[(n + t) % EXPECT.size]
          got = summary(holder.authorize(ids[name], op))
          bad << [name, op, got] unless got == want
          n += 1
          Thread.pass if (n % 64).zero? # let the reloading thread get the GVL back quickly
        end
        count << n
      end
    end
    old = []
    20.times do |i|
      old << holder.policy
      holder.reload!(i.even? ? MtlsAuthz::Policy.load(text) : EXAMPLE_POLICY)
      GC.start if (i % 5).zero?
      Thread.pass
    end
    stop = true
    threads.each(&:join)
    assert bad.empty?, \
           "wrong decisions during reload: #{bad.size}: #{bad.pop.inspect unless bad.empty?}"
    assert old.all?(&:closed?)
    total = 0
    total += count.pop until count.empty?
    assert_operator total, :>, 100
    # Cached peers of closed policies are dropped as identities meet the new one.
    ids.each_value { |id| assert_operator id.instance_variable_get(:@peers).size, :<=, 2 }
  end

  # The narrow window, made deterministic: the reload lands after PolicyHolder#authorize has
  # picked up the old policy and before that policy decides. The holder retries on the new one.
  def test_reload_between_pick_and_decide_is_retried
    holder = MtlsAuthz::PolicyHolder.new(EXAMPLE_POLICY)
    id = identity("builder")
    assert holder.authorize(id, "POST /images/build").allowed?
    old = holder.policy
    fired = false
    tp = TracePoint.new(:call) do |t|
      if !fired && t.method_id == :authorize && t.self.equal?(old)
        fired = true
        holder.reload!
      end
    end
    d = tp.enable { holder.authorize(id, "POST /images/build") }
    assert fired
    assert old.closed?
    refute holder.policy.equal?(old)
    assert d.allowed?, d.inspect
  end
end
