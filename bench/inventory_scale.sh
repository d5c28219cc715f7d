#!/usr/bin/env bash
# Scale benchmark of `handover inventory` (issue 13 §7): the inventory of ~100,000 entities
# must stay under 200 MB resident and run at the server's pace, with default flags (the
# pace controller every command uses).
#
#   bench/inventory_scale.sh [PER_KIND] [SIM_RATE_LIMIT] [ORPHANS]
#                            (defaults: 2656, none, 10)
#   BENCH_KINDS=k1,k2,...  kinds to seed (default: the 25 writable kinds)
#
# Builds the release binary, starts `handover sim` on a free loopback port with a generated
# seed of PER_KIND owned entities per kind plus half as many owned by others, and ORPHANS
# orphans (plus half as many half-orphans) per kind left by 5 departed users: with the
# defaults 25 x (2656 + 1328 + 10 + 5) = 99,975 entities. With SIM_RATE_LIMIT the simulator
# answers 429 past that many requests per second, and the last line says which fraction of
# the limit the inventory reached. Then runs, with no pace flag,
#
#   handover inventory -q --out inventory.csv
#
# under /usr/bin/time -v (the simulator runs in its own process; its memory is not counted)
# and prints a last line
#
#   inventory_scale: N rows, peak RSS X MB, wall W s, R requests/s[, F of the limit, T% 429]
#
# It exits 1 when the peak RSS is 200 MB or more, or when the CSV does not hold one row per
# entity. Needs GNU time. Traffic stays on 127.0.0.1.
set -euo pipefail

PER_KIND=${1:-2656}
SIM_RATE_LIMIT=${2:-}
ORPHANS=${3:-10}
LIMIT_MB=200
# The 25 writable kinds (issue 18); the 2 read-only ones (model packages, notebooks) are left out.
KINDS=${BENCH_KINDS:-project,dataset,data_source,data_store,calendar,deployment,use_case,registered_model,custom_model,custom_task,execution_environment,file,user_blueprint,application,custom_application,custom_application_source,custom_job,secure_config,notification_channel_template,notification_policy_template,compliance_doc_template,value_tracker,workload,artifact,artifact_repository}
IFS=, read -r -a KIND_LIST <<<"$KINDS"
NKINDS=${#KIND_LIST[@]}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if [[ ! -x /usr/bin/time ]] || ! /usr/bin/time -v true >/dev/null 2>&1; then
    echo "inventory_scale: GNU time not found (Debian: apt-get update && apt-get install -y time)" >&2
    exit 2
fi

cargo build --release --quiet --bin handover
BIN=$ROOT/target/release/handover

WORK=$(mktemp -d "${TMPDIR:-/tmp}/inventory_scale.XXXXXX")
SIM_PID=
cleanup() {
    if [[ -n $SIM_PID ]] && kill -0 "$SIM_PID" 2>/dev/null; then
        kill -INT "$SIM_PID" 2>/dev/null || true
        wait "$SIM_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

LIMIT_ARGS=()
if [[ -n $SIM_RATE_LIMIT ]]; then
    LIMIT_ARGS=(--rate-limit "$SIM_RATE_LIMIT")
fi
"$BIN" sim --listen 127.0.0.1:0 --seed 1 --per-kind "$PER_KIND" --kinds "$KINDS" --departed 5 --orphans "$ORPHANS" \
    "${LIMIT_ARGS[@]}" >"$WORK/sim.out" 2>"$WORK/sim.err" &
SIM_PID=$!

# The first stdout line names the endpoint and the admin token.
for _ in $(seq 600); do
    grep -q '^handover sim listening:' "$WORK/sim.out" 2>/dev/null && break
    kill -0 "$SIM_PID" 2>/dev/null || { cat "$WORK/sim.err" >&2; exit 1; }
    sleep 0.1
done
LINE=$(grep '^handover sim listening:' "$WORK/sim.out") || { echo "inventory_scale: simulator did not start" >&2; exit 1; }
ENDPOINT=$(sed -E 's/.*endpoint=([^ ]+).*/\1/' <<<"$LINE")
TOKEN=$(sed -E 's/.*token=([^ ]+).*/\1/' <<<"$LINE")
ORIGIN=${ENDPOINT%/api/v2}

EXPECTED=$(( NKINDS * (PER_KIND + (PER_KIND + 1) / 2 + ORPHANS + (ORPHANS + 1) / 2) ))
echo "inventory_scale: $EXPECTED entities, simulator rate limit ${SIM_RATE_LIMIT:-none}, endpoint $ENDPOINT"
# A clean environment: no config file or DATAROBOT_* variable of this machine leaks in.
env -i HOME="$WORK" PATH="$PATH" /usr/bin/time -v -o "$WORK/time.txt" \
    "$BIN" inventory --endpoint "$ENDPOINT" --token "$TOKEN" -q --out "$WORK/inventory.csv" \
    >"$WORK/inv.out" 2>"$WORK/inv.err" || {
    echo "inventory_scale: handover inventory failed:" >&2
    cat "$WORK/inv.err" "$WORK/time.txt" >&2
    exit 1
}
head -16 "$WORK/inv.out"
tail -1 "$WORK/inv.out"

RSS_KB=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/time.txt")
WALL=$(awk '/Elapsed \(wall clock\) time/ { print $NF }' "$WORK/time.txt")
# h:mm:ss or m:ss.cc → seconds.
WALL_S=$(awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }' <<<"$WALL")
ROWS=$(( $(wc -l <"$WORK/inventory.csv") - 1 ))
STATS=$(curl -s "$ORIGIN/__sim/stats" 2>/dev/null || true)
REQUESTS=$(grep -oE '"requests":[0-9]+' <<<"$STATS" | head -1 | cut -d: -f2 || true)
LIMITED=$(grep -oE '"rate_limited":[0-9]+' <<<"$STATS" | head -1 | cut -d: -f2 || true)
SIM_RSS_KB=$(awk '/^VmHWM:/ { print $2 }' "/proc/$SIM_PID/status" 2>/dev/null || echo 0)

RSS_MB=$(awk -v k="$RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }')
RPS=$(awk -v n="${REQUESTS:-0}" -v s="$WALL_S" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
EXTRA=
if [[ -n $SIM_RATE_LIMIT ]]; then
    EXTRA=$(awk -v r="$RPS" -v l="$SIM_RATE_LIMIT" -v n="${REQUESTS:-0}" -v t="${LIMITED:-0}" \
        'BEGIN { printf ", %.3f of the limit, %.2f%% 429", r / l, (n > 0 ? 100 * t / n : 0) }')
fi
echo "inventory_scale: simulator peak RSS $((SIM_RSS_KB / 1024)) MB; ${REQUESTS:-?} requests"
echo "inventory_scale: $ROWS rows, peak RSS $RSS_MB MB, wall $WALL_S s, $RPS requests/s$EXTRA"
if (( ROWS != EXPECTED )); then
    echo "inventory_scale: $ROWS rows, $EXPECTED entities" >&2
    exit 1
fi
if (( RSS_KB >= LIMIT_MB * 1024 )); then
    echo "inventory_scale: peak RSS $RSS_MB MB is over the $LIMIT_MB MB budget" >&2
    exit 1
fi
