/* The dashboard's map: where the period's lookups point, one marker per grid cell of the per-day
 * cells (lookups.admin.dashboard_map), clustered by leaflet.markercluster, each marker and cluster
 * showing its number of lookups. The cells and the tiles come from the map's data attributes (no
 * inline script, for the Content-Security-Policy). Without tiles (a
 * tile server out of reach) the markers still draw on a blank background, and a note says why. */
"use strict";

document.addEventListener("DOMContentLoaded", function () {
    var element = document.querySelector(".dashboard-map");
    if (!element || typeof L === "undefined" || typeof L.markerClusterGroup === "undefined") {
        return; // Leaflet did not load: the figures beside the map remain
    }
    var cells = JSON.parse(element.dataset.cells || "[]");
    element.hidden = false;
    var map = L.map(element, {scrollWheelZoom: false, worldCopyJump: true, minZoom: 1});
    var tiles = L.tileLayer(element.dataset.tiles, {
        attribution: element.dataset.attribution || "",
        maxZoom: 18,
        noWrap: true,
    });
    var note = document.querySelector(".dashboard-map-tiles-note");
    tiles.on("tileerror", function () {
        if (note) {
            note.hidden = false;
        }
    });
    tiles.addTo(map);
    // Lines every 30 degrees, the equator stronger: where tiles do not load, the blank map keeps
    // its bearings (drawn under the markers, never clickable).
    for (var degrees = -60; degrees <= 60; degrees += 30) {
        L.polyline([[degrees, -180], [degrees, 180]], {
            className: "graticule", interactive: false, weight: degrees === 0 ? 1.5 : 0.75,
        }).addTo(map);
    }
    for (degrees = -150; degrees <= 180; degrees += 30) {
        L.polyline([[-85, degrees], [85, degrees]], {
            className: "graticule", interactive: false, weight: 0.75,
        }).addTo(map);
    }

    function short(count) {
        if (count >= 1e6) {
            return (count / 1e6).toFixed(count >= 1e7 ? 0 : 1) + "M";
        }
        if (count >= 1e3) {
            return (count / 1e3).toFixed(count >= 1e4 ? 0 : 1) + "k";
        }
        return String(count);
    }

    // A cluster's icon counts its cells' lookups, not its markers (a marker is a cell).
    function icon(cluster) {
        var lookups = cluster.getAllChildMarkers().reduce(function (sum, marker) {
            return sum + marker.options.lookups;
        }, 0);
        var size = lookups < 100 ? "small" : lookups < 10000 ? "medium" : "large";
        return L.divIcon({
            html: "<div><span>" + short(lookups) + "</span></div>",
            className: "marker-cluster marker-cluster-" + size,
            iconSize: L.point(40, 40),
        });
    }

    var group = L.markerClusterGroup({
        singleMarkerMode: true, // a lone cell shows its count too
        iconCreateFunction: icon,
        maxClusterRadius: 50,
        showCoverageOnHover: false,
    });
    var bounds = L.latLngBounds([]);
    cells.forEach(function (cell) {
        var position = L.latLng(cell[0], cell[1]);
        var title = cell[2].toLocaleString("en") + " lookups near " + cell[0].toFixed(2) + ", " + cell[1].toFixed(2);
        group.addLayer(L.marker(position, {lookups: cell[2], title: title, alt: title}));
        bounds.extend(position);
    });
    map.addLayer(group);
    if (bounds.isValid()) {
        map.fitBounds(bounds, {maxZoom: 5, padding: [20, 20]});
    } else {
        map.setView([20, 0], 1);
    }
});
