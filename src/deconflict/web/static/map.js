// The map: declarations (own and shared, one style per party, coarsened ones dashed),
// advisories at their place of closest approach linked to both declarations, incidents,
// and movements played along their routes at the moment the time slider chooses.

/* global L */

import { h } from "./dom.js";
import {
  activeWindow, formatMetres, formatUtc, isActiveAt, nearestPoint, positionAt, vertices,
} from "./geo.js";

// Distinct, colour-blind-friendlier hues (Okabe–Ito order); the caller's own party always
// takes the first, so "mine" looks the same whoever logs in.
const PALETTE = ["#0b5cd5", "#d55e00", "#009e73", "#cc79a7", "#8c6d1f", "#56b4e9", "#e69f00", "#444"];

export class ConsoleMap {
  constructor(element, handlers) {
    this.handlers = handlers; // {openAdvisory(id), openIncident(id)}
    this.map = L.map(element, { zoomControl: true, keyboard: true, doubleClickZoom: true })
      .setView([36.6, 40.9], 8);
    L.control.scale({ imperial: false }).addTo(this.map);
    // Advisories above moving positions above declarations, so a patrol passing over an
    // advisory never hides it.
    this.map.createPane("movers").style.zIndex = 430;
    this.map.createPane("alerts").style.zIndex = 450;
    this.colors = new Map();
    this.partyNames = new Map();
    this.myParty = null;
    this.declarations = new Map(); // id -> {feature, layer}
    this.advisories = new Map(); // id -> {feature, layer}
    this.groups = {
      own: L.featureGroup().addTo(this.map),
      shared: L.featureGroup().addTo(this.map),
      movers: L.layerGroup().addTo(this.map),
      links: L.layerGroup().addTo(this.map),
      advisories: L.featureGroup().addTo(this.map),
      incidents: L.featureGroup().addTo(this.map),
      preview: L.featureGroup().addTo(this.map),
    };
    this.time = null;
    this.highlighted = [];
  }

  /** The toggles the Layers panel offers, in order. */
  toggles() {
    return [
      ["My party's declarations", this.groups.own],
      ["Declarations shared with us", this.groups.shared],
      ["Positions at the chosen moment", this.groups.movers],
      ["Advisories", this.groups.advisories],
      ["Links from advisories to declarations", this.groups.links],
      ["Incidents", this.groups.incidents],
    ];
  }

  setParties(parties, myParty) {
    this.myParty = myParty;
    this.colors.clear();
    this.colors.set(myParty, PALETTE[0]);
    const others = parties.map((p) => p.id).filter((id) => id !== myParty).sort();
    others.forEach((id, i) => this.colors.set(id, PALETTE[1 + (i % (PALETTE.length - 1))]));
    for (const p of parties) this.partyNames.set(p.id, p.name);
  }

  color(partyId) {
    if (!this.colors.has(partyId)) this.colors.set(partyId, PALETTE[this.colors.size % PALETTE.length]);
    return this.colors.get(partyId);
  }

  partyName(partyId) {
    return this.partyNames.get(partyId) || partyId;
  }

  /** Replaces the declarations drawn with `features` (GeoJSON Features from /v1/map/declarations). */
  setDeclarations(features) {
    this.groups.own.clearLayers();
    this.groups.shared.clearLayers();
    this.declarations.clear();
    for (const feature of features) {
      const p = feature.properties;
      const own = p.party_id === this.myParty;
      const coarse = Boolean(p.coarsened_to_m);
      const style = this.declarationStyle(feature);
      const layer = L.geoJSON(feature, {
        style: () => style,
        pointToLayer: (_f, latlng) => L.circleMarker(latlng, { ...style, radius: 7 }),
      });
      layer.bindPopup(() => this.declarationPopup(feature));
      layer.bindTooltip(`${this.partyName(p.party_id)}: ${p.label || p.kind}${coarse ? ` (±${formatMetres(p.coarsened_to_m)})` : ""}`, { sticky: true });
      (own ? this.groups.own : this.groups.shared).addLayer(layer);
      this.declarations.set(feature.id, { feature, layer, style });
    }
    this.applyTime();
    this.redrawLinks();
  }

