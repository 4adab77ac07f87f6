#!/usr/bin/env bash
# Reliability tests of a real localnet (validators as processes on loopback), per issues 6 and 10:
#   (a) kill -9 a random validator every few seconds while transfers flow   -> cairn bench chaos
#   (b) a 2|2 and a 3|1 partition through TCP proxies the test controls    -> cairn bench partition --shape
#   (c) bad input, each a test (oversized tx, bad signature, replay, broken config/genesis, port in use,
#       unreachable app)                                                     -> cargo test -p cairn --test bad_input
#   --long runs (a) and (b) longer and repeated, and adds: (d) two validators killed at once (no quorum until they
#   return), (e) a flapping 2|2 partition, (f) a slow application (every FinalizeBlock sleeps 1.5 s, longer than
#   the 1 s leader timeout) under kills. In --long, (a), (b), (d) and (e) run under an open-loop background load
#   of LOAD tx/s (default 2,000: batched transfers to random nodes, `--load`), beside the checked transfers.
# Usage: scripts/reliability.sh --short   (CI: a few minutes)
#        scripts/reliability.sh --long    (minutes of chaos, repeated partitions)
# Each step prints one JSON object; the script exits non-zero on the first violation. Node logs of a failed
# scenario are kept under $OUT (printed at the end). Environment: SEED (victims), PARTITION (e.g. 5s),
# RESUME_LIMIT (default 4s short, 2s long; a 3-1 heal adds 100 ms per block the isolated node must sync), LOAD (tx/s,
# --long only), RELEASE=1 (release build), OUT (logs).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:---short}
# How soon finality must resume after a partition heals. Measured idle: ~1.5 s (reconnect with a redial backoff of
# at most 1 s, then the view change). The short form runs in CI, whose 2 cores are shared with builds (a run at
# load 8 measured 3.0 s), so it allows 4 s: still a stuck chain fails, and the figure is printed either way.
case "$mode" in
  --short) chaos=20s; interval=3s; rounds=1; part=5s; resume=4s; load=0 ;;
  --long)  chaos=300s; interval=4s; rounds=5; part=10s; resume=2s; load=${LOAD:-2000} ;;
  *) echo "usage: $0 --short|--long" >&2; exit 2 ;;
esac

part=${PARTITION:-$part}
OUT=${OUT:-$(mktemp -d -t cairn-reliability-XXXXXX)}
profile_flag=""
tdir=${CARGO_TARGET_DIR:-target}
bin=$tdir/debug/cairn
if [ "${RELEASE:-0}" = 1 ]; then profile_flag="--release"; bin=$tdir/release/cairn; fi

echo "== building cairn"
cargo build -p cairn $profile_flag

echo "== (c) bad input"
cargo test -p cairn $profile_flag --test bad_input

echo "== (a) kill -9 a random validator every $interval for $chaos while transfers flow (background load $load tx/s)"
"$bin" bench chaos --duration "$chaos" --interval "$interval" --load "$load" --seed "${SEED:-1}" --dir "$OUT/chaos" \
  --json

for i in $(seq 1 "$rounds"); do
  for shape in 2-2 3-1; do
    echo "== (b) $shape partition for $part (round $i of $rounds, background load $load tx/s)"
    rm -rf "$OUT/partition"
    "$bin" bench partition --shape "$shape" --partition "$part" --resume-limit "${RESUME_LIMIT:-$resume}" \
      --load "$load" --dir "$OUT/partition" --json
  done
done

if [ "$mode" = --long ]; then
  echo "== (d) two validators of four killed at once, every 8s for 60s, under $load tx/s of background load"
  "$bin" bench chaos --duration 60s --interval 8s --at-once 2 --load "$load" --seed "${SEED:-1}" \
    --dir "$OUT/chaos2" --json
  echo "== (e) 2|2 partition flapping every 700ms for $part, under $load tx/s of background load"
  rm -rf "$OUT/partition"
  "$bin" bench partition --shape flap --flap 700ms --partition "$part" --resume-limit "${RESUME_LIMIT:-$resume}" \
    --load "$load" --dir "$OUT/partition" --json
  echo "== (f) slow application (FinalizeBlock +1.5 s on every validator) under kills, 60s"
  "$bin" bench chaos --duration 60s --interval 10s --slow-app 1500ms --seed "${SEED:-1}" --dir "$OUT/slow" --json
fi

echo "reliability $mode: all scenarios passed (logs in $OUT)"
rm -rf "$OUT"
