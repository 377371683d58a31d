#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs every test.
#
#   hack/test.sh                  # everything (format check, unit, integration, e2e)
#   hack/test.sh -L unit          # extra arguments go to ctest (-R regex, -L label, ...)
#   KFAAS_SANITIZE=asan hack/test.sh   # ASan+UBSan build in build-asan/ (also: tsan)
#   KFAAS_BUILD_DIR=/tmp/b hack/test.sh
#   KFAAS_TARGETS="a b" hack/test.sh -R x    # build only these targets (hack/sanitize.sh uses it)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

hack/install-deps.sh --check >/dev/null 2>&1 || hack/install-deps.sh

sanitize=${KFAAS_SANITIZE:-}
build=${KFAAS_BUILD_DIR:-$root/build${sanitize:+-$sanitize}}
jobs=${KFAAS_JOBS:-$(nproc)}

hack/verify-format.sh

# ccache (when installed) keys on paths relative to the checkout, so any clone shares the cache.
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1

echo "==> configure ($build)"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKFAAS_SANITIZE="$sanitize" >/dev/null
echo "==> build"
targets=()
for t in ${KFAAS_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build" -j "$jobs" "${targets[@]}"
echo "==> test"
cd "$build"
# Tests get a private HOME so kubectl's discovery cache and kfaas' kubeconfig never leak between
# runs or into the developer's own.
export KFAAS_TEST_TMP=${KFAAS_TEST_TMP:-$(mktemp -d /tmp/kfaas-test.XXXXXX)}
trap 'rm -rf "$KFAAS_TEST_TMP"' EXIT
ctest --output-on-failure -j "$jobs" --timeout 600 "$@"
