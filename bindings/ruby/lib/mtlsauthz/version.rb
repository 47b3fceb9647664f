# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

module MtlsAuthz
  # The gem's version. The C library's version is MtlsAuthz.library_version.
  VERSION = "0.1.0"
end
