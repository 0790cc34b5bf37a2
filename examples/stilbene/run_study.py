"""The stilbene cis–trans photoisomerization study on one S0/S1/S2 potential, end to end.

    python examples/stilbene/run_study.py                        # the production potential
    python examples/stilbene/run_study.py --quick \\
        --model potentials/stilbene/stilbene_s012_demo.pt        # ~1 min on 2 busy CPU cores
    python examples/stilbene/run_study.py --committee m1.pth m2.pth m3.pth --device cuda

Run it from anywhere; relative paths are relative to the working directory. Every step
writes its output under ``--out`` and is skipped when that output exists, so a killed
study continues where it stopped (the surface-hopping runs continue from their own
checkpoints, as ``fusionpot namd`` does); delete a step's output to redo it. A folder
holds one study: other settings or another model in the same folder are refused.

Steps (outputs in ``OUT``):

1. ``{cis,trans}/minimum.xyz``: the model's S0 minima, :func:`fusionpot.namd.find_minimum`
   (BFGS to max |F| ≤ ``--fmax``, every normal mode checked real) from the MRSF-labelled
   GFN2-xTB minima of the seed set (``../shared/data/stilbene_mrsf_seed``, subset
   ``minimum_xtb``); cis and trans are the frames with the atom order of frame 0
   (C8–C0=C1–C2 bonded) whose C=C torsion |φ(8, 0, 1, 2)| is nearest 0° and 180°.
2. ``{cis,trans}/run/run.h5``: ``fusionpot namd {cis,trans}/namd.yaml`` — Wigner samples
   (0 K) of each minimum, all started on S1; fewest switches with κTDC couplings,
   energy-based decoherence (0.1 Hartree), velocity rescaling, dt 0.5 fs, float64
   dynamics; a trajectory stops at ``--time`` (cis) / ``--trans-time`` (trans) fs or after
   ``--ground-dwell`` fs continuously on S0.
3. ``{cis,trans}/populations.png``, ``{cis,trans}/analysis.json``:
   :func:`fusionpot.namd.report.analyse_run` with ``examples/namd/stilbene_products.yaml``
   (Kaplan–Meier S1 lifetime or "not reached"; a trajectory counts for a product only if
   it ended on S0 inside that product's region, else it is undetermined; bootstrap CIs).
4. ``hop_geometry.png``: every accepted S1→S0 hop, its C=C twist |φ(8, 0, 1, 2)| (degrees)
   against the pyramidalisation of the ethylenic carbons (see :func:`pyramidalisation`).
5. with ``--committee``: ``committee_spread.json``, the members' disagreement
   (:func:`fusionpot.active.select.committee_predictions`) on at most ``--spread-frames``
   geometries recorded along the trajectories and on the labelled test frames
   (``--test-set``), beside the model's own errors on those frames.
6. ``report.md``: lifetimes, yields, hops, trajectories and simulated time, wall time,
   the literature values of ``../shared/DESIGN.md`` §6 beside ours, the committee spread,
   and what the level of theory and the data can and cannot support. ``study.json``: the
   settings, the model's checksum, the wall time of every step.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SEED_SET = SHARED_DATA / "stilbene_mrsf_seed" / "stilbene_mrsf_seed.extxyz"
PRODUCTS = REPO / "examples" / "namd" / "stilbene_products.yaml"


def shown(path: Path) -> str:
    """``path`` as the study's records name it: relative to the repository when inside it
    (so committed results do not carry one machine's checkout path), else as given."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


DEFAULT_MODEL = "potentials/stilbene/stilbene_s012.pt"
DEFAULT_TEST_SET = "campaigns/stilbene/train_data/test.extxyz"
DEFAULT_OUT, QUICK_OUT = "stilbene_study", "stilbene_study_quick"

#: central C=C torsion C8–C0=C1–C2 (atom order of the seed set; stilbene_products.yaml)
TORSION = (8, 0, 1, 2)
#: the ethylenic carbons and the ipso carbon bonded to each
ETHYLENIC = {0: 8, 1: 2}
#: --quick: with the demo potential ~85 s wall (~50 s CPU) on two shared, busy CPU cores
QUICK = {"n_cis": 16, "time": 50.0, "n_trans": 8, "trans_time": 25.0}
ENSEMBLES = ("cis", "trans")
DT_FS = 0.5

#: ../shared/DESIGN.md §6; a cell is None where that source gives no number
LITERATURE = {
    "cis_lifetime": {
        "experiment": "< 1 ps isolated; ~1–2 ps in solution",
        "aims": None,
        "sftddft": None,
    },
    "cis_products": {
        "experiment": "— : 0.35 : 0.10 (quantum yields)",
        "aims": "44 : 52 : 4",
        "sftddft": "— : 35 : 13 (trans : DHP)",
    },
    "trans_lifetime": {
        "experiment": "tens of ps (S1 barrier ≈ 1300 cm⁻¹)",
        "aims": None,
        "sftddft": None,
    },
}

LIMITS = """\
**What this can and cannot support.** The labels are MRSF-TDDFT BHHLYP/6-31G, a level
that, unlike linear-response TDDFT, couples S0 to S1 and gives a conical intersection
seam of the right topology at the twisted, pyramidalised geometry; so the mechanism —
twisting on S1, decay to S0 near the perpendicular, pyramidalised seam, the ground state
then splitting between cis and trans (and, from cis, ring closure toward DHP) — is within
its reach, and so is the question whether cis decays within a picosecond. It cannot carry
quantitative numbers: a hybrid functional with 50 % exact exchange in a small basis
without polarisation or diffuse functions can shift excitation energies and S1 barriers by
tenths of an eV, and 0.1 eV on a barrier changes an Arrhenius rate ~50-fold at room
temperature; the trans-stilbene lifetime (tens of ps, set by a ≈ 1300 cm⁻¹ barrier)
is therefore out of reach in both level and simulated time. The potential is fitted to
some 100–150 frames in a 72-dimensional configuration space: its errors on held-out
frames (see its model card; for fits of this size here, a few tenths of an eV/Å in forces
and tenths of an eV or more in the S1−S0 gap, worse near the seam and where the frames are
sparse, such as the ring closure toward DHP) are larger than the differences that decide a
yield, and where the trajectories leave the data the fit is extrapolating.
The intervals quoted above are bootstrap intervals over trajectories: they measure the
sampling noise of this ensemble on this potential, not the error of the potential, of the
level of theory, or of the dynamics (independent trajectories, κTDC couplings from
energy gaps alone, energy-based decoherence, 0 K Wigner sampling, isolated molecule, no
solvent). Read the yields as a qualitative test of the potential, not as a prediction
to be set against experiment within a few per cent."""


def fail(message: str) -> NoReturn:
    """Stop with a one-line error."""
    raise SystemExit(f"run_study.py: error: {message}")


# ---------------------------------------------------------------- geometry definitions


def torsion_deg(positions: np.ndarray) -> np.ndarray:
    """|φ(8, 0, 1, 2)| in degrees (0..180) of positions [n, n_atoms, 3] Å → [n]."""
    from fusionpot.namd.analysis import CollectiveVariable

    return CollectiveVariable("dihedral", TORSION)(positions)


def ethylenic_neighbours(atoms: Any) -> dict[int, tuple[int, int, int]]:
    """The three bonded neighbours of each ethylenic carbon (0 and 1), from distances.

    Two atoms are bonded when closer than 1.2× the sum of their covalent radii (ASE's
    ``natural_cutoffs``). Each ethylenic carbon must have exactly three neighbours: the
    other ethylenic carbon, its ipso carbon (8 for C0, 2 for C1) and a hydrogen; anything
    else raises ``ValueError`` (another atom order)."""
    from ase.neighborlist import natural_cutoffs

    radii = np.array(natural_cutoffs(atoms, mult=1.2))
    distances = atoms.get_all_distances()
    out = {}
    for carbon, ipso in ETHYLENIC.items():
        bonded = [
            j
            for j in range(len(atoms))
            if j != carbon and distances[carbon, j] < radii[carbon] + radii[j]
        ]
        other = 1 - carbon
        hydrogens = [j for j in bonded if atoms.numbers[j] == 1]
        if sorted(bonded) != sorted([other, ipso, *hydrogens]) or len(hydrogens) != 1:
            raise ValueError(
                f"atom {carbon} has bonded neighbours {bonded}; expected {other}, {ipso} and "
                "one hydrogen (the atom order of the seed set)"
            )
        out[carbon] = (other, ipso, hydrogens[0])
    return out


def pyramidalisation(
    positions: np.ndarray, neighbours: dict[int, tuple[int, int, int]]
) -> np.ndarray:
    """Pyramidalisation of the ethylenic carbons, Å: for C0 the distance of C0 from the
    plane through its three bonded neighbours (C1, C8 and its H), for C1 the distance of
    C1 from the plane through C0, C2 and its H; the larger of the two. 0 for a planar
    (sp²) carbon, ~0.5 Å for a tetrahedral one with 1.5 Å bonds. Moving one carbon out of
    its plane also tilts the other's plane (which contains it), so the other value changes too.

    positions: [n, n_atoms, 3] Å; neighbours: from :func:`ethylenic_neighbours`. Returns [n].
    """
    heights = []
    for carbon, (a, b, c) in neighbours.items():
        pa, pb, pc = positions[:, a], positions[:, b], positions[:, c]
        normal = np.cross(pb - pa, pc - pa)
        normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
        heights.append(np.abs(((positions[:, carbon] - pa) * normal).sum(-1)))
    return np.max(heights, axis=0)


# ---------------------------------------------------------------- bookkeeping


class Study:
    """The output folder: ``study.json`` (settings, model checksum, wall time per step)."""

    def __init__(self, out: Path, settings: dict[str, Any]):
        self.path = out / "study.json"
        self.data: dict[str, Any] = {"settings": settings, "wall_s": {}}
        if self.path.exists():
            old = json.loads(self.path.read_text())
            if old["settings"] != settings:
                before = old["settings"]
                changed = sorted(
                    k for k in {*settings, *before} if settings.get(k) != before.get(k)
                )
                fail(
                    f"{out} holds a study with other settings ({', '.join(changed)}); use "
                    "another --out or the same options"
                )
            self.data = old
        self.save()

    def save(self) -> None:
        from fusionpot._io import atomic_write_text

        atomic_write_text(self.path, json.dumps(self.data, indent=1) + "\n")

    def timed(self, name: str, run: Callable[[], Any]) -> Any:
        """Run one step; add its wall time to ``wall_s[name]`` (summed over resumes)."""
        start = time.perf_counter()
        try:
            return run()
        finally:
            wall = time.perf_counter() - start
            self.data["wall_s"][name] = self.data["wall_s"].get(name, 0.0) + wall
            self.save()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- step 1: minima


def start_geometries() -> dict[str, Any]:
    """The MRSF-labelled xTB minima of the seed set with frame 0's atom order, cis (|φ|
    nearest 0°) and trans (nearest 180°)."""
    import ase.io

    if not SEED_SET.is_file():
        fail(
            f"the seed set {SEED_SET} is absent (../shared/data beside the repository); "
            "the minima start from its MRSF-labelled xTB minima"
        )
    frames = ase.io.read(SEED_SET, index=":")
    assert isinstance(frames, list)
    chain = ((8, 0), (0, 1), (1, 2))
    minima = [
        a
        for a in frames
        if a.info.get("subset") == "minimum_xtb"
        and all(a.get_distance(i, j) < 1.6 for i, j in chain)
    ]
    if not minima:
        fail(f"no subset 'minimum_xtb' frame with bonded C8-C0=C1-C2 in {SEED_SET}")
    angles = torsion_deg(np.stack([a.positions for a in minima]))
    return {
        "cis": minima[int(np.argmin(angles))],
        "trans": minima[int(np.argmax(angles))],
    }


def relax_minima(out: Path, model: Path, device: str, fmax: float, echo: Callable) -> None:
    """Step 1: ``{cis,trans}/minimum.xyz``, the model's S0 minima (see the module docstring):
    :func:`fusionpot.namd.find_minimum` (BFGS, then every normal mode checked real; from a
    saddle, a step along the imaginary mode and BFGS again)."""
    todo = [name for name in ENSEMBLES if not (out / name / "minimum.xyz").exists()]
    if not todo:
        return
    import ase
    import ase.io
    import torch

    from fusionpot._io import atomic_write
    from fusionpot.namd import ExportedModelProvider, find_minimum

    starts = start_geometries()
    provider = ExportedModelProvider(str(model), device=device)

    def state_results(atoms: ase.Atoms) -> tuple[np.ndarray, np.ndarray]:
        """(energies [S] eV, forces [n_atoms, S, 3] eV/Å) of the model at ``atoms``."""
        positions = torch.tensor(atoms.positions[None], dtype=torch.float64)
        result = provider.compute(positions, torch.tensor(atoms.numbers))
        return result.energies[0].cpu().numpy(), result.forces[0].cpu().numpy()

    for name in todo:
        start = starts[name]
        t0 = time.perf_counter()
        try:
            minimum = find_minimum(provider, start, state=0, fmax=fmax)
        except ValueError as error:
            fail(f"no {name} S0 minimum of the model from seed frame: {error}")
        energies, forces = state_results(minimum)
        start_energies, _ = state_results(start)
        info = {
            "torsion_deg": float(torsion_deg(minimum.positions[None])[0]),
            "start_torsion_deg": float(torsion_deg(start.positions[None])[0]),
            "max_force": float(np.abs(forces[:, 0]).max()),
            "gap_s1_s0": float(energies[1] - energies[0]),
            "start_mrsf_gap_s1_s0": float(start.info["energy_s1"] - start.info["energy_s0"]),
            "start_model_gap_s1_s0": float(start_energies[1] - start_energies[0]),
            "seed_index": int(start.info.get("seed_index", -1)),
        }
        comment = " ".join(f"{k}={v:.6g}" for k, v in info.items())
        path = out / name / "minimum.xyz"
        atomic_write(
            path,
            lambda tmp, m=minimum, c=comment: ase.io.write(tmp, m, format="xyz", comment=c),
        )
        echo(
            f"  {name} S0 minimum: |φ| {info['start_torsion_deg']:.1f}° → "
            f"{info['torsion_deg']:.1f}°, max |F| {info['max_force']:.1e} eV/Å, all modes real "
            f"({time.perf_counter() - t0:.0f} s); S1−S0 {info['gap_s1_s0']:.2f} eV (MRSF at "
            f"the xTB minimum {info['start_mrsf_gap_s1_s0']:.2f} eV, model there "
            f"{info['start_model_gap_s1_s0']:.2f})"
        )


def minimum_info(path: Path) -> dict[str, float]:
    """The key=value comment of a ``minimum.xyz`` written by :func:`relax_minima`."""
    comment = path.read_text().splitlines()[1]
    return {k: float(v) for k, v in (item.split("=") for item in comment.split())}


# ---------------------------------------------------------------- step 2: dynamics


def namd_config(model: Path, name: str, n_traj: int, max_time: float, args: Any) -> dict:
    """The ``fusionpot namd`` configuration of one ensemble (paths relative to its folder)."""
    n_steps = round(max_time / DT_FS)
    return {
        "provider": {
            "factory": "fusionpot.namd:ExportedModelProvider",
            "kwargs": {"model": str(model), "device": args.device},
        },
        "initial": {
            "wigner": {"geometry": "minimum.xyz", "n_traj": n_traj, "temperature": 0.0, "state": 1}
        },
        "dynamics": {
            "dt": DT_FS,
            "n_substeps": 20,
            "coupling": "ktdc",
            "rescale": "velocity",
            "decoherence": 0.1,
            "decoherence_damping": "amplitude",
            "frustrated": "keep",
        },
        "stop": {"max_time": max_time, "ground_dwell": args.ground_dwell},
        "run": {
            "seed": args.seed,
            "batch_size": args.batch_size,
            "device": args.device,
            "dtype": "float64",
            "output": "run",
            "geometry_stride": 10,
            # a segment (and a progress line) every ~5 % of the run
            "checkpoint_every": max(10, n_steps // 20),
        },
    }


class _Watcher(threading.Thread):
    """Prints a progress line whenever the run writes a segment (at each checkpoint):
    simulated time reached, trajectories finished, wall time."""

    def __init__(self, run_dir: Path, label: str, n_traj: int, max_time: float, echo: Callable):
        super().__init__(daemon=True)
        self.run_dir, self.label, self.n_traj, self.max_time = run_dir, label, n_traj, max_time
        self.echo = echo
        self.stopping = threading.Event()
        self.seen: set[str] = set()
        self.finished = 0
        self.t_max = 0.0
        self.t0 = time.perf_counter()

    def poll(self) -> None:
        import h5py

        new = False
        for path in sorted((self.run_dir / "segments").glob("seg_*.h5")):
            if path.name in self.seen:
                continue
            try:
                with h5py.File(path, "r") as f:
                    self.t_max = max(self.t_max, float(f["step"][()].max()) * DT_FS)
                    if "final_traj_id" in f:
                        self.finished += len(f["final_traj_id"])
            except (OSError, KeyError):
                continue
            self.seen.add(path.name)
            new = True
        if new:
            self.echo(
                f"  {self.label}: t = {self.t_max:6.1f} of {self.max_time:.0f} fs, "
                f"{self.finished}/{self.n_traj} trajectories finished, "
                f"{time.perf_counter() - self.t0:.0f} s"
            )

    def run(self) -> None:
        while not self.stopping.wait(2.0):
            self.poll()


def run_dynamics(out: Path, name: str, config: dict, echo: Callable) -> None:
    """Step 2 for one ensemble: ``fusionpot namd`` on ``{name}/namd.yaml`` (continues from
    its checkpoint if one is there); skipped once ``run/run.h5`` exists."""
    import yaml

    from fusionpot._io import atomic_write_text
    from fusionpot.cli import main as fusionpot_main

    folder = out / name
    path = folder / "namd.yaml"
    text = f"# {name}-stilbene on S1, written by examples/stilbene/run_study.py\n" + yaml.safe_dump(
        config, sort_keys=False
    )
    if (folder / "run" / "run.h5").exists():
        return
    if path.exists() and path.read_text() != text:
        fail(f"{path} differs from this invocation's settings; use another --out")
    atomic_write_text(path, text)
    n_traj = config["initial"]["wigner"]["n_traj"]
    max_time = config["stop"]["max_time"]
    resumed = (folder / "run" / "checkpoint.pt").exists()
    echo(
        f"  fusionpot namd {path}: {n_traj} trajectories on S1, {max_time:.0f} fs"
        + (" (continuing from its checkpoint)" if resumed else "")
    )
    watcher = _Watcher(folder / "run", name, n_traj, max_time, echo)
    watcher.start()
    try:
        code = fusionpot_main(["namd", str(path), "--no-progress"])
    finally:
        watcher.stopping.set()
        watcher.join()
        watcher.poll()
    if code:
        fail(f"fusionpot namd {path} exited with {code}")


# ---------------------------------------------------------------- step 3: analysis


def analyse(out: Path, name: str, seed: int) -> dict[str, Any]:
    """Step 3 for one ensemble: populations.png and analysis.json in ``{name}/``."""
    from fusionpot.namd.report import analyse_run

    folder = out / name
    if not (folder / "analysis.json").exists() or not (folder / "populations.png").exists():
        analyse_run(folder / "run" / "run.h5", PRODUCTS, folder, n_boot=1000, seed=seed)
    return json.loads((folder / "analysis.json").read_text())


def run_facts(run_file: Path, max_time: float) -> dict[str, Any]:
    """What a run actually did: trajectories, simulated time, why they stopped, S1→S0 hops
    with their geometries."""
    import h5py

    with h5py.File(run_file, "r") as f:
        dt = float(f.attrs["dt"])
        n_frames = f["n_frames"][()]
        final_time = f["final/time"][()]
        hops = {k: f["hops"][k][()] for k in ("source", "target", "accepted", "positions")}
    simulated = (n_frames - 1) * dt
    down = hops["accepted"].astype(bool) & (hops["source"] == 1) & (hops["target"] == 0)
    return {
        "n_traj": len(n_frames),
        "simulated_fs_total": float(simulated.sum()),
        "simulated_fs_longest": float(simulated.max()),
        "stopped_early": int((final_time < max_time - 1e-6).sum()),
        "hop_positions": hops["positions"][down],
    }


# ---------------------------------------------------------------- step 4: hop geometries


def plot_hop_geometry(
    out: Path, hop_positions: dict[str, np.ndarray], neighbours: dict, minima: dict[str, Any]
) -> dict[str, dict[str, float]]:
    """Step 4: ``hop_geometry.png``; returns per ensemble the count and medians."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    stats = {}
    styles = {"cis": ("o", "tab:blue"), "trans": ("^", "tab:orange")}
    for name, positions in hop_positions.items():
        marker, colour = styles[name]
        if len(positions):
            twist = torsion_deg(positions)
            pyramid = pyramidalisation(positions, neighbours)
            ax.scatter(
                twist,
                pyramid,
                marker=marker,
                color=colour,
                alpha=0.7,
                label=f"from {name} ({len(positions)} hops)",
            )
            stats[name] = {
                "n": len(positions),
                "twist_median": float(np.median(twist)),
                "pyramidalisation_median": float(np.median(pyramid)),
            }
        else:
            stats[name] = {"n": 0}
            ax.scatter([], [], marker=marker, color=colour, label=f"from {name} (no hops)")
        m = minima[name]
        ax.scatter(
            torsion_deg(m.positions[None]),
            pyramidalisation(m.positions[None], neighbours),
            marker="*",
            s=180,
            color=colour,
            edgecolor="k",
            zorder=3,
            label=f"{name} S0 minimum (model)",
            clip_on=False,
        )
    if not any(len(p) for p in hop_positions.values()):
        ax.text(90, 0.3, "no accepted S1 → S0 hop in these runs", ha="center", va="center")
    ax.axvline(90.0, color="0.6", lw=0.8, ls=":")
    ax.set_xlim(0, 180)
    top = max(
        [0.6]
        + [
            float(pyramidalisation(p, neighbours).max()) * 1.1
            for p in hop_positions.values()
            if len(p)
        ]
    )
    ax.set_ylim(0, top)
    ax.set_xlabel("C=C twist |φ(8, 0, 1, 2)| / degrees")
    ax.set_ylabel("pyramidalisation of C0 / C1 (larger) / Å")
    ax.set_title("accepted S1 → S0 hops", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "hop_geometry.png", dpi=120)
    plt.close(fig)
    return stats


# ---------------------------------------------------------------- step 5: committee spread


def _spread_stats(values: np.ndarray) -> dict[str, float]:
    values = values[np.isfinite(values)]
    return {"median": float(np.median(values)), "p95": float(np.percentile(values, 95))}


def committee_spread_step(
    out: Path,
    model: Path,
    members: list[Path],
    test_set: Path | None,
    n_frames: int,
    device: str,
    seed: int,
    echo: Callable,
) -> dict[str, Any]:
    """Step 5: ``committee_spread.json``. The model and every member predict up to
    ``n_frames`` geometries drawn (seeded) from those recorded along both ensembles, and
    the labelled frames of ``test_set``; spreads are the members' (model excluded)."""
    path = out / "committee_spread.json"
    key = {
        "members": [shown(m) for m in members],
        "test_set": None if test_set is None else shown(test_set),
        "n_frames": n_frames,
    }
    if path.exists():
        old = json.loads(path.read_text())
        if old.get("key") == key:
            return old
    import warnings

    import ase
    import ase.io
    import h5py
    import torch

    from fusionpot._io import atomic_write_text
    from fusionpot.active.select import committee_predictions
    from fusionpot.active.spread import committee_spread

    frames: list[ase.Atoms] = []
    active: list[int] = []
    for name in ENSEMBLES:
        with h5py.File(out / name / "run" / "run.h5", "r") as f:
            positions = f["positions"][()]  # [n_traj, n_geom, n_atoms, 3], NaN padded
            steps = f["geometry_step"][()]
            states = f["active"][()]
            numbers = f["numbers"][()]
        t, g = np.nonzero(np.isfinite(positions).all(axis=(2, 3)))
        for i, j in zip(t, g, strict=True):
            frames.append(ase.Atoms(numbers=numbers, positions=positions[i, j]))
            active.append(int(states[i, steps[j]]))
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(frames), size=min(n_frames, len(frames)), replace=False))
    frames = [frames[i] for i in pick]
    active_arr = np.array(active)[pick]
    test: list[ase.Atoms] = []
    if test_set is not None:
        read = ase.io.read(test_set, index=":")
        test = read if isinstance(read, list) else [read]
    echo(
        f"  committee of {len(members)} + the model on {len(frames)} trajectory frames"
        + (f" and {len(test)} test frames ({test_set})" if test else "")
    )
    # e3nn 0.4.4's o3.Linear annotates instance attributes; TorchScript warns on loading
    warnings.filterwarnings("ignore", message="The TorchScript type system")
    energies, forces = committee_predictions(
        [str(model), *map(str, members)], frames + test, device=device, progress=False
    )
    spread = np.stack(
        [
            committee_spread(
                torch.from_numpy(energies[1:, i : i + 1]), torch.from_numpy(forces[i][1:, None])
            )[0].numpy()
            for i in range(len(frames) + len(test))
        ]
    )  # [n, S, (energy, gap, forces)]
    along, on_test = spread[: len(frames)], spread[len(frames) :]
    result: dict[str, Any] = {"key": key, "n_trajectory_frames": len(frames)}
    result["trajectories"] = {
        "forces_active": _spread_stats(along[np.arange(len(frames)), active_arr, 2]),
        "forces_s0": _spread_stats(along[:, 0, 2]),
        "forces_s1": _spread_stats(along[:, 1, 2]),
        "gap_s1_s0": _spread_stats(along[:, 1, 1]),
    }
    if test:
        n_states = energies.shape[2]
        labels = np.array([[a.info[f"energy_s{s}"] for s in range(n_states)] for a in test])
        model_e = energies[0, len(frames) :]
        errors: dict[str, float] = {"n_frames": len(test)}
        for s in range(n_states):
            diff = np.concatenate(
                [
                    (forces[len(frames) + i][0, :, s] - a.arrays[f"forces_s{s}"]).ravel()
                    for i, a in enumerate(test)
                ]
            )
            errors[f"forces_s{s}_mae"] = float(np.abs(diff).mean())
            errors[f"forces_s{s}_rmse"] = float(np.sqrt((diff**2).mean()))
        gap_error = (model_e[:, 1] - model_e[:, 0]) - (labels[:, 1] - labels[:, 0])
        errors["gap_s1_s0_mae"] = float(np.abs(gap_error).mean())
        errors["gap_s1_s0_rmse"] = float(np.sqrt((gap_error**2).mean()))
        result["test_errors"] = errors
        result["test_spread"] = {
            "forces_s0": _spread_stats(on_test[:, 0, 2]),
            "forces_s1": _spread_stats(on_test[:, 1, 2]),
            "gap_s1_s0": _spread_stats(on_test[:, 1, 1]),
        }
    atomic_write_text(path, json.dumps(result, indent=1) + "\n")
    return result


