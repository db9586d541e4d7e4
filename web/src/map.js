// The live map: areas drawn by kind, devices as circle markers on one shared
// canvas renderer, decluttered on a screen grid below DECLUTTER_BELOW_ZOOM
// (several devices in one cell become one numbered group; SOS devices are
// never grouped), a scale bar, and an optional raster base map.

import L from 'leaflet';
import 'leaflet/dist/leaflet.css';
import { app, emit, on, matchesFilters, deviceName, isRouteAlert } from './state.js';
import { t, tv } from './i18n.js';

export const STATE_COLORS = {
  sos: '#ef4444',
  off_area: '#c084fc',
  idle: '#f59e0b',
  offline: '#6b7280',
  working: '#22c55e',
  moving: '#38bdf8',
  stopped: '#e2e8f0',
};
/** Which state a group shows: the most urgent of its devices. */
const STATE_RANK = ['sos', 'off_area', 'idle', 'offline', 'working', 'moving', 'stopped'];

export const AREA_STYLES = {
  route: { color: '#94a3b8', opacity: 0.45, lineCap: 'round', lineJoin: 'round' },
  beat: { color: '#818cf8', weight: 1.5, dashArray: '6 4', fillColor: '#818cf8', fillOpacity: 0.06 },
  zone: { color: '#818cf8', weight: 1, fillOpacity: 0.05 },
  district: { color: '#e2e8f0', weight: 2, fillOpacity: 0.02 },
  grid: { color: '#a5b4fc', weight: 1, dashArray: '2 4', fillOpacity: 0.03 },
  park: { color: '#4ade80', weight: 1, fillColor: '#22c55e', fillOpacity: 0.22 },
  transfer_station: { color: '#fb923c', weight: 1.5, fillColor: '#c2410c', fillOpacity: 0.45 },
  rest_zone: { color: '#2dd4bf', weight: 1.5, fillColor: '#14b8a6', fillOpacity: 0.35 },
};

/** A route with an unresolved `coverage_at_risk`: over its corridor, dashed. */
export const RISK_STYLE = { color: '#f97316', opacity: 0.9, dashArray: '12 8', lineCap: 'butt' };
/** The route of the alert being shown ("Show on map" of a route alert). */
const RISK_SHOWN_STYLE = { color: '#facc15', opacity: 0.8, dashArray: null, lineCap: 'butt' };

/** Below this zoom, devices closer than CELL_PX on screen are grouped. */
const DECLUTTER_BELOW_ZOOM = 17;
const CELL_PX = 48;
/** Redraws at most this often while positions stream in. */
const RENDER_EVERY_MS = 250;

let map;
let deviceRenderer;
let areaLayer;
let routeLines = [];
const markers = new Map(); // device id -> L.circleMarker
const groups = new Map(); // cell key -> L.marker (divIcon)
let groupLayer;
let deviceLayer;
let renderTimer = null;
let lastRender = 0;
let selectedId = null;
let riskLayer;
const riskLines = new Map(); // `${org}/${route}` -> L.GeoJSON of an at-risk route
let shownRoute = null; // `${org}/${route}` highlighted by "Show on map"
let shownLine = null;
let blinkOn = true;
let shown = 0;

export function getMap() {
  return map;
}

export function createMap(el) {
  map = L.map(el, {
    zoomControl: true,
    attributionControl: true,
    minZoom: 3,
    maxZoom: 20,
    worldCopyJump: false,
  }).setView([22.82, 113.67], 13);
  map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
  // Groups under the single markers, so an SOS is never hidden by a group.
  for (const [name, z] of [['areas', 350], ['risk', 400], ['coverage', 420], ['groups', 440], ['devices', 450], ['track', 460]]) {
    map.createPane(name).style.zIndex = String(z);
  }
  map.getPane('areas').classList.add('pane-areas');
  deviceRenderer = L.canvas({ pane: 'devices', padding: 0.2, tolerance: 4 });
  riskLayer = L.layerGroup().addTo(map);
  deviceLayer = L.layerGroup().addTo(map);
  groupLayer = L.layerGroup().addTo(map);
  L.control.scale({ imperial: false, maxWidth: 160 }).addTo(map);
  if (app.config.tile_url) {
    L.tileLayer(app.config.tile_url, {
      attribution: app.config.tile_attribution || '',
      maxZoom: 20,
      maxNativeZoom: 19,
      crossOrigin: true,
    }).addTo(map);
    el.classList.add('with-tiles');
  }
  map.on('zoomend', () => {
    styleRoutes();
    scheduleRender(true);
  });
  map.on('moveend', () => scheduleRender(true));
  // SOS markers blink: the canvas cannot run a CSS animation.
  setInterval(() => {
    blinkOn = !blinkOn;
    for (const d of app.devices.values()) {
      if (d.state === 'sos') markers.get(d.id)?.setStyle(markerStyle(d));
      // (render() restyles on a change of state or selection only)
    }
  }, 600);
  on('alerts-changed', drawRoutesAtRisk);
  exposeTestHooks();
  return map;
}

