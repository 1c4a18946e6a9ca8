// Small geometry and time helpers. Positions along a route are interpolated linearly in
// time between vertices, as DESIGN §3 says; between two vertices the console moves along
// the straight lon/lat segment, which at map scale is indistinguishable from the geodesic
// the service uses for its checks.

const EARTH_RADIUS_M = 6371008.8;

/** Great-circle distance in metres between [lon, lat] pairs (for timing a drawn route). */
export function distanceM([lon1, lat1], [lon2, lat2]) {
  const rad = Math.PI / 180;
  const dLat = (lat2 - lat1) * rad;
  const dLon = (lon2 - lon1) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

export const ms = (iso) => (iso ? Date.parse(iso) : NaN);

/** The time window [from, to] in epoch ms during which a declaration may be active. */
export function activeWindow(properties) {
  const p = properties;
  if (Array.isArray(p.times) && p.times.length) {
    const slack = (p.schedule_tolerance_s ?? 900) * 1000;
    return [ms(p.times[0]) - slack, ms(p.times[p.times.length - 1]) + slack];
  }
  return [ms(p.start), p.end ? ms(p.end) : Infinity];
}

export function isActiveAt(properties, t) {
  const [from, to] = activeWindow(properties);
  return t >= from && t <= to;
}

/** Where a movement is (scheduled) at epoch ms `t`, as [lon, lat], or null off schedule. */
export function positionAt(feature, t) {
  const times = feature.properties.times;
  const coords = feature.geometry.type === "LineString" ? feature.geometry.coordinates : null;
  if (!coords || !Array.isArray(times) || times.length !== coords.length) return null;
  const stamps = times.map(ms);
  if (t < stamps[0] || t > stamps[stamps.length - 1]) return null;
  for (let i = 1; i < stamps.length; i += 1) {
    if (t <= stamps[i]) {
      const span = stamps[i] - stamps[i - 1];
      const f = span > 0 ? (t - stamps[i - 1]) / span : 1;
      const [a, b] = [coords[i - 1], coords[i]];
      return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f];
    }
  }
  return coords[coords.length - 1];
}

/** Every [lon, lat] vertex of a GeoJSON geometry, flattened. */
export function vertices(geometry) {
  const out = [];
  const walk = (value) => {
    if (typeof value[0] === "number") out.push(value);
    else value.forEach(walk);
  };
  walk(geometry.coordinates);
  return out;
}

/** Edges of a geometry as pairs of [lon, lat]; a point is a zero-length edge. */
function edges(geometry) {
  const g = geometry;
  const rings = g.type === "Point" ? [[g.coordinates, g.coordinates]]
    : g.type === "LineString" ? [g.coordinates]
      : g.type === "Polygon" ? g.coordinates
        : g.type === "MultiPolygon" ? g.coordinates.flat()
          : [vertices(g)];
  const out = [];
  for (const ring of rings) {
    for (let i = 1; i < ring.length; i += 1) out.push([ring[i - 1], ring[i]]);
  }
  return out;
}

/**
 * The point of `geometry` nearest to `point` ([lon, lat]), in a plane scaled by cos(lat):
 * enough to draw the link from an advisory to each of its declarations.
 */
export function nearestPoint(geometry, point) {
  const k = Math.cos((point[1] * Math.PI) / 180);
  let best = null;
  let bestD = Infinity;
  for (const [a, b] of edges(geometry)) {
    const ax = (a[0] - point[0]) * k; const ay = a[1] - point[1];
    const bx = (b[0] - point[0]) * k; const by = b[1] - point[1];
    const dx = bx - ax; const dy = by - ay;
    const len = dx * dx + dy * dy;
    const f = len > 0 ? Math.max(0, Math.min(1, -(ax * dx + ay * dy) / len)) : 0;
    const x = ax + f * dx; const y = ay + f * dy;
    const d = x * x + y * y;
    if (d < bestD) {
      bestD = d;
      best = [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f];
    }
  }
  return best || point;
}

/** "2020-01-20 08:15 UTC" */
export function formatUtc(value) {
  const t = typeof value === "number" ? value : ms(value);
  if (!Number.isFinite(t)) return "—";
  return `${new Date(t).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** "08:15" (UTC) */
export function formatClock(value) {
  const t = typeof value === "number" ? value : ms(value);
  return Number.isFinite(t) ? new Date(t).toISOString().slice(11, 16) : "—";
}

/** Epoch ms to the value of an <input type="datetime-local"> read as UTC. */
export function toInputUtc(t) {
  return new Date(t).toISOString().slice(0, 16);
}

/** An <input type="datetime-local"> value, read as UTC, to an RFC 3339 string (or null). */
export function fromInputUtc(value) {
  if (!value) return null;
  const t = Date.parse(`${value.length === 16 ? `${value}:00` : value}Z`);
  return Number.isFinite(t) ? new Date(t).toISOString().replace(".000Z", "Z") : null;
}

/** "12 m 05 s", "1 h 04 m", for deadlines counting down. */
export function formatDuration(msLeft) {
  const s = Math.round(Math.abs(msLeft) / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h >= 24) return `${Math.floor(h / 24)} d ${h % 24} h`;
  if (h > 0) return `${h} h ${String(m).padStart(2, "0")} m`;
  return `${m} m ${String(sec).padStart(2, "0")} s`;
}

export function formatMetres(m) {
  if (m === null || m === undefined) return "—";
  return m >= 10000 ? `${(m / 1000).toFixed(1)} km` : `${Math.round(m).toLocaleString("en")} m`;
}
