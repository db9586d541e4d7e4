// The alert queue: open and acknowledged alerts, SOS on top, then severity,
// then newest; ticking ages; SOS flashing (and a short tone when sound is on);
// acknowledge and resolve with a note, here and from the device panel.
// A case the engine re-opened (the condition recurred soon after it cleared)
// comes back under its own id with a re-open count; a route alert
// (`coverage_at_risk`) has no device: it names the route and its shift
// instance and links to the coverage view.

import { api, apiAll } from './api.js';
import {
  app,
  emit,
  on,
  canOperate,
  compareAlerts,
  alertMatchesFilters,
  SEVERITY,
  SEVERITY_NAMES,
  ALERT_KINDS,
  isRouteAlert,
  coverageParams,
  areaName,
  shiftName,
  deviceName,
} from './state.js';
import { t, tv } from './i18n.js';
import { h, toast, formatAge, formatTime, formatDate, formatPct, fillSelect } from './ui.js';

let listEl;
let countEl;
let statusEl;
let kindSel;
const items = new Map(); // alert id -> element
let loaded = false;

// Alerts that left the queue (resolved) lately: a recurrence re-opens one of
// them under the same id, and is shown at once with what we knew of it.
const gone = new Map(); // alert id -> alert
const GONE_MAX = 500;
// Each alert's latest event, numbered: a fetch started before a newer event
// arrived must not overwrite what that event said.
const latest = new Map(); // alert id -> event number
let events = 0;

function noteEvent(id) {
  latest.set(id, ++events);
}

function remember(a) {
  gone.delete(a.id);
  gone.set(a.id, a);
  if (gone.size > GONE_MAX) gone.delete(gone.keys().next().value);
}

/** Takes an alert out of the queue (resolved); true when it was in it. */
function drop(id) {
  const a = app.alerts.get(id);
  if (!a) return false;
  app.alerts.delete(id);
  remember(a);
  return true;
}

/** An alert row of the API (without its transitions), keeping what the page learnt of it. */
function keep(row, prev) {
  const { transitions, ...a } = row;
  const reopened = lastReopen(transitions);
  if (reopened) a.reopened_at = reopened;
  else if (prev?.reopened_at && prev.reopen_count === a.reopen_count) a.reopened_at = prev.reopened_at;
  return a;
}

/** When the engine last re-opened the case, from its transitions (GET /alerts/{id}). */
function lastReopen(transitions) {
  if (!Array.isArray(transitions)) return null;
  const opens = transitions.filter((x) => x.state === 'open');
  return opens.length > 1 ? opens[opens.length - 1].at : null;
}

export async function loadAlerts() {
  const [open, acked] = await Promise.all([apiAll('/api/v1/alerts?state=open'), apiAll('/api/v1/alerts?state=acknowledged')]);
  const before = new Map(app.alerts);
  app.alerts.clear();
  for (const a of [...open, ...acked]) app.alerts.set(a.id, keep(a, before.get(a.id)));
  for (const [id, a] of before) if (!app.alerts.has(id)) remember(a);
  loaded = true;
  emit('alerts-changed');
}

/** Asks the API for an alert and takes it as it is, unless a newer event about it arrived meanwhile. */
async function refresh(id) {
  const asked = latest.get(id);
  try {
    const row = await api(`/api/v1/alerts/${id}`);
    if (latest.get(id) !== asked) return;
    if (row.state === 'resolved') {
      if (drop(id)) emit('alerts-changed');
      return;
    }
    const prev = app.alerts.get(id) ?? gone.get(id);
    gone.delete(id);
    app.alerts.set(id, keep(row, prev));
    emit('alerts-changed');
  } catch (err) {
    console.warn(`alert ${id}:`, err.message);
  }
}

