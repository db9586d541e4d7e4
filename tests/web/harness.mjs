// What a dashboard test runs against, all of its own: a PostgreSQL database
// created for the run (dropped after), a scenario imported with `sweepwatch
// import`, and `sweepwatch serve --own-broker` (a Mosquitto of its own with the
// project's configuration on a free port, started by the binary through the
// workspace's one launcher, testkit; it prints the broker's URL) with its own
// MQTT client id, HTTP port and one token per role. Fixes are published over
// MQTT (QoS 1) exactly as devices do.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = process.env.SWEEPWATCH_BIN || join(ROOT, 'target/debug/sweepwatch');
export const SCREENSHOTS = join(ROOT, 'target/web-e2e/screenshots');
const PG = process.env.SWEEPWATCH_TEST_PG || 'postgres://postgres@127.0.0.1:5432';
const VERBOSE = !!process.env.TEST_LOG;

export const TOKENS = {
  viewer: 'wall-viewer-token',
  operator: 'desk-operator-token',
  admin: 'boss-admin-token',
  // An operator of another org: sees nothing of the town.
  elsewhere: 'elsewhere-operator-token',
};
const TOKEN_ENV =
  `wall:viewer:${TOKENS.viewer},desk-1:operator:${TOKENS.operator},boss:admin:${TOKENS.admin},` +
  `far-desk:operator@elsewhere:${TOKENS.elsewhere}`;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const unique = (prefix) => `${prefix}${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;

/** Polls `fn` until it returns a truthy value; fails with `what` after `ms`. */
export async function eventually(what, fn, ms = 15000, every = 100) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last?.message ?? JSON.stringify(last)})`);
    await sleep(every);
  }
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout || r.error}`);
  return r.stdout;
}

function psql(db, sql) {
  return run('psql', [`${PG}/${db}`, '-v', 'ON_ERROR_STOP=1', '-Atqc', sql]);
}

/** Resolves with the broker's and the HTTP URL that `serve --own-broker`
 * prints on stdout (and keeps reading its stdout, shown with TEST_LOG). */
function announcedUrls(child) {
  return new Promise((res, rej) => {
    let buf = '';
    let found = false;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      if (VERBOSE) process.stdout.write(chunk);
      if (found) return;
      buf += chunk;
      const broker = buf.match(/^broker: (mqtt:\/\/\S+)$/m);
      const http = buf.match(/^http: (http:\/\/\S+)$/m);
      if (broker && http) {
        found = true;
        buf = '';
        res({ broker: broker[1], http: http[1] });
      }
    });
    child.once('exit', (code, sig) => found || rej(new Error(`sweepwatch serve --own-broker exited (${code ?? sig}) before it listened`)));
  });
}

/** The environment: broker, database with `scenario`, service. */
export async function startTown(scenario) {
  if (!existsSync(BIN)) throw new Error(`${BIN} not built: cargo build`);
  if (!existsSync(join(ROOT, 'web/dist/index.html'))) throw new Error('web/dist is not built: cd web && npm ci && npm run build');
  mkdirSync(SCREENSHOTS, { recursive: true });
  const town = { children: [] };
  town.dir = mkdtempSync(join(tmpdir(), 'sweepwatch-web-'));
  town.db = unique('swweb_');
  psql('postgres', `CREATE DATABASE ${town.db}`);
  town.dbUrl = `${PG}/${town.db}`;
  const file = join(town.dir, 'scenario.json');
  writeFileSync(file, JSON.stringify(scenario));
  run(BIN, ['import', file], { env: { ...process.env, SWEEPWATCH_DATABASE_URL: town.dbUrl, SWEEPWATCH_LOG: 'warn' } });
  const env = {
      ...process.env,
      SWEEPWATCH_DATABASE_URL: town.dbUrl,
      SWEEPWATCH_MQTT_CLIENT_ID: unique('web-e2e-'),
      SWEEPWATCH_HTTP_ADDR: '127.0.0.1:0', // the service prints the port it bound
      SWEEPWATCH_API_TOKENS: TOKEN_ENV,
      SWEEPWATCH_LOG: process.env.TEST_LOG_FILTER || 'info',
  };
  delete env.SWEEPWATCH_CONFIG; // the built-in defaults, whatever this shell has
  delete env.SWEEPWATCH_WEB_DIR;
  town.serve = spawn(BIN, ['serve', '--own-broker'], {
    cwd: ROOT, // [web] dir defaults to web/dist, relative to the working directory
    env,
    stdio: ['ignore', 'pipe', VERBOSE ? 'inherit' : 'ignore'],
  });
  town.serve.once('exit', (code, sig) => {
    if (!town.stopping) console.error(`sweepwatch serve exited early (${code ?? sig})`);
  });
  const urls = await announcedUrls(town.serve);
  town.broker = { url: urls.broker };
  town.http = urls.http;
  await eventually('sweepwatch serve to be ready', async () => (await fetch(`${town.http}/readyz`)).ok, 60000, 200);
  town.mqtt = await mqtt.connectAsync(town.broker.url, { clientId: unique('web-e2e-device-'), clean: true, reconnectPeriod: 0 });
  return Object.assign(town, methods);
}

const methods = {
  /** Publishes one fix of `device` (QoS 1) and resolves when the broker acknowledged it. */
  async publishFix(device, fix, org = 'humen') {
    await this.mqtt.publishAsync(`sweepwatch/v1/${org}/${device}/fix`, JSON.stringify(fix), { qos: 1 });
  },

  /** GET/POST on the API with a role's token. */
  async api(path, role = 'operator', init = {}) {
    const r = await fetch(`${this.http}${path}`, { ...init, headers: { Authorization: `Bearer ${TOKENS[role]}`, ...(init.headers || {}) } });
    const text = await r.text();
    let body = null;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: r.status, body, text };
  },

  count(sql) {
    return Number(psql(this.db, sql).trim());
  },

  async stop() {
    this.stopping = true;
    try {
      await this.mqtt?.endAsync();
    } catch {
      /* already gone */
    }
    // SIGTERM: the service stops, then stops its broker.
    for (const c of [this.serve]) {
      if (c && c.exitCode == null) {
        c.kill('SIGTERM');
        await Promise.race([new Promise((r) => c.once('exit', r)), sleep(20000)]);
        if (c.exitCode == null) c.kill('SIGKILL');
      }
    }
    if (this.db) {
      try {
        psql('postgres', `DROP DATABASE IF EXISTS ${this.db} WITH (FORCE)`);
      } catch (e) {
        console.error(`could not drop ${this.db}: ${e.message}`);
      }
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  },
};
