#!/usr/bin/env bash
# Throughput of `handover apply` against a rate-limited server: how close to the server's
# limit it runs and how often it is answered 429.
#
#   bench/throughput.sh [LIMIT] [RATE] [PER_KIND] [CONCURRENCY]
#       defaults: 100 requests/s limit, --rate 100, 154 entities per kind (2,002 over the
#       13 kinds), --concurrency 16
#   bench/throughput.sh 50 1000          # the overload case: --rate 1000 against 50/s
#
# Builds the release binary, starts `handover sim` on a free loopback port with a
# generated organisation and a token-bucket limit of LIMIT requests/s (burst LIMIT/10,
# Retry-After 1 s), plans the offboarding (not timed against the limit: the planner is
# throttled the same way), resets the simulator's counters, applies the plan, and prints:
# the wall time of apply, requests the server saw during apply, achieved requests/s and
# its ratio to LIMIT, the share of requests answered 429, requests per changed entity,
# and the wall time over the ideal (requests needed / LIMIT). Traffic stays on 127.0.0.1.
set -euo pipefail

LIMIT=${1:-100}
RATE=${2:-$LIMIT}
PER_KIND=${3:-154}
CONC=${4:-16}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

cargo build --release --quiet --bin handover
BIN=$ROOT/target/release/handover

WORK=$(mktemp -d "${TMPDIR:-/tmp}/throughput.XXXXXX")
SIM_PID=
cleanup() {
    if [[ -n $SIM_PID ]] && kill -0 "$SIM_PID" 2>/dev/null; then
        kill -INT "$SIM_PID" 2>/dev/null || true
        wait "$SIM_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

BURST=$(( LIMIT / 10 > 1 ? LIMIT / 10 : 1 ))
"$BIN" sim --listen 127.0.0.1:0 --seed 3 --per-kind "$PER_KIND" --extra-ratio 0 \
    --rate-limit "$LIMIT" --rate-limit-burst "$BURST" --retry-after-secs 1 \
    >"$WORK/sim.out" 2>"$WORK/sim.err" &
SIM_PID=$!
for _ in $(seq 100); do
    grep -q "endpoint=" "$WORK/sim.out" 2>/dev/null && break
    sleep 0.1
done
ENDPOINT=$(sed -n 's/.*endpoint=\([^ ]*\).*/\1/p' "$WORK/sim.out")
ROOT_URL=${ENDPOINT%/api/v2}
export DATAROBOT_ENDPOINT=$ENDPOINT DATAROBOT_API_TOKEN=sim-admin-token

"$BIN" -q plan --from departing@acme.test --to successor@acme.test \
    --rate "$LIMIT" --concurrency "$CONC" --out "$WORK/plan.jsonl" >/dev/null
CHANGES=$(grep -c '"action":"change"' "$WORK/plan.jsonl")

# Counters from here on are apply's own.
curl -sf -X POST "$ROOT_URL/__sim/config" -H 'content-type: application/json' \
    -d "$(curl -sf "$ROOT_URL/__sim/config")" >/dev/null
curl -sf "$ROOT_URL/__sim/stats" >"$WORK/before.json"

start=$(date +%s.%N)
"$BIN" -q apply "$WORK/plan.jsonl" --journal "$WORK/journal.jsonl" \
    --rate "$RATE" --concurrency "$CONC" >/dev/null
end=$(date +%s.%N)
curl -sf "$ROOT_URL/__sim/stats" >"$WORK/after.json"

python3 - "$WORK/before.json" "$WORK/after.json" "$start" "$end" "$LIMIT" "$RATE" "$CHANGES" <<'EOF'
import json, sys
before, after = (json.load(open(p)) for p in sys.argv[1:3])
start, end, limit, rate, changes = map(float, sys.argv[3:8])
reqs = after["requests"] - before["requests"]
throttled = after["rate_limited"] - before["rate_limited"]
wall = end - start
ok = reqs - throttled
print(f"limit {limit:.0f}/s, --rate {rate:.0f}, {changes:.0f} entities changed")
print(f"apply wall time        {wall:.1f} s")
print(f"requests seen          {reqs:.0f} ({throttled:.0f} answered 429 = {100*throttled/max(reqs,1):.2f}%)")
print(f"achieved requests/s    {reqs/wall:.1f} (accepted {ok/wall:.1f}/s = {ok/wall/limit:.3f} of the limit)")
print(f"requests per entity    {ok/max(changes,1):.2f}")
print(f"wall time / ideal      {wall/(ok/limit):.3f}")
EOF
