#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Ruby gem against the INSTALLED Debian packages (tests/deb/smoke.sh runs it, under
# scripts/check-deb): the gem `make gem` built is installed into a clean GEM_HOME, and the Rack
# app of bindings/ruby/README.md, "Install", runs under Puma over mutual TLS with the system's
# library only: no MTLSAUTHZ_LIB, no PKG_CONFIG_PATH, no LD_LIBRARY_PATH. It is found through
# libmtlsauthz-dev's pkg-config file, and, with pkg-config giving no answer (as with
# libmtlsauthz0 alone), as the soname on the system search path. The checks are those of
# tests/integration/gem.sh, which this runs with --installed.
#
#   tests/deb/smoke-gem.sh VERSION [GEM]
#
# GEM defaults to $MTLSAUTHZ_GEM (make check-deb sets it), then build/mtlsauthz-VERSION.gem.
set -uo pipefail
version=${1:?usage: tests/deb/smoke-gem.sh VERSION [GEM]}
top=$(cd "$(dirname "$0")/../.." && pwd)
gem=${2:-${MTLSAUTHZ_GEM:-$top/build/mtlsauthz-$version.gem}}
unset MTLSAUTHZ_LIB PKG_CONFIG_PATH LD_LIBRARY_PATH MTLSAUTHZ_TEST_CERTS
if [ ! -f "$gem" ]; then
    echo "FAIL the Ruby gem: $gem is missing (make gem builds it)"
    exit 1
fi
exec "$top/tests/integration/gem.sh" --installed "$gem"
