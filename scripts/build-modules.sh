#!/usr/bin/env bash
# Build the standard Wasm modules and copy them to modules/wasm/, or (with --check) rebuild them and fail if any
# differs from the committed file. The build is reproducible: same toolchain + same sources = same bytes, wherever
# the repository is cloned.
#
#   scripts/build-modules.sh            rebuild modules/wasm/*.wasm
#   scripts/build-modules.sh --check    rebuild into a temporary directory and compare (CI)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

# crate name → file under modules/wasm/
MODULES=(
  "cairn-module-bank:bank"
  "cairn-module-poa:poa"
  "cairn-module-wot:wot"
  "cairn-module-pos:pos"
  "cairn-module-gov:gov"
)
TARGET=wasm32-unknown-unknown

check=false
case "${1:-}" in
  "") ;;
  --check) check=true ;;
  -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
  *) echo "error: unknown argument '$1' (expected nothing or --check)" >&2; exit 2 ;;
esac

if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  echo "error: the $TARGET target is not installed; run: rustup target add $TARGET" >&2
  exit 1
fi

CARGO_HOME_DIR="${CARGO_HOME:-$HOME/.cargo}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

# Reproducibility: no absolute path of this machine may reach the binary (panic locations embed file paths), so
# the clone and the cargo registry are remapped to fixed names. Size: a guest is small and runs briefly, so
# optimise for size, one codegen unit, LTO, no unwinding, no debug info. A 128 KiB stack keeps the initial
# memory at a few pages (the default 1 MiB stack alone would need 16).
unset CARGO_ENCODED_RUSTFLAGS
export RUSTFLAGS="--remap-path-prefix=$ROOT=/cairn --remap-path-prefix=$CARGO_HOME_DIR=/cargo -C link-arg=-zstack-size=131072"
PROFILE=(
  --config 'profile.release.opt-level="z"'
  --config 'profile.release.lto=true'
  --config 'profile.release.codegen-units=1'
  --config 'profile.release.panic="abort"'
  --config 'profile.release.debug=false'
  --config 'profile.release.strip=true'
  --config 'profile.release.incremental=false'
)

packages=()
for entry in "${MODULES[@]}"; do packages+=(-p "${entry%%:*}"); done
cargo build --quiet --release --target "$TARGET" "${PROFILE[@]}" "${packages[@]}"

toolchain="$(rustc -V)"
out="$ROOT/modules/wasm"
if $check; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"
for entry in "${MODULES[@]}"; do
  crate="${entry%%:*}"; name="${entry##*:}"
  cp "$TARGET_DIR/$TARGET/release/${crate//-/_}.wasm" "$out/$name.wasm"
done
printf '%s\n' "$toolchain" > "$out/TOOLCHAIN"

if $check; then
  status=0
  for entry in "${MODULES[@]}"; do
    name="${entry##*:}"
    if ! cmp -s "$out/$name.wasm" "$ROOT/modules/wasm/$name.wasm"; then
      echo "error: modules/wasm/$name.wasm differs from a fresh build of its sources; run scripts/build-modules.sh and commit the result" >&2
      status=1
    fi
  done
  if [ $status -ne 0 ] && ! cmp -s "$out/TOOLCHAIN" "$ROOT/modules/wasm/TOOLCHAIN"; then
    echo "note: the committed modules were built with '$(cat "$ROOT/modules/wasm/TOOLCHAIN" 2>/dev/null || echo unknown)', this machine has '$toolchain'" >&2
  fi
  [ $status -eq 0 ] && echo "modules/wasm: all modules match their sources ($toolchain)"
  exit $status
fi

for entry in "${MODULES[@]}"; do
  name="${entry##*:}"
  echo "modules/wasm/$name.wasm  $(wc -c < "$out/$name.wasm") bytes  sha256 $(sha256sum "$out/$name.wasm" | cut -c1-16)"
done