  declarationStyle(feature) {
    const p = feature.properties;
    const coarse = Boolean(p.coarsened_to_m);
    const color = this.color(p.party_id);
    const kindClass = `decl decl-${p.kind} ${p.party_id === this.myParty ? "decl-own" : "decl-shared"}`;
    return {
      color,
      fillColor: color,
      weight: p.kind === "movement" && !coarse ? 4 : 2.5,
      // Coarsened geometries are drawn as such: dashed outline, faint fill, so nobody mistakes
      // the grid cell for the real position (the real one lies somewhere inside it).
      dashArray: coarse ? "7 6" : p.stale ? "2 5" : null,
      fillOpacity: coarse ? 0.06 : 0.18,
      opacity: 0.9,
      className: `${kindClass}${coarse ? " decl-coarse" : ""}`,
    };
  }

  declarationPopup(feature) {
    const p = feature.properties;
    const [from, to] = activeWindow(p);
    const rows = [
      h("h3", {}, p.label || `${p.kind} ${feature.id}`),
      h("p", {}, h("strong", {}, this.partyName(p.party_id)), ` · ${p.kind}${p.category ? ` · ${p.category}` : ""}`),
      p.times && h("p", {}, `Departs ${formatUtc(p.times[0])}, arrives ${formatUtc(p.times[p.times.length - 1])}`,
        ` (±${Math.round((p.schedule_tolerance_s ?? 900) / 60)} min)`),
      !p.times && h("p", {}, `${formatUtc(p.start ?? from)} → ${p.end ? formatUtc(p.end) : to === Infinity ? "open-ended" : formatUtc(to)}`),
      Boolean(p.coarsened_to_m) && h("p", { class: "coarse-note" },
        `Coarsened to ${formatMetres(p.coarsened_to_m)}: the true ${p.kind} lies inside this shape; its exact ${p.kind === "movement" ? "route and timing were" : "place was"} not shared with you.`),
      p.stale && h("p", {}, "Stale: its owner has not reconfirmed it."),
      p.buffer_m ? h("p", {}, `Buffer ${formatMetres(p.buffer_m)}`) : null,
      h("p", { class: "meta" }, `Version ${p.version} · ${p.status} · ${feature.id}`),
    ];
    return h("div", {}, rows);
  }

  /** Replaces the advisories drawn with `features` (from /v1/map/advisories). */
  setAdvisories(features) {
    this.groups.advisories.clearLayers();
    this.advisories.clear();
    for (const feature of features) {
      const p = feature.properties;
      const [lon, lat] = feature.geometry.coordinates;
      const acked = p.acknowledgements.some((a) => a.party_id === this.myParty);
      const state = p.status === "resolved" ? "resolved" : acked ? "acknowledged" : "open";
      const marker = L.circleMarker([lat, lon], {
        radius: 9, weight: 3, color: "#fff", fillColor: state === "open" ? "#b3261e" : state === "acknowledged" ? "#e69f00" : "#888",
        fillOpacity: 1, className: `advisory advisory-${state}`, pane: "alerts",
      });
      marker.bindTooltip(`Advisory: ${this.partyName(p.other.party_id)}, ${p.disclosure === "full" ? formatMetres(p.closest_approach.distance_m) : "undisclosed activity"}`);
      marker.bindPopup(() => this.advisoryPopup(feature));
      marker.on("click", () => this.highlight([p.own.declaration_id, p.other.declaration_id]));
      this.groups.advisories.addLayer(marker);
      // A precision circle when the place was coarsened for us.
      if (p.closest_approach.place_precision_m) {
        this.groups.advisories.addLayer(L.circle([lat, lon], {
          radius: p.closest_approach.place_precision_m, color: "#b3261e", weight: 1, dashArray: "4 4",
          fillOpacity: 0.03, interactive: false, className: "advisory-precision",
        }));
      }
      this.advisories.set(feature.id, { feature, layer: marker });
    }
    this.redrawLinks();
  }