/** An alert as the engine's `alert` event describes it. */
function fromEvent(e) {
  const dev = e.device_id != null ? app.devices.get(e.device_id) : null;
  return {
    id: e.alert_id,
    org: e.org,
    device_id: e.device_id ?? null,
    device: e.device_id != null ? (dev?.name ?? `#${e.device_id}`) : null,
    kind: e.kind,
    state: 'open',
    opened_at: e.at,
    lat: e.lat,
    lon: e.lon,
    area_id: e.area_id,
    district: e.district,
    grid: e.grid,
    chief: e.chief,
    shift_id: e.shift_id,
    shift_date: e.shift_date,
    message: e.message,
    reopen_count: e.reopen_count ?? 0,
    covered_fraction: e.covered_fraction ?? null,
    coverage_url: e.coverage_url ?? null,
  };
}

/** An `alert` event of the live stream. */
export async function applyAlertEvent(e) {
  const id = e.alert_id;
  noteEvent(id);
  if (e.state === 'resolved') {
    if (drop(id)) emit('alerts-changed');
    return;
  }
  const known = app.alerts.get(id);
  if (e.actor === 'engine' && e.state === 'open' && e.recurrence) {
    // The condition came back soon after it cleared: the engine re-opened the
    // same case. Back in the queue as open at once (counted), then as the API has it.
    const prev = known ?? gone.get(id);
    const ev = fromEvent(e);
    const a = prev
      ? {
          ...prev,
          state: 'open',
          lat: ev.lat,
          lon: ev.lon,
          message: ev.message,
          reopen_count: e.reopen_count ?? (prev.reopen_count ?? 0) + 1,
          reopened_at: e.at,
          cleared_at: null,
          resolved_at: null,
          resolved_by: null,
          acknowledged_at: null,
          acknowledged_by: null,
        }
      : { ...ev, reopen_count: e.reopen_count ?? 1, reopened_at: e.at };
    gone.delete(id);
    app.alerts.set(id, a);
    emit('alerts-changed', { added: a, reopened: true });
    refresh(id);
    return;
  }
  if (known) {
    known.state = e.state;
    if (e.state === 'acknowledged') {
      known.acknowledged_at = e.at;
      known.acknowledged_by = e.actor;
    }
    emit('alerts-changed');
    return;
  }
  // New to us. The engine's event carries what the queue shows; an operator's
  // update of an alert we never saw does not, so ask for it.
  if (e.actor === 'engine' && e.state === 'open') {
    const a = fromEvent(e);
    app.alerts.set(id, a);
    emit('alerts-changed', { added: a });
    // A device that never sent a position (offline, late start) is only a number to us: the API names it.
    if (a.device_id != null && !app.devices.has(a.device_id)) refresh(id);
    return;
  }
  await refresh(id);
}

async function act(alert, action, note) {
  const body = note && note.trim() ? { note: note.trim() } : {};
  try {
    const row = await api(`/api/v1/alerts/${alert.id}/${action}`, { method: 'POST', body });
    noteEvent(row.id);
    if (row.state === 'resolved') drop(row.id);
    else app.alerts.set(row.id, keep(row, app.alerts.get(row.id)));
    emit('alerts-changed');
    toast(t(action === 'ack' ? 'alerts.done.ack' : 'alerts.done.resolve'), 'ok');
    return true;
  } catch (e) {
    if (e.status === 409) {
      toast(t('error.conflict', { detail: e.message }), 'warn');
      // Someone else got there first: take the alert as it is now.
      noteEvent(alert.id);
      await refresh(alert.id);
    } else if (e.status === 403) toast(t('error.forbidden'), 'error');
    else if (e.status !== 401) toast(t('error.generic', { error: e.message }), 'error');
    return false;
  }
}

/**
 * Acknowledge / resolve buttons with a note form, for the queue and the
 * device panel. Nothing for viewers.
 */
