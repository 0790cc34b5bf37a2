"""Rewrite the "Contents" section of campaigns/stilbene/data/README.md (the campaign's
data card) from the labels; the prose above it is edited by hand.

python campaigns/stilbene/summarise.py
"""

from __future__ import annotations

import os
import sys
from collections import Counter

import numpy as np
from paths import HERE, LABELS

from fusionpot.labels.store import read_complete_frames, read_jsonl

CONTENTS = """## Contents ({n} frames, {n_failed} failed)

| subset | frames | S1-S0 gap min / median / max (eV) | S2-S1 gap min / median (eV) |
|---|---|---|---|
{rows}

- S0 energy range: {e0_min:.3f} .. {e0_max:.3f} eV (absolute); frames with S1-S0 < 0.3 eV:
  {n_small_gap}; frames with S2-S1 < 0.2 eV: {n_small_gap21} (at this level of theory S1
  and S2 come that close even among Wigner samples of the minima, so S1-S2 hops near the
  Franck-Condon region are a property of the labels, not only of a fitted potential).
- Cost per frame (wall clock on the shared 2-core machine, other jobs running): median
  {wall_median:.0f} s, range {wall_min:.0f}-{wall_max:.0f} s.
- Largest force component: {fmax:.1f} eV/Å.
"""


def main() -> int:
    frames = read_complete_frames(LABELS)
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
            f"{gap21[mask].min():.2f} / {np.median(gap21[mask]):.2f} |"
        )
    walls = np.array([float(f.info.get("wall_s", np.nan)) for f in frames])
    e0 = np.array([f.info["energy_s0"] for f in frames])
    fmax = max(
        float(np.abs(f.arrays[f"forces_s{k}"]).max())
        for f in frames
        for k in range(3)
        if f"forces_s{k}" in f.arrays
    )
    contents = CONTENTS.format(
        n=len(frames),
        n_failed=len(read_jsonl(LABELS.with_name(LABELS.name + ".failed.jsonl"))),
        rows="\n".join(rows),
        e0_min=e0.min(),
        e0_max=e0.max(),
        n_small_gap=int(np.sum(gap < 0.3)),
        n_small_gap21=int(np.sum(gap21 < 0.2)),
        wall_median=np.nanmedian(walls),
        wall_min=np.nanmin(walls),
        wall_max=np.nanmax(walls),
        fmax=fmax,
    )
    card = HERE / "data" / "README.md"
    prose = card.read_text().split("## Contents")[0]
    tmp = card.with_name(f".{card.name}.tmp")
    tmp.write_text(prose + contents)
    os.replace(tmp, card)
    print(contents)
    return 0


if __name__ == "__main__":
    sys.exit(main())
