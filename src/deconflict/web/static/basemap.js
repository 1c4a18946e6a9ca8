// The basemap. By default it is drawn from data installed with the project, so the console
// works with no internet: Natural Earth country borders (npm `world-atlas`, TopoJSON turned
// into GeoJSON in the browser by `topojson-client`) and populated places from the GeoNames
// extract the service ships. A deployment that has a tile server sets DECONFLICT_TILE_URL.

/* global L, topojson */

import { h } from "./dom.js";

/** Adds the basemap to `map`; answers {toggles: [[name, layer], ...], note}. */
export async function addBasemap(map, config) {
  map.createPane("basemap").style.zIndex = 250;
  map.createPane("places").style.zIndex = 350;
  if (config.tile_url) {
    const tiles = L.tileLayer(config.tile_url, { attribution: config.tile_attribution || "", maxZoom: 19 });
    tiles.addTo(map);
    return { toggles: [["Tiles", tiles]], note: `Basemap: tiles from ${config.tile_url}` };
  }
  // SVG (not canvas) so that what was drawn can be checked in the page, e.g. by the tests.
  const renderer = L.svg({ pane: "basemap" });
  const topo = await (await fetch("/console/vendor/countries-10m.json")).json();
  const countries = topojson.feature(topo, topo.objects.countries);
  const borders = topojson.mesh(topo, topo.objects.countries, (a, b) => a !== b);
  const land = L.geoJSON(countries, {
    renderer, pane: "basemap", interactive: false,
    style: { stroke: false, fillColor: "#f3efe4", fillOpacity: 1, className: "basemap-land" },
  });
  const lines = L.geoJSON(borders, {
    renderer, pane: "basemap", interactive: false,
    style: { color: "#7d6f8f", weight: 1.4, dashArray: "5 3", className: "basemap-border" },
  });
  const countryLayer = L.layerGroup([land, lines]).addTo(map);
  const places = placesLayer(map);
  places.addTo(map);
  map.attributionControl.addAttribution("Borders: Natural Earth; places: GeoNames");
  return {
    toggles: [["Country borders", countryLayer], ["Places", places]],
    note: "Basemap: Natural Earth country borders and GeoNames places, installed with the service (works offline).",
  };
}

/** Town and city names for the area in view, reloaded when the view moves. */
function placesLayer(map) {
  const group = L.layerGroup();
  const renderer = L.svg({ pane: "places" });
  let lastKey = "";
  const reload = async () => {
    if (!map.hasLayer(group)) return;
    const b = map.getBounds().pad(0.2);
    const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));
    const bbox = [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90),
      clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -90, 90)].map((v) => v.toFixed(2)).join(",");
    const key = `${bbox}/${map.getZoom()}`;
    if (key === lastKey) return;
    lastKey = key;
    const answer = await (await fetch(`/console/places.geojson?bbox=${bbox}`)).json();
    group.clearLayers();
    // Fewer labels when zoomed out, so names stay readable rather than overlapping.
    const labelled = map.getZoom() >= 10 ? 200 : map.getZoom() >= 8 ? 40 : 15;
    answer.features.slice(0, labelled).forEach((feature) => {
      const [lon, lat] = feature.geometry.coordinates;
      const dot = L.circleMarker([lat, lon], {
        renderer, pane: "places", radius: 2.5, weight: 1, color: "#4a4f5c", fillColor: "#fff",
        fillOpacity: 1, interactive: false, className: "basemap-place",
      });
      dot.bindTooltip(h("span", {}, feature.properties.name), {
        permanent: true, direction: "right", offset: [4, 0], className: "place-label", pane: "places",
      });
      group.addLayer(dot);
    });
  };
  map.on("moveend", reload);
  group.on("add", reload);
  return group;
}
