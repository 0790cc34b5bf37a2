#!/usr/bin/env bash
# The campaign's work loop (run by campaign.sh). Frames chosen by active learning
# (pool/selected.extxyz) come first: while it has unlabelled frames, each iteration labels
# one of them and nothing else. Otherwise an iteration makes gap-closing seam steps
# (from the lowest-gap labelled frames, newest first) and labels one of them, then one
# frame of the sampled pool; it stops when an iteration labels or attempts no frame and
# makes no seam step. Frames labelled elsewhere (paths.py EXTRA_SET, read
# in place) are skipped (--known). Never edit this file in place while it runs (bash reads
# scripts as it goes): write a new file beside it and mv it over this one.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
eval "$(python "$here/paths.py" --shell)"
seed="$seed_set"; [[ -f "$seed" ]] || seed=""
label() {
    local known=()
    [[ -f "$extra_set" ]] && known=(--known "$extra_set")
    fusionpot label "$1" -o "$labels" --method mrsf --threads 1 "${known[@]}" "${@:2}"
}
# label_one FILE: label one more frame of FILE; print the summary line ("N labelled, M
# failed, ..."), a stand-in "0 labelled, 0 failed" when FILE does not exist, or whatever
# the label call printed last when it broke (no summary line).
label_one() {
    if [[ ! -f "$1" ]]; then
        echo "0 labelled, 0 failed ($(basename "$1") does not exist)"
        return
    fi
    label "$1" --max-frames 1 | tee -a /dev/stderr | tail -1
}
exhausted() { [[ "$1" == "0 labelled, 0 failed"* ]]; }                 # nothing left in it
worked() { [[ "$1" =~ ^[0-9]+\ labelled,\ [0-9]+\ failed ]] && ! exhausted "$1"; }
echo "=== campaign loop started $(date -u +%FT%TZ) pid $$"
while true; do
    s0=$(label_one "$here/pool/selected.extxyz")
    if worked "$s0"; then
        echo "$(date -u +%FT%TZ) selected: $s0"
        continue
    fi
    have=""; [[ -s "$labels" ]] && have="$labels"
    seam_out=$(fusionpot sample seam $seed $have -o "$here/pool/seam_steps.extxyz" \
        --n-lowest 2 --max-gap 3.1 --max-total 40 --scales 1.0 2>&1)
    echo "$seam_out"
    seam_last=$(tail -n 1 <<< "$seam_out")
    s1=$(label_one "$here/pool/seam_steps.extxyz")
    s2=$(label_one "$here/pool/pool_xtb.extxyz")
    echo "$(date -u +%FT%TZ) selected: $s0 | seam: $s1 | pool: $s2"
    if worked "$s0" || worked "$s1" || worked "$s2" || [[ "$seam_last" =~ ^[1-9][0-9]*\ new ]]; then
        continue
    fi
    if exhausted "$s0" && exhausted "$s1" && exhausted "$s2" && [[ "$seam_last" == 0\ new* ]]; then
        echo "=== nothing left to label $(date -u +%FT%TZ)"
    else
        echo "=== nothing labelled, attempted or sampled this round and errors above:" \
            "stopping instead of repeating them $(date -u +%FT%TZ)"
    fi
    break
done
