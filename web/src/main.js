// The dispatch dashboard: sign-in, then the live map with the alert queue,
// the coverage view and the shift report, all on the public /api/v1.
//
// Data flow: the live stream is opened first; each time it (re)connects,
// positions and unresolved alerts are fetched again, so nothing that happened
// while disconnected is missed. Stream events then update the same state.

import './style.css';
import { api, apiAll, getToken, setToken, setHandlers } from './api.js';
import { LiveStream } from './sse.js';
import { app, emit, on, deviceFromFeature, applyPosition, applyState, isRouteAlert } from './state.js';
import { t, applyStatic, setLang, currentLang, locale } from './i18n.js';
import { h, toast } from './ui.js';
import { createMap, drawAreas, fitAll, scheduleRender, getMap, flyTo, showRoute, showRiskLayer } from './map.js';
import { mountAlerts, loadAlerts, applyAlertEvent, unlockAudio, setSound, soundEnabled } from './alerts.js';
import { mountDevicePanel, currentDevice, closeDevice } from './device.js';
import { mountFilters, mountLegend, mountDeviceList } from './filters.js';
import { mountCoverage, prepareCoverage, showCoverageLayer, openCoverage } from './coverage.js';
import { mountReport, prepareReport } from './report.js';

const $ = (id) => document.getElementById(id);
let stream = null;
let started = false;

async function boot() {
  applyStatic();
  for (const id of ['lang', 'lang-signin']) $(id).addEventListener('click', () => setLang(currentLang() === 'en' ? 'zh' : 'en'));
  setHandlers({
    unauthorized: () => signOut('signin.expired'),
    rateLimited: (s) => toast(t('error.ratelimit', { s }), 'warn', s * 1000),
  });
  try {
    const r = await fetch('/config.json', { cache: 'no-store' });
    if (r.ok) app.config = await r.json();
  } catch {
    /* the defaults: no base map */
  }
  $('signin-form').addEventListener('submit', onSignIn);
  // A message carried over a sign-out reload.
  const carried = sessionStorage.getItem('sweepwatch.signin-message');
  sessionStorage.removeItem('sweepwatch.signin-message');
  const token = getToken();
  if (!token) return showSignIn(carried);
  try {
    app.me = await api('/api/v1/me', { token });
    start();
  } catch (e) {
    showSignIn(e.status === 401 ? 'signin.expired' : null, e.status === 401 ? null : e.message);
  }
}

function showSignIn(messageKey, error) {
  $('app').hidden = true;
  $('signin').hidden = false;
  const m = $('signin-message');
  m.hidden = !messageKey && !error;
  m.textContent = messageKey ? t(messageKey) : error ? t('signin.unreachable', { error }) : '';
  $('token').focus();
}

async function onSignIn(ev) {
  ev.preventDefault();
  const token = $('token').value.trim();
  const m = $('signin-message');
  if (!token) {
    m.hidden = false;
    m.textContent = t('signin.empty');
    return;
  }
  unlockAudio(); // a user gesture: browsers allow sound from now on
  const btn = ev.submitter || ev.target.querySelector('[type=submit]');
  btn.disabled = true;
  m.hidden = false;
  m.textContent = t('signin.checking');
  try {
    app.me = await api('/api/v1/me', { token });
    setToken(token);
    $('token').value = '';
    m.hidden = true;
    if (started) location.reload();
    else start();
  } catch (e) {
    m.textContent = e.status === 401 ? t('signin.invalid') : t('signin.unreachable', { error: e.message });
  } finally {
    btn.disabled = false;
  }
}

function signOut(messageKey = 'signin.signedout') {
  stream?.stop();
  setToken(null);
  if (started) {
    // A fresh page: nothing of the previous session's data stays in memory.
    sessionStorage.setItem('sweepwatch.signin-message', messageKey);
    location.reload();
    return;
  }
  showSignIn(messageKey);
}

