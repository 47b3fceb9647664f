#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# docs/policy.schema.json against the policy loader, and every example in the docs loads:
# tests/integration/policy_schema.py says what is checked. Needs python3 with jsonschema and
# yaml (Debian's python3-jsonschema and python3-yaml: scripts/install-deps test).
# Environment: MTLSAUTHZ_CLI.
set -u
CLI=${MTLSAUTHZ_CLI:?MTLSAUTHZ_CLI is not set}
dir=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$dir/../.." && pwd)
# Debian's python3 first: the one scripts/install-deps provides the modules for.
for py in /usr/bin/python3 python3; do
    if "$py" -c 'import jsonschema, yaml' 2>/dev/null; then
        exec "$py" "$dir/policy_schema.py" "$CLI" "$TOP"
    fi
done
echo "cli_schema: no python3 with the jsonschema and yaml modules; run scripts/install-deps test" >&2
echo "cli_schema: 0 passed, 1 failed"
exit 1
