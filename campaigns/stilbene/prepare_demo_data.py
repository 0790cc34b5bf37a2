"""Build the train/valid/test files of the stilbene demonstration potential.

Reads the MRSF-TDDFT seed set (in place, from ../shared/data) and a snapshot of the
campaign labels (copy ``data/labels_mrsf.extxyz`` to /tmp first: the campaign appends to
it), drops frames with any |force component| above ``--max-force`` eV/Å, splits each source
with a seeded 80/10/10 split (``fusionpot.train.split.split_indices``) and writes
``train_demo_data/{train,valid,test}.extxyz`` (git-ignored) and the committed
``stilbene_s012_demo_split.json``, which names every frame by source and ``frame_id`` (or
seed index) so the demo can find its held-out frames in the shipped labels file.

    cp campaigns/stilbene/data/labels_mrsf.extxyz /tmp/labels_mrsf_snapshot.extxyz
    python campaigns/stilbene/prepare_demo_data.py /tmp/labels_mrsf_snapshot.extxyz
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import ase.io
import numpy as np
from paths import POTENTIALS, SEED_SET

from fusionpot.train.split import split_indices

HERE = Path(__file__).resolve().parent
#: how the split file names the sources (the campaign file is read from a snapshot)
SOURCE_NAMES = {
    "seed": "../shared/data/stilbene_mrsf_seed/stilbene_mrsf_seed.extxyz",
    "campaign": "campaigns/stilbene/data/labels_mrsf.extxyz (snapshot)",
}
PARTS = ("train", "valid", "test")


def frame_name(atoms: ase.Atoms, source: str, index: int) -> str:
    """A stable name: the campaign's ``frame_id``, else ``<source>:<index>``."""
    return str(atoms.info.get("frame_id", f"{source}:{index}"))


def max_force(atoms: ase.Atoms) -> float:
    """Largest |force component| over every state's forces (eV/Å)."""
    keys = [k for k in atoms.arrays if k.startswith("forces_s")]
    return float(max(np.abs(atoms.arrays[k]).max() for k in keys))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("campaign", help="snapshot copy of data/labels_mrsf.extxyz")
    parser.add_argument("--seed-set", default=str(SEED_SET))
    parser.add_argument("--max-force", type=float, default=20.0, help="eV/Å")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    out_dir = HERE / "train_demo_data"
    out_dir.mkdir(exist_ok=True)
    parts: dict[str, list[ase.Atoms]] = {p: [] for p in PARTS}
    record: dict[str, object] = {"max_force_eV_per_A": args.max_force, "seed": args.seed}
    for source, path in (("seed", args.seed_set), ("campaign", args.campaign)):
        frames = ase.io.read(path, index=":")
        assert isinstance(frames, list)
        kept, dropped = [], []
        for i, atoms in enumerate(frames):
            atoms.info["demo_source"] = source
            atoms.info["demo_name"] = frame_name(atoms, source, i)
            (dropped if max_force(atoms) > args.max_force else kept).append(atoms)
        split = split_indices(len(kept), 0.1, 0.1, seed=args.seed)
        names = {}
        for part, indices in zip(PARTS, split, strict=True):
            parts[part].extend(kept[i] for i in indices)
            names[part] = sorted(kept[i].info["demo_name"] for i in indices)
        record[source] = {
            "file": SOURCE_NAMES[source],
            "frames": len(frames),
            "dropped": [a.info["demo_name"] for a in dropped],
            **names,
        }
        print(
            f"{source}: {len(frames)} frames, dropped {len(dropped)} (|F| > {args.max_force}),"
            f" split {[len(s) for s in split]}"
        )
    for part, frames in parts.items():
        tmp = out_dir / f".{part}.extxyz.tmp"
        ase.io.write(tmp, frames, format="extxyz")
        os.replace(tmp, out_dir / f"{part}.extxyz")
    tmp = HERE / ".split.json.tmp"
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, POTENTIALS / "stilbene_s012_demo_split.json")


if __name__ == "__main__":
    main()
