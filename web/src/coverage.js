// The coverage view: a route and a shift instance (date + shift) →
// GET /api/v1/coverage, drawn on the map (covered, missed, justified), with
// the percentage, pass counts along the route, and justification of missed
// stretches (operators).

import L from 'leaflet';
import { api } from './api.js';
import { app, canOperate } from './state.js';
import { t } from './i18n.js';
import { h, toast, formatNumber, formatPct, formatTime, isoDate, fillSelect } from './ui.js';
import { getMap } from './map.js';

let root;
let routeSel;
let dateIn;
let shiftSel;
let result;
let layer;
let last = null; // {route, org, shift, date, data}
let markReady;
const ready = new Promise((r) => (markReady = r)); // routes and shifts are in the form

export function mountCoverage(el) {
  root = el;
  routeSel = h('select', { testid: 'coverage-route', required: true });
  dateIn = h('input', { type: 'date', testid: 'coverage-date', value: isoDate(), required: true });
  shiftSel = h('select', { testid: 'coverage-shift', required: true });
  const submit = h('button.primary', { type: 'submit', testid: 'coverage-load', 'data-i18n': 'coverage.load' }, t('coverage.load'));
  const form = h(
    'form.coverage-form',
    { testid: 'coverage-form' },
    h('label', {}, h('span', { 'data-i18n': 'coverage.route' }, t('coverage.route')), routeSel),
    h('label', {}, h('span', { 'data-i18n': 'coverage.date' }, t('coverage.date')), dateIn),
    h('label', {}, h('span', { 'data-i18n': 'coverage.shift' }, t('coverage.shift')), shiftSel),
    submit,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    load();
  });
  result = h('div.coverage-result', { testid: 'coverage-result' }, h('p.empty', {}, t('coverage.pick')));
  root.append(h('div.panel-head', {}, h('h2', { 'data-i18n': 'coverage.title' }, t('coverage.title'))), form, result);
  window.addEventListener('langchange', () => {
    fillRoutes();
    if (last) renderResult();
    else result.replaceChildren(h('p.empty', {}, t('coverage.pick')));
  });
}

function fillRoutes() {
  const routes = app.areas.filter((a) => a.kind === 'route').sort((a, b) => (a.district || '').localeCompare(b.district || '') || a.name.localeCompare(b.name));
  fillSelect(
    routeSel,
    routes.map((r) => ({ value: `${r.org}/${r.id}`, label: `${r.name}${r.district ? ` — ${r.district}` : ''}` })),
  );
}

/** Fills the form once the areas and shifts are loaded (main.js). */
export function prepareCoverage() {
  fillRoutes();
  fillSelect(
    shiftSel,
    app.shifts.map((s) => ({ value: `${s.org}/${s.id}`, label: s.name || s.id })),
  );
  markReady();
}

/** Selects `value` in `sel`, adding it as an option when the list lacks it. */
function pick(sel, value, label) {
  if (![...sel.options].some((o) => o.value === value)) sel.append(h('option', { value }, label));
  sel.value = value;
}

/**
 * The coverage of a route in a shift instance, pre-filled and loaded (a
 * `coverage_at_risk` alert's link, or an address `#coverage?route=…&shift=…&date=…`;
 * `org` may be left out when the route id is unambiguous).
 */
export async function openCoverage({ org, route, shift, date }) {
  await ready;
  const org2 = org || app.areas.find((a) => a.id === route && a.kind === 'route')?.org || app.shifts.find((s) => s.id === shift)?.org || '';
  pick(routeSel, `${org2}/${route}`, app.areaById.get(`${org2}/${route}`)?.name || route);
  pick(shiftSel, `${org2}/${shift}`, app.shifts.find((s) => s.org === org2 && s.id === shift)?.name || shift);
  dateIn.value = date;
  await load();
}

export function showCoverageLayer(visible) {
  if (!layer) return;
  if (visible) layer.addTo(getMap());
  else layer.remove();
}

