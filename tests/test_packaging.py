"""What an installed wheel holds: the shipped demo potential is package data, found
without a repository checkout (``fusionpot demo``)."""

from __future__ import annotations

from pathlib import Path

import pytest

import fusionpot
from fusionpot.demo import FILES, PRODUCTS, SHIPPED

ROOT = Path(__file__).resolve().parents[1]


def test_the_demo_reads_only_package_data() -> None:
    tomllib = pytest.importorskip("tomllib")
    package = Path(fusionpot.__file__).resolve().parent
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["fusionpot"]
    shipped = [SHIPPED / name for name in FILES] + [PRODUCTS, SHIPPED / "MODEL.md"]
    packaged = {path for pattern in patterns for path in package.glob(pattern)}
    for path in shipped:
        assert path.is_file(), path
        assert path.is_relative_to(package), f"{path} is outside the package"
        assert path in packaged, f"{path} matches no package-data pattern {patterns}"