function metersPerPixel(lat) {
  return (40075016.686 * Math.cos((lat * Math.PI) / 180)) / 2 ** (map.getZoom() + 8);
}

function corridorPx(widthM, mpp) {
  return Math.max(3, Math.min((2 * (widthM || 8)) / mpp, 80));
}

/** Routes drawn as corridors: twice the half-width in metres, at least 3 px. */
function styleRoutes() {
  const mpp = metersPerPixel(map.getCenter().lat);
  for (const line of routeLines) {
    line.setStyle({ weight: corridorPx(line.feature.properties.width_m, mpp) });
  }
  // An at-risk route stands out beside its corridor; the one being shown more so.
  for (const [key, g] of riskLines) {
    const w = corridorPx(app.areaById.get(key)?.feature?.properties?.width_m, mpp);
    g.setStyle(key === shownRoute ? { ...RISK_SHOWN_STYLE, weight: w + 8 } : { ...RISK_STYLE, weight: w + 4 });
  }
  if (shownLine) shownLine.setStyle({ ...RISK_SHOWN_STYLE, weight: corridorPx(app.areaById.get(shownRoute)?.feature?.properties?.width_m, mpp) + 8 });
}

/** The routes of unresolved `coverage_at_risk` alerts, drawn over their corridors. */
export function drawRoutesAtRisk() {
  if (!map) return;
  const want = new Map();
  for (const a of app.alerts.values()) {
    if (!isRouteAlert(a) || !a.area_id) continue;
    const key = `${a.org}/${a.area_id}`;
    if (app.areaById.get(key)?.feature?.geometry) want.set(key, a.id);
  }
  for (const [key, g] of riskLines) {
    if (!want.has(key)) {
      riskLayer.removeLayer(g);
      riskLines.delete(key);
    }
  }
  for (const [key, alertId] of want) {
    if (riskLines.has(key)) continue;
    const area = app.areaById.get(key);
    const g = L.geoJSON(area.feature, { pane: 'risk', style: RISK_STYLE });
    g.bindTooltip(() => `<strong>${esc(t('alertkind.coverage_at_risk'))}</strong><br>${esc(area.name || area.id)}`, { sticky: true });
    g.on('click', () => {
      const a = app.alerts.get(alertId);
      if (a) emit('show-alert', a);
    });
    riskLines.set(key, g);
    riskLayer.addLayer(g);
  }
  syncShownLine();
  styleRoutes();
}

/** The shown route's own highlight, when it is not drawn as at risk already. */
function syncShownLine() {
  const needed = shownRoute && !riskLines.has(shownRoute);
  if (!needed) {
    shownLine?.remove();
    shownLine = null;
    return;
  }
  if (!shownLine) {
    const area = app.areaById.get(shownRoute);
    if (!area?.feature?.geometry) return;
    shownLine = L.geoJSON(area.feature, { pane: 'risk', style: RISK_SHOWN_STYLE, interactive: false }).addTo(map);
  }
}

/** The at-risk routes belong to the live map; the coverage view draws its own. */
export function showRiskLayer(visible) {
  map?.getPane('risk')?.classList.toggle('pane-hidden', !visible);
}

/**
 * Shows a route (a route alert has no device marker): fits the map to it and
 * draws it highlighted until a device or another route is shown.
 */
export function showRoute(org, id) {
  const key = `${org}/${id}`;
  const area = app.areaById.get(key);
  if (!area?.feature?.geometry) return false;
  selectDevice(null, { pan: false });
  if (shownRoute !== key) {
    shownLine?.remove();
    shownLine = null;
  }
  shownRoute = key;
  syncShownLine();
  styleRoutes();
  const b = L.geoJSON(area.feature).getBounds();
  if (b.isValid()) map.fitBounds(b, { padding: [60, 60], maxZoom: 18 });
  return true;
}

function clearShownRoute() {
  if (!shownRoute) return;
  shownRoute = null;
  syncShownLine();
  styleRoutes();
}

function areaTooltip(a) {
  const p = [`<strong>${esc(a.name)}</strong>`, esc(tv('area', a.kind))];
  if (a.district) p.push(`${esc(t('area.district'))}: ${esc(a.district)}${a.grid ? ` · ${esc(a.grid)}` : ''}`);
  if (a.chief) p.push(`${esc(t('alerts.chief'))}: ${esc(a.chief)}`);
  return p.join('<br>');
}