async function load() {
  const [org, route] = splitKey(routeSel.value);
  const [, shift] = splitKey(shiftSel.value);
  const date = dateIn.value;
  if (!route || !shift || !date) {
    result.replaceChildren(h('p.empty', {}, t('coverage.pick')));
    return;
  }
  result.replaceChildren(h('p.loading', {}, t('loading')));
  const q = new URLSearchParams({ route, shift, date, org });
  try {
    const data = await api(`/api/v1/coverage?${q}`);
    last = { route, org, shift, date, data };
    renderResult();
    draw(true);
    // The address names what is shown: reload or share it, and it comes back.
    if (document.getElementById('layout')?.dataset.view === 'coverage') history.replaceState(null, '', `#coverage?${q}`);
  } catch (e) {
    last = null;
    layer?.remove();
    if (e.status === 404) result.replaceChildren(h('p.empty', { testid: 'coverage-none' }, t('coverage.none')));
    else result.replaceChildren(h('p.error', { testid: 'coverage-error' }, t('error.generic', { error: e.message })));
  }
}

function splitKey(v) {
  const i = (v || '').indexOf('/');
  return i < 0 ? ['', ''] : [v.slice(0, i), v.slice(i + 1)];
}

function draw(fit) {
  const map = getMap();
  layer?.remove();
  layer = L.layerGroup();
  const d = last.data;
  const area = app.areaById.get(`${last.org}/${last.route}`);
  const bounds = L.latLngBounds([]);
  if (area?.feature?.geometry) {
    const g = L.geoJSON(area.feature, { pane: 'coverage', style: { color: '#22c55e', weight: 7, opacity: 0.9, lineCap: 'butt' } });
    g.bindTooltip(t('coverage.legend.covered'), { sticky: true });
    layer.addLayer(g);
    bounds.extend(g.getBounds());
  }
  const stretches = (fc, style, label) => {
    for (const f of fc?.features || []) {
      if (!f.geometry) continue;
      const g = L.geoJSON(f, { pane: 'coverage', style });
      g.bindTooltip(`${label}: ${t('coverage.stretch', { from: formatNumber(f.properties.from_m), to: formatNumber(f.properties.to_m) })}`, { sticky: true });
      layer.addLayer(g);
      bounds.extend(g.getBounds());
    }
  };
  stretches(d.justified, { color: '#f59e0b', weight: 7, opacity: 1, dashArray: '8 6', lineCap: 'butt' }, t('coverage.legend.justified'));
  stretches(d.missed, { color: '#ef4444', weight: 8, opacity: 1, lineCap: 'butt' }, t('coverage.legend.missed'));
  layer.addTo(map);
  if (fit && bounds.isValid()) map.fitBounds(bounds, { padding: [60, 60], maxZoom: 18 });
}

function passesBar(d) {
  const total = d.total_m || 1;
  const need = d.passes_required || 1;
  const bar = h('div.passes-bar', { testid: 'coverage-passes', role: 'img', 'aria-label': t('coverage.passes') });
  for (const p of d.passes || []) {
    const w = ((p.to_m - p.from_m) / total) * 100;
    const cls = p.passes === 0 ? 'p0' : p.passes < need ? 'pp' : 'pf';
    bar.append(
      h(`span.${cls}`, {
        style: `width:${w}%`,
        title: `${t('coverage.stretch', { from: formatNumber(p.from_m), to: formatNumber(p.to_m) })}: ${p.passes}`,
      }, w > 8 ? String(p.passes) : ''),
    );
  }
  return bar;
}

