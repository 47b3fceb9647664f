# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

require "time"

module MtlsAuthz
  # Who called: the names read from a certificate the TLS stack has already verified. The
  # library does not verify chains; give it only a certificate your server verified.
  #
  # Immutable and shareable across threads. Its C memory is freed by a finalizer.
  #
  # Readers return what the C library extracted, byte for byte (UTF-8 where the bytes are valid
  # UTF-8, binary otherwise), frozen:
  #   list fields (Array of String): cn, o, ou, dns, uri, email, ip, eku
  #   single fields (String or nil): dn, issuer, serial, sha256, spiffe_id
  #   not_before, not_after: Time (UTC)
  #   rejected: nil, or the reason the identity is denied every operation
  #             ("NUL byte in subject CN", "invalid SPIFFE ID: ...")
  #   partial?: read from an X-Forwarded-Client-Cert header without the certificate
  class Identity
    LIST_FIELDS = {
      cn: Lib::FIELD_CN, o: Lib::FIELD_O, ou: Lib::FIELD_OU, dns: Lib::FIELD_SAN_DNS,
      uri: Lib::FIELD_SAN_URI, email: Lib::FIELD_SAN_EMAIL, ip: Lib::FIELD_SAN_IP,
      eku: Lib::FIELD_EKU
    }.freeze
    SINGLE_FIELDS = {
      dn: Lib::FIELD_SUBJECT_DN, issuer: Lib::FIELD_ISSUER_DN, serial: Lib::FIELD_SERIAL,
      sha256: Lib::FIELD_SHA256, spiffe_id: Lib::FIELD_SPIFFE_ID
    }.freeze
    TIME_FIELDS = { not_before: Lib::FIELD_NOT_BEFORE, not_after: Lib::FIELD_NOT_AFTER }.freeze

    # Peers cached per policy (see #peer_for); a few, for reloads and per-route policies.
    PEER_CACHE_MAX = 4

    class << self
      # Reads a PEM bundle: one or more CERTIFICATE blocks, the leaf first.
      # Raises IdentityError with the C library's message.
      def from_pem(pem)
        build(:mtlsauthz_identity_from_pem, bytes(pem))
      end

      # Reads DER: one certificate, or a chain of them concatenated, the leaf first.
      def from_der(der)
        build(:mtlsauthz_identity_from_der, bytes(der))
      end

      # Reads an OpenSSL::X509::Certificate (as Puma's env["puma.peercert"]).
      def from_openssl(cert)
        unless defined?(OpenSSL::X509::Certificate) && cert.is_a?(OpenSSL::X509::Certificate)
          raise TypeError, "expected an OpenSSL::X509::Certificate, got #{cert.class}"
        end

        from_der(cert.to_der)
      end

      # Reads the value of an X-Forwarded-Client-Cert header, as Envoy and Istio write it: the
      # last element, the nearest proxy's (docs/policy.md, "Identities from
      # X-Forwarded-Client-Cert"). With `Cert` or `Chain`, the certificate's identity; without,
      # a partial one (#partial?). Raises IdentityError for a header that does not parse. Read
      # the header only from a proxy you trust: anyone can write it.
      def from_xfcc(header)
        build(:mtlsauthz_identity_from_xfcc, bytes(header))
      end

      private

      def bytes(s)
        raise TypeError, "expected a String, got #{s.class}" unless s.is_a?(String)

        s
      end

      def build(fn, input)
        out = FFI::MemoryPointer.new(:pointer)
        err = Lib::Error.new
        rc = Lib.public_send(fn, out, input, input.bytesize, err)
        Lib.check(rc, err, IdentityError)
        new(out.read_pointer)
      end
    end

    private_class_method :new

    def initialize(ptr) # :nodoc:
      @handle = FFI::AutoPointer.new(ptr, Lib.method(:mtlsauthz_identity_free))
      @fields = {}
      @peers = [].freeze
      @peer_lock = Mutex.new
      rej = Lib.mtlsauthz_identity_rejected(@handle)
      @rejected = rej.null? ? nil : rej.read_string.force_encoding(Encoding::UTF_8).freeze
    end

    attr_reader :rejected

    def rejected?
      !@rejected.nil?
    end

    LIST_FIELDS.each do |name, field|
      define_method(name) { values(field) }
    end

    SINGLE_FIELDS.each do |name, field|
      define_method(name) { values(field).first }
    end

    TIME_FIELDS.each do |name, field|
      define_method(name) do
        v = values(field).first
        v && Time.iso8601(v).utc
      end
    end

    # True when read by from_xfcc from a header without `Cert` or `Chain`: only the SHA-256,
    # the subject (and its CN, O and OU) and the URI and DNS SANs are set; the other fields
    # are empty, and a policy key that reads them never matches.
    def partial?
      Lib.mtlsauthz_identity_partial(@handle) == 1
    end

    # Number of certificates in the chain the identity was read from (1 = leaf only; 0 for a
    # partial identity).
    def chain_length
      Lib.mtlsauthz_identity_chain_length(@handle)
    end

    # The C library's JSON rendering (the `mtlsauthz identity --format json` document).
    def to_json(*)
      out = FFI::MemoryPointer.new(:pointer)
      len = FFI::MemoryPointer.new(:size_t)
      err = Lib::Error.new
      Lib.check(Lib.mtlsauthz_identity_to_json(out, len, @handle, err), err, IdentityError)
      ptr = out.read_pointer
      begin
        ptr.get_bytes(0, len.read(:size_t)).force_encoding(Encoding::UTF_8)
      ensure
        Lib.mtlsauthz_string_free(ptr)
      end
    end

    def to_h
      h = {}
      SINGLE_FIELDS.each_key { |k| h[k] = public_send(k) }
      LIST_FIELDS.each_key { |k| h[k] = public_send(k) }
      TIME_FIELDS.each_key { |k| h[k] = public_send(k) }
      h[:rejected] = @rejected
      h[:partial] = partial?
      h
    end

    def inspect
      parts = ["sha256=#{sha256}"]
      parts << "spiffe_id=#{spiffe_id}" if spiffe_id
      parts << "dn=#{dn.inspect}"
      parts << "rejected=#{@rejected.inspect}" if @rejected
      parts << "partial" if partial?
      "#<#{self.class} #{parts.join(' ')}>"
    end

    # The peer (this identity resolved against `policy`), made once per policy and reused:
    # later decisions only match the operation. Returns nil if the policy is closed.
    # Internal; Policy#authorize calls it.
    def peer_for(policy) # :nodoc:
      peers = @peers
      e = peers[0] # the newest: the current policy, but for a moment after a reload
      return e[1] if e && e[0].equal?(policy)

      i = 1
      while i < peers.size
        e = peers[i]
        return e[1] if e[0].equal?(policy)

        i += 1
      end
      peer = policy.new_peer(self)
      return nil unless peer

      @peer_lock.synchronize do
        # Peers of closed policies hold the old policy's C memory: drop them here.
        kept = @peers.reject { |p, _| p.equal?(policy) || p.closed? }
        @peers = ([[policy, peer].freeze] + kept.first(PEER_CACHE_MAX - 1)).freeze
      end
      peer
    end

    # [[policy, peer], ...], newest first; frozen, replaced whole (Policy#authorize reads it).
    attr_reader :peers # :nodoc:

    def to_ptr # :nodoc:
      @handle
    end

    private

    # Values of one field, read once (the identity is immutable). Benign race: two threads
    # may both read a field the first time; they get equal values.
    def values(field)
      cached = @fields[field]
      return cached if cached

      n = Lib.mtlsauthz_identity_count(@handle, field)
      vp = FFI::MemoryPointer.new(:pointer)
      lp = FFI::MemoryPointer.new(:size_t)
      list = Array.new(n) do |i|
        rc = Lib.mtlsauthz_identity_get(vp, lp, @handle, field, i)
        raise IdentityError.new("cannot read field #{field} value #{i}", code: rc) if rc != 0

        Lib.bytes_to_s(vp.read_pointer, lp.read(:size_t))
      end.freeze
      @fields = @fields.merge(field => list).freeze
      list
    end
  end
end
