#!/usr/bin/env bash
# The dashboard test: a 4-validator localnet, its first node's dashboard loaded in headless Chromium (Debian's
# chromium package; CI installs it), a new block must appear, no console errors, a screenshot in docs/.
# Usage: scripts/dashboard/run.sh [SCREENSHOT.png]   (needs node/npm and /usr/bin/chromium)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
shot="${1:-$root/docs/dashboard.png}"
target="${CARGO_TARGET_DIR:-$root/target}"
[ -x /usr/bin/chromium ] || [ -n "${CHROMIUM:-}" ] || { echo "needs Chromium: apt-get install chromium" >&2; exit 1; }
(cd "$here" && npm ci --silent --no-audit --no-fund >/dev/null)
cargo build -q -p cairn --manifest-path "$root/Cargo.toml"
dir="$(mktemp -d)"
log="$dir/localnet.log"
"$target/debug/cairn" localnet --validators 4 --dir "$dir/chain" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 240); do
  url="$(grep -o 'http http://[0-9.:]*' "$log" | head -1 | cut -d' ' -f2 || true)"
  [ -n "$url" ] && break
  kill -0 $pid 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.5
done
[ -n "$url" ] || { echo "localnet did not print its endpoints" >&2; cat "$log" >&2; exit 1; }
node "$here/test.mjs" "$url/" "$shot"