  advisoryPopup(feature) {
    const p = feature.properties;
    const ca = p.closest_approach;
    const own = this.declarations.get(p.own.declaration_id);
    const other = p.other.declaration_id ? this.declarations.get(p.other.declaration_id) : null;
    const name = (entry, id) => (entry ? entry.feature.properties.label || entry.feature.properties.kind : id);
    return h("div", {},
      h("h3", {}, `Advisory ${p.status === "resolved" ? "(resolved)" : ""}`),
      h("p", {}, "Ours: ", h("strong", {}, name(own, p.own.declaration_id))),
      p.disclosure === "full"
        ? h("p", {}, `${this.partyName(p.other.party_id)}: `, h("strong", {}, name(other, p.other.declaration_id)))
        : h("p", {}, `An activity of ${this.partyName(p.other.party_id)} it did not share with us (place and time rounded).`),
      ca.distance_m !== null && h("p", {}, `Closest approach ${formatMetres(ca.distance_m)} (separation ${formatMetres(ca.separation_m)})`),
      h("p", {}, `We are there at ${formatUtc(ca.instant_own)}`, ca.instant_other ? `, they at ${formatUtc(ca.instant_other)}` : ""),
      ca.place_precision_m ? h("p", {}, `Place given to ±${formatMetres(ca.place_precision_m)}`) : null,
      p.window_start && h("p", {}, `Too close from ${formatUtc(p.window_start)}${p.window_end ? ` to ${formatUtc(p.window_end)}` : ""}`),
      h("p", {}, p.acknowledgements.length
        ? `Acknowledged by ${p.acknowledgements.map((a) => this.partyName(a.party_id)).join(", ")}`
        : "Not acknowledged yet"),
      h("button", { type: "button", onclick: () => this.handlers.openAdvisory(feature.id) }, "Open in the inbox"),
    );
  }

  /** Dashed lines from each advisory to the nearest point of both its declarations. */
  redrawLinks() {
    this.groups.links.clearLayers();
    for (const { feature } of this.advisories.values()) {
      const p = feature.properties;
      const place = feature.geometry.coordinates;
      for (const id of [p.own.declaration_id, p.other.declaration_id]) {
        const entry = id && this.declarations.get(id);
        if (!entry) continue;
        const [lon, lat] = nearestPoint(entry.feature.geometry, place);
        this.groups.links.addLayer(L.polyline([[place[1], place[0]], [lat, lon]], {
          color: "#b3261e", weight: 1.5, dashArray: "2 4", interactive: false, className: "advisory-link",
        }));
      }
    }
  }

  /** Incidents (IncidentSummary objects) as diamonds, with their place precision as a circle. */
  setIncidents(incidents) {
    this.groups.incidents.clearLayers();
    for (const incident of incidents) {
      const [lon, lat] = incident.place;
      const icon = L.divIcon({ className: "incident-icon", html: "!", iconSize: [22, 22], iconAnchor: [2, 22] });
      const marker = L.marker([lat, lon], { icon, title: `Incident: ${incident.type}`, keyboard: true });
      marker.bindPopup(() => h("div", {},
        h("h3", {}, `${incident.type.replaceAll("_", " ")} (${incident.status.replaceAll("_", " ")})`),
        h("p", {}, `${formatUtc(incident.occurred_at)}${incident.place_name ? ` · ${incident.place_name}` : ""}`),
        h("p", {}, incident.summary),
        h("button", { type: "button", onclick: () => this.handlers.openIncident(incident.id) }, "Open the accounts"),
      ));
      this.groups.incidents.addLayer(marker);
      if (incident.place_precision_m > 0) {
        this.groups.incidents.addLayer(L.circle([lat, lon], {
          radius: incident.place_precision_m, color: "#6a1b9a", weight: 1, dashArray: "4 4", fillOpacity: 0.04, interactive: false,
        }));
      }
    }
  }

