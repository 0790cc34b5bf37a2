"""Check that fusionpot's OpenQP labeller reproduces the shared stilbene seed labels.

Labels chosen seed frames again with OpenQPLabeller (MRSF-TDDFT BHHLYP/6-31G, S0-S2, all
gradients) and prints the largest energy (eV) and force (eV/Å) differences per state;
targets: 1e-4 eV and 1e-3 eV/Å. Cost: ~4-6 min per frame on 2 cores.

    python tools/labels/seed_reproduction.py --frames 7 --threads 2
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from ase.io import read

from fusionpot.labels import OpenQPLabeller

SEED = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "data"
    / "stilbene_mrsf_seed"
    / "stilbene_mrsf_seed.extxyz"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed-file", type=Path, default=SEED)
    parser.add_argument("--frames", default="7", help="comma-separated seed_index values")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reuse-guess", type=Path, default=None, help="OpenQP JSON guess")
    args = parser.parse_args()
    if not args.seed_file.exists():
        print(f"skip: seed set not found at {args.seed_file}", file=sys.stderr)
        return 0
    seed = {f.info["seed_index"]: f for f in read(args.seed_file, ":")}
    labeller = OpenQPLabeller(threads=args.threads)
    worst_e = worst_f = 0.0
    for index in (int(i) for i in args.frames.split(",")):
        frame = seed[index]
        label = labeller.label(frame, guess=args.reuse_guess)
        assert label.forces is not None
        reference_e = np.array([frame.info[f"energy_s{k}"] for k in range(3)])
        reference_f = np.stack([frame.arrays[f"forces_s{k}"] for k in range(3)], axis=1)
        de = np.abs(label.energies - reference_e)
        df = np.abs(label.forces - reference_f).max(axis=(0, 2))
        worst_e, worst_f = max(worst_e, de.max()), max(worst_f, df.max())
        report = {
            "seed_index": index,
            "subset": frame.info["subset"],
            "max_abs_dE_eV": de.round(7).tolist(),
            "max_abs_dF_eV_per_A": df.round(6).tolist(),
            "wall_s": label.provenance["wall_s"],
            "scf_iterations": label.provenance["scf_iterations"],
        }
        print(json.dumps(report), flush=True)
    ok = worst_e < 1e-4 and worst_f < 1e-3
    print(f"worst |dE| {worst_e:.2e} eV, worst |dF| {worst_f:.2e} eV/Å: {'OK' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
