#!/usr/bin/env bash
# The automatic pace (issue 11) against three servers, each with handover's DEFAULT flags
# (`--rate auto --concurrency auto`): `handover offboard` plans and applies in one process.
#
#   bench/pace.sh [SCENARIOS] [PER_KIND]
#       SCENARIOS: comma-separated, default "limit,capacity,step"; PER_KIND default 80
#       (2,000 entities over the 25 writable kinds) for limit and capacity, 21 for step
#       (STEP_PER_KIND). BENCH_KINDS=k1,k2,... seeds other kinds (default: the 25 writable).
#
#   limit     a token bucket of 100 requests/s (burst 10, Retry-After 1 s), no latency.
#             Target: at least 0.90 of the limit, at most 3% of requests answered 429.
#   capacity  at most 8 requests in service at once, 50 ms each (about 160 requests/s),
#             the rest queue (`handover sim --capacity 8 --latency-ms 50`). Target: at least
#             0.85 of 160/s while the server's queue averages at most 8 waiting.
#   step      a limit of 50/s and 20 ms a request, switched to 400 ms halfway through
#             (POST /__sim/config). Must complete; writes bench/pace_step.svg, the rate
#             and the round trips over time (from the client's own debug log), with the
#             controller's decisions marked.
#
# Throughput counts every request the simulator answered (accepted ones, 429s apart) over
# the wall time of the whole offboard process (connection check, planning and applying).
# Builds the release binary and runs a private copy of it; traffic stays on 127.0.0.1.
set -euo pipefail

SCENARIOS=${1:-limit,capacity,step}
PER_KIND=${2:-80}
# The 25 writable kinds (issue 18); the 2 read-only ones (model packages, notebooks) are left out.
KINDS=${BENCH_KINDS:-project,dataset,data_source,data_store,calendar,deployment,use_case,registered_model,custom_model,custom_task,execution_environment,file,user_blueprint,application,custom_application,custom_application_source,custom_job,secure_config,notification_channel_template,notification_policy_template,compliance_doc_template,value_tracker,workload,artifact,artifact_repository}
IFS=, read -r -a KIND_LIST <<<"$KINDS"
NKINDS=${#KIND_LIST[@]}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

cargo build --release --quiet --bin handover

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pace.XXXXXX")
cp "${CARGO_TARGET_DIR:-$ROOT/target}/release/handover" "$WORK/handover"
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

# start_sim NAME SIM-FLAGS...: a fresh simulator; sets ENDPOINT and ORIGIN.
start_sim() {
    local name=$1
    shift
    "$BIN" sim --listen 127.0.0.1:0 --seed 11 --kinds "$KINDS" --extra-ratio 0 "$@" \
        >"$WORK/$name.sim.out" 2>"$WORK/$name.sim.err" &
    SIM_PID=$!
    for _ in $(seq 300); do
        grep -q "endpoint=" "$WORK/$name.sim.out" 2>/dev/null && break
        kill -0 "$SIM_PID" 2>/dev/null || { cat "$WORK/$name.sim.err" >&2; exit 1; }
        sleep 0.1
    done
    ENDPOINT=$(sed -n 's/.*endpoint=\([^ ]*\).*/\1/p' "$WORK/$name.sim.out")
    ORIGIN=${ENDPOINT%/api/v2}
}

# offboard NAME [ENV...]: handover offboard with default flags; wall time in NAME.wall.
offboard() {
    local name=$1
    shift
    mkdir -p "$WORK/$name"
    local start end
    start=$(date +%s.%N)
    (cd "$WORK/$name" && env -i HOME="$WORK/$name" PATH="$PATH" "$@" "$BIN" --log-format json offboard \
        --endpoint "$ENDPOINT" --token sim-admin-token \
        --from departing@acme.test --to successor@acme.test --yes \
        >"$WORK/$name.out" 2>"$WORK/$name.err")
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }' >"$WORK/$name.wall"
    curl -sf "$ORIGIN/__sim/stats" >"$WORK/$name.stats.json"
}

