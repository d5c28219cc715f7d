#!/usr/bin/env bash
# Soak: a 100,000-entity offboarding planned and applied by the release binary against a
# faulty simulator: its wall time and peak memory, and that it ends where it should.
#
#   bench/soak.sh [PER_KIND] [CONCURRENCY] [RATE]
#       defaults: 7693 entities per kind (100,009 over the 13 kinds), --concurrency 64,
#       --rate 10000 (the highest handover accepts: the faults, not the client, pace it)
#
# Builds the release binary, starts `handover sim` on a free loopback port (no extra
# entities: the plan holds everything the simulator serves, so its listing work is the
# plan's) with 2-6 ms latency, 1% 5xx answers, 0.5% dropped connections and 1% writes
# that land and answer 502; plans the offboarding; applies it under `/usr/bin/time -v`;
# then resumes it once if it was stopped, and prints: wall time and peak RSS of plan and
# apply, requests the simulator saw during apply by outcome, injected faults, outcomes
# from the journal, whether every entity is at its target (read from /__sim/state), and
# any ownerless moment; and the journal's size and the peak RSS of `status`, which replays
# it as apply's closing report does. Traffic stays on 127.0.0.1. Needs GNU time
# (apt-get install time), curl and python3.
set -euo pipefail

PER_KIND=${1:-7693}
CONC=${2:-64}
RATE=${3:-10000}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if [[ ! -x /usr/bin/time ]]; then
    echo "soak: GNU time is needed for peak RSS (apt-get install -y time)" >&2
    exit 2
fi

cargo build --release --quiet --bin handover
BIN=$ROOT/target/release/handover

WORK=$(mktemp -d "${TMPDIR:-/tmp}/soak.XXXXXX")
SIM_PID=
cleanup() {
    if [[ -n $SIM_PID ]] && kill -0 "$SIM_PID" 2>/dev/null; then
        kill -INT "$SIM_PID" 2>/dev/null || true
        wait "$SIM_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

"$BIN" sim --listen 127.0.0.1:0 --seed 5 --per-kind "$PER_KIND" --extra-ratio 0 \
    >"$WORK/sim.out" 2>"$WORK/sim.err" &
SIM_PID=$!
for _ in $(seq 600); do
    grep -q "endpoint=" "$WORK/sim.out" 2>/dev/null && break
    sleep 0.1
done
ENDPOINT=$(sed -n 's/.*endpoint=\([^ ]*\).*/\1/p' "$WORK/sim.out")
if [[ -z $ENDPOINT ]]; then
    echo "soak: the simulator did not start" >&2
    cat "$WORK/sim.err" >&2
    exit 1
fi
ROOT_URL=${ENDPOINT%/api/v2}
export DATAROBOT_ENDPOINT=$ENDPOINT DATAROBOT_API_TOKEN=sim-admin-token

# Planning sees no faults: the soak is about apply.
/usr/bin/time -v -o "$WORK/plan.time" "$BIN" -q plan \
    --from departing@acme.test --to successor@acme.test \
    --rate "$RATE" --concurrency "$CONC" --out "$WORK/plan.jsonl" >/dev/null

curl -sf -X POST "$ROOT_URL/__sim/config" -H 'content-type: application/json' -d '{
    "latency_ms": 2, "jitter_ms": 4,
    "fault_rate_5xx": 0.01, "drop_rate": 0.005, "commit_then_502_rate": 0.01,
    "fault_seed": 11
}' >/dev/null
curl -sf "$ROOT_URL/__sim/stats" >"$WORK/before.json"

set +e
/usr/bin/time -v -o "$WORK/apply.time" "$BIN" -q apply "$WORK/plan.jsonl" \
    --journal "$WORK/journal.jsonl" --rate "$RATE" --concurrency "$CONC" \
    >"$WORK/apply.out" 2>"$WORK/apply.err"
