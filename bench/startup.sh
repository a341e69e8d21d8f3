#!/usr/bin/env bash
# Start-up to first /health 200 and idle RSS of one worker on the embedded default.
# The first run initialises a new data directory (initdb); later runs reuse it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(dirname "$here")
out=${1:-$here/results/startup}
work=$(mktemp -d /tmp/nachet-startup-XXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
cd "$root"
NACHET_DATA_DIR="$work/data" python "$root/../shared/bench/loadgen.py" startup \
    --url http://127.0.0.1:18081/health --repeat 5 --idle 3 --cwd "$root" --log "$work/startup.log" \
    --out "$out/startup.json" -- hypercorn -b 127.0.0.1:18081 -w 1 app:app
