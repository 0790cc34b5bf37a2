"""``fusionpot export``: a checkpoint (or an exported file) -> one TorchScript file."""

from __future__ import annotations

import argparse
import json

NAME = "export"
HELP = (
    "Export a model checkpoint, or re-export an exported file (another dtype or device), "
    "to one TorchScript file (for torch.jit.load, ASE, LAMMPS)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "checkpoint",
        help="model checkpoint (model.pth of training, save_model) or an exported model file",
    )
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
    from fusionpot.export import export_model, load_eager

    metadata = export_model(load_eager(args.checkpoint), args.output, args.dtype, args.device)
    print(f"wrote {args.output}")
    print(json.dumps(metadata, ensure_ascii=False, indent=1))
    return 0
