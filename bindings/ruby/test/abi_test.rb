# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

require_relative "test_helper"
require "rbconfig"

# The gem checks its copy of the C layout against the loaded library at load, and refuses a
# library that differs (docs/abi.md, "Bindings"). The differing library is abi_shim.c: built
# here on top of the real one, it reports one layout fact differently (MTLSAUTHZ_ABI_SHIM).
class ABICheckTest < Minitest::Test
  include TestSupport

  def self.shim
    @shim ||= begin
      real = MtlsAuthz.library_path
      dir = Dir.mktmpdir("mtlsauthz-abi-shim")
      at_exit { FileUtils.rm_rf(dir) }
      out = File.join(dir, "libmtlsauthz-shim.so")
      libdir = File.dirname(File.expand_path(real))
      cmd = [ENV.fetch("CC", "cc"), "-shared", "-fPIC", "-Wall", "-Werror",
             "-I#{File.join(TOP, 'include')}", "-o", out,
             File.join(TOP, "bindings/ruby/test/abi_shim.c"),
             # Depend on the very library the suite runs against, by its soname.
             # --no-as-needed: the shim calls it only through dlsym, and must still need it.
             "-Wl,--no-as-needed", File.join(libdir, File.basename(real)),
             "-Wl,-rpath,#{libdir}", "-ldl"]
      log, st = Open3.capture2e(*cmd)
      raise "building the ABI shim failed: #{cmd.join(' ')}\n#{log}" unless st.success?

      out
    end
  end

  # Loads the gem in a child Ruby on the shim; returns [stdout, stderr, status].
  def load_on_shim(lie, code = 'require "mtlsauthz"; puts MtlsAuthz.library_version')
    env = { "RUBYLIB" => File.join(TOP, "bindings/ruby/lib"), "MTLSAUTHZ_LIB" => self.class.shim,
            "MTLSAUTHZ_ABI_SHIM" => lie }
    Open3.capture3(env, RbConfig.ruby, "-e", code)
  end

  # The gem refuses the shim that tells `lie`: `require` raises ABIMismatch, whose message
  # names the library, the gem, each difference (`want`) and what to do. Returns the message.
  def assert_refused(lie, *want)
    out, err, st = load_on_shim(lie)
    refute st.success?, "the gem ran on a library with #{lie}: #{out}"
    assert_match(/\(MtlsAuthz::ABIMismatch\)/, err)
    out, err, st = load_on_shim(lie, <<~RUBY)
      begin
        require "mtlsauthz"
      rescue MtlsAuthz::ABIMismatch => e
        puts e.message
      end
    RUBY
    assert st.success?, err
    lines = out.lines.map(&:chomp)
    assert_equal "mtlsauthz: the library's memory layout is not the one this gem copies; " \
                 "refusing to run.", lines[0]
    assert_equal "  library: #{self.class.shim} (libmtlsauthz #{MtlsAuthz.library_version})",
                 lines[1]
    assert_equal "  gem: mtlsauthz #{MtlsAuthz::VERSION}, written for libmtlsauthz.so.0", lines[2]
    assert_equal want.map { |w| "  #{w}" }, lines[3...-3], "the differences, and only them"
    assert_includes out, "upgrade or rebuild the gem for this library"
    assert_includes out, "docs/abi.md"
    out
  end

  def test_the_real_library_matches
    assert_equal [], MtlsAuthz::Lib.abi_mismatches
  end

  def test_the_shim_without_a_difference_loads
    out, err, st = load_on_shim("")
    assert st.success?, err
    assert_equal MtlsAuthz.library_version, out.strip
  end

  def test_a_decision_of_another_size_is_refused
    size = MtlsAuthz::Lib::Decision.size
    assert_refused("decision_size",
                   "sizeof(mtlsauthz_decision): the library has #{size + FFI::Pointer.size}, " \
                   "this gem #{size}")
  end

  def test_a_member_at_another_offset_is_refused
    off = MtlsAuthz::Lib::Error.offset_of(:message)
    assert_refused("error_message",
                   "mtlsauthz_error.message: the library has offset #{off + 4}, size 512, " \
                   "this gem offset #{off}, size 512")
  end

  def test_another_dry_run_maximum_is_refused
    assert_refused("dry_run_max", "MTLSAUTHZ_DECISION_DRY_RUN_MAX: the library has 16, this gem 8")
  end

  def test_renumbered_fields_are_refused
    assert_refused("fields_swapped",
                   "MTLSAUTHZ_FIELD_SAN_DNS: the library has field 8 is san_uri, this gem " \
                   "field 8 is san_dns",
                   "MTLSAUTHZ_FIELD_SAN_URI: the library has field 9 is san_dns, this gem " \
                   "field 9 is san_uri")
  end

  def test_a_library_without_a_field_the_gem_reads_is_refused
    assert_refused("fields_fewer",
                   "MTLSAUTHZ_FIELD_NOT_AFTER: the library has no field 14, this gem field 14 " \
                   "is not_after")
  end

  def test_the_exception_lists_the_mismatches
    code = <<~RUBY
      begin
        require "mtlsauthz"
      rescue MtlsAuthz::ABIMismatch => e
        p e.is_a?(LoadError)
        p e.mismatches
      end
    RUBY
    out, err, st = load_on_shim("dry_run_max", code)
    assert st.success?, err
    assert_equal "true\n[[\"MTLSAUTHZ_DECISION_DRY_RUN_MAX\", 16, 8]]\n", out
  end
end
