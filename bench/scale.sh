#!/usr/bin/env bash
# Scale benchmark of plan + apply (issue 6 §3): ~100,000 entities, no latency, no limit.
#
#   bench/scale.sh [PER_KIND] [RATE] [CONCURRENCY] [EXTRA_RATIO]
#                  (defaults: 7700, 10000, 64, 0)
#
# Builds the release binary, starts `handover sim` on a free loopback port where the
# departing user owns PER_KIND entities of each of the 13 kinds (7700 x 13 = 100,100), plus
# EXTRA_RATIO as many owned by others, with no latency and no rate limit, and runs, each under
# GNU time (/usr/bin/time -v) and with a clean environment:
#
#   handover plan   --from departing@acme.test --to successor@acme.test --out plan.jsonl
#   handover apply  plan.jsonl --journal journal.jsonl      (--rate RATE --concurrency C)
#   handover status --journal journal.jsonl                 (on the finished journal)
#   handover resume --journal journal.jsonl                 (on the finished journal)
#
# and prints for each: wall time, peak resident memory, user+sys CPU of the handover process,
# and CPU per entity; for apply also requests/s and entities/s; for resume the requests it
# sent and the time from its start to its first API response (read from its JSON debug log).
# Targets: apply's peak RSS under 200 MB; status, resume's first request and resume's whole
# run on the finished journal each under 2 s. Exits 1 when one is missed. The simulator runs in its own process (its CPU and memory are not
# counted, but it shares the 2 cores: wall times and entities/s are CPU-bound here, and CPU
# figures are noisy when other work runs on the machine). Needs GNU time. Loopback only.
set -euo pipefail

PER_KIND=${1:-7700}
RATE=${2:-10000}
CONC=${3:-64}
EXTRA_RATIO=${4:-0}
RSS_LIMIT_MB=200
START_LIMIT_S=2
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if [[ ! -x /usr/bin/time ]] || ! /usr/bin/time -v true >/dev/null 2>&1; then
    echo "scale: GNU time not found (Debian: apt-get update && apt-get install -y time)" >&2
    exit 2
fi

cargo build --release --quiet --bin handover

WORK=$(mktemp -d "${TMPDIR:-/tmp}/scale.XXXXXX")
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

"$BIN" sim --listen 127.0.0.1:0 --seed 1 --per-kind "$PER_KIND" --extra-ratio "$EXTRA_RATIO" \
    >"$WORK/sim.out" 2>"$WORK/sim.err" &
SIM_PID=$!
for _ in $(seq 600); do
    grep -q '^handover sim listening:' "$WORK/sim.out" 2>/dev/null && break
    kill -0 "$SIM_PID" 2>/dev/null || { cat "$WORK/sim.err" >&2; exit 1; }
    sleep 0.1
done
LINE=$(grep '^handover sim listening:' "$WORK/sim.out") || { echo "scale: simulator did not start" >&2; exit 1; }
ENDPOINT=$(sed -E 's/.*endpoint=([^ ]+).*/\1/' <<<"$LINE")
ORIGIN=${ENDPOINT%/api/v2}

requests() { curl -sf "$ORIGIN/__sim/stats" | grep -oE '"requests":[0-9]+' | head -1 | cut -d: -f2; }
# timed NAME ARGS...: runs handover under GNU time in $WORK with a clean environment; the
# endpoint and token come from the environment (DATAROBOT_*), as a user would set them.
# For resume only, every API response is logged as JSON (the client's debug line, with a
# timestamp), so that the time from start to the first response can be read from NAME.err;
# the other steps log nothing (a log line per request would cost apply CPU).
timed() {
    local name=$1 rc=0 log=error
    shift
    [[ $name == resume ]] && log=handover::api::client=debug
    date -u +%s.%N >"$WORK/$name.start"
    (cd "$WORK" && env -i HOME="$WORK" PATH="$PATH" \
        DATAROBOT_ENDPOINT="$ENDPOINT" DATAROBOT_API_TOKEN=sim-admin-token \
        HANDOVER_LOG="$log" \
        /usr/bin/time -v -o "$WORK/$name.time" "$BIN" -q --log-format json "$@" \
        >"$WORK/$name.out" 2>"$WORK/$name.err") || rc=$?
    echo "$rc" >"$WORK/$name.rc"
}
# first_response NAME: seconds from the start of NAME to its first API response.
first_response() {
    python3 - "$WORK/$1.start" "$WORK/$1.err" <<'PY'
import datetime, json, sys
start = float(open(sys.argv[1]).read())
for line in open(sys.argv[2]):
    try:
        rec = json.loads(line)
    except ValueError:
        continue
    if rec.get("fields", {}).get("message") == "http":
        ts = datetime.datetime.fromisoformat(rec["timestamp"].replace("Z", "+00:00"))
        print(f"{ts.timestamp() - start:.2f}")
        break
else:
    print("-")
PY
}
# figure NAME FIELD: wall (s), rss (MB), cpu (user+sys s) from GNU time's report.
figure() {
    awk -v want="$2" -F': ' '
        /Maximum resident set size/ { rss = $2 / 1024 }
        /User time \(seconds\)/ { cpu += $2 }
        /System time \(seconds\)/ { cpu += $2 }
        /Elapsed \(wall clock\) time/ {
            n = split($2, p, ":"); wall = 0
            for (i = 1; i <= n; i++) wall = wall * 60 + p[i]
        }
        END {
            if (want == "wall") printf "%.2f", wall
            if (want == "rss") printf "%.1f", rss
            if (want == "cpu") printf "%.2f", cpu
        }' "$WORK/$1.time"
}

