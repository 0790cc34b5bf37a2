"""User errors through ``fusionpot.cli.main``: one line on stderr naming the file, key or
value, exit status 2, no traceback (``--debug`` shows it); bugs keep their traceback."""

from __future__ import annotations

import argparse
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
