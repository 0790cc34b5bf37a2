"""The Fusion-MACE model the speed benchmarks share (random weights, comparable in size to
the stock MACE of bench/ase_md.py: 32 channels, hidden 0e+1o, l_max 2, 2 layers)."""

from __future__ import annotations


def speed_model_config(elements: tuple[str, ...], dtype: str):
    """A ``FusionMACEConfig`` for timing (r_max 5 Å, diagram ((A, A), A), vertex weights)."""
    from fusionpot.models import FusionMACEConfig

    return FusionMACEConfig(
        elements=elements,
        r_max=5.0,
        channels=32,
        l_max=2,
        hidden_irreps="0e+1o",
        n_layers=2,
        diagram="((A, A), A)",
        avg_num_neighbors=20.0,
        readout_mlp=16,
        dtype=dtype,
    )
