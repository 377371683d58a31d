#!/usr/bin/env bash
# Installs every Debian package kfaas needs to build, test and run the local platform.
# Idempotent, and fast when everything is present (one dpkg-query, no apt).
set -euo pipefail

PACKAGES=(
  # toolchain
  g++ cmake ninja-build ccache pkg-config clang clang-format libclang-rt-14-dev
  # C++ libraries (Boost 1.74 exactly: cpprestsdk is built against it)
  libboost1.74-dev libboost-system1.74-dev libboost-program-options1.74-dev
  libcpprest-dev libssl-dev nlohmann-json3-dev libyaml-cpp-dev libabsl-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libgtest-dev libgmock-dev libbenchmark-dev
  # tests, benchmarks, the local platform
  nginx wrk hey prometheus yamllint curl procps psmisc
  golang-go golang-github-masterminds-sprig-dev
  python3 python3-grpcio python3-grpc-tools
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  [ "${1:-}" = "--check" ] && exit 0
  echo "install-deps: all ${#PACKAGES[@]} packages present"
else
  if [ "${1:-}" = "--check" ]; then
    echo "install-deps: missing: ${missing[*]}" >&2
    exit 1
  fi
  echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# nginx is only used as a benchmark peer: never leave the distribution's service running.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
  systemctl stop nginx || true
fi

if ! command -v kubectl >/dev/null 2>&1; then
  echo "install-deps: kubectl is not on PATH. It is not a Debian package; install kubectl v1.32" >&2
  echo "  (e.g. from the Google Cloud SDK) and re-run. The e2e tests use it as the reference client." >&2
  exit 1
fi
