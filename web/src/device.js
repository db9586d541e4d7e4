// The device panel: details, open alerts (acknowledge/resolve from the map),
// and a day's track drawn on the map with a playback slider moving a marker.

import L from 'leaflet';
import { api } from './api.js';
import { app, on, deviceName, compareAlerts } from './state.js';
import { t, tv } from './i18n.js';
import { h, formatTime, formatNumber, formatAge, isoDate } from './ui.js';
import { getMap, selectDevice, STATE_COLORS } from './map.js';
import { alertActions, reopenBadge } from './alerts.js';

let panel;
let current = null; // device id
let track = null; // {coords: [[lat,lon]], times: [ms], line, marker}
let playTimer = null;
const PLAY_SPEEDS = [10, 60, 300];

export function mountDevicePanel(root) {
  panel = h('aside.device-panel', { testid: 'device-panel', hidden: true, 'aria-label': t('device.title') });
  root.append(panel);
  on('select-device', (id) => openDevice(id));
  on('alerts-changed', () => current != null && renderAlerts());
  on('device-updated', (id) => id === current && renderFacts());
  window.addEventListener('langchange', () => current != null && render());
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && current != null && !panel.contains(document.activeElement)) closeDevice();
  });
}

export function openDevice(id) {
  if (!app.devices.has(id)) return;
  if (current !== id) clearTrack();
  current = id;
  selectDevice(id);
  panel.hidden = false;
  render();
}

export function closeDevice() {
  clearTrack();
  current = null;
  panel.hidden = true;
  selectDevice(null, { pan: false });
}

let factsEl;
let alertsEl;
let trackEl;

function render() {
  const d = app.devices.get(current);
  factsEl = h('dl.facts', { testid: 'device-facts' });
  alertsEl = h('div.device-alerts', { testid: 'device-alerts' });
  trackEl = h('div.track', { testid: 'device-track' });
  panel.replaceChildren(
    h(
      'div.panel-head',
      {},
      h('h2', { testid: 'device-name' }, deviceName(d)),
      h('button.icon', { type: 'button', testid: 'device-close', title: t('close'), 'aria-label': t('close'), onclick: closeDevice }, '×'),
    ),
    factsEl,
    h('h3', {}, t('device.alerts')),
    alertsEl,
    h('h3', {}, t('device.track')),
    trackEl,
  );
  renderFacts();
  renderAlerts();
  renderTrackControls();
}

function renderFacts() {
  const d = app.devices.get(current);
  if (!d || !factsEl) return;
  const row = (k, v, testid) => [h('dt', {}, t(k)), h('dd', { testid }, v)];
  const dot = h('span.dot', { style: `background:${STATE_COLORS[d.state] || '#999'}` });
  factsEl.replaceChildren(
    ...row('device.state', h('span', {}, dot, ' ', tv('state', d.state)), 'device-state'),
    ...row('device.kind', tv('kind', d.kind)),
    ...row('device.org', d.org),
    ...row('device.districts', d.districts.join(', ') || '—'),
    ...row('device.lastfix', d.ts ? `${formatTime(d.ts)} (${formatAge(Date.now() - d.ts)})` : '—', 'device-lastfix'),
    ...row('device.speed', d.speed != null ? t('unit.kmh', { n: formatNumber(d.speed, 1) }) : '—'),
    ...row('device.work', d.work == null ? '—' : t(d.work ? 'device.yes' : 'device.no')),
    ...row('device.battery', d.batt != null ? `${formatNumber(d.batt)} %` : '—'),
  );
}

function renderAlerts() {
  if (!alertsEl) return;
  const list = [...app.alerts.values()].filter((a) => a.device_id != null && a.device_id === current).sort(compareAlerts);
  if (!list.length) {
    alertsEl.replaceChildren(h('p.empty', { testid: 'device-noalerts' }, t('device.noalerts')));
    return;
  }
  alertsEl.replaceChildren(
    ...list.map((a) =>
      h(
        'div.device-alert',
        { testid: 'device-alert', dataset: { alertId: a.id, kind: a.kind, state: a.state, reopenCount: String(a.reopen_count || 0) } },
        h(
          'div',
          {},
          h('strong', {}, tv('alertkind', a.kind)),
          ' ',
          reopenBadge(a, 'device-alert-reopen'),
          ' · ',
          tv('alerts.state', a.state),
          ' · ',
          formatAge(Date.now() - Date.parse(a.opened_at)),
        ),
        a.message ? h('p.message', {}, a.message) : null,
        alertActions(a, 'device'),
      ),
    ),
  );
}

