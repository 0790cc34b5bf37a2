#!/usr/bin/env bash
# The campaign's work loop (run by campaign.sh): alternate one gap-closing seam step (from
# the lowest-gap labelled frames, newest first) with one frame of the sampled pool, until
# both are exhausted. Do not edit while it runs (bash reads scripts as it goes).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
fp="$here/fp.sh"
labels="$here/data/labels_mrsf.extxyz"
seed="../shared/data/stilbene_mrsf_seed/stilbene_mrsf_seed.extxyz"
[[ -f "$seed" ]] || seed=""
label() { "$fp" label "$1" -o "$labels" --method mrsf --threads 1 "${@:2}"; }
echo "=== campaign loop started $(date -u +%FT%TZ) pid $$"
while true; do
    have=""; [[ -s "$labels" ]] && have="$labels"
    seam_out=$("$fp" sample seam $seed $have -o "$here/pool/seam_steps.extxyz" \
        --n-lowest 2 --max-gap 3.1 --max-total 40 --scales 1.0 2>&1) || echo "$seam_out"
    echo "$seam_out"
    s1=$(label "$here/pool/seam_steps.extxyz" --max-frames 1 | tee -a /dev/stderr | tail -1)
    s2=$(label "$here/pool/pool_xtb.extxyz" --max-frames 1 | tee -a /dev/stderr | tail -1)
    echo "$(date -u +%FT%TZ) seam: $s1 | pool: $s2"
    if [[ "$s1" == 0\ labelled* && "$s2" == 0\ labelled* && "$seam_out" == 0\ new* ]]; then
        echo "=== nothing left to label $(date -u +%FT%TZ)"
        break
    fi
done
