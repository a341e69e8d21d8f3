#!/usr/bin/env bash
# /inf under load (issue "Inference"): 1920x1080 JPEGs, fake Azure ML models on loopback
# (seed detector -> Swin, 4 boxes), model latency 50 ms and 0 ms, concurrency 1/8/64, one
# hypercorn worker on the embedded default; then the same with 5 000 pictures already stored.
# Usage: bash bench/inference.sh [results-dir]     (about 6 minutes)
#        PART=c8 bash bench/inference.sh [dir]     only 50 ms models at c=8 (about 40 s): before/after pairs
#        PART=c1|c64 bash bench/inference.sh [dir] only 50 ms models at c=1 (then the model floor:
#                                   bench/model_floor.py) or c=64
#        PART=relay bash bench/inference.sh [dir]  the ceiling: bench/relay_ceiling.py in the server's
#                                   place (relays /inf to the models, nothing else) at c=1/8/64
#        MODELS=open-inference [CROPS=server] ...  the same models over the Open Inference Protocol
#                                   (bench/fake_open_inference.py): the picture and the crops as BYTES
#                                   tensors; CROPS=server: the classifier gets the picture and the
#                                   boxes and the worker decodes nothing
#        SECURED=cookie|token ...   secured mode: every request carries a Vouch HS256 cookie or an API
#                                   token, verified by the server (rate limit off unless NACHET_RATE_LIMIT_INF)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(dirname "$here")
shared="$root/../shared/bench"
out=${1:-$here/results/inference}
duration=${DURATION:-20}
work=$(mktemp -d /tmp/nachet-bench-XXXX)
export NACHET_DATA_DIR="$work/data"
# the load generator cycles through 4 pictures: measure the models' path, not the result cache
export NACHET_RESULT_CACHE=${NACHET_RESULT_CACHE:-false}
mkdir -p "$out"
cd "$root"
python "$shared/loadgen.py" images --out "$work/images" --count 4 >/dev/null
mport=18090; port=18080
if [ "${MODELS:-azureml}" = open-inference ]; then
  python "$here/fake_open_inference.py" --port $mport --latency-ms 50 --boxes 4 >"$work/models.log" 2>&1 &
else
  python "$shared/fake_model_server.py" --port $mport --latency-ms 50 --boxes 4 --topn 5 >"$work/models.log" 2>&1 &
fi
models=$!
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$mport/config" >/dev/null && break; sleep 0.1; done
user=$(python -m nachet users add bench-inf@example.org)
loadgen="$shared/loadgen.py"
case "${SECURED:-}" in
  cookie) export NACHET_VOUCH_JWT_SECRET=bench-secret-of-at-least-thirty-two-bytes NACHET_RATE_LIMIT_INF=${NACHET_RATE_LIMIT_INF:-off}
          NACHET_BENCH_COOKIE=$(python -c "import time; from identity.vouch import make_vouch_cookie as m; \
print(m('bench-inf@example.org', '$NACHET_VOUCH_JWT_SECRET', exp=time.time() + 86400))")
          export NACHET_BENCH_COOKIE; loadgen="$here/authed_loadgen.py" ;;
  token)  export NACHET_API_TOKENS=true NACHET_RATE_LIMIT_INF=${NACHET_RATE_LIMIT_INF:-off}
          NACHET_BENCH_TOKEN=$(python -m nachet tokens create bench-inf@example.org 2>/dev/null)
          export NACHET_BENCH_TOKEN; loadgen="$here/authed_loadgen.py" ;;
  "") ;;
  *) echo "SECURED must be cookie or token" >&2; exit 2 ;;
esac
cat >"$work/pipelines.yaml" <<YAML
version: "0.1.4"
date: 2024-08-01
models:
  - {task: Object Detection, endpoint: "http://127.0.0.1:$mport/detect/score", api_key: bench,
     content_type: application/json, deployment_platform: azureml-model-deployment,
     endpoint_name: seed-detector, model_name: seed-detector-1, created_by: bench, creation_date: 2024-01-01,
     version: 1, description: fake detector, job_name: "", dataset_description: "", accuracy: 0.9}
  - {task: Classification, endpoint: "http://127.0.0.1:$mport/classify/score", api_key: bench,
     content_type: application/json, deployment_platform: azureml-model-deployment,
     endpoint_name: swin, model_name: swinv1-base-dataaugv2-1, created_by: bench, creation_date: 2024-01-01,
     version: 1, description: fake swin, job_name: "", dataset_description: "", accuracy: 0.9}
pipelines:
  - {models: [seed-detector-1, swinv1-base-dataaugv2-1], pipeline_name: Swin transformer, created_by: bench,
     creation_date: 2024-01-01, version: 1, description: bench, job_name: "", dataset_description: "",
     accuracy: 0.9, default: true}
YAML
if [ "${MODELS:-azureml}" = open-inference ]; then  # the same two steps over the v2 protocol
  classifier=classifier; boxes=""
  [ "${CROPS:-client}" = server ] && { classifier=classifier-regions; boxes="boxes_input: boxes,"; }
  cat >"$work/pipelines.yaml" <<YAML