function renderTrackControls() {
  const d = app.devices.get(current);
  // The day of the device's latest fix (a replayed shift is days old).
  const date = h('input', { type: 'date', testid: 'track-date', value: isoDate(d.ts ? new Date(d.ts) : new Date()) });
  const load = h('button', { type: 'button', testid: 'track-load' }, t('device.track.load'));
  const info = h('p.track-info', { testid: 'track-info' });
  const player = h('div.player', { hidden: true });
  load.addEventListener('click', async () => {
    if (track) {
      clearTrack();
      load.textContent = t('device.track.load');
      player.hidden = true;
      info.textContent = '';
      return;
    }
    load.disabled = true;
    info.textContent = t('loading');
    try {
      const n = await loadTrack(current, date.value);
      if (!n) info.textContent = t('device.track.none');
      else {
        info.textContent = t('device.track.points', { n: formatNumber(n), km: formatNumber(trackKm(), 1) });
        load.textContent = t('device.track.hide');
        renderPlayer(player);
      }
    } catch (e) {
      info.textContent = t('error.generic', { error: e.message });
    } finally {
      load.disabled = false;
    }
  });
  trackEl.replaceChildren(h('div.row', {}, h('label', {}, t('device.track.date'), ' ', date), load), info, player);
}

async function loadTrack(id, day) {
  const from = new Date(`${day}T00:00:00`);
  const to = new Date(from.getTime() + 24 * 3600 * 1000);
  // As points: each fix with its time (a line needs two fixes; one is still a track).
  const q = new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), format: 'points' });
  const fc = await api(`/api/v1/devices/${id}/track?${q}`);
  clearTrack();
  const points = (fc.features || []).filter((f) => f.geometry);
  if (!points.length || id !== current) return 0;
  const coords = points.map((f) => [f.geometry.coordinates[1], f.geometry.coordinates[0]]);
  const times = points.map((f) => Date.parse(f.properties.ts));
  const map = getMap();
  const line = L.polyline(coords, { pane: 'track', color: '#facc15', weight: 3, opacity: 0.9 }).addTo(map);
  const marker = L.circleMarker(coords[0], { pane: 'track', radius: 8, color: '#0b1220', weight: 2, fillColor: '#facc15', fillOpacity: 1 }).addTo(map);
  track = { coords, times, line, marker };
  map.fitBounds(line.getBounds().pad(0.05), { padding: [40, 40], maxZoom: 18 });
  return coords.length;
}

function trackKm() {
  if (!track) return 0;
  let m = 0;
  for (let i = 1; i < track.coords.length; i++) m += L.latLng(track.coords[i - 1]).distanceTo(track.coords[i]);
  return m / 1000;
}

function renderPlayer(player) {
  const n = track.coords.length;
  const slider = h('input', { type: 'range', min: 0, max: n - 1, value: 0, step: 1, testid: 'track-slider', 'aria-label': t('device.track') });
  const at = h('output.track-time', { testid: 'track-time' });
  const play = h('button', { type: 'button', testid: 'track-play' }, t('device.track.play'));
  const speed = h('select', { testid: 'track-speed', 'aria-label': t('device.track.speed') }, ...PLAY_SPEEDS.map((s) => h('option', { value: s }, `${s}×`)));
  speed.value = '60';
  const show = (i) => {
    track.marker.setLatLng(track.coords[i]);
    at.textContent = formatTime(track.times[i]);
  };
  slider.addEventListener('input', () => show(Number(slider.value)));
  const stop = () => {
    clearInterval(playTimer);
    playTimer = null;
    play.textContent = t('device.track.play');
  };
  play.addEventListener('click', () => {
    if (playTimer) return stop();
    if (Number(slider.value) >= n - 1) slider.value = 0;
    play.textContent = t('device.track.pause');
    // Advance in track time: `speed` seconds of track per second, 10 frames a second.
    let clock = track.times[Number(slider.value)];
    playTimer = setInterval(() => {
      if (!track) return stop();
      clock += Number(speed.value) * 100;
      let i = Number(slider.value);
      while (i < n - 1 && track.times[i + 1] <= clock) i++;
      slider.value = i;
      show(i);
      if (i >= n - 1) stop();
    }, 100);
  });
  show(0);
  player.replaceChildren(slider, h('div.row', {}, play, speed, at));
  player.hidden = false;
}

function clearTrack() {
  clearInterval(playTimer);
  playTimer = null;
  if (track) {
    track.line.remove();
    track.marker.remove();
    track = null;
  }
}

export function currentDevice() {
  return current;
}

