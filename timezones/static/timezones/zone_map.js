// Draws a time zone's shape on a Leaflet map, in the admin's zone page. The shape comes from the
// JSON script element the map's data-zone-map names (no inline script), the tiles from data-tiles.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const element of document.querySelectorAll("[data-zone-map]")) {
    const shape = JSON.parse(document.getElementById(element.dataset.zoneMap).textContent);
    const map = L.map(element, { worldCopyJump: true });
    L.tileLayer(element.dataset.tiles, JSON.parse(element.dataset.tilesOptions || "{}")).addTo(map);
    const layer = L.geoJSON(shape, { style: { color: "#c0392b", weight: 1, fillOpacity: 0.3 } }).addTo(map);
    map.fitBounds(layer.getBounds());
    element.dataset.drawn = String(layer.getLayers().length);
  }
});
