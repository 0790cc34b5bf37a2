"""The fusionpot command line, run as a user runs it.

Every command of ``fusionpot.cli.COMMANDS`` runs through ``fusionpot.cli.main`` in some
test: demo (here and test_demo.py), label and namd/namd-analyze (here), sample
(test_sampling.py), train/eval (test_train.py), export (test_export.py), convert
(test_data_formats.py), lammps (test_lammps_plugin.py).
"""

import json
import subprocess
import sys
from pathlib import Path

import ase.io
from stilbene_run import short_stilbene_run

from fusionpot import __version__
from fusionpot.cli import main

REPO = Path(__file__).resolve().parents[1]
STILBENE = REPO / "potentials" / "stilbene"


def fusionpot(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fusionpot", *args], capture_output=True, text=True, timeout=300
    )


def test_version_and_help() -> None:
    assert fusionpot("--version").stdout.strip() == f"fusionpot {__version__}"
    help_text = fusionpot("--help").stdout
    assert "demo" in help_text


def test_demo_prints_paths_weights_and_a_passing_equivariance_check() -> None:
    result = fusionpot("demo", "block", "--diagram", "((A, A), h) -> 0e + 1o", "--channels", "4")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "diagram   ((A, A), h) -> 0e+1o" in out
    assert "independent" in out and "weights" in out
    assert out.count(" ok") == 3 and "FAILED" not in out


def test_demo_rejects_bad_diagrams_with_the_reason() -> None:
    result = fusionpot("demo", "block", "--diagram", "((A, A) h) -> 0e")
    assert result.returncode != 0
    assert "expected ','" in result.stderr


def test_label_with_xtb(tmp_path: Path, capsys) -> None:
    water = tmp_path / "water.xyz"
    water.write_text("3\n\nO 0 0 0\nH 0 0.76 0.59\nH 0 -0.76 0.59\n")
    out = tmp_path / "water.extxyz"
    argv = ["label", str(water), "-o", str(out), "--method", "xtb", "--threads", "1"]
    assert main([*argv, "--no-progress"]) == 0
    assert "1 labelled, 0 failed" in capsys.readouterr().out
    (frame,) = ase.io.read(out, ":")
    assert frame.info["energy_s0"] < 0 and frame.arrays["forces_s0"].shape == (3, 3)


def test_namd_then_namd_analyze_on_its_run(tmp_path: Path, capsys) -> None:
    """A real run of the shipped stilbene potential, then its analysis with the stilbene
    products: the positional argument ``run`` once clashed with the command dispatch."""
    run_file = short_stilbene_run(tmp_path, [0, 0, 1, 1])  # two on S0, two on S1
    assert capsys.readouterr().out.strip() == str(run_file)
    products = REPO / "examples" / "namd" / "stilbene_products.yaml"
    analysis = tmp_path / "analysis"
    argv = ["namd-analyze", str(run_file), "--products", str(products), "--out", str(analysis)]
    assert main([*argv, "--bootstrap", "50"]) == 0
    text = capsys.readouterr().out
    # 2 fs: the S1 pair cannot have decayed, so no lifetime and no yield is claimed for it
    assert "not reached within 2.0 fs" in text and "0 of 2 trajectories" in text
    assert "trans         0.500" in text and "undetermined  0.500" in text
    assert "2 still excited + 0 on S0 outside every product region" in text
    result = json.loads((analysis / "analysis.json").read_text())
    assert result["lifetime_fs"]["reached"] is False and result["lifetime_fs"]["tau"] is None
    yields = result["quantum_yields"]
    assert set(yields) == {"DHP", "trans", "cis", "undetermined"}
    assert yields["trans"]["count"] == 2 and yields["undetermined"]["still_excited"] == 2
    assert (analysis / "populations.png").stat().st_size > 1000


def test_command_modules_start_without_torch():
    """Building the parser imports every command module: none may import torch (seconds
    of start-up for `fusionpot label --help`); torch comes when a command runs."""
    import subprocess
    import sys

    code = (
        "import importlib, sys\n"
        "from fusionpot.cli import COMMANDS\n"
        "for name in COMMANDS:\n"
        "    importlib.import_module(name)\n"
        "    assert 'torch' not in sys.modules, name\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
