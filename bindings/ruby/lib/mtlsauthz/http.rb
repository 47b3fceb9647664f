# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

module MtlsAuthz
  # The core's canonical HTTP operation (include/mtlsauthz/http.h): "METHOD SP path" from a
  # method and a raw request target. The query is stripped, the path percent-decoded and a
  # single trailing slash removed, so "/containers/abc/%65xec" and "/containers/abc/exec/"
  # both give "POST /containers/abc/exec". Raises OperationError (with the core's reason) for
  # a target the core refuses: an encoded "/", NUL or control bytes, dot or empty segments, a
  # relative path. Every binding calls this one function, so routers and policies agree.
  def self.http_operation(method, target)
    unless method.is_a?(String) && target.is_a?(String)
      raise TypeError, "method and target must be Strings"
    end

    cap = method.bytesize + target.bytesize + 2
    out = FFI::MemoryPointer.new(:char, cap)
    len = FFI::MemoryPointer.new(:size_t)
    err = Lib::Error.new
    rc = Lib.mtlsauthz_http_operation(out, cap, len, method, method.bytesize, target,
                                      target.bytesize, err)
    Lib.check(rc, err, OperationError)
    Lib.bytes_to_s(out, len.read(:size_t))
  end
end