version: "0.1.4"
date: 2024-08-01
models:
  - {task: Object Detection, endpoint: "http://127.0.0.1:$mport", api_key: "", content_type: application/json,
     deployment_platform: "", endpoint_name: seed-detector, model_name: seed-detector-1, created_by: bench,
     creation_date: 2024-01-01, version: 1, description: fake detector, job_name: "", dataset_description: "",
     accuracy: 0.9, protocol: open-inference,
     open_inference: {model: detector, input: {name: image, datatype: BYTES}, outputs: {boxes: boxes, scores: scores}}}
  - {task: Classification, endpoint: "http://127.0.0.1:$mport", api_key: "", content_type: application/json,
     deployment_platform: "", endpoint_name: swin, model_name: swinv1-base-dataaugv2-1, created_by: bench,
     creation_date: 2024-01-01, version: 1, description: fake swin, job_name: "", dataset_description: "",
     accuracy: 0.9, protocol: open-inference,
     open_inference: {model: $classifier, $boxes input: {name: image, datatype: BYTES, format: jpeg},
                      outputs: {scores: probabilities}}}
pipelines:
  - {models: [seed-detector-1, swinv1-base-dataaugv2-1], pipeline_name: Swin transformer, created_by: bench,
     creation_date: 2024-01-01, version: 1, description: bench, job_name: "", dataset_description: "",
     accuracy: 0.9, default: true}
YAML
fi
python -m nachet pipelines insert "$work/pipelines.yaml"
if [ "${PART:-}" = relay ] && [ "${MODELS:-azureml}" = open-inference ]; then
  echo "PART=relay relays to the Azure ML models only" >&2; exit 2
fi
if [ "${PART:-}" = relay ]; then  # the ceiling: a server that only relays /inf to the models
  python "$here/relay_ceiling.py" --model-server "http://127.0.0.1:$mport" --port $port >"$work/server.log" 2>&1 &
else
  hypercorn -b 127.0.0.1:$port -w 1 app:app >"$work/server.log" 2>&1 &
fi
server=$!
trap 'kill -TERM $server $models 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
pg=$(head -1 "$NACHET_DATA_DIR/pg/postmaster.pid" 2>/dev/null || true)  # none beside the relay
aux=(--aux-pid "$models"); [ -n "$pg" ] && aux+=(--aux-pid "$pg")
run() {  # tag latency concurrencies [extra args]
  curl -sf -XPOST "http://127.0.0.1:$mport/config" -d "{\"latency_ms\": $2}" >/dev/null
  python "$loadgen" run --base-url "http://127.0.0.1:$port" --scenario inference --concurrency "$3" \
      --duration "$duration" --warmup 2 --user-id "$user" --model-name "Swin transformer" --images "$work/images" \
      --model-server "http://127.0.0.1:$mport" --server-pid "$server" "${aux[@]}" \
      --tag "$1" --label nachet-rebuilt --out-dir "$out" "${@:4}"
  worker_peak "$1"
}
worker_peak() {  # the loadgen's peak RSS sums master, worker and resource tracker: the worker's own
  local peak=0 kb
  for p in $(pgrep -P "$server"); do
    kb=$(awk '/VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    [ "${kb:-0}" -gt "$peak" ] && peak=$kb
  done
  [ "$peak" -gt 0 ] || return 0  # the relay has no worker process
  echo "[$1] worker peak RSS so far (VmHWM): $((peak / 1024)) MB"
}
floor() {  # the least c=1 p50 can be here: the model calls alone, from a client on loopback
  if [ "${MODELS:-azureml}" = open-inference ]; then echo "model floor: measured for the Azure ML models only"; return 0; fi
  curl -sf -XPOST "http://127.0.0.1:$mport/config" -d '{"latency_ms": 50}' >/dev/null
  python "$here/model_floor.py" --model-server "http://127.0.0.1:$mport" --images "$work/images"
}
case "${PART:-}" in
  c1) run lat50 50 1; floor; python "$shared/loadgen.py" summarize "$out"; exit 0 ;;
  c8|c64) run lat50 50 "${PART#c}"; python "$shared/loadgen.py" summarize "$out"; exit 0 ;;
  relay) run relay50 50 1,8,64; python "$shared/loadgen.py" summarize "$out"; exit 0 ;;
esac
run lat50 50 1,8,64
floor
run lat0 0 1,8
count() { python - "$user" <<PY
import asyncio, asyncpg, os, sys
from datastore.embedded import start_embedded
from pathlib import Path
async def main():
    conn = await asyncpg.connect(f"postgresql://postgres@/nachet?host={os.environ['NACHET_DATA_DIR']}/pg")
    print(await conn.fetchval('SELECT count(*) FROM "nachet_0.0.11".inference WHERE user_id = \$1::uuid', sys.argv[1]))
asyncio.run(main())
PY
}
# fill the user's history to 5 000 pictures, then measure again
have=$(count)
python "$loadgen" run --base-url "http://127.0.0.1:$port" --scenario inference --concurrency 16 \
    --duration 600 --max-duration 600 --requests $((5000 - have)) --warmup 0 --user-id "$user" \
    --model-name "Swin transformer" --images "$work/images" >/dev/null
echo "pictures stored for the user: $(count)"
run lat0-5000 0 1,8
run lat50-5000 50 1
python "$shared/loadgen.py" summarize "$out"
