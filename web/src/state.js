// What the page knows: devices with their latest positions, the alerts that
// are not resolved, the areas, the filters and the signed-in caller. Views
// subscribe to changes with `on(name, fn)`.

export const STATES = ['sos', 'off_area', 'idle', 'offline', 'working', 'moving', 'stopped'];
export const KINDS = ['sweeper', 'washer', 'collector', 'worker'];
export const AREA_KINDS = ['route', 'beat', 'park', 'transfer_station', 'rest_zone', 'district', 'grid', 'zone'];

/** Alert kinds by severity: 0 critical … 3 low. */
export const SEVERITY = {
  sos: 0,
  idle: 1, // for street cleaners a dwell is a welfare check first
  offline: 1,
  coverage_at_risk: 1, // a route, not a device: there is still time to send a second sweeper
  off_area: 2,
  work_off_route: 2, // working, but not where assigned: a different talk than leaving the area
  speeding_at_work: 2,
  late_start: 3,
  off_shift_work: 3,
};
export const SEVERITY_NAMES = ['critical', 'high', 'medium', 'low'];
/** Every alert kind, most severe first (the queue's kind filter, the report's KPIs). */
export const ALERT_KINDS = Object.keys(SEVERITY).sort((a, b) => SEVERITY[a] - SEVERITY[b]);

/** A route alert (`coverage_at_risk`): no device; `area_id` is the route, `shift_id`/`shift_date` the instance. */
export const isRouteAlert = (a) => a.device_id == null;

/** A device is offline when its latest fix is older than this (as the API). */
const OFFLINE_AFTER_MS = 10 * 60 * 1000;
/** An org's newest fix younger than this on arrival: its fixes are live. */
const LIVE_WITHIN_MS = 2 * 60 * 1000;

export const app = {
  me: null, // {name, role}
  config: { tile_url: '', tile_attribution: '' },
  devices: new Map(), // devices.id -> device
  alerts: new Map(), // alert id -> alert (open or acknowledged)
  areas: [], // AreaRow
  areaById: new Map(), // `${org}/${id}` -> AreaRow
  shifts: [], // ShiftRow
  // kind/state: of devices; alertKind: of the alert queue
  filters: { org: '', district: '', kind: '', state: '', search: '', alertKind: '' },
};

const listeners = new Map();
export function on(name, fn) {
  if (!listeners.has(name)) listeners.set(name, new Set());
  listeners.get(name).add(fn);
  return () => listeners.get(name).delete(fn);
}
export function emit(name, detail) {
  for (const fn of listeners.get(name) || []) {
    try {
      fn(detail);
    } catch (e) {
      console.error(`while handling ${name}:`, e);
    }
  }
}

export const canOperate = () => app.me && (app.me.role === 'operator' || app.me.role === 'admin');

// Each org's newest fix (for its clock) and each device's unresolved alert
// kinds, kept up to date incrementally: a position event costs O(1), not a
// pass over every device (thousands of events a second at 5,000 devices).
const orgNewest = new Map(); // org -> {ts, receivedAt}
let kindsIndex = new Map(); // device id -> Set of alert kinds
const NO_KINDS = new Set();

function noteOrgFix(d) {
  const n = orgNewest.get(d.org);
  if (!n || d.ts > n.ts) orgNewest.set(d.org, { ts: d.ts, receivedAt: d.receivedAt });
}

/** "Now" of an org: the wall clock while its fixes arrive live, else its newest fix's time. */
export function orgNow(org) {
  const n = orgNewest.get(org);
  const wall = Date.now();
  if (!n) return wall;
  return n.receivedAt - n.ts < LIVE_WITHIN_MS ? wall : Math.min(n.ts, wall);
}

export function alertKindsOf(deviceId) {
  return kindsIndex.get(deviceId) || NO_KINDS;
}

/** A device's display state, by the API's precedence, SOS above all. */
export function computeState(d, now = orgNow(d.org), kinds = alertKindsOf(d.id)) {
  if (kinds.has('sos')) return 'sos';
  if (d.ts == null) return 'offline';
  if (now - d.ts > OFFLINE_AFTER_MS) return 'offline';
  if (kinds.has('off_area')) return 'off_area';
  if (kinds.has('idle')) return 'idle';
  if (d.work === true) return 'working';
  if ((d.speed ?? 0) >= 2) return 'moving';
  return 'stopped';
}

