"""What the speed benchmarks share: their Fusion-MACE model (random weights, comparable in
size to the stock MACE of bench/ase_md.py: 32 channels, hidden 0e+1o, l_max 2, 2 layers),
their two test systems and running a script's own ``--worker`` mode in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

STILBENE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "stilbene_mrsf_seed"
#: the shipped stilbene potentials: the benchmarks time the demo model at a cis geometry
POTENTIALS = Path(__file__).resolve().parents[1] / "potentials" / "stilbene"
DEMO_MODEL = POTENTIALS / "stilbene_s012_demo.pt"
CIS_GEOMETRY = POTENTIALS / "stilbene_s012_cis_minimum.xyz"


def wait(device: torch.device) -> None:
    """Block until the device has finished its queued work (timing only)."""
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)


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


def speed_systems() -> dict[str, object]:
    """The 26-atom stilbene molecule (skipped with a message when ../shared is absent) and
    a rattled 1000-atom periodic diamond box, by name."""
    import ase.io
    from ase.build import bulk

    found: dict[str, object] = {}
    path = STILBENE / "stilbene_mrsf_seed.extxyz"
    if path.is_file():
        found["stilbene, 26 atoms"] = ase.io.read(path, index=0)
    else:
        print(f"skipping the molecule: {path} is absent", file=sys.stderr)
    box = bulk("C", "diamond", a=3.567, cubic=True) * (5, 5, 5)
    box.rattle(0.02, seed=0)
    found["diamond, 1000 atoms, periodic"] = box
    return found


def answer_worker(spec: str | None, worker: Callable[[dict], Any]) -> bool:
    """The worker side of :func:`run_worker`: given the ``--worker`` JSON, print
    ``worker(spec)`` as the last stdout line (JSON) and return True; False without one."""
    if spec is None:
        return False
    print(json.dumps(worker(json.loads(spec))))
    return True


def run_worker(script: str, spec: dict, env: dict[str, str]) -> dict:
    """Run ``python script --worker JSON(spec)`` with ``env``; its last stdout line (JSON)."""
    run = subprocess.run(
        [sys.executable, script, "--worker", json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode != 0:
        sys.exit(f"worker failed:\n{run.stderr[-4000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])
