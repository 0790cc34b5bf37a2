"""One call behind ``fusionpot namd-analyze``: plot, lifetime fit, products and yields."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from fusionpot.namd.analysis import (
    CollectiveVariable,
    ProductRule,
    classify,
    fit_lifetime,
    load_run,
    plot_populations,
    quantum_yields,
    state_fractions,
)

__all__ = ["analyse_run", "load_product_rules"]


def load_product_rules(
    path: str | os.PathLike[str],
) -> tuple[dict[str, CollectiveVariable], list[ProductRule]]:
    """Products YAML::

    collective_variables:
      torsion: {dihedral: [6, 7, 8, 9]}     # 0-based atom indices
      ring: {distance: [1, 15]}
    products:                               # first match wins
      - {name: DHP, ring: [0.0, 1.8]}
      - {name: trans, torsion: [90, 180]}
      - {name: cis, torsion: [0, 90]}
    """
    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, dict) or "products" not in data:
        raise ValueError(f"{path} needs 'collective_variables' and 'products'")
    variables = {}
    for name, spec in data.get("collective_variables", {}).items():
        if not isinstance(spec, dict) or len(spec) != 1:
            raise ValueError(f"collective variable {name!r} must be {{kind: [atoms]}}")
        ((kind, indices),) = spec.items()
        variables[name] = CollectiveVariable(kind, tuple(int(i) for i in indices))
    rules = []
    for entry in data["products"]:
        entry = dict(entry)
        name = entry.pop("name")
        rules.append(ProductRule(name, {k: (float(v[0]), float(v[1])) for k, v in entry.items()}))
    return variables, rules


def analyse_run(
    run_path: str | os.PathLike[str],
    products_path: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> str:
    """Write ``populations.png`` and ``analysis.json`` next to the run (or in ``out_dir``);
    return a short text summary."""
    data = load_run(run_path)
    out = Path(out_dir) if out_dir is not None else Path(run_path).parent
    out.mkdir(parents=True, exist_ok=True)
    n_states = int(data["attrs"]["n_states"])
    fractions = state_fractions(data["active"], n_states)
    time = data["time"]
    result: dict[str, Any] = {
        "n_traj": len(data["traj_id"]),
        "n_hops": int(data["hops"]["accepted"].sum()),
    }
    lines = [f"{result['n_traj']} trajectories, {result['n_hops']} hops"]
    fit = None
    if bool((data["active"][:, 0] > 0).any()):
        fit = fit_lifetime(time, data["active"], n_boot=min(n_boot, 200), seed=seed)
        result["lifetime_fs"] = {"tau": fit.tau, "t0": fit.t0, "ci": [fit.tau_low, fit.tau_high]}
        lines.append(
            f"excited-state lifetime τ = {fit.tau:.1f} fs "
            f"({100 * fit.level:.0f}% CI {fit.tau_low:.1f}–{fit.tau_high:.1f}), "
            f"delay {fit.t0:.1f} fs"
        )
    plot_populations(time, fractions, out / "populations.png", fit)
    if products_path is not None:
        variables, rules = load_product_rules(products_path)
        labels = classify(data["final"]["positions"], variables, rules)
        names = [r.name for r in rules] + ["other"]
        yields = quantum_yields(labels, names, n_boot=n_boot, seed=seed)
        result["quantum_yields"] = {
            k: {"yield": v[0], "ci": [v[1], v[2]]} for k, v in yields.items()
        }
        for name, (y, lo, hi) in yields.items():
            lines.append(f"yield {name}: {y:.3f} (95% CI {lo:.3f}–{hi:.3f})")
    (out / "analysis.json").write_text(json.dumps(result, indent=2))
    lines.append(f"wrote {out / 'populations.png'} and {out / 'analysis.json'}")
    return "\n".join(lines)
