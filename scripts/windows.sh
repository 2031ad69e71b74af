#!/usr/bin/env bash
# The Windows build (docs/windows.md).
#   scripts/windows.sh install    the cross toolchain and Wine (Debian packages)
#   scripts/windows.sh build      ipkit.exe for x86_64-pc-windows-gnu (release,
#                                 shipped) and x86_64-win7-windows-gnu (runs
#                                 under Wine 8)
#   scripts/windows.sh test       the Windows test binaries under Wine
#   scripts/windows.sh run ARGS   the win7 ipkit.exe under Wine, in the
#                                 caller's network namespace
# Several commands may follow each other: `install build test`.
#
# Only here is Debian's Rust (/usr/bin/cargo, 1.96, with std's source for
# -Zbuild-std) put ahead of rustup's; the Linux build never sees it. The
# Windows targets build into target/windows and read their linker and
# runner from scripts/windows-cargo.toml (passed with --config).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

# curl: tests/e2e/windows.sh asks the daemon's status API under Wine.
packages=(rustc-web cargo-web rust-web-src gcc-mingw-w64-x86-64 wine64 curl)
ship_target=x86_64-pc-windows-gnu
wine_target=x86_64-win7-windows-gnu
target_dir=$repo/target/windows
wine=/usr/lib/wine/wine64
wineserver=/usr/lib/wine/wineserver64

cmd_install() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "windows: toolchain present (${packages[*]})"
    return
  fi
  echo "windows: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Debian's cargo and rustc, with -Zbuild-std (RUSTC_BOOTSTRAP is needed
# for that flag only).
windows_cargo() {
  local sub=$1
  shift
  env PATH="/usr/bin:$PATH" RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc \
    RUSTC_BOOTSTRAP=1 CARGO_TERM_COLOR=never CARGO_INCREMENTAL=0 \
    CARGO_PROFILE_DEV_DEBUG=false CARGO_PROFILE_RELEASE_DEBUG=false \
    /usr/bin/cargo "$sub" --locked --config "$repo/scripts/windows-cargo.toml" \
    -Zbuild-std=std,panic_abort --target-dir "$target_dir" "$@"
}

cmd_build() {
  windows_cargo build --target "$ship_target" --release --bin ipkit
  windows_cargo build --target "$wine_target" --bin ipkit
  ls -l "$target_dir/$ship_target/release/ipkit.exe" "$target_dir/$wine_target/debug/ipkit.exe"
}

# The Windows tests: the portable core (unit tests, the SPEC scenarios on
# SimNet, the daemon policy and the daemon on SimNet) and the Windows
# kernel over the recording fake (tests/windows_kernel.rs), each test binary run
# under Wine by the runner (`scripts/windows.sh wine-runner`).
cmd_test() {
  local log rc=0
  log=$(mktemp)
  WINEPREFIX=$target_dir/wine-test windows_cargo test --target "$wine_target" \
    --lib --test scenarios --test policy --test daemon_sim --test windows_kernel \
    -- --test-threads=2 >"$log" 2>&1 || rc=$?
  cat "$log"
  local passed failed
  passed=$(grep -hoE 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | grep -oE '[0-9]+' | paste -sd+ - | bc)
  failed=$(grep -hoE '[0-9]+ passed; [0-9]+ failed' "$log" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' | paste -sd+ - | bc)
  rm -f "$log"
  local scenarios
  scenarios=$(find tests/scenarios -name '*.toml' | wc -l)
  # Worded so that scripts/test.sh, which adds up cargo's own lines above,
  # does not count these tests twice.
  echo "windows under Wine: ${passed:-0} tests passed, ${failed:-0} failed (the SPEC scenario suite, $scenarios scenario files, is the test 'scenarios')"
  return "$rc"
}

# A Wine prefix of our own, created on first use. Mono and Gecko are not
# wanted (no .NET, no HTML), so their installers are never offered.
export WINEDEBUG=${WINEDEBUG:--all}
export WINEDLLOVERRIDES="mscoree,mshtml="
ensure_prefix() {
  export WINEPREFIX=$1
  if [ ! -f "$WINEPREFIX/system.reg" ]; then
    mkdir -p "$WINEPREFIX"
    "$wine" wineboot --init >"$WINEPREFIX/.wineboot.log" 2>&1 </dev/null || {
      cat "$WINEPREFIX/.wineboot.log" >&2
      return 1
    }
    "$wineserver" -w
  fi
}

# Run a Windows program under Wine and hand back its output and exit
# status. Wine's output goes to files, never to a pipe (a pipe held open by
# a lingering wineserver can hang the reader), and the prefix's wineserver
# is ended first (so Wine's helper processes start in the caller's network
# namespace) and last (so none is left behind).
wine_exec() {
  local out err rc=0
  out=$(mktemp)
  err=$(mktemp)
  "$wineserver" -k 2>/dev/null || true
  "$wine" "$@" >"$out" 2>"$err" </dev/null || rc=$?
  "$wineserver" -k 2>/dev/null || true
  cat "$out"
  cat "$err" >&2
  rm -f "$out" "$err"
  return "$rc"
}

# Cargo's runner for the win7 target (scripts/windows-cargo.toml).
cmd_wine_runner() {
  ensure_prefix "${WINEPREFIX:-$target_dir/wine-test}"
  wine_exec "$@"
}

cmd_run() {
  local exe=$target_dir/$wine_target/debug/ipkit.exe
  [ -f "$exe" ] || windows_cargo build --target "$wine_target" --bin ipkit
  ensure_prefix "$target_dir/wine-run"
  wine_exec "$exe" "$@"
}

[ $# -gt 0 ] || { echo "usage: $0 install|build|test|run ARGS..." >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    install) cmd_install ;;
    build) cmd_build ;;
    test) cmd_test ;;
    run) shift; cmd_run "$@"; exit ;;
    wine-runner) shift; cmd_wine_runner "$@"; exit ;;
    *) echo "usage: $0 install|build|test|run ARGS..." >&2; exit 2 ;;
  esac
  shift
done