/** Recomputes every device's state (alerts changed, or the clock moved on); returns the ids that changed. */
export function refreshStates() {
  kindsIndex = new Map();
  for (const a of app.alerts.values()) {
    if (isRouteAlert(a)) continue;
    if (!kindsIndex.has(a.device_id)) kindsIndex.set(a.device_id, new Set());
    kindsIndex.get(a.device_id).add(a.kind);
  }
  orgNewest.clear();
  for (const d of app.devices.values()) if (d.ts != null) noteOrgFix(d);
  const changed = [];
  for (const d of app.devices.values()) {
    const s = computeState(d);
    if (s !== d.state) {
      d.state = s;
      changed.push(d.id);
    }
  }
  return changed;
}

/** From a /positions Feature. */
export function deviceFromFeature(f) {
  const p = f.properties;
  const [lon, lat] = f.geometry.coordinates;
  return {
    id: p.device_id,
    org: p.org,
    name: p.device,
    label: p.label,
    kind: p.kind,
    districts: p.districts || [],
    lat,
    lon,
    ts: Date.parse(p.ts),
    // /positions does not say when it arrived: an old fix counts as replayed (its org's clock
    // is then its newest fix), a recent one as live, as the API decides.
    receivedAt: Date.now(),
    speed: p.speed,
    heading: p.heading,
    work: p.work,
    batt: p.batt,
    serverState: p.state,
    state: p.sos ? 'sos' : p.state,
  };
}

/** Applies a `position` event of the live stream; returns the device (new or moved). */
export function applyPosition(p) {
  let d = app.devices.get(p.device_id);
  if (!d) {
    d = { id: p.device_id, org: p.org, name: p.device, label: null, kind: 'unknown', districts: [], state: 'stopped' };
    app.devices.set(d.id, d);
  }
  const ts = Date.parse(p.ts);
  if (d.ts != null && ts < d.ts) return d; // a late fix does not move the marker back
  Object.assign(d, {
    lat: p.lat,
    lon: p.lon,
    ts,
    receivedAt: Date.parse(p.received_at) || Date.now(),
    speed: p.speed,
    heading: p.heading,
    work: p.work,
    batt: p.batt,
  });
  noteOrgFix(d);
  d.state = computeState(d);
  return d;
}

export function matchesFilters(d, f = app.filters) {
  if (f.org && d.org !== f.org) return false;
  if (f.district && !d.districts.includes(f.district)) return false;
  if (f.kind && d.kind !== f.kind) return false;
  if (f.state && d.state !== f.state) return false;
  if (f.search) {
    const q = f.search.toLowerCase();
    if (!d.name.toLowerCase().includes(q) && !(d.label || '').toLowerCase().includes(q)) return false;
  }
  return true;
}

export function alertMatchesFilters(a, f = app.filters) {
  if (f.org && a.org !== f.org) return false;
  if (f.district && a.district && a.district !== f.district) return false;
  if (f.alertKind && a.kind !== f.alertKind) return false;
  return true;
}

/** Queue order: SOS first, then severity, open before acknowledged, newest first. */
export function compareAlerts(a, b) {
  const sa = SEVERITY[a.kind] ?? 3;
  const sb = SEVERITY[b.kind] ?? 3;
  if (sa !== sb) return sa - sb;
  const oa = a.state === 'open' ? 0 : 1;
  const ob = b.state === 'open' ? 0 : 1;
  if (oa !== ob) return oa - ob;
  return Date.parse(b.opened_at) - Date.parse(a.opened_at) || b.id - a.id;
}

export function areaName(org, id) {
  if (!id) return '';
  return app.areaById.get(`${org}/${id}`)?.name || id;
}

export function shiftName(org, id) {
  if (!id) return '';
  return app.shifts.find((s) => s.org === org && s.id === id)?.name || id;
}

/**
 * The coverage view's parameters of a route alert: from its `coverage_url`
 * (the API's link), else from its route and shift instance.
 */
export function coverageParams(a) {
  if (a.coverage_url) {
    const q = new URLSearchParams(a.coverage_url.split('?')[1] || '');
    if (q.get('route') && q.get('shift') && q.get('date')) {
      return { org: q.get('org') || a.org, route: q.get('route'), shift: q.get('shift'), date: q.get('date') };
    }
  }
  if (!a.area_id || !a.shift_id || !a.shift_date) return null;
  return { org: a.org, route: a.area_id, shift: a.shift_id, date: a.shift_date };
}

export function deviceName(d) {
  return d.label && d.label !== d.name ? `${d.name} · ${d.label}` : d.name;
}
