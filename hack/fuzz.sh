#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang in build-fuzz/ and runs each one for N seconds
# from its seed corpus (fuzz/corpus/<target>/), then prints a table.
#
#   hack/fuzz.sh                   # every target, 60 s each
#   hack/fuzz.sh --seconds 300     # longer
#   hack/fuzz.sh --only patch      # one target
#   hack/fuzz.sh --ci              # the short CI run: ctest -L fuzz (10 s per target)
#
# New interesting inputs are kept in build-fuzz/fuzz/corpus/<target>/ (reused by the next run);
# a crash leaves crash-* / leak-* / timeout-* files in build-fuzz/fuzz/artifacts/<target>/,
# reproduce with: build-fuzz/fuzz/fuzz_<target> <file>.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=60
only=""
ci=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --ci) ci=1; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
build=${KFAAS_FUZZ_BUILD_DIR:-$root/build-fuzz}
jobs=${KFAAS_JOBS:-$(nproc)}
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1

echo "==> configure ($build, clang)" >&2
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DKFAAS_FUZZ=ON -DKFAAS_WERROR=OFF \
  >/dev/null
echo "==> build fuzz_all" >&2
cmake --build "$build" -j "$jobs" --target fuzz_all >&2

if [[ $ci == 1 ]]; then
  cd "$build"
  exec ctest --output-on-failure -L fuzz
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
rows=()
failed=0
while read -r name max_len; do
  [[ -z "$name" ]] && continue
  [[ -n "$only" && "$name" != "$only" ]] && continue
  corpus="$build/fuzz/corpus/$name"
  artifacts="$build/fuzz/artifacts/$name"
  log="$build/fuzz/$name.log"
  mkdir -p "$corpus" "$artifacts"
  echo "==> fuzz_$name for ${seconds}s" >&2
  stamp="$build/fuzz/$name.stamp"
  touch "$stamp"
  rc=0
  "$build/fuzz/fuzz_$name" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "$corpus" "$root/fuzz/corpus/$name" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  crashes=$(find "$artifacts" -type f -newer "$stamp" \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
    -o -name 'oom-*' \) | wc -l)
  if [[ $rc != 0 ]]; then
    failed=1
    echo "fuzz_$name failed (exit $rc); log: $log" >&2
    grep -m5 -E 'ERROR|SUMMARY|runtime error' "$log" >&2 || true
  fi
  rows+=("$(printf '%-16s %12s %8s %8s %8s' "$name" "${execs:-?}" "${eps:-?}" "${cov:-?}" \
    "$crashes")")
done <"$build/fuzz/fuzzers.txt"

printf '\n%-16s %12s %8s %8s %8s\n' target executions exec/s cov crashes
for r in "${rows[@]}"; do echo "$r"; done
printf '(%s s per target; hack/fuzz.sh --seconds %s)\n' "$seconds" "$seconds"
exit $failed
