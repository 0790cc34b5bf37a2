#!/usr/bin/env bash
# Rebuild pool/pool_xtb.extxyz: the GFN2-xTB sampling plan of fusionpot.sampling.photoisomer,
# started from the cis, trans and DHP xTB minima of the shared seed set (read, not copied).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
seed="${SEED:-$here/../../../shared/data/stilbene_mrsf_seed/stilbene_mrsf_seed.extxyz}"
[[ -f "$seed" ]] || { echo "seed set not found at $seed (set SEED=...)" >&2; exit 1; }
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
python - "$seed" "$tmp" <<'PY'
import sys
from ase.io import read, write
frames = [f for f in read(sys.argv[1], ":") if f.info["subset"] == "minimum_xtb"]
cis, trans, dhp = sorted(frames, key=lambda f: f.info["seed_index"])  # seed order: cis, trans, DHP
write(f"{sys.argv[2]}/cis.xyz", cis)
write(f"{sys.argv[2]}/trans.xyz", trans)
write(f"{sys.argv[2]}/dhp.xyz", dhp)
PY
OMP_NUM_THREADS=1 fusionpot sample photoisomer --cis "$tmp/cis.xyz" --trans "$tmp/trans.xyz" \
    --dhp "$tmp/dhp.xyz" --seed 0 -o "$here/pool/pool_xtb.extxyz"
