#!/usr/bin/env bash
# The whole thing on this machine, in one command: makes sure PostgreSQL and
# Mosquitto are installed and PostgreSQL runs (deploy/local/services.sh),
# builds the release binary, and runs `sweepwatch demo`: a broker of its own,
# the sweepwatch_demo database with the bundled Humen scenario, the service on
# 127.0.0.1:8080, and yesterday's day-sweep shift replayed at 60x (12 minutes).
# Ctrl-C stops everything cleanly. Extra arguments go to `sweepwatch demo`
# (e.g. --shift night-wash --hours 7 --speed 120).
#
# When Node.js is installed it also builds the dispatch dashboard (web/ into
# web/dist, served at http://127.0.0.1:8080/); without it the demo runs and
# the page says how to build it.
#
# Each step says what it does and how long it took; the first release build
# takes several minutes and shows cargo's own progress as it goes.
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$SECONDS
step() { printf 'demo: [%s/4, %ss] %s\n' "$1" "$((SECONDS - started))" "$2" >&2; }
command -v cargo >/dev/null || { echo "demo: cargo not found; install Rust (https://rustup.rs)" >&2; exit 1; }
step 1 "PostgreSQL and Mosquitto (deploy/local/services.sh)"
deploy/local/services.sh
step 2 "the dispatch dashboard (web/dist)"
if command -v npm >/dev/null; then
  # npm ci only when node_modules is missing or older than the lock file.
  if [ ! -f web/node_modules/.package-lock.json ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
    echo "demo: installing the dashboard's packages (npm ci)" >&2
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
  fi
  (cd web && npm run --silent build -- --logLevel error) \
    || echo "demo: the dashboard did not build; the API still works" >&2
else
  echo "demo: Node.js (npm) not found: the dashboard at / will not be built (cd web && npm ci && npm run build)" >&2
fi
step 3 "building the release binary (cargo build --release; minutes the first time, seconds after)"
cargo build --release
step 4 "starting the demo: the map at http://127.0.0.1:8080/ once the service says it listens"
exec target/release/sweepwatch demo "$@"
