"""`campaigns/stilbene/prepare_data.py --from-split`: an earlier round's train and test
files rebuilt from its committed split (the frames are git-ignored)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import ase.io
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "campaigns" / "stilbene" / "prepare_data.py"
SPLIT = REPO / "campaigns" / "stilbene" / "committee" / "round_2" / "data" / "split.json"
SHARED = REPO.parent / "shared" / "data" / "stilbene_mrsf_seed"


def rebuild(split: Path, out: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(SCRIPT), "--from-split", str(split), "--out", str(out)]
    return subprocess.run(argv, capture_output=True, text=True, cwd=REPO)


def test_round_2_is_rebuilt_frame_by_frame(tmp_path: Path) -> None:
    if not SHARED.is_dir():
        pytest.skip(f"needs the MRSF seed set {SHARED} (../shared/data is absent)")
    done = rebuild(SPLIT, tmp_path)
    assert done.returncode == 0, done.stderr
    listed = json.loads(SPLIT.read_text())
    for part in ("train", "test"):
        frames = ase.io.read(tmp_path / f"{part}.extxyz", ":")
        expected = [n for s in ("seed", "extra", "campaign") for n in listed[s][part]]
        assert [a.info["frame_id"] for a in frames] == expected
    assert not (tmp_path / "split.json").exists()  # the record is never rewritten

    listed["campaign"]["test"].append("0000000000000000")  # a frame nobody has
    bogus = tmp_path / "bogus.json"
    bogus.write_text(json.dumps(listed))
    failed = rebuild(bogus, tmp_path / "bogus")
    assert failed.returncode != 0
    assert "campaign test frames" in failed.stderr and "0000000000000000" in failed.stderr
