"""Where the stilbene campaign's inputs and outputs live: the one place that names them.

The seed and extra label sets are read in place from ``../shared/data`` beside the
repository (never copied into it). Shell scripts read the same paths with

    eval "$(python campaigns/stilbene/paths.py --shell)"
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
#: MRSF-TDDFT labels made before the campaign: xTB minima, scans, Wigner samples
SEED_SET = SHARED_DATA / "stilbene_mrsf_seed" / "stilbene_mrsf_seed.extxyz"
#: MRSF-TDDFT labels made elsewhere for this project (same level, same frame_id convention)
EXTRA_SET = SHARED_DATA / "stilbene_mrsf_extra" / "stilbene_mrsf_extra.extxyz"
#: the campaign's own labels (appended frame by frame)
LABELS = HERE / "data" / "labels_mrsf.extxyz"
POOL = HERE / "pool"
#: where the shipped stilbene potentials and their cards live
POTENTIALS = REPO / "potentials" / "stilbene"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shell", action="store_true", help="print shell assignments")
    args = parser.parse_args()
    names = ("SEED_SET", "EXTRA_SET", "LABELS", "POOL", "POTENTIALS")
    for name in names:
        value = str(globals()[name])
        print(f"{name.lower()}={shlex.quote(value)}" if args.shell else f"{name}: {value}")


if __name__ == "__main__":
    main()
