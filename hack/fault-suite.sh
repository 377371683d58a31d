#!/usr/bin/env bash
# The end-to-end fault suite (issue 9) on the local platform: for each fault, a load generator
# through the activator records every request's outcome while the fault is injected, then the
# suite waits for convergence and prints a table (fault | sent | 2xx | explicit errors by code |
# lost | connection retries | time to converge). Exits 1 if any request is lost or a case does
# not converge. See tests/e2e/fault_suite.py for the cases.
#
#   hack/fault-suite.sh [sigterm|watches|writes|kill|operator|failover ...]   (default: all)
#
# Environment: KFAAS_BUILD_DIR (default build/; needs kfaas-local, kfaas-operator,
# kfaas-activator and hello-function built: hack/local-up.sh builds them).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export KFAAS_SOURCE_DIR=$root
export KFAAS_BINARY_DIR=${KFAAS_BUILD_DIR:-$root/build}
exec /usr/bin/python3 "$root/tests/e2e/fault_suite.py" "$@"
