#!/usr/bin/env bash
# The API contract, held by a fuzzer: schemathesis (a pinned version) with every check,
# its coverage and fuzzing phases, a fixed seed and example count, under a time cap,
# against an `aeon node` on a scratch SQLite database with a token. A failure is
# accepted only when tests/contract/exceptions.py lists it (with its reason); anything
# else fails the run. CI runs this after the tests (.ci/run); run it yourself with
#
#   tests/contract/run.sh [path/to/aeon]
#
# (default target/debug/aeon, as the test build leaves it). AEON_ST_SEED,
# AEON_ST_EXAMPLES and AEON_ST_CAP (seconds) change the seed, the examples per
# operation and the cap; AEON_ST_STORE_URL runs the node on another database (an empty
# Postgres database, say) instead of the scratch SQLite file.
set -euo pipefail
cd "$(dirname "$0")/../.."

version=4.32.5
seed=${AEON_ST_SEED:-1}
examples=${AEON_ST_EXAMPLES:-100}
cap=${AEON_ST_CAP:-300}

# Through python3 (as pip installed it), whatever PATH holds.
st() { python3 -m schemathesis.cli "$@"; }
if ! st --version 2>/dev/null | grep -q "version $version\$"; then
  echo "contract: installing schemathesis $version"
  python3 -m pip install --quiet --disable-pip-version-check "schemathesis==$version"
fi

bin=${1:-target/debug/aeon}
if [ $# -eq 0 ]; then
  # The test build makes target/debug/aeon (with the tests' features: a plain
  # `cargo build` would build every dependency again); a no-op after `cargo test`.
  cargo test --test aeon --no-run --quiet
fi

bin=$(realpath "$bin")
scratch=$(mktemp -d)
node_pid=
cleanup() {
  if [ -n "$node_pid" ]; then kill "$node_pid" 2>/dev/null || true; wait "$node_pid" 2>/dev/null || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
export AEON_ST_TOKEN=contract-$RANDOM$RANDOM
# Only this node's own settings: no DATABASE_URL, REDIS_URL or QDRANT_URL from outside.
(cd "$scratch" && exec env -u DATABASE_URL -u REDIS_URL -u QDRANT_URL \
  AEON__STORE__URL="${AEON_ST_STORE_URL:-sqlite://$scratch/aeon.db}" AEON__API__BIND="127.0.0.1:$port" \
  AEON__API__TOKEN="$AEON_ST_TOKEN" AEON__NODE__ID=contract "$bin" node >"$scratch/node.log" 2>&1) &
node_pid=$!
for _ in $(seq 1 100); do
  curl -sf "$url/readyz" >/dev/null && break
  sleep 0.1
done
curl -sf "$url/readyz" >/dev/null || { echo "contract: the node did not start" >&2; cat "$scratch/node.log" >&2; exit 1; }

# Real ids (tests/contract/schemathesis.toml): a job whose payload and result are no
# object, a dead-lettered job with a failed attempt, a pending job nobody runs, a
# snapshot and a worker.
call() { # method path [body]
  curl -sf -X "$1" "$url$2" -H "Authorization: Bearer $AEON_ST_TOKEN" -H 'content-type: application/json' \
    ${3:+-d "$3"}
}
field() { python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"; }
AEON_ST_JOB=$(call POST /v1/jobs '{"type": "echo", "payload": [1, "two", null, {"x": 1.5}]}' | field job_id)
AEON_ST_FAILED_JOB=$(call POST /v1/jobs '{"type": "fail", "payload": {"times": 5}, "max_retries": 0}' | field job_id)
AEON_ST_PENDING_JOB=$(call POST /v1/jobs '{"type": "contract.nobody-runs-this"}' | field job_id)
AEON_ST_SNAPSHOT=$(call POST /v1/snapshots '{"type": "FULL"}' | field snapshot_id)
AEON_ST_WORKER=$(call GET /v1/workers | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["worker_id"])')
export AEON_ST_JOB AEON_ST_FAILED_JOB AEON_ST_PENDING_JOB AEON_ST_SNAPSHOT AEON_ST_WORKER
for job in "$AEON_ST_JOB" "$AEON_ST_FAILED_JOB"; do
  for _ in $(seq 1 100); do
    call GET "/v1/jobs/$job" | grep -qE '"status": ?"(COMPLETED|DEAD_LETTER)"' && break
    sleep 0.1
  done
done

echo "contract: schemathesis $version, seed $seed, $examples examples per operation, at most ${cap}s"
status=0
timeout "$cap" python3 -m schemathesis.cli --config-file tests/contract/schemathesis.toml run "$url/openapi.json" \
  --checks all --phases coverage,fuzzing --seed "$seed" --max-examples "$examples" \
  --generation-database none --request-timeout 10 --no-color || status=$?
if [ "$status" -eq 124 ]; then
  echo "contract: schemathesis did not finish within ${cap}s" >&2
fi
if ! kill -0 "$node_pid" 2>/dev/null; then
  echo "contract: the node died during the run" >&2
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "contract: failed; the node's log ends:" >&2
  tail -n 40 "$scratch/node.log" >&2
fi
exit "$status"
