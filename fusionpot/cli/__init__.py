"""The ``fusionpot`` command line: one module per subcommand.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``; add a new command by listing its module in ``COMMANDS``. The
dispatch keeps the command's ``run`` under ``_DISPATCH``, a private name, so commands may
name their arguments freely (``namd-analyze run`` once overwrote a ``run`` default).

Errors: a user error (:data:`fusionpot.errors.USER_ERRORS`: a bad file, key or value)
ends in one line on stderr, ``fusionpot COMMAND: error: MESSAGE``, and exit status 2, as
argparse's own usage errors do; any other exception is a bug and keeps its traceback.
``fusionpot --debug COMMAND ...`` shows the traceback of user errors too.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from fusionpot._version import __version__
from fusionpot.errors import USER_ERRORS, user_message

#: the ``argparse.Namespace`` attribute that holds the chosen command's ``run``
_DISPATCH = "_fusionpot_command_run"

COMMANDS: tuple[str, ...] = (
    "fusionpot.cli.demo",
    "fusionpot.cli.label",
    "fusionpot.cli.sample",
    "fusionpot.cli.namd",
    "fusionpot.cli.namd_analyze",
    "fusionpot.cli.select",
    "fusionpot.cli.train",
    "fusionpot.cli.eval",
    "fusionpot.cli.export",
    "fusionpot.cli.convert",
    "fusionpot.cli.lammps",
)


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to an option's help unless the help already states its
    default or there is nothing to state (a flag, or None described in the text)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "default" in text.lower()
            or default is None
            or default is False
            or default is argparse.SUPPRESS
            or (isinstance(default, list) and not default)
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fusionpot",
        description="Equivariant potentials from fusion diagrams, for ASE, LAMMPS and NAMD.",
    )
    parser.add_argument("--version", action="version", version=f"fusionpot {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the Python traceback of user errors (bad files, keys, values) too",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS:
        command = importlib.import_module(module_name)
        sub = subparsers.add_parser(
            command.NAME,
            help=command.HELP,
            description=command.HELP,
            formatter_class=DefaultsHelpFormatter,
        )
        command.add_arguments(sub)
        sub.set_defaults(**{_DISPATCH: command.run})
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(getattr(args, _DISPATCH)(args))
    except USER_ERRORS as error:
        if args.debug:
            raise
        print(f"fusionpot {args.command}: error: {user_message(error)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
