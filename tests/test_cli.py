"""The fusionpot command line, run as a user runs it."""

import subprocess
import sys

from fusionpot import __version__


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
