#!/usr/bin/env bash
# Latency-bound scaling of `handover apply` (issue 6 §4): with a slow server and no rate limit,
# entities/s should grow nearly linearly with --concurrency.
#
#   bench/latency_scaling.sh [LATENCY_MS] [CONCURRENCIES] [PER_KIND_PER_SLOT]
#       defaults: 100 ms, "1,4,16,64", 3 (so 39 entities per unit of concurrency)
#
# Builds the release binary; then for each concurrency C starts `handover sim` on a free
# loopback port where the departing user owns PER_KIND_PER_SLOT x C entities of each of
# the 13 kinds (the job grows with C so that every run lasts about as long: ~12 s at the
# defaults), plans the offboarding with no latency, then resets the simulator to the same
# data (counters cleared), sets its latency to LATENCY_MS (POST /__sim/config) and times
#
#   handover apply plan.jsonl --rate 10000 --concurrency C
#
# (--rate at its maximum, so that only latency and concurrency bind). Prints per C: entities,
# wall time, entities/s, the latency-bound ideal C / (requests per entity x latency), the
# ratio achieved/ideal, and the speed-up over C=1 divided by C (1.00 = linear). Apply's wall
# time includes its start (the connection check: 2 requests, 2 x LATENCY_MS). Loopback only.
set -euo pipefail

LATENCY=${1:-100}
CONCS=${2:-1,4,16,64}
PER_SLOT=${3:-3}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

cargo build --release --quiet --bin handover

WORK=$(mktemp -d "${TMPDIR:-/tmp}/latency_scaling.XXXXXX")
# A private copy: the target dir is shared, and a rebuild mid-run must not mix two builds.
cp "$ROOT/target/release/handover" "$WORK/handover"
BIN=$WORK/handover
SIM_PID=
stop_sim() {
    if [[ -n $SIM_PID ]] && kill -0 "$SIM_PID" 2>/dev/null; then
        kill -INT "$SIM_PID" 2>/dev/null || true
        wait "$SIM_PID" 2>/dev/null || true
    fi
    SIM_PID=
}
cleanup() {
    stop_sim
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

echo "latency_scaling: ${LATENCY} ms per request, no limit, --rate 10000, concurrency $CONCS"
: >"$WORK/results"
IFS=, read -r -a CONC_LIST <<<"$CONCS"
for C in "${CONC_LIST[@]}"; do
    PER_KIND=$(( PER_SLOT * C ))
    rm -f "$WORK/sim.out"
    "$BIN" sim --listen 127.0.0.1:0 --seed 4 --per-kind "$PER_KIND" --extra-ratio 0 \
        --dump-seed "$WORK/seed.json" >"$WORK/sim.out" 2>"$WORK/sim.err" &
    SIM_PID=$!
    for _ in $(seq 300); do
        grep -q '^handover sim listening:' "$WORK/sim.out" 2>/dev/null && break
        kill -0 "$SIM_PID" 2>/dev/null || { cat "$WORK/sim.err" >&2; exit 1; }
        sleep 0.1
    done
    LINE=$(grep '^handover sim listening:' "$WORK/sim.out") || { echo "latency_scaling: simulator did not start" >&2; exit 1; }
    ENDPOINT=$(sed -E 's/.*endpoint=([^ ]+).*/\1/' <<<"$LINE")
    ORIGIN=${ENDPOINT%/api/v2}
    export DATAROBOT_ENDPOINT=$ENDPOINT DATAROBOT_API_TOKEN=sim-admin-token
    rm -f "$WORK"/plan.* "$WORK"/journal.*

    "$BIN" -q plan --from departing@acme.test --to successor@acme.test \
        --rate 10000 --concurrency 64 --out "$WORK/plan.jsonl" >/dev/null
    ENTITIES=$(grep -c '"action":"change"' "$WORK/plan.jsonl")

    # From here on every request waits LATENCY ms; the reset (same data) clears the counters.
    curl -sf -X POST "$ORIGIN/__sim/reset" -H 'content-type: application/json' \
        --data-binary "@$WORK/seed.json" >/dev/null
    CFG=$(curl -sf "$ORIGIN/__sim/config" | sed -E "s/\"latency_ms\":[0-9]+/\"latency_ms\":$LATENCY/")
    curl -sf -X POST "$ORIGIN/__sim/config" -H 'content-type: application/json' -d "$CFG" >/dev/null
    BEFORE=$(curl -sf "$ORIGIN/__sim/stats" | grep -oE '"requests":[0-9]+' | head -1 | cut -d: -f2)

    start=$(date +%s.%N)
    "$BIN" -q apply "$WORK/plan.jsonl" --journal "$WORK/journal.jsonl" \
        --rate 10000 --concurrency "$C" >/dev/null
    end=$(date +%s.%N)
    STATS=$(curl -sf "$ORIGIN/__sim/stats")
    AFTER=$(grep -oE '"requests":[0-9]+' <<<"$STATS" | head -1 | cut -d: -f2)
    INFLIGHT=$(grep -oE '"max_in_flight":[0-9]+' <<<"$STATS" | cut -d: -f2)
    echo "$C $ENTITIES $start $end $(( AFTER - BEFORE )) $INFLIGHT" >>"$WORK/results"
    stop_sim
done

python3 - "$WORK/results" "$LATENCY" <<'PY'
import sys
rows = [line.split() for line in open(sys.argv[1])]
latency = float(sys.argv[2]) / 1000
print()
print(f"{'C':>4} {'entities':>8} {'wall s':>7} {'req/ent':>7} {'entities/s':>10} {'ideal/s':>8} "
      f"{'of ideal':>8} {'speed-up/C':>10} {'max in flight':>13}")
base = None
lines = []
for c, n, start, end, reqs, inflight in rows:
    c, n, reqs = int(c), int(n), int(reqs)
    wall = float(end) - float(start)
    eps = n / wall
    per = (reqs - 2) / n  # 2 = the connection check of each run
    ideal = c / (per * latency)
    base = base or eps
    print(f"{c:>4} {n:>8} {wall:>7.2f} {per:>7.2f} {eps:>10.1f} {ideal:>8.1f} "
          f"{eps / ideal:>8.3f} {eps / base / c:>10.3f} {inflight:>13}")
    lines.append(f"latency_scaling[{c}]: {eps:.1f} entities/s, {eps / ideal:.3f} of the latency "
                 f"bound, speed-up/C {eps / base / c:.3f}")
print()
print("\n".join(lines))
PY
