// A small test town, the same as tests/e2e/helpers/town.rs: a 1 km sweep
// route, a wash route, a cleaner's beat with a service station; day and night
// shifts; a sweeper, a washer and two street cleaners. Positions in metres
// east/north of an origin in Humen.

export const LON0 = 113.67;
export const LAT0 = 22.82;
const M_PER_DEG_LAT = 110574;
const M_PER_DEG_LON = 111320 * Math.cos((LAT0 * Math.PI) / 180);

/** [lon, lat] of a point x metres east and y metres north of the origin. */
export function pt(x, y) {
  return [LON0 + x / M_PER_DEG_LON, LAT0 + y / M_PER_DEG_LAT];
}

const line = (a, b) => ({ type: 'LineString', coordinates: [pt(...a), pt(...b)] });
const rect = (x0, y0, x1, y1) => ({
  type: 'Polygon',
  coordinates: [[pt(x0, y0), pt(x1, y0), pt(x1, y1), pt(x0, y1), pt(x0, y0)]],
});
const props = (kind, extra) => ({ kind, district: 'D1', grid: 'G1', chief: 'Chen Wei', ...extra });
const everyDay = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

export function scenario() {
  return {
    format: 'sweepwatch-scenario/1',
    org: { id: 'humen', name: 'Humen (web test)', timezone: 'Asia/Shanghai' },
    areas: {
      type: 'FeatureCollection',
      features: [
        { type: 'Feature', id: 'route-a', properties: props('route', { width_m: 8, name: 'Route A' }), geometry: line([0, 0], [1000, 0]) },
        { type: 'Feature', id: 'wash-n', properties: props('route', { width_m: 8, name: 'Wash N' }), geometry: line([0, 300], [1000, 300]) },
        { type: 'Feature', id: 'beat-1', properties: props('beat', { name: 'Beat 1' }), geometry: rect(-100, 500, 600, 900) },
        { type: 'Feature', id: 'station-1', properties: props('rest_zone', { name: 'Service station 1' }), geometry: rect(500, 700, 540, 740) },
      ],
    },
    shifts: [
      { id: 'day', name: 'Day sweep', weekly: [{ days: everyDay, start: '06:00:00', end: '18:00:00' }] },
      { id: 'night', name: 'Night wash', weekly: [{ days: everyDay, start: '22:00:00', end: '05:00:00' }] },
    ],
    devices: [
      { id: 'sw-1', kind: 'sweeper', label: 'Sweeper 1' },
      { id: 'wa-1', kind: 'washer', label: 'Washer 1' },
      { id: 'wk-1', kind: 'worker', label: 'Cleaner Li' },
      { id: 'wk-2', kind: 'worker', label: 'Cleaner Wang' },
    ],
    assignments: [
      { device: 'sw-1', area: 'route-a', shift: 'day' },
      { device: 'wa-1', area: 'wash-n', shift: 'night' },
      { device: 'wk-1', area: 'beat-1', shift: 'day' },
      { device: 'wk-2', area: 'beat-1', shift: 'day' },
    ],
  };
}

/** A local date (Asia/Shanghai, UTC+8, no daylight saving) three days back, as YYYY-MM-DD. */
export function testDate() {
  const shanghai = new Date(Date.now() - 3 * 86400e3 + 8 * 3600e3);
  return shanghai.toISOString().slice(0, 10);
}

/** Epoch ms of hh:mm:ss local time on `date`. */
export function local(date, h, m = 0, s = 0) {
  const [y, mo, d] = date.split('-').map(Number);
  return Date.UTC(y, mo - 1, d, h - 8, m, s);
}

/** A fix at x, y metres, per the MQTT contract. */
export function fixAt(ts, x, y, extra = {}) {
  const [lon, lat] = pt(x, y);
  return { ts: new Date(ts).toISOString(), lat, lon, acc: 4.0, ...extra };
}

/** `n + 1` fixes every `every` seconds from `start`, from a to b. */
export function walk(start, n, every, a, b, work) {
  const dist = Math.hypot(b[0] - a[0], b[1] - a[1]);
  const speed = (dist / Math.max(1, n * every)) * 3.6;
  return Array.from({ length: n + 1 }, (_, i) => {
    const f = i / n;
    return fixAt(start + i * every * 1000, a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]), { speed, work, heading: 90 });
  });
}
