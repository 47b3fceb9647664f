# frozen_string_literal: true

require "json"
require "time"

module MtlsAuthz
  # A Logger formatter that writes one JSON object per line, for log pipelines:
  #
  #   logger = Logger.new($stdout, formatter: MtlsAuthz::JSONFormatter.new)
  #   use MtlsAuthz::Rack, policy: "policy.yaml", logger: logger, log_format: :json
  #
  # Each line starts with "time" (the Logger's own timestamp, ISO 8601 with microseconds),
  # "level" (the Logger's severity label: "INFO", "WARN", ...) and "pid" (which Puma worker
  # wrote it), then "progname" when there is one. A Hash message (the decision records of
  # MtlsAuthz::Rack with `log_format: :json`) follows key by key; any other message is
  # "msg" (a String as it is, an exception as "message (Class)", anything else #inspect).
  # Strings that are not valid UTF-8 are written with U+FFFD for each invalid byte.
  class JSONFormatter
    def call(severity, time, progname, msg)
      line = { "time" => time.iso8601(6), "level" => severity, "pid" => Process.pid }
      line["progname"] = progname if progname
      case msg
      when Hash then msg.each { |k, v| line[k.to_s] = clean(v) }
      when String then line["msg"] = clean(msg)
      when Exception then line["msg"] = clean("#{msg.message} (#{msg.class})")
      else line["msg"] = clean(msg.inspect)
      end
      "#{JSON.generate(line)}\n"
    end

    private

    def clean(value)
      case value
      when String then HTTPContract.utf8(value)
      when Array then value.map { |v| clean(v) }
      when Hash then value.to_h { |k, v| [k.to_s, clean(v)] }
      when nil, true, false, Integer then value
      when Float then value.finite? ? value : value.to_s
      when Symbol then value.to_s
      when Time then value.iso8601(6)
      else clean(value.to_s)
      end
    end
  end
end
