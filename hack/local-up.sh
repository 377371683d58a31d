#!/usr/bin/env bash
# Starts the whole local kfaas platform in the foreground: builds first if needed, then runs
# kfaas-local (API server + node), the operator and the activator. Ctrl-C stops everything.
#
#   hack/local-up.sh [--help] [extra kfaas-local flags]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${KFAAS_BUILD_DIR:-$root/build}

if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi

hack/install-deps.sh --check >/dev/null 2>&1 || hack/install-deps.sh
if [ ! -f "$build/build.ninja" ]; then
  echo "==> configuring $build"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
echo "==> building (first build takes a few minutes on 2 cores)"
cmake --build "$build" -j "$(nproc)" --target kfaas-local

exec "$build/local/kfaas-local" "$@"