export function alertActions(alert, where) {
  if (!canOperate()) return null;
  const box = h('div.alert-actions');
  const form = h('form.note-form', { hidden: true, testid: `${where}-note-form` });
  const label = h('label.note-label');
  const labelText = h('span');
  const note = h('textarea', { rows: 2, maxlength: 4000, testid: 'alert-note', placeholder: t('alerts.note.placeholder') });
  const confirm = h('button.primary', { type: 'submit', testid: 'alert-confirm' });
  const cancel = h('button', { type: 'button', testid: 'alert-cancel', onclick: () => (form.hidden = true) }, t('cancel'));
  label.append(labelText, note);
  form.append(label, h('div.row', {}, confirm, cancel));
  let action = null;
  const open = (a) => {
    action = a;
    form.hidden = false;
    labelText.textContent = t('alerts.note.optional');
    confirm.textContent = t(a === 'ack' ? 'alerts.confirm.ack' : 'alerts.confirm.resolve');
    note.focus();
  };
  const ack = h('button', { type: 'button', testid: 'alert-ack', onclick: () => open('ack') }, t('alerts.ack'));
  const resolve = h('button', { type: 'button', testid: 'alert-resolve', onclick: () => open('resolve') }, t('alerts.resolve'));
  if (alert.state !== 'open') ack.hidden = true;
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    confirm.disabled = true;
    const ok = await act(alert, action, note.value);
    confirm.disabled = false;
    if (ok) {
      form.hidden = true;
      note.value = '';
    }
  });
  box.append(h('div.row', {}, ack, resolve), form);
  box._update = (a) => {
    ack.hidden = a.state !== 'open';
  };
  return box;
}

function placeOf(a) {
  const area = areaName(a.org, a.area_id);
  const parts = [area, a.grid].filter(Boolean);
  return parts.join(' · ') || (a.lat != null ? `${a.lat.toFixed(5)}, ${a.lon.toFixed(5)}` : '—');
}

function deviceLabel(a) {
  const d = a.device_id != null ? app.devices.get(a.device_id) : null;
  return d ? deviceName(d) : a.device || (a.device_id != null ? `#${a.device_id}` : '—');
}

/** The covered share of a `coverage_at_risk` alert, as a fraction (the API's `covered_fraction`). */
export function coveredShare(a) {
  return typeof a.covered_fraction === 'number' ? a.covered_fraction : null;
}

function reopenTitle(a) {
  const n = a.reopen_count || 0;
  const base = n === 1 ? t('alerts.reopened.one') : t('alerts.reopened.other', { n });
  return a.reopened_at ? `${base} (${t('alerts.reopened.last', { at: formatTime(Date.parse(a.reopened_at)) })})` : base;
}

/** The "×3" badge of a re-opened case (hidden while it never was); `_update(a)` refreshes it. */
export function reopenBadge(a, testid = 'alert-reopen') {
  const el = h('span.reopen', { testid, role: 'img' });
  el._update = (x) => {
    const n = x.reopen_count || 0;
    el.hidden = n <= 0;
    el.dataset.count = String(n);
    el.textContent = `×${n}`;
    el.title = n > 0 ? reopenTitle(x) : '';
    el.setAttribute('aria-label', el.title);
  };
  el._update(a);
  return el;
}

/**
 * A link to the coverage view of a route alert's route and shift instance
 * (pre-filled; a plain address too, for a new tab). `_update(a)` refreshes it.
 */
export function coverageLink(a, testid = 'alert-coverage') {
  let params = null;
  const link = h('a.button', {
    testid,
    onclick: (ev) => {
      if (!params || ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.altKey) return; // a new tab: the href
      ev.preventDefault();
      emit('open-coverage', params);
    },
  });
  link._update = (x) => {
    params = coverageParams(x);
    link.hidden = !params;
    if (!params) return;
    link.href = `#coverage?${new URLSearchParams(params)}`;
    link.title = t('alerts.coverage.title', { route: areaName(params.org, params.route), shift: shiftName(params.org, params.shift), date: formatDate(params.date) });
    link.textContent = t('alerts.coverage.open');
  };
  link._update(a);
  return link;
}

