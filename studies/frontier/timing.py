"""ms per energy + forces call of a model on one molecule (one thread, eval mode)."""

from __future__ import annotations

import time

import ase
import torch

from fusionpot.data import atoms_to_graph
from fusionpot.models import ForceOutput
from fusionpot.models.base import EnergyModel


def ms_per_call(model: EnergyModel, atoms: ase.Atoms, calls: int = 20) -> float:
    """Fastest of ``calls`` energy + forces evaluations (ms) of every state of ``model`` (an
    energy model) on ``atoms``, after 3 warm-up calls (the fastest, not the median: on a
    shared machine the others' load only ever adds time); the graph is built beforehand,
    so this is the model alone, in the current thread count."""
    config = model.config
    wrapped = ForceOutput(model.eval(), compute_stress=False)
    graph = atoms_to_graph([atoms], config.elements, config.r_max, dtype=config.torch_dtype)
    times = []
    for k in range(3 + calls):
        start = time.perf_counter()
        wrapped(graph)
        if k >= 3:
            times.append(time.perf_counter() - start)
    return 1000.0 * min(times)


def time_models(dataset: str, channels: int) -> None:
    """Print params and ms/call of every model of :data:`~studies.frontier.grid.MODELS` at
    ``channels`` channels (random weights, float64, one thread) on the first test frame
    of the rMD17 set ``dataset``, as a Markdown table."""
    from fusionpot.data import read_rmd17
    from fusionpot.models import build_model
    from studies.frontier.grid import COMMON_MODEL, MODELS, RMD17

    torch.set_num_threads(1)
    atoms = read_rmd17(RMD17 / f"rmd17_{dataset}_test_01.npz", [0])[0]
    elements = tuple(sorted(set(atoms.get_chemical_symbols())))
    print(f"{dataset} ({len(atoms)} atoms), {channels} channels, float64, 1 thread\n")
    print("| model | option | params | ms/call |\n|---|---|---|---|")
    for name, (arch, option, fields) in MODELS.items():
        torch.manual_seed(0)
        model = build_model(
            {"arch": arch, "elements": elements, "channels": channels, **COMMON_MODEL, **fields}
        )
        params = sum(p.numel() for p in model.parameters())
        print(f"| {name} | {option} | {params} | {ms_per_call(model, atoms):.1f} |", flush=True)