function renderResult() {
  const d = last.data;
  const stat = (k, v, testid) => h('div.stat', {}, h('span.k', {}, t(k)), h('span.v', { testid }, v));
  const missed = d.missed?.features || [];
  const justified = d.justified?.features || [];
  const list = h('ul.stretches', { testid: 'missed-list' });
  if (!missed.length) list.append(h('li.empty', {}, t('coverage.missed.none')));
  for (const f of missed) list.append(missedItem(f));
  const jlist = h('ul.stretches.justified', { testid: 'justified-list' });
  for (const f of justified) {
    const p = f.properties;
    jlist.append(
      h(
        'li',
        { testid: 'justified-stretch' },
        h('strong', {}, t('coverage.stretch', { from: formatNumber(p.from_m), to: formatNumber(p.to_m) })),
        ` — ${p.note || ''}${p.actor ? ` (${p.actor})` : ''}`,
      ),
    );
  }
  const lastServed = (d.last_served || []).slice(0, 8);
  const parts = [
    h(
      'div.big',
      {},
      h('span.pct', { testid: 'coverage-pct' }, formatPct(d.covered_fraction)),
      h('span.k', {}, t('coverage.covered')),
    ),
    h(
      'div.stats',
      {},
      stat('coverage.total', t('unit.m', { n: formatNumber(d.total_m) })),
      stat('coverage.covered', t('unit.m', { n: formatNumber(d.covered_m) })),
      stat('coverage.complete', t('unit.m', { n: formatNumber(d.complete_m) })),
      stat('coverage.missed', t('unit.m', { n: formatNumber(d.missed_m) }), 'coverage-missed-m'),
      stat('coverage.passes_required', String(d.passes_required ?? 1)),
    ),
    h('h3', {}, t('coverage.passes')),
    passesBar(d),
    h(
      'div.cov-legend',
      {},
      h('span.sw.covered'),
      t('coverage.legend.covered'),
      h('span.sw.missed'),
      t('coverage.legend.missed'),
      h('span.sw.justified'),
      t('coverage.legend.justified'),
    ),
    h('h3', {}, t('coverage.missed.list')),
    list,
    justified.length ? h('h3', {}, t('coverage.justified.list')) : null,
    justified.length ? jlist : null,
    lastServed.length ? h('h3', {}, t('coverage.lastserved')) : null,
    lastServed.length
      ? h(
          'ul.stretches.served',
          {},
          lastServed.map((s) => h('li', {}, `${t('coverage.stretch', { from: formatNumber(s.from_m), to: formatNumber(s.to_m) })}: ${formatTime(Date.parse(s.at))}`)),
        )
      : null,
    h('p.muted', {}, t('coverage.updated', { at: formatTime(Date.parse(d.updated_at)) })),
  ];
  result.replaceChildren(...parts.filter(Boolean));
}

function missedItem(f) {
  const p = f.properties;
  const li = h('li', { testid: 'missed-stretch', dataset: { from: p.from_m, to: p.to_m } });
  const label = h(
    'button.link',
    {
      type: 'button',
      onclick: () => f.geometry && getMap().fitBounds(L.geoJSON(f).getBounds(), { padding: [60, 60], maxZoom: 19 }),
    },
    `${t('coverage.stretch', { from: formatNumber(p.from_m), to: formatNumber(p.to_m) })} (${t('unit.m', { n: formatNumber(p.length_m) })})`,
  );
  li.append(label);
  if (canOperate()) {
    const note = h('textarea', { rows: 2, maxlength: 4000, testid: 'justify-note', placeholder: t('coverage.justify.note') });
    const form = h(
      'form.note-form',
      { hidden: true, testid: 'justify-form' },
      note,
      h(
        'div.row',
        {},
        h('button.primary', { type: 'submit', testid: 'justify-confirm' }, t('coverage.justify.confirm')),
        h('button', { type: 'button', onclick: () => (form.hidden = true) }, t('cancel')),
      ),
    );
    const btn = h('button', { type: 'button', testid: 'justify', onclick: () => ((form.hidden = false), note.focus()) }, t('coverage.justify'));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!note.value.trim()) {
        toast(t('coverage.justify.required'), 'warn');
        return;
      }
      try {
        await api('/api/v1/coverage/justify', {
          method: 'POST',
          body: { route: last.route, shift: last.shift, date: last.date, org: last.org, from_m: p.from_m, to_m: p.to_m, note: note.value.trim() },
        });
        toast(t('coverage.justify.done'), 'ok');
        await load();
      } catch (err) {
        if (err.status === 403) toast(t('error.forbidden'), 'error');
        else if (err.status !== 401) toast(t('error.generic', { error: err.message }), 'error');
      }
    });
    li.append(btn, form);
  }
  return li;
}