echo "scale: $PER_KIND owned per kind x 13 (+$EXTRA_RATIO others'), no latency, no limit, --rate $RATE --concurrency $CONC"

timed plan plan --from departing@acme.test --to successor@acme.test \
    --rate "$RATE" --concurrency "$CONC" --out plan.jsonl
[[ $(cat "$WORK/plan.rc") == 0 ]] || { cat "$WORK/plan.err" >&2; exit 1; }
ENTITIES=$(grep -c '"action":"change"' "$WORK/plan.jsonl")
PLAN_REQ=$(requests)

timed apply apply plan.jsonl --journal journal.jsonl --rate "$RATE" --concurrency "$CONC"
[[ $(cat "$WORK/apply.rc") == 0 ]] || { cat "$WORK/apply.err" >&2; exit 1; }
APPLY_REQ=$(( $(requests) - PLAN_REQ ))

timed status status --journal journal.jsonl
[[ $(cat "$WORK/status.rc") == 0 ]] || { cat "$WORK/status.err" >&2; exit 1; }
BEFORE=$(requests)
timed resume resume --journal journal.jsonl --rate "$RATE" --concurrency "$CONC"
RESUME_REQ=$(( $(requests) - BEFORE ))

sed -n '1,20p' "$WORK/status.out"
echo
echo "scale: $ENTITIES entities changed; plan file $(( $(stat -c %s "$WORK/plan.jsonl") / 1048576 )) MB, journal $(( $(stat -c %s "$WORK/journal.jsonl") / 1048576 )) MB"
printf '%-7s %9s %10s %12s %14s %s\n' step "wall s" "peak MB" "cpu s (u+s)" "cpu µs/entity" notes
fail=0
for step in plan apply status resume; do
    wall=$(figure "$step" wall)
    rss=$(figure "$step" rss)
    cpu=$(figure "$step" cpu)
    per=$(awk -v c="$cpu" -v n="$ENTITIES" 'BEGIN { printf "%.1f", c / n * 1e6 }')
    case $step in
        plan) notes="$PLAN_REQ requests, $(awk -v r="$PLAN_REQ" -v w="$wall" 'BEGIN { printf "%.0f", r / w }') requests/s" ;;
        apply) notes="$APPLY_REQ requests ($(awk -v r="$APPLY_REQ" -v n="$ENTITIES" 'BEGIN { printf "%.2f", r / n }')/entity), $(awk -v r="$APPLY_REQ" -v w="$wall" 'BEGIN { printf "%.0f", r / w }') requests/s, $(awk -v n="$ENTITIES" -v w="$wall" 'BEGIN { printf "%.0f", n / w }') entities/s" ;;
        status) notes="exit $(cat "$WORK/status.rc")" ;;
        resume) notes="exit $(cat "$WORK/resume.rc"), $RESUME_REQ requests sent, first response after $(first_response resume) s" ;;
    esac
    printf '%-7s %9s %10s %12s %14s %s\n' "$step" "$wall" "$rss" "$cpu" "$per" "$notes"
done
SIM_RSS_KB=$(awk '/^VmHWM:/ { print $2 }' "/proc/$SIM_PID/status" 2>/dev/null || echo 0)
echo "scale: simulator peak RSS $(( SIM_RSS_KB / 1024 )) MB (not counted)"

APPLY_RSS=$(figure apply rss)
if awk -v r="$APPLY_RSS" -v l="$RSS_LIMIT_MB" 'BEGIN { exit !(r >= l) }'; then
    echo "scale: apply peak RSS $APPLY_RSS MB is over the $RSS_LIMIT_MB MB budget" >&2
    fail=1
fi
# Start-up: status has no request, so its whole run; resume's first response, and its whole
# run, reported apart. A resume of a finished journal sends nothing at all ("-"): only its
# whole run counts then.
FIRST=$(first_response resume)
pairs=("status:$(figure status wall)" "resume (total):$(figure resume wall)")
[[ $FIRST == - ]] || pairs+=("resume (to its first request):$FIRST")
for pair in "${pairs[@]}"; do
    what=${pair%:*}
    w=${pair##*:}
    if [[ $w == - ]] || awk -v w="$w" -v l="$START_LIMIT_S" 'BEGIN { exit !(w >= l) }'; then
        echo "scale: $what took $w s on the finished journal (target under $START_LIMIT_S s)" >&2
        fail=1
    fi
done
echo "scale: apply peak RSS $APPLY_RSS MB, apply CPU $(figure apply cpu) s = $(awk -v c="$(figure apply cpu)" -v n="$ENTITIES" 'BEGIN { printf "%.1f", c / n * 1e6 }') µs/entity, status $(figure status wall) s, resume first request $FIRST s, total $(figure resume wall) s"
exit "$fail"
