// The alert queue: open and acknowledged alerts, SOS on top, then severity,
// then newest; ticking ages; SOS flashing (and a short tone when sound is on);
// acknowledge and resolve with a note, here and from the device panel.

import { api, apiAll } from './api.js';
import { app, emit, on, canOperate, compareAlerts, alertMatchesFilters, SEVERITY, SEVERITY_NAMES, areaName, deviceName } from './state.js';
import { t, tv } from './i18n.js';
import { h, toast, formatAge, formatTime } from './ui.js';

let listEl;
let countEl;
let statusEl;
const items = new Map(); // alert id -> element
let loaded = false;

export async function loadAlerts() {
  const [open, acked] = await Promise.all([apiAll('/api/v1/alerts?state=open'), apiAll('/api/v1/alerts?state=acknowledged')]);
  app.alerts.clear();
  for (const a of [...open, ...acked]) app.alerts.set(a.id, a);
  loaded = true;
  emit('alerts-changed');
}

/** An `alert` event of the live stream. */
export async function applyAlertEvent(e) {
  const id = e.alert_id;
  if (e.state === 'resolved') {
    if (app.alerts.delete(id)) emit('alerts-changed');
    return;
  }
  const known = app.alerts.get(id);
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
    const dev = app.devices.get(e.device_id);
    const a = {
      id,
      org: e.org,
      device_id: e.device_id,
      device: dev?.name ?? `#${e.device_id}`,
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
    };
    app.alerts.set(id, a);
    emit('alerts-changed', { added: a });
    return;
  }
  try {
    const a = await api(`/api/v1/alerts/${id}`);
    if (a.state !== 'resolved') {
      app.alerts.set(id, a);
      emit('alerts-changed', { added: a });
    }
  } catch (err) {
    console.warn(`alert ${id}:`, err.message);
  }
}

async function act(alert, action, note) {
  const body = note && note.trim() ? { note: note.trim() } : {};
  try {
    const row = await api(`/api/v1/alerts/${alert.id}/${action}`, { method: 'POST', body });
    if (row.state === 'resolved') app.alerts.delete(row.id);
    else app.alerts.set(row.id, row);
    emit('alerts-changed');
    toast(t(action === 'ack' ? 'alerts.done.ack' : 'alerts.done.resolve'), 'ok');
    return true;
  } catch (e) {
    if (e.status === 409) {
      toast(t('error.conflict', { detail: e.message }), 'warn');
      // Someone else got there first: take the alert as it is now.
      try {
        const a = await api(`/api/v1/alerts/${alert.id}`);
        if (a.state === 'resolved') app.alerts.delete(a.id);
        else app.alerts.set(a.id, a);
        emit('alerts-changed');
      } catch {
        /* the stream will tell */
      }
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
  const d = app.devices.get(a.device_id);
  return d ? deviceName(d) : a.device;
}

function buildItem(a) {
  const sev = SEVERITY[a.kind] ?? 3;
  const li = h('li.alert', { testid: 'alert-item', dataset: { alertId: a.id, kind: a.kind } });
  li.classList.add(`sev-${sev}`);
  if (a.kind === 'sos') li.classList.add('sos');
  const kind = h('span.kind', { testid: 'alert-kind' });
  const sevEl = h('span.sev');
  const state = h('span.state', { testid: 'alert-state' });
  const age = h('time.age', { testid: 'alert-age' });
  const device = h('button.link.device', {
    type: 'button',
    testid: 'alert-device',
    onclick: () => emit('select-device', a.device_id),
  });
  const dl = h('dl.facts');
  const msg = h('p.message');
  const show = h('button.ghost', { type: 'button', testid: 'alert-show', onclick: () => emit('show-alert', li._alert) });
  const actions = alertActions(a, 'queue');
  li.append(h('div.alert-head', {}, kind, sevEl, state, age), device, dl, msg, h('div.row.tools', {}, show), actions || '');
  li._update = (x) => {
    li._alert = x;
    li.dataset.state = x.state;
    kind.textContent = tv('alertkind', x.kind);
    sevEl.textContent = t(`severity.${SEVERITY_NAMES[SEVERITY[x.kind] ?? 3]}`);
    state.textContent = x.state === 'acknowledged' && x.acknowledged_by ? t('alerts.acknowledged_by', { who: x.acknowledged_by }) : tv('alerts.state', x.state);
    li.classList.toggle('acked', x.state === 'acknowledged');
    device.textContent = deviceLabel(x);
    age.dateTime = x.opened_at;
    age.title = formatTime(Date.parse(x.opened_at));
    dl.replaceChildren(
      h('dt', {}, t('alerts.place')),
      h('dd', { testid: 'alert-place' }, placeOf(x)),
      h('dt', {}, t('alerts.district')),
      h('dd', { testid: 'alert-district' }, x.district || '—'),
      h('dt', {}, t('alerts.chief')),
      h('dd', { testid: 'alert-chief' }, x.chief || '—'),
    );
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
  statusEl.textContent = t('alerts.empty');
  tickAges();
}

export function mountAlerts(root) {
  countEl = h('span.count', { testid: 'alert-count' });
  statusEl = h('p.empty', { testid: 'alerts-empty' });
  listEl = h('ol.alert-list', { testid: 'alert-queue', 'aria-live': 'polite' });
  const readonly = h('p.readonly', { testid: 'alerts-readonly', hidden: canOperate() });
  readonly.textContent = t('alerts.readonly', { role: t(`role.${app.me?.role || 'viewer'}`) });
  root.append(h('div.panel-head', {}, h('h2', { 'data-i18n': 'alerts.title' }, t('alerts.title')), countEl), readonly, statusEl, listEl);
  on('alerts-changed', (detail) => {
    render();
    if (detail?.added?.kind === 'sos') beep();
  });
  on('filters-changed', render);
  window.addEventListener('langchange', () => {
    readonly.textContent = t('alerts.readonly', { role: t(`role.${app.me?.role || 'viewer'}`) });
    for (const li of items.values()) li.remove();
    items.clear();
    render();
  });
  setInterval(tickAges, 1000);
  render();
}
