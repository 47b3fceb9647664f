# frozen_string_literal: true

require "json"

module MtlsAuthz
  # What every HTTP binding answers and logs (docs/http.md, "The HTTP contract"): the refusal
  # bodies and headers, and the keys of the decision-log record. One place for the facts that
  # MtlsAuthz::Rack, its log formats and its tests all use.
  module HTTPContract
    # The decision-log record's keys, in the order docs/http.md lists them.
    RECORD_KEYS = %w[decision reason rule dry_run operation status spiffe_id subject issuer
                     serial sha256 remote detail].freeze

    # The `error` word of each refusal status.
    ERRORS = { 400 => "bad_request", 401 => "unauthorized", 403 => "forbidden" }.freeze

    # The reason of a refused request target, which no decision produces.
    BAD_TARGET = "bad_target"

    # Bodies are interned per (status, reason, rule); a policy has few rules, but reloads may
    # bring new ids, so the table is bounded.
    BODY_CACHE_MAX = 1024
    @bodies = {}.freeze
    @lock = Mutex.new

    # The exact refusal body: {"error","reason","rule"} in this order, and a newline. `rule`
    # is a String or nil (JSON null, never absent, never ""). Strings are escaped the JSON
    # minimum (`"`, `\` and control characters); "<", "&" and non-ASCII text are written as
    # they are, in UTF-8. Frozen.
    def self.body(status, reason, rule)
      key = [status, reason, rule]
      @bodies[key] || intern_body(key)
    end

    # The headers of a refusal (a new Hash each time: middleware further out may change it).
    def self.headers(body)
      { "content-type" => "application/json", "content-length" => body.bytesize.to_s,
        "cache-control" => "no-store", "x-content-type-options" => "nosniff" }
    end

    # `s` as valid UTF-8 for JSON: itself when it already is, else a copy with each invalid
    # byte replaced by U+FFFD (as Go's encoding/json and log/slog do).
    def self.utf8(s)
      return s if s.encoding == Encoding::UTF_8 && s.valid_encoding?

      s.dup.force_encoding(Encoding::UTF_8).scrub("\uFFFD")
    end

    def self.intern_body(key)
      status, reason, rule = key
      error = ERRORS.fetch(status)
      rule = rule.nil? || rule.empty? ? nil : HTTPContract.utf8(rule)
      body = "#{JSON.generate({ 'error' => error, 'reason' => reason.to_s, 'rule' => rule })}\n"
      body.freeze
      @lock.synchronize do
        table = @bodies.size >= BODY_CACHE_MAX ? {} : @bodies
        @bodies = table.merge(key.freeze => body).freeze
      end
      body
    end
    private_class_method :intern_body
  end
end
