#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432), Mosquitto, RabbitMQ (with its MQTT
# plugin) and NATS are installed and PostgreSQL is running. Idempotent: installs only what is missing (Debian or
# Ubuntu packages), starts only what is not running, leaves the rest alone.
#
# sweepwatch's tests and demo start their own Mosquitto (the installed binary,
# with deploy/mosquitto/sweepwatch.conf) on a free port, so the system broker
# only needs to be installed; it is started when it is not running, for
# people who point tools at 1883. The same holds for RabbitMQ and NATS: the
# broker tests (tests/e2e/brokers) start a RabbitMQ node and a NATS server of
# their own (deploy/rabbitmq, deploy/nats, their own ports and data); the
# system ones (RabbitMQ on 5672 without MQTT, NATS on 4222) are started when
# they are not running.
set -euo pipefail

log() { printf 'services: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
mosquitto_bin() { command -v mosquitto || { [ -x /usr/sbin/mosquitto ] && echo /usr/sbin/mosquitto; } || true; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

missing=()
[ -n "$(pg_bin)" ] || missing+=(postgresql)
command -v psql >/dev/null || missing+=(postgresql-client)
[ -n "$(mosquitto_bin)" ] || missing+=(mosquitto)
# mosquitto_pub: the chaos tests publish with a client that is not ours.
command -v mosquitto_pub >/dev/null || missing+=(mosquitto-clients)
# The broker tests run these two as well (rabbitmq_mqtt ships with the server).
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
nats_bin() { command -v nats-server || { [ -x /usr/sbin/nats-server ] && echo /usr/sbin/nats-server; } || true; }
[ -n "$(nats_bin)" ] || missing+=(nats-server)
if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || { log "missing ${missing[*]} and no apt-get: install them with your package manager"; exit 1; }
  log "installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# PostgreSQL
if ! port_open 5432; then
  version=$(basename "$(dirname "$(pg_bin)")")
  if ! ls /etc/postgresql/"$version"/main >/dev/null 2>&1; then
    log "creating PostgreSQL $version cluster 'main'"
    as_root pg_createcluster "$version" main >/dev/null
  fi
  log "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 60); do port_open 5432 && break; sleep 0.5; done
  port_open 5432 || { log "PostgreSQL did not start listening on 127.0.0.1:5432"; exit 1; }
fi
# sweepwatch's local defaults connect as postgres over TCP without a password.
if ! psql -h 127.0.0.1 -U postgres -d postgres -Atc 'SELECT 1' >/dev/null 2>&1; then
  hba=$(ls /etc/postgresql/*/main/pg_hba.conf 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$hba" ] && ! grep -q '# sweepwatch local trust' "$hba"; then
    log "allowing password-less local TCP connections in $hba (development machine)"
    as_root sed -i '1i host all all 127.0.0.1/32 trust # sweepwatch local trust\nhost all all ::1/128 trust # sweepwatch local trust' "$hba"
    as_root pg_ctlcluster --skip-systemctl-redirect "$(basename "$(dirname "$(dirname "$hba")")")" main reload
  fi
  psql -h 127.0.0.1 -U postgres -d postgres -Atc 'SELECT 1' >/dev/null \
    || { log "cannot connect to PostgreSQL as postgres@127.0.0.1"; exit 1; }
fi

# The system Mosquitto, when it is not running.
if ! port_open 1883; then
  conf=/etc/mosquitto/mosquitto.conf
  if [ -f "$conf" ]; then
    log "starting the system Mosquitto on 1883"
    as_root mkdir -p /run/mosquitto /var/lib/mosquitto /var/log/mosquitto
    as_root chown -R mosquitto: /run/mosquitto /var/lib/mosquitto /var/log/mosquitto 2>/dev/null || true
    as_root "$(mosquitto_bin)" -d -c "$conf" || log "the system Mosquitto did not start (not needed by sweepwatch's tests)"
  fi
fi
# The system RabbitMQ and NATS, when they are not running (not needed by
# sweepwatch's tests either; started in the background, not waited for).
if ! port_open 5672 && [ -x /usr/sbin/rabbitmq-server ]; then
  log "starting the system RabbitMQ on 5672"
  as_root /usr/sbin/rabbitmq-server -detached >/dev/null 2>&1 || log "the system RabbitMQ did not start (not needed by sweepwatch's tests)"
fi
if ! port_open 4222 && [ -n "$(nats_bin)" ]; then
  log "starting the system NATS on 4222"
  as_root mkdir -p /var/lib/nats-server /var/log
  as_root start-stop-daemon --start --oknodo --background --exec "$(nats_bin)" -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log \
    || log "the system NATS did not start (not needed by sweepwatch's tests)"
fi
log "PostgreSQL $(psql -h 127.0.0.1 -U postgres -d postgres -Atc 'SHOW server_version') on 127.0.0.1:5432; Mosquitto at $(mosquitto_bin); RabbitMQ $(dpkg-query -W -f '${Version}' rabbitmq-server 2>/dev/null || echo '?'); NATS at $(nats_bin)"
