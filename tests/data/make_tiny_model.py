"""Make the tiny exported model the tests (and the LAMMPS plugin's tests) use.

    python tests/data/make_tiny_model.py                     # -> tests/data/tiny_model.pt
    python tests/data/make_tiny_model.py -o x.pt --dtype float32 --n-states 1

A Fusion-MACE over H, C, O (4 channels, l_max 1, 2 layers, r_max 3 Å, two states by
default) with seeded random weights and a non-trivial E0/scale/shift per state. It is
seeded, so the same command makes the same numbers; ``tests/test_export.py`` checks
that the committed file still matches what this script makes. Every model is
periodic-capable: pass cells and ``edge_cell_shift`` as usual.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from fusionpot.export import export_model
from fusionpot.models import FusionMACE, FusionMACEConfig, build_model

PATH = Path(__file__).with_name("tiny_model.pt")
ELEMENTS = ("H", "C", "O")


def tiny_model(seed: int = 0, n_states: int = 2, dtype: str = "float64") -> FusionMACE:
    """The eager model (float64 or float32) with seeded weights and normalisation."""
    config = FusionMACEConfig(
        elements=ELEMENTS,
        r_max=3.0,
        n_radial=6,
        channels=4,
        l_max=1,
        hidden_irreps="0e+1o",
        n_layers=2,
        diagram="((A, A), h)",
        n_states=n_states,
        avg_num_neighbors=3.0,
        radial_mlp=(8,),
        readout_mlp=8,
        dtype=dtype,
    )
    torch.manual_seed(seed)
    model = build_model(config)
    generator = torch.Generator().manual_seed(seed + 1)
    model.set_energy_normalisation(
        -10.0 * torch.rand(len(ELEMENTS), n_states, generator=generator, dtype=torch.float64),
        10.0 + 5.0 * torch.rand(n_states, generator=generator, dtype=torch.float64),
        0.1 * torch.randn(n_states, generator=generator, dtype=torch.float64),
    )
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default=str(PATH), help="default: %(default)s")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--n-states", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model = tiny_model(args.seed, args.n_states)
    metadata = export_model(model, args.output, dtype=args.dtype)
    print(f"wrote {args.output}: {metadata}")


if __name__ == "__main__":
    main()
