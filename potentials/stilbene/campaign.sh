#!/usr/bin/env bash
# Start (or resume) the stilbene S0/S1/S2 MRSF-TDDFT labelling campaign in the background,
# on idle CPU only (nice 19). Safe to run twice: a running campaign is left alone.
#   potentials/stilbene/campaign.sh          start/resume
#   potentials/stilbene/campaign.sh stop     stop it (finished frames are kept)
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
setsid nohup nice -n 19 env OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive \
    bash "$here/campaign_loop.sh" >> "$here/data/campaign.log" 2>&1 < /dev/null &
echo $! > "$pidfile"
# setsid gives the campaign its own scheduler autogroup, and the kernel shares the CPU
# between autogroups by the group's nice, not the processes': without this line, "nice 19"
# still took a full core from every other session's work.
echo 19 > "/proc/$!/autogroup" 2>/dev/null || true
echo "campaign started (pid $!); log: $here/data/campaign.log"
