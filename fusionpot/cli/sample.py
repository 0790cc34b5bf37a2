"""``fusionpot sample``: geometry pools for labelling campaigns.

``fusionpot sample photoisomer --cis cis.xyz --trans trans.xyz -o pool.extxyz`` builds the
plan of :mod:`fusionpot.sampling.photoisomer` at GFN2-xTB; ``fusionpot sample seam
labelled.extxyz -o seam.extxyz`` adds gap-closing steps from the labelled frames with the
smallest S1-S0 gap.
"""

from __future__ import annotations

import argparse
from io import StringIO
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read, write

from fusionpot._io import atomic_write_text
from fusionpot.labels.runner import is_label_key, unlabelled
from fusionpot.labels.store import read_complete_frames
from fusionpot.sampling.photoisomer import PhotoisomerPlan, photoisomer_subsets
from fusionpot.sampling.pool import interleave
from fusionpot.sampling.seam import seam_parents, seam_steps

NAME = "sample"
HELP = "Sample geometries to label (photoisomerisation plan, seam steps)."


def _indices(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        message = f"expected comma-separated atom indices, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="sampler", metavar="SAMPLER", required=True)
    photo = sub.add_parser("photoisomer", help="Wigner, torsion, pyramidalised, DHP, hot MD")
    photo.add_argument("--cis", type=Path, required=True, help="cis start geometry (Å)")
    photo.add_argument("--trans", type=Path, required=True, help="trans start geometry (Å)")
    photo.add_argument("--dhp", type=Path, default=None, help="DHP geometry (any atom order)")
    photo.add_argument("-o", "--output", type=Path, required=True)
    photo.add_argument("--torsion", type=_indices, default=(2, 1, 0, 8))
    photo.add_argument("--centre", type=int, default=0, help="carbon to pyramidalise")
    photo.add_argument("--centre-neighbours", type=_indices, default=(1, 8, 14))
    photo.add_argument("--ring-closure", type=_indices, default=(7, 13))
    photo.add_argument("--n-wigner", type=int, default=30)
    photo.add_argument("--n-md", type=int, default=20)
    photo.add_argument("--first", default="twisted_pyramidalised", help="subsets put first")
    photo.add_argument("--seed", type=int, default=0)
    seam = sub.add_parser("seam", help="gap-closing steps from labelled frames")
    seam.add_argument("labelled", type=Path, nargs="+", help="extxyz with energy_s*/forces_s*")
    seam.add_argument("-o", "--output", type=Path, required=True, help="appended to")
    seam.add_argument("--n-lowest", type=int, default=2, help="frames with the smallest gaps")
    seam.add_argument("--scales", default="1.0,1.3", help="multiples of the Newton step")
    seam.add_argument("--max-gap", type=float, default=2.6, help="only frames below (eV)")
    seam.add_argument(
        "--min-gap", type=float, default=0.1, help="frames below are at the seam already (eV)"
    )
    seam.add_argument("--max-total", type=int, default=None, help="cap on the output's frames")


def _one(path: Path) -> Atoms:
    """The last frame of a geometry file."""
    atoms = read(path, index=-1)
    assert isinstance(atoms, Atoms)
    return atoms


def _photoisomer(args: argparse.Namespace) -> int:
    from tblite.ase import TBLite

    plan = PhotoisomerPlan(
        torsion=args.torsion,
        centre=args.centre,
        centre_neighbours=args.centre_neighbours,
        ring_closure=args.ring_closure,
        n_wigner=args.n_wigner,
        n_md=args.n_md,
    )
    calc = TBLite(method="GFN2-xTB", verbosity=0)
    rng = np.random.default_rng(args.seed)
    dhp = _one(args.dhp) if args.dhp is not None else None
    subsets = photoisomer_subsets(_one(args.cis), _one(args.trans), calc, plan, rng, dhp)
    first = [name for name in args.first.split(",") if name]
    pool = interleave(subsets, first=first)
    for frame in pool:
        frame.info["sampling"] = "GFN2-xTB (tblite)"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_name(args.output.name + ".tmp")
    write(tmp, pool, format="extxyz")
    tmp.replace(args.output)
    counts = {name: len(frames) for name, frames in subsets.items()}
    print(f"{len(pool)} frames -> {args.output}: {counts}")
    return 0


def _frame_name(frame: Atoms) -> str:
    """A labelled frame's name: its ``frame_id``, or ``seed<k>`` for the seed set's."""
    info = frame.info
    return str(info["frame_id"]) if "frame_id" in info else f"seed{info.get('seed_index')}"


def _seam(args: argparse.Namespace) -> int:
    missing = [str(path) for path in args.labelled if not path.exists()]
    if missing:
        raise ValueError(f"no such labelled file(s): {missing}")
    frames = []
    for path in args.labelled:
        labelled = [
            f
            for f in read_complete_frames(path)
            if "forces_s1" in f.arrays and {"energy_s0", "energy_s1"} <= f.info.keys()
        ]
        if not labelled:
            raise ValueError(
                f"{path}: no complete frame with S0 and S1 labels (energy_s0, energy_s1, forces_s1)"
            )
        frames += labelled
    gaps = np.array([f.info["energy_s1"] - f.info["energy_s0"] for f in frames])
    names = [_frame_name(f) for f in frames]
    stored = read_complete_frames(args.output)
    existing = [unlabelled(f) for f in stored]  # steps carry no labels, even from old files
    had_labels = any(is_label_key(k) for f in stored for k in (*f.info, *f.arrays))
    done_parents = {str(f.info.get("parent_id", "")) for f in existing}
    order = seam_parents(gaps, names, done_parents, args.n_lowest, args.min_gap, args.max_gap)
    scales = [float(s) for s in args.scales.split(",")]
    new = []
    for i in order:
        for step in seam_steps(frames[i], scales):
            step.info.update(subset="seam_step", parent_id=names[i], parent_gap=float(gaps[i]))
            new.append(step)
    if args.max_total is not None:
        new = new[: max(0, args.max_total - len(existing))]
    if new or had_labels or not args.output.exists():
        buffer = StringIO()
        write(buffer, new + existing, format="extxyz")  # newest steps are labelled first
        atomic_write_text(args.output, buffer.getvalue())
    parent_gaps = [round(float(gaps[i]), 3) for i in order]
    print(f"{len(new)} new seam steps -> {args.output} (parent gaps {parent_gaps} eV)")
    return 0


def run(args: argparse.Namespace) -> int:
    return _photoisomer(args) if args.sampler == "photoisomer" else _seam(args)