  /** The moment (epoch ms) the time slider chose: dims what is inactive, moves movements. */
  setTime(t) {
    this.time = t;
    this.applyTime();
  }

  applyTime() {
    if (this.time === null) return;
    const t = this.time;
    this.groups.movers.clearLayers();
    for (const { feature, layer, style } of this.declarations.values()) {
      const active = isActiveAt(feature.properties, t);
      layer.setStyle(active ? style : { ...style, opacity: 0.3, fillOpacity: 0.03 });
      const at = positionAt(feature, t);
      if (at) {
        const p = feature.properties;
        this.groups.movers.addLayer(L.circleMarker([at[1], at[0]], {
          radius: 7, weight: 2, color: "#fff", fillColor: this.color(p.party_id), fillOpacity: 1,
          className: "mover", interactive: true, pane: "movers",
        }).bindTooltip(`${this.partyName(p.party_id)}: ${p.label || "movement"}`));
      }
    }
  }

  /** Makes the given declarations stand out (an advisory's two sides). */
  highlight(ids) {
    for (const layer of this.highlighted) layer.setStyle({ weight: layer.options.baseWeight ?? 3 });
    this.highlighted = [];
    for (const id of ids) {
      const entry = id && this.declarations.get(id);
      if (!entry) continue;
      entry.layer.eachLayer((l) => {
        l.options.baseWeight = entry.style.weight;
        l.setStyle({ weight: entry.style.weight + 4 });
        l.bringToFront();
        this.highlighted.push(l);
      });
    }
  }

  /** Centres on an advisory and opens its popup. */
  focusAdvisory(id) {
    const entry = this.advisories.get(id);
    if (!entry) return;
    const p = entry.feature.properties;
    this.map.setView(entry.layer.getLatLng(), Math.max(this.map.getZoom(), 11));
    this.highlight([p.own.declaration_id, p.other.declaration_id]);
    entry.layer.openPopup();
  }

  focusIncident(incident) {
    this.map.setView([incident.place[1], incident.place[0]], Math.max(this.map.getZoom(), 11));
  }

  /** Dry-run advisories: hollow markers where the drawn declaration would meet others. */
  showPreview(advisories) {
    this.groups.preview.clearLayers();
    for (const a of advisories) {
      const [lon, lat] = a.closest_approach.place;
      this.groups.preview.addLayer(L.circleMarker([lat, lon], {
        radius: 11, weight: 3, color: "#b3261e", fillOpacity: 0, dashArray: "3 3", className: "advisory-preview", pane: "alerts",
      }).bindTooltip(`Would raise an advisory with ${this.partyName(a.other.party_id)}`));
    }
  }

  /** Zooms to everything drawn (declarations, advisories, incidents). */
  fitToData() {
    const points = [];
    for (const { feature } of this.declarations.values()) {
      for (const [lon, lat] of vertices(feature.geometry)) points.push([lat, lon]);
    }
    for (const layer of this.groups.incidents.getLayers()) if (layer.getLatLng) points.push(layer.getLatLng());
    if (points.length) this.map.fitBounds(L.latLngBounds(points).pad(0.15), { maxZoom: 12 });
  }

  /** The span of time covered by what is drawn, for the slider: [from, to] in epoch ms. */
  timeSpan() {
    let from = Infinity;
    let to = -Infinity;
    for (const { feature } of this.declarations.values()) {
      const [a, b] = activeWindow(feature.properties);
      from = Math.min(from, a);
      if (Number.isFinite(b)) to = Math.max(to, b);
      else to = Math.max(to, a);
    }
    return [from, to];
  }
}
