"""``frontier.md`` and ``frontier.png`` from whatever runs have finished ("not run" for the
rest of the plan), and the flattening criterion of a learning curve."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from fusionpot._io import atomic_write_text
from fusionpot.train.report import read_metrics_csv
from studies.frontier.grid import MODELS, Recipe, Run
from studies.frontier.job import read_result

#: a curve has flattened when the best validation force MAE of its last WINDOW_FRACTION of
#: epochs (at least MIN_WINDOW epochs) is less than FLAT_GAIN better than the best before
WINDOW_FRACTION = 0.2
MIN_WINDOW = 5
FLAT_GAIN = 0.02
CRITERION = (
    f"flattened: the best validation force MAE of the last {WINDOW_FRACTION:.0%} of the "
    f"epochs (at least {MIN_WINDOW}) improves on the best of all earlier epochs by less "
    f"than {FLAT_GAIN:.0%}; 'too short' below {2 * MIN_WINDOW} epochs"
)


def flattened(valid_forces_mae: list[float]) -> str:
    """``"yes"``, ``"no"`` or ``"too short"`` for a curve of per-epoch validation force MAE
    (meV/Å, epochs 1..n), by :data:`CRITERION`.

    >>> flattened([100, 60, 40, 30, 25, 24.9, 24.8, 24.8, 24.7, 24.6])
    'yes'
    >>> flattened([100, 80, 60, 50, 40, 35, 30, 27, 25, 23])
    'no'
    """
    n = len(valid_forces_mae)
    window = max(MIN_WINDOW, math.ceil(WINDOW_FRACTION * n))
    if n < 2 * window:
        return "too short"
    before = min(valid_forces_mae[:-window])
    last = min(valid_forces_mae[-window:])
    return "yes" if (before - last) / before < FLAT_GAIN else "no"


def row_of(run: Run, work_dir: Path, recipe: Recipe) -> dict[str, Any]:
    """The table row of ``run``: its result when finished, else its status."""
    folder = run.folder(work_dir)
    result = read_result(folder)
    metrics = folder / "metrics.csv"
    curve = (
        [row["valid_forces_mae_s0"] for row in read_metrics_csv(metrics)[1:]]
        if metrics.is_file()
        else []
    )
    row: dict[str, Any] = {"run": run, "result": result, "flattened": flattened(curve)}
    if result is None or result["epochs"] < recipe.epochs:
        row["status"] = f"partial ({len(curve)}/{recipe.epochs} epochs)" if curve else "not run"
    else:
        row["status"] = "done"
    return row


def markdown(rows: list[dict[str, Any]], sets: list[str], recipe: Recipe) -> str:
    """One table row per (model, channels, seed), a force-MAE column per set."""
    keyed: dict[tuple[str, int, int], dict[str, dict[str, Any]]] = {}
    for row in rows:
        run = row["run"]
        keyed.setdefault((run.model, run.channels, run.seed), {})[run.dataset] = row
    header = ["arch", "option", "channels", "seed", "params", "ms/call"]
    header += [f"F MAE {s} (meV/Å)" for s in sets]
    header += ["epochs", "wall-clock (min)", "flattened"]
    lines = [
        "# Parameter-accuracy frontier (rMD17)",
        "",
        f"Recipe: rMD17 split 01, {recipe.n_train} training / {recipe.n_valid} validation "
        f"frames (first frames of the training file), test on {recipe.n_test} test frames; "
        f"{recipe.epochs} epochs, batch {recipe.batch_size}, lr {recipe.lr}, AdamW, EMA "
        "0.99, plateau schedule, float64, one thread. params and ms/call (energy + forces, "
        "first test frame, one thread, fastest of 20) are those of the first set with a "
        "finished run; "
        "epochs, wall-clock (training epochs only) and flattened are given per set, "
        "separated by /.",
        "",
        CRITERION + ".",
        "",
        "| " + " | ".join(header) + " |",
        "|---" * len(header) + "|",
    ]
    for (model, channels, seed), per_set in sorted(
        keyed.items(), key=lambda item: (list(MODELS).index(item[0][0]), item[0][1:])
    ):
        arch, option, _ = MODELS[model]
        done = {s: per_set[s] for s in sets if s in per_set and per_set[s]["status"] == "done"}
        first = next((per_set[s]["result"] for s in sets if s in done), None)
        cells = [arch, option, str(channels), str(seed)]
        cells += [str(first["params"]), f"{first['ms_per_call']:.1f}"] if first else ["-"] * 2
        for s in sets:
            if s in done:
                cells.append(f"{done[s]['result']['forces_mae']:.1f}")
            else:
                cells.append(per_set[s]["status"] if s in per_set else "not planned")
        cells.append(" / ".join(str(r["result"]["epochs"]) for r in done.values()) or "-")
        cells.append(" / ".join(f"{r['result']['wall_s'] / 60:.1f}" for r in done.values()) or "-")
        cells.append(" / ".join(r["flattened"] for r in done.values()) or "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], sets: list[str], path: Path) -> None:
    """Test force MAE against parameters, one panel per set, one curve per model
    (first seed; finished runs only)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sets), figsize=(5 * len(sets), 4), squeeze=False)
    for ax, dataset in zip(axes[0], sets, strict=True):
        for model in MODELS:
            points = sorted(
                (row["result"]["params"], row["result"]["forces_mae"])
                for row in rows
                if row["status"] == "done"
                and row["run"].dataset == dataset
                and row["run"].model == model
                and row["run"].seed == min(r["run"].seed for r in rows)
            )
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="o", label=model)
        ax.set_xscale("log")
        ax.set_xlabel("parameters")
        ax.set_ylabel("test force MAE (meV/Å)")
        ax.set_title(dataset)
        if ax.has_data():
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(
    runs: list[Run], sets: list[str], work_dir: Path, recipe: Recipe, out_dir: Path
) -> Path:
    """Write ``frontier.md`` and ``frontier.png`` into ``out_dir``; returns the .md path."""
    rows = [row_of(run, work_dir, recipe) for run in runs]
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "frontier.md", markdown(rows, sets, recipe))
    plot(rows, sets, out_dir / "frontier.png")
    return out_dir / "frontier.md"
