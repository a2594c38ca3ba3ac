/* A lookup's location on a map in the admin: a dot, and a circle as wide as the accuracy radius.
 * Reads everything from the .lookup-map element's data attributes (no inline script, for a strict
 * Content-Security-Policy). Leaflet is django-leaflet's copy, served from our own static files;
 * the tiles come from LEAFLET_CONFIG["TILES"] (OpenStreetMap unless configured otherwise). */
"use strict";

document.addEventListener("DOMContentLoaded", function () {
    if (typeof L === "undefined") {
        return;
    }
    document.querySelectorAll(".lookup-map").forEach(function (element) {
        var latitude = parseFloat(element.dataset.latitude);
        var longitude = parseFloat(element.dataset.longitude);
        var radiusKm = parseFloat(element.dataset.radiusKm) || 0;
        if (isNaN(latitude) || isNaN(longitude)) {
            return;
        }
        var centre = L.latLng(latitude, longitude);
        // A view first: circles measure themselves in the map's projection.
        var map = L.map(element, {scrollWheelZoom: false}).setView(centre, 5);
        if (element.dataset.tiles) {
            L.tileLayer(element.dataset.tiles, {
                attribution: element.dataset.attribution || "",
                maxZoom: 18,
            }).addTo(map);
        }
        L.circleMarker(centre, {radius: 6, weight: 2}).addTo(map);
        if (radiusKm > 0) {
            var circle = L.circle(centre, {radius: radiusKm * 1000, weight: 1, fillOpacity: 0.1}).addTo(map);
            map.fitBounds(circle.getBounds(), {maxZoom: 12});
        }
    });
});
