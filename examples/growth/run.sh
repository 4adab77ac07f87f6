#!/usr/bin/env bash
# The growth walkthrough: a community chain grows on a live localnet, by governance, while transfers flow.
#
#   1. 4 validators start on proof of authority (template `growth`: poa, wot, pos, gov and the bank at genesis);
#   2. governance switches the Sybil module to the web of trust: validators 0–2 (its smiths) decide from H+2;
#   3. governance switches to hybrid stake: all four validators (members who bonded) decide from H+2;
#   4. (full mode) governance switches the consensus engine to snow.
#
# After each switch it checks that the set deciding blocks is exactly the new module's, and at the end that every
# acknowledged transfer is in state (balances). The last stdout line is one JSON object with `lost` and `switches`
# (height, module or engine, validator count). Exit code 0 only if all of that holds.
#
# usage: examples/growth/run.sh [--short] [--keep]      (CAIRN=path/to/cairn to use a given binary)
#
# The same steps by hand, on any chain with a gov module (sign with validators' keys):
#   cairn tx gov propose switch-sybil wot --height H --from-key node0/config/priv_validator_key.json
#   cairn tx gov vote 0 yes --from-key node1/config/priv_validator_key.json
#   cairn query gov 0; cairn query validators
set -euo pipefail
CAIRN="${CAIRN:-cairn}"
exec "$CAIRN" growth "$@"
