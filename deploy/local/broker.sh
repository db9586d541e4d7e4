#!/usr/bin/env bash
# Starts a Mosquitto with sweepwatch's configuration (deploy/mosquitto/sweepwatch.conf)
# in the background, on 127.0.0.1:PORT, keeping its state in DIR.
#   usage: deploy/local/broker.sh [PORT] [DIR]     (defaults: 1884, .sweepwatch/mosquitto)
# Idempotent: if a broker started by this script already runs from DIR, it is left alone.
# Prints the broker's URL on stdout.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
port=${1:-1884}
dir=${2:-$root/.sweepwatch/mosquitto}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)
[ -x "$bin" ] || { echo "broker: mosquitto is not installed (run deploy/local/services.sh)" >&2; exit 1; }

if [ -f "$dir/mosquitto.pid" ] && kill -0 "$(cat "$dir/mosquitto.pid")" 2>/dev/null; then
  port=$(sed -n 's/^listener \([0-9]*\).*/\1/p' "$dir/mosquitto.conf")
  echo "mqtt://127.0.0.1:$port"
  exit 0
fi
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "broker: 127.0.0.1:$port is taken by another process; pass another port" >&2
  exit 1
fi
{
  echo "listener $port 127.0.0.1"
  echo "allow_anonymous true"
  echo "persistence_location $dir/"
  echo "pid_file $dir/mosquitto.pid"
  echo "log_dest file $dir/mosquitto.log"
  cat "$root/deploy/mosquitto/sweepwatch.conf"
} > "$dir/mosquitto.conf"
# Mosquitto drops root privileges to 'mosquitto' when started as root.
[ "$(id -u)" = 0 ] && chown -R mosquitto: "$dir" 2>/dev/null || true
"$bin" -d -c "$dir/mosquitto.conf"
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "broker: did not start; see $dir/mosquitto.log" >&2; exit 1; }
echo "mqtt://127.0.0.1:$port"
