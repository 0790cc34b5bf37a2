"""Build the training and test files of the stilbene S0/S1/S2 committee and production model.

Sources, every one read in place (nothing from ../shared is copied into the repository):
the seed set and the extra set (``../shared/data/stilbene_mrsf_{seed,extra}``) and the
campaign's labels (``data/labels_mrsf.extxyz``, including the frames active learning
selected). A frame appears once (by ``frame_id``, the labeller's geometry hash); frames
with any |force component| above ``--max-force`` eV/Å are dropped.

The test set is fixed by the geometry alone, so it never changes as data are added: a
frame is a test frame when the first 8 hex digits of its ``frame_id`` are 0 modulo 10
(~10 %). Each committee member then draws its own validation set from the rest
(``valid_fraction`` and the member's seed in ``train_s012.yaml``).

Writes ``OUT/{train,test}.extxyz`` (git-ignored: they hold the shared frames) and
``OUT/split.json`` (committed: every frame by source and ``frame_id``, its part, the dropped
ones); OUT is ``train_data/`` unless ``--out`` says otherwise.

    python campaigns/stilbene/prepare_data.py

``--from-split OUT/split.json`` rebuilds the git-ignored ``train``/``test`` files of an
earlier split (an active-learning round's ``data/``) from the frames it lists, on a machine
that lacks them: the same frames in the same order, so a member retrained from its
``config.yaml`` draws the same validation set; the split file is left as it is.

    python campaigns/stilbene/prepare_data.py \
        --from-split campaigns/stilbene/committee/round_2/data/split.json \
        --out campaigns/stilbene/committee/round_2/data
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import ase.io
import numpy as np
from paths import EXTRA_SET, LABELS, REPO, SEED_SET

from fusionpot.labels import frame_id

HERE = Path(__file__).resolve().parent
SOURCES = {
    "seed": SEED_SET,
    "extra": EXTRA_SET,
    "campaign": LABELS,
}
TEST_MODULUS = 10


def is_test(name: str) -> bool:
    """The fixed test split: frame ids whose first 8 hex digits are 0 modulo 10."""
    return int(name[:8], 16) % TEST_MODULUS == 0


def max_force(atoms: ase.Atoms) -> float:
    """Largest |force component| over every state's forces (eV/Å)."""
    keys = [k for k in atoms.arrays if k.startswith("forces_s")]
    return float(max(np.abs(atoms.arrays[k]).max() for k in keys))


def write_atomic(path: Path, frames: list[ase.Atoms]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    ase.io.write(tmp, frames, format="extxyz")
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-force", type=float, default=25.0, help="eV/Å")
    parser.add_argument("--out", type=Path, default=HERE / "train_data")
    parser.add_argument(
        "--from-split", type=Path, default=None, help="rebuild the frames this split.json lists"
    )
    args = parser.parse_args()
    listed = json.loads(args.from_split.read_text()) if args.from_split else None

    parts: dict[str, list[ase.Atoms]] = {"train": [], "test": []}
    record: dict[str, object] = {"max_force_eV_per_A": args.max_force, "test_rule": is_test.__doc__}
    seen: set[str] = set()
    for source, path in SOURCES.items():
        if not path.exists():
            raise SystemExit(f"prepare_data.py: {path} is missing ({source} labels)")
        frames = ase.io.read(path, index=":")
        assert isinstance(frames, list)
        names: dict[str, list[str]] = {"train": [], "test": [], "dropped": [], "duplicate": []}
        wanted = set(listed[source]["train"] + listed[source]["test"]) if listed else None
        for atoms in frames:
            name = str(atoms.info.get("frame_id") or frame_id(atoms))
            if wanted is not None and name not in wanted:
                continue
            atoms.info["frame_id"] = name
            atoms.info["data_source"] = source
            if name in seen:
                names["duplicate"].append(name)
                continue
            seen.add(name)
            if max_force(atoms) > args.max_force:
                names["dropped"].append(name)
                continue
            part = "test" if is_test(name) else "train"
            parts[part].append(atoms)
            names[part].append(name)
        record[source] = {"file": os.path.relpath(path, REPO), "frames": len(frames), **names}
        print(
            f"{source}: {len(frames)} frames, {len(names['train'])} train, "
            f"{len(names['test'])} test, {len(names['dropped'])} dropped "
            f"(|F| > {args.max_force} eV/Å), {len(names['duplicate'])} duplicates"
        )
    if listed:
        for source in SOURCES:
            for part in parts:
                got = record[source][part]  # type: ignore[index]
                if got != listed[source][part]:
                    missing = sorted(set(listed[source][part]) - set(got))
                    raise SystemExit(
                        f"prepare_data.py: {args.from_split} lists {source} {part} frames "
                        f"that differ from those found (missing: {missing[:5]})"
                    )
    args.out.mkdir(exist_ok=True)
    for part, frames in parts.items():
        write_atomic(args.out / f"{part}.extxyz", frames)
    if listed:  # the split file is the record: left as it is
        print(f"rebuilt train {len(parts['train'])}, test {len(parts['test'])} -> {args.out}")
        return
    split = args.out / "split.json"
    tmp = split.with_name(f".{split.name}.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, split)
    print(f"train {len(parts['train'])}, test {len(parts['test'])} -> {args.out}")


if __name__ == "__main__":
    main()
