"""``fusionpot label``: ab initio labels for a file of geometries (resumable)."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from fusionpot._extras import require_extra
from fusionpot.data.read import read_atoms
from fusionpot.labels.base import Labeller, ProgramNotFoundError
from fusionpot.labels.openqp import OpenQPLabeller
from fusionpot.labels.runner import label_frames
from fusionpot.labels.xtb import XTBLabeller

NAME = "label"
HELP = (
    "Label geometries with ab initio energies and forces (OpenQP MRSF-TDDFT or tblite xTB; "
    "pip install 'fusionpot[label]')."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("geometries", type=Path, help="input geometries (any ASE format, Å)")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="output extxyz (appended to: a rerun labels only the frames not in it)",
    )
    parser.add_argument(
        "--method",
        choices=("mrsf", "xtb"),
        default="mrsf",
        help="mrsf: OpenQP MRSF-TDDFT, S0..S{n-1} (minutes per frame of a small molecule); "
        "xtb: tblite ground state only (seconds per frame)",
    )
    parser.add_argument("--states", type=int, default=3, help="MRSF: states S0..S{n-1}")
    parser.add_argument(
        "--functional", default="bhhlyp", help="MRSF: exchange-correlation functional"
    )
    parser.add_argument("--basis", default="6-31g", help="MRSF: basis set")
    parser.add_argument(
        "--xtb-method",
        choices=("GFN1-xTB", "GFN2-xTB"),
        default="GFN2-xTB",
        help="xtb: the tight-binding Hamiltonian",
    )
    parser.add_argument("--charge", type=int, default=0, help="total charge of the molecule")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="OMP_NUM_THREADS for the backend (default: the environment's)",
    )
    parser.add_argument(
        "--energies-only", action="store_true", help="skip gradients (no forces labels)"
    )
    parser.add_argument(
        "--reuse-orbitals",
        action="store_true",
        help="start each SCF from the orbitals of the nearest finished frame (OpenQP 1.2.1: "
        "measured no saving, see fusionpot.labels.runner)",
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="retry frames that failed (by default they are skipped)",
    )
    parser.add_argument(
        "--max-frames",
        type=int,
        default=None,
        help="stop after N new labels (default: label every frame)",
    )
    parser.add_argument(
        "--failures",
        type=Path,
        default=None,
        help="failure log, JSON lines (default: OUTPUT.failed.jsonl)",
    )
    parser.add_argument(
        "--known",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="extxyz labelled elsewhere (repeatable, read in place): frames with its frame_ids "
        "are skipped (default: none)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


#: the Python package each ``--method`` needs (all in the ``label`` extra)
BACKEND_PACKAGE = {"mrsf": "oqp", "xtb": "tblite"}


def make_labeller(args: argparse.Namespace) -> Labeller:
    """The backend selected by ``--method`` with its options; raises MissingExtraError
    (one line naming ``fusionpot[label]``) when its package is not installed."""
    require_extra(BACKEND_PACKAGE[args.method], "label", f"fusionpot label --method {args.method}")
    if args.method == "mrsf":
        return OpenQPLabeller(
            n_states=args.states,
            functional=args.functional,
            basis=args.basis,
            charge=args.charge,
            threads=args.threads,
        )
    return XTBLabeller(method=args.xtb_method, charge=args.charge, threads=args.threads)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run(args: argparse.Namespace) -> int:
    previous = signal.signal(signal.SIGTERM, _interrupt)  # clean up scratch on kill
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("fusionpot label: interrupted; finished frames are kept", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    if not args.geometries.exists():
        print(f"fusionpot label: error: no such file {args.geometries}", file=sys.stderr)
        return 2
    try:
        empty = args.geometries.stat().st_size == 0
        frames = [] if empty else read_atoms(args.geometries)
        labeller = make_labeller(args)
        summary = label_frames(
            frames,
            labeller,
            args.output,
            failures=args.failures,
            forces=not args.energies_only,
            reuse_orbitals=args.reuse_orbitals,
            retry_failed=args.retry_failed,
            max_frames=args.max_frames,
            known=args.known,
            progress=not args.no_progress,
        )
    except (ValueError, KeyError, ProgramNotFoundError) as error:
        print(f"fusionpot label: error: {error}", file=sys.stderr)
        return 2
    print(
        f"{summary.labelled} labelled, {summary.failed} failed, {summary.already_done} already "
        f"done, {summary.known_elsewhere} already done elsewhere, {summary.skipped_failed} "
        f"skipped (failed before) of {summary.total} frames"
    )
    return 0 if summary.failed == 0 else 1
