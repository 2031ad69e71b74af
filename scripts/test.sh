#!/usr/bin/env bash
# The one test command (README "Run the tests"; .ci/run calls it).
# Installs what the tests need on a fresh Debian machine, then runs them.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

# 1. Packages (as root on a fresh machine; skipped when all are present).
mapfile -t pkgs < <(grep -v '^\s*#' scripts/apt-packages.txt | grep -v '^\s*$')
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep >/dev/null 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The Windows cross toolchain and Wine (issue 13: Debian's rustc-web,
# cargo-web, rust-web-src, gcc-mingw-w64-x86-64, wine64), for
# tests/e2e/windows.sh below.
./scripts/windows.sh install

# 2. Build and run every Rust test of the workspace (ipkit: unit,
#    scenarios, kernel, CLI, daemon; ipkit-lab: the lab's own).
#    Doc tests are left out (there are none); benches only get built.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo build --locked --workspace --all-targets
status=0
cargo test --locked --workspace --lib --bins --tests -- --test-threads=2 2>&1 | tee "$log" || status=1

# 2b. The bounded fuzzing pass (issue 10): every target in fuzz/ for 20 s.
bash scripts/fuzz.sh 2>&1 | tee -a "$log" || status=1

# 3. End-to-end suites that drive external tools (tests/e2e/*.sh); each
#    prints "<name>: N passed, M failed" and exits non-zero on a failure.
#    A failure does not stop the others: the run reports everything, then
#    exits non-zero.
for t in tests/e2e/*.sh; do
  [ -e "$t" ] || continue
  echo "== $t"
  bash "$t" 2>&1 | tee -a "$log" || { status=1; echo "== $t FAILED"; }
done

# 4. One closing line over everything above.
passed=$(grep -hoE '(test result: ok\. |: )[0-9]+ passed' "$log" | grep -oE '[0-9]+' | paste -sd+ - | bc)
failed=$(grep -hoE '[0-9]+ passed; [0-9]+ failed|[0-9]+ passed, [0-9]+ failed' "$log" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' | paste -sd+ - | bc)
echo "all: ${passed:-0} passed, ${failed:-0} failed"
exit "$status"
