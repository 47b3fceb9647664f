# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

module MtlsAuthz
  # A compiled policy (docs/policy.md). Immutable and thread-safe: any number of threads may
  # call #authorize at once.
  #
  # Memory: the C policy is reference counted. This object holds one reference, dropped by
  # #close or, failing that, by a finalizer. Every peer (an identity resolved against this
  # policy, cached on the Identity) holds its own, so #close never frees memory under a
  # decision in flight. After #close, #authorize denies (reason :error).
  class Policy
    DECISION_SIZE = Lib::Decision.size
    OFF_ALLOWED = Lib::Decision.offset_of(:allowed)
    OFF_REASON = Lib::Decision.offset_of(:reason)
    OFF_RULE = Lib::Decision.offset_of(:rule)
    OFF_DRY_COUNT = Lib::Decision.offset_of(:dry_run_count)
    OFF_DRY_RUN = Lib::Decision.offset_of(:dry_run)
    PTR_SIZE = FFI::Pointer.size
    CLOSED_MESSAGE = "policy is closed"

    class << self
      # Loads and compiles YAML text. Raises PolicyError with the C library's message.
      def load(yaml)
        raise TypeError, "expected a String, got #{yaml.class}" unless yaml.is_a?(String)

        # The load runs without the GVL: hand C a frozen copy that no other thread can resize.
        text = yaml.dup.freeze
        build(nil) { |out, err| Lib.mtlsauthz_policy_load(out, text, text.bytesize, err) }
      end

      # Loads and compiles the YAML file at `path`. Raises PolicyError.
      def load_file(path)
        path = path.to_path if path.respond_to?(:to_path)
        raise TypeError, "expected a path, got #{path.class}" unless path.is_a?(String)
        raise PolicyError.new("policy path contains a NUL byte", file: path) if path.include?("\0")

        path = path.dup.freeze # read by C without the GVL
        build(path) { |out, err| Lib.mtlsauthz_policy_load_file(out, path, err) }
      end

      private

      # `file`: the path the error is about (nil for YAML text).
      def build(file)
        out = FFI::MemoryPointer.new(:pointer)
        err = Lib::Error.new
        started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        rc = yield(out, err)
        seconds = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
        raise load_error(rc, err, file) unless rc.zero?

        new(out.read_pointer, seconds)
      end

      def load_error(rc, err, file)
        return PolicyError.new(Lib.mtlsauthz_strerror(rc), code: rc, file: file) if err[:code].zero?

        line = err[:line].zero? ? nil : err[:line]
        column = line && err[:column]
        PolicyError.new(err.message_string, code: rc, file: file, line: line, column: column)
      end
    end

    private_class_method :new

    def initialize(ptr, load_seconds) # :nodoc:
      @handle = FFI::AutoPointer.new(ptr, Lib.method(:mtlsauthz_policy_free))
      @lock = Mutex.new
      @closed = false
      @names = {}.freeze
      @by_code = {} # under @lock
      @load_seconds = load_seconds
      @loaded_at = Time.now
    end

    # How long the library took to read and compile this policy, in seconds (a Float), and
    # when it finished (a Time): the `mtlsauthz_policy_load_seconds` and
    # `mtlsauthz_policy_last_reload_success_timestamp_seconds` gauges of docs/http.md.
    attr_reader :load_seconds, :loaded_at

    # Decides whether `identity` (an Identity, or nil) may perform `operation` (a String such
    # as "POST /images/build"). Returns a Decision; never raises for a failed decision: any
    # error is a deny with reason :error. The first call for an identity resolves it against
    # this policy (a peer, cached on the identity); later calls only match the operation.
    def authorize(identity, operation)
      # The request path: two type checks, the identity's newest peer (Identity#peer_for, read
      # here to save a method call), Peer#decide.
      if identity.is_a?(Identity) && operation.is_a?(String) && !@closed
        e = identity.peers[0]
        peer = e && e[0].equal?(self) ? e[1] : identity.peer_for(self)
        return peer ? peer.decide(operation) : Decision.error(CLOSED_MESSAGE)
      end
      unless operation.is_a?(String)
        raise TypeError, "operation must be a String, not #{operation.class}"
      end
      return Decision.error(CLOSED_MESSAGE) if @closed
      raise TypeError, "expected an Identity, not #{identity.class}" unless identity.nil?

      with_ref { |ptr| decide_one_off(ptr, operation) } || Decision.error(CLOSED_MESSAGE)
    rescue Error => e
      Decision.error(e.message)
    end

    # The C library's account of one decision: which principals and rules matched, and why
    # the others did not. Returns [text, Decision].
    def explain(identity, operation)
      raise TypeError, "operation must be a String" unless operation.is_a?(String)

      r = with_ref do |ptr|
        out = FFI::MemoryPointer.new(:pointer)
        buf = FFI::MemoryPointer.new(DECISION_SIZE)
        err = Lib::Error.new
        id = identity&.to_ptr
        rc = Lib.mtlsauthz_policy_explain(out, buf, ptr, id, operation, operation.bytesize, err)
        Lib.check(rc, err, Error)
        [take_string(out.read_pointer), decision_from(buf)]
      end
      r or raise ClosedError, CLOSED_MESSAGE
    end

    # Static checks (`mtlsauthz lint`): an Array of findings, "kind: subject: message".
    def lint
      r = with_ref do |ptr|
        out = FFI::MemoryPointer.new(:pointer)
        count = FFI::MemoryPointer.new(:size_t)
        err = Lib::Error.new
        Lib.check(Lib.mtlsauthz_policy_lint(out, count, ptr, err), err, Error)
        take_string(out.read_pointer).lines.map(&:chomp).reject(&:empty?)
      end
      r or raise ClosedError, CLOSED_MESSAGE
    end

    # What the policy's operations are: "http" when it declares `protocol: http` (every
    # operation pattern is then checked at load to be an HTTP operation, "METHOD /path"),
    # otherwise "any" (docs/policy.md, "Top-level keys").
    def protocol
      n = with_ref { |ptr| Lib.mtlsauthz_policy_protocol(ptr) } or
        raise ClosedError, CLOSED_MESSAGE
      Lib::PROTOCOLS.fetch(n, "any") # a value this gem does not know is not "http"
    end

    # Number of rules (dry-run rules included).
    def rule_count
      with_ref { |ptr| Lib.mtlsauthz_policy_rule_count(ptr) } or raise ClosedError, CLOSED_MESSAGE
    end

    # Drops this object's reference. Decisions in flight finish on their own references;
    # later #authorize calls deny. Idempotent and thread-safe.
    def close
      @lock.synchronize do
        return if @closed

        @closed = true
        @handle.free
      end
      nil
    end

    def closed?
      @closed
    end

    def inspect
      "#<#{self.class}#{@closed ? ' closed' : ''}>"
    end

    # Resolves `identity` against this policy (Identity#peer_for caches the result).
    # Returns nil when the policy is closed.
    def new_peer(identity) # :nodoc:
      with_ref do |ptr|
        out = FFI::MemoryPointer.new(:pointer)
        err = Lib::Error.new
        Lib.check(Lib.mtlsauthz_peer_new(out, ptr, identity.to_ptr, err), err, Error)
        Peer.new(self, out.read_pointer)
      end
    end

    # A Decision from a filled mtlsauthz_decision buffer. Rule ids are borrowed from the C
    # policy: each is copied once and reused.
    def decision_from(buf) # :nodoc:
      allowed = buf.get_int32(OFF_ALLOWED) == 1
      reason = Lib.reason(buf.get_int32(OFF_REASON))
      rule = name_at(read_address(buf, OFF_RULE))
      n = buf.get(:size_t, OFF_DRY_COUNT)
      dry = Decision::EMPTY
      if n.positive?
        dry = Array.new([n, Lib::DRY_RUN_MAX].min) do |i|
          name_at(read_address(buf, OFF_DRY_RUN + (i * PTR_SIZE)))
        end.freeze
      end
      Decision.new(allowed, reason, rule, dry, n)
    end

    # The one Decision for `code` (no dry-run matches) of any peer of this policy, built from
    # `buf` (that decision, filled) the first time. Bounded: (rules + 1) x reasons x 2.
    def shared_decision(code, buf) # :nodoc:
      d = decision_from(buf) # outside the lock: it interns the rule id under it
      @lock.synchronize { @by_code[code] ||= d }
    end

    private

    # Yields a C reference on the policy, held for the duration of the block, and returns the
    # block's value; returns nil without yielding when the policy is closed. The reference is
    # taken under the lock, so #close cannot free the policy between the check and the ref.
    def with_ref
      ptr = @lock.synchronize do
        return nil if @closed

        Lib.mtlsauthz_policy_ref(@handle)
      end
      begin
        yield ptr
      ensure
        Lib.mtlsauthz_policy_free(ptr)
      end
    end

    def decide_one_off(ptr, operation)
      buf = FFI::MemoryPointer.new(DECISION_SIZE)
      err = Lib::Error.new
      rc = Lib.mtlsauthz_policy_decide(buf, ptr, nil, operation, operation.bytesize, err)
      return Decision.error(err.message_string) if rc != 0

      decision_from(buf)
    end

    def read_address(buf, off)
      PTR_SIZE == 8 ? buf.get_uint64(off) : buf.get_uint32(off)
    end

    def name_at(addr)
      return nil if addr.zero?

      @names[addr] || intern_name(addr)
    end

    # Copy-on-write, so readers never lock.
    def intern_name(addr)
      @lock.synchronize do
        s = @names[addr]
        return s if s

        s = FFI::Pointer.new(addr).read_string.force_encoding(Encoding::UTF_8).freeze
        @names = @names.merge(addr => s).freeze
        s
      end
    end

    def take_string(ptr)
      return +"" if ptr.null?

      begin
        ptr.read_string.force_encoding(Encoding::UTF_8)
      ensure
        Lib.mtlsauthz_string_free(ptr)
      end
    end
  end

  # An identity resolved against one policy; it holds its own C reference on that policy.
  # Internal: Policy#authorize makes and uses them.
  class Peer # :nodoc:
    DRY_RUN = Lib::CODE_DRY_RUN
    BUFFER = :__mtlsauthz_decision

    # A mtlsauthz_decision buffer for this fiber (Thread#[] is fiber-local), for the calls
    # that need the ids in it. Nothing can switch to another user of it between the C call
    # that fills it and the reads that follow.
    def self.buffer
      Thread.current[BUFFER] ||= FFI::MemoryPointer.new(Policy::DECISION_SIZE)
    end

    def initialize(policy, ptr)
      @policy = policy
      @handle = FFI::AutoPointer.new(ptr, Lib.method(:mtlsauthz_peer_free))
      @decisions = {}.freeze # code => Decision, copy-on-write so that readers never lock
      @lock = Mutex.new
      @dry_run = false # set once a dry-run rule matched: the ids come in a buffer from then on
    end

    # The hot path: one C call, whose return value is the decision (docs/api.md, "Decisions"),
    # and one Hash lookup. The operation String goes to C as (pointer, length), uncopied, and
    # nothing is allocated: each code maps to one immutable Decision, shared by every peer of
    # the policy (Policy#shared_decision). A code seen for the first time, a decision with
    # dry-run matches (its ids are read from the buffer) and an error take #slow.
    def decide(operation)
      return decide_dry_run(operation) if @dry_run

      code = Lib.mtlsauthz_peer_decide_code(nil, @handle, operation, operation.bytesize, nil)
      @decisions[code] || slow(code, nil, operation)
    end

    private

    def decide_dry_run(operation)
      buf = Peer.buffer
      code = Lib.mtlsauthz_peer_decide_code(buf, @handle, operation, operation.bytesize, nil)
      @decisions[code] || slow(code, buf, operation)
    end

    # `buf`: the filled decision, or nil when the call had none (then, for the one decision
    # that needs it, the call is made again: decisions are pure).
    def slow(code, buf, operation)
      return failed(operation) if code.negative?

      unless buf
        buf = Peer.buffer
        rc = Lib.mtlsauthz_peer_decide(buf, @handle, operation, operation.bytesize, nil)
        return failed(operation) unless rc.zero?
      end
      if code.anybits?(DRY_RUN)
        @dry_run = true
        return @policy.decision_from(buf)
      end
      d = @policy.shared_decision(code, buf)
      @lock.synchronize { @decisions = @decisions.merge(code => d).freeze }
      d
    end

    # The hot path passes no error struct; ask again for the message.
    def failed(operation)
      err = Lib::Error.new
      rc = Lib.mtlsauthz_peer_decide_code(nil, @handle, operation, operation.bytesize, err)
      Decision.error(rc.negative? ? err.message_string : "decision failed")
    end
  end
end
