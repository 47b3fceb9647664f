# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

require "digest"
require "ipaddr"
require "json"
# Puma 5's MiniSSL builds env["puma.peercert"] with OpenSSL::X509::Certificate but does not
# load openssl itself: without this, every mTLS request fails with a NameError (500).
require "openssl"

module MtlsAuthz
  # Rack middleware: authorizes every request by the verified client certificate and a
  # policy, before the app (Grape, Sinatra, Rails, ...) sees it.
  #
  #   use MtlsAuthz::Rack, policy: "policy.yaml"
  #
  # It authorizes the request as it sees it: a middleware that rewrites REQUEST_METHOD,
  # SCRIPT_NAME or PATH_INFO (Rack::MethodOverride turns a POST with _method=DELETE into a
  # DELETE) must be used before it, or the app runs a request that was never authorized.
  #
  # Options:
  #   policy:          a path, a Policy, or a PolicyHolder (for reloads). Required.
  #   operation:       ->(env) { "..." }: the operation to authorize. Default: the core's
  #                    canonical HTTP operation (MtlsAuthz.http_operation) of REQUEST_METHOD
  #                    and the raw path SCRIPT_NAME + PATH_INFO, as the server received it
  #                    (HEAD is decided as GET: routers run the GET handler for it).
  #   logger:          a Logger for the decision records and reload reports.
  #   log_format:      :text (default): one line per record, "mtlsauthz: decision=\"deny\"
  #                    reason=..." with every key and each value in JSON. :json: the record
  #                    itself, a Hash, for a logger whose formatter writes Hashes as JSON
  #                    (MtlsAuthz::JSONFormatter, or semantic_logger, ougai, ...).
  #   on_decision:     ->(record) { ... }: called with each decision record (metrics).
  #   on_reload:       ->(event) { ... }: called after each reload of the policy, successful
  #                    or not, with {"result" => "success"|"failure", "path", "error",
  #                    "rules", "load_seconds", "loaded_at"} (the last three of the policy
  #                    in use afterwards).
  #   watch:           reload the policy file when it changes, checking every N seconds
  #                    (true: PolicyHolder::DEFAULT_WATCH_INTERVAL), from a thread in each
  #                    process that serves requests (PolicyHolder#watch): the reload for Puma,
  #                    single or clustered. Needs a policy file (a path or a PolicyHolder).
  #   dry_run:         true: decide and log, but let every request through (roll-out); the
  #                    records of requests let through have "status" null.
  #   trusted_proxies: addresses or CIDRs (Strings or IPAddr) of TLS-terminating proxies
  #                    whose forwarded certificate header may be believed. Default: none.
  #   cert_header:     the forwarded certificate header, URL-escaped PEM (nginx
  #                    $ssl_client_escaped_cert). Default "X-SSL-Client-Cert".
  #   verify_header:   the forwarded verification result (nginx $ssl_client_verify); must be
  #                    "SUCCESS". Default "X-SSL-Client-Verify".
  #   xfcc:            read the identity from X-Forwarded-Client-Cert (Envoy, Istio) sent by
  #                    a trusted proxy (below). nil or false (default): never. true: from the
  #                    peers in trusted_proxies, which then send XFCC instead of cert_header.
  #                    A Hash (MtlsAuthz::XFCC): trusted_proxies: (addresses, CIDRs, "unix")
  #                    and/or proxy_identities: (selectors "KEY:PATTERN" for the proxy's own
  #                    verified certificate, compiled and decided by the library).
  #   identity_cache:  how many identities to keep, keyed by the leaf's DER itself (a
  #                    bounded LRU; as many again for XFCC headers, by the SHA-256 of the
  #                    header). Default 1024. Puma's certificate object, which lives as long
  #                    as its connection, also keeps its identity (without a copy of its DER):
  #                    a request on a kept-alive connection reads no certificate.
  #   format_suffix:   true (default): also decide an HTTP operation ("METHOD /path", the
  #                    default one or a lambda's) without the format suffix of its last
  #                    segment (below). false: only the operation as sent, for apps whose
  #                    router adds no format suffix.
  #
  # When the operation comes from the request (no operation: option), the policy should
  # declare `protocol: http`: only then is every operation pattern checked at load to be an
  # HTTP operation, so that "/host/**" (no method) is an error rather than a rule that never
  # applies (docs/policy.md, "HTTP operations"). Without it the middleware logs a warning at
  # start-up and after each reload (to the logger at warn, else to $stderr).
  #
  # Format suffixes: Grape compiles every route with an optional "(.:format)" (or "(.json)"
  # with `format :json`), and Rails does the same, so POST /containers/abc/exec.json runs the
  # exec handler, while a deny on "POST /containers/*/exec" does not match it as sent. Grape's
  # format may itself hold an encoded dot (exec.json%2Ejson), and a route may end in a dotted
  # literal (exec.v2), so when the last segment of the canonical operation has a ".", the
  # operation cut at each "." in that segment is decided too: an enforce-mode deny (or an
  # error) on any of these readings denies, with that reading's reason and rule. An allow
  # still comes from the operation as sent, so an exact grant such as "GET /files/report.pdf"
  # keeps working and a suffix never widens one. A last segment with more than
  # MAX_SUFFIX_DOTS dots is answered 400. Every decision is the core's; only "a deny on any
  # reading denies" is combined here. The README's "Format suffixes" lists what Grape routes.
  #
  # Where the client certificate comes from:
  #   - From a proxy trusted for XFCC (xfcc:): only X-Forwarded-Client-Cert, through the core
  #     (Identity.from_xfcc). No header: 401. A header that does not parse: 403
  #     identity_rejected (the core's message in the Decision's #error and a warn log line).
  #     Puma joins repeated header lines with ", ", as RFC 9110 5.3 allows, which is the same
  #     list as one line with those elements: the core reads the last, the nearest proxy's.
  #     From any other peer the header is ignored, logged at warn and counted
  #     (#stats[:xfcc_ignored]), and the request is decided as below.
  #   - From a trusted proxy (REMOTE_ADDR in trusted_proxies): only the forwarded header, and
  #     only when the verify header says SUCCESS. The connection's own certificate is the
  #     proxy's, so it is never used for such a request.
  #   - Otherwise: env["SSL_CLIENT_CERT"] (PEM) or Puma's env["puma.peercert"]. When the
  #     server reports the verification (env["SSL_CLIENT_VERIFY"]), it must be "SUCCESS":
  #     NGINX's optional_no_ca passes unverified certificates. Forwarded headers are ignored.
  #   Puma sets puma.peercert only for a certificate it verified: with ssl_bind
  #   verify_mode: "force_peer" (no certificate: the handshake fails) or "peer" (no
  #   certificate: no puma.peercert, so 401), and `ca:` naming the client CA. A certificate
  #   that does not verify fails the handshake in both modes. With "none" Puma asks for no
  #   certificate at all.
  #
  # Answers (docs/http.md, "The HTTP contract"), checked in this order: 401 when there is no
  # verified client certificate; 400 for a request target the core refuses (or with more
  # than MAX_SUFFIX_DOTS format-suffix readings); 403 for a deny. Each is a JSON body of
  # exactly {"error","reason","rule"} and a newline (HTTPContract.body). An allowed request
  # goes to the app with the Decision in env["mtlsauthz.decision"], the Identity in
  # env["mtlsauthz.identity"] and the operation in env["mtlsauthz.operation"] (a frozen
  # String: the default operation of a method and path is computed once and kept, with its
  # format-suffix readings, for up to OPERATION_CACHE_SIZE distinct requests at a time).
  #
  # Observing decisions: one record per request (a frozen Hash with HTTPContract::RECORD_KEYS,
  # in that order), given to
  #   - the logger: a deny, and an allow with a dry-run match, at warn; an allow at info;
  #   - ActiveSupport::Notifications, as "mtlsauthz.decision", when it is loaded and has a
  #     subscriber (the gem does not load it);
  #   - the on_decision hook.
  # None of them can change the answer: an exception from one is logged at error level
  # (or to $stderr without a logger) and counted (#stats[:hook_errors]), and the request is
  # answered as decided. Reloads are reported the same way ("mtlsauthz.reload", on_reload).
  class Rack
    DECISION_KEY = "mtlsauthz.decision"
    IDENTITY_KEY = "mtlsauthz.identity"
    OPERATION_KEY = "mtlsauthz.operation"
    # The ActiveSupport::Notifications event names.
    DECISION_EVENT = "mtlsauthz.decision"
    RELOAD_EVENT = "mtlsauthz.reload"
    DEFAULT_CERT_HEADER = "X-SSL-Client-Cert"
    DEFAULT_VERIFY_HEADER = "X-SSL-Client-Verify"
    PEM_BLOCK = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+\/=\s]*)-----END CERTIFICATE-----/.freeze
    # Each dot in the last segment is one more decision: bound the work a request can ask for.
    MAX_SUFFIX_DOTS = 32
    NO_READINGS = [].freeze
    # How many distinct (method, path) pairs keep their default operation. A request for one
    # that is not kept computes it through the core, as every request would without the
    # cache; past the limit the cache starts again empty, so its size stays bounded whatever
    # paths clients send.
    OPERATION_CACHE_SIZE = 4096
    LOG_FORMATS = %i[text json].freeze
    # No verified identity: 401 whatever the policy says (docs/http.md, "Order of checks").
    NO_IDENTITY = Decision.new(false, :no_identity)
    XFCC_NAME = "X-Forwarded-Client-Cert"

    attr_reader :holder, :identity_cache

    # The options are keyword arguments. A trailing Hash is taken as them too: Puma's own
    # builder (config.ru without the rack gem) passes `use`'s options as one positional Hash.
    def initialize(app, options = nil, **kwargs)
      unless options.nil?
        unless options.is_a?(Hash) && options.keys.all?(Symbol)
          raise ArgumentError, "MtlsAuthz::Rack takes keyword options (policy: ...), " \
                               "not #{options.inspect[0, 80]}"
        end

        kwargs = options.merge(kwargs)
      end
      configure(app, **kwargs)
    end

    private def configure(app, policy:, operation: nil, logger: nil, log_format: :text,
                          dry_run: false, on_decision: nil, on_reload: nil, watch: nil,
                          trusted_proxies: [], cert_header: DEFAULT_CERT_HEADER,
                          verify_header: DEFAULT_VERIFY_HEADER, identity_cache: 1024,
                          format_suffix: true, xfcc: nil)
      unless LOG_FORMATS.include?(log_format)
        raise ArgumentError, "log_format must be :text or :json, not #{log_format.inspect}"
      end

      [[:on_decision, on_decision], [:on_reload, on_reload]].each do |name, hook|
        next if hook.nil? || hook.respond_to?(:call)

        raise ArgumentError, "#{name} must respond to #call (a lambda), not #{hook.class}"
      end
      @app = app
      @holder = holder_for(policy, watch)
      @operation = operation
      @format_suffix = format_suffix ? true : false
      @logger = logger
      @json_log = log_format == :json
      @on_decision = on_decision
      @on_reload = on_reload
      @observed = !(logger.nil? && on_decision.nil?)
      @dry_run = dry_run ? true : false
      @trusted = Array(trusted_proxies).map { |a| a.is_a?(IPAddr) ? a : IPAddr.new(a) }.freeze
      @cert_env = header_env(cert_header)
      @verify_env = header_env(verify_header)
      @identity_cache = LRU.new(identity_cache)
      # Puma's certificate object (one per connection) => der_identity's [Identity, nil]. Keys
      # are compared by identity and both sides are weak: a connection's end lets its entry
      # go, an entry whose Identity left the identity cache goes too (the next request reads
      # the certificate again), and a lookup never answers for another object.
      @peer_identities = ObjectSpace::WeakMap.new
      @operations = {}
      @operation_count = 0
      @operation_lock = Mutex.new
      @xfcc = XFCC.from_option(xfcc, @trusted)
      @xfcc_cache = LRU.new(identity_cache) if @xfcc
      @xfcc_ignored = 0
      @hook_errors = 0
      @stats_lock = Mutex.new
      check_protocol(@holder.policy) unless @operation
      @holder.on_reload do |fresh|
        check_protocol(fresh) unless @operation
        report_reload(nil)
      end
      @holder.on_reload_failure { |error| report_reload(error) }
    end

    # Swaps in a new policy (see PolicyHolder#reload!).
    def reload!(source = nil)
      @holder.reload!(source)
    end

    # PolicyHolder#stats, and hook_errors: how many times a logger, a notification
    # subscriber or a hook raised (in this process); xfcc_ignored: how many requests carried
    # X-Forwarded-Client-Cert from a peer not trusted for it (with xfcc:).
    def stats
      counts = @stats_lock.synchronize do
        { hook_errors: @hook_errors, xfcc_ignored: @xfcc_ignored }
      end
      @holder.stats.merge(counts)
    end

    # The default operation: the canonical HTTP operation of the raw path. Raises
    # OperationError for a target the core refuses.
    def self.default_operation(env)
      path = "#{env['SCRIPT_NAME']}#{env['PATH_INFO']}"
      MtlsAuthz.http_operation(env["REQUEST_METHOD"].to_s, path)
    end

    # The readings of an HTTP operation ("METHOD /path") without a format suffix: the
    # operation cut at each "." of its last path segment, first dot first. A cut at the start
    # of the segment gives the parent path (Grape routes "GET /.json" to "GET /"). Empty for
    # an operation that is not "METHOD /path" or has no "." in its last segment. Raises
    # OperationError for more than MAX_SUFFIX_DOTS dots in that segment.
    def self.format_suffix_readings(op)
      # String#index, unlike a Regexp or #count, also works on a String that is not valid UTF-8.
      sp = op.index(" ")
      return NO_READINGS unless sp && sp.positive? && op.index("/", sp) == sp + 1

      seg = op.rindex("/") + 1
      dot = op.index(".", seg)
      return NO_READINGS unless dot

      readings = []
      while dot
        if readings.size == MAX_SUFFIX_DOTS
          raise OperationError, "HTTP request refused: more than #{MAX_SUFFIX_DOTS} '.' in " \
                                "the last path segment"
        end

        # A cut right after the "/" is the parent path, without that "/" unless it is the root.
        readings << (dot == seg && seg - 1 > sp + 1 ? op[0, seg - 1] : op[0, dot]).freeze
        dot = op.index(".", dot + 1)
      end
      readings.freeze
    end

    # Is an ActiveSupport::Notifications subscriber listening for `name`? False when
    # ActiveSupport::Notifications is not loaded: the gem never loads it.
    def self.notifications_listening?(name)
      defined?(::ActiveSupport::Notifications) &&
        ::ActiveSupport::Notifications.notifier.listening?(name) ? true : false
    end

    def call(env)
      @holder.watch_tick
      op = refusal = op_error = nil
      readings = NO_READINGS
      if @operation
        begin
          op = @operation.call(env)
          readings = Rack.format_suffix_readings(op) if @format_suffix && op.is_a?(String)
        rescue OperationError => e
          op = nil
          refusal = e.message
        rescue StandardError => e
          op = nil
          op_error = "operation: #{e.class}: #{e.message}"
        end
      else
        op, readings, refusal, op_error = default_operation(env)
      end
      env[OPERATION_KEY] = op

      identity, cert_error = client_identity(env)
      env[IDENTITY_KEY] = identity
      dry = nil
      if identity.nil? && cert_error.nil?
        decision = NO_IDENTITY
        status = 401
      elsif refusal
        decision = nil # never decided: a refused target is never an allow
        status = 400
      else
        decision, dry =
          if cert_error.is_a?(Decision) then cert_error
          elsif cert_error then Decision.error(cert_error)
          elsif !op.is_a?(String) then Decision.error(op_error || "operation is not a String")
          elsif readings.empty? then @holder.authorize(identity, op)
          else decide(identity, op, readings)
          end
        status = decision.allowed? ? nil : 403
      end
      env[DECISION_KEY] = decision
      pass = status.nil? || @dry_run
      # (defined? inline first: without ActiveSupport this costs about 20 ns, not 60)
      if @observed ||
         (defined?(::ActiveSupport::Notifications) && Rack.notifications_listening?(DECISION_EVENT))
        observe(record(env, decision, dry, op, pass ? nil : status, identity, refusal))
      end
      return @app.call(env) if pass

      respond(status, decision ? decision.reason : HTTPContract::BAD_TARGET, decision&.rule)
    end

    private

    # [operation, format-suffix readings, nil, nil], [nil, NO_READINGS, the core's refusal,
    # nil] or [nil, NO_READINGS, nil, an error] for the request's method and raw path. The
    # first two are kept per (method, path) (OPERATION_CACHE_SIZE), frozen, so that no app can
    # change what a later request is decided on.
    def default_operation(env)
      method = env["REQUEST_METHOD"]
      script = env["SCRIPT_NAME"]
      info = env["PATH_INFO"]
      path = script.nil? || script.empty? ? info : "#{script}#{info}"
      return compute_operation(env) unless method.is_a?(String) && path.is_a?(String)

      by_path = @operations[method]
      entry = by_path && by_path[path]
      return entry if entry

      entry = compute_operation(env)
      keep_operation(method, path, entry) unless entry[3]
      entry
    end

    def compute_operation(env)
      op = Rack.default_operation(env).freeze
      [op, @format_suffix ? Rack.format_suffix_readings(op) : NO_READINGS, nil, nil].freeze
    rescue OperationError => e
      [nil, NO_READINGS, e.message.freeze, nil].freeze
    rescue StandardError => e
      [nil, NO_READINGS, nil, "operation: #{e.class}: #{e.message}"].freeze
    end

    # Readers take no lock: under the GVL a Hash is never seen half-written, and a reader
    # that misses computes the entry again. A Hash dups and freezes a String key it is given.
    def keep_operation(method, path, entry)
      @operation_lock.synchronize do
        if @operation_count >= OPERATION_CACHE_SIZE
          @operations = {}
          @operation_count = 0
        end
        (@operations[method] ||= {})[path] = entry
        @operation_count += 1
      end
    end

    def holder_for(policy, watch)
      holder = policy.is_a?(PolicyHolder) ? policy : PolicyHolder.new(policy)
      holder.watch(watch) if watch
      holder
    end

    # [Decision, the dry-run ids of every reading decided, or nil when they are the
    # Decision's own]. The operation as sent decides, unless it is allowed or matched no
    # rule and a reading without the format suffix is denied by an enforce-mode rule (or
    # fails): then that deny stands.
    def decide(identity, op, readings)
      decision = @holder.authorize(identity, op)
      return [decision, nil] if readings.empty?
      return [decision, nil] unless decision.allowed? || decision.reason == :no_match

      dry = decision.dry_run
      readings.each do |bare|
        d = @holder.authorize(identity, bare)
        return [d, merge_dry(dry, d.dry_run)] if d.reason == :denied || d.reason == :error

        dry = merge_dry(dry, d.dry_run) # a rule in dry-run reports what it would deny
      end
      [decision, dry.equal?(decision.dry_run) ? nil : dry]
    end

    def merge_dry(ids, more)
      more.empty? ? ids : (ids + more).uniq.freeze
    end

    # The decision-log record (docs/http.md, "The decision log"). `status` is nil for a
    # request passed on to the app.
    def record(env, decision, dry, op, status, identity, refusal)
      {
        "decision" => decision&.allowed? ? "allow" : "deny",
        "reason" => decision ? decision.reason.to_s : HTTPContract::BAD_TARGET,
        "rule" => decision&.rule,
        "dry_run" => dry || (decision ? decision.dry_run : Decision::EMPTY),
        "operation" => op,
        "status" => status,
        "spiffe_id" => identity&.spiffe_id,
        "subject" => identity&.dn,
        "issuer" => identity&.issuer,
        "serial" => identity&.serial,
        "sha256" => identity&.sha256,
        "remote" => env["REMOTE_ADDR"],
        "detail" => refusal || xfcc_refusal(decision)
      }.freeze
    end

    # Why a trusted proxy's X-Forwarded-Client-Cert gave no identity (the core's message, which
    # only xfcc_identity puts in an identity_rejected decision); nil for anything else.
    def xfcc_refusal(decision)
      decision.error if decision&.reason == :identity_rejected
    end

    ANSWERED = "the request is answered as decided"
    RELOADED = "the reload stands"

    # Every observer sees the record; none can change the answer or fail the request.
    def observe(rec)
      if @logger
        warn = rec["decision"] == "deny" || !rec["dry_run"].empty?
        guard("the logger", ANSWERED) do
          if warn
            @logger.warn(log_message("mtlsauthz", rec)) if @logger.warn?
          elsif @logger.info?
            @logger.info(log_message("mtlsauthz", rec))
          end
        end
      end
      publish(DECISION_EVENT, rec, @on_decision, "on_decision", ANSWERED)
    end

    # Hands `payload` to ActiveSupport::Notifications, when something listens, and to `hook`.
    def publish(event, payload, hook, hook_name, outcome)
      if Rack.notifications_listening?(event)
        guard("an ActiveSupport::Notifications subscriber of #{event}", outcome) do
          ::ActiveSupport::Notifications.instrument(event, payload)
        end
      end
      guard("the #{hook_name} hook", outcome) { hook.call(payload) } if hook
    end

    # The logger's message for a record: the Hash itself (log_format: :json, with "msg"
    # first), or #text_line.
    def log_message(msg, rec)
      @json_log ? { "msg" => msg }.merge(rec) : text_line(msg, rec)
    end

    # "MSG: key=value ..." with every key of the record and each value in JSON.
    def text_line(msg, rec)
      line = +"#{msg}:"
      rec.each { |k, v| line << " " << k << "=" << JSON.generate(HTTPContract.json_safe(v)) }
      line
    end

    # Runs an observer. An exception is logged at error level (or to $stderr) and counted;
    # what was decided (`outcome`) stands.
    def guard(who, outcome)
      yield
    rescue StandardError => e
      @stats_lock.synchronize { @hook_errors += 1 }
      message = "mtlsauthz: #{who} raised #{e.class}: #{e.message}; #{outcome}"
      begin
        @logger ? @logger.error(message) : Kernel.warn(message)
      rescue StandardError
        Kernel.warn(message)
      end
    end

    # Reports a reload (error: nil for a success) to the logger, ActiveSupport and on_reload.
    def report_reload(error)
      s = @holder.stats
      event = { "result" => error ? "failure" : "success", "path" => s[:path],
                "error" => error&.message, "rules" => s[:rules],
                "load_seconds" => s[:load_seconds], "loaded_at" => s[:loaded_at] }.freeze
      if error
        msg = "mtlsauthz: policy reload failed; keeping the last good policy"
        if @logger
          guard("the logger", RELOADED) { @logger.error(log_message(msg, event)) }
        else
          Kernel.warn(text_line(msg, event))
        end
      elsif @logger
        msg = "mtlsauthz: policy reloaded"
        guard("the logger", RELOADED) { @logger.info(log_message(msg, event)) }
      end
      publish(RELOAD_EVENT, event, @on_reload, "on_reload", RELOADED)
    end

    # Operations built from requests are HTTP operations; say so when the policy does not.
    def check_protocol(policy)
      return if policy.protocol == "http"

      where = @holder.path ? "policy #{@holder.path}" : "the policy"
      message = "mtlsauthz: #{where} does not declare `protocol: http`. Add " \
                "`protocol: http` at its top level: MtlsAuthz::Rack authorizes HTTP " \
                "operations (\"METHOD /path\"), and only under `protocol: http` is every " \
                "operation pattern checked at load to be one, so that a pattern no request " \
                "can match (such as \"/host/**\") is an error instead of a rule that never " \
                "applies (docs/policy.md, \"HTTP operations\")."
      @logger ? @logger.warn(message) : Kernel.warn(message)
    rescue ClosedError
      nil # already replaced by a later reload, which checks its own policy
    end

    def header_env(name)
      "HTTP_#{name.upcase.tr('-', '_')}"
    end

    def trusted_proxy?(addr)
      return false if @trusted.empty? || addr.nil? || addr.empty?

      ip = IPAddr.new(addr)
      @trusted.any? { |net| net.family == ip.family && net.include?(ip) }
    rescue IPAddr::Error
      false
    end

    # [Identity or nil, error message, or a deny Decision, or nil]. A peer trusted for XFCC
    # by its address is asked for nothing else; one trusted by its certificate is read as a
    # direct client first.
    def client_identity(env)
      return xfcc_identity(env) if @xfcc&.trusted_address?(env)

      if !@trusted.empty? && trusted_proxy?(env["REMOTE_ADDR"])
        ignore_xfcc(env) if @xfcc
        return [nil, nil] unless env[@verify_env] == "SUCCESS"

        escaped = env[@cert_env]
        return [nil, nil] if escaped.nil? || escaped.empty?

        return pem_identity(unescape(escaped))
      end

      peer = direct_identity(env)
      return peer unless @xfcc
      return xfcc_identity(env) if @xfcc.selectors? && @xfcc.trusted_identity?(peer[0])

      ignore_xfcc(env)
      peer
    rescue StandardError => e # fail closed: an unreadable certificate is a deny, not a 500
      [nil, "client certificate: #{e.class}: #{e.message}"]
    end

    # From a peer trusted for XFCC: the header, through the core, cached by its SHA-256.
    # None: no identity (401). One that does not parse: 403 identity_rejected.
    def xfcc_identity(env)
      header = env[XFCC::ENV_KEY]
      return [nil, nil] if header.nil?

      key = Digest::SHA256.digest(header)
      [@xfcc_cache.fetch(key) { Identity.from_xfcc(header) }, nil]
    rescue IdentityError => e
      guard("the logger", ANSWERED) do
        text = "mtlsauthz: refused the #{XFCC_NAME} header of trusted proxy " \
               "#{env['REMOTE_ADDR']} (decided as identity_rejected): #{e.message}"
        @logger ? @logger.warn(text) : Kernel.warn(text)
      end
      [nil, Decision.new(false, :identity_rejected, nil, Decision::EMPTY, 0, e.message.freeze)]
    end

    # A header from a peer not trusted for it is never read: say so, since either the proxy's
    # address or certificate is missing from xfcc:, or someone is trying it on.
    def ignore_xfcc(env)
      return unless env.key?(XFCC::ENV_KEY)

      @stats_lock.synchronize { @xfcc_ignored += 1 }
      guard("the logger", ANSWERED) do
        text = "mtlsauthz: ignored #{XFCC_NAME} from #{env['REMOTE_ADDR']}, a peer not " \
               "trusted for it (xfcc: trusted_proxies, proxy_identities); the request is " \
               "decided without it"
        @logger ? @logger.warn(text) : Kernel.warn(text)
      end
    end

    # A direct client: the connection's own verified certificate.
    def direct_identity(env)
      verify = env["SSL_CLIENT_VERIFY"]
      return [nil, nil] if verify && verify != "SUCCESS"

      pem = env["SSL_CLIENT_CERT"]
      return pem_identity(pem) if pem.is_a?(String) && !pem.empty?

      cert = env["puma.peercert"]
      return [nil, nil] if cert.nil?

      known = @peer_identities[cert]
      return known if known
      return [nil, "unexpected puma.peercert #{cert.class}"] unless cert.respond_to?(:to_der)

      found = der_identity(cert.to_der)
      @peer_identities[cert] = found if found[0]
      found
    rescue StandardError => e # fail closed: an unreadable certificate is a deny, not a 500
      [nil, "client certificate: #{e.class}: #{e.message}"]
    end

    # nginx's $ssl_client_escaped_cert is percent-encoded; "+" is a base64 character, not a
    # space, so this is not form decoding.
    def unescape(s)
      s.gsub(/%[0-9A-Fa-f]{2}/) { |m| m[1, 2].hex.chr }
    end

    # The leaf's DER from a PEM certificate (the first CERTIFICATE block), for the cache key
    # and the identity alike, so the key is exactly the bytes parsed.
    def pem_identity(pem)
      m = PEM_BLOCK.match(pem.b)
      return [nil, "client certificate is not PEM"] unless m

      der = begin
        m[1].delete(" \t\r\n").unpack1("m0")
      rescue ArgumentError
        return [nil, "client certificate has invalid base64"]
      end
      der_identity(der)
    end

    # Keyed by the DER itself: a Hash compares the whole key, so no two certificates share an
    # entry, and hashing it costs a tenth of a SHA-256. The cache keeps the frozen
    # [Identity, nil] this returns, which Puma's certificate objects share.
    def der_identity(der)
      key = der.b.freeze
      @identity_cache.fetch(key) { [Identity.from_der(key), nil].freeze }
    rescue IdentityError => e
      [nil, "client certificate: #{e.message}"]
    end

    def respond(status, reason, rule)
      body = HTTPContract.body(status, reason, rule)
      [status, HTTPContract.headers(body), [body]]
    end
  end
end
