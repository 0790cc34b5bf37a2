"""Liquid benzene frames labelled with GFN-xTB (tblite): energy, forces and stress; resumable.

    OMP_NUM_THREADS=1 nice -n 10 python campaigns/benzene_liquid/make_data.py --frames 600

Each condition (temperature K, volume scale; default 300 K and 450 K at the experimental
density, 300 K at 0.95 and 1.05 times its volume) is its own Langevin MD (ASE, 0.5 fs) on
the tblite Hamiltonian that labels the frames, started from a random lattice of rigid
molecules (``liquid_cell.py``). After ``--equilibration-fs`` a geometry is kept every
``--stride-fs``; the conditions take turns (fewest frames first), so the set stays
balanced whenever it stops.

Files in ``--out`` (default ``data/`` beside this script):

- ``pool.extxyz``: the kept geometries with their sampling provenance (``subset`` =
  condition, ``temperature_K``, ``volume_scale``, ``density_g_cm3``, ``md_step``,
  ``md_time_fs``, ``timestep_fs``, ``friction_per_fs``, ``seed``, ``md_method``), no labels;
- ``labelled.extxyz``: the same geometries labelled by ``fusionpot.labels.label_frames``
  (the job behind ``fusionpot label --method xtb``) at exactly the geometry written in the
  pool: ``energy_s0`` (eV), ``forces_s0`` (eV/Å), ``stress`` (Voigt, eV/Å³), ``frame_id``
  and the labeller's provenance;
- ``md_state.json``: every condition's MD (step, positions, momenta, random generator),
  rewritten atomically after every ``--stride-fs`` of MD, with the run's settings.

``--driver MODEL`` drives the MD with a fusionpot model (an exported ``.pt``, through
FusionCalculator) instead of tblite, and still labels every kept geometry with tblite:
MD steps then cost milliseconds instead of seconds, so frames can be far apart in time
(decorrelated) for the price of their labels alone. The driver is recorded by name and
SHA-256 in the settings and in every frame's ``md_method``; its energies and forces are
never stored. A kept geometry whose molecules are no longer whole (a C–C or C–H distance
of a molecule's bonds outside 1.1–1.8 Å or 0.85–1.4 Å: the driver went where it knows
nothing) is not kept: its condition stops, with a warning naming the step, and its
finished frames stay.

A rerun continues every condition's MD from ``md_state.json`` (written before the frame
it reached is appended to the pool: a kill in between re-makes that frame from the saved
state), never writes a second frame for a (condition, step) already in the pool, and labels
the pool frames that are not yet labelled. A rerun with
other settings than those in ``md_state.json`` (``--frames`` and ``--stride-fs`` aside)
is refused.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import logging
import math
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms, units
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from liquid_cell import liquid_cell, scale_volume
from tqdm import tqdm

from fusionpot._io import atomic_write_text
from fusionpot.calculators.ase import FusionCalculator
from fusionpot.labels.runner import label_frames
from fusionpot.labels.store import append_frame, read_complete_frames, repair_tail
from fusionpot.labels.xtb import XTBLabeller
from fusionpot.sampling.provenance import derived

HERE = Path(__file__).resolve().parent
POOL, LABELLED, STATE = "pool.extxyz", "labelled.extxyz", "md_state.json"
DEFAULT_CONDITIONS = "300:1.0,450:1.0,300:0.95,300:1.05"
log = logging.getLogger("make_data")


@dataclass(frozen=True)
class Settings:
    """What fixes each condition's trajectory (a resumed run must use the same).

    conditions: ((temperature K, volume scale), ...); density_g_cm3: at volume scale 1;
    per_side: molecules per cube edge (per_side³ molecules); times in fs.
    """

    conditions: tuple[tuple[float, float], ...]
    molecule: str = "C6H6"
    per_side: int = 2
    density_g_cm3: float = 0.87
    timestep_fs: float = 0.5
    friction_per_fs: float = 0.01
    equilibration_fs: float = 100.0
    seed: int = 0
    method: str = "GFN1-xTB"
    driver: str = ""  # exported model file driving the MD ("" = tblite itself)
    driver_sha256: str = ""

    def __post_init__(self) -> None:
        if not self.conditions:
            raise ValueError("need at least one condition (temperature K:volume scale)")
        for temperature, scale in self.conditions:
            if temperature <= 0 or scale <= 0:
                raise ValueError(f"condition {temperature}:{scale}: need T > 0 K and scale > 0")
        if self.timestep_fs <= 0:
            raise ValueError(f"need timestep > 0 fs, got {self.timestep_fs}")
        if self.equilibration_fs < 0:
            raise ValueError(f"equilibration must be >= 0 fs, got {self.equilibration_fs}")
        if bool(self.driver) != bool(self.driver_sha256):
            raise ValueError("a driver needs its SHA-256 (use with_driver)")

    def with_driver(self, path: Path) -> Settings:
        """These settings with the MD driven by the exported model at ``path``;
        FileNotFoundError naming it when it does not exist."""
        if not path.is_file():
            raise FileNotFoundError(f"--driver {path}: no such model file")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return replace(self, driver=str(path.resolve()), driver_sha256=digest)

    @property
    def md_method(self) -> str:
        """How the MD was driven, as each frame records it."""
        if self.driver:
            name = Path(self.driver).name
            return f"ASE Langevin on fusionpot model {name} (sha256 {self.driver_sha256[:12]})"
        return f"ASE Langevin on tblite {self.method}"

    @property
    def equilibration_steps(self) -> int:
        return round(self.equilibration_fs / self.timestep_fs)

    def plain(self) -> dict[str, Any]:
        """JSON-shaped (lists for tuples), as stored in ``md_state.json``."""
        return json.loads(json.dumps(asdict(self)))


def condition_name(temperature: float, scale: float) -> str:
    """``T300_V0.95``: the ``subset`` of a condition's frames (with a driver,
    ``T300_V0.95_driven_seed1``: see ``condition_names``)."""
    return f"T{temperature:g}_V{scale:g}"


def condition_names(settings: Settings) -> list[str]:
    """The ``subset`` of each condition's frames, in the order of ``settings.conditions``:
    a model-driven trajectory is named apart from tblite's (``_driven_seed{seed}``)."""
    suffix = f"_driven_seed{settings.seed}" if settings.driver else ""
    return [condition_name(t, v) + suffix for t, v in settings.conditions]


