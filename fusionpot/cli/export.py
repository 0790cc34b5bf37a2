"""``fusionpot export``: a checkpoint -> one TorchScript file with its metadata."""

from __future__ import annotations

import argparse
import json

NAME = "export"
HELP = "Export a model checkpoint to one TorchScript file (for torch.jit.load, ASE, LAMMPS)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="model checkpoint written by save_model or training")
    parser.add_argument("-o", "--output", required=True, help="exported file to write")
    parser.add_argument(
        "--dtype",
        choices=("float64", "float32"),
        default=None,
        help="dtype of the exported model (default: the checkpoint's)",
    )
    parser.add_argument(
        "--device", default="cpu", help="device the saved tensors live on (default: cpu)"
    )


def run(args: argparse.Namespace) -> int:
    from fusionpot.export import export_model
    from fusionpot.models import load_model

    metadata = export_model(load_model(args.checkpoint), args.output, args.dtype, args.device)
    print(f"wrote {args.output}")
    print(json.dumps(metadata, ensure_ascii=False, indent=1))
    return 0
