"""Write ``benzene.data`` (LAMMPS, atom_style atomic, types 1 = H, 2 = C) from the first
T300_V1 frame of the liquid-benzene data set.

    python examples/lammps/benzene/make_benzene_data.py \
        [--data campaigns/benzene_liquid/data/labelled.extxyz] [--out benzene.data]

The frame: 8 benzene molecules (96 atoms) in a cubic periodic cell of 10.605 Å (0.87
g/cm³), after 110 fs of GFN1-xTB Langevin MD at 300 K. Molecules are stored whole, so
some atoms lie outside the box; LAMMPS's ``read_data`` wraps them in.
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from ase.io import read, write

from fusionpot._io import atomic_write

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[2] / "campaigns" / "benzene_liquid" / "data" / "labelled.extxyz"
#: LAMMPS atom types 1, 2 (the order of ``pair_coeff * * model.pt H C``)
SPECORDER = ["H", "C"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="labelled extxyz")
    parser.add_argument("--subset", default="T300_V1", help="condition of the frame")
    parser.add_argument("--out", type=Path, default=HERE / "benzene.data")
    args = parser.parse_args()
    if not args.data.is_file():
        parser.error(f"no data set at {args.data}")
    frames = [a for a in read(args.data, ":") if a.info.get("subset") == args.subset]
    if not frames:
        parser.error(f"{args.data}: no frame of condition {args.subset!r}")
    atoms = min(frames, key=lambda a: int(a.info["md_step"]))
    atoms = atoms[[i for i in range(len(atoms))]]  # drop the labels, keep the geometry
    atoms.calc = None
    write_data = partial(
        write,
        images=atoms,
        format="lammps-data",
        specorder=SPECORDER,
        masses=True,
        units="metal",
        atom_style="atomic",
    )
    atomic_write(args.out, write_data)
    print(
        f"{args.out}: {len(atoms)} atoms, cell {atoms.cell.lengths().round(4)} Å, "
        f"md_time_fs {atoms.info['md_time_fs']:g} of {args.subset}"
    )


if __name__ == "__main__":
    main()