function start() {
  started = true;
  $('signin').hidden = true;
  $('app').hidden = false;
  $('app').dataset.role = app.me.role;
  renderMe();
  $('signout').addEventListener('click', () => signOut());
  const sound = $('sound');
  const paintSound = () => {
    sound.textContent = soundEnabled() ? t('sound.on') : t('sound.off');
    sound.setAttribute('aria-pressed', String(soundEnabled()));
  };
  sound.addEventListener('click', () => {
    setSound(!soundEnabled());
    paintSound();
  });
  paintSound();
  window.addEventListener('langchange', () => {
    scheduleRender(true);
    paintSound();
    renderMe();
    paintConn();
    tickClock();
  });

  createMap($('map'));
  mountFilters($('filters'));
  mountLegend($('legend'));
  mountAlerts($('alerts'));
  mountDeviceList($('devices'));
  mountDevicePanel($('device-panel-root'));
  mountCoverage($('coverage'));
  mountReport($('report'));
  setupTabs();
  setupViews();
  applyStatic();

  on('filters-changed', () => scheduleRender(true));
  on('show-alert', (a) => {
    if (isRouteAlert(a)) {
      // No device to open: the route itself, highlighted (its geometry is in the areas).
      if (currentDevice() != null) closeDevice();
      if (!(a.area_id && showRoute(a.org, a.area_id)) && a.lat != null) flyTo(a.lat, a.lon);
    } else if (app.devices.has(a.device_id)) emit('select-device', a.device_id);
    else if (a.lat != null) flyTo(a.lat, a.lon);
  });
  setInterval(() => {
    // The open device's "seen … ago" moves on with the clock (its state comes from the server).
    const id = currentDevice();
    if (id != null && app.devices.has(id)) emit('device-updated', id);
  }, 15000);
  setInterval(tickClock, 1000);
  tickClock();

  setMapStatus(t('loading'));
  loadAreas();
  stream = new LiveStream({
    status: (s, secs) => paintConn(s, secs),
    open: () => resync(),
    event: onStreamEvent,
    unauthorized: () => signOut('signin.expired'),
  });
  stream.start();
}

function renderMe() {
  // A token limited to some orgs names them: the page shows nothing else.
  const orgs = app.me.orgs ? ` · ${app.me.orgs.join(', ')}` : '';
  $('me').textContent = `${app.me.name} · ${t(`role.${app.me.role}`)}${orgs}`;
  $('me').dataset.role = app.me.role;
  $('me').dataset.orgs = app.me.orgs ? app.me.orgs.join(',') : '*';
}

let connState = 'connecting';
let connSecs = 0;
function paintConn(s = connState, secs = connSecs) {
  connState = s;
  connSecs = secs;
  const el = $('conn');
  el.dataset.state = s;
  el.textContent = s === 'live' ? t('conn.live') : s === 'reconnecting' ? t('conn.reconnecting', { s: secs }) : t('conn.connecting');
}

function tickClock() {
  const now = new Date();
  $('clock').dateTime = now.toISOString();
  $('clock').textContent = now.toLocaleString(locale(), {
    weekday: 'short',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  });
}

function setMapStatus(text, kind = 'info') {
  const el = $('map-status');
  el.hidden = !text;
  el.textContent = text || '';
  el.dataset.kind = kind;
}

let areasLoaded = false;
let fitted = false;

async function loadAreas() {
  for (let attempt = 0; ; attempt++) {
    try {
      const [areas, shifts] = await Promise.all([apiAll('/api/v1/areas'), apiAll('/api/v1/shifts')]);
      app.areas = areas;
      app.areaById = new Map(app.areas.map((a) => [`${a.org}/${a.id}`, a]));
      app.shifts = shifts;
      drawAreas();
      areasLoaded = true;
      afterLoad();
      prepareCoverage();
      prepareReport();
      emit('alerts-changed'); // route and shift names for the queue
      return;
    } catch (e) {
      if (e.status === 401) return;
      setMapStatus(t('error.generic', { error: e.message }), 'error');
      await new Promise((r) => setTimeout(r, Math.min(30000, 1000 * 2 ** attempt)));
    }
  }
}

// Stream events that arrive while positions and alerts are being fetched
// are applied again after the fetch, so the snapshot cannot overwrite them.
let resyncing = null;
let held = [];

