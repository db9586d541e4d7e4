// The shift report: GET /api/v1/reports/shift as one table per district,
// the alert KPIs, and the same report as CSV (Accept: text/csv) to download.

import { api } from './api.js';
import { app, SEVERITY } from './state.js';
import { t, tv } from './i18n.js';
import { h, toast, formatNumber, formatPct, formatDuration, isoDate } from './ui.js';

let dateIn;
let shiftSel;
let out;
let last = null;

export function mountReport(root) {
  dateIn = h('input', { type: 'date', testid: 'report-date', value: isoDate(), required: true });
  shiftSel = h('select', { testid: 'report-shift' });
  const form = h(
    'form.report-form',
    { testid: 'report-form' },
    h('label', {}, h('span', { 'data-i18n': 'report.date' }, t('report.date')), dateIn),
    h('label', {}, h('span', { 'data-i18n': 'report.shift' }, t('report.shift')), shiftSel),
    h('button.primary', { type: 'submit', testid: 'report-load', 'data-i18n': 'report.load' }, t('report.load')),
    h('button', { type: 'button', testid: 'report-csv', 'data-i18n': 'report.csv', onclick: downloadCsv }, t('report.csv')),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    load();
  });
  out = h('div.report-out', { testid: 'report-out' });
  root.append(h('div.panel-head', {}, h('h2', { 'data-i18n': 'report.title' }, t('report.title'))), form, out);
  window.addEventListener('langchange', () => {
    fillShifts();
    if (last) render();
  });
}

function fillShifts() {
  const cur = shiftSel.value;
  shiftSel.replaceChildren(h('option', { value: '' }, t('report.allshifts')));
  const seen = new Set();
  for (const s of app.shifts) {
    if (seen.has(s.id)) continue;
    seen.add(s.id);
    shiftSel.append(h('option', { value: s.id }, s.name || s.id));
  }
  shiftSel.value = cur;
}

/** Fills the shift list once the shifts are loaded (main.js). */
export function prepareReport() {
  fillShifts();
}

function query() {
  const q = new URLSearchParams({ date: dateIn.value });
  if (shiftSel.value) q.set('shift', shiftSel.value);
  return q;
}

async function load() {
  if (!dateIn.value) return;
  out.replaceChildren(h('p.loading', {}, t('loading')));
  try {
    last = await api(`/api/v1/reports/shift?${query()}`);
    render();
  } catch (e) {
    last = null;
    out.replaceChildren(h('p.error', {}, t('error.generic', { error: e.message })));
  }
}

function render() {
  const r = last;
  const byDistrict = new Map();
  for (const row of r.routes || []) {
    const k = row.district || '';
    if (!byDistrict.has(k)) byDistrict.set(k, []);
    byDistrict.get(k).push(row);
  }
  const parts = [];
  if (!byDistrict.size) parts.push(h('p.empty', { testid: 'report-empty' }, t('report.empty')));
  for (const [district, rows] of byDistrict) {
    const total = rows.reduce((s, x) => s + x.total_m, 0);
    const covered = rows.reduce((s, x) => s + x.covered_m, 0);
    parts.push(
      h(
        'section.district',
        { testid: 'report-district', dataset: { district } },
        h(
          'h3',
          {},
          district || t('report.nodistrict'),
          h('span.muted', {}, ` — ${t('report.district.summary', { n: rows.length, pct: formatPct(total ? covered / total : 0) })}`),
        ),
        h(
          'table.data',
          {},
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ['report.route', 'report.shift', 'report.total_m', 'report.covered', 'report.complete_m', 'report.missed_m', 'report.justified_m'].map((k) => h('th', {}, t(k))),
            ),
          ),
          h(
            'tbody',
            {},
            rows.map((x) =>
              h(
                'tr',
                { testid: 'report-row', dataset: { route: x.route_id } },
                h('td', {}, x.route_id),
                h('td', {}, x.shift_id),
                h('td.num', {}, formatNumber(x.total_m)),
                h('td.num', {}, h('span.bar', { style: `--p:${Math.round(x.covered_fraction * 100)}%` }), formatPct(x.covered_fraction)),
                h('td.num', {}, formatNumber(x.complete_m)),
                h('td.num', { class: x.missed_m > 0.5 ? 'num warn' : 'num' }, formatNumber(x.missed_m)),
                h('td.num', {}, formatNumber(x.justified_m)),
              ),
            ),
          ),
        ),
      ),
    );
  }
  // Kinds in the queue's order: most severe first.
  const sev = (k) => SEVERITY[k.kind] ?? 3;
  const byKind = [...(r.alerts?.by_kind || [])].sort((a, b) => sev(a) - sev(b) || tv('alertkind', a.kind).localeCompare(tv('alertkind', b.kind)));
  const kpis = [...byKind, ...(r.alerts?.total ? [r.alerts.total] : [])];
  parts.push(h('h3', {}, t('report.alerts')));
  if (!kpis.length) parts.push(h('p.empty', {}, t('report.noalerts')));
  else
    parts.push(
      h(
        'table.data',
        { testid: 'report-alerts' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['report.kind', 'report.opened', 'report.acknowledged', 'report.resolved', 'report.median_ack', 'report.median_resolve', 'report.rectification'].map((k) => h('th', {}, t(k))),
          ),
        ),
        h(
          'tbody',
          {},
          kpis.map((k) =>
            h(
              `tr${k.kind ? '' : '.total'}`,
              { testid: 'report-alert-row', dataset: { kind: k.kind || '' } },
              h('td', {}, k.kind ? tv('alertkind', k.kind) : t('report.total')),
              h('td.num', {}, formatNumber(k.opened)),
              h('td.num', {}, formatNumber(k.acknowledged)),
              h('td.num', {}, formatNumber(k.resolved)),
              h('td.num', {}, formatDuration(k.median_ack_s)),
              h('td.num', {}, formatDuration(k.median_resolve_s)),
              h('td.num', {}, formatPct(k.rectification_rate)),
            ),
          ),
        ),
      ),
    );
  out.replaceChildren(...parts);
}

async function downloadCsv() {
  if (!dateIn.value) return;
  try {
    const resp = await api(`/api/v1/reports/shift?${query()}`, { accept: 'text/csv', raw: true });
    const blob = await resp.blob();
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: `sweepwatch-shift-report-${dateIn.value}${shiftSel.value ? `-${shiftSel.value}` : ''}.csv` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) {
    if (e.status !== 401) toast(t('error.generic', { error: e.message }), 'error');
  }
}
