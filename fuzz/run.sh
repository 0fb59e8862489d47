#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ for SECONDS seconds each (default 25), seeded from the
# corpus kept in the repo (fuzz/corpus/<target>, read only: new inputs go to a scratch copy,
# so a run leaves the tree as it was). A crash stops the script with libFuzzer's report and
# the reproducer in fuzz/artifacts/<target>/. tools/test.sh calls it; to fuzz for longer:
#
#   bash fuzz/run.sh 600            # ten minutes a target
#   bash fuzz/run.sh 600 hf_config  # one target
#   FUZZ_SAVE_CORPUS=1 bash fuzz/run.sh 600   # and keep what it grew, minimised, in corpus/
#
# The toolchain: cargo-fuzz needs nightly-only flags. With a nightly toolchain installed
# (rustup) it is used; otherwise stable builds with RUSTC_BOOTSTRAP=1, which unlocks the same
# flags. The script says which. cargo-fuzz is installed (`cargo install cargo-fuzz --locked`)
# when missing. Targets build with cargo-fuzz's defaults (AddressSanitizer, debug assertions
# on, so overflows panic); panics, overflows, timeouts and memory errors are looked for.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-25}
shift || true

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
if command -v rustup >/dev/null 2>&1 && rustup toolchain list | grep -q '^nightly'; then
  toolchain=(+nightly)
  echo "fuzz toolchain: nightly ($(rustc +nightly --version))"
else
  toolchain=()
  export RUSTC_BOOTSTRAP=1
  echo "fuzz toolchain: stable with RUSTC_BOOTSTRAP=1 ($(rustc --version))"
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo "${toolchain[@]}" fuzz list)
fi
cargo "${toolchain[@]}" fuzz build -O
log=$(mktemp)
scratch=$(mktemp -d)
trap 'rm -rf "$log" "$scratch"' EXIT
for t in "${targets[@]}"; do
  rm -rf "$scratch" && mkdir -p "$scratch"
  if [ -d "corpus/$t" ]; then cp -a "corpus/$t/." "$scratch/"; fi
  echo "== fuzz $t for ${secs} s (seeds: $(find "$scratch" -type f | wc -l))"
  status=0
  cargo "${toolchain[@]}" fuzz run -O "$t" "$scratch" -- \
    -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)' "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$log"
    echo "fuzz target $t failed (exit $status): the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
  if [ "${FUZZ_SAVE_CORPUS:-0}" = 1 ]; then
    # Keep the smallest set of inputs that covers what the run reached (libFuzzer's merge).
    rm -rf "corpus/$t.new" && mkdir -p "corpus/$t.new"
    cargo "${toolchain[@]}" fuzz run -O "$t" "corpus/$t.new" "$scratch" -- -merge=1 \
      -max_len=8192 -timeout=10 -rss_limit_mb=2048 >"$log" 2>&1
    rm -rf "corpus/$t" && mv "corpus/$t.new" "corpus/$t"
    echo "   kept $(find "corpus/$t" -type f | wc -l) inputs in fuzz/corpus/$t"
  fi
done
