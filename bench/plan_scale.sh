#!/usr/bin/env bash
# Scale benchmark of `handover plan` (issue 3 §6): planning ~100,000 owned entities must keep
# the planner under 200 MB resident, and the plan is written as it is made (streamed).
#
#   bench/plan_scale.sh [PER_KIND] [RATE] [CONCURRENCY] [EXTRA_RATIO]
#                       (defaults: 4000, 5000, 64, 0.5)
#   BENCH_KINDS=k1,k2,...  kinds to seed and plan (default: the 25 writable kinds)
#
# Builds the release binary, starts `handover sim` on a free loopback port with a generated
# seed where the departing user owns PER_KIND entities of each of the 25 writable kinds
# (4000 x 25 = 100,000 owned) plus EXTRA_RATIO as many owned by others (the planner reads
# every entity's access list: ownership comes from the access lists, issue 18; half of the
# others' entities give the departing user a role, which the default plan revokes), then runs
#
#   handover plan --from departing@acme.test --to successor@acme.test -q \
#       --rate RATE --concurrency CONCURRENCY --out plan.jsonl
#
# under /usr/bin/time -v. The simulator runs in its own process, so its memory is not
# counted. Prints the plan's summary table and a last line
#
#   plan_scale: N entities planned, peak RSS X MB, wall W s, E entities/s, R requests/s
#
# and exits 1 when the peak RSS is 200 MB or more. The simulator's RSS is printed for
# reference. Needs GNU time (Debian: apt-get install -y time). Traffic stays on 127.0.0.1.
# With the defaults the simulator holds ~150k entities and the planner sends ~150k requests
# (lists, then one access-list read per listed entity).
set -euo pipefail

PER_KIND=${1:-4000}
RATE=${2:-5000}
CONCURRENCY=${3:-64}
EXTRA_RATIO=${4:-0.5}
LIMIT_MB=200
# The 25 writable kinds (issue 18); the 2 read-only ones (model packages, notebooks) are left out.
KINDS=${BENCH_KINDS:-project,dataset,data_source,data_store,calendar,deployment,use_case,registered_model,custom_model,custom_task,execution_environment,file,user_blueprint,application,custom_application,custom_application_source,custom_job,secure_config,notification_channel_template,notification_policy_template,compliance_doc_template,value_tracker,workload,artifact,artifact_repository}
IFS=, read -r -a KIND_LIST <<<"$KINDS"
NKINDS=${#KIND_LIST[@]}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if [[ ! -x /usr/bin/time ]] || ! /usr/bin/time -v true >/dev/null 2>&1; then
    echo "plan_scale: GNU time not found (Debian: apt-get update && apt-get install -y time)" >&2
    exit 2
fi

cargo build --release --quiet --bin handover
BIN=$ROOT/target/release/handover

WORK=$(mktemp -d "${TMPDIR:-/tmp}/plan_scale.XXXXXX")
SIM_PID=
cleanup() {
    if [[ -n $SIM_PID ]] && kill -0 "$SIM_PID" 2>/dev/null; then
        kill -INT "$SIM_PID" 2>/dev/null || true
        wait "$SIM_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

"$BIN" sim --listen 127.0.0.1:0 --seed 1 --per-kind "$PER_KIND" --kinds "$KINDS" --extra-ratio "$EXTRA_RATIO" \
    >"$WORK/sim.out" 2>"$WORK/sim.err" &
SIM_PID=$!

# The first stdout line names the endpoint and the admin token.
for _ in $(seq 600); do
    grep -q '^handover sim listening:' "$WORK/sim.out" 2>/dev/null && break
    kill -0 "$SIM_PID" 2>/dev/null || { cat "$WORK/sim.err" >&2; exit 1; }
    sleep 0.1
done
LINE=$(grep '^handover sim listening:' "$WORK/sim.out") || { echo "plan_scale: simulator did not start" >&2; exit 1; }
ENDPOINT=$(sed -E 's/.*endpoint=([^ ]+).*/\1/' <<<"$LINE")
TOKEN=$(sed -E 's/.*token=([^ ]+).*/\1/' <<<"$LINE")
ORIGIN=${ENDPOINT%/api/v2}

echo "plan_scale: $PER_KIND owned per kind x $NKINDS kinds (+$EXTRA_RATIO others'), rate $RATE/s, concurrency $CONCURRENCY, endpoint $ENDPOINT"
# A clean environment: no config file or DATAROBOT_* variable of this machine leaks in.
env -i HOME="$WORK" PATH="$PATH" /usr/bin/time -v -o "$WORK/time.txt" \
    "$BIN" plan --endpoint "$ENDPOINT" --token "$TOKEN" \
    --from departing@acme.test --to successor@acme.test -q \
    --rate "$RATE" --concurrency "$CONCURRENCY" --out "$WORK/plan.jsonl" \
    >"$WORK/plan.out" 2>"$WORK/plan.err" || {
    echo "plan_scale: handover plan failed:" >&2
    cat "$WORK/plan.err" "$WORK/time.txt" >&2
    exit 1
}
cat "$WORK/plan.out"

RSS_KB=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/time.txt")
WALL=$(awk '/Elapsed \(wall clock\) time/ { print $NF }' "$WORK/time.txt")
# h:mm:ss or m:ss.cc → seconds.
WALL_S=$(awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }' <<<"$WALL")
ENTITIES=$(sed -nE 's/^plan: .* \(([0-9]+) entities;.*/\1/p' "$WORK/plan.out")
PLAN_BYTES=$(stat -c %s "$WORK/plan.jsonl")
REQUESTS=$(curl -s "$ORIGIN/__sim/stats" 2>/dev/null | grep -oE '"requests":[0-9]+' | head -1 | cut -d: -f2 || true)
SIM_RSS_KB=$(awk '/^VmHWM:/ { print $2 }' "/proc/$SIM_PID/status" 2>/dev/null || echo 0)

RSS_MB=$(awk -v k="$RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }')
EPS=$(awk -v n="$ENTITIES" -v s="$WALL_S" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
RPS=$(awk -v n="${REQUESTS:-0}" -v s="$WALL_S" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
echo "plan_scale: plan file $((PLAN_BYTES / 1024 / 1024)) MB; simulator peak RSS $((SIM_RSS_KB / 1024)) MB; ${REQUESTS:-?} requests"
echo "plan_scale: $ENTITIES entities planned, peak RSS $RSS_MB MB, wall $WALL_S s, $EPS entities/s, $RPS requests/s"
if (( RSS_KB >= LIMIT_MB * 1024 )); then
    echo "plan_scale: peak RSS $RSS_MB MB is over the $LIMIT_MB MB budget" >&2
    exit 1
fi
