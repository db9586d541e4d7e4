#!/usr/bin/env bash
# Runs the whole test suite against real services:
#  1. makes sure PostgreSQL, Mosquitto, RabbitMQ and NATS are installed and
#     PostgreSQL runs (deploy/local/services.sh);
#  2. the API's OpenAPI document fuzzed against a running service
#     (tests/schemathesis.sh: no 5xx, every answer matches its schema);
#  3. the dispatch dashboard in headless Chromium (tests/web/run.sh: installs
#     Chromium and builds the page when needed; screenshots in
#     target/web-e2e/screenshots/);
#  4. every Rust test of the workspace, last, so that its summary closes the
#     output. Each end-to-end test starts its own Mosquitto on a free port (the
#     broker tests also their own RabbitMQ node and NATS server) and creates
#     its own database.
# Extra arguments go to the Rust test runner. SWEEPWATCH_TEST_RUST_ONLY=1 skips
# steps 2 and 3. Each step prints a line with the time so far, and builds show
# cargo's own progress (the first build takes several minutes).
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$SECONDS
step() { printf 'test: [%ss] %s\n' "$((SECONDS - started))" "$*" >&2; }
command -v cargo >/dev/null || { echo "test: cargo not found; install Rust (https://rustup.rs)" >&2; exit 1; }
step "1. PostgreSQL and Mosquitto (deploy/local/services.sh)"
deploy/local/services.sh
if ! cargo nextest --version >/dev/null 2>&1; then
  step "installing cargo-nextest from crates.io (a few minutes, once)"
  cargo install --locked cargo-nextest || step "cargo-nextest did not install; falling back to cargo test"
fi
if [ -z "${SWEEPWATCH_TEST_RUST_ONLY:-}" ]; then
  step "building the sweepwatch binary (cargo build)"
  cargo build
  step "2. the OpenAPI document fuzzed with Schemathesis (tests/schemathesis.sh)"
  bash tests/schemathesis.sh
  step "3. the dashboard in headless Chromium (tests/web/run.sh)"
  bash tests/web/run.sh
fi
step "4. building the Rust tests, then running them (doc tests first)"
cargo test --workspace --doc
if cargo nextest --version >/dev/null 2>&1; then
  exec cargo nextest run --workspace --no-fail-fast "$@"
else
  exec cargo test --workspace --no-fail-fast "$@"
fi
