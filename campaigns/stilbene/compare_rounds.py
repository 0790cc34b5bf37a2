"""Committees of two active-learning rounds on the same held-out frames: the earlier
round's test split (every one of its frames is in the later split too, the split being
fixed by frame id), so that the rows of ``committee/rounds.md``, whose test sets grow,
can be compared.

    python campaigns/stilbene/compare_rounds.py 1 2

Prints, per round, the mean over its members of :func:`stilbene_common.held_out_errors`
(E meV/atom, F meV/Å per state; S1−S0 gap MAE meV on all frames and near the seam).
"""

from __future__ import annotations

import argparse

import ase.io
import numpy as np
from paths import HERE
from stilbene_common import held_out_errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("earlier", type=int)
    parser.add_argument("later", type=int)
    args = parser.parse_args()
    committee = HERE / "committee"
    earlier = ase.io.read(committee / f"round_{args.earlier}" / "data" / "test.extxyz", ":")
    later = ase.io.read(committee / f"round_{args.later}" / "data" / "test.extxyz", ":")
    assert isinstance(earlier, list) and isinstance(later, list)
    ids = {a.info["frame_id"] for a in earlier}
    common = [a for a in later if a.info["frame_id"] in ids]
    print(f"{len(common)} frames: round {args.earlier}'s test split, all in round {args.later}'s")
    print("| round | S0 E / F | S1 E / F | S2 E / F | gap MAE | gap MAE near seam (n) |")
    print("|---|---|---|---|---|---|")
    for number in (args.earlier, args.later):
        members = sorted((committee / f"round_{number}").glob("member_*/model.pth"))
        rows = [held_out_errors(path, common) for path in members]
        mean = {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}
        states = " | ".join(f"{mean[f'E{s}']:.1f} / {mean[f'F{s}']:.0f}" for s in range(3))
        print(
            f"| {number} | {states} | {mean['gap']:.0f} | "
            f"{mean['gap_near']:.0f} ({mean['n_near']:.0f}) |"
        )


if __name__ == "__main__":
    main()
