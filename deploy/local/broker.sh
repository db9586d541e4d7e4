#!/usr/bin/env bash
# Starts a Mosquitto with sweepwatch's configuration (deploy/mosquitto/sweepwatch.conf)
# in the background, on 127.0.0.1:PORT, keeping its state in DIR.
#   usage: deploy/local/broker.sh [--auth DEVICES_FILE] [PORT] [DIR]
#          (defaults: 1884, .sweepwatch/mosquitto)
# Idempotent: if a broker started by this script already runs from DIR, it is left alone.
# Prints the broker's URL on stdout.
#
# --auth DEVICES_FILE: device identity as in production. Every client logs in
# (no anonymous access), each device with its own username and password and
# allowed to publish only under its own topic: deploy/mosquitto/mkauth.sh
# writes DIR/auth/passwd, DIR/auth/acl and DIR/auth/credentials.csv (each
# device's password) from DEVICES_FILE (its format: see mkauth.sh,
# deploy/compose/devices.example.txt). The ingester logs in as
# sweepwatch-ingest (INGEST_USER) with INGEST_PASSWORD, or else the password
# kept in DIR/auth/ingest-password (generated the first time):
#   SWEEPWATCH_MQTT_USERNAME=sweepwatch-ingest
#   SWEEPWATCH_MQTT_PASSWORD=$(cat DIR/auth/ingest-password)
# Run it again with an edited DEVICES_FILE to add or remove devices: the files
# are rewritten and the running broker reloads them (SIGHUP).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
devices=
if [ "${1:-}" = --auth ]; then
  devices=${2:?usage: broker.sh --auth DEVICES_FILE [PORT] [DIR]}
  [ -f "$devices" ] || { echo "broker: no devices file $devices" >&2; exit 1; }
  shift 2
fi
port=${1:-1884}
dir=${2:-$root/.sweepwatch/mosquitto}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)
[ -x "$bin" ] || { echo "broker: mosquitto is not installed (run deploy/local/services.sh)" >&2; exit 1; }

# Mosquitto drops root privileges to 'mosquitto' when started as root: it
# must own (and so read) everything in DIR.
own() { [ "$(id -u)" = 0 ] && chown -R mosquitto: "$dir" 2>/dev/null || true; }

# Writes DIR/auth from the device list (mkauth.sh), with the ingester's password.
write_auth() {
  local pwfile=$dir/auth/ingest-password
  mkdir -p "$dir/auth"
  if [ -n "${INGEST_PASSWORD:-}" ]; then
    (umask 077; printf '%s\n' "$INGEST_PASSWORD" > "$pwfile")
  elif [ ! -s "$pwfile" ]; then
    (umask 077; head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=' > "$pwfile")
  fi
  INGEST_PASSWORD=$(cat "$pwfile") "$root/deploy/mosquitto/mkauth.sh" "$devices" "$dir/auth"
  echo "broker: devices log in with the passwords in $dir/auth/credentials.csv;" \
    "the ingester as ${INGEST_USER:-sweepwatch-ingest} with the password in $pwfile" >&2
}

if [ -f "$dir/mosquitto.pid" ] && kill -0 "$(cat "$dir/mosquitto.pid")" 2>/dev/null; then
  port=$(sed -n 's/^listener \([0-9]*\).*/\1/p' "$dir/mosquitto.conf")
  if [ -n "$devices" ]; then
    grep -q '^password_file ' "$dir/mosquitto.conf" || {
      echo "broker: the broker running from $dir was started without --auth; stop it first" \
        "(kill \$(cat $dir/mosquitto.pid))" >&2
      exit 1
    }
    write_auth
    own
    kill -HUP "$(cat "$dir/mosquitto.pid")"   # reloads the password file and the ACL
  fi
  echo "mqtt://127.0.0.1:$port"
  exit 0
fi
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "broker: 127.0.0.1:$port is taken by another process; pass another port" >&2
  exit 1
fi
[ -z "$devices" ] || write_auth
{
  echo "listener $port 127.0.0.1"
  if [ -n "$devices" ]; then
    echo "allow_anonymous false"
    echo "password_file $dir/auth/passwd"
    echo "acl_file $dir/auth/acl"
  else
    echo "allow_anonymous true"
  fi
  echo "persistence_location $dir/"
  echo "pid_file $dir/mosquitto.pid"
  echo "log_dest file $dir/mosquitto.log"
  cat "$root/deploy/mosquitto/sweepwatch.conf"
} > "$dir/mosquitto.conf"
own
"$bin" -d -c "$dir/mosquitto.conf"
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "broker: did not start; see $dir/mosquitto.log" >&2; exit 1; }
echo "mqtt://127.0.0.1:$port"
