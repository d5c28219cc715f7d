#!/usr/bin/env bash
# Run the official-client fidelity check against `handover sim`.
#
#   tests/fidelity/run.sh HANDOVER_BINARY [VENV_DIR] [extra fidelity.py args...]
#
# HANDOVER_BINARY  e.g. target/debug/handover
# VENV_DIR         venv with datarobot==3.20.0 (default: .venv at the repo root)
# Starts `HANDOVER_BINARY sim --listen 127.0.0.1:PORT --seed-file tests/fidelity/seed.json` on a
# free port, waits (at most 30 s) until GET /api/v2/version/ answers, runs fidelity.py with the
# venv's python, stops the simulator on exit and exits with fidelity.py's status.
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 HANDOVER_BINARY [VENV_DIR] [fidelity.py args...]" >&2
    exit 2
fi
BIN=$1
[[ $BIN == */* ]] && BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
shift
VENV=.venv
if [[ $# -ge 1 && $1 != -* ]]; then
    VENV=$1
    shift
fi
[[ $VENV == /* ]] || VENV=$PWD/$VENV

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
[[ -d $VENV ]] || VENV=$ROOT/.venv
PY=$VENV/bin/python
if [[ ! -x $PY ]]; then
    echo "no python at $PY (create it: python3 -m venv .venv && .venv/bin/pip install datarobot==3.20.0)" >&2
    exit 2
fi
SEED=tests/fidelity/seed.json

PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
TOKEN=$("$PY" -c 'import json, sys; print(next(u["token"] for u in json.load(open(sys.argv[1]))["users"] if u["username"] == "old_user@datarobot.com"))' "$SEED")
LOG=$(mktemp "${TMPDIR:-/tmp}/handover-sim.XXXXXX.log")

"$BIN" sim --listen "127.0.0.1:$PORT" --seed-file "$SEED" >"$LOG" 2>&1 &
SIM_PID=$!
cleanup() {
    if kill -0 "$SIM_PID" 2>/dev/null; then
        kill "$SIM_PID" 2>/dev/null || true
        wait "$SIM_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT INT TERM

# Ready = any HTTP answer (even 401) from GET /api/v2/version/.
if ! "$PY" - "$PORT" "$SIM_PID" <<'EOF'
import os, sys, time, urllib.error, urllib.request
port, pid = sys.argv[1], int(sys.argv[2])
deadline = time.time() + 30
while time.time() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("simulator exited before answering")
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/version/", timeout=2)
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit("simulator did not answer GET /api/v2/version/ within 30 s")
EOF
then
    echo "--- simulator log ($LOG):" >&2
    tail -n 50 "$LOG" >&2 || true
    exit 1
fi

status=0
"$PY" tests/fidelity/fidelity.py \
    --endpoint "http://127.0.0.1:$PORT/api/v2" \
    --token "$TOKEN" \
    --admin-state-url "http://127.0.0.1:$PORT/__sim/state" \
    --stats-url "http://127.0.0.1:$PORT/__sim/stats" \
    --seed "$SEED" \
    "$@" || status=$?
if [[ $status -ne 0 ]]; then
    echo "--- last lines of the simulator log ($LOG):" >&2
    tail -n 30 "$LOG" >&2 || true
fi
exit "$status"