report() {
    python3 - "$WORK" "$1" "$2" <<'PY'
import json, sys
work, name, kind = sys.argv[1:4]
wall = float(open(f"{work}/{name}.wall").read())
stats = json.load(open(f"{work}/{name}.stats.json"))
out = open(f"{work}/{name}.out").read()
reqs, t429 = stats["requests"], stats["rate_limited"]
ok = reqs - t429
print(f"\n[{name}] wall {wall:.1f} s, {reqs} requests, {t429} answered 429 ({100*t429/max(reqs,1):.2f}%)")
for line in out.splitlines():
    if line.startswith(("requests:", "pace:")) or line.startswith("total "):
        print(f"  {line}")
if kind == "limit":
    frac = ok / wall / 100.0
    share = 100 * t429 / max(reqs, 1)
    verdict = "met" if frac >= 0.90 and share <= 3 else "MISSED"
    print(f"pace[limit]: accepted {ok/wall:.1f}/s = {frac:.3f} of the 100/s limit, {share:.2f}% 429 "
          f"(target >= 0.90 and <= 3%: {verdict})")
elif kind == "capacity":
    frac = ok / wall / 160.0
    q = stats.get("avg_queue", 0.0)
    verdict = "met" if frac >= 0.85 and q <= 8 else "MISSED"
    print(f"pace[capacity]: {ok/wall:.1f} requests/s = {frac:.3f} of 160/s; server queue "
          f"{q:.2f} on average (peak {stats.get('max_queue')}), {stats.get('avg_in_service', 0):.2f} "
          f"in service; most in flight {stats['max_in_flight']} (target >= 0.85 and queue <= 8: {verdict})")
else:
    print(f"pace[{kind}]: {ok/wall:.1f} requests/s over {wall:.1f} s, {100*t429/max(reqs,1):.2f}% 429")
PY
}

IFS=, read -r -a LIST <<<"$SCENARIOS"
for S in "${LIST[@]}"; do
    case $S in
        limit)
            start_sim limit --per-kind "$PER_KIND" --rate-limit 100 --rate-limit-burst 10 \
                --retry-after-secs 1
            offboard limit
            report limit limit
            stop_sim
            ;;
        capacity)
            start_sim capacity --per-kind "$PER_KIND" --capacity 8 --latency-ms 50
            offboard capacity
            report capacity capacity
            stop_sim
            ;;
        step)
            N=${STEP_PER_KIND:-21}
            start_sim step --per-kind "$N" --rate-limit 50 --rate-limit-burst 5 \
                --retry-after-secs 1 --latency-ms 20
            # About 3 requests per entity plus listing: switch at half of them.
            HALF=$(( N * NKINDS * 3 / 2 ))
            (
                while sleep 0.2; do
                    n=$(curl -sf "$ORIGIN/__sim/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])') || exit 0
                    if (( n >= HALF )); then
                        cfg=$(curl -sf "$ORIGIN/__sim/config" | python3 -c 'import json,sys; c=json.load(sys.stdin); c["latency_ms"]=400; print(json.dumps(c))')
                        curl -sf -X POST "$ORIGIN/__sim/config" -H 'content-type: application/json' --data "$cfg" >/dev/null
                        date +%s.%N >"$WORK/step.switched"
                        exit 0
                    fi
                done
            ) &
            SWITCHER=$!
            offboard step HANDOVER_LOG=handover=debug
            wait "$SWITCHER" 2>/dev/null || true
            report step step
            python3 "$ROOT/bench/plot_pace.py" "$WORK/step.err" "$ROOT/bench/pace_step.svg" \
                "$(cat "$WORK/step.switched" 2>/dev/null || echo 0)"
            stop_sim
            ;;
        *) echo "pace: unknown scenario $S (limit, capacity, step)" >&2; exit 2 ;;
    esac
done
