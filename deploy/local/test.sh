#!/usr/bin/env bash
# Runs the whole test suite against real services: makes sure PostgreSQL and
# Mosquitto are installed and PostgreSQL runs (deploy/local/services.sh), then
# runs every test of the workspace. Each end-to-end test starts its own
# Mosquitto on a free port and creates its own database.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v cargo >/dev/null || { echo "test: cargo not found; install Rust (https://rustup.rs)" >&2; exit 1; }
deploy/local/services.sh
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "test: installing cargo-nextest from crates.io" >&2
  cargo install --locked cargo-nextest >/dev/null 2>&1 || true
fi
cargo test --workspace --doc --quiet
if cargo nextest --version >/dev/null 2>&1; then
  exec cargo nextest run --workspace --no-fail-fast "$@"
else
  exec cargo test --workspace --no-fail-fast "$@"
fi
