# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

require "ipaddr"
require "json"
require "socket"

module MtlsAuthz
  # The C API for X-Forwarded-Client-Cert (include/mtlsauthz/xfcc.h), attached apart from
  # lib.rb's block: the identity from the header and whether an identity is partial.
  module Lib
    begin
      attach_function :mtlsauthz_identity_from_xfcc,
                      [:pointer, :buffer_in, :size_t, :pointer], :int
      attach_function :mtlsauthz_identity_partial, [:pointer], :int
    rescue FFI::NotFoundError => e
      raise LibraryNotFound,
            "mtlsauthz: #{LOADED_FROM} is missing a symbol this gem needs " \
            "(#{e.message}); it is probably an older libmtlsauthz"
    end
  end

  # Which peers may send the X-Forwarded-Client-Cert header (XFCC) to MtlsAuthz::Rack: the
  # proxies that terminate mutual TLS in front of the app (Envoy, Istio, Envoy Gateway).
  # Anyone can write the header, so it is read only from the immediate peer of a connection
  # that is trusted (docs/policy.md, "Identities from X-Forwarded-Client-Cert"):
  #
  #   trusted_proxies:  by address: IP addresses or CIDRs (Strings or IPAddr), matched against
  #                     REMOTE_ADDR, and "unix" for a peer on a Unix socket (Puma's
  #                     env["puma.socket"] is a UNIXSocket: Puma reports such a peer's
  #                     REMOTE_ADDR as 127.0.0.1, so "127.0.0.1" would not tell them apart).
  #   proxy_identities: by the connection's own verified client certificate: selectors
  #                     "KEY:PATTERN", one principal key of the policy language and one of its
  #                     patterns ("spiffe:spiffe://cluster.local/ns/istio-system/sa/*",
  #                     "dns:envoy.internal.example.com", "sha256:<fingerprint>"). They are
  #                     compiled by the library into a policy of their own and decided there,
  #                     so a selector means exactly what the same pattern means in a policy;
  #                     the gem matches nothing itself.
  #
  # Immutable once built, and shareable across threads.
  class XFCC
    # The request header, as Rack names it.
    ENV_KEY = "HTTP_X_FORWARDED_CLIENT_CERT"
    # The one operation of the selectors' policy.
    OPERATION = "xfcc:forward"
    UNIX = "unix"
    OPTION_KEYS = %i[trusted_proxies proxy_identities].freeze

    attr_reader :selectors

    # `addresses`: IP addresses, CIDRs or "unix"; `selectors`: "KEY:PATTERN" Strings. At least
    # one of them. Raises ArgumentError for an address that is not one, and for a selector the
    # library does not load (with its message).
    def initialize(trusted_proxies: [], proxy_identities: [])
      addresses = Array(trusted_proxies)
      @selectors = Array(proxy_identities).map(&:to_s).freeze
      if addresses.empty? && @selectors.empty?
        raise ArgumentError, "xfcc: no trusted proxy: give trusted_proxies (addresses, CIDRs " \
                             "or \"unix\") or proxy_identities (selectors such as " \
                             "\"spiffe:spiffe://cluster.local/ns/istio-system/sa/gateway\")"
      end

      @unix = addresses.any? { |a| a.to_s == UNIX }
      @networks = addresses.reject { |a| a.to_s == UNIX }.map { |a| network(a) }.freeze
      @policy = @selectors.empty? ? nil : XFCC.selector_policy(@selectors)
      freeze
    end

    # Builds the XFCC trust from the Rack option: nil or false (off), true (the middleware's
    # own trusted_proxies), or a Hash with OPTION_KEYS.
    def self.from_option(option, trusted_proxies)
      case option
      when nil, false then nil
      when true
        if Array(trusted_proxies).empty?
          raise ArgumentError, "xfcc: true reads the header from the trusted_proxies, and " \
                               "there are none: list the proxies' addresses in " \
                               "trusted_proxies, or give xfcc: { trusted_proxies: [...] }"
        end
        new(trusted_proxies: trusted_proxies)
      when Hash
        unknown = option.keys - OPTION_KEYS
        unless unknown.empty?
          raise ArgumentError, "xfcc: unknown key #{unknown.first.inspect}; the keys are " \
                               "#{OPTION_KEYS.map(&:inspect).join(' and ')}"
        end
        new(**option)
      else
        raise ArgumentError, "xfcc must be true, false or a Hash with trusted_proxies: and " \
                             "proxy_identities:, not #{option.class}"
      end
    end

    # The policy that allows OPERATION to the identities the selectors select. An unknown key
    # or a bad pattern is the library's load error (ArgumentError), naming the selector.
    def self.selector_policy(selectors)
      pairs = selectors.map do |sel|
        key, sep, pattern = sel.partition(":")
        if sep.empty? || key.empty? || pattern.empty?
          raise ArgumentError, "xfcc: proxy_identities #{sel.inspect}: expected KEY:PATTERN, a " \
                               "principal key of the policy language and a pattern, such as " \
                               "spiffe:spiffe://cluster.local/ns/istio-system/sa/gateway"
        end
        if key == "name"
          raise ArgumentError, "xfcc: proxy_identities #{sel.inspect}: 'name' is not a key " \
                               "that selects an identity"
        end
        # Each alone first, so that an error names the selector it is about.
        begin
          load_selectors([[key, pattern]]).close
        rescue PolicyError => e
          raise ArgumentError, "xfcc: proxy_identities #{sel.inspect}: " \
                               "#{e.message.sub(/\A\d+:\d+: /, '')} (a selector is KEY:PATTERN " \
                               "with a principal key of docs/policy.md, \"Principals\")"
        end
        [key, pattern]
      end
      load_selectors(pairs)
    end

    # JSON is YAML, and JSON.generate quotes every value, so a selector cannot add keys.
    def self.load_selectors(pairs)
      principals = pairs.each_with_index.map do |(key, pattern), i|
        { "name" => "proxy-#{i + 1}", key => [pattern] }
      end
      Policy.load(JSON.generate(
                    "version" => 1,
                    "principals" => principals,
                    "rules" => [{ "id" => "xfcc-proxies", "effect" => "allow",
                                  "principals" => principals.map { |p| p["name"] },
                                  "operations" => [OPERATION] }]
                  ))
    end
    private_class_method :load_selectors

    def selectors?
      !@policy.nil?
    end

    # Is the immediate peer trusted by its address: a Unix socket peer (with "unix"), or
    # REMOTE_ADDR in one of the networks?
    def trusted_address?(env)
      return true if @unix && unix_peer?(env)
      return false if @networks.empty?

      addr = env["REMOTE_ADDR"]
      return false if addr.nil? || addr.empty? || unix_peer?(env)

      ip = IPAddr.new(addr)
      @networks.any? { |net| net.family == ip.family && net.include?(ip) }
    rescue IPAddr::Error
      false
    end

    # Does the connection's verified certificate (`identity`, read as for a direct client)
    # match a selector? The library decides; a rejected identity matches none.
    def trusted_identity?(identity)
      return false if @policy.nil? || identity.nil?

      @policy.authorize(identity, OPERATION).allowed?
    end

    private

    # A peer on a Unix socket: the connection is not TCP, whatever REMOTE_ADDR says.
    def unix_peer?(env)
      env["puma.socket"].is_a?(UNIXSocket)
    end

    def network(addr)
      addr.is_a?(IPAddr) ? addr : IPAddr.new(addr.to_s)
    rescue IPAddr::Error => e
      raise ArgumentError, "xfcc: trusted_proxies #{addr.inspect} is not an IP address, a " \
                           "CIDR or \"unix\" (#{e.message})"
    end
  end
end
