"""The resumable labelling job: kill and resume, failures, torn tails, orbital reuse."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from ase import Atoms
from ase.io import write

from fusionpot.cli import label as cli_label
from fusionpot.labels import Label, LabelError, Labeller, frame_id, label_frames
from fusionpot.labels.store import read_complete_frames, read_jsonl

REPO = Path(__file__).resolve().parents[1]


class ToyLabeller(Labeller):
    """Two harmonic 'states' (eV, eV/Å); fails on frames whose info says so."""

    n_states = 2
    supports_guess = True

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.guesses: list[Path | None] = []

    def describe(self) -> dict[str, str]:
        return {"program": "toy", "method": "harmonic"}

    def label(self, atoms, *, forces=True, guess=None, save_orbitals=None):
        time.sleep(self.delay)
        if atoms.info.get("fail"):
            raise LabelError("SCF not converged (toy)")
        self.guesses.append(guess)
        if save_orbitals is not None:
            save_orbitals.write_text("{}")
        x = atoms.get_positions()
        energies = np.array([np.sum(x**2), np.sum(x**2) + 1.0])
        f = -2 * x
        return Label(
            energies, np.stack([f, f], axis=1) if forces else None, provenance=self.describe()
        )


def _pool(n: int) -> list[Atoms]:
    rng = np.random.default_rng(0)
    frames = []
    for i in range(n):
        atoms = Atoms("CH2", positions=rng.normal(size=(3, 3)))
        atoms.info["subset"] = f"s{i % 3}"
        frames.append(atoms)
    return frames


def test_labels_use_seed_convention_and_resume_skips_done(tmp_path: Path):
    frames = _pool(5)
    out = tmp_path / "labels.extxyz"
    first = label_frames(frames[:3], ToyLabeller(), out, progress=False)
    assert (first.labelled, first.already_done) == (3, 0)
    second = label_frames(frames, ToyLabeller(), out, progress=False)
    assert (second.labelled, second.already_done) == (2, 3)
    done = read_complete_frames(out)
    assert [f.info["frame_id"] for f in done] == [frame_id(a) for a in frames]
    for atoms, result in zip(frames, done, strict=True):
        x = atoms.get_positions()
        assert result.info["energy_s0"] == pytest.approx(np.sum(x**2))
        np.testing.assert_allclose(result.arrays["forces_s1"], -2 * x)
        assert result.info["subset"] == atoms.info["subset"]
        assert result.info["program"] == "toy"


def test_failures_are_logged_and_not_retried_unless_asked(tmp_path: Path):
    frames = _pool(4)
    frames[1].info["fail"] = True
    out = tmp_path / "labels.extxyz"
    summary = label_frames(frames, ToyLabeller(), out, progress=False)
    assert (summary.labelled, summary.failed) == (3, 1)
    failures = read_jsonl(tmp_path / "labels.extxyz.failed.jsonl")
    assert [r["frame_id"] for r in failures] == [frame_id(frames[1])]
    assert "SCF not converged" in failures[0]["error"]
    again = label_frames(frames, ToyLabeller(), out, progress=False)
    assert (again.labelled, again.failed, again.skipped_failed) == (0, 0, 1)
    del frames[1].info["fail"]
    retried = label_frames(frames, ToyLabeller(), out, retry_failed=True, progress=False)
    assert retried.labelled == 1
    assert len(read_complete_frames(out)) == 4


def test_torn_last_frame_is_dropped_and_relabelled(tmp_path: Path):
    frames = _pool(3)
    out = tmp_path / "labels.extxyz"
    label_frames(frames[:2], ToyLabeller(), out, progress=False)
    text = out.read_text()
    lines = text.splitlines(keepends=True)
    out.write_text(text + "".join(lines[: len(lines) // 2 - 1]))  # half a frame, as a crash would
    summary = label_frames(frames, ToyLabeller(), out, progress=False)
    assert summary.labelled == 1
    ids = [f.info["frame_id"] for f in read_complete_frames(out)]
    assert sorted(ids) == sorted(frame_id(a) for a in frames)


def test_orbitals_of_the_nearest_finished_frame_are_the_guess(tmp_path: Path):
    base = _pool(1)[0]
    near, far = base.copy(), base.copy()
    near.positions += 0.01
    far.positions += 5.0
    out = tmp_path / "labels.extxyz"
    label_frames([base], ToyLabeller(), out, progress=False, reuse_orbitals=True)
    toy = ToyLabeller()
    label_frames([far, near], toy, out, progress=False, reuse_orbitals=True, max_guess_rmsd=0.3)
    assert toy.guesses == [None, tmp_path / "labels.extxyz.orbitals" / f"{frame_id(base)}.json"]


def test_energies_only_frames_have_no_forces(tmp_path: Path):
    frames = _pool(2)
    frames[0].info["label_forces"] = False
    out = tmp_path / "labels.extxyz"
    label_frames(frames, ToyLabeller(), out, progress=False)
    done = {f.info["frame_id"]: f for f in read_complete_frames(out)}
    assert "forces_s0" not in done[frame_id(frames[0])].arrays
    assert "forces_s0" in done[frame_id(frames[1])].arrays


def test_killed_run_resumes_without_repeats_or_losses(tmp_path: Path):
    frames = _pool(12)
    pool = tmp_path / "pool.extxyz"
    write(pool, frames)
    out = tmp_path / "labels.extxyz"
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from ase.io import read
        from test_labels_runner import ToyLabeller
        from fusionpot.labels import label_frames
        label_frames(read({str(pool)!r}, ":"), ToyLabeller(delay=0.15), {str(out)!r},
                     progress=False)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and len(read_complete_frames(out)) < 3:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    n_killed = len(read_complete_frames(out))
    assert 3 <= n_killed < len(frames), "the run must be killed mid-way for this test"
    summary = label_frames(frames, ToyLabeller(), out, progress=False)
    assert summary.already_done == n_killed
    assert summary.labelled == len(frames) - n_killed
    ids = [f.info["frame_id"] for f in read_complete_frames(out)]
    assert len(ids) == len(set(ids)) == len(frames)
    assert set(ids) == {frame_id(a) for a in frames}


def _cli_label(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    cli_label.add_arguments(parser)
    return cli_label.run(parser.parse_args(argv))


def test_cli_rejects_unknown_element_nan_and_missing_program(tmp_path: Path, capsys):
    bad = tmp_path / "bad.xyz"
    bad.write_text("2\n\nQq 0 0 0\nH 0 0 1\n")
    nan = tmp_path / "nan.xyz"
    nan.write_text("2\n\nC 0 0 0\nH 0 nan 1\n")
    out = tmp_path / "o.extxyz"
    for path, message in ((bad, "Qq"), (nan, "non-finite coordinates on atom(s) [1]")):
        assert _cli_label([str(path), "-o", str(out), "--no-progress"]) == 2
        assert message in capsys.readouterr().err
        assert not out.exists()
    good = tmp_path / "good.xyz"
    good.write_text("2\n\nC 0 0 0\nH 0 0 1.1\n")
    with mock.patch("shutil.which", return_value=None):
        assert _cli_label([str(good), "-o", str(out), "--no-progress"]) == 2
    assert "OpenQP executable 'openqp' not found" in capsys.readouterr().err


def test_frames_labelled_elsewhere_are_skipped_by_id_or_geometry(tmp_path: Path, capsys):
    """``known`` files (read in place) count as done: by their ``frame_id`` and by the id of
    their geometries (a file without ``frame_id``); only the rest is labelled."""
    frames = _pool(5)
    elsewhere = tmp_path / "elsewhere.extxyz"
    label_frames(frames[:2], ToyLabeller(), elsewhere, progress=False)
    bare = tmp_path / "bare.extxyz"
    write(bare, frames[2], format="extxyz")  # a geometry, no frame_id
    out = tmp_path / "labels.extxyz"
    summary = label_frames(frames, ToyLabeller(), out, known=[elsewhere, bare], progress=False)
    assert (summary.labelled, summary.already_done, summary.known_elsewhere) == (2, 0, 3)
    assert [f.info["frame_id"] for f in read_complete_frames(out)] == [
        frame_id(a) for a in frames[3:]
    ]
    pool = tmp_path / "pool.extxyz"
    write(pool, frames, format="extxyz")
    known = ["--known", str(elsewhere), "--known", str(bare)]
    assert _cli_label([str(pool), "-o", str(out), "--method", "xtb", "--no-progress", *known]) == 0
    assert capsys.readouterr().out.strip() == (
        "0 labelled, 0 failed, 2 already done, 3 already done elsewhere, 0 skipped (failed "
        "before) of 5 frames"
    )
    missing = ["--known", str(tmp_path / "nowhere.extxyz")]
    assert _cli_label([str(pool), "-o", str(out), "--no-progress", *missing]) == 2
    assert "nowhere.extxyz" in capsys.readouterr().err


def test_labels_a_frame_carried_in_never_reach_the_output(tmp_path: Path):
    """A pool frame with stale labels (copied from a parent) gets only its own: no leftover
    state, force or program key; its provenance, seed_index included, is kept."""
    from ase.io import read

    stale = _pool(1)[0]
    stale.info.update(energy_s2=-99.0, program="OpenQP 1.2.1", functional="BHHLYP", seed_index=4)
    stale.info["frame_id"] = "0123456789abcdef"
    stale.arrays["forces_s2"] = np.ones((3, 3))
    pool = tmp_path / "pool.extxyz"
    write(pool, stale, format="extxyz")
    out = tmp_path / "labels.extxyz"
    label_frames(read(pool, ":"), ToyLabeller(), out, progress=False)
    (result,) = read_complete_frames(out)
    assert "energy_s2" not in result.info and "forces_s2" not in result.arrays
    assert "functional" not in result.info and result.info["program"] == "toy"
    assert result.info["frame_id"] == frame_id(stale)
    assert (result.info["subset"], result.info["seed_index"]) == ("s0", 4)
