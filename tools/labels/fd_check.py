"""Directional finite-difference check of labelled MRSF forces (e.g. near the S1/S0 seam).

For one labelled frame, compares the analytic directional derivative -F_k · u of each
state with (E_k(x + h u) - E_k(x - h u)) / 2h from two energies-only OpenQP runs; u is the
unit vector along the S1-S0 gap gradient (the direction where a nearby intersection
bends the surfaces most).

    python tools/labels/fd_check.py campaigns/stilbene/data/labels_mrsf.extxyz --index 1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from fusionpot.labels import OpenQPLabeller
from fusionpot.labels.store import read_complete_frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labels", type=Path)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--step", type=float, default=1e-3, help="h in Å")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    frame = read_complete_frames(args.labels)[args.index]
    forces = np.stack([frame.arrays[f"forces_s{k}"] for k in range(3)])
    direction = forces[0] - forces[1]
    direction /= np.linalg.norm(direction)
    labeller = OpenQPLabeller(threads=args.threads)
    shifted = []
    for sign in (1.0, -1.0):
        atoms = frame.copy()
        atoms.positions = frame.positions + sign * args.step * direction
        shifted.append(labeller.label(atoms, forces=False).energies)
    numeric = (shifted[0] - shifted[1]) / (2 * args.step)
    analytic = -np.einsum("kai,ai->k", forces, direction)
    gap = frame.info["energy_s1"] - frame.info["energy_s0"]
    print(
        json.dumps(
            {
                "index": args.index,
                "subset": frame.info.get("subset"),
                "gap_s1_s0_eV": round(gap, 4),
                "analytic_dE_du": analytic.round(4).tolist(),
                "finite_difference_dE_du": numeric.round(4).tolist(),
                "abs_diff_eV_per_A": np.abs(analytic - numeric).round(4).tolist(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
