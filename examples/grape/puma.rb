# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

# Puma with mutual TLS for the Grape example; examples/grape/run.sh sets the environment.
#
#   verify_mode "force_peer": a client without a certificate, or with one that does not chain
#   to `ca`, fails the TLS handshake; Puma then sets env["puma.peercert"] for every request,
#   and only to a certificate it verified. ("peer" also verifies, but lets a client without a
#   certificate in: MtlsAuthz::Rack answers it 401.)
certs = ENV.fetch("MTLSAUTHZ_EXAMPLE_CERTS")
ssl_bind ENV.fetch("HOST", "127.0.0.1"), ENV.fetch("PORT", "8443"),
         cert: File.join(certs, "server-chain.pem"),
         key: File.join(certs, "server.key"),
         ca: File.join(certs, "ca.pem"),
         verify_mode: ENV.fetch("VERIFY_MODE", "force_peer"),
         no_tlsv1_1: true # TLS 1.2 and later only
rackup File.expand_path("config.ru", __dir__)
threads 1, 4
environment "production"
