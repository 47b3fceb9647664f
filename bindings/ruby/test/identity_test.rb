# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

require_relative "test_helper"
require "openssl"

class IdentityTest < Minitest::Test
  include TestSupport

  def test_builder_fields
    id = identity("builder")
    assert_equal ["builder"], id.cn
    assert_equal ["Example Corp"], id.o
    assert_equal [], id.ou
    assert_equal "CN=builder,O=Example Corp", id.dn
    assert_equal "spiffe://prod.example.com/ci/builder", id.spiffe_id
    assert_equal ["spiffe://prod.example.com/ci/builder"], id.uri
    assert_equal ["clientAuth"], id.eku
    assert_match(/\A[0-9a-f]{64}\z/, id.sha256)
    assert_equal OpenSSL::Digest::SHA256.hexdigest(der("builder")), id.sha256
    assert_match(/Intermediate/, id.issuer)
    assert_equal Time.utc(2020, 1, 1), id.not_before
    assert_equal Time.utc(2051, 1, 2, 3, 4, 5), id.not_after
    assert_nil id.rejected
    refute id.rejected?
    assert_equal 1, id.chain_length
  end

  def test_full_fields
    id = identity("full")
    assert_equal ["web.example.com", "API.Example.COM"], id.dns
    assert_equal ["alice@Example.COM"], id.email
    assert_equal ["192.0.2.10", "2001:db8::1", "::ffff:192.0.2.10"], id.ip
    assert_equal "c0ffee0123456789abcdef", id.serial
    assert_includes id.eku, "1.2.3.4.5"
    assert_nil id.spiffe_id
    assert_equal 3, id.ou.size
  end

  def test_from_der_and_openssl_agree_with_pem
    a = identity("ops")
    b = MtlsAuthz::Identity.from_der(der("ops"))
    c = MtlsAuthz::Identity.from_openssl(OpenSSL::X509::Certificate.new(pem("ops")))
    assert_equal a.to_h, b.to_h
    assert_equal a.to_h, c.to_h
    assert_equal ["ops"], c.ou
  end

  def test_chain
    id = MtlsAuthz::Identity.from_pem(File.read(cert_path("builder-chain.pem")))
    assert_equal 2, id.chain_length
    assert_equal "CN=builder,O=Example Corp", id.dn
  end

  def test_nul_cn_binary_safe_and_rejected
    id = identity("nul-cn")
    assert_equal ["admin\0.evil.com"], id.cn
    assert id.rejected?
    assert_match(/NUL/, id.rejected)
  end

  def test_two_uri_spiffe_rejected
    id = identity("spiffe-two-uri")
    assert id.rejected?
    assert_nil id.spiffe_id
  end

  def test_utf8_strings
    o = identity("utf8-o").o.first
    assert_equal Encoding::UTF_8, o.encoding
    assert_equal "Örnek Şirket", o
    assert_equal "Zoë Ünicode Ω", identity("bmp-cn").cn.first
    assert identity("builder").dn.frozen?
  end

  def test_errors
    %w[garbage.pem junk-der.pem empty.pem key-only.pem cert-key.pem].each do |f|
      e = assert_raises(MtlsAuthz::IdentityError, f) do
        MtlsAuthz::Identity.from_pem(File.binread(cert_path(f)))
      end
      refute_empty e.message, f
    end
    %w[truncated.der trailing.der].each do |f|
      assert_raises(MtlsAuthz::IdentityError, f) do
        MtlsAuthz::Identity.from_der(File.binread(cert_path(f)))
      end
    end
    assert_raises(MtlsAuthz::IdentityError) { MtlsAuthz::Identity.from_der("") }
    assert_raises(TypeError) { MtlsAuthz::Identity.from_pem(nil) }
    assert_raises(TypeError) { MtlsAuthz::Identity.from_openssl(pem("ops")) }
    assert_raises(NoMethodError) { MtlsAuthz::Identity.new(nil) }
  end

  def test_to_json_is_the_libraries
    j = JSON.parse(identity("builder").to_json)
    assert_equal "spiffe://prod.example.com/ci/builder", j.values.flatten.grep(/spiffe:/).first
  end
end