export function drawAreas() {
  areaLayer?.remove();
  routeLines = [];
  const areaRenderer = L.canvas({ pane: 'areas', padding: 0.3 });
  // Polygons first, routes on top of them.
  const sorted = [...app.areas].sort((a, b) => (a.kind === 'route') - (b.kind === 'route'));
  areaLayer = L.geoJSON(
    sorted.map((a) => ({ ...a.feature, properties: { ...a.feature.properties, _area: a } })),
    {
      pane: 'areas',
      renderer: areaRenderer,
      style: (f) => ({ ...(AREA_STYLES[f.properties._area.kind] || AREA_STYLES.zone), interactive: true }),
      onEachFeature: (f, layer) => {
        const a = f.properties._area;
        if (a.kind === 'route' || f.geometry?.type === 'LineString') routeLines.push(layer);
        layer.bindTooltip(() => areaTooltip(a), { sticky: true, className: 'area-tip' });
      },
    },
  ).addTo(map);
  styleRoutes();
  drawRoutesAtRisk(); // their geometry comes with the areas
}

export function fitAll() {
  const pts = [];
  if (areaLayer && areaLayer.getLayers().length) {
    const b = areaLayer.getBounds();
    if (b.isValid()) pts.push(b.getSouthWest(), b.getNorthEast());
  }
  for (const d of app.devices.values()) if (d.lat != null) pts.push(L.latLng(d.lat, d.lon));
  if (pts.length) map.fitBounds(L.latLngBounds(pts), { padding: [24, 24], maxZoom: 17 });
}

function markerStyle(d) {
  const color = STATE_COLORS[d.state] || STATE_COLORS.stopped;
  const sel = d.id === selectedId;
  if (d.state === 'sos') {
    return {
      radius: blinkOn ? 9 : 6,
      color: blinkOn ? '#fff' : '#ef4444',
      weight: 2.5,
      fillColor: color,
      fillOpacity: blinkOn ? 1 : 0.6,
    };
  }
  return {
    radius: sel ? 9 : d.state === 'offline' ? 5 : 6,
    color: sel ? '#facc15' : '#0b1220',
    weight: sel ? 3 : 1.5,
    fillColor: color,
    fillOpacity: d.state === 'offline' ? 0.55 : 0.95,
  };
}

function tooltipFor(d) {
  return `<strong>${esc(deviceName(d))}</strong><br>${esc(tv('kind', d.kind))} · ${esc(tv('state', d.state))}`;
}

function ensureMarker(d) {
  let m = markers.get(d.id);
  if (!m) {
    m = L.circleMarker([d.lat, d.lon], { renderer: deviceRenderer, ...markerStyle(d) });
    m.bindTooltip(() => tooltipFor(d), { direction: 'top', offset: [0, -6] });
    m.on('click', () => emit('select-device', d.id));
    markers.set(d.id, m);
  }
  return m;
}

export function scheduleRender(now = false) {
  if (!map) return;
  if (renderTimer) {
    if (!now) return;
    clearTimeout(renderTimer);
  }
  const wait = now ? 0 : Math.max(0, RENDER_EVERY_MS - (Date.now() - lastRender));
  renderTimer = setTimeout(() => {
    renderTimer = null;
    lastRender = Date.now();
    renderDevices();
  }, wait);
}

