"""Train and test files for ``train.yaml``: the last frames of every condition are the test.

    python campaigns/benzene_liquid/split_data.py [--test-fraction 0.1] [--hold-out driven_5]

Frames 10 fs apart in one trajectory are correlated, so a random split would put near
copies of test frames in the training set. Here each condition's frames are ordered by MD
step and the last ``ceil(test_fraction × n)`` become the test set (a time block after every
training frame of that trajectory). Writes ``work/train.extxyz`` and ``work/test.extxyz``
(atomically) from every data set in ``data/`` (``data_files``: tblite-driven
``data/labelled.extxyz`` and the model-driven ``data/*/labelled.extxyz``). ``--hold-out
NAME`` leaves ``data/NAME/`` out of both files (frames no model trained on, for checking
it afterwards: the shipped model's held-out NPT states, ``pressure_bands.py --frames``).
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from ase import Atoms
from ase.io import write

from fusionpot._io import atomic_write
from fusionpot.labels.store import read_complete_frames

HERE = Path(__file__).resolve().parent


def data_files(folder: Path) -> list[Path]:
    """The labelled sets of ``folder``: its ``labelled.extxyz`` (tblite-driven MD), then
    ``*/labelled.extxyz`` (``make_data.py --driver ... --out folder/NAME``) by name;
    FileNotFoundError naming ``folder`` when there is none."""
    files = [f for f in [folder / "labelled.extxyz"] if f.exists()]
    files += sorted(folder.glob("*/labelled.extxyz"))
    if not files:
        raise FileNotFoundError(f"{folder}: no labelled.extxyz in it or its subfolders")
    return files


def read_data(folder: Path, hold_out: Sequence[str] = ()) -> list[Atoms]:
    """Every complete frame of ``data_files(folder)`` except those of the subfolders named
    in ``hold_out``; FileNotFoundError naming a held-out folder that holds no data set."""
    files = data_files(folder)
    for name in hold_out:
        if folder / name / "labelled.extxyz" not in files:
            raise FileNotFoundError(f"--hold-out {name}: no {folder / name / 'labelled.extxyz'}")
    kept = [f for f in files if f.parent.name not in hold_out or f.parent == folder]
    return [atoms for path in kept for atoms in read_complete_frames(path)]


def time_block_split(frames: list[Atoms], test_fraction: float) -> tuple[list[Atoms], list[Atoms]]:
    """(train, test): per ``subset``, the last ``ceil(test_fraction × n)`` frames by
    ``md_step`` are test; ValueError for a fraction outside [0, 1)."""
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test fraction must be in [0, 1), got {test_fraction}")
    by_condition: dict[str, list[Atoms]] = defaultdict(list)
    for atoms in frames:
        by_condition[str(atoms.info["subset"])].append(atoms)
    train, test = [], []
    for name in sorted(by_condition):
        group = sorted(by_condition[name], key=lambda a: int(a.info["md_step"]))
        n_test = math.ceil(test_fraction * len(group))
        train += group[: len(group) - n_test]
        test += group[len(group) - n_test :]
    return train, test


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=HERE / "data", help="data folder")
    parser.add_argument("--out", type=Path, default=HERE / "work")
    parser.add_argument("--test-fraction", type=float, default=0.1)
    parser.add_argument(
        "--hold-out",
        action="append",
        default=[],
        metavar="NAME",
        help="leave data/NAME/ out of train and test (repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        frames = read_data(args.data, args.hold_out)
    except FileNotFoundError as error:
        parser.exit(2, f"split_data.py: {error}\n")
    train, test = time_block_split(frames, args.test_fraction)
    for name, frames in (("train", train), ("test", test)):
        atomic_write(args.out / f"{name}.extxyz", partial(write, images=frames, format="extxyz"))
    held = f" (held out: {', '.join(args.hold_out)})" if args.hold_out else ""
    print(f"{len(train)} train, {len(test)} test frames in {args.out}{held}")


if __name__ == "__main__":
    main()
