# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

# Puma for `make bench-http` (bench/http/run.sh sets the environment): single mode (no
# cluster workers), a fixed pool of PUMA_THREADS (4) threads, TLS that requires a client
# certificate chaining to ca.pem (verify_mode force_peer), and the app of config.ru.
certs = ENV.fetch("MTLSAUTHZ_BENCH_CERTS")
ssl_bind "127.0.0.1", ENV.fetch("PORT", "0"),
         cert: File.join(certs, "server-chain.pem"),
         key: File.join(certs, "server.key"),
         ca: File.join(certs, "ca.pem"),
         verify_mode: "force_peer",
         no_tlsv1_1: true
rackup File.expand_path("config.ru", __dir__)
workers 0
pool = Integer(ENV.fetch("PUMA_THREADS", "4"))
threads pool, pool
environment "production"