# ---------------------------------------------------------------- step 6: report


def _fmt_lifetime(lifetime: dict[str, Any]) -> str:
    counted = (
        f"{lifetime['n_decayed']} of {lifetime['n_traj']} trajectories "
        f"({100 * lifetime['fraction_decayed']:.0f} %) reached S0"
    )
    if not lifetime["reached"]:
        return f"not reached within {lifetime['t_max']:.0f} fs — {counted}"
    low, high = lifetime["ci"]
    text = (
        f"τ = {lifetime['tau']:.0f} fs ({100 * lifetime['level']:.0f} % CI {low:.0f}–{high:.0f} "
        f"fs), delay {lifetime['t0']:.0f} fs — {counted}"
    )
    if lifetime["tau"] > lifetime["t_max"]:
        text += f"; τ beyond the {lifetime['t_max']:.0f} fs simulated: extrapolated"
    return text


def _fmt_fs(fs: float) -> str:
    return f"{fs:.0f} fs" if fs < 1000 else f"{fs / 1000:.2f} ps"


def _fmt_yield(entry: dict[str, Any]) -> str:
    low, high = entry["ci"]
    return f"{entry['yield']:.2f} ({low:.2f}–{high:.2f}; {entry['count']})"


def _short_lifetime(lifetime: dict[str, Any]) -> str:
    if not lifetime["reached"]:
        return (
            f"not reached within {lifetime['t_max']:.0f} fs "
            f"({100 * lifetime['fraction_decayed']:.0f} % on S0)"
        )
    low, high = lifetime["ci"]
    return f"{lifetime['tau']:.0f} fs ({low:.0f}–{high:.0f})"


