# frozen_string_literal: true

require "ffi"
require "open3"

module MtlsAuthz
  # The raw C API (include/mtlsauthz/*.h), attached with FFI. Everything here is a direct
  # mapping; the Ruby classes around it add ownership and thread safety, never policy logic.
  #
  # The library is looked up, in order:
  #   1. ENV["MTLSAUTHZ_LIB"]: a path to the shared library. When it is set, it is the only
  #      candidate: a wrong path is an error, not a reason to load some other copy.
  #   2. pkg-config: `pkg-config --variable=libdir mtlsauthz` (PKG_CONFIG_PATH may point at a
  #      build tree's uninstalled .pc file), then libmtlsauthz.so.0 in that directory.
  #   3. The system search path: libmtlsauthz.so.0, then "mtlsauthz".
  module Lib
    extend FFI::Library

    # The soname this binding was written against (ABI 0, include/mtlsauthz/version.h).
    ABI_VERSION = 0

    def self.soname
      case FFI::Platform::OS
      when "darwin" then "libmtlsauthz.#{ABI_VERSION}.dylib"
      when "windows" then "mtlsauthz.dll"
      else "libmtlsauthz.so.#{ABI_VERSION}"
      end
    end

    def self.pkg_config_libdir
      pc = ENV.fetch("PKG_CONFIG", "pkg-config")
      out, status = Open3.capture2(pc, "--variable=libdir", "mtlsauthz", err: File::NULL)
      dir = out.strip
      status.success? && !dir.empty? ? dir : nil
    rescue SystemCallError
      nil
    end

    # [[candidate, where it came from], ...] in lookup order.
    def self.candidates
      explicit = ENV["MTLSAUTHZ_LIB"]
      return [[explicit, "MTLSAUTHZ_LIB"]] if explicit && !explicit.empty?

      list = []
      if (dir = pkg_config_libdir)
        list << [File.join(dir, soname), "pkg-config libdir"]
      end
      list << [soname, "system search path"]
      list << ["mtlsauthz", "system search path"]
      list
    end

    def self.load_library
      tried = []
      candidates.each do |name, source|
        begin
          ffi_lib name
          return name
        rescue ::LoadError => e
          tried << "  #{name} (#{source}): #{e.message.lines.first.strip}"
        end
      end
      raise LibraryNotFound, <<~MSG.chomp
        mtlsauthz: cannot load libmtlsauthz. Tried:
        #{tried.join("\n")}
        Set MTLSAUTHZ_LIB to the library's path, point PKG_CONFIG_PATH at a directory holding
        mtlsauthz.pc, or install the library (make install).
      MSG
    end

    LOADED_FROM = load_library

    # mtlsauthz_error: caller-owned,
    # {int code; unsigned int line; unsigned int column; char message[512];}.
    class Error < FFI::Struct
      layout :code, :int,
             :line, :uint,
             :column, :uint,
             :message, [:char, 512]

      def message_string
        self[:message].to_ptr.get_string(0, 512).force_encoding(Encoding::UTF_8).scrub
      end
    end

    # mtlsauthz_decision: caller-owned; strings are borrowed from the policy.
    DRY_RUN_MAX = 8
    class Decision < FFI::Struct
      layout :allowed, :int,
             :reason, :int, # enum mtlsauthz_reason
             :rule, :pointer,
             :dry_run_count, :size_t,
             :dry_run, [:pointer, DRY_RUN_MAX]
    end

    # The fields of an identity (enum mtlsauthz_field; the numbers are ABI).
    FIELD_SUBJECT_DN = 0
    FIELD_CN = 1
    FIELD_O = 2
    FIELD_OU = 3
    FIELD_ISSUER_DN = 4
    FIELD_SERIAL = 5
    FIELD_SHA256 = 6
    FIELD_SPIFFE_ID = 7
    FIELD_SAN_DNS = 8
    FIELD_SAN_URI = 9
    FIELD_SAN_EMAIL = 10
    FIELD_SAN_IP = 11
    FIELD_EKU = 12
    FIELD_NOT_BEFORE = 13
    FIELD_NOT_AFTER = 14

    EOPERATION = -7

    # A policy's declared protocol (enum mtlsauthz_protocol; the numbers are ABI).
    PROTOCOLS = { 0 => "any", 1 => "http" }.freeze

    begin
      attach_function :mtlsauthz_version, [], :string
      attach_function :mtlsauthz_version_number, [], :ulong
      attach_function :mtlsauthz_strerror, [:int], :string
      attach_function :mtlsauthz_errname, [:int], :string
      attach_function :mtlsauthz_reason_string, [:int], :string

      # Identities. Byte inputs are :buffer_in so that Ruby Strings (binary, with NULs) pass
      # as (pointer, length) without a NUL check or a copy.
      attach_function :mtlsauthz_identity_from_der,
                      [:pointer, :buffer_in, :size_t, :pointer], :int
      attach_function :mtlsauthz_identity_from_pem,
                      [:pointer, :buffer_in, :size_t, :pointer], :int
      attach_function :mtlsauthz_identity_free, [:pointer], :void
      attach_function :mtlsauthz_identity_count, [:pointer, :int], :size_t
      attach_function :mtlsauthz_identity_get,
                      [:pointer, :pointer, :pointer, :int, :size_t], :int
      attach_function :mtlsauthz_identity_rejected, [:pointer], :pointer
      attach_function :mtlsauthz_identity_chain_length, [:pointer], :size_t
      attach_function :mtlsauthz_identity_to_json,
                      [:pointer, :pointer, :pointer, :pointer], :int
      attach_function :mtlsauthz_string_free, [:pointer], :void

      # Policies. Loading can take a while for large policies: release the GVL so other
      # Puma threads keep serving meanwhile. The decision path keeps the GVL (cheaper).
      attach_function :mtlsauthz_policy_load,
                      [:pointer, :buffer_in, :size_t, :pointer], :int, blocking: true
      attach_function :mtlsauthz_policy_load_file,
                      [:pointer, :string, :pointer], :int, blocking: true
      attach_function :mtlsauthz_policy_ref, [:pointer], :pointer
      attach_function :mtlsauthz_policy_free, [:pointer], :void
      attach_function :mtlsauthz_policy_rule_count, [:pointer], :size_t
      attach_function :mtlsauthz_policy_protocol, [:pointer], :int # enum mtlsauthz_protocol
      attach_function :mtlsauthz_peer_new, [:pointer, :pointer, :pointer, :pointer], :int
      attach_function :mtlsauthz_peer_free, [:pointer], :void
      attach_function :mtlsauthz_peer_decide,
                      [:pointer, :pointer, :buffer_in, :size_t, :pointer], :int
      attach_function :mtlsauthz_policy_decide,
                      [:pointer, :pointer, :pointer, :buffer_in, :size_t, :pointer], :int
      attach_function :mtlsauthz_policy_explain,
                      [:pointer, :pointer, :pointer, :pointer, :buffer_in, :size_t, :pointer],
                      :int
      attach_function :mtlsauthz_policy_lint, [:pointer, :pointer, :pointer, :pointer], :int

      # The canonical HTTP operation (include/mtlsauthz/http.h).
      attach_function :mtlsauthz_http_operation,
                      [:pointer, :size_t, :pointer, :buffer_in, :size_t, :buffer_in, :size_t,
                       :pointer], :int
    rescue FFI::NotFoundError => e
      raise LibraryNotFound,
            "mtlsauthz: #{LOADED_FROM} is missing a symbol this gem needs " \
            "(#{e.message}); it is probably an older libmtlsauthz"
    end

    # Reason codes, by their C number; the strings come from the library.
    REASONS = (0..15).map { |i| mtlsauthz_reason_string(i).to_sym }.freeze

    def self.reason(n)
      REASONS.fetch(n, :error)
    end

    # Bytes from C as a frozen Ruby String: UTF-8 where valid, binary otherwise.
    def self.bytes_to_s(ptr, len)
      s = ptr.get_bytes(0, len)
      s.force_encoding(Encoding::UTF_8)
      s.force_encoding(Encoding::BINARY) unless s.valid_encoding?
      s.freeze
    end

    # Raises klass with the C message for a non-zero rc.
    def self.check(rc, err, klass)
      return if rc.zero?

      msg = err[:code].zero? ? mtlsauthz_strerror(rc) : err.message_string
      raise klass.new(msg, code: rc)
    end
  end
end
