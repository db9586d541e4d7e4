// What a dashboard test runs against, all of its own: a Mosquitto with the
// project's configuration on a free port, a PostgreSQL database created for
// the run (dropped after), a scenario imported with `sweepwatch import`, and
// `sweepwatch serve` with its own MQTT client id, HTTP port and one token per
// role. Fixes are published over MQTT (QoS 1) exactly as devices do.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, existsSync, readFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { createServer, connect as tcpConnect } from 'node:net';
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

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

function portOpen(port) {
  return new Promise((res) => {
    const c = tcpConnect(port, '127.0.0.1');
    c.once('connect', () => (c.destroy(), res(true)));
    c.once('error', () => res(false));
  });
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout || r.error}`);
  return r.stdout;
}

function psql(db, sql) {
  return run('psql', [`${PG}/${db}`, '-v', 'ON_ERROR_STOP=1', '-Atqc', sql]);
}

async function startBroker() {
  const dir = mkdtempSync(join(tmpdir(), 'sweepwatch-web-broker-'));
  const port = await freePort();
  const tuning = readFileSync(join(ROOT, 'deploy/mosquitto/sweepwatch.conf'), 'utf8');
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence_location ${dir}/\n${tuning}`);
  // Mosquitto drops to the 'mosquitto' user when started as root.
  spawnSync('chown', ['-R', 'mosquitto:', dir]);
  const bin = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto'].find((p) => existsSync(p));
  if (!bin) throw new Error('mosquitto is not installed: run deploy/local/services.sh');
  const child = spawn(bin, ['-c', conf], { stdio: VERBOSE ? 'inherit' : 'ignore' });
  await eventually(`mosquitto on ${port}`, () => portOpen(port), 10000, 50);
  return { port, url: `mqtt://127.0.0.1:${port}`, dir, child };
}

/** The environment: broker, database with `scenario`, service. */
export async function startTown(scenario) {
  if (!existsSync(BIN)) throw new Error(`${BIN} not built: cargo build`);
  if (!existsSync(join(ROOT, 'web/dist/index.html'))) throw new Error('web/dist is not built: cd web && npm ci && npm run build');
  mkdirSync(SCREENSHOTS, { recursive: true });
  const town = { children: [] };
  town.broker = await startBroker();
  town.db = unique('swweb_');
  psql('postgres', `CREATE DATABASE ${town.db}`);
  town.dbUrl = `${PG}/${town.db}`;
  const file = join(town.broker.dir, 'scenario.json');
  writeFileSync(file, JSON.stringify(scenario));
  run(BIN, ['import', file], { env: { ...process.env, SWEEPWATCH_DATABASE_URL: town.dbUrl, SWEEPWATCH_LOG: 'warn' } });
  const port = await freePort();
  town.http = `http://127.0.0.1:${port}`;
  const env = {
      ...process.env,
      SWEEPWATCH_DATABASE_URL: town.dbUrl,
      SWEEPWATCH_MQTT_URL: town.broker.url,
      SWEEPWATCH_MQTT_CLIENT_ID: unique('web-e2e-'),
      SWEEPWATCH_HTTP_ADDR: `127.0.0.1:${port}`,
      SWEEPWATCH_API_TOKENS: TOKEN_ENV,
      SWEEPWATCH_LOG: process.env.TEST_LOG_FILTER || 'info',
  };
  delete env.SWEEPWATCH_CONFIG; // the built-in defaults, whatever this shell has
  delete env.SWEEPWATCH_WEB_DIR;
  town.serve = spawn(BIN, ['serve'], {
    cwd: ROOT, // [web] dir defaults to web/dist, relative to the working directory
    env,
    stdio: VERBOSE ? 'inherit' : 'ignore',
  });
  town.serve.once('exit', (code, sig) => {
    if (!town.stopping) console.error(`sweepwatch serve exited early (${code ?? sig})`);
  });
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
    for (const c of [this.serve, this.broker?.child]) {
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
    if (this.broker?.dir) rmSync(this.broker.dir, { recursive: true, force: true });
  },
};
