# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

require_relative "test_helper"

class HttpOperationTest < Minitest::Test
  def op(method, target)
    MtlsAuthz.http_operation(method, target)
  end

  def test_canonical
    assert_equal "POST /containers/abc/exec", op("POST", "/containers/abc/exec")
    assert_equal "POST /containers/abc/exec", op("POST", "/containers/abc/%65xec")
    assert_equal "POST /containers/abc/exec", op("POST", "/containers/abc/exec/")
    assert_equal "POST /containers/abc/exec", op("POST", "/containers/abc/exec?x=/../y")
    assert_equal "GET /", op("GET", "/")
  end

  # Routers run the GET handler for HEAD, so the core decides HEAD as GET; other methods
  # stay as sent.
  def test_head_is_get
    assert_equal "GET /containers/x/secrets", op("HEAD", "/containers/x/secrets")
    assert_equal "head /x", op("head", "/x")
    assert_equal "OPTIONS /x", op("OPTIONS", "/x")
  end

  def test_refused
    ["/a%2Fb", "/a%00b", "/a/../b", "/a/./b", "/a//b", "a/b", "/a%zz"].each do |t|
      e = assert_raises(MtlsAuthz::OperationError, t) { op("GET", t) }
      refute_empty e.message
      assert_equal "MTLSAUTHZ_EOPERATION", e.code_name
    end
    assert_raises(MtlsAuthz::OperationError) { op("GE T", "/") }
    assert_raises(TypeError) { op(nil, "/") }
  end
end
