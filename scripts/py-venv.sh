#!/usr/bin/env bash
# Prints the path of a Python interpreter that has the packages of scripts/py-requirements.txt, making a virtual
# environment under the cargo target dir on first use (so `cargo test --workspace` needs nothing installed by hand).
# CAIRN_PYTHON overrides it. Safe to call from several tests at once (flock).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ -n "${CAIRN_PYTHON:-}" ]; then echo "$CAIRN_PYTHON"; exit 0; fi
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/py-venv"
reqs="$root/scripts/py-requirements.txt"
stamp="$venv/.requirements"
mkdir -p "$target"
exec 9>"$target/py-venv.lock"
flock 9
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$reqs" "$stamp"; then
  echo "$venv/bin/python"; exit 0
fi
py="$(command -v python3 || true)"
if [ -z "$py" ]; then echo "py-venv: python3 not found; install Python 3 (3.9 or newer)" >&2; exit 1; fi
rm -rf "$venv"
if ! "$py" -m venv "$venv" >&2; then
  echo "py-venv: '$py -m venv' failed; on Debian/Ubuntu install python3-venv" >&2; exit 1
fi
echo "py-venv: installing $(grep -v '^#' "$reqs" | xargs) into $venv (once)" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$reqs" >&2
cp "$reqs" "$stamp"
echo "$venv/bin/python"
