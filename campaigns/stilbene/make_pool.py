"""Rebuild ``pool/pool_xtb.extxyz``: the GFN2-xTB sampling plan of
:mod:`fusionpot.sampling.photoisomer`, started from the cis, trans and DHP xTB minima of the
shared seed set (read in place, geometries only: no label is passed on).

    OMP_NUM_THREADS=1 python campaigns/stilbene/make_pool.py
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

import ase.io
from paths import POOL
from stilbene_common import seed_minima


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--output", type=Path, default=POOL / "pool_xtb.extxyz")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        starts = []
        for name, atoms in seed_minima().items():
            path = Path(tmp) / f"{name}.xyz"
            ase.io.write(path, atoms)
            starts += [f"--{name}", str(path)]
        command = ["fusionpot", "sample", "photoisomer", *starts, "--seed", "0"]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        subprocess.run([*command, "-o", str(args.output)], check=True, env=env)


if __name__ == "__main__":
    main()
