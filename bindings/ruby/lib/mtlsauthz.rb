# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

# libmtlsauthz for Ruby: mutual-TLS identity authorization with least-privilege policies.
#
#   policy = MtlsAuthz::Policy.load_file("policy.yaml")
#   id = MtlsAuthz::Identity.from_pem(File.read("client.pem"))
#   policy.authorize(id, "POST /images/build").allowed?
#
# Rack and Grape: `use MtlsAuthz::Rack, policy: "policy.yaml"` (see MtlsAuthz::Rack).
#
# This gem is a shim over the C library (found via MTLSAUTHZ_LIB, pkg-config, or the system
# search path; see MtlsAuthz::Lib): every decision, pattern and path rule is the library's.
require_relative "mtlsauthz/version"
require_relative "mtlsauthz/errors"
require_relative "mtlsauthz/lib"
require_relative "mtlsauthz/decision"
require_relative "mtlsauthz/identity"
require_relative "mtlsauthz/policy"
require_relative "mtlsauthz/policy_tests"
require_relative "mtlsauthz/xfcc"
require_relative "mtlsauthz/file_watch"
require_relative "mtlsauthz/policy_holder"
require_relative "mtlsauthz/http"
require_relative "mtlsauthz/lru"
require_relative "mtlsauthz/http_contract"
require_relative "mtlsauthz/json_formatter"
require_relative "mtlsauthz/rack"

module MtlsAuthz
  # The version of the C library actually loaded ("0.1.0").
  def self.library_version
    Lib.mtlsauthz_version
  end

  # The path or name the C library was loaded from.
  def self.library_path
    Lib::LOADED_FROM
  end
end
