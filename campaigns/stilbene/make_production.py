"""Export the stilbene S0/S1/S2 production potential from an active-learning round and
measure it against the demo potential and stock MACE on the same held-out frames.

    python campaigns/stilbene/make_production.py 3 --member 2 [--mace-run committee/round_3/mace]

1. exports ``committee/round_N/member_K/model.pth`` (float32; K from ``--member``, default
   0) to ``stilbene_s012.pt``, with its split (``stilbene_s012_split.json``) and training
   config (``stilbene_s012_train.yaml``, data paths relative to it) beside it: what
   ``fusionpot demo`` reads. Choose the member by a dynamics screen first
   (``examples/stilbene/run_study.py --model M --n-cis 32 --time 250``: no broken
   molecule); held-out errors alone do not show a member that pulls molecules apart;
2. relaxes its cis and trans S0 minima (``stilbene_s012_{cis,trans}_minimum.xyz``; BFGS
   from the MRSF-labelled xTB minima of the seed set) and stops, leaving every shipped
   file as it was, unless the cis minimum has a C=C torsion |φ| ≤ 60°, the trans one
   |φ| ≥ 150°, and trans lies below cis in S0 energy (MRSF at the xTB minima: 281 meV
   below; ``check_energetics.py`` compares more) (the model is exported to a hidden
   candidate file first);
3. evaluates on the round's fixed test split (``committee/round_N/data/test.extxyz``):
   the production model, the committee's other members, the shipped model it replaces
   (measured before it is overwritten), stock MACE trained on the same
   split (if ``--mace-run`` holds its ``model.pth``) and the demo potential, the latter
   only on test frames it was not trained on; per state energy MAE (meV/atom) and force
   MAE (meV/Å), S1-S0 gap MAE (meV) on all test frames and on those with an MRSF gap
   below 0.5 eV; parameters; and the time of one energy+forces call for 1 and 64
   molecules (CPU, one thread). Writes ``stilbene_s012_metrics.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import ase
import ase.io
import torch
import yaml
from paths import POTENTIALS
from stilbene_common import TORSION, held_out_errors, xtb_minima

from fusionpot import FusionCalculator
from fusionpot.data import atoms_to_graph
from fusionpot.export import export_model, load_eager, load_potential
from fusionpot.models.config import DTYPES
from fusionpot.namd.analysis import CollectiveVariable

HERE = Path(__file__).resolve().parent
DEMO = POTENTIALS / "stilbene_s012_demo.pt"
DEMO_SPLIT = POTENTIALS / "stilbene_s012_demo_split.json"
PRODUCTION = POTENTIALS / "stilbene_s012.pt"


#: |C=C torsion| (degrees) a production model's S0 minima must keep: cis below, trans above
CIS_MAX_DEG, TRANS_MIN_DEG = 60.0, 150.0


def relax_minima(model: Path) -> dict[str, ase.Atoms]:
    """S0 minima of ``model`` from the MRSF-labelled xTB cis and trans minima (BFGS, every
    normal mode real), each with its S0 energy (eV) in ``info["energy_s0"]``."""
    from fusionpot.namd import ExportedModelProvider, find_minimum

    provider = ExportedModelProvider(model)
    minima = {}
    for name, start in xtb_minima().items():
        atoms = find_minimum(provider, start)
        atoms.calc = FusionCalculator(model, device="cpu", state=0)
        energy = atoms.get_potential_energy()
        minimum = ase.Atoms(atoms.numbers, atoms.positions)
        minimum.info["energy_s0"] = energy
        minima[name] = minimum
        print(f"{name}: torsion {atoms.get_dihedral(*TORSION):.1f}°")
    return minima


def check_minima(minima: dict[str, ase.Atoms], member: Path) -> None:
    """Stop (SystemExit) unless the cis minimum has |φ| ≤ CIS_MAX_DEG, the trans one
    |φ| ≥ TRANS_MIN_DEG, and trans is the lower in S0 (``info["energy_s0"]``, eV): a model
    whose trans-stilbene slides to a twisted S0 minimum cannot start the study's trans
    ensemble (round 3's member 2: 73°), and one that puts trans above cis (the round-2
    model at the xTB geometries: +254 meV, MRSF −281 meV) decides where the molecules end
    up by its error."""
    twist = CollectiveVariable("dihedral", TORSION)  # |φ|, 0..180°
    torsion = {name: float(twist(a.positions[None])[0]) for name, a in minima.items()}
    if torsion["cis"] > CIS_MAX_DEG or torsion["trans"] < TRANS_MIN_DEG:
        raise SystemExit(
            f"make_production.py: {member}'s S0 minima are not stilbene's: cis |φ| = "
            f"{torsion['cis']:.0f}° (want ≤ {CIS_MAX_DEG:.0f}°), trans |φ| = "
            f"{torsion['trans']:.0f}° (want ≥ {TRANS_MIN_DEG:.0f}°); {PRODUCTION.name} unchanged"
        )
    above = 1000.0 * (minima["trans"].info["energy_s0"] - minima["cis"].info["energy_s0"])
    if above >= 0.0:
        raise SystemExit(
            f"make_production.py: {member} puts the trans S0 minimum {above:.0f} meV above "
            f"the cis one (MRSF at the xTB minima: 281 meV below); {PRODUCTION.name} unchanged"
        )


def write_minima(minima: dict[str, ase.Atoms]) -> None:
    for name, atoms in minima.items():
        out = POTENTIALS / f"stilbene_s012_{name}_minimum.xyz"
        energy = atoms.info.pop("energy_s0")
        comment = f"{name} S0 minimum of stilbene_s012.pt (all modes real; E_S0 {energy:.4f} eV)"
        tmp = out.with_name(f".{out.name}.tmp")
        ase.io.write(tmp, atoms, format="xyz", comment=comment)
        os.replace(tmp, out)


def call_time_ms(model: Path | str, molecule: ase.Atoms, n: int, repeats: int = 5) -> float:
    module, meta = load_potential(model, "cpu")
    graph = atoms_to_graph([molecule] * n, meta["elements"], meta["r_max"], DTYPES[meta["dtype"]])
    module(graph, -1, True, False)
    start = time.perf_counter()
    for _ in range(repeats):
        module(graph, -1, True, False)
    return 1000 * (time.perf_counter() - start) / repeats


def write_provenance(round_dir: Path, member: int, seed: int) -> None:
    """The round's split and training config beside the production model (atomically)."""
    split = (round_dir / "data" / "split.json").read_text()
    config = yaml.safe_load((round_dir / "train.yaml").read_text())
    for part in ("train", "test"):
        paths = config["data"][part]
        paths = paths if isinstance(paths, list) else [paths]
        # relative to the config's folder, there and here (as `fusionpot train` reads them)
        config["data"][part] = [os.path.relpath(round_dir / path, POTENTIALS) for path in paths]
    config["seed"] = seed
    header = (
        f"# the training config of stilbene_s012.pt ({round_dir.name}, member {member}, "
        f"seed {seed})\n"
    )
    for name, text in (
        ("stilbene_s012_split.json", split),
        ("stilbene_s012_train.yaml", header + yaml.safe_dump(config, sort_keys=False)),
    ):
        tmp = POTENTIALS / f".{name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, POTENTIALS / name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("round", type=int)
    parser.add_argument("--mace-run", type=Path, default=None)
    parser.add_argument("--member", type=int, default=0, help="committee member to export")
    args = parser.parse_args()
    torch.set_num_threads(1)
    round_dir = HERE / "committee" / f"round_{args.round}"
    chosen = round_dir / f"member_{args.member}" / "model.pth"
    if not chosen.exists():
        raise SystemExit(f"make_production.py: {chosen} is missing (train the round first)")
    members = sorted(round_dir.glob("member_*/model.pth"))
    test = ase.io.read(round_dir / "data" / "test.extxyz", index=":")
    assert isinstance(test, list)
    candidate = PRODUCTION.with_name(f".{PRODUCTION.name}.candidate")
    export_model(load_eager(chosen), candidate, dtype="float32")
    minima = relax_minima(candidate)
    try:
        check_minima(minima, chosen)
    except SystemExit:
        candidate.unlink()
        raise
    # the model this one replaces, on the same frames (the split is fixed by geometry, so
    # no round trained on them), measured before it is overwritten
    replaced = held_out_errors(PRODUCTION, test) if PRODUCTION.exists() else None
    os.replace(candidate, PRODUCTION)
    print(f"exported {chosen} -> {PRODUCTION}")
    seed = int(yaml.safe_load((chosen.parent / "config.yaml").read_text())["seed"])
    write_provenance(round_dir, args.member, seed)
    write_minima(minima)
    demo_campaign = json.loads(DEMO_SPLIT.read_text())["campaign"]
    demo_train = set(demo_campaign["train"]) | set(demo_campaign["valid"])
    unseen_by_demo = [
        a
        for a in test
        if a.info.get("data_source") != "seed" and a.info["frame_id"] not in demo_train
    ]
    results: dict[str, dict[str, float]] = {}
    results[f"production (member {args.member})"] = held_out_errors(PRODUCTION, test)
    for member in members:
        if member != chosen:
            results[member.parent.name.replace("_", " ")] = held_out_errors(member, test)
    if replaced is not None:
        results["the model it replaced"] = replaced
    if args.mace_run is not None and (args.mace_run / "model.pth").exists():
        results["stock MACE, same split"] = held_out_errors(args.mace_run / "model.pth", test)
    results["production on demo-unseen"] = held_out_errors(PRODUCTION, unseen_by_demo)
    results["demo on demo-unseen"] = held_out_errors(DEMO, unseen_by_demo)
    molecule = ase.io.read(POTENTIALS / "stilbene_s012_trans_minimum.xyz")
    assert isinstance(molecule, ase.Atoms)
    for name, model in (("production", PRODUCTION), ("demo", DEMO)):
        results[f"speed {name}"] = {
            "ms_1": call_time_ms(model, molecule, 1),
            "ms_64": call_time_ms(model, molecule, 64),
            "parameters": float(sum(p.numel() for p in load_eager(model).parameters())),
        }
    (POTENTIALS / "stilbene_s012_metrics.json").write_text(json.dumps(results, indent=1) + "\n")
    header = "| model | frames | S0 E / F | S1 E / F | S2 E / F | gap | gap < 0.5 eV (n) |"
    print(header + "\n|---|---|---|---|---|---|---|")
    for name, r in results.items():
        if "E0" in r:
            cells = " | ".join(f"{r[f'E{s}']:.1f} / {r[f'F{s}']:.0f}" for s in range(3))
            print(
                f"| {name} | {r['n_frames']:.0f} | {cells} | {r['gap']:.0f} | "
                f"{r['gap_near']:.0f} ({r['n_near']:.0f}) |"
            )
        else:
            print(f"{name}: {r}")


if __name__ == "__main__":
    main()
