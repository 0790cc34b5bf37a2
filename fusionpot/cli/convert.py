"""``fusionpot convert``: rMD17 npz, PyRAI2MD JSON or SPaiNN databases to extxyz."""

from __future__ import annotations

import argparse
from pathlib import Path

from fusionpot.data.formats import READERS, convert, detect_format
from fusionpot.errors import UserError

NAME = "convert"
HELP = "Convert rMD17, PyRAI2MD or SchNarc/SPaiNN data to the project's extxyz (eV, Å)."


def parse_indices(text: str) -> slice | list[int]:
    """``"0:100"``, ``"::10"`` (a slice) or ``"0,5,-1"`` (a list of frame indices).

    >>> parse_indices("10:20:2"), parse_indices("3,-1")
    (slice(10, 20, 2), [3, -1])
    """
    try:
        if ":" in text:
            parts = [int(p) if p.strip() else None for p in text.split(":")]
            if len(parts) > 3:
                raise ValueError
            return slice(*parts)
        return [int(p) for p in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--indices {text!r}: give start:stop[:step] or comma-separated integers"
        ) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="npz, JSON (or .tar.xz holding it) or ASE .db")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output extxyz")
    parser.add_argument(
        "--format", choices=sorted(READERS), default=None, help="default: from the suffix"
    )
    parser.add_argument("--indices", type=parse_indices, default=None, help="e.g. 0:100 or 1,5")
    parser.add_argument("--max-frames", type=int, default=None, help="keep the first N selected")
    parser.add_argument(
        "--ignore-nacs", action="store_true", help="pyrai2md: drop non-zero NACs (unknown units)"
    )


def run(args: argparse.Namespace) -> int:
    if args.max_frames is not None and args.max_frames < 1:
        raise UserError(f"--max-frames must be positive, got {args.max_frames}")
    name = args.format or detect_format(args.input)
    options = {"ignore_nacs": True} if args.ignore_nacs else {}
    if options and name != "pyrai2md":
        raise UserError(f"--ignore-nacs applies to pyrai2md data only, not {name}")
    count = convert(args.input, args.output, name, args.indices, args.max_frames, **options)
    print(f"wrote {count} frames to {args.output}")
    return 0
