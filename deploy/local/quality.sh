#!/usr/bin/env bash
# The full alert-quality check (docs/QUALITY.md): one whole shift of the bundled town
# replayed through the real service, and the stored alerts scored against the
# simulator's ground truth. Prints the scorer's table; exits non-zero when precision
# or recall is below MIN_PRECISION / MIN_RECALL (default 0.95 / 1.0).
#
#   usage: deploy/local/quality.sh [SEED] [SHIFT] [SPEED]
#          (defaults: 1, day-sweep, 120; SHIFT day-sweep, night-wash or clean-city-day)
#
# Each run has a broker of its own (port $QUALITY_BROKER_PORT, default 1885), a
# fresh database (sweepwatch_quality_SEED_SHIFT, dropped afterwards unless KEEP=1)
# and the service on 127.0.0.1:$QUALITY_HTTP_PORT (default 8095). It uses the
# release binary (built if missing; SWEEPWATCH_BIN to use another). Everything it
# writes (truth, logs, the table) stays in .sweepwatch/quality/SEED-SHIFT/.
# DURATION overrides the span replayed (e.g. 30m for a quick try).
#
# Every seed and shift:  for s in 1 2 3 4; do for sh in day-sweep night-wash; do
#                          deploy/local/quality.sh $s $sh; done; done
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
seed=${1:-1}
shift_name=${2:-day-sweep}
speed=${3:-120}
case $shift_name in
  day-sweep) span=12h ;;
  night-wash) span=7h ;;
  clean-city-day) span=4h ;;
  *) echo "quality: unknown shift $shift_name (day-sweep, night-wash, clean-city-day)" >&2; exit 2 ;;
esac
span=${DURATION:-$span}
broker_port=${QUALITY_BROKER_PORT:-1885}
http_port=${QUALITY_HTTP_PORT:-8095}
server=${QUALITY_PG:-postgres://postgres@127.0.0.1:5432}
db=sweepwatch_quality_${seed}_${shift_name//-/_}
dir=$root/.sweepwatch/quality/$seed-$shift_name
rm -rf "$dir" && mkdir -p "$dir"

bin=${SWEEPWATCH_BIN:-$root/target/release/sweepwatch}
if [ ! -x "$bin" ]; then
  echo "quality: building the release binary" >&2
  cargo build --release --quiet --bin sweepwatch
fi

mqtt=$(deploy/local/broker.sh "$broker_port" "$dir/mosquitto")
serve_pid=
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null || true
  [ -f "$dir/mosquitto/mosquitto.pid" ] && kill "$(cat "$dir/mosquitto/mosquitto.pid")" 2>/dev/null || true
  if [ "${KEEP:-0}" != 1 ]; then
    psql -q "$server/postgres" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

psql -q "$server/postgres" -c "DROP DATABASE IF EXISTS $db" >/dev/null
export SWEEPWATCH_DATABASE_URL=$server/$db
export SWEEPWATCH_MQTT_URL=$mqtt
export SWEEPWATCH_MQTT_CLIENT_ID=quality-$seed-$$
export SWEEPWATCH_HTTP_ADDR=127.0.0.1:$http_port
export SWEEPWATCH_LOG=${SWEEPWATCH_LOG:-warn}
"$bin" import scenarios/humen.json >"$dir/import.log"
"$bin" serve >"$dir/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$http_port/readyz" >/dev/null && break
  kill -0 "$serve_pid" 2>/dev/null || { echo "quality: serve exited; see $dir/serve.log" >&2; exit 1; }
  sleep 0.2
done

echo "quality: replaying $shift_name (seed $seed, $span at ${speed}x)" >&2
t0=$(date +%s)
"$bin" simulate run --shift "$shift_name" --duration "$span" --speed "$speed" --seed "$seed" \
  --truth "$dir/truth.jsonl" >"$dir/simulate.log"
# The service has the run when the stored fixes stop growing.
last=-1
while :; do
  sleep 3
  n=$(psql -tAq "$SWEEPWATCH_DATABASE_URL" -c "SELECT count(*) FROM fixes")
  [ "$n" = "$last" ] && break
  last=$n
done
echo "quality: $n fixes stored, $(( $(date +%s) - t0 )) s" >&2

status=0
"$bin" score --truth "$dir/truth.jsonl" \
  --min-precision "${MIN_PRECISION:-0.95}" --min-recall "${MIN_RECALL:-1.0}" \
  | tee "$dir/score.txt" || status=$?
exit "$status"
