"""One active-learning round for the stilbene S0/S1/S2 potential; resumable step by step.

    python campaigns/stilbene/active_learning.py 2            # run (or continue) round 2
    python campaigns/stilbene/active_learning.py 2 --table    # only rewrite the table

Round N lives in ``committee/round_N/`` and runs these steps, each skipped when its output
exists (so a killed round continues where it stopped; delete a step's output to redo it):

1. ``data/``: the labelled frames as they are now (``prepare_data.py --out``): the seed and
   extra sets (read in place), the campaign's labels, the fixed test split.
2. ``member_<k>/``: a committee of ``--members`` Fusion-MACE models (``train_s012.yaml``,
   seeds 0..K-1, ``fusionpot train --committee``; a killed member resumes).
3. ``{cis,trans}_minimum.xyz``: S0 minima of the committee's mean (BFGS from the MRSF-labelled
   xTB minima of the seed set).
4. ``namd_{cis,trans}/run.h5``: Wigner samples (0 K) of each minimum started on S1, surface
   hopping on the committee's mean (:class:`fusionpot.namd.CommitteeProvider`, κTDC), the
   committee's spread recorded along every trajectory.
5. ``picks.extxyz``: ``fusionpot select`` — the ``--picks`` frames of both runs with the
   largest force spread, 0.1 Å RMSD apart and from every training frame; appended to
   ``pool/selected.extxyz``, which the labelling campaign labels before anything else.
6. ``committee/rounds.md``: one row per round (frames, committee test errors per state, gap
   error of test frames near the seam, spread along the fresh trajectories, hops).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import ase
import ase.io
import h5py
import numpy as np
import yaml
from stilbene_common import NEAR_SEAM_EV, TORSION, held_out_errors, xtb_minima

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
COMMITTEE = HERE / "committee"
SELECTED = HERE / "pool" / "selected.extxyz"


def fusionpot(*args: str) -> None:
    """Run one fusionpot command in a child process (one thread), failing loudly."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "fusionpot", *args], check=True, env=env, cwd=REPO)


def members(round_dir: Path) -> list[Path]:
    return sorted(round_dir.glob("member_*/model.pth"))


def step_data(round_dir: Path) -> None:
    if not (round_dir / "data" / "test.extxyz").exists():
        prepare = [sys.executable, str(HERE / "prepare_data.py"), "--out", str(round_dir / "data")]
        subprocess.run(prepare, check=True, cwd=REPO)


def step_train(round_dir: Path, n_members: int) -> None:
    config = yaml.safe_load((HERE / "train_s012.yaml").read_text())
    config["data"]["train"] = "data/train.extxyz"  # relative to train.yaml
    config["data"]["test"] = "data/test.extxyz"
    path = round_dir / "train.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    done = [p for p in members(round_dir) if (p.parent / "report.md").exists()]
    if len(done) < n_members:
        fusionpot("train", str(path), "--committee", str(n_members), "--run-dir", str(round_dir))


def step_minima(round_dir: Path) -> None:
    from fusionpot.namd import CommitteeProvider, find_minimum

    provider = CommitteeProvider([str(p) for p in members(round_dir)])
    for name, start in xtb_minima().items():
        out = round_dir / f"{name}_minimum.xyz"
        if out.exists():
            continue
        atoms = find_minimum(provider, start)
        torsion = atoms.get_dihedral(*TORSION)
        comment = f"{name} S0 minimum of the round's committee mean (all modes real)"
        tmp = out.with_name(f".{out.name}.tmp")
        ase.io.write(tmp, atoms, format="xyz", comment=comment)
        os.replace(tmp, out)
        print(f"{name} minimum: torsion {torsion:.1f}°")


def step_dynamics(round_dir: Path, n_traj: int, max_time: float) -> None:
    models = [str(p.relative_to(REPO)) for p in members(round_dir)]  # run from the repository
    for name in ("cis", "trans"):
        if (round_dir / f"namd_{name}" / "run.h5").exists():
            continue
        config = {
            "provider": {
                "factory": "fusionpot.namd:CommitteeProvider",
                "kwargs": {"models": models, "device": "cpu"},
            },
            "initial": {
                "wigner": {
                    "geometry": f"{name}_minimum.xyz",
                    "n_traj": n_traj,
                    "temperature": 0.0,
                    "state": 1,
                }
            },
            "dynamics": {"dt": 0.5, "n_substeps": 20, "coupling": "ktdc", "rescale": "velocity"},
            "stop": {"max_time": max_time, "ground_dwell": 50.0},
            "run": {"seed": 0, "dtype": "float64", "output": f"namd_{name}", "geometry_stride": 10},
        }
        path = round_dir / f"namd_{name}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        fusionpot("namd", str(path), "--no-progress")


def step_select(round_dir: Path, n_picks: int, round_number: int) -> None:
    picks = round_dir / "picks.extxyz"
    if not picks.exists():
        fusionpot(
            "select",
            *[str(p) for p in members(round_dir)],
            "--from",
            str(round_dir / "namd_cis" / "run.h5"),
            "--from",
            str(round_dir / "namd_trans" / "run.h5"),
            "-n",
            str(n_picks),
            "-o",
            str(picks),
            "--exclude",
            str(round_dir / "data" / "train.extxyz"),
            "--subset",
            f"al_round_{round_number}",
            "--no-progress",
        )
    from fusionpot.labels import frame_id

    new = ase.io.read(picks, index=":")
    queued = ase.io.read(SELECTED, index=":") if SELECTED.exists() else []
    assert isinstance(new, list) and isinstance(queued, list)
    have = {frame_id(a) for a in queued}
    added = [a for a in new if frame_id(a) not in have]
    if added:
        tmp = SELECTED.with_name(f".{SELECTED.name}.tmp")
        ase.io.write(tmp, queued + added, format="extxyz")
        os.replace(tmp, SELECTED)
    print(f"{len(added)} picks queued for labelling in {SELECTED} ({len(queued) + len(added)})")


