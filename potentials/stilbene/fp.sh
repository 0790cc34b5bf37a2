#!/usr/bin/env bash
# Run one fusionpot command module (label or sample) without importing the others:
#   potentials/stilbene/fp.sh label ARGS...   ==   fusionpot label ARGS...
set -euo pipefail
cmd="$1"; shift
repo="$(cd "$(dirname "$0")/../.." && pwd)"
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
exec python -c '
import argparse, importlib, sys
module = importlib.import_module("fusionpot.cli." + sys.argv[1])
parser = argparse.ArgumentParser(prog="fusionpot " + module.NAME, description=module.HELP)
module.add_arguments(parser)
sys.exit(module.run(parser.parse_args(sys.argv[2:])))
' "$cmd" "$@"
