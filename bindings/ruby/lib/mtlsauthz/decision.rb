# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

module MtlsAuthz
  # The outcome of one decision. Immutable; its strings are Ruby copies, so it outlives the
  # policy.
  #
  #   allowed?       true only when the C library returned 0 with an allow
  #   reason         :allowed, :denied, :no_match, :no_identity, :identity_rejected or :error
  #                  (the C library's stable reason strings, as symbols)
  #   rule           id of the deciding rule, or nil
  #   dry_run        ids of the matched dry-run rules (at most 8, in file order)
  #   dry_run_count  how many dry-run rules matched (may exceed dry_run.size)
  #   error          the C library's message when the decision failed (reason :error), or nil
  class Decision
    EMPTY = [].freeze

    attr_reader :reason, :rule, :dry_run, :dry_run_count, :error

    def initialize(allowed, reason, rule = nil, dry_run = EMPTY, dry_run_count = 0, error = nil)
      @allowed = allowed ? true : false
      @reason = reason
      @rule = rule
      @dry_run = dry_run
      @dry_run_count = dry_run_count
      @error = error
      freeze
    end

    # A deny with reason :error, for failures (any error is a deny).
    def self.error(message)
      new(false, :error, nil, EMPTY, 0, message.to_s.dup.freeze)
    end

    def allowed?
      @allowed
    end

    def denied?
      !@allowed
    end

    # The CLI's JSON document: {"decision", "rule", "reason", "dry_run"}.
    def to_h
      { "decision" => @allowed ? "allow" : "deny", "rule" => @rule, "reason" => @reason.to_s,
        "dry_run" => @dry_run }
    end

    def inspect
      s = +"#<#{self.class} #{@allowed ? 'allow' : 'deny'} reason=#{@reason}"
      s << " rule=#{@rule}" if @rule
      s << " dry_run=#{@dry_run.inspect}" unless @dry_run.empty?
      s << " error=#{@error.inspect}" if @error
      s << ">"
    end
    alias to_s inspect
  end
end
