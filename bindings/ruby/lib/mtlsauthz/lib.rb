# SPDX-License-Identifier: Apache-2.0
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
  #   3. The system search path: the soname libmtlsauthz.so.0, then "mtlsauthz" (the
  #      unversioned libmtlsauthz.so of a -dev package or make install). The soname is what
  #      Debian's libmtlsauthz0 ships (/usr/lib/<multiarch>/libmtlsauthz.so.0, without the
  #      .so or pkg-config of libmtlsauthz-dev), so an installed package needs no variable.
  # Whichever is loaded, check_abi (below) compares its layout with the gem's first.
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
        mtlsauthz.pc, or install the library (apt-get install libmtlsauthz0, or make install).
      MSG
    end

    LOADED_FROM = load_library

    # The C structs this gem allocates and reads, copied from the headers. FFI cannot read a
    # header, so the copy is checked against the loaded library before anything uses it
    # (check_abi, below; docs/abi.md, "Bindings"). `reserved` is room the library keeps for
    # later fields: it is part of the size, and never read.

    # mtlsauthz_error: caller-owned, {int code; unsigned int line; unsigned int column;
    # char message[512]; void *reserved[4];}.
    class Error < FFI::Struct
      layout :code, :int,
             :line, :uint,
             :column, :uint,
             :message, [:char, 512],
             :reserved, [:pointer, 4]

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
             :dry_run, [:pointer, DRY_RUN_MAX],
             :reserved, [:pointer, 4]
    end

    # [C struct name, mtlsauthz_struct_id, the gem's copy], for check_abi.
    STRUCTS = [["mtlsauthz_error", 0, Error], ["mtlsauthz_decision", 1, Decision]].freeze

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

    # The fields of a code from mtlsauthz_peer_decide_code() (MTLSAUTHZ_DECISION_CODE_*; the
    # layout is ABI): bit 0 allowed, bits 1-4 the reason, bit 5 a dry-run rule matched, bits
    # 6-30 1 + the deciding rule's index (0: none).
    CODE_DRY_RUN = 1 << 5

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
      # The request path (Peer#decide): one call, whose return value is the whole decision
      # but for the dry-run ids. The operation String passes as (pointer, length), uncopied.
      attach_function :mtlsauthz_peer_decide_code,
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

      # The layout facts, for check_abi (include/mtlsauthz/version.h, identity.h, policy.h).
      attach_function :mtlsauthz_struct_size, [:int], :size_t
      attach_function :mtlsauthz_struct_member, [:pointer, :pointer, :int, :string], :int
      attach_function :mtlsauthz_decision_dry_run_max, [], :size_t
      attach_function :mtlsauthz_field_name, [:int], :string
      attach_function :mtlsauthz_field_count, [], :size_t
    rescue FFI::NotFoundError => e
      raise LibraryNotFound,
            "mtlsauthz: #{LOADED_FROM} is missing a symbol this gem needs " \
            "(#{e.message}); it is probably an older libmtlsauthz"
    end

    # Where this gem's copy of the C layout differs from the loaded library's:
    # [[what, the library's value, the gem's value], ...], empty when they agree. Compared:
    # each struct's size, the offset and size of each member the gem reads, the dry-run
    # maximum, every FIELD_* number (by the field's name) and the error code the gem names.
    def self.abi_mismatches
      out = []
      off = FFI::MemoryPointer.new(:size_t)
      size = FFI::MemoryPointer.new(:size_t)
      STRUCTS.each do |name, id, copy|
        out << ["sizeof(#{name})", mtlsauthz_struct_size(id), copy.size]
        layout = copy.new.layout # the class's #layout would redefine it
        copy.members.each do |m|
          next if m == :reserved

          field = layout[m]
          lib = if mtlsauthz_struct_member(off, size, id, m.to_s).zero?
                  "offset #{off.read(:size_t)}, size #{size.read(:size_t)}"
                else
                  "no such member"
                end
          out << ["#{name}.#{m}", lib, "offset #{field.offset}, size #{field.size}"]
        end
      end
      out << ["MTLSAUTHZ_DECISION_DRY_RUN_MAX", mtlsauthz_decision_dry_run_max, DRY_RUN_MAX]
      constants.grep(/\AFIELD_/).sort_by { |c| const_get(c) }.each do |c|
        n = const_get(c)
        lib = mtlsauthz_field_name(n)
        lib = lib ? "field #{n} is #{lib}" : "no field #{n}"
        out << ["MTLSAUTHZ_#{c}", lib, "field #{n} is #{c.to_s.delete_prefix('FIELD_').downcase}"]
      end
      out << ["error code #{EOPERATION}", mtlsauthz_errname(EOPERATION), "MTLSAUTHZ_EOPERATION"]
      out.reject { |_, lib, gem| lib == gem }
    end

    # Raises ABIMismatch, naming every difference, unless the loaded library's layout is the
    # gem's. Using a struct of the wrong size would make C write past the gem's buffer.
    def self.check_abi
      diff = abi_mismatches
      return if diff.empty?

      lines = diff.map { |what, lib, gem| "  #{what}: the library has #{lib}, this gem #{gem}" }
      raise ABIMismatch.new(<<~MSG.chomp, diff)
        mtlsauthz: the library's memory layout is not the one this gem copies; refusing to run.
          library: #{LOADED_FROM} (libmtlsauthz #{mtlsauthz_version})
          gem: mtlsauthz #{VERSION}, written for libmtlsauthz.so.#{ABI_VERSION}
        #{lines.join("\n")}
        C would read and write the gem's structs at the wrong places. Use a gem and a library
        from the same release: upgrade or rebuild the gem for this library, or install (or point
        MTLSAUTHZ_LIB at) the library the gem was made for. See docs/abi.md, "Bindings".
      MSG
    end

    check_abi

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