function buildItem(a) {
  const sev = SEVERITY[a.kind] ?? 3;
  const route = isRouteAlert(a);
  const li = h('li.alert', { testid: 'alert-item', dataset: { alertId: a.id, kind: a.kind, subject: route ? 'route' : 'device' } });
  li.classList.add(`sev-${sev}`);
  if (a.kind === 'sos') li.classList.add('sos');
  const kind = h('span.kind', { testid: 'alert-kind' });
  const sevEl = h('span.sev');
  const state = h('span.state', { testid: 'alert-state' });
  const reopen = reopenBadge(a);
  const age = h('time.age', { testid: 'alert-age' });
  // Who or what the alert is about: a device (its panel), or a route (shown on the map).
  const subject = route
    ? h('button.link.device.route', { type: 'button', testid: 'alert-route', onclick: () => emit('show-alert', li._alert) })
    : h('button.link.device', { type: 'button', testid: 'alert-device', onclick: () => emit('select-device', a.device_id) });
  const dl = h('dl.facts');
  const msg = h('p.message');
  const show = h('button.ghost', { type: 'button', testid: 'alert-show', onclick: () => emit('show-alert', li._alert) });
  const covLink = route ? coverageLink(a) : null;
  const tools = h('div.row.tools', {}, show, covLink || '');
  const actions = alertActions(a, 'queue');
  li.append(h('div.alert-head', {}, kind, reopen, sevEl, state, age), subject, dl, msg, tools, actions || '');
  li._update = (x) => {
    li._alert = x;
    li.dataset.state = x.state;
    li.dataset.reopenCount = String(x.reopen_count || 0);
    kind.textContent = tv('alertkind', x.kind);
    reopen._update(x);
    sevEl.textContent = t(`severity.${SEVERITY_NAMES[SEVERITY[x.kind] ?? 3]}`);
    state.textContent = x.state === 'acknowledged' && x.acknowledged_by ? t('alerts.acknowledged_by', { who: x.acknowledged_by }) : tv('alerts.state', x.state);
    li.classList.toggle('acked', x.state === 'acknowledged');
    age.dateTime = x.opened_at;
    age.title = formatTime(Date.parse(x.opened_at));
    const row = (k, v, testid) => [h('dt', {}, t(k)), h('dd', { testid }, v)];
    if (route) {
      const routeName = areaName(x.org, x.area_id) || '—';
      subject.textContent = routeName;
      subject.title = t('alerts.route.show');
      const share = coveredShare(x);
      dl.replaceChildren(
        ...row('alerts.route', routeName, 'alert-route-name'),
        ...row('alerts.shift', [shiftName(x.org, x.shift_id), formatDate(x.shift_date)].filter(Boolean).join(' · ') || '—', 'alert-shift'),
        ...(share != null ? row('alerts.covered', formatPct(share, 0), 'alert-covered') : []),
        ...row('alerts.district', x.district || '—', 'alert-district'),
        ...row('alerts.chief', x.chief || '—', 'alert-chief'),
      );
      covLink._update(x);
    } else {
      subject.textContent = deviceLabel(x);
      // Where the device should be: for these kinds it is exactly where it is not.
      const assigned = x.kind === 'off_area' || x.kind === 'work_off_route';
      dl.replaceChildren(
        ...row(assigned ? 'alerts.assigned' : 'alerts.place', placeOf(x), 'alert-place'),
        ...row('alerts.district', x.district || '—', 'alert-district'),
        ...row('alerts.chief', x.chief || '—', 'alert-chief'),
      );
    }
    msg.textContent = x.message || '';
    msg.hidden = !x.message;
    show.textContent = t('alerts.show');
    actions?._update(x);
  };
  li._update(a);
  return li;
}

function tickAges() {
  const now = Date.now();
  for (const li of items.values()) {
    const el = li.querySelector('.age');
    el.textContent = formatAge(now - Date.parse(li._alert.opened_at));
  }
}

let audio;
let soundOn = localStorage.getItem('sweepwatch.sound') !== 'off';

export function soundEnabled() {
  return soundOn;
}

export function setSound(onOff) {
  soundOn = onOff;
  localStorage.setItem('sweepwatch.sound', onOff ? 'on' : 'off');
  if (onOff) unlockAudio();
}

