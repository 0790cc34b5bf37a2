#!/usr/bin/env bash
# Start (or resume) the stilbene S0/S1/S2 MRSF-TDDFT labelling campaign in the background,
# on one core at normal priority (OMP_NUM_THREADS=1): labels are the showcase's bottleneck. Safe to run twice: a running campaign is left alone.
#   campaigns/stilbene/campaign.sh          start/resume
#   campaigns/stilbene/campaign.sh stop     stop it (finished frames are kept)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
pidfile="$here/data/campaign.pid"
mkdir -p "$here/data"
running() { [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
if [[ "${1:-}" == "stop" ]]; then
    if running; then kill -- "-$(cat "$pidfile")" && echo "stopped campaign $(cat "$pidfile")"; fi
    rm -f "$pidfile"
    exit 0
fi
if running; then
    echo "campaign already running (pid $(cat "$pidfile")); log: $here/data/campaign.log"
    exit 0
fi
cd "$repo"
if [[ -f .venv/bin/activate ]]; then source .venv/bin/activate; fi
setsid nohup env OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive \
    bash "$here/campaign_loop.sh" >> "$here/data/campaign.log" 2>&1 < /dev/null &
echo $! > "$pidfile"
echo "campaign started (pid $!); log: $here/data/campaign.log"
