# SPDX-License-Identifier: Apache-2.0
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
      when Hash then msg.each { |k, v| line[k.to_s] = HTTPContract.json_safe(v) }
      when String then line["msg"] = HTTPContract.utf8(msg)
      when Exception then line["msg"] = HTTPContract.utf8("#{msg.message} (#{msg.class})")
      else line["msg"] = HTTPContract.utf8(msg.inspect)
      end
      "#{JSON.generate(line)}\n"
    end
  end
end
