"""``fusionpot select MODEL... --from FRAMES -n N -o picks.extxyz``: frames to label next."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "select"
HELP = (
    "pick the N frames a committee of models disagrees on most, mutually distant, from "
    "extxyz files or run.h5 files of fusionpot namd (active learning)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "models", nargs="+", help="committee members (exported files or checkpoints)"
    )
    parser.add_argument(
        "--from",
        dest="sources",
        action="append",
        required=True,
        help="candidate frames: an extxyz (any ASE format) or a run.h5 (repeatable)",
    )
    parser.add_argument("-n", type=int, required=True, help="how many frames to pick")
    parser.add_argument("-o", "--output", type=Path, required=True, help="picks (extxyz)")
    parser.add_argument(
        "--score",
        choices=("forces", "gap", "energy"),
        default="forces",
        help="spread that ranks frames, largest over states: force std (eV/Å, default), "
        "std of the gap to S0 (eV) or energy std (eV)",
    )
    parser.add_argument(
        "--min-rmsd",
        type=float,
        default=0.1,
        help="Å after superposition between picks and from --exclude frames (default 0.1)",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        help="frames the picks must stay --min-rmsd from, e.g. the training set (repeatable)",
    )
    parser.add_argument(
        "--stride", type=int, default=1, help="every STRIDE-th candidate of each source"
    )
    parser.add_argument("--subset", default="committee_pick", help="info['subset'] of the picks")
    parser.add_argument("--device", default="cpu", help="where the models run")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    import ase.io

    from fusionpot._io import atomic_write
    from fusionpot.active.select import read_candidates, select_frames

    if args.stride < 1:
        raise ValueError(f"--stride must be ≥ 1, got {args.stride}")
    frames = [a for source in args.sources for a in read_candidates(source, args.stride)]
    exclude = [a for path in args.exclude for a in read_candidates(path)]
    if not frames:
        raise ValueError(f"no candidate frames in {args.sources}")
    picks = select_frames(
        args.models,
        frames,
        args.n,
        args.score,
        args.min_rmsd,
        exclude,
        args.device,
        progress=not args.no_progress,
    )
    for atoms in picks:
        atoms.info["subset"] = args.subset
    atomic_write(args.output, lambda tmp: ase.io.write(tmp, picks, format="extxyz"))
    print(
        f"{len(picks)} of {len(frames)} candidates picked by {args.score} spread "
        f"(min RMSD {args.min_rmsd} Å, {len(exclude)} excluded frames) -> {args.output}"
    )
    for atoms in picks:
        where = (
            f"traj {atoms.info['traj_id']} t {atoms.info['time_fs']:.1f} fs"
            if ("traj_id" in atoms.info)
            else atoms.info["source_file"]
        )
        print(f"  score {atoms.info['committee_score']:.4f}  {where}")
    return 0
