"""``fusionpot eval model.pth data.extxyz``: error table of a model on labelled frames
(energies and forces per state; S0's stress where frames carry ASE's ``stress``);
``--by KEY`` adds a table per value of ``atoms.info[KEY]`` with the mean signed errors of
the energy and the pressure (:mod:`fusionpot.train.grouped`)."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from fusionpot.errors import UserError

NAME = "eval"
HELP = "energy, force (per state) and stress errors of a saved model on labelled frames"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model", help="a checkpoint of fusionpot train (model.pth) or an exported potential"
    )
    parser.add_argument("data", nargs="+", help="labelled frames (extxyz or any ASE format)")
    parser.add_argument(
        "--energy-keys",
        nargs="+",
        default=None,
        help="energy key per state (default: energy_s0, energy_s1, ... or ASE's energy)",
    )
    parser.add_argument(
        "--forces-keys", nargs="+", default=None, help="forces key per state (as above)"
    )
    parser.add_argument("--batch-size", type=int, default=32, help="frames per model call")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--output", default=None, help="also write the table here (Markdown)")
    parser.add_argument("--parity", default=None, help="write a parity plot here (PNG)")
    parser.add_argument(
        "--by",
        metavar="KEY",
        default=None,
        help="also a table per value of the frames' info[KEY] (e.g. subset, config_type): "
        "energy MAE and mean signed error (model - label) per atom, force MAE, pressure mean "
        "error; a systematic error that the MAE hides",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    # e3nn 0.4.4's o3.Linear annotates instance attributes; TorchScript warns while building
    warnings.filterwarnings("ignore", message="The TorchScript type system")
    from fusionpot._io import atomic_write_text
    from fusionpot.export import load_eager
    from fusionpot.train import evaluate, metrics_table, read_files, resolve_device
    from fusionpot.train.grouped import group_errors, grouped_table
    from fusionpot.train.report import plot_parity

    if (args.energy_keys is None) != (args.forces_keys is None):
        raise UserError("give --energy-keys and --forces-keys together, one per state")
    device = resolve_device(args.device)
    model = load_eager(args.model).to(device)  # an exported file or a checkpoint
    data, _, _ = read_files(args.data, args.energy_keys, args.forces_keys)
    predictions = evaluate(model, data, args.batch_size, device, progress=not args.no_progress)
    n_parameters = sum(p.numel() for p in model.parameters())
    report = (
        f"# {args.model}: {model.config.arch} ({n_parameters} parameters) on "
        f"{', '.join(args.data)} ({len(data)} frames)\n\n"
        f"{metrics_table(predictions.errors.metrics())}\n"
    )
    if args.by is not None:
        table = grouped_table(group_errors(data, predictions, args.by), args.by)
        report += f"\n## By {args.by}\n\n{table}\n"
    print(report)
    if args.output is not None:
        atomic_write_text(Path(args.output), report)
    if args.parity is not None:
        plot_parity(data, predictions, Path(args.parity))
    return 0
