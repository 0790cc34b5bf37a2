"""One call behind ``fusionpot namd-analyze``: plot, lifetime, hops, products and yields."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from fusionpot.namd.analysis import (
    UNDETERMINED,
    CollectiveVariable,
    ProductRule,
    classify,
    fit_lifetime,
    load_run,
    outcomes,
    plot_populations,
    quantum_yields,
    state_fractions,
)
from fusionpot.namd.integrity import BROKEN, first_breaks

__all__ = ["analyse_run", "hop_counts", "load_product_rules"]


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


def hop_counts(hops: dict[str, np.ndarray]) -> dict[str, int]:
    """Hop attempts of a run (its ``hops`` group): accepted up (to a higher state), down,
    and frustrated (attempted, not accepted)."""
    accepted = np.asarray(hops["accepted"]).astype(bool)
    up = np.asarray(hops["target"]) > np.asarray(hops["source"])
    return {
        "accepted": int(accepted.sum()),
        "up": int((accepted & up).sum()),
        "down": int((accepted & ~up).sum()),
        "frustrated": int((~accepted).sum()),
    }


def _final_by_trajectory(data: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(final active [n_traj], −1 where a trajectory has no final record; its row in
    ``final`` [n_traj], −1 likewise), aligned with ``traj_id``."""
    final = data["final"]
    n_traj = len(data["traj_id"])
    active, row = np.full(n_traj, -1), np.full(n_traj, -1)
    if "traj_id" in final:
        where = np.searchsorted(data["traj_id"], final["traj_id"])
        active[where] = final["active"]
        row[where] = np.arange(len(final["traj_id"]))
    return active, row


def break_times(data: dict[str, Any]) -> np.ndarray:
    """Time (fs) from which each trajectory's molecule stays broken apart
    (:mod:`fusionpot.namd.integrity`, over the recorded ``positions`` and then the final
    geometry), NaN where the molecule ended whole or nothing was recorded:
    [n_traj], aligned with ``traj_id``."""
    n_traj = len(data["traj_id"])
    out = np.full(n_traj, np.nan)
    if "numbers" not in data or "positions" not in data:
        return out
    _, row = _final_by_trajectory(data)
    has_final = row >= 0
    final = np.full((n_traj, 1, *data["positions"].shape[2:]), np.nan)
    final[has_final, 0] = data["final"]["positions"][row[has_final]]
    final_time = np.full((n_traj, 1), np.nan)
    final_time[has_final, 0] = data["final"]["time"][row[has_final]]
    recorded_time = np.broadcast_to(
        data["time"][data["geometry_step"]], data["positions"].shape[:2]
    )
    paths = np.concatenate([data["positions"], final], axis=1)
    path_times = np.concatenate([recorded_time, final_time], axis=1)
    first = first_breaks(data["numbers"], paths)
    broke = first >= 0
    out[broke] = path_times[np.flatnonzero(broke), first[broke]]
    return out


def _censor(time: np.ndarray, active: np.ndarray, t_break: np.ndarray) -> np.ndarray:
    """``active`` [n_traj, n_frames] with every frame from a trajectory's break on (NaN
    in ``t_break``: none) marked stopped (−1), so a lifetime is censored there."""
    censored = active.copy()
    after = time[None, :] >= np.where(np.isnan(t_break), np.inf, t_break)[:, None]
    after[:, 0] = False  # the first frame stays: a trajectory needs one record
    censored[after] = -1
    return censored


