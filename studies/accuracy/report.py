"""The accuracy study's report: finished cells (JSON records) rendered into
``studies/accuracy/results/accuracy.md``: one table per data set and budget, verdicts against MACE,
extra test sets, timing caveats."""

from __future__ import annotations

import json
import math
import os
import statistics
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from fusionpot._io import atomic_write_text
from studies.accuracy.grid import DATASETS, EMA_NOTE, MODELS, SIZES

# ---------------------------------------------------------------- report


COLUMNS = (
    "model",
    "diagram",
    "weights",
    "size",
    "params",
    "product params",
    "seeds",
    "epochs",
    "E MAE meV",
    "E MAE meV/atom",
    "F MAE meV/Å",
    "train min",
    "ms mol",
    "ms 26 at",
    "ms 64×26 at",
)
HEADER = """# Accuracy: Fusion-MACE vs stock MACE

Written by `python -m studies.accuracy` from the JSON files in
`studies/accuracy/results/<dataset>/` (one per finished cell; do not edit by hand).
Test-set MAE; energies per molecule (meV) and per atom, forces per Cartesian component
(meV/Å), averaged over electronic states for the multi-state sets; mean ± standard
deviation over seeds where there are several. "train min": wall-clock of `fusionpot
train` for the whole budget (all epochs, validation included) on the machine and thread
count recorded in each JSON; "ms": fastest energy + forces call of the trained model
(graph built beforehand) on the data set's molecule, on a 26-atom molecule and on a
batch of 64 of them. The same split, seeds and budget for every model of a data set.
"product params": the weights of the product basis alone (mace-torch's symmetric
contraction or the fusion block); the radial MLPs hold most of every model's parameters
at these sizes. Published numbers come from far larger budgets (thousands of GPU epochs,
larger models) and are shown for scale only.

The exact commands that produced the cells, and the full-grid command, are in the
docstring of `studies/accuracy/campaign.py` (`python -m studies.accuracy --help`, from
the repository root); `python -m studies.accuracy --report` re-renders this file.
"""


