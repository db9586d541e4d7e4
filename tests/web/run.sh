#!/usr/bin/env bash
# The dashboard's end-to-end tests in headless Chromium: installs Debian's
# chromium when missing (as root, or through sudo), makes sure PostgreSQL and
# Mosquitto are there (deploy/local/services.sh), installs the page's and the
# tests' npm packages (npm ci, skipped when node_modules matches the lock
# file), builds the page (web/dist) and the sweepwatch binary, then runs
# tests/web/*.test.mjs with Node's test runner. Each run creates its own
# database and starts `sweepwatch serve --own-broker` (which starts its own
# Mosquitto through the workspace's launcher, testkit). Screenshots of each step:
# target/web-e2e/screenshots/. Extra arguments go to `node --test`.
set -euo pipefail
cd "$(dirname "$0")/../.."
log() { printf 'web-e2e: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

command -v node >/dev/null && command -v npm >/dev/null \
  || { log "Node.js 20+ and npm are needed (apt-get install nodejs npm, or nodejs.org)"; exit 1; }
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
  log "installing Debian's chromium"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# A CJK font, so that screenshots of the Chinese page are readable (best effort).
if command -v fc-list >/dev/null && [ -z "$(fc-list :lang=zh 2>/dev/null)" ] && command -v apt-get >/dev/null; then
  log "installing a Chinese font for the screenshots"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null 2>&1 \
    || log "could not install fonts-wqy-microhei; Chinese text in screenshots may show as boxes"
fi
deploy/local/services.sh

# npm ci when node_modules is missing or older than the lock file (npm writes
# node_modules/.package-lock.json on every install).
npm_ci() {
  local dir=$1
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    log "npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
npm_ci web
npm_ci tests/web
log "building the page"
(cd web && npm run --silent build -- --logLevel warn)
log "building sweepwatch"
cargo build
mkdir -p target/web-e2e/screenshots
rm -f target/web-e2e/screenshots/*.png
cd tests/web
exec node --test --test-concurrency=1 --test-reporter=spec "$@" dashboard.test.mjs