def analyse_run(
    run_path: str | os.PathLike[str],
    products_path: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    min_decayed: int = 5,
    min_fraction: float = 0.1,
) -> str:
    """Write ``populations.png`` and ``analysis.json`` next to the run (or in ``out_dir``);
    return a short text summary.

    The lifetime is :func:`~fusionpot.namd.analysis.fit_lifetime` (Kaplan–Meier with
    censoring; "not reached" below ``min_decayed``/``min_fraction``). Yields count a
    trajectory for a product only if it ended on S0 in that product's region; the rest
    are "undetermined" (split in the JSON into still excited, on S0 in no region, on S0
    with the molecule broken apart, and unfinished). A trajectory whose molecule broke
    (:func:`break_times`) is censored at the break in the lifetime and is never a product;
    the populations plot shows the dynamics as run. Every fraction is of all
    trajectories, with its bootstrap interval.
    """
    data = load_run(run_path)
    out = Path(out_dir) if out_dir is not None else Path(run_path).parent
    out.mkdir(parents=True, exist_ok=True)
    n_states = int(data["attrs"]["n_states"])
    fractions = state_fractions(data["active"], n_states)
    time = data["time"]
    n_traj = len(data["traj_id"])
    hops = hop_counts(data["hops"])
    result: dict[str, Any] = {"n_traj": n_traj, "n_hops": hops["accepted"], "hops": hops}
    lines = [
        f"{n_traj} trajectories, {time[-1]:.1f} fs; {hops['accepted']} hops "
        f"({hops['up']} up, {hops['down']} down), {hops['frustrated']} frustrated"
    ]
    t_break = break_times(data)
    broke = ~np.isnan(t_break)
    result["broken"] = {
        "count": int(broke.sum()),
        "times_fs": [float(t) for t in t_break[broke]],
        "criterion": f"a bond of the first geometry longer than {BROKEN} x the sum of its "
        "atoms' covalent radii from a recorded geometry to the end (fusionpot.namd.integrity)",
    }
    if broke.any():
        lines.append(
            f"{int(broke.sum())} of {n_traj} molecules broke apart (a bond beyond {BROKEN}× its "
            f"covalent length for good; first at {np.min(t_break[broke]):.0f} fs, median "
            f"{np.median(t_break[broke]):.0f} fs): censored there in the lifetime, "
            "undetermined in the yields — an artefact of the potential"
        )
    lifetime = fit_lifetime(
        time,
        _censor(time, data["active"], t_break),
        n_boot=min(n_boot, 200),
        seed=seed,
        min_decayed=min_decayed,
        min_fraction=min_fraction,
    )
    result["lifetime_fs"] = lifetime.as_dict()
    lines.append(lifetime.describe())
    plot_populations(time, fractions, out / "populations.png", lifetime)
    if products_path is not None:
        variables, rules = load_product_rules(products_path)
        final_active, row = _final_by_trajectory(data)
        labels = np.full(n_traj, "other", dtype=object)
        has_final = row >= 0
        labels[has_final] = classify(data["final"]["positions"][row[has_final]], variables, rules)
        labels[broke] = "other"  # a broken molecule is no product
        outcome = outcomes(labels, final_active)
        names = [r.name for r in rules] + [UNDETERMINED]
        yields = quantum_yields(outcome, names, n_boot=n_boot, seed=seed)
        reasons = {
            "still_excited": int((final_active > 0).sum()),
            "no_product_region": int(((final_active == 0) & (labels == "other") & ~broke).sum()),
            "broken": int(((final_active == 0) & broke).sum()),
            "unfinished": int((~has_final).sum()),
        }
        result["quantum_yields"] = {
            k: {"yield": v[0], "ci": [v[1], v[2]], "count": int((outcome == k).sum())}
            for k, v in yields.items()
        }
        result["quantum_yields"][UNDETERMINED].update(reasons)
        lines.append(
            f"quantum yields, fractions of all {n_traj} trajectories (a product counts only "
            "on S0 in its region at the end):"
        )
        width = max(len(n) for n in names)
        for name, (y, lo, hi) in yields.items():
            count = result["quantum_yields"][name]["count"]
            lines.append(
                f"  {name:<{width}}  {y:.3f} (95% CI {lo:.3f}–{hi:.3f}; {count} of {n_traj})"
            )
        lines.append(
            f"  {UNDETERMINED} = {reasons['still_excited']} still excited + "
            f"{reasons['no_product_region']} on S0 outside every product region + "
            f"{reasons['broken']} on S0 broken apart + "
            f"{reasons['unfinished']} unfinished"
        )
    (out / "analysis.json").write_text(json.dumps(result, indent=2))
    lines.append(f"wrote {out / 'populations.png'} and {out / 'analysis.json'}")
    return "\n".join(lines)
