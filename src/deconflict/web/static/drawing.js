// Drawing on the map, written on Leaflet's own click events (no plugin): each click adds a
// vertex; Enter or Finish ends the shape, Backspace removes the last vertex, Escape stops.
// The vertices are also editable as text, so the form works from the keyboard alone.

/* global L */

export class Drawer {
  /** `onChange(points)` gets [[lon, lat], ...] whenever the shape changes. */
  constructor(map, onChange) {
    this.map = map;
    this.onChange = onChange;
    this.points = [];
    this.mode = "point"; // point | polygon | line
    this.active = false;
    this.layer = L.featureGroup().addTo(map);
    this.onClick = (event) => this.add([event.latlng.lng, event.latlng.lat]);
    this.onKey = (event) => {
      if (!this.active) return;
      if (event.key === "Enter") { event.preventDefault(); this.finish(); }
      if (event.key === "Escape") { event.preventDefault(); this.finish(); }
      if (event.key === "Backspace") { event.preventDefault(); this.undo(); }
    };
    map.getContainer().addEventListener("keydown", this.onKey);
  }

  setMode(mode) {
    this.mode = mode;
    if (mode === "point" && this.points.length > 1) this.points = this.points.slice(-1);
    this.render();
  }

  start() {
    if (this.active) return;
    this.active = true;
    // A double click would zoom the map when it is meant to place two vertices.
    this.map.doubleClickZoom.disable();
    this.map.on("click", this.onClick);
    this.map.getContainer().classList.add("drawing");
  }

  finish() {
    if (!this.active) return;
    this.active = false;
    this.map.off("click", this.onClick);
    this.map.doubleClickZoom.enable();
    this.map.getContainer().classList.remove("drawing");
    this.render();
  }

  add(point) {
    const rounded = point.map((v) => Math.round(v * 1e6) / 1e6);
    if (this.mode === "point") {
      this.points = [rounded];
      this.finish();
    } else {
      this.points.push(rounded);
    }
    this.changed();
  }

  undo() {
    this.points.pop();
    this.changed();
  }

  clear() {
    this.points = [];
    this.changed();
  }

  /** Replaces the vertices (from the text field). */
  set(points) {
    this.points = points;
    this.render();
  }

  changed() {
    this.render();
    this.onChange(this.points);
  }

  render() {
    this.layer.clearLayers();
    const latlngs = this.points.map(([lon, lat]) => [lat, lon]);
    const style = { color: "#111", weight: 3, dashArray: "6 4", fillOpacity: 0.1, className: "drawn" };
    if (this.mode === "polygon" && latlngs.length >= 3) this.layer.addLayer(L.polygon(latlngs, style));
    else if (latlngs.length >= 2) this.layer.addLayer(L.polyline(latlngs, style));
    latlngs.forEach((ll, i) => this.layer.addLayer(L.circleMarker(ll, {
      radius: 5, color: "#111", weight: 2, fillColor: i === 0 ? "#ffbf47" : "#fff", fillOpacity: 1,
      className: "drawn-vertex", interactive: false,
    })));
  }

  /** The GeoJSON geometry of what was drawn, or null when it is not complete yet. */
  geometry() {
    const pts = this.points;
    if (this.mode === "point") return pts.length ? { type: "Point", coordinates: pts[0] } : null;
    if (this.mode === "line") return pts.length >= 2 ? { type: "LineString", coordinates: pts } : null;
    if (pts.length < 3) return null;
    return { type: "Polygon", coordinates: [[...pts, pts[0]]] };
  }
}

/** "lon, lat" lines to points; throws naming the line that is not a pair of numbers. */
export function parsePoints(text) {
  const points = [];
  text.split("\n").forEach((line, index) => {
    if (!line.trim()) return;
    const parts = line.split(/[,\s]+/).filter(Boolean).map(Number);
    if (parts.length !== 2 || parts.some((v) => !Number.isFinite(v))) {
      throw new Error(`line ${index + 1}: write a longitude and a latitude, e.g. 40.75, 36.50`);
    }
    points.push(parts);
  });
  return points;
}

export function formatPoints(points) {
  return points.map(([lon, lat]) => `${lon.toFixed(5)}, ${lat.toFixed(5)}`).join("\n");
}