/** Browsers allow audio only after a user gesture: call from one (sign-in). */
export function unlockAudio() {
  try {
    audio ??= new AudioContext();
    if (audio.state === 'suspended') audio.resume().catch(() => {});
  } catch {
    audio = null;
  }
}

function beep() {
  if (!soundOn || !audio || audio.state !== 'running') return;
  const now = audio.currentTime;
  for (const [i, f] of [880, 660, 880].entries()) {
    const o = audio.createOscillator();
    const g = audio.createGain();
    o.frequency.value = f;
    g.gain.setValueAtTime(0.0001, now + i * 0.18);
    g.gain.exponentialRampToValueAtTime(0.25, now + i * 0.18 + 0.02);
    g.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.18 + 0.16);
    o.connect(g).connect(audio.destination);
    o.start(now + i * 0.18);
    o.stop(now + i * 0.18 + 0.17);
  }
}

function render() {
  if (!listEl) return;
  if (!loaded) {
    statusEl.textContent = t('alerts.loading');
    statusEl.hidden = false;
    return;
  }
  const visible = [...app.alerts.values()].filter((a) => alertMatchesFilters(a)).sort(compareAlerts);
  const keep = new Set(visible.map((a) => a.id));
  for (const [id, li] of items) {
    if (!keep.has(id)) {
      li.remove();
      items.delete(id);
    }
  }
  let prev = null;
  for (const a of visible) {
    let li = items.get(a.id);
    if (!li) {
      li = buildItem(a);
      items.set(a.id, li);
    } else li._update(a);
    // Reorder only what moved (keeps focus in an open note form).
    const want = prev ? prev.nextSibling : listEl.firstChild;
    if (want !== li) listEl.insertBefore(li, want);
    prev = li;
  }
  const open = visible.filter((a) => a.state === 'open').length;
  countEl.textContent = t('alerts.count', { n: open });
  countEl.dataset.count = String(visible.length);
  countEl.classList.toggle('has-sos', visible.some((a) => a.kind === 'sos'));
  statusEl.hidden = visible.length > 0;
  statusEl.textContent = t(app.filters.alertKind && app.alerts.size ? 'alerts.empty.filtered' : 'alerts.empty');
  tickAges();
}

function fillKinds() {
  fillSelect(
    kindSel,
    ALERT_KINDS.map((k) => ({ value: k, label: tv('alertkind', k) })),
    t('alerts.filter.all'),
  );
  kindSel.value = app.filters.alertKind;
}

export function mountAlerts(root) {
  countEl = h('span.count', { testid: 'alert-count' });
  statusEl = h('p.empty', { testid: 'alerts-empty' });
  listEl = h('ol.alert-list', { testid: 'alert-queue', 'aria-live': 'polite' });
  kindSel = h('select.alert-kind-filter', { testid: 'alert-filter-kind', 'aria-label': t('alerts.filter.kind'), 'data-i18n-aria-label': 'alerts.filter.kind' });
  kindSel.addEventListener('change', () => {
    app.filters.alertKind = kindSel.value;
    emit('filters-changed');
  });
  fillKinds();
  const readonly = h('p.readonly', { testid: 'alerts-readonly', hidden: canOperate() });
  readonly.textContent = t('alerts.readonly', { role: t(`role.${app.me?.role || 'viewer'}`) });
  root.append(h('div.panel-head', {}, h('h2', { 'data-i18n': 'alerts.title' }, t('alerts.title')), kindSel, countEl), readonly, statusEl, listEl);
  on('alerts-changed', (detail) => {
    render();
    if (detail?.added?.kind === 'sos') beep();
  });
  on('filters-changed', () => {
    if (kindSel.value !== app.filters.alertKind) kindSel.value = app.filters.alertKind;
    render();
  });
  window.addEventListener('langchange', () => {
    fillKinds();
    readonly.textContent = t('alerts.readonly', { role: t(`role.${app.me?.role || 'viewer'}`) });
    for (const li of items.values()) li.remove();
    items.clear();
    render();
  });
  setInterval(tickAges, 1000);
  render();
}
