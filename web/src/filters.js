// Filters (org, district, kind, state, search), the legend with live counts,
// and the searchable device list.

import { app, emit, on, STATES, KINDS, matchesFilters, deviceName } from './state.js';
import { t, tv } from './i18n.js';
import { h, fillSelect } from './ui.js';
import { STATE_COLORS, AREA_STYLES } from './map.js';

const LIST_MAX = 200;
let sel = {};
let legendCounts;
let shownEl;
let listEl;

export function mountFilters(bar) {
  for (const k of ['org', 'district', 'kind', 'state']) {
    sel[k] = h('select', { testid: `filter-${k}`, dataset: { filter: k } });
    sel[k].addEventListener('change', () => {
      app.filters[k] = sel[k].value;
      emit('filters-changed');
    });
    bar.append(h('label', {}, h('span', { 'data-i18n': `filters.${k}` }, t(`filters.${k}`)), sel[k]));
  }
  const search = h('input', {
    type: 'search',
    testid: 'filter-search',
    'data-i18n-placeholder': 'filters.search.placeholder',
    placeholder: t('filters.search.placeholder'),
    'aria-label': t('filters.search'),
  });
  search.addEventListener('input', () => {
    app.filters.search = search.value.trim();
    emit('filters-changed');
  });
  const reset = h('button.ghost', { type: 'button', testid: 'filter-reset', 'data-i18n': 'filters.reset' }, t('filters.reset'));
  reset.addEventListener('click', () => {
    Object.assign(app.filters, { org: '', district: '', kind: '', state: '', search: '', alertKind: '' });
    for (const s of Object.values(sel)) s.value = '';
    search.value = '';
    emit('filters-changed');
  });
  bar.append(search, reset);
  on('data-loaded', fillOptions);
  window.addEventListener('langchange', fillOptions);
}

function fillOptions() {
  const orgs = new Set();
  const districts = new Set();
  const kinds = new Set(KINDS);
  for (const a of app.areas) {
    orgs.add(a.org);
    if (a.district) districts.add(a.district);
  }
  for (const d of app.devices.values()) {
    orgs.add(d.org);
    for (const x of d.districts) districts.add(x);
    if (d.kind) kinds.add(d.kind);
  }
  const all = t('filters.all');
  fillSelect(sel.org, [...orgs].sort().map((v) => ({ value: v, label: v })), all);
  fillSelect(sel.district, [...districts].sort().map((v) => ({ value: v, label: v })), all);
  fillSelect(sel.kind, [...kinds].map((v) => ({ value: v, label: tv('kind', v) })), all);
  fillSelect(sel.state, STATES.map((v) => ({ value: v, label: tv('state', v) })), all);
}

export function mountLegend(box) {
  legendCounts = new Map();
  const states = h('ul.legend-states');
  for (const s of STATES) {
    const count = h('span.n', { testid: `legend-count-${s}` }, '0');
    legendCounts.set(s, count);
    const item = h(
      'li',
      { testid: `legend-${s}`, title: tv('state', s) },
      h('button.legend-pick', { type: 'button', onclick: () => pickState(s) }, h('span.dot', { style: `background:${STATE_COLORS[s]}` }), h('span.name', { 'data-i18n': `state.${s}` }, tv('state', s)), count),
    );
    states.append(item);
  }
  const areas = h('ul.legend-areas');
  for (const k of ['route', 'beat', 'park', 'transfer_station', 'rest_zone']) {
    const st = AREA_STYLES[k];
    const sw = k === 'route' ? h('span.sw.line', { style: `background:${st.color}` }) : h('span.sw', { style: `background:${st.fillColor || st.color};border-color:${st.color}` });
    areas.append(h('li', {}, sw, h('span', { 'data-i18n': `area.${k}` }, tv('area', k))));
  }
  // Routes with an unresolved coverage_at_risk (drawn by map.js over their corridors).
  areas.append(h('li', { testid: 'legend-at-risk' }, h('span.sw.line.at-risk'), h('span', { 'data-i18n': 'area.at_risk' }, t('area.at_risk'))));
  shownEl = h('p.shown', { testid: 'legend-shown' });
  box.append(
    h('h3', { 'data-i18n': 'legend.title' }, t('legend.title')),
    states,
    h('p.group-note', {}, h('span.device-group.mini', {}, h('span', {}, '5')), h('span', { 'data-i18n': 'legend.cluster' }, t('legend.cluster'))),
    shownEl,
    h('h3', { 'data-i18n': 'legend.areas' }, t('legend.areas')),
    areas,
  );
  on('map-rendered', ({ shown, total }) => {
    shownEl.textContent = t('legend.shown', { n: shown, total });
    shownEl.dataset.shown = String(shown);
    updateCounts();
  });
}

function pickState(s) {
  app.filters.state = app.filters.state === s ? '' : s;
  sel.state.value = app.filters.state;
  emit('filters-changed');
}

function updateCounts() {
  const counts = new Map(STATES.map((s) => [s, 0]));
  const f = { ...app.filters, state: '' };
  for (const d of app.devices.values()) if (d.lat != null && matchesFilters(d, f)) counts.set(d.state, (counts.get(d.state) || 0) + 1);
  for (const [s, el] of legendCounts) {
    el.textContent = String(counts.get(s) || 0);
    el.closest('li').classList.toggle('active', app.filters.state === s);
    el.closest('li').classList.toggle('zero', !counts.get(s));
  }
}

export function mountDeviceList(box) {
  listEl = h('ul.device-list', { testid: 'device-list' });
  box.append(listEl);
  // At most once a second while positions stream in.
  let last = 0;
  const refresh = () => {
    if (box.hidden || Date.now() - last < 1000) return;
    last = Date.now();
    renderList();
  };
  on('map-rendered', refresh);
  on('device-list-shown', renderList);
}

function renderList() {
  const matches = [...app.devices.values()].filter((d) => matchesFilters(d)).sort((a, b) => a.name.localeCompare(b.name));
  const rows = matches.slice(0, LIST_MAX).map((d) =>
    h(
      'li',
      { testid: 'device-row', dataset: { device: d.name, state: d.state, lat: d.lat ?? '', lon: d.lon ?? '' } },
      h(
        'button',
        { type: 'button', onclick: () => emit('select-device', d.id) },
        h('span.dot', { style: `background:${STATE_COLORS[d.state]}` }),
        h('span.name', {}, deviceName(d)),
        h('span.muted', {}, `${tv('kind', d.kind)} · ${tv('state', d.state)}`),
      ),
    ),
  );
  if (!matches.length) rows.push(h('li.empty', {}, t('devices.none')));
  if (matches.length > LIST_MAX) rows.push(h('li.empty', {}, t('devices.more', { n: matches.length - LIST_MAX })));
  listEl.replaceChildren(...rows);
}
