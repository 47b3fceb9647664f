#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Go binding against the INSTALLED Debian packages (tests/deb/smoke.sh runs it, under
# scripts/check-deb): bindings/go/README.md, "Add it to your module", its Debian packages'
# block as written, in a new module outside the tree. libmtlsauthz-dev's pkg-config file is
# found with no PKG_CONFIG_PATH; the Go source is this checkout's bindings/go (it is in no
# package); the program runs on /usr/lib/<multiarch>/libmtlsauthz.so.0 with no RUNPATH and
# serves mutual TLS as the policy says. The checks are those of tests/integration/go_module.sh,
# which this runs with --installed.
#
#   tests/deb/smoke-go.sh
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
unset PKG_CONFIG_PATH LD_LIBRARY_PATH MTLSAUTHZ_TEST_CERTS
exec "$top/tests/integration/go_module.sh" --installed
