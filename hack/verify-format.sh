#!/usr/bin/env bash
# Fails if a C++ file is not clang-formatted. hack/update-format.sh fixes them.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.cc' '*.h' 2>/dev/null || true)
[ -z "$files" ] && exit 0
bad=()
for f in $files; do
  [ -f "$f" ] || continue
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ "${#bad[@]}" -gt 0 ]; then
  echo "verify-format: not clang-formatted (run hack/update-format.sh):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