def _test_errors(round_dir: Path) -> dict[str, float]:
    """Mean over members of their :func:`held_out_errors` on the round's test frames
    (``gap`` is named ``gap_all`` here)."""
    test = ase.io.read(round_dir / "data" / "test.extxyz", index=":")
    assert isinstance(test, list)
    per_member = [held_out_errors(path, test) for path in members(round_dir)]
    out = {k: float(np.mean([m[k] for m in per_member])) for k in per_member[0]}
    out["gap_all"] = out.pop("gap")
    del out["n_frames"]  # the table counts frames itself
    return out


def _run_summary(path: Path) -> dict[str, float]:
    with h5py.File(path, "r") as f:
        forces = f["forces_spread"][()]
        gap = f["gap_spread"][()]
        active = f["active"][()]
        hops = f["hops/accepted"][()]
        source, target = f["hops/source"][()], f["hops/target"][()]
    on = active >= 0
    rows = np.arange(active.shape[0])[:, None].repeat(active.shape[1], 1)
    force_on_active = forces[rows[on], np.nonzero(on)[1], active[on]]
    return {
        "n_traj": float(active.shape[0]),
        "forces_spread_median": float(np.nanmedian(force_on_active)),
        "forces_spread_p95": float(np.nanpercentile(force_on_active, 95)),
        "gap_spread_median": float(np.nanmedian(gap[..., 1][on])),
        "hops_down": float(np.sum(hops & (target < source))),
        "hops_up": float(np.sum(hops & (target > source))),
        "reached_s0": float(np.mean((active == 0).any(axis=1))),
    }


def step_table(round_dir: Path, round_number: int) -> None:
    counts = {
        part: len(ase.io.read(round_dir / "data" / f"{part}.extxyz", index=":"))
        for part in ("train", "test")
    }
    data = {"round": round_number, "train_frames": counts["train"], "test_frames": counts["test"]}
    data.update(_test_errors(round_dir))
    for name in ("cis", "trans"):
        run = round_dir / f"namd_{name}" / "run.h5"
        if run.exists():
            data.update({f"{name}_{k}": v for k, v in _run_summary(run).items()})
    picks = round_dir / "picks.extxyz"
    data["picks"] = len(ase.io.read(picks, index=":")) if picks.exists() else 0
    (round_dir / "summary.json").write_text(json.dumps(data, indent=1) + "\n")
    rows = []
    for path in sorted(COMMITTEE.glob("round_*/summary.json")):
        d = json.loads(path.read_text())
        spread = " / ".join(
            f"{d.get(f'{n}_forces_spread_median', float('nan')):.2f}" for n in ("cis", "trans")
        )
        reached = " / ".join(
            f"{d.get(f'{n}_reached_s0', float('nan')):.2f}" for n in ("cis", "trans")
        )
        rows.append(
            f"| {d['round']} | {d['train_frames']} / {d['test_frames']} | "
            + " | ".join(f"{d[f'E{s}']:.1f} / {d[f'F{s}']:.0f}" for s in range(3))
            + f" | {d['gap_all']:.0f} | {d['gap_near']:.0f} ({d['n_near']:.0f}) | {spread} | "
            f"{reached} | {d['picks']} |"
        )
    header = (
        "# Active-learning rounds (stilbene S0/S1/S2, MRSF-TDDFT BHHLYP/6-31G)\n\n"
        "Written by `campaigns/stilbene/active_learning.py`. Test errors: mean over the\n"
        "committee's members on the fixed test split (`prepare_data.py`), E in meV/atom, F in\n"
        f"meV/Å; gap: S1-S0 MAE in meV on all test frames and on those with an MRSF gap below\n"
        f"{NEAR_SEAM_EV} eV (count in brackets). Spread: median committee force std (eV/Å) on\n"
        "the active state along fresh trajectories (cis / trans Wigner ensembles on S1);\n"
        "reached S0: fraction of those trajectories that reached S0.\n\n"
        "| round | train / test frames | S0 E / F | S1 E / F | S2 E / F | gap MAE | gap MAE near "
        "seam | spread cis / trans | reached S0 cis / trans | picks |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
    )
    tmp = COMMITTEE / ".rounds.md.tmp"
    tmp.write_text(header + "\n".join(rows) + "\n")
    os.replace(tmp, COMMITTEE / "rounds.md")
    print((COMMITTEE / "rounds.md").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("round", type=int, help="round number (1, 2, ...)")
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--n-traj", type=int, default=32, help="trajectories per ensemble")
    parser.add_argument("--time", type=float, default=150.0, help="fs per trajectory")
    parser.add_argument("--picks", type=int, default=30)
    parser.add_argument("--table", action="store_true", help="only rewrite the table")
    args = parser.parse_args()
    round_dir = COMMITTEE / f"round_{args.round}"
    round_dir.mkdir(parents=True, exist_ok=True)
    if not args.table:
        step_data(round_dir)
        step_train(round_dir, args.members)
        step_minima(round_dir)
        step_dynamics(round_dir, args.n_traj, args.time)
        step_select(round_dir, args.picks, args.round)
    step_table(round_dir, args.round)


if __name__ == "__main__":
    main()
