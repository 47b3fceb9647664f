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
  #   logger:          a Logger: denies at info, allows at debug, dry-run matches at info.
  #   dry_run:         true: decide and log, but let every request through (roll-out).
  #   trusted_proxies: addresses or CIDRs (Strings or IPAddr) of TLS-terminating proxies
  #                    whose forwarded certificate header may be believed. Default: none.
  #   cert_header:     the forwarded certificate header, URL-escaped PEM (nginx
  #                    $ssl_client_escaped_cert). Default "X-SSL-Client-Cert".
  #   verify_header:   the forwarded verification result (nginx $ssl_client_verify); must be
  #                    "SUCCESS". Default "X-SSL-Client-Verify".
  #   identity_cache:  how many identities to keep, keyed by the SHA-256 of the leaf's DER
  #                    (a bounded LRU). Default 1024.
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
  # Answers: 400 for a request target the core refuses (before authorization), 401 when there
  # is no verified certificate, 403 for a deny; each with a small JSON body. The Decision is in
  # env["mtlsauthz.decision"], the Identity in env["mtlsauthz.identity"] and the operation in
  # env["mtlsauthz.operation"].
  class Rack
    DECISION_KEY = "mtlsauthz.decision"
    IDENTITY_KEY = "mtlsauthz.identity"
    OPERATION_KEY = "mtlsauthz.operation"
    DEFAULT_CERT_HEADER = "X-SSL-Client-Cert"
    DEFAULT_VERIFY_HEADER = "X-SSL-Client-Verify"
    PEM_BLOCK = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+\/=\s]*)-----END CERTIFICATE-----/.freeze
    # Each dot in the last segment is one more decision: bound the work a request can ask for.
    MAX_SUFFIX_DOTS = 32
    NO_READINGS = [].freeze

    attr_reader :holder, :identity_cache

    def initialize(app, policy:, operation: nil, logger: nil, dry_run: false,
                   trusted_proxies: [], cert_header: DEFAULT_CERT_HEADER,
                   verify_header: DEFAULT_VERIFY_HEADER, identity_cache: 1024,
                   format_suffix: true)
      @app = app
      @holder = policy.is_a?(PolicyHolder) ? policy : PolicyHolder.new(policy)
      @operation = operation
      @format_suffix = format_suffix ? true : false
      @logger = logger
      @dry_run = dry_run ? true : false
      @trusted = Array(trusted_proxies).map { |a| a.is_a?(IPAddr) ? a : IPAddr.new(a) }.freeze
      @cert_env = header_env(cert_header)
      @verify_env = header_env(verify_header)
      @identity_cache = LRU.new(identity_cache)
      return if @operation

      check_protocol(@holder.policy)
      @holder.on_reload { |fresh| check_protocol(fresh) }
    end

    # Swaps in a new policy (see PolicyHolder#reload!).
    def reload!(source = nil)
      @holder.reload!(source)
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
          raise OperationError, "more than #{MAX_SUFFIX_DOTS} '.' in the last path segment"
        end

        # A cut right after the "/" is the parent path, without that "/" unless it is the root.
        readings << (dot == seg && seg - 1 > sp + 1 ? op[0, seg - 1] : op[0, dot]).freeze
        dot = op.index(".", dot + 1)
      end
      readings.freeze
    end

    def call(env)
      readings = NO_READINGS
      op = begin
        @operation ? @operation.call(env) : Rack.default_operation(env)
      rescue OperationError => e
        return refuse_target(env, e)
      rescue StandardError => e
        op_error = "operation: #{e.class}: #{e.message}"
        nil
      end
      env[OPERATION_KEY] = op
      if @format_suffix && op.is_a?(String)
        begin
          readings = Rack.format_suffix_readings(op)
        rescue OperationError => e
          return refuse_target(env, e)
        end
      end

      identity, cert_error = client_identity(env)
      env[IDENTITY_KEY] = identity
      decision, as_op =
        if cert_error then [Decision.error(cert_error), nil]
        elsif !op.is_a?(String) then [Decision.error(op_error || "operation is not a String"), nil]
        else decide(identity, op, readings)
        end
      env[DECISION_KEY] = decision
      log_decision(decision, op, as_op, identity)

      return @app.call(env) if decision.allowed? || @dry_run
      if identity.nil? && cert_error.nil?
        return respond(401, "client certificate required", :no_identity)
      end

      respond(403, "forbidden", decision.reason)
    end

    private

    # [Decision, the reading that denied or nil]. The operation as sent decides, unless it
    # is allowed or matched no rule and a reading without the format suffix is denied by an
    # enforce-mode rule (or fails): then that deny stands.
    def decide(identity, op, readings)
      decision = @holder.authorize(identity, op)
      return [decision, nil] unless decision.allowed? || decision.reason == :no_match

      readings.each do |bare|
        d = @holder.authorize(identity, bare)
        return [d, bare] if d.reason == :denied || d.reason == :error

        log_dry_run(d, bare, identity) # a rule in dry-run reports what it would deny
      end
      [decision, nil]
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

    def refuse_target(env, error)
      log(:info) do
        "mtlsauthz: 400 #{env['REQUEST_METHOD']} #{raw_path(env).inspect}: #{error.message}"
      end
      @dry_run ? @app.call(env) : respond(400, "bad request target", nil, error.message)
    end

    def header_env(name)
      "HTTP_#{name.upcase.tr('-', '_')}"
    end

    def raw_path(env)
      "#{env['SCRIPT_NAME']}#{env['PATH_INFO']}"
    end

    def trusted_proxy?(addr)
      return false if @trusted.empty? || addr.nil? || addr.empty?

      ip = IPAddr.new(addr)
      @trusted.any? { |net| net.family == ip.family && net.include?(ip) }
    rescue IPAddr::Error
      false
    end

    # [Identity or nil, error message or nil]
    def client_identity(env)
      if trusted_proxy?(env["REMOTE_ADDR"])
        return [nil, nil] unless env[@verify_env] == "SUCCESS"

        escaped = env[@cert_env]
        return [nil, nil] if escaped.nil? || escaped.empty?

        return pem_identity(unescape(escaped))
      end

      verify = env["SSL_CLIENT_VERIFY"]
      return [nil, nil] if verify && verify != "SUCCESS"

      pem = env["SSL_CLIENT_CERT"]
      return pem_identity(pem) if pem.is_a?(String) && !pem.empty?

      cert = env["puma.peercert"]
      return [nil, nil] if cert.nil?
      return [nil, "unexpected puma.peercert #{cert.class}"] unless cert.respond_to?(:to_der)

      der_identity(cert.to_der)
    rescue StandardError => e # fail closed: an unreadable certificate is a deny, not a 500
      [nil, "client certificate: #{e.class}: #{e.message}"]
    end

    # nginx's $ssl_client_escaped_cert is percent-encoded; "+" is a base64 character, not a
    # space, so this is not form decoding.
    def unescape(s)
      s.gsub(/%[0-9A-Fa-f]{2}/) { |m| m[1, 2].hex.chr }
    end

    # The leaf's DER from a PEM certificate (the first CERTIFICATE block), for the cache key
    # and the identity alike, so the key is the digest of exactly the bytes parsed.
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

    def der_identity(der)
      key = Digest::SHA256.digest(der)
      [@identity_cache.fetch(key) { Identity.from_der(der) }, nil]
    rescue IdentityError => e
      [nil, "client certificate: #{e.message}"]
    end

    def respond(status, error, reason, detail = nil)
      body = { "error" => error }
      body["reason"] = reason.to_s if reason
      body["detail"] = detail if detail
      json = JSON.generate(body)
      [status, { "content-type" => "application/json", "content-length" => json.bytesize.to_s,
                 "cache-control" => "no-store" }, [json]]
    end

    def log(level, &block)
      @logger&.public_send(level, &block)
    end

    def who(identity)
      identity ? (identity.spiffe_id || identity.dn || identity.sha256) : "-"
    end

    # `as_op`: the reading without the format suffix that was denied, or nil.
    def log_decision(decision, op, as_op, identity)
      return unless @logger

      verdict = decision.allowed? ? "allow" : (@dry_run ? "deny (dry-run: let through)" : "deny")
      line = +"mtlsauthz: #{verdict} #{op.inspect}"
      line << " (as #{as_op.inspect})" if as_op
      line << " for #{who(identity).inspect} reason=#{decision.reason}"
      line << " rule=#{decision.rule}" if decision.rule
      line << " error=#{decision.error.inspect}" if decision.error
      decision.allowed? ? @logger.debug(line) : @logger.info(line)
      log_dry_run(decision, as_op || op, identity)
    end

    def log_dry_run(decision, op, identity)
      return unless @logger

      decision.dry_run.each do |id|
        @logger.info("mtlsauthz: dry-run rule #{id} matched #{op.inspect} for " \
                     "#{who(identity).inspect}")
      end
    end
  end
end
