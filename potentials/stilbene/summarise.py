"""Write potentials/stilbene/data/README.md: the data card of the labelling campaign.

python potentials/stilbene/summarise.py
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from fusionpot.labels.store import read_frames, read_jsonl  # noqa: E402

LABELS = HERE / "data" / "labels_mrsf.extxyz"

CARD = """# Stilbene S0/S1/S2 labels (MRSF-TDDFT campaign)

Labels made by `fusionpot label` for the stilbene multi-state potential (issue 12). They
extend the shared seed set (`../shared/data/stilbene_mrsf_seed`, 21 frames, same level of
theory, not copied here); train on both.

- **Level of theory**: {program}, MRSF-TDDFT on a triplet ROHF reference, {functional}/{basis},
  three singlet states (S0 = response root 1), analytic gradients of all three states in
  one run, SCF and response convergence 1e-6, no dispersion. `OMP_NUM_THREADS=2`, `nice 19`.
- **File**: `labels_mrsf.extxyz` (appended as frames finish). Per frame: `energy_s0..2` (eV,
  absolute), arrays `forces_s0..2` (eV/Å, = -dE/dx; OpenQP's Hartree/Bohr converted with
  `ase.units`), `subset`, `frame_id` (hash of the geometry), `wall_s`, `scf_iterations`,
  `guess`, and the provenance keys. Failed frames: `labels_mrsf.extxyz.failed.jsonl`.
- **Geometries**: `../pool/pool_xtb.extxyz` (GFN2-xTB sampling plan, see
  `fusionpot/sampling/photoisomer.py` and `../make_pool.sh`) and `../pool/seam_steps.extxyz`
  (Newton steps that close the S1-S0 gap of a linear model built from the energies and
  forces of the lowest-gap labelled frames, `fusionpot sample seam`; labelled first).
- **Resume**: `potentials/stilbene/campaign.sh` (background, idle CPU; `campaign.sh stop`).
- **Checks** (2026-11-25): the labeller reproduces the seed's trans minimum (seed_index 7)
  exactly: |ΔE| = 0 eV, |ΔF| ≤ 5e-9 eV/Å for all states (`bench/label_seed_reproduction.py`);
  at the seam step with S1-S0 = 0.057 eV, the analytic derivatives along the gap gradient
  agree with central differences (h = 1e-3 Å) to 0.004 / 0.003 / 0.011 eV/Å for S0 / S1 /
  S2, on values of 13-19 eV/Å (`bench/label_fd_check.py`).

## Contents ({n} frames, {n_failed} failed)

| subset | frames | S1-S0 gap min / median / max (eV) | S2-S1 gap min (eV) |
|---|---|---|---|
{rows}

- S0 energy range: {e0_min:.3f} .. {e0_max:.3f} eV (absolute); frames with S1-S0 < 0.3 eV:
  {n_small_gap}.
- Cost per frame (wall clock on the shared 2-core machine, other jobs running): median
  {wall_median:.0f} s, range {wall_min:.0f}-{wall_max:.0f} s.
- Largest force component: {fmax:.1f} eV/Å.
"""


def main() -> int:
    frames = read_frames(LABELS)
    if not frames:
        print(f"no labels in {LABELS}")
        return 1
    gap = np.array([f.info["energy_s1"] - f.info["energy_s0"] for f in frames])
    gap21 = np.array([f.info["energy_s2"] - f.info["energy_s1"] for f in frames])
    subsets = [str(f.info.get("subset", "")) for f in frames]
    rows = []
    for name, count in sorted(Counter(subsets).items()):
        mask = np.array([s == name for s in subsets])
        g = gap[mask]
        rows.append(
            f"| {name} | {count} | {g.min():.2f} / {np.median(g):.2f} / {g.max():.2f} | "
            f"{gap21[mask].min():.2f} |"
        )
    walls = np.array([float(f.info.get("wall_s", np.nan)) for f in frames])
    e0 = np.array([f.info["energy_s0"] for f in frames])
    fmax = max(
        float(np.abs(f.arrays[f"forces_s{k}"]).max())
        for f in frames
        for k in range(3)
        if f"forces_s{k}" in f.arrays
    )
    first = frames[0].info
    text = CARD.format(
        program=first.get("program", "OpenQP"),
        functional=first.get("functional", "BHHLYP"),
        basis=first.get("basis", "6-31G"),
        n=len(frames),
        n_failed=len(read_jsonl(LABELS.with_name(LABELS.name + ".failed.jsonl"))),
        rows="\n".join(rows),
        e0_min=e0.min(),
        e0_max=e0.max(),
        n_small_gap=int(np.sum(gap < 0.3)),
        wall_median=np.nanmedian(walls),
        wall_min=np.nanmin(walls),
        wall_max=np.nanmax(walls),
        fmax=fmax,
    )
    (HERE / "data" / "README.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
