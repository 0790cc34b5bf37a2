"""Parameter counts of MACE, Fusion-MACE, Cormorant and Fusion-Cormorant at equal size.

Every architecture with the package defaults (l_max 2, hidden 0e+1o, 2 layers, radial MLP
64-64-64, readout MLP 16, vertex weights, default diagrams) for the elements H, C, O and one
state, at 8, 16 and 32 channels. ``radial`` counts the weights of the learnable radial
functions (MACE's ``conv_tp_weights``, Cormorant's edge-network radial nets); ``rest`` is
everything else. Prints a Markdown table; builds 12 models (a few minutes on one thread).

    OMP_NUM_THREADS=1 python bench/param_counts.py [--channels 8 16 32] [--radial-mlp 64 64 64]
"""

from __future__ import annotations

import argparse
import warnings

ARCHS = ("mace", "fusion-mace", "cormorant", "fusion-cormorant")
ELEMENTS = ("H", "C", "O")
#: parameter names that belong to a radial function (both MACEs, both Cormorants)
RADIAL_NAMES = ("conv_tp_weights", "edges.radial")


def count(arch: str, channels: int, radial_mlp: list[int]) -> tuple[int, int]:
    """(total, radial) parameters of ``arch`` at ``channels`` channels."""
    from fusionpot.models import build_model

    model = build_model(
        {"arch": arch, "elements": ELEMENTS, "channels": channels, "radial_mlp": radial_mlp}
    )
    total = radial = 0
    for name, parameter in model.named_parameters():
        total += parameter.numel()
        if any(part in name for part in RADIAL_NAMES):
            radial += parameter.numel()
    return total, radial


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--radial-mlp", type=int, nargs="*", default=[64, 64, 64])
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="The TorchScript type system")
    print(f"radial MLP {args.radial_mlp or 'none (linear)'}; total (radial + rest)\n")
    print("| channels | " + " | ".join(ARCHS) + " |")
    print("|---" * (len(ARCHS) + 1) + "|")
    for channels in args.channels:
        cells = []
        for arch in ARCHS:
            total, radial = count(arch, channels, args.radial_mlp)
            cells.append(f"{total} ({radial} + {total - radial})")
        print(f"| {channels} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
