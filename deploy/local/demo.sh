#!/usr/bin/env bash
# The whole thing on this machine, in one command: makes sure PostgreSQL and
# Mosquitto are installed and PostgreSQL runs (deploy/local/services.sh),
# builds the release binary, and runs `sweepwatch demo`: a broker of its own,
# the sweepwatch_demo database with the bundled Humen scenario, the service on
# 127.0.0.1:8080, and yesterday's day-sweep shift replayed at 60x (12 minutes).
# Ctrl-C stops everything cleanly. Extra arguments go to `sweepwatch demo`
# (e.g. --shift night-wash --hours 7 --speed 120).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v cargo >/dev/null || { echo "demo: cargo not found; install Rust (https://rustup.rs)" >&2; exit 1; }
deploy/local/services.sh
cargo build --release --quiet
exec target/release/sweepwatch demo "$@"
