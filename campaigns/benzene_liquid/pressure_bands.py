"""The models' pressure against GFN1-xTB's on labelled frames, by density band: no MD.

    python campaigns/benzene_liquid/pressure_bands.py MODEL [MODEL ...] \\
        [--frames F.extxyz ...] [--edges 0.8 0.9] [--json OUT.json]

Under NPT a model finds the density where *its* pressure is 1 atm, so a pressure error
that grows with density moves the liquid's density (GFN1-xTB's liquid is soft: ~850 bar per
0.1 g/cm³, ``data/README.md``). This script measures that error where it matters without
running NPT: for every frame of ``--frames`` (default: the GFN1-xTB-labelled geometries of
the models' own NPT runs, ``data/driven_4/`` and ``data/driven_5/``) the paired difference
P_model − P_GFN1-xTB of the virial pressures on the same geometry (bar; the liquid's
pressure fluctuations cancel), then per density band (``--edges`` in g/cm³) its mean and
the standard error of up to 5 block means (frames in file order, so blocks follow the runs'
time) and the frame count. Frames a model was trained on are not told apart: give files
of unseen frames to measure generalisation.

Prints a markdown table (one row per model, one column per band and one for all frames);
``--json`` also writes it as JSON. A missing file is a one-line error.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms, units
from validate import (  # the sibling script: one implementation of each piece
    InputError,
    block_average,
    density_g_cm3,
    model_calculator,
    read_reference,
    unlabelled,
    virial_pressure,
)

from fusionpot._io import atomic_write_text

HERE = Path(__file__).resolve().parent
FRAMES = [
    HERE / "data" / "driven_4" / "labelled.extxyz",
    HERE / "data" / "driven_5" / "labelled.extxyz",
]
#: at most this many blocks for a band's standard error
MAX_BLOCKS = 5


def band_names(edges: Sequence[float]) -> list[str]:
    """Names of the bands that ``edges`` (g/cm³, increasing) cut: ``<0.8``, ``0.8–0.9``,
    ``>0.9`` for ``[0.8, 0.9]``; none without edges."""
    if not edges:
        return []
    inner = [f"{lo:g}–{hi:g}" for lo, hi in itertools.pairwise(edges)]
    return [f"<{edges[0]:g}", *inner, f">{edges[-1]:g}"]


def paired_differences(model: Path, device: str, frames: Sequence[Atoms]) -> np.ndarray:
    """P_model − P_label (bar) of the virial pressure on each of ``frames`` [n_frames]."""
    calc = model_calculator(model, device)
    differences = []
    for frame in frames:
        atoms = unlabelled(frame)
        atoms.calc = calc
        differences.append((virial_pressure(atoms) - virial_pressure(frame)) / units.bar)
    return np.asarray(differences)


def summarise(differences: np.ndarray, densities: np.ndarray, edges: Sequence[float]) -> dict:
    """Per band of ``edges`` and for all frames: ``{"frames", "bias_bar", "error_bar"}``
    (mean and block standard error; error NaN below 2 frames, bias NaN for none)."""
    bands = np.digitize(densities, edges)
    chosen = {name: bands == k for k, name in enumerate(band_names(edges))}
    chosen["all"] = np.ones(len(differences), dtype=bool)
    out = {}
    for name, mask in chosen.items():
        x = differences[mask]
        if len(x) >= 2:
            bias, error = block_average(x, min(MAX_BLOCKS, len(x)))
        else:
            bias, error = (float(x[0]) if len(x) else float("nan")), float("nan")
        out[name] = {"frames": len(x), "bias_bar": bias, "error_bar": error}
    return out


def table(results: dict[str, dict], edges: Sequence[float]) -> str:
    """Markdown: one row per model, ``bias ± error (n)`` per band and for all frames."""
    columns = [*band_names(edges), "all"]
    lines = [
        "| model | " + " | ".join(f"{c} g/cm³" if c != "all" else "all" for c in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for model, bands in results.items():
        cells = []
        for c in columns:
            b = bands[c]
            cells.append(f"{b['bias_bar']:+.0f} ± {b['error_bar']:.0f} ({b['frames']})")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pressure_bands.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("models", type=Path, nargs="+", help="exported models (H, C)")
    p.add_argument("--frames", type=Path, nargs="+", default=FRAMES, help="labelled extxyz")
    p.add_argument("--edges", type=float, nargs="*", default=[0.8, 0.9], help="g/cm³")
    p.add_argument("--device", default="auto", help="torch device of the models")
    p.add_argument("--json", type=Path, help="also write the results here")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    edges = sorted(args.edges)
    try:
        frames = [frame for path in args.frames for frame in read_reference(path)]
        densities = np.array([density_g_cm3(frame) for frame in frames])
        results = {
            str(model): summarise(paired_differences(model, args.device, frames), densities, edges)
            for model in args.models
        }
    except InputError as error:
        print(f"pressure_bands.py: {error}", file=sys.stderr)
        return 2
    print(
        f"P_model − P_GFN1-xTB (bar), paired, on {len(frames)} frames of "
        + ", ".join(map(str, args.frames))
    )
    print(table(results, edges))
    if args.json is not None:
        payload = {"frames": [str(p) for p in args.frames], "edges_g_cm3": edges, "models": results}
        atomic_write_text(args.json, json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
