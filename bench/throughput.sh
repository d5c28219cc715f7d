#!/usr/bin/env bash
# Throughput of `handover apply` against a rate-limited server (issue 6 §2, the ceiling): how
# close to the server's limit it runs, how often it is answered 429, and how many requests
# each changed entity costs, with the read-back (the default) and without (`--no-verify`).
#
#   bench/throughput.sh [LIMIT] [RATE] [PER_KIND] [CONCURRENCY] [MODES]
#       defaults: 100 requests/s limit, --rate 100, 154 entities per kind (2,002 over the
#       13 kinds), --concurrency 16, MODES "verify,no-verify"
#   bench/throughput.sh 50 1000 154 16 verify   # the overload case: --rate 1000 against 50/s
#
# Builds the release binary, starts `handover sim` on a free loopback port with a
# generated organisation and a token-bucket limit of LIMIT requests/s (burst LIMIT/10,
# Retry-After 1 s), plans the offboarding once (not timed against the limit: the planner is
# throttled the same way), then for each mode resets the simulator to the planned seed
# (POST /__sim/reset: same data, counters cleared), waits for the bucket to refill, applies
# the plan into a fresh journal and prints: the wall time of apply, requests the server saw,
# achieved requests/s and its ratio to LIMIT, the share answered 429, requests per changed
# entity (accepted requests / entities changed; target: at most 3 with the read-back, at most
# 2 without), and the wall time over the ideal (accepted requests / LIMIT). A last line per
# mode, `throughput[MODE]: ...`, sums it up. Traffic stays on 127.0.0.1.
set -euo pipefail

LIMIT=${1:-100}
RATE=${2:-$LIMIT}
PER_KIND=${3:-154}
CONC=${4:-16}
MODES=${5:-verify,no-verify}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

cargo build --release --quiet --bin handover

WORK=$(mktemp -d "${TMPDIR:-/tmp}/throughput.XXXXXX")
# A private copy: the target dir is shared, and a rebuild mid-run must not mix two builds.
cp "$ROOT/target/release/handover" "$WORK/handover"
BIN=$WORK/handover
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
    --dump-seed "$WORK/seed.json" >"$WORK/sim.out" 2>"$WORK/sim.err" &
SIM_PID=$!
for _ in $(seq 100); do
    grep -q "endpoint=" "$WORK/sim.out" 2>/dev/null && break
    kill -0 "$SIM_PID" 2>/dev/null || { cat "$WORK/sim.err" >&2; exit 1; }
    sleep 0.1
done
ENDPOINT=$(sed -n 's/.*endpoint=\([^ ]*\).*/\1/p' "$WORK/sim.out")
ROOT_URL=${ENDPOINT%/api/v2}
export DATAROBOT_ENDPOINT=$ENDPOINT DATAROBOT_API_TOKEN=sim-admin-token

"$BIN" -q plan --from departing@acme.test --to successor@acme.test \
    --rate "$LIMIT" --concurrency "$CONC" --out "$WORK/plan.jsonl" >/dev/null
CHANGES=$(grep -c '"action":"change"' "$WORK/plan.jsonl")

IFS=, read -r -a MODE_LIST <<<"$MODES"
for MODE in "${MODE_LIST[@]}"; do
    case $MODE in
        verify) FLAGS=() ;;
        no-verify) FLAGS=(--no-verify) ;;
        *) echo "throughput: unknown mode $MODE (verify, no-verify)" >&2; exit 2 ;;
    esac
    # Same data as planned, counters cleared; the bucket refills over 1 s.
    curl -sf -X POST "$ROOT_URL/__sim/reset" -H 'content-type: application/json' \
        --data-binary "@$WORK/seed.json" >/dev/null
    sleep 1
    curl -sf "$ROOT_URL/__sim/stats" >"$WORK/before.json"

    start=$(date +%s.%N)
    "$BIN" -q apply "$WORK/plan.jsonl" --journal "$WORK/journal-$MODE.jsonl" \
        --rate "$RATE" --concurrency "$CONC" "${FLAGS[@]}" >/dev/null
    end=$(date +%s.%N)
    curl -sf "$ROOT_URL/__sim/stats" >"$WORK/after.json"

    python3 - "$WORK/before.json" "$WORK/after.json" "$start" "$end" "$LIMIT" "$RATE" "$CHANGES" "$MODE" <<'PY'
import json, sys
before, after = (json.load(open(p)) for p in sys.argv[1:3])
start, end, limit, rate, changes = map(float, sys.argv[3:8])
mode = sys.argv[8]
target = 3 if mode == "verify" else 2
reqs = after["requests"] - before["requests"]
throttled = after["rate_limited"] - before["rate_limited"]
wall = end - start
ok = reqs - throttled
# Entity requests (access-list reads and share writes) apart from the two per-run handshake
# requests (version/, account/info/): the target is about the former.
groups = {}
for route, outcomes in after["by_route"].items():
    method, path = route.split(" ", 1)
    if path.endswith("/accessControl/") or path.endswith("/sharedRoles/"):
        key = f"{method} access list"
    else:
        key = route
    groups[key] = groups.get(key, 0) + sum(n for o, n in outcomes.items() if o != "429")
per_run = sum(n for k, n in groups.items() if not k.endswith("access list"))
per = (ok - per_run) / max(changes, 1)
routes = ", ".join(f"{k} {n}" for k, n in sorted(groups.items()))
print()
print(f"[{mode}] limit {limit:.0f}/s, --rate {rate:.0f}, {changes:.0f} entities changed")
print(f"apply wall time        {wall:.1f} s")
print(f"requests seen          {reqs:.0f} ({throttled:.0f} answered 429 = {100*throttled/max(reqs,1):.2f}%)")
print(f"  accepted, by route   {routes}")
print(f"achieved requests/s    {reqs/wall:.1f} (accepted {ok/wall:.1f}/s = {ok/wall/limit:.3f} of the limit)")
print(f"requests per entity    {per:.3f} (+{per_run} per run; target <= {target}: "
      f"{'met' if per <= target + 1e-9 else 'MISSED'})")
print(f"wall time / ideal      {wall/(ok/limit):.3f}")
print(f"throughput[{mode}]: {per:.2f} requests/entity, {ok/wall/limit:.3f} of the limit, "
      f"{100*throttled/max(reqs,1):.2f}% 429, wall/ideal {wall/(ok/limit):.3f}, wall {wall:.1f} s")
PY
done
