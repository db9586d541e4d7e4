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

// A device's display state (STATES) is the server's: /positions and the live
// stream's `position` and `state` events send it, judged by the device's own
// thresholds at its org's clock (geofence's display_state). The page derives
// none of it.

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
    speed: p.speed,
    heading: p.heading,
    work: p.work,
    batt: p.batt,
    state: p.state,
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
    speed: p.speed,
    heading: p.heading,
    work: p.work,
    batt: p.batt,
  });
  if (p.state) d.state = p.state;
  return d;
}

/** Applies a `state` event of the live stream; returns the device when its state changed. */
export function applyState(v) {
  const d = app.devices.get(v.device_id);
  if (!d || d.state === v.state) return null;
  d.state = v.state;
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
