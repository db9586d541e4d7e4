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
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v cargo >/dev/null || { echo "demo: cargo not found; install Rust (https://rustup.rs)" >&2; exit 1; }
deploy/local/services.sh
if command -v npm >/dev/null; then
  # npm ci only when node_modules is missing or older than the lock file.
  if [ ! -f web/node_modules/.package-lock.json ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
    echo "demo: installing the dashboard's packages (npm ci)" >&2
    (cd web && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
  (cd web && npm run --silent build -- --logLevel error) \
    || echo "demo: the dashboard did not build; the API still works" >&2
else
  echo "demo: Node.js (npm) not found: the dashboard at / will not be built (cd web && npm ci && npm run build)" >&2
fi
cargo build --release --quiet
exec target/release/sweepwatch demo "$@"
