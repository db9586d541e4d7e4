// The dispatch dashboard end to end: headless Chromium (Debian's chromium,
// driven by playwright-core) against `sweepwatch serve` with the test town,
// a real Mosquitto and a real PostgreSQL; fixes published over MQTT. Two
// towns, one after the other: the dashboard's basics, then the alerts of
// issue 13 (working off route, re-opened cases, coverage at risk) on a
// replayed day of their own.
// Screenshots of every step go to target/web-e2e/screenshots/.
//
// Run with tests/web/run.sh (installs Chromium, builds the page and the binary).

import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startTown, eventually, TOKENS, SCREENSHOTS } from './harness.mjs';
import { scenario, testDate, local, walk, fixAt, pt } from './town.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let town;
let browser;
let date;
let shot = 0;
const pages = []; // {page, errors, expected}

async function screenshot(page, name) {
  shot += 1;
  const file = join(SCREENSHOTS, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** A new browser context and page; console errors and page errors are collected. */
async function openPage() {
  const context = await browser.newContext({ viewport: { width: 1600, height: 900 }, locale: 'en-GB', timezoneId: 'Asia/Shanghai' });
  const page = await context.newPage();
  const entry = { page, context, errors: [], expected: [] };
  page.on('console', (m) => {
    if (m.type() === 'error') entry.errors.push(`${m.text()} (${m.location()?.url || 'no url'})`);
  });
  page.on('pageerror', (e) => entry.errors.push(`page error: ${e.message}`));
  pages.push(entry);
  return entry;
}

async function signIn(page, role) {
  await page.goto(town.http + '/');
  await page.getByTestId('signin-token').fill(TOKENS[role]);
  await page.getByTestId('signin-submit').click();
  await page.getByTestId('app').waitFor({ state: 'visible' });
  await page.waitForSelector('[data-testid=conn-status][data-state=live]', { timeout: 15000 });
}

const queueFirst = (page) => page.locator('[data-testid=alert-queue] > li').first();

before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
});

after(async () => {
  await browser?.close().catch(() => {});
});

afterEach(() => {
  // No console errors, except those a test said it provokes.
  for (const p of pages) {
    const unexpected = p.errors.filter((e) => !p.expected.some((re) => re.test(e)));
    p.errors.length = 0;
    assert.deepEqual(unexpected, [], 'console errors in the page');
  }
});

/** Closes the pages of a town's tests, then the town. */
async function closeTown() {
  for (const p of pages.splice(0)) await p.context.close().catch(() => {});
  await town?.stop();
  town = null;
}

