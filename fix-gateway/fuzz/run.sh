#!/usr/bin/env bash
# Bounded fuzzing of the FIX gateway: runs every cargo-fuzz target (or the ones named)
# for SECONDS each, on the stable toolchain, and prints executions and exec/s per target.
#
#   ./run.sh [SECONDS] [TARGET...]        e.g. ./run.sh 60   or   ./run.sh 600 session
#
# Not part of `cargo test --workspace` or .ci/run: this crate has its own [workspace].
# Environment: FUZZ_SANITIZER=address|none (default address), CARGO_BUILD_JOBS (default 1).
# Exits 1 if a target found a crash; the input is in artifacts/<target>/ and the
# generated corpus in corpus/<target>/ (both git-ignored, except the seed-* files).
set -euo pipefail
cd "$(dirname "$0")"

secs="${1:-60}"
if [ $# -gt 0 ]; then shift; fi
case "$secs" in '' | *[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;; esac

# cargo-fuzz passes -Z flags (sanitizer, coverage instrumentation) to rustc; a stable
# rustc accepts them with RUSTC_BOOTSTRAP=1, so no nightly toolchain is needed.
export RUSTC_BOOTSTRAP=1
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
sanitizer="${FUZZ_SANITIZER:-address}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "[fuzz] installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

mkdir -p target/fuzz-logs
failed=()
summary=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log="target/fuzz-logs/$t.log"
  echo "[fuzz] $t: ${secs}s (sanitizer $sanitizer), log $log" >&2
  status=0
  cargo fuzz run --sanitizer "$sanitizer" "$t" "corpus/$t" -- \
    -max_total_time="$secs" -dict=fix.dict -print_final_stats=1 >"$log" 2>&1 || status=$?
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
  files="$(find "corpus/$t" -type f | wc -l)"
  if [ "$status" -eq 0 ]; then
    result="ok"
  else
    result="FAILED (exit $status)"
    failed+=("$t")
    grep -m1 -A3 "panicked at\|ERROR: AddressSanitizer\|ERROR: libFuzzer" "$log" >&2 ||
      tail -20 "$log" >&2
  fi
  summary+=("$(printf '%-10s %12s runs %8s exec/s %6s corpus files  %s' \
    "$t" "${runs:-?}" "${rate:-?}" "$files" "$result")")
done

printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "[fuzz] crashes in: ${failed[*]} (inputs in artifacts/)" >&2
  exit 1
fi
