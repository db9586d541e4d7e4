// Small DOM helpers shared by the views: element building, toasts, formats.

import { t, locale } from './i18n.js';

/** h('div.a.b', {attrs}, children…) */
export function h(tag, attrs = {}, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'html') el.innerHTML = v;
    else if (k === 'testid') el.dataset.testid = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let toastBox;
export function toast(message, kind = 'info', ms = 5000) {
  if (!toastBox) {
    toastBox = h('div.toasts', { role: 'status', 'aria-live': 'polite', testid: 'toasts' });
    document.body.append(toastBox);
  }
  const el = h(`div.toast.${kind}`, { testid: `toast-${kind}` }, message);
  toastBox.append(el);
  setTimeout(() => el.remove(), ms);
}

export function formatAge(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return t('age.s', { n: s });
  const m = Math.floor(s / 60);
  if (m < 60) return t('age.m', { n: m });
  const hh = Math.floor(m / 60);
  if (hh < 48) return t('age.h', { h: hh, m: m % 60 });
  return t('age.d', { n: Math.floor(hh / 24) });
}

export function formatTime(ts, withDate = true) {
  if (ts == null || Number.isNaN(ts)) return '—';
  const d = new Date(ts);
  return d.toLocaleString(locale(), {
    year: withDate ? 'numeric' : undefined,
    month: withDate ? '2-digit' : undefined,
    day: withDate ? '2-digit' : undefined,
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  });
}

/** A calendar date (YYYY-MM-DD, e.g. a shift instance's local date) with its weekday, in the page's language. */
export function formatDate(ymd) {
  if (!ymd) return '';
  const [y, m, d] = String(ymd).split('-').map(Number);
  if (!y || !m || !d) return String(ymd);
  // Noon UTC, formatted in UTC: the same calendar date whatever the browser's zone.
  return new Date(Date.UTC(y, m - 1, d, 12)).toLocaleDateString(locale(), {
    timeZone: 'UTC',
    weekday: 'short',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  });
}

export function formatNumber(n, digits = 0) {
  if (n == null || Number.isNaN(n)) return '—';
  return Number(n).toLocaleString(locale(), { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function formatPct(fraction, digits = 1) {
  if (fraction == null) return '—';
  return t('unit.pct', { n: formatNumber(fraction * 100, digits) });
}

export function formatDuration(seconds) {
  if (seconds == null) return '—';
  return formatAge(seconds * 1000);
}

/** A local date as YYYY-MM-DD. */
export function isoDate(d = new Date()) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/** Fills a <select> with options [{value, label}] keeping the selection. */
export function fillSelect(sel, options, allLabel) {
  const cur = sel.value;
  sel.replaceChildren();
  if (allLabel != null) sel.append(h('option', { value: '' }, allLabel));
  for (const o of options) sel.append(h('option', { value: o.value }, o.label));
  if ([...sel.options].some((o) => o.value === cur)) sel.value = cur;
}
