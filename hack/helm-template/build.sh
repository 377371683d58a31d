#!/usr/bin/env bash
# Builds hack/helm-template offline with Debian's Go and sprig (golang-github-masterminds-sprig-dev).
#
#   hack/helm-template/build.sh OUTPUT_BINARY [WORK_DIR]
#
# Go 1.19 in GOPATH mode: WORK_DIR/gopath holds links for the two "/v3" import paths (sprig and
# semver live under /usr/share/gocode without the /v3 suffix), /usr/share/gocode the rest.
# The Go build cache is WORK_DIR/go-cache, so nothing is written to $HOME.
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTPUT_BINARY [WORK_DIR]}
work=${2:-$(dirname "$out")/helm-template-work}
gocode=/usr/share/gocode/src/github.com/Masterminds
for d in sprig semver; do
  if [ ! -d "$gocode/$d" ]; then
    echo "build.sh: $gocode/$d is missing: apt-get install golang-github-masterminds-sprig-dev" >&2
    exit 1
  fi
done
mkdir -p "$work/gopath/src/github.com/Masterminds/sprig" "$work/gopath/src/github.com/Masterminds/semver" \
  "$work/go-cache" "$(dirname "$out")"
ln -sfn "$gocode/sprig" "$work/gopath/src/github.com/Masterminds/sprig/v3"
ln -sfn "$gocode/semver" "$work/gopath/src/github.com/Masterminds/semver/v3"
cd "$src"
export GO111MODULE=off GOPATH="$work/gopath:/usr/share/gocode" GOCACHE="$work/go-cache" GOFLAGS= \
  GOPROXY=off CGO_ENABLED=0
if [ "${HELM_TEMPLATE_TEST:-}" = 1 ]; then
  exec go test ./...
fi
go vet .
go build -o "$out" .