describe('dispatch dashboard', { timeout: 240000 }, () => {
  before(async () => {
    town = await startTown(scenario());
    // The town's day three days ago: the sweeper sweeps the first half of
    // route A from 06:00, the cleaners walk their beat, the washer is parked.
    date = testDate();
    const fixes = [
      ...walk(local(date, 6, 0, 0), 48, 5, [0, 0], [500, 0], true).map((f) => ['sw-1', f]),
      ['wa-1', fixAt(local(date, 7, 0, 0), 500, 300, { speed: 0, work: false })],
      ...walk(local(date, 6, 20, 0), 10, 15, [0, 600], [100, 600], true).map((f) => ['wk-1', f]),
      ...walk(local(date, 6, 20, 0), 10, 15, [200, 650], [250, 650], true).map((f) => ['wk-2', f]),
    ].sort((a, b) => Date.parse(a[1].ts) - Date.parse(b[1].ts));
    for (const [dev, f] of fixes) await town.publishFix(dev, f);
    await eventually('the fixes stored', () => town.count('SELECT count(*) FROM fixes') >= fixes.length, 30000);
    await eventually('coverage of route A', () => town.count("SELECT count(*) FROM coverage WHERE route_id = 'route-a'") >= 1, 30000);
    await eventually('four positions', async () => (await town.api('/api/v1/positions', 'viewer')).body?.features?.length === 4, 15000);
  });

  after(closeTown);

  let op; // the operator's page, shared by the tests that follow

  it("loads after sign-in with the scenario's devices on the map", async () => {
    op = await openPage();
    const { page } = op;
    await page.goto(town.http + '/');
    await page.getByTestId('signin').waitFor({ state: 'visible' });
    await screenshot(page, 'signin');
    // A wrong token is refused with a message (the API answers 401).
    op.expected.push(/status of 401/);
    await page.getByTestId('signin-token').fill('not-a-token');
    await page.getByTestId('signin-submit').click();
    await page.waitForFunction(() => /not accepted/.test(document.querySelector('[data-testid=signin-message]').textContent));
    assert.equal(await page.getByTestId('app').isVisible(), false);

    await signIn(page, 'operator');
    await page.waitForFunction(() => window.__sweepwatch?.counts().shown === 4, null, { timeout: 15000 });
    const counts = await page.evaluate(() => window.__sweepwatch.counts());
    assert.equal(counts.devices, 4);
    assert.equal(counts.areas, 4);
    assert.equal(counts.drawn + counts.grouped, 4, JSON.stringify(counts));
    for (const name of ['sw-1', 'wa-1', 'wk-1', 'wk-2']) {
      const m = await page.evaluate((n) => window.__sweepwatch.markerOf(n), name);
      assert.ok(m && Number.isFinite(m.lat) && (m.drawn || m.grouped), `${name} on the map: ${JSON.stringify(m)}`);
    }
    // sw-1 stopped at the half-way point of route A.
    const sw = await page.evaluate(() => window.__sweepwatch.markerOf('sw-1'));
    const [lon, lat] = pt(500, 0);
    assert.ok(Math.abs(sw.lat - lat) < 1e-6 && Math.abs(sw.lon - lon) < 1e-6, JSON.stringify(sw));
    assert.match(await page.getByTestId('legend-shown').textContent(), /4 of 4/);
    assert.match(await page.getByTestId('me').textContent(), /desk-1/);
    await screenshot(page, 'map-loaded');
  });

  it('moves a marker when a fix is published over MQTT', async () => {
    const { page } = op;
    const before = await page.evaluate(() => window.__sweepwatch.markerOf('wk-2'));
    const [lon, lat] = pt(400, 800);
    await town.publishFix('wk-2', fixAt(Date.now(), 400, 800, { speed: 3.5, work: true, batt: 77 }));
    const moved = await eventually(
      'the wk-2 marker to move',
      async () => {
        const m = await page.evaluate(() => window.__sweepwatch.markerOf('wk-2'));
        return Math.abs(m.lat - lat) < 1e-7 && Math.abs(m.lon - lon) < 1e-7 && m;
      },
      10000,
    );
    assert.notEqual(moved.lat, before.lat);
    assert.equal(moved.state, 'working');
    // The device panel follows it too.
    await page.getByTestId('tab-devices').click();
    await page.locator('[data-testid=device-row][data-device="wk-2"] button').click();
    await page.getByTestId('device-panel').waitFor({ state: 'visible' });
    assert.match(await page.getByTestId('device-name').textContent(), /wk-2/);
    await page.getByTestId('tab-alerts').click();
    await screenshot(page, 'marker-moved');
    await page.getByTestId('device-close').click();
  });

  it('puts an SOS at the top of the queue within 2 s; it is acknowledged and resolved from the page', async () => {
    const { page } = op;
    const [lon, lat] = pt(150, 600);
    const t0 = Date.now();
    await town.publishFix('wk-1', { ts: new Date().toISOString(), lat, lon, work: true, sos: true, batt: 64 });
    await page.waitForFunction(
      () => document.querySelector('[data-testid=alert-queue] > li')?.dataset.kind === 'sos',
      null,
      { timeout: Math.max(1, 2000 - (Date.now() - t0)), polling: 50 },
    );
    const elapsed = Date.now() - t0;
    assert.ok(elapsed <= 2000, `SOS shown after ${elapsed} ms`);
    const item = queueFirst(page);
    const id = Number(await item.getAttribute('data-alert-id'));
    assert.match(await item.getByTestId('alert-device').textContent(), /wk-1/);
    assert.equal(await item.getByTestId('alert-chief').textContent(), 'Chen Wei');
    assert.equal(await item.getByTestId('alert-district').textContent(), 'D1');
    assert.equal(await item.getAttribute('data-state'), 'open');
    const sos = await page.evaluate(() => window.__sweepwatch.markerOf('wk-1'));
    assert.equal(sos.state, 'sos');
    await screenshot(page, 'sos-on-top');

    await item.getByTestId('alert-ack').click();
    await item.getByTestId('alert-note').fill('Called her: she fell, ambulance on the way');
    await item.getByTestId('alert-confirm').click();
    await page.waitForSelector(`[data-testid=alert-item][data-alert-id="${id}"][data-state=acknowledged]`);
    await screenshot(page, 'sos-acknowledged');

    const acked = page.locator(`[data-testid=alert-item][data-alert-id="${id}"]`);
    await acked.getByTestId('alert-resolve').click();
    await acked.getByTestId('alert-note').fill('Taken to hospital; team leader on site');
    await acked.getByTestId('alert-confirm').click();
    await page.waitForSelector(`[data-testid=alert-item][data-alert-id="${id}"]`, { state: 'detached' });
    await screenshot(page, 'sos-resolved');

    const a = await town.api(`/api/v1/alerts/${id}`, 'viewer');
    assert.equal(a.status, 200, a.text);
    assert.equal(a.body.state, 'resolved');
    assert.equal(a.body.acknowledged_by, 'desk-1');
    assert.equal(a.body.resolved_by, 'desk-1');
    assert.equal(a.body.resolution_note, 'Taken to hospital; team leader on site');
    assert.deepEqual(
      a.body.transitions.filter((x) => x.actor === 'desk-1').map((x) => x.state),
      ['acknowledged', 'resolved'],
    );
  });

  it('shows the missed stretch of a half-swept route in the coverage view', async () => {
    const { page } = op;
    await page.getByTestId('nav-coverage').click();
    await page.getByTestId('coverage-route').selectOption('humen/route-a');
    await page.getByTestId('coverage-date').fill(date);
    await page.getByTestId('coverage-shift').selectOption('humen/day');
    await page.getByTestId('coverage-load').click();
    const stretch = page.getByTestId('missed-stretch');
    await stretch.first().waitFor();
    assert.equal(await stretch.count(), 1);
    const from = Number(await stretch.getAttribute('data-from'));
    const to = Number(await stretch.getAttribute('data-to'));
    assert.ok(from > 480 && from < 530, `missed from ${from} m`);
    assert.ok(Math.abs(to - 1000) < 5, `missed to ${to} m`);
    const pct = parseFloat((await page.getByTestId('coverage-pct').textContent()).replace(',', '.'));
    assert.ok(pct > 48 && pct < 53, `covered ${pct} %`);
    await screenshot(page, 'coverage-missed');

    // Parked cars: the operator justifies the missed stretch.
    await stretch.getByTestId('justify').click();
    await stretch.getByTestId('justify-note').fill('Parked cars along the market');
    await stretch.getByTestId('justify-confirm').click();
    await page.getByTestId('justified-stretch').waitFor();
    assert.equal(await page.getByTestId('missed-stretch').count(), 0);
    assert.match(await page.getByTestId('justified-stretch').textContent(), /Parked cars along the market/);
    await screenshot(page, 'coverage-justified');
    await page.getByTestId('nav-live').click();
  });

  it('shows no acknowledge button to a viewer', async () => {
    const viewer = await openPage();
    const { page } = viewer;
    await signIn(page, 'viewer');
    const [lon, lat] = pt(420, 800);
    await town.publishFix('wk-2', { ts: new Date().toISOString(), lat, lon, work: true, sos: true });
    await page.waitForFunction(() => document.querySelector('[data-testid=alert-queue] > li')?.dataset.kind === 'sos', null, { timeout: 5000 });
    assert.ok((await page.getByTestId('alert-item').count()) >= 1);
    assert.equal(await page.getByTestId('alert-ack').count(), 0);
    assert.equal(await page.getByTestId('alert-resolve').count(), 0);
    assert.equal(await page.getByTestId('alerts-readonly').isVisible(), true);
    // Nor in the device panel.
    await queueFirst(page).getByTestId('alert-device').click();
    await page.getByTestId('device-alert').first().waitFor();
    assert.equal(await page.getByTestId('device-panel').getByTestId('alert-ack').count(), 0);
    // Today's track (its two live fixes) with the playback slider.
    await page.getByTestId('track-load').click();
    await page.getByTestId('track-slider').waitFor();
    assert.match(await page.getByTestId('track-info').textContent(), /^2 fixes/);
    const first = await page.getByTestId('track-time').textContent();
    await page.getByTestId('track-slider').fill('1');
    assert.notEqual(await page.getByTestId('track-time').textContent(), first);
    await screenshot(page, 'viewer-no-actions');
    // And the API refuses it anyway.
    const id = Number(await queueFirst(page).getAttribute('data-alert-id'));
    const r = await town.api(`/api/v1/alerts/${id}/ack`, 'viewer', { method: 'POST' });
    assert.equal(r.status, 403);
    // The operator's page has the buttons for the same alert.
    await op.page.waitForSelector(`[data-testid=alert-item][data-alert-id="${id}"] [data-testid=alert-ack]`);
  });

  it("shows an operator of another org none of the town's devices, areas or alerts", async () => {
    const other = await openPage();
    const { page } = other;
    const path = (r) => new URL(r.url()).pathname;
    const loaded = Promise.all(
      ['/api/v1/positions', '/api/v1/areas', '/api/v1/alerts'].map((p) => page.waitForResponse((r) => path(r) === p, { timeout: 15000 })),
    );
    await signIn(page, 'elsewhere');
    const answers = await loaded;
    assert.deepEqual(
      answers.map((r) => r.status()),
      [200, 200, 200],
    );
    assert.match(await page.getByTestId('me').textContent(), /far-desk · .* · elsewhere$/);
    // The operator's page shows the town (its SOS included) at the same moment.
    const mine = await op.page.evaluate(() => window.__sweepwatch.counts());
    assert.equal(mine.devices, 4);
    assert.ok((await op.page.getByTestId('alert-item').count()) >= 1);
    const theirs = await page.evaluate(() => window.__sweepwatch.counts());
    assert.deepEqual([theirs.devices, theirs.areas, theirs.drawn], [0, 0, 0], JSON.stringify(theirs));
    assert.equal(await page.getByTestId('alert-item').count(), 0);
    await screenshot(page, 'other-org-sees-nothing');
    // And the API answers the town's alert as one that does not exist.
    const id = Number(await queueFirst(op.page).getAttribute('data-alert-id'));
    const r = await town.api(`/api/v1/alerts/${id}/ack`, 'elsewhere', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(r.status, 404);
    await other.context.close();
  });

  it('switches to Simplified Chinese and remembers it', async () => {
    const { page } = op;
    await page.getByTestId('lang-toggle').click();
    await page.waitForFunction(() => document.documentElement.lang === 'zh-CN');
    assert.equal(await page.getByTestId('nav-live').textContent(), '实时地图');
    assert.equal(await page.getByTestId('nav-coverage').textContent(), '作业覆盖');
    assert.equal(await page.getByTestId('tab-alerts').textContent(), '告警队列');
    assert.equal(await queueFirst(page).getByTestId('alert-kind').textContent(), 'SOS 求救');
    assert.match(await page.getByTestId('legend-sos').textContent(), /SOS 求救/);
    assert.equal(await queueFirst(page).getByTestId('alert-ack').textContent(), '确认');
    await screenshot(page, 'chinese');
    // Still Chinese, and still signed in, after a reload.
    await page.reload();
    await page.getByTestId('app').waitFor({ state: 'visible' });
    assert.equal(await page.getByTestId('nav-report').textContent(), '班次报表');
    await page.getByTestId('lang-toggle').click();
    assert.equal(await page.getByTestId('nav-report').textContent(), 'Shift report');
  });

  it('shows the shift report per district with a CSV download', async () => {
    const { page } = op;
    await page.getByTestId('nav-report').click();
    await page.getByTestId('report-date').fill(date);
    await page.getByTestId('report-load').click();
    const row = page.locator('[data-testid=report-row][data-route="route-a"]');
    await row.waitFor();
    assert.equal(await page.locator('[data-testid=report-district][data-district="D1"]').count(), 1);
    await screenshot(page, 'shift-report');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('report-csv').click()]);
    const path = await download.path();
    const { readFileSync } = await import('node:fs');
    const csv = readFileSync(path, 'utf8');
    assert.match(csv.split('\n')[0], /^org,district,route,shift,/);
    assert.match(csv, /humen,D1,route-a,day,/);
    await page.getByTestId('nav-live').click();
  });

  it('keeps 5,000 devices readable: grouped when zoomed out, each on its own when zoomed in', async () => {
    const { page } = op;
    // 5,000 more devices on a 2 km square, one live fix each, over MQTT.
    const n = 5000;
    const side = Math.ceil(Math.sqrt(n));
    const now = Date.now();
    for (let i = 0; i < n; i += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, n - i) }, (_, k) => {
          const j = i + k;
          const x = -500 + (2000 * (j % side)) / side;
          const y = -500 + (2000 * Math.floor(j / side)) / side;
          return town.publishFix(`load-${j}`, fixAt(now, x, y, { speed: 5, work: true }));
        }),
      );
    }
    await page.waitForFunction((want) => window.__sweepwatch.counts().devices >= want, n + 4, { timeout: 60000, polling: 500 });
    await page.evaluate(() => window.__sweepwatch.fit());
    await page.waitForFunction(() => window.__sweepwatch.counts().grouped > 0, null, { timeout: 10000 });
    const out = await page.evaluate(() => window.__sweepwatch.counts());
    assert.equal(out.shown, n + 4);
    assert.equal(out.drawn + out.grouped, out.shown, JSON.stringify(out));
    assert.ok(out.groups > 10 && out.groups < 700, `groups on one screen: ${JSON.stringify(out)}`);
    // The page keeps drawing frames while it holds them (reported, not asserted: CI machines vary).
    const frames = await page.evaluate(
      () =>
        new Promise((res) => {
          let last = performance.now();
          let max = 0;
          let count = 0;
          const end = last + 2000;
          const f = (t) => {
            max = Math.max(max, t - last);
            last = t;
            count++;
            if (t < end) requestAnimationFrame(f);
            else res({ frames: count, longestFrameMs: Math.round(max) });
          };
          requestAnimationFrame(f);
        }),
    );
    console.log(`5,004 devices: ${out.groups} groups, ${out.drawn} single markers; ${frames.frames} frames in 2 s, longest ${frames.longestFrameMs} ms`);
    await screenshot(page, 'five-thousand-devices');
    await page.evaluate(() => window.__sweepwatch.setZoom(18));
    await page.waitForFunction(() => window.__sweepwatch.counts().grouped === 0, null, { timeout: 10000 });
    await screenshot(page, 'five-thousand-zoomed-in');
  });
});

