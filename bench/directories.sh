#!/usr/bin/env bash
# /get-directories under load (issue: "The complete HTTP API"): a user with 10 folders x 10
# pictures, concurrency 1/8/64, 20 s each, on the embedded default; loopback only.
# Usage: bash bench/directories.sh [results-dir]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(dirname "$here")
loadgen="$root/../shared/bench/loadgen.py"
out=${1:-$here/results/directories}
work=$(mktemp -d /tmp/nachet-bench-XXXX)
export NACHET_DATA_DIR="$work/data"
mkdir -p "$out"
cd "$root"
python "$loadgen" images --out "$work/images" --count 4 >/dev/null
user=$(python -m nachet users add bench-dirs@example.org)
port=18080
hypercorn -b 127.0.0.1:$port -w 1 app:app >"$work/server.log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
pg=$(head -1 "$NACHET_DATA_DIR/pg/postmaster.pid")
python "$loadgen" prepare --base-url "http://127.0.0.1:$port" --dir-user-id "$user" \
    --folders 10 --pictures 10 --images "$work/images"
python "$loadgen" run --base-url "http://127.0.0.1:$port" --scenario directories --concurrency 1,8,64 \
    --duration 20 --warmup 2 --dir-user-id "$user" --server-pid "$server" --aux-pid "$pg" \
    --tag dirs --label nachet-rebuilt --out-dir "$out"
python "$loadgen" summarize "$out"
