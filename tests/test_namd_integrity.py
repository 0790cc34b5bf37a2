"""Broken molecules: found along a trajectory, never counted as a product, censored in the
lifetime at the break."""

from __future__ import annotations

import json
from pathlib import Path

import ase.io
import h5py
import numpy as np
from stilbene_run import TRANS_MINIMUM, short_stilbene_run

from fusionpot.cli import main
from fusionpot.namd.analysis import fit_lifetime
from fusionpot.namd.integrity import bond_list, first_break, first_breaks
from fusionpot.namd.report import _censor

REPO = Path(__file__).resolve().parents[1]
STILBENE = REPO / "potentials" / "stilbene"


def test_stilbene_bonds_and_a_leaving_hydrogen() -> None:
    atoms = ase.io.read(STILBENE / "stilbene_s012_demo_trans_minimum.xyz")
    bonds = bond_list(atoms.numbers, atoms.positions)
    assert len(bonds) == 27  # 15 C–C (two rings and the bridge) and 12 C–H
    hydrogen = int(np.flatnonzero(atoms.numbers == 1)[0])
    path = np.repeat(atoms.positions[None], 5, axis=0)
    path[3:, hydrogen] += [1.0, 0.0, 0.0]  # its C–H is ~2 Å from the third geometry on
    path[1] = np.nan  # padding counts as intact
    assert first_break(atoms.numbers, path, bonds) == 3
    assert first_break(atoms.numbers, path[:3], bonds) == -1
    assert first_break(atoms.numbers, path[[0, 3, 2]], bonds) == -1  # out and back: whole
    assert first_breaks(atoms.numbers, np.stack([path, path[[0, 0, 0, 0, 0]]])).tolist() == [3, -1]


def test_censoring_keeps_an_arrival_before_the_break_and_drops_one_after() -> None:
    time = np.arange(6.0)
    active = np.array([[1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0]])
    t_break = np.array([3.0, 3.0])  # both break at 3 fs: the first had already arrived
    censored = _censor(time, active, t_break)
    assert censored.tolist() == [[1, 1, 0, -1, -1, -1], [1, 1, 1, -1, -1, -1]]
    lifetime = fit_lifetime(time, censored, min_decayed=1, min_fraction=0.0, n_boot=5)
    assert lifetime.n_decayed == 1
    assert _censor(time, active, np.array([np.nan, np.nan])).tolist() == active.tolist()


def test_namd_analyze_counts_a_broken_molecule_as_no_product(tmp_path: Path, capsys) -> None:
    """A real run of the shipped demonstration potential; one trajectory's recorded and
    final geometries then lose an H atom: it is undetermined, not trans."""
    run_file = short_stilbene_run(tmp_path, [0, 0, 0, 0])
    trans = ase.io.read(TRANS_MINIMUM)
    hydrogen = int(np.flatnonzero(trans.numbers == 1)[0])
    with h5py.File(run_file, "r+") as f:
        f["positions"][1, 1:, hydrogen] += 3.0  # trajectory 1 from its second record on
        f["final/positions"][1, hydrogen] += 3.0
        break_time = float(f["time"][f["geometry_step"][1]])
    capsys.readouterr()
    products = REPO / "examples" / "namd" / "stilbene_products.yaml"
    argv = ["namd-analyze", str(run_file), "--products", str(products), "--bootstrap", "20"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    broke = (
        "1 of 4 molecules broke apart (a bond beyond 1.5× its covalent length for good; first at"
    )
    assert f"{broke} {break_time:.0f} fs" in text
    assert "1 on S0 broken apart" in text
    result = json.loads((tmp_path / "out" / "analysis.json").read_text())
    assert result["broken"]["count"] == 1 and result["broken"]["times_fs"] == [break_time]
    yields = result["quantum_yields"]
    assert yields["trans"]["count"] == 3
    assert yields["undetermined"]["count"] == 1 and yields["undetermined"]["broken"] == 1
