#!/usr/bin/env bash
# A bounded fuzzing pass over every parser that takes bytes from outside
# (issue 10; the targets are in fuzz/, see fuzz/README.md). Runs each
# target for IPKIT_FUZZ_SECONDS (default 20) on the machine's own toolchain:
# `cargo fuzz -s none` needs no nightly (libFuzzer's coverage guidance, no
# sanitizer: the targets look for panics). Starts from the committed corpus,
# writes what it finds into a scratch copy (fuzz/target/corpus/), so the
# tree stays clean. A panic fails the run; its input is left in
# fuzz/artifacts/<target>/ (add it to fuzz/regressions/<target>/ with the
# fix). Prints each target's libFuzzer seed (a panic is replayed from its
# saved input: `cargo fuzz run -s none <target> <artifact>`), then
# "fuzz: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${IPKIT_FUZZ_SECONDS:-20}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --version =0.13.2 --locked
fi
# 16 codegen units: a faster build on two cores, a slightly slower fuzzer.
cargo fuzz build -s none --codegen-units 16

passed=0
failed=0
for t in $(cargo fuzz list); do
  scratch="target/corpus/$t"
  mkdir -p "$scratch"
  if cargo fuzz run -s none --codegen-units 16 "$t" "$scratch" "corpus/$t" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
      >"target/fuzz-$t.log" 2>&1; then
    runs=$(grep -oE '^Done [0-9]+ runs' "target/fuzz-$t.log" | grep -oE '[0-9]+' || echo '?')
    seed=$(grep -oE 'Seed: [0-9]+' "target/fuzz-$t.log" | grep -oE '[0-9]+' || echo '?')
    echo "fuzz $t: ok, $runs runs in ${seconds} s (libFuzzer -seed=$seed)"
    passed=$((passed + 1))
  else
    echo "fuzz $t: FAILED (log: fuzz/target/fuzz-$t.log)"
    tail -n 40 "target/fuzz-$t.log"
    failed=$((failed + 1))
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