// Issue 13, the alerts a dispatcher can trust, each produced by the real
// pipeline (fixes over MQTT → engine → store → API and stream → page), in a
// town of its own: its org's clock is the replayed day's and moves forward
// only, so the live fixes of the tests above (today) would have carried it
// past the shift these alerts need.
describe('alerts of issue 13: working off route, re-opened cases, coverage at risk', { timeout: 240000 }, () => {
  let op;
  let day; // the replayed day, YYYY-MM-DD in the org's zone (Asia/Shanghai)
  const at = (h, m, s = 0) => local(day, h, m, s);
  const byTime = (a, b) => Date.parse(a[1].ts) - Date.parse(b[1].ts);
  const publish = async (list) => {
    for (const [dev, f] of list) await town.publishFix(dev, f);
  };
  /** The API's alerts of a kind for a device name (any state). */
  const alertsOf = async (device, kind) => {
    const r = await town.api(`/api/v1/alerts?kind=${kind}&limit=1000`, 'viewer');
    assert.equal(r.status, 200, r.text);
    return r.body.items.filter((a) => a.device === device);
  };
  const item = (page, id) => page.locator(`[data-testid=alert-item][data-alert-id="${id}"]`);

  // wk-1 leaves her beat (its south edge is y = 500) and stands 50 m outside
  // it: beyond the beat (cleaners get no distance allowance) for 180 s opens
  // off_area. 120 s walking out, 210 s standing: the alert opens at t0 + 270 s.
  const stepOut = (t0) => [
    ...walk(t0, 8, 15, [200, 600], [200, 450], true),
    ...Array.from({ length: 14 }, (_, i) => fixAt(t0 + 135e3 + i * 15e3, 200, 450, { speed: 0, work: true })),
  ].map((f) => ['wk-1', f]);
  // Back inside at t0 + 45 s: the engine clears off_area (the case is resolved by 'engine').
  const stepBack = (t0) => walk(t0, 8, 15, [200, 450], [200, 600], true).map((f) => ['wk-1', f]);

  before(async () => {
    town = await startTown(scenario());
    day = testDate();
    // 06:00: the sweeper sweeps the first 300 m of route A (30 % of it);
    // the cleaner arrives in her beat.
    const morning = [
      ...walk(at(6, 0), 30, 5, [0, 0], [300, 0], true).map((f) => ['sw-1', f]),
      ...walk(at(6, 0), 8, 15, [100, 600], [200, 600], true).map((f) => ['wk-1', f]),
    ].sort(byTime);
    await publish(morning);
    await eventually('the morning stored', () => town.count('SELECT count(*) FROM fixes') >= morning.length, 30000);
    op = await openPage();
    await signIn(op.page, 'operator');
    await op.page.waitForFunction(() => window.__sweepwatch?.counts().shown === 2, null, { timeout: 15000 });
  });

  after(closeTown);

  it('shows a sweeper working off its route as its own kind, in the queue, its filter and the device panel', async () => {
    const { page } = op;
    // 06:02:30 sw-1 drives (broom up) from route A to Wash N, 300 m north and
    // not its route, and sweeps along it from 06:03:35 for 90 s: working
    // outside every assigned area for 60 s is work_off_route. It is less than
    // 180 s beyond 200 m of its route, so not (yet) an off_area.
    await publish([
      ...walk(at(6, 2, 30), 6, 10, [300, 0], [300, 300], false).slice(1),
      ...walk(at(6, 3, 35), 18, 5, [300, 300], [450, 300], true),
    ].map((f) => ['sw-1', f]));
    const [a] = await eventually('work_off_route of sw-1 in the API', async () => {
      const list = await alertsOf('sw-1', 'work_off_route');
      return list.length && list;
    });
    assert.equal(a.state, 'open');
    assert.equal(a.reopen_count, 0);
    assert.equal(a.coverage_url, null);
    assert.equal(a.area_id, 'route-a'); // its assigned route, where it is not
    assert.deepEqual(await alertsOf('sw-1', 'off_area'), []);

    const it1 = item(page, a.id);
    await it1.waitFor({ timeout: 10000 });
    assert.equal(await it1.getAttribute('data-kind'), 'work_off_route');
    assert.equal(await it1.getByTestId('alert-kind').textContent(), 'Working off route');
    assert.equal(await it1.locator('.sev').textContent(), 'Medium');
    assert.match(await it1.getByTestId('alert-device').textContent(), /sw-1/);
    assert.equal(await it1.getByTestId('alert-place').textContent(), 'Route A · G1');
    assert.match(await it1.locator('.message').textContent(), /working outside the assigned routes and zones/);
    assert.equal(await it1.getByTestId('alert-reopen').isVisible(), false);

    // The queue's kind filter offers the new kinds and keeps only the one picked.
    const kinds = await page.getByTestId('alert-filter-kind').locator('option').evaluateAll((os) => os.map((o) => o.value));
    for (const k of ['work_off_route', 'coverage_at_risk']) assert.ok(kinds.includes(k), `filter offers ${k}: ${kinds}`);
    assert.ok(kinds.indexOf('coverage_at_risk') < kinds.indexOf('off_area'), `most severe first: ${kinds}`);
    await page.getByTestId('alert-filter-kind').selectOption('work_off_route');
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=alert-item]')].every((li) => li.dataset.kind === 'work_off_route'));
    assert.equal(await page.getByTestId('alert-item').count(), 1);
    await page.getByTestId('alert-filter-kind').selectOption('');

    // The device panel lists it among the sweeper's open alerts.
    await it1.getByTestId('alert-device').click();
    await page.getByTestId('device-panel').waitFor({ state: 'visible' });
    const inPanel = page.locator(`[data-testid=device-alert][data-alert-id="${a.id}"]`);
    await inPanel.waitFor();
    assert.match(await inPanel.textContent(), /Working off route/);
    assert.equal(await inPanel.getByTestId('device-alert-reopen').isVisible(), false);
    await screenshot(page, 'work-off-route');
    await page.getByTestId('device-close').click();
  });

  it('re-opens a recurring case under its own id with a live re-open count, back to open even after an acknowledgement', async () => {
    const { page } = op;
    // 06:06 out of the beat: off_area opens at 06:10:30.
    await publish(stepOut(at(6, 6)));
    const [first] = await eventually('off_area of wk-1 open', async () => {
      const list = (await alertsOf('wk-1', 'off_area')).filter((a) => a.state === 'open');
      return list.length && list;
    });
    const id = first.id;
    const li = item(page, id);
    await li.waitFor({ timeout: 10000 });
    assert.equal(await li.getAttribute('data-state'), 'open');
    assert.equal(await li.getAttribute('data-reopen-count'), '0');
    assert.equal(await li.getByTestId('alert-reopen').isVisible(), false);

    // 06:12 back in: the engine clears it (resolved by 'engine'), it leaves the queue.
    await publish(stepBack(at(6, 12)));
    await li.waitFor({ state: 'detached', timeout: 10000 });
    const cleared = await town.api(`/api/v1/alerts/${id}`, 'viewer');
    assert.equal(cleared.body.state, 'resolved');
    assert.equal(cleared.body.resolved_by, 'engine');

    // 06:14:15 out again, within 15 min of the clear: the same case re-opens (×1).
    await publish(stepOut(at(6, 14, 15)));
    await page.waitForSelector(`[data-testid=alert-item][data-alert-id="${id}"][data-state=open][data-reopen-count="1"]`, { timeout: 10000 });
    assert.equal(await li.getByTestId('alert-reopen').textContent(), '×1');
    assert.match(await li.getByTestId('alert-reopen').getAttribute('title'), /^Re-opened once/);
    assert.equal(await page.locator('[data-testid=alert-item][data-kind=off_area]').count(), 1, 'one case, not a duplicate');

    // The dispatcher acknowledges it (she is on the phone with the cleaner) …
    await li.getByTestId('alert-ack').click();
    await li.getByTestId('alert-note').fill('Called her: fetching water at the kiosk');
    await li.getByTestId('alert-confirm').click();
    await page.waitForSelector(`[data-testid=alert-item][data-alert-id="${id}"][data-state=acknowledged]`);
    // … she goes back in (06:20) and out again (06:22:15): open again, ×2.
    await publish(stepBack(at(6, 20)));
    await li.waitFor({ state: 'detached', timeout: 10000 });
    await publish(stepOut(at(6, 22, 15)));
    await page.waitForSelector(`[data-testid=alert-item][data-alert-id="${id}"][data-state=open][data-reopen-count="2"]`, { timeout: 10000 });
    const badge = li.getByTestId('alert-reopen');
    assert.equal(await badge.textContent(), '×2');
    assert.match(await badge.getAttribute('title'), /^Re-opened 2 times.*last at/);
    assert.equal(await li.getByTestId('alert-ack').isVisible(), true);
    assert.equal(await page.locator('[data-testid=alert-item][data-kind=off_area]').count(), 1, 'one case, not a duplicate');

    // The API agrees: one case for three departures, re-opened twice.
    const all = await alertsOf('wk-1', 'off_area');
    assert.deepEqual(all.map((a) => [a.id, a.state, a.reopen_count]), [[id, 'open', 2]]);

    // The device panel shows the count too.
    await li.getByTestId('alert-device').click();
    const inPanel = page.locator(`[data-testid=device-alert][data-alert-id="${id}"]`);
    await inPanel.waitFor();
    assert.equal(await inPanel.getByTestId('device-alert-reopen').textContent(), '×2');
    assert.equal(await inPanel.getAttribute('data-state'), 'open');
    // Her last fix (06:27:45) reaches the panel too (the stream sends a device's position at most once a second).
    await page.waitForFunction(() => /06:27:45/.test(document.querySelector('[data-testid=device-lastfix]').textContent), null, { timeout: 5000 });
    await screenshot(page, 'reopened-twice');
    await page.getByTestId('device-close').click();

    // After a reload the count comes from the alert list.
    await page.reload();
    await page.waitForSelector('[data-testid=conn-status][data-state=live]', { timeout: 15000 });
    await page.waitForSelector(`[data-testid=alert-item][data-alert-id="${id}"][data-reopen-count="2"] [data-testid=alert-reopen]:not([hidden])`, { timeout: 10000 });
  });

  it('raises coverage_at_risk for a route behind with an hour left: route, shift, share, chief, the route on the map, a link to its coverage', async () => {
    const { page } = op;
    // 17:00, an hour before the day shift ends, route A is 30 % covered (the
    // morning's sweep). Any fix of the org moves its clock: wk-2 walks her beat.
    await publish(walk(at(17, 0), 8, 15, [200, 650], [300, 650], true).map((f) => ['wk-2', f]));
    const a = await eventually('coverage_at_risk in the API', async () => {
      const r = await town.api('/api/v1/alerts?kind=coverage_at_risk', 'viewer');
      return r.body?.items?.[0];
    });
    assert.equal(a.device_id, null);
    assert.equal(a.device, null);
    assert.equal(a.area_id, 'route-a');
    assert.equal(a.shift_id, 'day');
    assert.equal(a.shift_date, day);
    assert.equal(a.chief, 'Chen Wei');
    assert.equal(a.coverage_url, `/api/v1/coverage?org=humen&route=route-a&shift=day&date=${day}`);

    const li = item(page, a.id);
    await li.waitFor({ timeout: 10000 });
    assert.equal(await li.getAttribute('data-subject'), 'route');
    assert.equal(await li.getByTestId('alert-kind').textContent(), 'Coverage at risk');
    assert.equal(await li.locator('.sev').textContent(), 'High');
    assert.equal(await li.getByTestId('alert-device').count(), 0);
    assert.equal(await li.getByTestId('alert-route').textContent(), 'Route A');
    assert.equal(await li.getByTestId('alert-route-name').textContent(), 'Route A');
    const [y, m, d] = day.split('-');
    assert.match(await li.getByTestId('alert-shift').textContent(), new RegExp(`^Day sweep · .*${d}/${m}/${y}`));
    const pct = parseFloat(await li.getByTestId('alert-covered').textContent());
    assert.ok(pct >= 28 && pct <= 33, `covered ${pct} %`);
    assert.equal(await li.getByTestId('alert-chief').textContent(), 'Chen Wei');
    assert.equal(await li.getByTestId('alert-district').textContent(), 'D1');
    const link = li.getByTestId('alert-coverage');
    assert.equal(await link.getAttribute('href'), `#coverage?org=humen&route=route-a&shift=day&date=${day}`);
    // The map draws the route as at risk, with its legend entry.
    await page.waitForFunction(() => window.__sweepwatch.routesAtRisk().includes('humen/route-a'));
    assert.equal(await page.getByTestId('legend-at-risk').isVisible(), true);

    // The chief is told; the dispatcher acknowledges it, as any alert.
    await li.getByTestId('alert-ack').click();
    await li.getByTestId('alert-note').fill('Second sweeper sent to route A');
    await li.getByTestId('alert-confirm').click();
    await page.waitForSelector(`[data-testid=alert-item][data-alert-id="${a.id}"][data-state=acknowledged]`);
    assert.equal((await town.api(`/api/v1/alerts/${a.id}`, 'viewer')).body.acknowledged_by, 'desk-1');

    // Clicking it shows the route, and no device panel (there is no device).
    await li.getByTestId('alert-route').click();
    await page.waitForFunction(() => window.__sweepwatch.shownRoute() === 'humen/route-a');
    await li.getByTestId('alert-show').click();
    assert.equal(await page.getByTestId('device-panel').isVisible(), false);
    await screenshot(page, 'coverage-at-risk');

    // The link opens the coverage view for that route and shift instance.
    await link.click();
    await page.waitForSelector('#layout[data-view=coverage]');
    await page.getByTestId('coverage-pct').waitFor();
    assert.equal(await page.getByTestId('coverage-route').inputValue(), 'humen/route-a');
    assert.equal(await page.getByTestId('coverage-shift').inputValue(), 'humen/day');
    assert.equal(await page.getByTestId('coverage-date').inputValue(), day);
    const covered = parseFloat((await page.getByTestId('coverage-pct').textContent()).replace(',', '.'));
    assert.ok(Math.abs(covered - pct) < 1, `coverage view ${covered} %, alert ${pct} %`);
    const stretch = page.getByTestId('missed-stretch').first();
    assert.ok(Math.abs(Number(await stretch.getAttribute('data-to')) - 1000) < 5);
    assert.match(await page.evaluate(() => location.hash), /^#coverage\?.*route=route-a/);
    await screenshot(page, 'coverage-at-risk-link');
    await page.getByTestId('nav-live').click();
  });

  it('names the new kinds in Chinese, and the shift report lists them with their KPIs', async () => {
    const { page } = op;
    await page.getByTestId('lang-toggle').click();
    await page.waitForFunction(() => document.documentElement.lang === 'zh-CN');
    const kindText = (k) => page.locator(`[data-testid=alert-item][data-kind=${k}] [data-testid=alert-kind]`).first().textContent();
    assert.equal(await kindText('coverage_at_risk'), '作业覆盖率告急');
    assert.equal(await kindText('work_off_route'), '非指定路段作业');
    const reopened = page.locator('[data-testid=alert-item][data-kind=off_area] [data-testid=alert-reopen]');
    assert.match(await reopened.getAttribute('title'), /^已重新打开 2 次/);
    assert.equal(await page.locator('[data-testid=alert-item][data-kind=coverage_at_risk] [data-testid=alert-coverage]').textContent(), '查看路线覆盖');
    await screenshot(page, 'new-kinds-chinese');
    await page.getByTestId('lang-toggle').click();
    await page.waitForFunction(() => document.documentElement.lang === 'en');

    await page.getByTestId('nav-report').click();
    await page.getByTestId('report-date').fill(day);
    await page.getByTestId('report-load').click();
    await page.getByTestId('report-alerts').waitFor();
    const rows = await page.getByTestId('report-alert-row').evaluateAll((trs) =>
      trs.map((tr) => ({ kind: tr.dataset.kind, label: tr.cells[0].textContent, opened: tr.cells[1].textContent })),
    );
    const row = (k) => rows.find((r) => r.kind === k);
    assert.deepEqual(row('work_off_route'), { kind: 'work_off_route', label: 'Working off route', opened: '1' });
    assert.deepEqual(row('coverage_at_risk'), { kind: 'coverage_at_risk', label: 'Coverage at risk', opened: '1' });
    assert.deepEqual(row('off_area'), { kind: 'off_area', label: 'Left assigned area', opened: '1' }); // three departures, one case
    const order = rows.map((r) => r.kind);
    assert.ok(order.indexOf('coverage_at_risk') < order.indexOf('off_area'), `most severe first: ${order}`);
    assert.equal(order.at(-1), '', 'the total last');
    await screenshot(page, 'report-new-kinds');
    await page.getByTestId('nav-live').click();
  });

  it('opens at a coverage address and lists the route alert from the alert list (not the stream)', async () => {
    const fresh = await openPage();
    const { page } = fresh;
    try {
      const [a] = (await town.api('/api/v1/alerts?kind=coverage_at_risk', 'viewer')).body.items;
      await page.goto(`${town.http}/#coverage?org=humen&route=route-a&shift=day&date=${day}`);
      await page.getByTestId('signin-token').fill(TOKENS.operator);
      await page.getByTestId('signin-submit').click();
      await page.getByTestId('coverage-pct').waitFor({ timeout: 15000 });
      assert.equal(await page.getByTestId('coverage-route').inputValue(), 'humen/route-a');
      assert.equal(await page.getByTestId('coverage-shift').inputValue(), 'humen/day');
      assert.equal(await page.getByTestId('coverage-date').inputValue(), day);
      await page.getByTestId('nav-live').click();
      const li = item(page, a.id);
      await li.waitFor({ timeout: 10000 });
      assert.equal(await li.getByTestId('alert-route').textContent(), 'Route A');
      assert.match(await li.getByTestId('alert-shift').textContent(), /^Day sweep · /);
      assert.equal(await li.getByTestId('alert-coverage').getAttribute('href'), `#coverage?org=humen&route=route-a&shift=day&date=${day}`);
      await page.waitForFunction(() => window.__sweepwatch.routesAtRisk().includes('humen/route-a'));
      // The re-opened case keeps its count, from the list as well.
      assert.equal(await page.locator('[data-testid=alert-item][data-kind=off_area] [data-testid=alert-reopen]').textContent(), '×2');
    } finally {
      await fresh.context.close();
    }
  });

  // A route alert has no device: /positions must not trip over it (it did:
  // a NULL device_id read into an integer answered 500).
  it('shows the devices on a page loaded while a coverage_at_risk is open', async () => {
    const fresh = await openPage();
    try {
      const r = await town.api('/api/v1/positions', 'viewer');
      assert.equal(r.status, 200, r.text);
      await signIn(fresh.page, 'viewer');
      await fresh.page.waitForFunction(() => window.__sweepwatch?.counts().shown === 3, null, { timeout: 10000 });
    } finally {
      await fresh.context.close();
    }
  });
});