/** Places every filtered device: a marker of its own, or in a group. */
function renderDevices() {
  const zoom = map.getZoom();
  const declutter = zoom < DECLUTTER_BELOW_ZOOM;
  const view = map.getPixelBounds().pad(0.25);
  const cells = new Map();
  const single = new Set();
  shown = 0;
  for (const d of app.devices.values()) {
    if (d.lat == null || !matchesFilters(d)) continue;
    shown++;
    if (!declutter || d.state === 'sos' || d.id === selectedId) {
      single.add(d.id);
      continue;
    }
    const p = map.project([d.lat, d.lon], zoom);
    if (!view.contains(p)) {
      single.add(d.id); // off screen: costs nothing on the canvas
      continue;
    }
    const key = `${Math.floor(p.x / CELL_PX)}:${Math.floor(p.y / CELL_PX)}`;
    if (!cells.has(key)) cells.set(key, []);
    cells.get(key).push(d);
  }
  const grouped = new Map();
  for (const [key, list] of cells) {
    if (list.length === 1) single.add(list[0].id);
    else grouped.set(key, list);
  }
  // Markers
  for (const [id, m] of markers) {
    if (!single.has(id) && deviceLayer.hasLayer(m)) deviceLayer.removeLayer(m);
  }
  for (const id of single) {
    const d = app.devices.get(id);
    const m = ensureMarker(d);
    const ll = m.getLatLng();
    if (ll.lat !== d.lat || ll.lng !== d.lon) m.setLatLng([d.lat, d.lon]);
    // Restyle only what changed: each setStyle asks the canvas for a redraw.
    const look = `${d.state}:${d.id === selectedId}`;
    if (m._look !== look) {
      m._look = look;
      m.setStyle(markerStyle(d));
    }
    if (!deviceLayer.hasLayer(m)) deviceLayer.addLayer(m);
    if (d.state === 'sos' || d.id === selectedId) m.bringToFront();
  }
  // Groups
  for (const [key, g] of groups) {
    if (!grouped.has(key)) {
      groupLayer.removeLayer(g);
      groups.delete(key);
    }
  }
  for (const [key, list] of grouped) {
    let lat = 0;
    let lon = 0;
    let worst = STATE_RANK.length - 1;
    for (const d of list) {
      lat += d.lat;
      lon += d.lon;
      worst = Math.min(worst, STATE_RANK.indexOf(d.state));
    }
    const state = STATE_RANK[worst] || 'stopped';
    const sig = `${list.length}:${state}`;
    let g = groups.get(key);
    const center = [lat / list.length, lon / list.length];
    if (!g) {
      // Created with its icon: Leaflet's default icon would be fetched otherwise.
      g = L.marker(center, { keyboard: false, pane: 'groups', icon: groupIcon(list.length, state) });
      g._sig = sig;
      g.on('click', () => {
        const b = L.latLngBounds(g._members.map((d) => [d.lat, d.lon]));
        if (b.getNorthEast().equals(b.getSouthWest())) map.setView(b.getCenter(), Math.min(map.getZoom() + 3, 20));
        else map.fitBounds(b, { padding: [40, 40], maxZoom: 20 });
      });
      groups.set(key, g);
      groupLayer.addLayer(g);
    } else {
      const ll = g.getLatLng();
      if (ll.lat !== center[0] || ll.lng !== center[1]) g.setLatLng(center);
    }
    g._members = list;
    if (g._sig !== sig) {
      g._sig = sig;
      g.setIcon(groupIcon(list.length, state));
    }
  }
  emit('map-rendered', { shown, total: app.devices.size });
}

function groupIcon(n, state) {
  const size = n < 10 ? 28 : n < 100 ? 34 : 42;
  return L.divIcon({ className: `device-group state-${state}`, html: `<span>${n}</span>`, iconSize: [size, size] });
}

export function selectDevice(id, { pan = true } = {}) {
  if (id != null) clearShownRoute();
  const prev = selectedId;
  selectedId = id;
  for (const x of [prev, id]) {
    const d = x != null && app.devices.get(x);
    if (d) markers.get(d.id)?.setStyle(markerStyle(d));
  }
  const d = id != null && app.devices.get(id);
  if (d && d.lat != null && pan) {
    map.setView([d.lat, d.lon], Math.max(map.getZoom(), DECLUTTER_BELOW_ZOOM), { animate: true });
  }
  scheduleRender(true);
}

export function flyTo(lat, lon, zoom = DECLUTTER_BELOW_ZOOM) {
  map.setView([lat, lon], Math.max(map.getZoom(), zoom));
}

export function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

/**
 * Read-only hooks for the end-to-end tests and for operators' debugging in the
 * console: what the canvas shows cannot be read from the DOM.
 */
function exposeTestHooks() {
  window.__sweepwatch = {
    markerOf(name) {
      const d = [...app.devices.values()].find((x) => x.name === name);
      if (!d) return null;
      const m = markers.get(d.id);
      const ll = m?.getLatLng();
      return {
        id: d.id,
        state: d.state,
        lat: ll ? ll.lat : d.lat,
        lon: ll ? ll.lng : d.lon,
        drawn: !!(m && deviceLayer.hasLayer(m)),
        grouped: [...groups.values()].some((g) => g._members.includes(d)),
      };
    },
    counts() {
      let grouped = 0;
      for (const g of groups.values()) grouped += g._members.length;
      let drawn = 0;
      for (const m of markers.values()) if (deviceLayer.hasLayer(m)) drawn++;
      return { devices: app.devices.size, shown, drawn, grouped, groups: groups.size, areas: app.areas.length };
    },
    /** Route ids (`org/id`) drawn as at risk, and the one shown by "Show on map". */
    routesAtRisk: () => [...riskLines.keys()],
    shownRoute: () => shownRoute,
    zoom: () => map.getZoom(),
    fit: () => fitAll(),
    setZoom: (z) => map.setZoom(z, { animate: false }),
  };
}
