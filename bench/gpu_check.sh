#!/usr/bin/env bash
# One-command check of fusionpot on a machine with one NVIDIA GPU (each step has a time
# limit, 650 s in all; about 6 minutes on an H200): the tests that run on CUDA (the
# `device` fixture of tests/conftest.py gives "cuda" there), surface-hopping throughput
# (bench/namd_throughput.py at B = 1, 64, 256, 1024 against FusionCalculator one
# trajectory at a time), ASE MD, training and the stilbene study at the size of the
# committed CPU study (bench/gpu_check_figures.py); then one table of the figures, headed
# by the card name.
#
#   bench/gpu_check.sh                      # on the GPU machine, from the repository root
#   bench/gpu_check.sh --keep-logs DIR      # also leave every step's log and JSON in DIR
#   bench/gpu_check.sh --device cpu --quick # a check of the script itself (small sizes)
#
# Refuses, with one line and exit status 2, when torch sees no CUDA device (and --device
# cpu is not given). Exit status 1 if a step fails; the table shows what did run.
set -u -o pipefail

device=cuda
quick=0
keep=""
while [ $# -gt 0 ]; do
    case "$1" in
        --device) device="${2:?--device needs cpu or cuda}"; shift 2 ;;
        --quick) quick=1; shift ;;
        --keep-logs) keep="${2:?--keep-logs needs a folder}"; shift 2 ;;
        *) echo "gpu_check.sh: unknown argument '$1' (use --device cpu|cuda, --quick, --keep-logs DIR)" >&2; exit 2 ;;
    esac
done
case "$device" in
    cpu | cuda) ;;
    *) echo "gpu_check.sh: --device must be cpu or cuda, got '$device'" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 2
python="${PYTHON:-python}"
if ! "$python" -c "import torch, fusionpot" 2>/dev/null; then
    echo "gpu_check.sh: '$python' cannot import torch and fusionpot; activate the environment or set PYTHON" >&2
    exit 2
fi
if [ "$device" = cuda ] && ! "$python" -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
    echo "gpu_check.sh: no CUDA GPU visible to torch (torch.cuda.is_available() is False); nothing run (--device cpu --quick checks the script)" >&2
    exit 2
fi

if [ -n "$keep" ]; then
    mkdir -p "$keep" || exit 2
    out="$(cd "$keep" && pwd)"
else
    out="$(mktemp -d)"
    trap 'rm -rf "$out"' EXIT
fi
status=0
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log kept in $out/NAME.log
    local name="$1" limit="$2"
    shift 2
    local start=$SECONDS
    if timeout "$limit" "$@" >"$out/$name.log" 2>&1; then
        echo "gpu_check.sh: $name done in $((SECONDS - start)) s" >&2
    else
        echo "gpu_check.sh: $name FAILED (exit $?, $((SECONDS - start)) s); last lines:" >&2
        tail -n 15 "$out/$name.log" >&2
        status=1
    fi
}

# 1. tests that take the device fixture (cuda and cpu here) or exercise the device paths
tests=(tests/test_data_device_graph.py tests/test_device_paths.py tests/test_namd_exported_provider.py
    tests/test_namd_device_reads.py tests/test_namd_driver_sync.py)
step tests 120 "$python" -m pytest "${tests[@]}" -q -p no:cacheprovider
summary="$(grep -E "passed|failed|error" "$out/tests.log" | tail -n 1 | tr -d '=' | sed 's/^ *//; s/ *$//')"
printf '{"figures": {"tests (%s)": "%s"}}\n' "${tests[*]}" "${summary:-no summary}" >"$out/tests.json"

# 2. surface hopping: B trajectories in one model call per step vs the calculator
if [ "$quick" = 1 ]; then sizes=(1 4); steps=2; else sizes=(1 64 256 1024); steps=10; fi
step namd 90 "$python" bench/namd_throughput.py --device "$device" \
    --batch-sizes "${sizes[@]}" --steps "$steps" --json "$out/namd.json"

# 3. ASE MD, 4. training and 5. the stilbene study
quick_flag=()
[ "$quick" = 1 ] && quick_flag=(--quick)
step ase_md 60 "$python" bench/gpu_check_figures.py ase-md --device "$device" "${quick_flag[@]}" --json "$out/md.json"
step train 80 "$python" bench/gpu_check_figures.py train --device "$device" "${quick_flag[@]}" --json "$out/train.json"
step study 300 "$python" bench/gpu_check_figures.py study --device "$device" "${quick_flag[@]}" --json "$out/study.json"

echo
"$python" bench/gpu_check_figures.py table "$out/md.json" "$out/train.json" "$out/tests.json" "$out/namd.json" "$out/study.json"
exit "$status"
