# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

require "json"
require "time"

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
    @size = 0
    @lock = Mutex.new

    # The exact refusal body: {"error","reason","rule"} in this order, and a newline. `rule`
    # is a String or nil (JSON null, never absent, never ""). Strings are escaped the JSON
    # minimum (`"`, `\` and control characters); "<", "&" and non-ASCII text are written as
    # they are, in UTF-8. Frozen.
    def self.body(status, reason, rule)
      @bodies.dig(status, reason, rule) || intern_body(status, reason, rule)
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

    # Copy-on-write (status => reason => rule => body), so readers never lock or allocate.
    # `value` as something JSON.generate writes without raising: Strings as #utf8, a Time
    # in ISO 8601 with microseconds, a Symbol as its name, NaN and the infinities as text,
    # Arrays and Hashes element by element, anything else as its #to_s.
    def self.json_safe(value)
      case value
      when String then utf8(value)
      when nil, true, false, Integer then value
      when Array then value.map { |v| json_safe(v) }
      when Hash then value.to_h { |k, v| [k.to_s, json_safe(v)] }
      when Float then value.finite? ? value : value.to_s
      when Time then value.iso8601(6)
      else utf8(value.to_s)
      end
    end

    def self.intern_body(status, reason, rule)
      error = ERRORS.fetch(status)
      json_rule = rule.nil? || rule.empty? ? nil : HTTPContract.utf8(rule)
      fields = { "error" => error, "reason" => reason.to_s, "rule" => json_rule }
      body = "#{JSON.generate(fields)}\n".freeze
      @lock.synchronize do
        @size = 0 if @size >= BODY_CACHE_MAX
        table = @size.zero? ? {} : @bodies
        by_reason = table.fetch(status, {})
        by_rule = by_reason.fetch(reason, {}).merge((rule.nil? ? nil : rule.dup.freeze) => body)
        @bodies = table.merge(status => by_reason.merge(reason => by_rule.freeze).freeze).freeze
        @size += 1
      end
      body
    end
    private_class_method :intern_body
  end
end
