# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

require_relative "test_helper"
require "rbconfig"

# How the gem finds libmtlsauthz: MTLSAUTHZ_LIB, then pkg-config, then the system path.
class LibraryLookupTest < Minitest::Test
  include TestSupport

  # The uninstalled pkg-config directory of the build the suite runs against.
  def pc_dir
    dir = ENV["MTLSAUTHZ_TEST_PKGCONFIG"]
    return dir unless dir.nil? || dir.empty?

    File.expand_path("../pkgconfig", File.dirname(MtlsAuthz.library_path))
  end

  def ruby_child(env, code)
    base = { "RUBYLIB" => File.join(TOP, "bindings/ruby/lib"), "MTLSAUTHZ_LIB" => nil,
             "PKG_CONFIG_PATH" => nil }
    Open3.capture3(base.merge(env), RbConfig.ruby, "-e", code)
  end

  def test_loaded_library_is_the_one_asked_for
    assert_equal "0.1.0", MtlsAuthz.library_version
    refute_nil MtlsAuthz.library_path
  end

  def test_explicit_path_that_fails_is_an_error_not_a_fallback
    _out, err, st = ruby_child({ "MTLSAUTHZ_LIB" => "/nonexistent/libmtlsauthz.so.0",
                                 "PKG_CONFIG_PATH" => pc_dir }, 'require "mtlsauthz"')
    refute st.success?
    assert_match(/MtlsAuthz::LibraryNotFound/, err)
    assert_match(%r{cannot load libmtlsauthz.*/nonexistent/libmtlsauthz\.so\.0 \(MTLSAUTHZ_LIB\)}m,
                 err)
    assert_match(/Set MTLSAUTHZ_LIB/, err)
  end

  def test_pkg_config_finds_the_tree_build
    assert File.exist?(File.join(pc_dir, "mtlsauthz.pc")), "no mtlsauthz.pc in #{pc_dir}"
    out, err, st = ruby_child({ "PKG_CONFIG_PATH" => pc_dir },
                              'require "mtlsauthz"; puts MtlsAuthz.library_path')
    assert st.success?, err
    libdir = File.read(File.join(pc_dir, "mtlsauthz.pc"))[/^libdir=(.*)$/, 1]
    assert_equal File.join(libdir, "libmtlsauthz.so.0"), out.strip
  end

  def test_candidate_order
    saved = ENV.to_h.slice("MTLSAUTHZ_LIB", "PKG_CONFIG_PATH")
    ENV["MTLSAUTHZ_LIB"] = "/x/libmtlsauthz.so.0"
    assert_equal [["/x/libmtlsauthz.so.0", "MTLSAUTHZ_LIB"]], MtlsAuthz::Lib.candidates
    ENV.delete("MTLSAUTHZ_LIB")
    ENV["PKG_CONFIG_PATH"] = pc_dir
    c = MtlsAuthz::Lib.candidates.map(&:last)
    assert_equal ["pkg-config libdir", "system search path", "system search path"], c
    assert_equal ["libmtlsauthz.so.0", "mtlsauthz"], MtlsAuthz::Lib.candidates.last(2).map(&:first)
  ensure
    ENV.delete("MTLSAUTHZ_LIB")
    ENV.delete("PKG_CONFIG_PATH")
    saved&.each { |k, v| ENV[k] = v }
  end
end