class ConditionMD:
    """One condition's Langevin MD on tblite (or on the driver model, CPU), started fresh
    or from a saved state.

    The random generator drives the start cell, the initial velocities and the thermostat;
    it is saved with positions [n_atoms, 3] Å and momenta [n_atoms, 3] amu·Å/(ASE time),
    so a restarted run draws the same numbers.
    """

    def __init__(
        self,
        settings: Settings,
        index: int,
        labeller: XTBLabeller,
        saved: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.temperature, self.scale = settings.conditions[index]
        self.name = condition_names(settings)[index]
        self.rng = np.random.default_rng([settings.seed, index])
        reference = liquid_cell(
            settings.molecule, settings.per_side, settings.density_g_cm3, self.rng
        )
        atoms = scale_volume(reference, self.scale)
        self.bonds = molecule_bonds(atoms)  # [n_bonds, 2] of the rigid start molecules
        if saved is None:
            thermalize_momenta(atoms, self.temperature, rng=self.rng)
            Stationary(atoms)
            self.step = 0
        else:
            atoms.positions = np.asarray(saved["positions"], dtype=float)
            atoms.set_momenta(np.asarray(saved["momenta"], dtype=float))
            self.rng.bit_generator.state = saved["rng"]
            self.step = int(saved["step"])
        atoms.set_constraint(FixCom())
        if settings.driver:
            atoms.calc = FusionCalculator(settings.driver, device="cpu")
        else:
            atoms.calc = labeller.calculator()
        self.atoms = atoms
        self.dynamics = Langevin(
            atoms,
            timestep=settings.timestep_fs * units.fs,
            temperature_K=self.temperature,
            friction=settings.friction_per_fs / units.fs,
            fixcm=False,
            rng=self.rng,
        )

    def run(self, n_steps: int) -> None:
        """Advance ``n_steps`` MD steps."""
        self.dynamics.run(n_steps)
        self.step += n_steps

    def state(self) -> dict[str, Any]:
        """JSON-shaped: step, positions (Å), momenta, random generator state."""
        return {
            "step": self.step,
            "positions": self.atoms.positions.tolist(),
            "momenta": self.atoms.get_momenta().tolist(),
            "rng": self.rng.bit_generator.state,
        }

    def frame(self) -> Atoms:
        """The current geometry with its sampling provenance and no labels."""
        return derived(
            self.atoms,
            inherit=False,
            subset=self.name,
            temperature_K=float(self.temperature),
            volume_scale=float(self.scale),
            density_g_cm3=round(self.settings.density_g_cm3 / self.scale, 6),
            md_step=self.step,
            md_time_fs=self.step * self.settings.timestep_fs,
            timestep_fs=self.settings.timestep_fs,
            friction_per_fs=self.settings.friction_per_fs,
            seed=self.settings.seed,
            md_method=self.settings.md_method,
        )


BOND_RANGES = {("C", "C"): (1.1, 1.8), ("C", "H"): (0.85, 1.4), ("H", "C"): (0.85, 1.4)}


def molecule_bonds(atoms: Atoms) -> np.ndarray:
    """[n_bonds, 2]: pairs within one molecule (``mol_id``) whose distance lies in its
    ``BOND_RANGES`` entry (molecules are whole in the cell, so no minimum image)."""
    symbols = atoms.get_chemical_symbols()
    mol = atoms.arrays["mol_id"]
    pairs = []
    for i in range(len(atoms)):
        for j in range(i + 1, len(atoms)):
            bond = BOND_RANGES.get((symbols[i], symbols[j]))
            if (
                bond
                and mol[i] == mol[j]
                and np.linalg.norm(atoms.positions[i] - atoms.positions[j]) < bond[1]
            ):
                pairs.append((i, j))
    return np.asarray(pairs, dtype=int).reshape(-1, 2)


def broken_bond(atoms: Atoms, bonds: np.ndarray) -> str | None:
    """None when every bond of ``bonds`` [n_bonds, 2] is within its ``BOND_RANGES``
    (minimum image), else a phrase naming the first that is not."""
    symbols = atoms.get_chemical_symbols()
    for i, j in bonds:
        d = float(atoms.get_distance(int(i), int(j), mic=True))
        low, high = BOND_RANGES[(symbols[i], symbols[j])]
        if not low <= d <= high:
            return f"{symbols[i]}{i}–{symbols[j]}{j} at {d:.2f} Å (range {low}–{high} Å)"
    return None


def load_state(path: Path, settings: Settings) -> dict[str, dict[str, Any]]:
    """Saved MD states by condition name ({} when ``path`` does not exist); raises
    ValueError when ``path`` was made with other settings."""
    if not path.exists():
        return {}
    saved = json.loads(path.read_text())
    stored, wanted = saved["settings"], settings.plain()
    changed = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
    if changed:
        differences = "; ".join(
            f"{k} {stored.get(k)} there, {wanted.get(k)} asked" for k in changed
        )
        raise ValueError(f"{path} was made with other settings ({differences}); use another --out")
    return dict(saved["conditions"])


def save_state(path: Path, settings: Settings, runs: list[ConditionMD]) -> None:
    """Write every condition's MD state atomically."""
    payload = {"settings": settings.plain(), "conditions": {r.name: r.state() for r in runs}}
    atomic_write_text(path, json.dumps(payload))


def make_data(
    settings: Settings, out: Path, n_frames: int, stride_fs: float, *, progress: bool = True
) -> int:
    """Sample and label until every condition has ``ceil(n_frames / n_conditions)`` frames
    in ``out / "labelled.extxyz"``, one every ``stride_fs`` fs of MD after the
    equilibration; resumes from what is in ``out`` (the stride may change between runs).
    Returns the number of labelled frames; raises ValueError while another process works
    in ``out``."""
    if n_frames < 1:
        raise ValueError(f"--frames must be >= 1, got {n_frames}")
    stride = round(stride_fs / settings.timestep_fs)
    if stride < 1:
        raise ValueError(f"--stride-fs must be >= the time step, got {stride_fs} fs")
    out.mkdir(parents=True, exist_ok=True)
    with exclusive(out):
        return _sample_and_label(settings, out, n_frames, stride, progress)


@contextmanager
def exclusive(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (``flock`` on the directory itself, released
    when the process ends however it ends); ValueError when another process holds it: two
    jobs in one folder would overwrite each other's MD states."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"another make_data.py is working in {folder}") from None
        yield
    finally:
        os.close(fd)


def _sample_and_label(
    settings: Settings, out: Path, n_frames: int, stride: int, progress: bool
) -> int:
    """The body of :func:`make_data` (``stride`` in MD steps), under its lock."""
    pool_path, labelled_path, state_path = out / POOL, out / LABELLED, out / STATE
    saved = load_state(state_path, settings)
    labeller = XTBLabeller(method=settings.method)
    runs = [
        ConditionMD(settings, i, labeller, saved.get(name))
        for i, name in enumerate(condition_names(settings))
    ]
    per_condition = math.ceil(n_frames / len(runs))
    repair_tail(pool_path)
    sampled = {
        (str(a.info["subset"]), int(a.info["md_step"])) for a in read_complete_frames(pool_path)
    }

    def kept(run: ConditionMD) -> list[int]:
        return [step for name, step in sampled if name == run.name]

    def label_pool() -> int:
        summary = label_frames(
            read_complete_frames(pool_path), labeller, labelled_path, progress=False
        )
        if summary.failed:
            log.warning("%d frame(s) failed to label (see the .failed.jsonl file)", summary.failed)
        return summary.already_done + summary.labelled

    done = label_pool()
    bar = tqdm(total=per_condition * len(runs), initial=done, unit="frame", disable=not progress)
    stopped: set[str] = set()  # conditions whose driver broke a molecule
    while any(len(kept(run)) < per_condition and run.name not in stopped for run in runs):
        for run in sorted(runs, key=lambda r: len(kept(r))):  # fewest frames first
            steps = kept(run)
            if len(steps) >= per_condition or run.name in stopped:
                continue
            target = max(steps, default=settings.equilibration_steps) + stride
            start = time.perf_counter()
            n_steps = target - run.step
            while run.step < target:
                run.run(min(stride, target - run.step))
                save_state(state_path, settings, runs)
            broken = broken_bond(run.atoms, run.bonds)
            if broken:
                log.warning(
                    "%s stops at step %d: a molecule broke (%s); its %d frames are kept",
                    run.name,
                    run.step,
                    broken,
                    len(steps),
                )
                stopped.add(run.name)
                continue
            if (run.name, run.step) not in sampled:
                append_frame(pool_path, run.frame())
                sampled.add((run.name, run.step))
            log.info(
                "%s step %d: T %.0f K, E %.4f eV, %.2f s/step",
                run.name,
                run.step,
                run.atoms.get_temperature(),
                run.atoms.get_potential_energy(),
                (time.perf_counter() - start) / max(n_steps, 1),
            )
            now = label_pool()
            bar.update(now - done)
            done = now
    bar.close()
    return done


def parse_conditions(text: str) -> tuple[tuple[float, float], ...]:
    """``"300:1.0,450:1.0"`` -> ((300.0, 1.0), (450.0, 1.0)); ValueError naming a bad one."""
    out = []
    for item in text.split(","):
        try:
            temperature, scale = (float(v) for v in item.split(":"))
        except ValueError:
            raise ValueError(
                f"bad condition {item!r}: expected TEMPERATURE_K:VOLUME_SCALE"
            ) from None
        out.append((temperature, scale))
    return tuple(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=600, help="total frames wanted")
    parser.add_argument("--out", type=Path, default=HERE / "data", help="output folder")
    parser.add_argument(
        "--conditions",
        default=DEFAULT_CONDITIONS,
        help="comma-separated TEMPERATURE_K:VOLUME_SCALE pairs",
    )
    parser.add_argument("--molecule", default="C6H6", help="ase.build.molecule name")
    parser.add_argument("--per-side", type=int, default=2, help="molecules per cube edge")
    parser.add_argument("--density", type=float, default=0.87, help="g/cm³ at volume scale 1")
    parser.add_argument("--timestep-fs", type=float, default=0.5)
    parser.add_argument("--friction-per-fs", type=float, default=0.01)
    parser.add_argument("--equilibration-fs", type=float, default=100.0)
    parser.add_argument("--stride-fs", type=float, default=10.0, help="MD time between frames")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--method", choices=("GFN1-xTB", "GFN2-xTB"), default="GFN1-xTB")
    parser.add_argument(
        "--driver",
        type=Path,
        help="exported fusionpot model driving the MD (frames still labelled by tblite)",
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        settings = Settings(
            conditions=parse_conditions(args.conditions),
            molecule=args.molecule,
            per_side=args.per_side,
            density_g_cm3=args.density,
            timestep_fs=args.timestep_fs,
            friction_per_fs=args.friction_per_fs,
            equilibration_fs=args.equilibration_fs,
            seed=args.seed,
            method=args.method,
        )
        if args.driver is not None:
            settings = settings.with_driver(args.driver)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        done = make_data(
            settings, args.out, args.frames, args.stride_fs, progress=not args.no_progress
        )
    except (ValueError, FileNotFoundError) as error:
        print(f"make_data.py: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        log.info("interrupted; the frames and MD state on disk are kept")
        return 130
    log.info("%d labelled frames in %s", done, args.out / LABELLED)
    return 0


if __name__ == "__main__":
    sys.exit(main())
