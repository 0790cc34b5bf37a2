"""S0 energetics of stilbene models against MRSF-TDDFT: the cis–trans energy difference and
the C=C torsion profile, where a photoisomerization potential must be right.

    python campaigns/stilbene/check_energetics.py MODEL [MODEL ...] [--out table.md]

A MODEL is one file (exported ``.pt`` or a training ``model.pth``) or several joined by
commas (a committee: their mean energy). Reference frames: every MRSF-labelled frame of the
seed set, the extra set and the campaign (``paths.py``) whose ``subset`` is
``torsion_scan`` or ``minimum_xtb`` and whose S0 energy lies within ``--window`` eV of the
cis xTB minimum's (the third ``minimum_xtb``, the DHP isomer at φ ≈ −22°, lies 1.9 eV higher
and stays out by default).
Energies are relative to the cis xTB minimum (φ ≈ −6°), in meV; φ is the central C=C
torsion (``TORSION``). Prints one markdown table: per frame φ, MRSF and every model; then
per model the trans−cis difference and the mean absolute error of the relative energies.
These frames may be training frames: this checks what a model learned of its own data,
not how it generalises.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import ase
import ase.io
import numpy as np
from paths import EXTRA_SET, LABELS, SEED_SET
from stilbene_common import TORSION

from fusionpot.active.select import model_predictions

#: the subsets that sample S0 around its minima and along the C=C torsion
SUBSETS = ("torsion_scan", "minimum_xtb")


def torsion(atoms: ase.Atoms) -> float:
    """Central C=C torsion in degrees, in [−180, 180)."""
    return float((atoms.get_dihedral(*TORSION) + 180.0) % 360.0 - 180.0)


def reference_frames(window_ev: float) -> tuple[list[ase.Atoms], int]:
    """(frames sorted by torsion, index of the cis xTB minimum): the MRSF frames of
    ``SUBSETS`` from every set that exists, within ``window_ev`` of the cis minimum's S0
    energy. A frame copied between sets counts once (same subset and S0 label to 0.1 meV,
    not ``frame_id``: the sets write positions to different precision, so their geometry
    hashes differ). SystemExit naming the files if there is no cis minimum among
    them."""
    frames: dict[tuple[str, float], ase.Atoms] = {}
    for path in (SEED_SET, EXTRA_SET, LABELS):
        if not path.exists():
            continue
        for atoms in ase.io.read(path, index=":"):
            if atoms.info.get("subset") in SUBSETS:
                key = (str(atoms.info["subset"]), round(float(atoms.info["energy_s0"]), 4))
                frames.setdefault(key, atoms)
    cis = [a for a in frames.values() if a.info["subset"] == "minimum_xtb" and abs(torsion(a)) < 30]
    if not cis:
        raise SystemExit(f"no cis minimum_xtb frame in {SEED_SET}, {EXTRA_SET} or {LABELS}")
    e_cis = min(float(a.info["energy_s0"]) for a in cis)
    chosen = [a for a in frames.values() if float(a.info["energy_s0"]) - e_cis < window_ev]
    chosen.sort(key=torsion)
    index = next(i for i, a in enumerate(chosen) if float(a.info["energy_s0"]) == e_cis)
    return chosen, index


def s0_energies(model: str, frames: list[ase.Atoms]) -> np.ndarray:
    """[n_frames] S0 energies (eV) of one model file or the mean of a comma-joined list."""
    paths = model.split(",")
    for path in paths:
        if not os.path.exists(path):
            raise SystemExit(f"{path}: no such model file")
    return np.mean([model_predictions(Path(p), frames)[0][:, 0] for p in paths], axis=0)


def table(models: list[str], frames: list[ase.Atoms], cis: int) -> str:
    """The markdown report: relative S0 energies (meV) per frame, then a summary per model."""
    mrsf = np.array([float(a.info["energy_s0"]) for a in frames])
    relative = {"MRSF": 1000.0 * (mrsf - mrsf[cis])}
    for model in models:
        energies = s0_energies(model, frames)
        relative[model] = 1000.0 * (energies - energies[cis])
    names = list(relative)
    columns = ["MRSF", *(f"model {k + 1}" for k in range(len(models)))]
    lines = [f"model {k + 1}: {model}" for k, model in enumerate(models)] + [""]
    lines += ["| φ (°) | subset | " + " | ".join(columns) + " |", "|---" * (len(names) + 2) + "|"]
    for k, atoms in enumerate(frames):
        cells = " | ".join(f"{relative[n][k]:.0f}" for n in names)
        lines.append(f"| {torsion(atoms):.1f} | {atoms.info['subset']} | {cells} |")
    trans = [
        k
        for k, a in enumerate(frames)
        if a.info["subset"] == "minimum_xtb" and abs(torsion(a)) > 150
    ]
    lines += ["", "| model | trans − cis (meV) | MAE of relative S0 (meV) |", "|---|---|---|"]
    for name, column in zip(names, columns, strict=True):
        difference = f"{relative[name][trans[0]]:.0f}" if trans else "no trans minimum"
        mae = np.mean(np.abs(relative[name] - relative["MRSF"]))
        lines.append(f"| {column} | {difference} | {mae:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", help="model file(s); a,b,c = a committee's mean")
    parser.add_argument("--window", type=float, default=1.5, help="eV above the cis minimum")
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args()
    frames, cis = reference_frames(args.window)
    report = table(args.models, frames, cis)
    print(report, end="")
    if args.out:
        args.out.write_text(report)


if __name__ == "__main__":
    main()