async function resync() {
  if (resyncing) return resyncing;
  held = [];
  resyncing = (async () => {
    for (let attempt = 0; ; attempt++) {
      try {
        const [positions] = await Promise.all([api('/api/v1/positions'), loadAlerts()]);
        const seen = new Set();
        for (const f of positions.features) {
          const d = deviceFromFeature(f);
          seen.add(d.id);
          const old = app.devices.get(d.id);
          if (old && old.ts > d.ts) continue;
          app.devices.set(d.id, old ? Object.assign(old, d) : d);
        }
        for (const id of [...app.devices.keys()]) if (!seen.has(id)) app.devices.delete(id);
        break;
      } catch (e) {
        if (e.status === 401) return;
        setMapStatus(t('error.generic', { error: e.message }), 'error');
        await new Promise((r) => setTimeout(r, Math.min(30000, 1000 * 2 ** attempt)));
      }
    }
    const replay = held;
    held = [];
    resyncing = null;
    for (const [name, v] of replay) onStreamEvent(name, v);
    afterLoad();
    emit('alerts-changed');
  })();
  return resyncing;
}

function afterLoad() {
  if (!areasLoaded || resyncing) return;
  emit('data-loaded');
  if (!fitted) {
    fitted = true;
    fitAll();
  }
  if (!app.areas.length && !app.devices.size) setMapStatus(t('map.empty'));
  else if (!app.devices.size) setMapStatus(t('map.nodevices'));
  else setMapStatus(null);
  scheduleRender(true);
}

function onStreamEvent(name, v) {
  if (resyncing) {
    held.push([name, v]);
    return;
  }
  if (name === 'position') {
    const isNew = !app.devices.has(v.device_id);
    const d = applyPosition(v);
    if (isNew) {
      setMapStatus(null);
      emit('data-loaded');
    }
    if (d.id === currentDevice()) emit('device-updated', d.id);
    scheduleRender();
  } else if (name === 'state') {
    const d = applyState(v);
    if (d) {
      if (d.id === currentDevice()) emit('device-updated', d.id);
      scheduleRender(true);
    }
  } else if (name === 'alert') {
    applyAlertEvent(v);
  } else if (name === 'dropped') {
    // The server hung up on us (we fell behind): the stream reconnects and resyncs.
    console.info('live stream: the server dropped this client', v);
  }
}

function setupTabs() {
  const tabs = document.querySelectorAll('[data-tab]');
  for (const tab of tabs) {
    tab.addEventListener('click', () => {
      for (const x of tabs) x.setAttribute('aria-selected', String(x === tab));
      for (const body of document.querySelectorAll('[data-tab-body]')) body.hidden = body.dataset.tabBody !== tab.dataset.tab;
      if (tab.dataset.tab === 'devices') emit('device-list-shown');
    });
  }
}

const VIEWS = ['live', 'coverage', 'report'];

/** `#coverage?org=…&route=…&shift=…&date=…` → ['coverage', {org, route, shift, date}]. */
function parseHash(hash = location.hash) {
  const [view, query = ''] = hash.replace(/^#/, '').split('?');
  return [VIEWS.includes(view) ? view : 'live', Object.fromEntries(new URLSearchParams(query))];
}

function setupViews() {
  const layout = $('layout');
  const buttons = document.querySelectorAll('nav.views [data-view]');
  const show = (view, hash = `#${view}`) => {
    layout.dataset.view = view;
    for (const b of buttons) b.setAttribute('aria-current', b.dataset.view === view ? 'page' : 'false');
    showCoverageLayer(view === 'coverage');
    showRiskLayer(view !== 'coverage');
    if (view !== 'report') setTimeout(() => getMap().invalidateSize(), 0);
    if (location.hash !== hash) history.replaceState(null, '', hash);
  };
  // A route's coverage in a shift instance (a coverage_at_risk alert's link, or a shared address).
  const showCoverageOf = (p) => {
    const q = new URLSearchParams();
    for (const k of ['org', 'route', 'shift', 'date']) if (p[k]) q.set(k, p[k]);
    show('coverage', `#coverage?${q}`);
    openCoverage(p);
  };
  const fromHash = () => {
    const [view, p] = parseHash();
    if (view === 'coverage' && p.route && p.shift && p.date) showCoverageOf(p);
    else show(view);
  };
  for (const b of buttons) b.addEventListener('click', () => show(b.dataset.view));
  on('open-coverage', showCoverageOf);
  window.addEventListener('hashchange', fromHash);
  fromHash();
}

boot().catch((e) => {
  console.error(e);
  document.body.append(h('p.fatal', {}, t('error.generic', { error: e.message })));
});
