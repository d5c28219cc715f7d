#!/usr/bin/env bash
# Load benchmark of `handover sim`: how many API requests per second it serves on loopback.
#
#   bench/sim_load.sh [DURATION_SECS] [CONNECTIONS]      (defaults: 10 s, 64 connections)
#
# Builds the release binary, starts `handover sim` on a free loopback port with a generated
# seed (13 kinds x 50 owned entities + extras, no latency, no faults), and runs wrk with
# 2 threads and 64 connections against a mix of half access-list reads (each kind's own
# dialect) and half list pages, all with the admin's token. Prints wrk's report and a last
# line `sim_load: N requests/s`. Needs wrk (Debian: apt-get install -y wrk). Traffic stays on
# 127.0.0.1 and stops after the duration.
set -euo pipefail

DURATION=${1:-10}
CONNS=${2:-64}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if ! command -v wrk >/dev/null; then
    echo "sim_load: wrk not found (Debian: apt-get update && apt-get install -y wrk)" >&2
    exit 2
fi

cargo build --release --quiet --bin handover
BIN=$ROOT/target/release/handover

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sim_load.XXXXXX")
SIM_PID=
cleanup() {
    if [[ -n $SIM_PID ]] && kill -0 "$SIM_PID" 2>/dev/null; then
        kill -INT "$SIM_PID" 2>/dev/null || true
        wait "$SIM_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

"$BIN" sim --listen 127.0.0.1:0 --seed 1 --per-kind 50 --dump-seed "$WORK/seed.json" \
    >"$WORK/sim.out" 2>"$WORK/sim.err" &
SIM_PID=$!

# The first stdout line names the endpoint and the admin token.
for _ in $(seq 100); do
    grep -q '^handover sim listening:' "$WORK/sim.out" 2>/dev/null && break
    kill -0 "$SIM_PID" 2>/dev/null || { cat "$WORK/sim.err" >&2; exit 1; }
    sleep 0.1
done
LINE=$(grep '^handover sim listening:' "$WORK/sim.out") || { echo "sim_load: simulator did not start" >&2; exit 1; }
ENDPOINT=$(sed -E 's/.*endpoint=([^ ]+).*/\1/' <<<"$LINE")
TOKEN=$(sed -E 's/.*token=([^ ]+).*/\1/' <<<"$LINE")
ORIGIN=${ENDPOINT%/api/v2}

# Paths: for every entity its access list in the kind's own dialect, and as many list pages.
awk -v max=600 '
    BEGIN {
        coll["project"] = "projects"; seg["project"] = "accessControl"
        coll["dataset"] = "datasets"; seg["dataset"] = "sharedRoles"
        coll["data_source"] = "externalDataSources"; seg["data_source"] = "accessControl"
        coll["data_store"] = "externalDataStores"; seg["data_store"] = "sharedRoles"
        coll["calendar"] = "calendars"; seg["calendar"] = "accessControl"
        coll["deployment"] = "deployments"; seg["deployment"] = "sharedRoles"
        coll["use_case"] = "useCases"; seg["use_case"] = "sharedRoles"
        coll["registered_model"] = "registeredModels"; seg["registered_model"] = "sharedRoles"
        coll["custom_model"] = "customModels"; seg["custom_model"] = "accessControl"
        coll["custom_task"] = "customTasks"; seg["custom_task"] = "accessControl"
        coll["execution_environment"] = "executionEnvironments"; seg["execution_environment"] = "accessControl"
        coll["file"] = "files"; seg["file"] = "sharedRoles"
        coll["user_blueprint"] = "userBlueprints"; seg["user_blueprint"] = "sharedRoles"
        n = 0
        print "paths = {"
    }
    /"kind":/ { gsub(/[",]/, "", $2); kind = $2; next }
    /"id":/ && kind != "" && n < max {
        gsub(/[",]/, "", $2)
        printf "  \"/api/v2/%s/%s/%s/\",\n", coll[kind], $2, seg[kind]
        # A list page of a paginated kind after every access list.
        k = (kind == "file") ? "catalogItems/?type=files&" : coll[kind] "/?"
        if (kind == "project" || kind == "data_source" || kind == "data_store") k = "deployments/?"
        printf "  \"/api/v2/%soffset=%d&limit=20\",\n", k, (n % 4) * 20
        kind = ""; n++
    }
    END { print "}" }
' "$WORK/seed.json" >"$WORK/paths.lua"

cat >"$WORK/mix.lua" <<EOF
dofile("$WORK/paths.lua")
wrk.headers["Authorization"] = "Token $TOKEN"
local i = 0
request = function()
    i = i + 1
    return wrk.format("GET", paths[(i % #paths) + 1])
end
EOF

echo "sim_load: $(grep -c '/api/v2/' "$WORK/paths.lua") paths, ${DURATION}s, $CONNS connections, endpoint $ENDPOINT"
wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$WORK/mix.lua" "$ORIGIN" | tee "$WORK/wrk.out"

RPS=$(awk '/^Requests\/sec:/ { print $2 }' "$WORK/wrk.out")
if grep -q 'Non-2xx or 3xx responses' "$WORK/wrk.out"; then
    echo "sim_load: warning: some answers were not 2xx" >&2
fi
STATS=$(curl -s "$ORIGIN/__sim/stats" 2>/dev/null | head -c 300 || true)
[[ -n $STATS ]] && echo "sim_load: stats (head): $STATS"
echo "sim_load: $RPS requests/s"
