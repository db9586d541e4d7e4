#!/usr/bin/env bash
# Property-based tests of the HTTP API against its own OpenAPI document
# (GET /api/v1/openapi.json) with Schemathesis: no answer may be a 5xx, and
# every answer must match the schema documented for its status code.
#
# Builds nothing: run `cargo build` first (it uses target/debug/sweepwatch,
# or $CARGO_TARGET_DIR/debug/sweepwatch). Needs PostgreSQL on 127.0.0.1:5432
# (user postgres) and Mosquitto, as the e2e tests do. Starts its own broker,
# database (sweepwatch_st_<pid>, from scenarios/humen.json) and service on
# free ports, and removes them all on exit.
#
# Schemathesis is installed on first use into a virtualenv at
# ${XDG_CACHE_HOME:-$HOME/.cache}/sweepwatch-schemathesis (pip only).
# Prints `N passed, N failed` (API operations) last; exits non-zero on failure.
#   usage: tests/schemathesis.sh      (ST_MAX_EXAMPLES, ST_TIMEOUT_S to tune)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

ST_VERSION=4.32.5
max_examples=${ST_MAX_EXAMPLES:-50}
timeout_s=${ST_TIMEOUT_S:-240}
bin=${CARGO_TARGET_DIR:-$root/target}/debug/sweepwatch
venv=${XDG_CACHE_HOME:-$HOME/.cache}/sweepwatch-schemathesis

say() { echo "schemathesis.sh: $*" >&2; }

if [ ! -x "$bin" ]; then
  say "$bin not found: run 'cargo build' first (this script builds nothing)"
  echo "0 passed, 1 failed"
  exit 2
fi

if ! "$venv/bin/st" --version 2>/dev/null | grep -q "$ST_VERSION"; then
  say "installing schemathesis $ST_VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION"
fi

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sweepwatch-st.XXXXXX")
# Mosquitto started as root runs as user mosquitto: it must reach its directory.
chmod 755 "$tmp"
db=sweepwatch_st_$$
svc_pid=
cleanup() {
  local rc=$?
  set +e
  if [ -n "$svc_pid" ]; then
    kill "$svc_pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$svc_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$svc_pid" 2>/dev/null
  fi
  if [ -f "$tmp/mosquitto/mosquitto.pid" ]; then
    kill "$(cat "$tmp/mosquitto/mosquitto.pid")" 2>/dev/null
  fi
  psql -h 127.0.0.1 -U postgres -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mqtt=$(deploy/local/broker.sh "$(free_port)" "$tmp/mosquitto")
export SWEEPWATCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$db
export SWEEPWATCH_LOG=${SWEEPWATCH_LOG:-warn}
"$bin" import scenarios/humen.json >"$tmp/import.log" 2>&1 || {
  say "import failed:"; cat "$tmp/import.log" >&2; exit 1
}

token=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
port=$(free_port)
base=http://127.0.0.1:$port
SWEEPWATCH_MQTT_URL=$mqtt \
SWEEPWATCH_MQTT_CLIENT_ID=sweepwatch-st-$$ \
SWEEPWATCH_HTTP_ADDR=127.0.0.1:$port \
SWEEPWATCH_API_TOKENS=st:admin:$token \
SWEEPWATCH_API_RATE_PER_S=100000 \
SWEEPWATCH_API_RATE_BURST=100000 \
  "$bin" serve >"$tmp/serve.log" 2>&1 &
svc_pid=$!

ready=
for _ in $(seq 1 300); do
  if curl -fsS "$base/readyz" >/dev/null 2>&1; then ready=1; break; fi
  kill -0 "$svc_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$ready" ]; then
  say "the service did not become ready; its log:"; tail -n 50 "$tmp/serve.log" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

# The stream never ends, so it is left out. One worker: with more, Hypothesis
# trips over a CPython 3.11 bug (concurrent ast.parse) now and then.
say "testing $base ($max_examples examples per operation, at most ${timeout_s}s)"
st_rc=0
# From $tmp: Schemathesis keeps its state in ./.schemathesis.
cd "$tmp"
timeout --signal=INT --kill-after=10 "$timeout_s" \
  "$venv/bin/st" --no-color run "$base/api/v1/openapi.json" \
    --url "$base" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error,response_schema_conformance \
    --exclude-path /api/v1/stream \
    --phases examples,coverage,fuzzing \
    --max-examples "$max_examples" \
    --workers 1 \
    --seed 1 \
    --request-timeout 10 \
    --suppress-health-check all \
    --report junit --report-junit-path "$tmp/junit.xml" || st_rc=$?

# Server errors the service logged (a 5xx that the checks may have reported too).
if grep -q '"request failed"\|request failed' "$tmp/serve.log"; then
  say "the service logged internal errors:"
  grep 'request failed' "$tmp/serve.log" | head -n 20 >&2
fi

summary=$(python3 - "$tmp/junit.xml" <<'PY'
import sys
import xml.etree.ElementTree as ET
try:
    cases = list(ET.parse(sys.argv[1]).getroot().iter("testcase"))
except (OSError, ET.ParseError):
    print("0 0")
    sys.exit()
failed = sum(1 for c in cases if c.find("failure") is not None or c.find("error") is not None)
print(len(cases) - failed, failed)
PY
)
read -r passed failed <<<"$summary"
if [ "$st_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  # Schemathesis failed without a failing operation (timeout, schema error…).
  say "schemathesis exited with $st_rc"
  failed=1
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$st_rc" -eq 0 ]
