"""A real 2 fs surface-hopping run of the shipped stilbene demonstration potential, made
through ``fusionpot.cli.main`` (for tests of ``fusionpot namd-analyze``)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import ase.io
import numpy as np

from fusionpot.cli import main

REPO = Path(__file__).resolve().parents[2]
STILBENE = REPO / "potentials" / "stilbene"
TRANS_MINIMUM = STILBENE / "stilbene_s012_demo_trans_minimum.xyz"


def short_stilbene_run(folder: Path, states: Sequence[int]) -> Path:
    """Run one trajectory per entry of ``states`` (its starting state), each from the demo
    potential's trans minimum displaced by 0.02 Å noise (seed 0), for 2 fs at 0.5 fs with
    positions recorded every 2 steps; returns ``folder/out/run.h5``."""
    trans = ase.io.read(TRANS_MINIMUM)
    rng = np.random.default_rng(0)
    frames = []
    for state in states:
        atoms = trans.copy()
        atoms.positions += rng.normal(scale=0.02, size=atoms.positions.shape)
        atoms.info["state"] = state
        frames.append(atoms)
    ase.io.write(folder / "initial.extxyz", frames)
    config = folder / "stilbene.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            provider:
              factory: fusionpot.namd:ExportedModelProvider
              kwargs: {{model: {STILBENE / "stilbene_s012_demo.pt"}, device: cpu}}
            initial: {{file: {{path: initial.extxyz}}}}
            dynamics: {{dt: 0.5, n_substeps: 20, coupling: ktdc, rescale: velocity}}
            stop: {{max_time: 2.0}}
            run: {{seed: 1, output: out, geometry_stride: 2}}
            """
        )
    )
    assert main(["namd", str(config), "--no-progress"]) == 0
    return folder / "out" / "run.h5"
