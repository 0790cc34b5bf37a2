"""Parameter counts of MACE, Fusion-MACE, Cormorant and Fusion-Cormorant at equal size, and
where they sit in both MACEs, with Fusion-MACE's parsimony options.

Every architecture with the package defaults (l_max 2, hidden 0e+1o, 2 layers, radial MLP
64-64-64, readout MLP 16, vertex weights, default diagrams) for the elements H, C, O and one
state, at 8, 16, 32 and 64 channels.

Table 1, all four architectures: total (radial + rest); ``radial`` counts the weights of the
learnable radial functions (MACE's ``conv_tp_weights``, Cormorant's edge-network radial nets).

Table 2, MACE and Fusion-MACE (plain, ``fusion_replaces_linear``, ``share_radial_channels``,
both) per component: node embedding, radial MLPs, interaction linears (``linear_up``, the
linear after the convolution, the species-dependent skip), product basis (MACE's symmetric
contraction, Fusion-MACE's fusion-block vertices), the linear after the product, readouts;
and the total as a fraction of MACE's at the same size. Prints Markdown; builds 36 models
(a few minutes on one thread).

    OMP_NUM_THREADS=1 python bench/param_counts.py [--channels 8 16 32 64] [--radial-mlp 64 64 64]
"""

from __future__ import annotations

import argparse
import warnings
from typing import Any

ARCHS = ("mace", "fusion-mace", "cormorant", "fusion-cormorant")
ELEMENTS = ("H", "C", "O")
#: parameter names that belong to a radial function (both MACEs, both Cormorants)
RADIAL_NAMES = ("conv_tp_weights", "edges.radial")
#: table 2's models: name -> config fields beyond the shared ones
VARIANTS: dict[str, dict[str, Any]] = {
    "mace": {"arch": "mace"},
    "fusion-mace": {"arch": "fusion-mace"},
    "+ fusion_replaces_linear": {"arch": "fusion-mace", "fusion_replaces_linear": True},
    "+ share_radial_channels": {"arch": "fusion-mace", "share_radial_channels": True},
    "+ both": {
        "arch": "fusion-mace",
        "fusion_replaces_linear": True,
        "share_radial_channels": True,
    },
}
#: table 2's components, each with the parameter-name fragments of both MACEs, in order
COMPONENTS: dict[str, tuple[str, ...]] = {
    "embedding": ("node_embedding",),
    "radial MLPs": ("conv_tp_weights",),
    "interaction linears": ("linear_up", "interaction.block.linear.", "interactions", "skip_tp"),
    "product basis": ("symmetric_contractions", "product.block"),
    "product linear": ("products", "product.linear"),
    "readouts": ("readout",),
}


def build(fields: dict[str, Any], channels: int, radial_mlp: list[int]) -> Any:
    from fusionpot.models import build_model

    return build_model(
        {**fields, "elements": ELEMENTS, "channels": channels, "radial_mlp": radial_mlp}
    )


def count(arch: str, channels: int, radial_mlp: list[int]) -> tuple[int, int]:
    """(total, radial) parameters of ``arch`` at ``channels`` channels."""
    total = radial = 0
    for name, parameter in build({"arch": arch}, channels, radial_mlp).named_parameters():
        total += parameter.numel()
        if any(part in name for part in RADIAL_NAMES):
            radial += parameter.numel()
    return total, radial


def component_of(name: str) -> str:
    """The table-2 component of a parameter name: the first whose fragments it contains."""
    for component, fragments in COMPONENTS.items():
        if any(fragment in name for fragment in fragments):
            return component
    raise ValueError(f"parameter {name!r} belongs to no component of {list(COMPONENTS)}")


def breakdown(fields: dict[str, Any], channels: int, radial_mlp: list[int]) -> dict[str, int]:
    """Parameters per component of :data:`COMPONENTS` of one MACE or Fusion-MACE."""
    counts = dict.fromkeys(COMPONENTS, 0)
    for name, parameter in build(fields, channels, radial_mlp).named_parameters():
        counts[component_of(name)] += parameter.numel()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, nargs="+", default=[8, 16, 32, 64])
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

    print("\nwhere the parameters sit (per component, all layers)\n")
    print("| channels | model | total | × MACE | " + " | ".join(COMPONENTS) + " |")
    print("|---" * (len(COMPONENTS) + 4) + "|")
    for channels in args.channels:
        mace_total = 0
        for variant, fields in VARIANTS.items():
            counts = breakdown(fields, channels, args.radial_mlp)
            total = sum(counts.values())
            mace_total = mace_total or total
            cells = [str(channels), variant, str(total), f"{total / mace_total:.2f}"]
            cells += [str(n) for n in counts.values()]
            print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
