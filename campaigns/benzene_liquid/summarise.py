"""Counts of the liquid-benzene data, written into ``data/README.md`` between its markers.

    python campaigns/benzene_liquid/summarise.py [--data campaigns/benzene_liquid/data]

Per condition: labelled frames, MD time span (fs), mean and spread of the energy per atom
(eV) and of the pressure P = -trace(stress)/3 (GPa) of the labels.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.units import GPa
from split_data import read_data

from fusionpot._io import atomic_write_text

HERE = Path(__file__).resolve().parent
BEGIN, END = "<!-- counts: summarise.py -->", "<!-- end counts -->"


def pressure_gpa(atoms: Atoms) -> float:
    """P = -trace(σ)/3 of the frame's stress label (Voigt eV/Å³), in GPa."""
    return float(-np.mean(atoms.get_stress()[:3]) / GPa)


def table(frames: list[Atoms]) -> str:
    """A Markdown table of the frames by ``subset`` (condition), then a total line."""
    by_condition: dict[str, list[Atoms]] = defaultdict(list)
    for atoms in frames:
        by_condition[str(atoms.info["subset"])].append(atoms)
    lines = [
        "| condition | frames | MD time (fs) | E per atom (eV) | P (GPa) |",
        "|---|---|---|---|---|",
    ]
    for name in sorted(by_condition):
        group = by_condition[name]
        times = [float(a.info["md_time_fs"]) for a in group]
        energy = np.array([a.info["energy_s0"] / len(a) for a in group])
        pressure = np.array([pressure_gpa(a) for a in group])
        lines.append(
            f"| {name} | {len(group)} | {min(times):g}–{max(times):g} | "
            f"{energy.mean():.4f} ± {energy.std():.4f} | "
            f"{pressure.mean():.2f} ± {pressure.std():.2f} |"
        )
    n_atoms = sorted({len(a) for a in frames})
    lines.append(f"\n{len(frames)} labelled frames, {n_atoms} atoms per frame.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=HERE / "data")
    args = parser.parse_args()
    frames = read_data(args.data)
    readme = args.data / "README.md"
    text = readme.read_text()
    start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
    atomic_write_text(readme, text[:start] + "\n" + table(frames) + "\n" + text[stop:])
    print(table(frames))


if __name__ == "__main__":
    main()