def _stat(values: list[float], digits: int) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def _group(records: Iterable[dict[str, Any]]) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """Records by (dataset, epochs, n_test, EMA decay, lr and batch size, size, model):
    seeds pooled."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for record in records:
        cell, training = record["cell"], record["config"]["training"]
        optim = f"lr {training['lr']:g}, {training['batch_size']} frames per step"
        recipe = (
            str(cell["epochs"]),
            str(record["n_test"]),
            f"{cell.get('ema_decay', 0.0):g}",
            optim,
        )
        groups.setdefault((cell["dataset"], *recipe, cell["size"], cell["model"]), []).append(
            record
        )
    return groups


def render(records: Iterable[dict[str, Any]], curves: bool = False) -> str:
    """The Markdown report: a summary, then one table per (data set, budget) with who wins
    where; ``curves``: link the learning-curve figure."""
    groups = _group(records)
    noise = _seed_noise(groups)
    lines = [HEADER, EMA_NOTE, "", *_summary(groups, noise)]
    if curves:
        lines += [f"![Validation force MAE against epoch]({CURVES})", ""]
    tables = sorted({key[:5] for key in groups}, key=lambda k: (k[0], int(k[1]), *k[2:]))
    for table in tables:
        dataset, epochs, n_test, ema, optim = table
        rows = [(k, v) for k, v in groups.items() if k[:5] == table]
        rows.sort(key=_row_order)
        first = rows[0][1][0]
        budget = f"{epochs} epoch{'' if epochs == '1' else 's'}"
        lines += [
            f"## {dataset}: {budget}, {optim}, "
            f"{'no EMA' if ema == '0' else f'EMA {ema}'}, {n_test} test frames "
            f"({first['n_atoms']} atoms, "
            f"{first['n_states']} state{'s' if first['n_states'] > 1 else ''})",
            "",
            f"Test set: {DATASETS[dataset].test_set}.",
            "",
            "| " + " | ".join(COLUMNS) + " |",
            "|" + "---|" * len(COLUMNS),
        ]
        for (*_, size, model), cells in rows:
            spec = MODELS[model]
            cells.sort(key=lambda r: r["cell"]["seed"])
            values = [
                model if spec["arch"] == "fusion-mace" else "MACE (mace-torch)",
                spec.get("diagram", f"caterpillar ν={spec.get('correlation')}"),
                spec.get("weights", "U-matrix"),
                f"{size} ({cells[0]['config']['model']['channels']} ch)",
                str(cells[0]["n_params"]),
                str(cells[0].get("n_product_params", "")),
                ",".join(str(r["cell"]["seed"]) for r in cells),
                epochs,
                _stat([r["energy_mae_meV"] for r in cells], 1),
                _stat([r["energy_mae_meV_per_atom"] for r in cells], 2),
                _stat([r["forces_mae_meV_per_A"] for r in cells], 1),
                _stat([r["train_wall_s"] / 60 for r in cells], 1),
                *(_stat([r["timing_ms"][k] for r in cells], 1) for k in TIMINGS),
            ]
            lines.append("| " + " | ".join(values) + " |")
        published = DATASETS[dataset].published
        if published:
            energy, forces = published
            lines.append(
                f"| MACE, published (Batatia et al. 2022) | | | large | | | | thousands (GPU) | "
                f"{energy} | {energy / first['n_atoms']:.2f} | {forces} | | | | |"
            )
        lines += ["", *_verdicts(rows, noise), "", *_per_state_table(rows)]
        lines += _extra_tests_table(dataset, rows)
        if int(epochs) < 10:
            lines += [
                f"Small budget ({budget}): every model is far from converged, so this "
                "table compares how fast the architectures learn at equal cost and shows the "
                "seed spread; it says nothing about which is more accurate at convergence.",
                "",
            ]
        lines += [_timing_note([r for _, cells in rows for r in cells]), ""]
    return "\n".join(lines)


def _row_order(row: tuple[tuple[str, ...], list[dict[str, Any]]]) -> tuple[int, int]:
    """Rows by size, then model, in the order of SIZES and MODELS."""
    (*_, size, model), _ = row
    return list(SIZES).index(size), list(MODELS).index(model)


def _per_state_table(rows: Rows) -> list[str]:
    """Multi-state sets: energy and force MAE of each state and the S1-S0 gap MAE."""
    records = [r for _, cells in rows for r in cells]
    n_states = records[0]["n_states"]
    if n_states == 1:
        return []
    states = [f"S{k}" for k in range(n_states)]
    header = [h for k in states for h in (f"{k} E MAE meV", f"{k} F MAE meV/Å")]
    lines = [
        "Per state (same models as above):",
        "",
        "| model | size | seeds | " + " | ".join(header) + " | S1−S0 gap MAE meV |",
        "|" + "---|" * (4 + len(header)),
    ]
    for (*_, size, model), cells in sorted(rows, key=_row_order):
        values = [model, size, ",".join(str(_seed(r)) for r in cells)]
        for k in range(n_states):
            values.append(_stat([r["per_state"]["energy_mae_meV"][k] for r in cells], 1))
            values.append(_stat([r["per_state"]["forces_mae"][k] for r in cells], 1))
        gaps = [r["gap_mae_meV"] for r in cells if "gap_mae_meV" in r]
        values.append(_stat(gaps, 1) if len(gaps) == len(cells) else "")
        lines.append("| " + " | ".join(values) + " |")
    return [*lines, ""]


def _extra_tests_table(
    dataset: str, rows: list[tuple[tuple[str, ...], list[dict[str, Any]]]]
) -> list[str]:
    """Errors on the data set's extra test sets (never trained on), by model; a force
    column only where the set has forces."""
    records = [r for _, cells in rows for r in cells]
    names = [
        n
        for n in DATASETS[dataset].extra_tests
        if any(n in r.get("extra_tests", {}) for r in records)
    ]
    if not names:
        return []
    columns: list[tuple[str, str, str]] = []  # (test set, field, header)
    for name in names:
        columns.append((name, "energy_mae_meV", f"{name}: E MAE meV"))
        if any(
            not math.isnan(r["extra_tests"][name]["forces_mae_meV_per_A"])
            for r in records
            if name in r.get("extra_tests", {})
        ):
            columns.append((name, "forces_mae_meV_per_A", f"{name}: F MAE meV/Å"))
    lines = [
        f"Extra test sets of {dataset} (never trained on; the same models as above):",
        "",
        "| model | size | seeds | " + " | ".join(c[2] for c in columns) + " |",
        "|" + "---|" * (3 + len(columns)),
    ]
    for (*_, size, model), cells in rows:
        have = [r for r in cells if set(names) <= set(r.get("extra_tests", {}))]
        if have:
            values = [model, size, ",".join(str(r["cell"]["seed"]) for r in have)]
            values += [_stat([r["extra_tests"][n][f] for r in have], 1) for n, f, _ in columns]
            lines.append("| " + " | ".join(values) + " |")
    return [*lines, ""]


def _timing_note(records: list[dict[str, Any]]) -> str:
    loads = [r["timing_load_average"] for r in records if "timing_load_average" in r]
    if not loads:
        return (
            "Call times were taken on a shared, heavily loaded 2-core machine (other jobs "
            "running), so ratios of them are rough."
        )
    return (
        f"Call times were taken with other work on the machine (1-minute load average "
        f"{min(loads):.1f}–{max(loads):.1f} on {os.cpu_count()} cores when timing began), so "
        "ratios of them are rough."
    )


TIMINGS = ("molecule", "atoms26", "atoms26_x64")
CURVES = "accuracy_curves.png"


def _verdicts(rows: Rows, noise: Noise) -> list[str]:
    """One line per Fusion-MACE model: errors, size and speed against MACE's of the same
    size, over the seeds both have (ties: :func:`_outcome`)."""
    baseline = {key[-2]: cells for key, cells in rows if key[-1] == "mace"}
    out = []
    for (*_, size, model), cells in rows:
        if model == "mace" or size not in baseline:
            continue
        ours, ref = _paired(cells, baseline[size])
        if not ours:
            continue
        seeds = sorted(r["cell"]["seed"] for r in ours)
        verdict = [
            _compare(
                kind, [r[field] for r in ours], [r[field] for r in ref], noise.get((size, field))
            )
            for kind, field in (("energy", "energy_mae_meV"), ("forces", "forces_mae_meV_per_A"))
        ]
        params = ours[0]["n_params"] / ref[0]["n_params"]
        speed = statistics.mean(r["timing_ms"]["atoms26_x64"] for r in ours) / statistics.mean(
            r["timing_ms"]["atoms26_x64"] for r in ref
        )
        verdict += [f"×{params:.2f} parameters", f"×{speed:.2f} time per call (64 × 26 atoms)"]
        out.append(
            f"- {model} ({size}) vs MACE ({size}), seeds {seeds}: " + ", ".join(verdict) + "."
        )
    return out


def _paired(
    cells: list[dict[str, Any]], baseline: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The records of both lists over the seeds they share, in seed order."""
    seeds = {r["cell"]["seed"] for r in cells} & {r["cell"]["seed"] for r in baseline}

    def pick(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted((r for r in records if r["cell"]["seed"] in seeds), key=_seed)

    return pick(cells), pick(baseline)


def _seed(record: dict[str, Any]) -> int:
    return int(record["cell"]["seed"])


def _outcome(
    ours: list[float], ref: list[float], relative_noise: float | None = None
) -> tuple[str, float]:
    """("better" | "worse" | "tie", ratio of the means). A tie: a difference smaller than
    either model's spread over seeds or, with one seed, than ``relative_noise`` times
    MACE's error (ethanol's relative seed spread, :func:`_seed_noise`; no ties without)."""
    ratio = statistics.mean(ours) / statistics.mean(ref)
    if len(ours) > 1:
        spread = max(statistics.stdev(ours), statistics.stdev(ref))
    else:
        spread = (relative_noise or 0.0) * statistics.mean(ref)
    if abs(statistics.mean(ours) - statistics.mean(ref)) < spread:
        return "tie", ratio
    return ("better" if ratio < 1 else "worse"), ratio


def _compare(kind: str, ours: list[float], ref: list[float], relative_noise: float | None) -> str:
    """``"forces better (×0.87, ...)"``: the outcome, the ratio and what the tie rule used."""
    outcome, ratio = _outcome(ours, ref, relative_noise)
    if len(ours) > 1:
        basis = "within the seed spread" if outcome == "tie" else ""
    elif relative_noise is not None:
        side = "within" if outcome == "tie" else "beyond"
        basis = f"{side} ethanol's seed spread ±{100 * relative_noise:.0f} %, one seed"
    else:
        basis = "one seed: spread unknown"
    return f"{kind} {outcome} (×{ratio:.2f}{', ' + basis if basis else ''})"


Rows = list[tuple[tuple[str, ...], list[dict[str, Any]]]]
#: relative seed-to-seed spread of an error, by (size, record field)
Noise = dict[tuple[str, str], float]
NOISE_DATASET = "ethanol"  # the data set run with several seeds


def _seed_noise(groups: dict[tuple[str, ...], list[dict[str, Any]]]) -> Noise:
    """Relative seed spread (standard deviation / mean) of the test errors on ethanol at
    its largest budget, the median over the models with several seeds, by size: the
    yardstick for the data sets run with one seed."""
    rows = _main_tables(groups).get(NOISE_DATASET, [])
    noise = {}
    for size in SIZES:
        for field in ("energy_mae_meV", "forces_mae_meV_per_A"):
            spreads = [
                statistics.stdev(values) / statistics.mean(values)
                for (*_, s, _), cells in rows
                if s == size and len(values := [r[field] for r in cells]) > 1
            ]
            if spreads:
                noise[size, field] = statistics.median(spreads)
    return noise


def _main_tables(groups: dict[tuple[str, ...], list[dict[str, Any]]]) -> dict[str, Rows]:
    """Each data set's rows at its largest budget (then: most finished cells)."""
    out = {}
    for dataset in DATASETS:
        tables = {key[:5] for key in groups if key[0] == dataset}
        if not tables:
            continue

        def size_of(table: tuple[str, ...]) -> tuple[int, int]:
            return int(table[1]), sum(len(v) for k, v in groups.items() if k[:5] == table)

        table = max(tables, key=size_of)
        out[dataset] = [(k, v) for k, v in groups.items() if k[:5] == table]
    return out


def _summary(groups: dict[tuple[str, ...], list[dict[str, Any]]], noise: Noise) -> list[str]:
    """Per data set (at its largest budget) and size: MACE's force MAE against the best
    Fusion-MACE's, and how many Fusion-MACE variants are better, tied or worse."""
    lines = [
        "## Summary: test force MAE, Fusion-MACE against MACE of the same size",
        "",
        "| data set | epochs | size | MACE meV/Å | best Fusion-MACE | meV/Å | ×MACE "
        "| ×params | fusion variants better / tie / worse |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for dataset, rows in _main_tables(groups).items():
        for size in SIZES:
            base = [cells for (*_, s, m), cells in rows if s == size and m == "mace"]
            if not base:
                continue
            results = []
            for (*_, s, model), cells in rows:
                if s != size or model == "mace":
                    continue
                ours, ref = _paired(cells, base[0])
                if not ours:
                    continue
                relative = noise.get((size, "forces_mae_meV_per_A"))
                outcome, ratio = _outcome(_forces(ours), _forces(ref), relative)
                params = ours[0]["n_params"] / ref[0]["n_params"]
                results.append((ratio, model, outcome, statistics.mean(_forces(ours)), params))
            if not results:
                continue
            ratio, model, _, forces, params = min(results)
            counts = Counter(r[2] for r in results)
            lines.append(
                f"| {dataset} | {rows[0][0][1]} | {size} | "
                f"{statistics.mean(_forces(base[0])):.1f} | {model} | {forces:.1f} | "
                f"×{ratio:.2f} | ×{params:.2f} | "
                f"{counts['better']} / {counts['tie']} / {counts['worse']} |"
            )
    spreads = ", ".join(
        f"{size} ±{100 * noise[size, 'forces_mae_meV_per_A']:.0f} %"
        for size in SIZES
        if (size, "forces_mae_meV_per_A") in noise
    )
    rule = (
        "A tie: a difference smaller than either model's spread over seeds (ethanol: 3 "
        "seeds) or, for the data sets run with one seed, smaller than ethanol's relative "
        f"seed spread of the force MAE at the same size (median over models: {spreads})."
        if spreads
        else "A tie: a difference smaller than either model's spread over seeds."
    )
    return [*lines, "", rule, ""]


def _forces(records: list[dict[str, Any]]) -> list[float]:
    return [r["forces_mae_meV_per_A"] for r in records]


def plot_learning_curves(groups: dict[tuple[str, ...], list[dict[str, Any]]], path: Path) -> bool:
    """Validation force MAE against epoch, one panel per data set (its largest budget),
    one line per model and size (mean over seeds); False when no record has a history."""
    tables = {
        dataset: [(k, v) for k, v in rows if all("valid_history" in r for r in v)]
        for dataset, rows in _main_tables(groups).items()
    }
    tables = {dataset: rows for dataset, rows in tables.items() if rows}
    if not tables:
        return False
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(tables)
    columns = min(n, 3)
    fig, axes = plt.subplots(
        (n + columns - 1) // columns,
        columns,
        figsize=(4.5 * columns, 3.6 * ((n + 2) // 3)),
        squeeze=False,
    )
    colours = dict(zip(MODELS, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    styles = dict(zip(SIZES, ("--", "-", ":"), strict=True))
    for ax, (dataset, rows) in zip(axes.flat, tables.items(), strict=False):
        for (*_, size, model), cells in sorted(rows, key=_row_order):
            curves = np.array([[h["forces_mae"] for h in r["valid_history"][1:]] for r in cells])
            epochs = np.arange(1, curves.shape[1] + 1)
            label = f"{'MACE' if model == 'mace' else model} {size}"
            ax.plot(epochs, curves.mean(0), styles[size], color=colours[model], label=label)
        ax.set(title=dataset, xlabel="epoch", ylabel="valid force MAE (meV/Å)", yscale="log")
        ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.yaxis.set_minor_formatter(matplotlib.ticker.ScalarFormatter())
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_report(results: Path) -> None:
    """Render every finished cell, ``results/<dataset>/*.json``, into
    ``results/accuracy.md`` (and the learning curves into ``results/accuracy_curves.png``)."""
    records = [json.loads(p.read_text()) for p in sorted(results.glob("*/*.json"))]
    curves = plot_learning_curves(_group(records), results / CURVES)
    atomic_write_text(results / "accuracy.md", render(records, curves))
