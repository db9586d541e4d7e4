#!/usr/bin/env bash
# Runs sweepwatch locally: makes sure PostgreSQL and Mosquitto are installed and
# running, starts a Mosquitto with the project's configuration on 127.0.0.1:1884
# (state in .sweepwatch/mosquitto), builds the release binary, creates and
# migrates the `sweepwatch` database, and runs `sweepwatch serve` in the
# foreground (Ctrl-C stops it cleanly). Extra arguments go to `serve`.
#
# SWEEPWATCH_BROKER_DEVICES=FILE (a device list, as deploy/compose/devices.example.txt):
# the broker runs with per-device passwords and ACLs (deploy/local/broker.sh --auth,
# in .sweepwatch/mosquitto-auth) and sweepwatch logs in as the ingester.
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/local/services.sh
if [ -n "${SWEEPWATCH_BROKER_DEVICES:-}" ]; then
  broker_dir=.sweepwatch/mosquitto-auth
  mqtt=$(deploy/local/broker.sh --auth "$SWEEPWATCH_BROKER_DEVICES" \
    "${SWEEPWATCH_BROKER_PORT:-1885}" "$broker_dir")
  export SWEEPWATCH_MQTT_USERNAME=${INGEST_USER:-sweepwatch-ingest}
  SWEEPWATCH_MQTT_PASSWORD=$(cat "$broker_dir/auth/ingest-password")
  export SWEEPWATCH_MQTT_PASSWORD
  login="-u sw-001 -P \$(sed -n 's/^sw-001,//p' $broker_dir/auth/credentials.csv) "
else
  mqtt=$(deploy/local/broker.sh "${SWEEPWATCH_BROKER_PORT:-1884}")
  login=
fi
cargo build --release --quiet
export SWEEPWATCH_MQTT_URL=${SWEEPWATCH_MQTT_URL:-$mqtt}
target/release/sweepwatch migrate
addr=${SWEEPWATCH_HTTP_ADDR:-127.0.0.1:8080}
cat >&2 <<TXT

sweepwatch is starting.
  MQTT (devices publish here):  $SWEEPWATCH_MQTT_URL
      e.g. mosquitto_pub -h 127.0.0.1 -p ${mqtt##*:} ${login}-q 1 -t sweepwatch/v1/humen/sw-001/fix \\
             -m "{\"ts\":\"\$(date -u +%FT%TZ)\",\"lat\":22.8143,\"lon\":113.6721,\"work\":true}"
  health / readiness / metrics: http://$addr/healthz  http://$addr/readyz  http://$addr/metrics
  database:                     psql -h 127.0.0.1 -U postgres sweepwatch -c 'SELECT * FROM fixes ORDER BY ts DESC LIMIT 5'
  load:                         target/release/sweepwatch simulate load --url $SWEEPWATCH_MQTT_URL --org humen --rate 2000 --duration 30

TXT
exec target/release/sweepwatch serve "$@"