def write_report(
    out: Path,
    args: Any,
    model: Path,
    model_sha: str,
    analyses: dict[str, dict],
    facts: dict[str, dict],
    minima: dict[str, dict[str, float]],
    hop_stats: dict[str, dict],
    spread: dict[str, Any] | None,
    wall: dict[str, float],
    session_wall: float,
) -> Path:
    from fusionpot._io import atomic_write_text

    times = {"cis": args.time, "trans": args.trans_time}
    lines = [
        "# Stilbene cis–trans photoisomerization",
        "",
        f"Model `{shown(model)}` (sha256 {model_sha[:12]}…), labels MRSF-TDDFT BHHLYP/6-31G "
        f"(S0, S1, S2). Written by `examples/stilbene/run_study.py` on "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.",
        "",
        "Method: Wigner samples (0 K) of the model's own S0 minima, all started on S1; "
        f"fewest switches surface hopping, κTDC couplings, energy-based decoherence "
        f"(0.1 Hartree), velocity rescaling, dt {DT_FS} fs; a trajectory stops at the end "
        f"time or after {args.ground_dwell:.0f} fs continuously on S0. Products "
        "(`examples/namd/stilbene_products.yaml`): DHP if C7–C13 ≤ 1.8 Å, else trans if "
        "|φ(8, 0, 1, 2)| ≥ 90°, else cis; a trajectory counts for a product only if it ended "
        "on S0 in that region, otherwise it is *undetermined*.",
        "",
        "## Runs",
        "",
        "| ensemble | trajectories | end time | simulated (all trajectories) | longest | "
        f"stopped after {args.ground_dwell:.0f} fs on S0 | wall time |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ENSEMBLES:
        f = facts[name]
        lines.append(
            f"| {name} | {f['n_traj']} | {times[name]:.0f} fs | "
            f"{_fmt_fs(f['simulated_fs_total'])} | {f['simulated_fs_longest']:.0f} fs | "
            f"{f['stopped_early']} | {wall.get(f'namd_{name}', float('nan')):.0f} s |"
        )
    total = sum(wall.values())
    lines += [
        "",
        f"Wall time: {session_wall:.0f} s in this invocation, device `{args.device}`, "
        f"{args.threads} CPU thread(s); the steps took {total:.0f} s summed over every "
        "invocation of this study ("
        + ", ".join(f"{k} {v:.0f} s" for k, v in wall.items())
        + "; imports and plots not counted).",
        "",
        "Minima of the model (`fusionpot.namd.find_minimum`: BFGS, all normal modes real; "
        "from the MRSF-labelled xTB minima):",
        "",
        "| minimum | \\|φ\\| start → model | max \\|F\\| | S1−S0 at the model's minimum | "
        "S1−S0 at the xTB minimum: MRSF / model |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in ENSEMBLES:
        m = minima[name]
        lines.append(
            f"| {name} | {m['start_torsion_deg']:.1f}° → {m['torsion_deg']:.1f}° | "
            f"{m['max_force']:.1e} eV/Å | {m['gap_s1_s0']:.2f} eV | "
            f"{m['start_mrsf_gap_s1_s0']:.2f} / {m['start_model_gap_s1_s0']:.2f} eV |"
        )
    if minima["cis"]["torsion_deg"] > 45.0:
        lines += [
            "",
            f"**The model's cis minimum is twisted by {minima['cis']['torsion_deg']:.0f}°**: "
            "this potential does not hold planar-ish cis-stilbene (the xTB minimum has "
            f'{minima["cis"]["start_torsion_deg"]:.0f}°), so its "cis" ensemble starts '
            "elsewhere than cis-stilbene does.",
        ]
    lines += ["", "## S1 lifetime (Kaplan–Meier, censored at each trajectory's end)", ""]
    for name in ENSEMBLES:
        lifetime = _fmt_lifetime(analyses[name]["lifetime_fs"])
        lines.append(f"- {name}-stilbene S1 lifetime: {lifetime}")
    lines += [
        "",
        "A lifetime is fitted only when at least 5 trajectories and 10 % of them reached S0.",
        "",
        "![cis populations](cis/populations.png) ![trans populations](trans/populations.png)",
        "",
        "## Products (fractions of all trajectories, 95 % bootstrap CI, count)",
        "",
        "| ensemble | cis | trans | DHP | undetermined | of which: still excited / on S0 "
        "outside every region / on S0 broken apart / unfinished |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in ENSEMBLES:
        q = analyses[name]["quantum_yields"]
        u = q["undetermined"]
        lines.append(
            f"| {name} | {_fmt_yield(q['cis'])} | {_fmt_yield(q['trans'])} | "
            f"{_fmt_yield(q['DHP'])} | {_fmt_yield(u)} | {u['still_excited']} / "
            f"{u['no_product_region']} / {u.get('broken', 0)} / {u['unfinished']} |"
        )
    lines += ["", *_broken_lines(analyses, facts)]
    lines += [
        "",
        "## Hops",
        "",
        "| ensemble | accepted | up | down | frustrated | S1→S0: median twist, pyramidalisation |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in ENSEMBLES:
        h, s = analyses[name]["hops"], hop_stats[name]
        geometry = (
            f"{s['twist_median']:.0f}°, {s['pyramidalisation_median']:.2f} Å ({s['n']} hops)"
            if s["n"]
            else "no S1→S0 hop"
        )
        lines.append(
            f"| {name} | {h['accepted']} | {h['up']} | {h['down']} | {h['frustrated']} | "
            f"{geometry} |"
        )
    lines += [
        "",
        "Pyramidalisation: the larger of the distances of C0 from the plane of its three "
        "bonded neighbours (C1, C8, H) and of C1 from the plane of C0, C2 and its H.",
        "",
        "![hop geometries](hop_geometry.png)",
        "",
        "## Beside the literature (`../shared/DESIGN.md` §6)",
        "",
        "| quantity | this study | experiment | AIMS SA-2-CASSCF(2,2) (Weir et al. 2020) | "
        "SF-TDDFT dynamics (Harabuchi et al. 2014) |",
        "|---|---|---|---|---|",
    ]
    qc = analyses["cis"]["quantum_yields"]
    ours = {
        "cis_lifetime": _short_lifetime(analyses["cis"]["lifetime_fs"]),
        "cis_products": (
            f"{qc['cis']['yield']:.2f} : {qc['trans']['yield']:.2f} : {qc['DHP']['yield']:.2f} "
            f"(+ {qc['undetermined']['yield']:.2f} undetermined)"
        ),
        "trans_lifetime": _short_lifetime(analyses["trans"]["lifetime_fs"]),
    }
    titles = {
        "cis_lifetime": "cis-stilbene S1 lifetime",
        "cis_products": "cis-stilbene products, cis : trans : DHP",
        "trans_lifetime": "trans-stilbene S1 lifetime",
    }
    for key, title in titles.items():
        lit = LITERATURE[key]
        cells = [lit[k] or "—" for k in ("experiment", "aims", "sftddft")]
        lines.append(f"| {title} | {ours[key]} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "A dash: that source gives no such number in DESIGN.md §6. Our product fractions are of "
        "all trajectories; the undetermined ones (still excited, or on S0 outside every "
        "region) are not distributed among the products.",
    ]
    if spread is not None:
        lines += ["", *_spread_section(spread, len(args.committee))]
    lines += ["", "## Level of theory and data", "", LIMITS, ""]
    path = out / "report.md"
    atomic_write_text(path, "\n".join(lines))
    return path


def _broken_lines(analyses: dict[str, dict], facts: dict[str, dict]) -> list[str]:
    """What the report says about molecules the potential pulled apart."""
    from fusionpot.namd.integrity import BROKEN

    counts = {name: analyses[name].get("broken", {}).get("count", 0) for name in ENSEMBLES}
    if not any(counts.values()):
        return [
            "No molecule broke apart (no bond of a trajectory's first geometry stayed "
            f"beyond {BROKEN}× its covalent length to the end of its record; geometries "
            "every 5 fs)."
        ]
    parts = []
    for name in ENSEMBLES:
        times = analyses[name]["broken"]["times_fs"]
        when = f", median {np.median(times):.0f} fs" if times else ""
        parts.append(f"{name} {counts[name]} of {facts[name]['n_traj']}{when}")
    return [
        f"**Molecules broke apart** (a bond of the first geometry beyond {BROKEN}× its covalent "
        f"length from then to the end of the record): {'; '.join(parts)}. What a broken "
        "molecule does is an artefact of the potential: such a trajectory is censored at "
        "the break in the lifetime and counts as undetermined, never as a product."
    ]


def _spread_section(spread: dict[str, Any], n_members: int) -> list[str]:
    tr = spread["trajectories"]

    def cell(stats: dict[str, float], unit: str) -> str:
        return f"{stats['median']:.3f} / {stats['p95']:.3f} {unit}"

    lines = [
        f"## Committee spread ({n_members} members)",
        "",
        f"Standard deviation over the members on {spread['n_trajectory_frames']} geometries "
        "drawn from those recorded along both ensembles (every 5 fs); forces: root mean square "
        "over atoms and components. Median / 95th percentile.",
        "",
        "| frames | force spread, active state | force spread S0 | force spread S1 | "
        "S1−S0 gap spread |",
        "|---|---:|---:|---:|---:|",
        f"| along the trajectories | {cell(tr['forces_active'], 'eV/Å')} | "
        f"{cell(tr['forces_s0'], 'eV/Å')} | {cell(tr['forces_s1'], 'eV/Å')} | "
        f"{cell(tr['gap_s1_s0'], 'eV')} |",
    ]
    if "test_errors" not in spread:
        return [
            *lines,
            "",
            "No labelled test set was given (`--test-set`), so the spread is not set against "
            "the model's errors here; compare it with the test errors on the model's card.",
        ]
    ts, err = spread["test_spread"], spread["test_errors"]
    lines += [
        f"| labelled test frames ({err['n_frames']}) | — | {cell(ts['forces_s0'], 'eV/Å')} | "
        f"{cell(ts['forces_s1'], 'eV/Å')} | {cell(ts['gap_s1_s0'], 'eV')} |",
        "",
        f"The model's own errors on those test frames (`{spread['key']['test_set']}`; they "
        "are test errors only if the model was trained without them): force RMSE S0 "
        f"{err['forces_s0_rmse']:.3f}, S1 {err['forces_s1_rmse']:.3f} eV/Å (MAE "
        f"{err['forces_s0_mae']:.3f}, {err['forces_s1_mae']:.3f}); S1−S0 gap MAE "
        f"{err['gap_s1_s0_mae']:.3f} eV (RMSE {err['gap_s1_s0_rmse']:.3f}).",
        "",
    ]
    if ts["forces_s1"]["median"] < 1e-6 or ts["gap_s1_s0"]["median"] < 1e-6:
        lines.append(
            "The members agree to within 1e-6 on the test frames (identical models?): their "
            "spread says nothing about the error here."
        )
        return lines
    calibration = err["forces_s1_rmse"] / ts["forces_s1"]["median"]
    ratio = tr["forces_s1"]["median"] / ts["forces_s1"]["median"]
    gap_ratio = tr["gap_s1_s0"]["median"] / ts["gap_s1_s0"]["median"]
    gap_calibration = err["gap_s1_s0_mae"] / ts["gap_s1_s0"]["median"]
    lines.append(
        f"On the test frames the model's S1 force RMSE is {calibration:.1f}× the members' "
        f"median S1 force spread there: the spread "
        + ("understates" if calibration > 1 else "does not understate")
        + " the error. Along the trajectories the median S1 force spread is "
        f"{ratio:.1f}× its value on the test frames"
        + (
            ", so the trajectories go where the data are sparser than in the test set and the "
            "errors there are likely larger than the test errors"
            if ratio > 1.2
            else (
                ", comparable: the trajectories stay about as close to the data as the test "
                "frames are, by this measure"
                if ratio >= 0.8
                else ", smaller than on the test frames"
            )
        )
        + f". The median S1−S0 gap spread along the trajectories is {gap_ratio:.1f}× its "
        f"value on the test frames, where the model's gap MAE is {gap_calibration:.1f}× the "
        "members' median gap spread."
    )
    return lines


# ---------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Stilbene cis–trans photoisomerization study on one S0/S1/S2 potential.",
        epilog="See the module docstring (and examples/stilbene/README.md) for the steps.",
    )
    parser.add_argument("--model", default=DEFAULT_MODEL, help="exported potential (%(default)s)")
    parser.add_argument(
        "--committee",
        nargs="+",
        default=None,
        metavar="MODEL",
        help="≥ 2 models whose spread is evaluated along the trajectories",
    )
    parser.add_argument(
        "--test-set",
        default=None,
        help="labelled frames for the model's errors beside the committee "
        f"spread (default: {DEFAULT_TEST_SET} if it exists)",
    )
    parser.add_argument("--n-cis", type=int, default=200, help="cis trajectories (%(default)s)")
    parser.add_argument("--n-trans", type=int, default=50, help="trans trajectories (%(default)s)")
    parser.add_argument("--time", type=float, default=1000.0, help="cis end time, fs (%(default)s)")
    parser.add_argument(
        "--trans-time", type=float, default=500.0, help="trans end time, fs (%(default)s)"
    )
    parser.add_argument(
        "--ground-dwell",
        type=float,
        default=100.0,
        help="stop a trajectory after this long on S0, fs (%(default)s)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"small preset: {QUICK['n_cis']} cis × {QUICK['time']:.0f} fs, "
        f"{QUICK['n_trans']} trans × {QUICK['trans_time']:.0f} fs, out "
        f"{QUICK_OUT}/ (overrides the sizes)",
    )
    parser.add_argument(
        "--out", default=None, help=f"output folder ({DEFAULT_OUT}/, with --quick {QUICK_OUT}/)"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (%(default)s)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="trajectories per model call (default: all of an ensemble)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (%(default)s; raise it on an idle machine)",
    )
    parser.add_argument(
        "--fmax",
        type=float,
        default=1e-3,
        help="max |force| of the relaxed minima, eV/Å (%(default)s)",
    )
    parser.add_argument(
        "--spread-frames",
        type=int,
        default=200,
        help="trajectory geometries the committee evaluates (%(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="sampling and bootstrap seed")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_cis, args.time = QUICK["n_cis"], QUICK["time"]
        args.n_trans, args.trans_time = QUICK["n_trans"], QUICK["trans_time"]
    if args.out is None:
        args.out = QUICK_OUT if args.quick else DEFAULT_OUT
    if min(args.n_cis, args.n_trans, args.threads, args.spread_frames) < 1:
        parser.error("--n-cis, --n-trans, --threads and --spread-frames must be ≥ 1")
    if not (args.time > 0 and args.trans_time > 0 and args.ground_dwell >= 0 and args.fmax > 0):
        parser.error("--time, --trans-time and --fmax must be > 0, --ground-dwell ≥ 0")
    if args.batch_size is not None and args.batch_size < 1:
        parser.error("--batch-size must be ≥ 1")
    if args.committee is not None and len(args.committee) < 2:
        parser.error("--committee needs at least 2 models")
    return args


def main(argv: Sequence[str] | None = None, echo: Callable[[str], None] | None = None) -> int:
    """Run (or continue) the study; see the module docstring."""
    args = parse_args(argv)
    echo = echo or (lambda text: print(text, flush=True))
    session_start = time.perf_counter()
    model = Path(args.model).resolve()
    if not model.is_file():
        fail(f"model file {args.model} not found")
    members = [Path(m).resolve() for m in args.committee or []]
    for member in members:
        if not member.is_file():
            fail(f"committee model {member} not found")
    if args.test_set is not None:
        test_set: Path | None = Path(args.test_set).resolve()
        if not test_set.is_file():
            fail(f"test set {args.test_set} not found")
    else:
        test_set = REPO / DEFAULT_TEST_SET
        test_set = test_set if test_set.is_file() else None

    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    model_sha = sha256(model)
    settings = {
        "model_sha256": model_sha,
        "n_cis": args.n_cis,
        "n_trans": args.n_trans,
        "time": args.time,
        "trans_time": args.trans_time,
        "ground_dwell": args.ground_dwell,
        "fmax": args.fmax,
        "seed": args.seed,
    }
    study = Study(out, settings)
    study.data["model"] = shown(model)
    echo(f"stilbene study of {args.model} in {out}")

    echo("1. S0 minima of the model")
    study.timed("minima", lambda: relax_minima(out, model, args.device, args.fmax, echo))

    sizes = {"cis": (args.n_cis, args.time), "trans": (args.n_trans, args.trans_time)}
    for name in ENSEMBLES:
        echo(f"2. surface hopping from {name}")
        config = namd_config(model, name, *sizes[name], args)
        study.timed(f"namd_{name}", lambda c=config, n=name: run_dynamics(out, n, c, echo))

    echo("3. analysis (examples/namd/stilbene_products.yaml)")
    analyses, facts = {}, {}
    for name in ENSEMBLES:
        analyses[name] = study.timed(f"analysis_{name}", lambda n=name: analyse(out, n, args.seed))
        facts[name] = run_facts(out / name / "run" / "run.h5", sizes[name][1])
        echo(f"  {name}: S1 lifetime {_fmt_lifetime(analyses[name]['lifetime_fs'])}")

    echo("4. hop geometries")
    import ase.io

    minimum_atoms = {name: ase.io.read(out / name / "minimum.xyz") for name in ENSEMBLES}
    neighbours = ethylenic_neighbours(minimum_atoms["cis"])
    hop_stats = plot_hop_geometry(
        out, {n: facts[n]["hop_positions"] for n in ENSEMBLES}, neighbours, minimum_atoms
    )

    spread = None
    if members:
        echo("5. committee spread along the trajectories")
        spread = study.timed(
            "committee",
            lambda: committee_spread_step(
                out, model, members, test_set, args.spread_frames, args.device, args.seed, echo
            ),
        )

    minima = {name: minimum_info(out / name / "minimum.xyz") for name in ENSEMBLES}
    report = write_report(
        out,
        args,
        model,
        model_sha,
        analyses,
        facts,
        minima,
        hop_stats,
        spread,
        study.data["wall_s"],
        time.perf_counter() - session_start,
    )
    echo(f"6. wrote {report}")
    echo(f"done in {time.perf_counter() - session_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