APPLY_CODE=$?
set -e
RESUME_CODE=-
if [[ $APPLY_CODE -eq 4 ]]; then
    set +e
    "$BIN" -q resume --journal "$WORK/journal.jsonl" --rate "$RATE" --concurrency "$CONC" \
        >/dev/null 2>>"$WORK/apply.err"
    RESUME_CODE=$?
    set -e
fi
curl -sf "$ROOT_URL/__sim/stats" >"$WORK/after.json"
curl -sf "$ROOT_URL/__sim/state" >"$WORK/state.json"
# status replays the whole journal, as the report at the end of apply does: its peak RSS
# is what that replay costs on its own.
/usr/bin/time -v -o "$WORK/status.time" "$BIN" status --journal "$WORK/journal.jsonl" --json \
    >"$WORK/status.json"

python3 - "$WORK" "$APPLY_CODE" "$RESUME_CODE" <<'PY'
import json, os, sys

work, apply_code, resume_code = sys.argv[1], sys.argv[2], sys.argv[3]

def gnu_time(path):
    out = {}
    for line in open(path):
        key, _, value = line.strip().rpartition(": ")
        out[key] = value
    wall = out["Elapsed (wall clock) time (h:mm:ss or m:ss)"]
    secs = 0.0
    for part in wall.split(":"):
        secs = secs * 60 + float(part)
    return secs, int(out["Maximum resident set size (kbytes)"]) / 1024

plan_wall, plan_rss = gnu_time(f"{work}/plan.time")
apply_wall, apply_rss = gnu_time(f"{work}/apply.time")
status_wall, status_rss = gnu_time(f"{work}/status.time")
journal_mib = os.path.getsize(f"{work}/journal.jsonl") / 2**20
before = json.load(open(f"{work}/before.json"))
after = json.load(open(f"{work}/after.json"))
status = json.load(open(f"{work}/status.json"))
state = json.load(open(f"{work}/state.json"))

entries = [json.loads(l) for l in open(f"{work}/plan.jsonl")][1:-1]
changes = [e for e in entries if e["action"] == "change"]
live = {(e["kind"], e["id"]): e for e in state["entities"]}
off = 0
for e in changes:
    have = {g["username"].lower(): g["role"] for g in live[(e["kind"], e["id"])]["access"]}
    want = {g["name"].lower(): g["role"] for g in e["target"]}
    if have != want:
        off += 1

outcomes = {}
for route, by in after["by_route"].items():
    for outcome, n in by.items():
        n -= before["by_route"].get(route, {}).get(outcome, 0)
        outcomes[outcome] = outcomes.get(outcome, 0) + n
reqs = after["requests"] - before["requests"]
faults = {k: after["faults"][k] - before["faults"][k] for k in after["faults"]}
print()
print(f"entities planned       {len(entries)} ({len(changes)} to change)")
print(f"plan                   {plan_wall:.1f} s, peak RSS {plan_rss:.1f} MiB")
print(f"apply                  {apply_wall:.1f} s, peak RSS {apply_rss:.1f} MiB, exit {apply_code}"
      + (f" (resume exit {resume_code})" if resume_code != "-" else ""))
print(f"journal                {journal_mib:.1f} MiB; status (replays it) {status_wall:.1f} s, peak RSS {status_rss:.1f} MiB")
print(f"requests during apply  {reqs} ({reqs / apply_wall:.0f}/s), by outcome "
      + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
print(f"faults injected        " + ", ".join(f"{k} {v}" for k, v in sorted(faults.items())))
print(f"max in flight          {after['max_in_flight']}")
print(f"journal outcomes       " + ", ".join(f"{k} {v}" for k, v in sorted(status["counts"].items())))
for f in status["failures"][:5]:
    print(f"  failure: {f['kind']} {f['id']} {f['outcome']} (HTTP {f.get('http_status')}): {f.get('error')}")
print(f"not at target          {off}")
print(f"ownerless moments      {len(after['ownerless'])}")
print(f"soak: {len(changes)} entities, apply {apply_wall:.1f} s, peak RSS {apply_rss:.1f} MiB, "
      f"exit {apply_code}, {off} not at target, {len(after['ownerless'])} ownerless")
PY
