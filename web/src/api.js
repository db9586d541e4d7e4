// The HTTP API client: bearer token from sessionStorage on every call,
// problem+json errors turned into ApiError, 401 → back to sign-in, 429 →
// wait for Retry-After and try again (a few times).

const TOKEN_KEY = 'sweepwatch.token';
const MAX_429_RETRIES = 3;

export class ApiError extends Error {
  constructor(status, title, detail, body) {
    super(detail || title || `HTTP ${status}`);
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.body = body;
  }
}

let onUnauthorized = () => {};
let onRateLimited = () => {};

export function setHandlers({ unauthorized, rateLimited }) {
  if (unauthorized) onUnauthorized = unauthorized;
  if (rateLimited) onRateLimited = rateLimited;
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Seconds to wait from a Retry-After header (seconds or an HTTP date). */
export function retryAfterSeconds(value) {
  if (!value) return 1;
  const n = Number(value);
  if (Number.isFinite(n)) return Math.max(1, Math.ceil(n));
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(1, Math.ceil((at - Date.now()) / 1000)) : 1;
}

async function errorFrom(resp) {
  let body = null;
  let text = '';
  try {
    text = await resp.text();
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  const params = body?.['invalid-params'];
  const detail =
    (body?.detail || body?.title || text || resp.statusText) +
    (Array.isArray(params) && params.length ? ` (${params.map((p) => `${p.name}: ${p.reason}`).join('; ')})` : '');
  return new ApiError(resp.status, body?.title, detail, body);
}

/**
 * Calls the API. `opts.token` overrides the stored token (sign-in),
 * `opts.raw` returns the Response instead of parsed JSON.
 */
export async function api(path, opts = {}) {
  const token = opts.token ?? getToken();
  const headers = { Accept: opts.accept || 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  for (let attempt = 0; ; attempt++) {
    const resp = await fetch(path, { method: opts.method || 'GET', headers, body, signal: opts.signal });
    if (resp.status === 429 && attempt < MAX_429_RETRIES) {
      const s = retryAfterSeconds(resp.headers.get('Retry-After'));
      onRateLimited(s);
      await sleep(s * 1000);
      continue;
    }
    if (resp.status === 401 && !opts.token) {
      onUnauthorized();
    }
    if (!resp.ok) throw await errorFrom(resp);
    if (opts.raw) return resp;
    if (resp.status === 204) return null;
    return resp.json();
  }
}

/** Every item of a paginated list (`{items, next_cursor}`), following cursors. */
export async function apiAll(path, opts = {}) {
  const items = [];
  let cursor = null;
  const sep = path.includes('?') ? '&' : '?';
  for (let page = 0; page < 100; page++) {
    const url = `${path}${sep}limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const r = await api(url, opts);
    items.push(...r.items);
    if (!r.next_cursor) break;
    cursor = r.next_cursor;
  }
  return items;
}
