/* The lookup page: lookups without a reload, the map, the local clock and the copy buttons.
 *
 * The page works without this script: the form is a plain GET and every result has its own
 * server-rendered address. With it, a lookup fetches the result's HTML (?partial=1) from the
 * same address, swaps it in, and pushes that address onto the history.
 */
(function () {
  "use strict";

  var form = document.querySelector("[data-lookup-form]");
  var region = document.getElementById("result");
  if (!form || !region) {
    return;
  }
  var input = form.querySelector("input[name=q]");
  var button = form.querySelector("button[type=submit]");
  var status = document.getElementById("lookup-status");
  var base = form.getAttribute("data-lookup-base");
  var map = null;
  var pending = null;

  function lookupPath(query) {
    // Colons stay readable in IPv6 addresses; everything else is escaped.
    return base + encodeURIComponent(query).replace(/%3A/gi, ":");
  }

  function withPartial(url) {
    return url + (url.indexOf("?") === -1 ? "?" : "&") + "partial=1";
  }

  function setBusy(busy) {
    region.setAttribute("aria-busy", busy ? "true" : "false");
    button.disabled = busy;
    button.textContent = button.getAttribute(busy ? "data-busy-label" : "data-idle-label");
  }

  function show(html) {
    if (map) {
      map.remove();
      map = null;
    }
    region.innerHTML = html;
    var content = region.querySelector(".result-content");
    if (content) {
      document.title = content.getAttribute("data-title") || document.title;
      status.textContent = content.getAttribute("data-summary") || "";
    }
    enhance();
  }

  function load(url, pushUrl) {
    if (pending) {
      pending.abort();
    }
    var controller = new AbortController();
    pending = controller;
    setBusy(true);
    fetch(withPartial(url), {
      headers: { Accept: "text/html" },
      credentials: "same-origin",
      signal: controller.signal,
    })
      .then(function (response) {
        // Errors come back as readable HTML too, with their status code.
        return response.text();
      })
      .then(
        function (html) {
          if (pending !== controller) {
            return;
          }
          finish(controller);
          if (pushUrl) {
            history.pushState({ lookup: true }, "", pushUrl);
          }
          show(html);
        },
        function (error) {
          if (error.name === "AbortError") {
            return;
          }
          finish(controller);
          show(
            '<div class="result-content" data-summary="The server could not be reached.">' +
              '<div class="error" role="alert" data-code="network">' +
              '<p class="error-message">The server could not be reached. Check the connection and try again.</p>' +
              "</div></div>"
          );
        }
      );
  }

  function finish(controller) {
    if (pending === controller) {
      pending = null;
      setBusy(false);
    }
  }

  form.addEventListener("submit", function (event) {
    var query = input.value.trim();
    if (!query) {
      return; // the browser's own "required" message has already been shown
    }
    event.preventDefault();
    var path = lookupPath(query);
    load(path, path);
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-lookup-link]");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    event.preventDefault();
    input.value = link.textContent.trim();
    var path = link.getAttribute("href");
    load(path, path);
    input.focus();
  });

  window.addEventListener("popstate", function () {
    var params = new URLSearchParams(location.search);
    if (location.pathname.indexOf(base) === 0) {
      input.value = decodeURIComponent(location.pathname.slice(base.length));
    } else {
      input.value = params.get("q") || "";
    }
    load(location.pathname + location.search, null);
  });

  // --- The map ---------------------------------------------------------------------------------

  function drawMap(element) {
    if (typeof L === "undefined") {
      return; // Leaflet did not load: the coordinates and the OpenStreetMap link remain
    }
    element.hidden = false;
    var lat = parseFloat(element.getAttribute("data-lat"));
    var lon = parseFloat(element.getAttribute("data-lon"));
    var radiusKm = parseFloat(element.getAttribute("data-radius-km"));
    var precise = element.getAttribute("data-precise") === "true";
    var centre = L.latLng(lat, lon);
    map = L.map(element, { scrollWheelZoom: false });
    // The view first: layers are drawn only on a map that has one.
    if (radiusKm > 0) {
      map.fitBounds(centre.toBounds(radiusKm * 2000), { maxZoom: 13, padding: [12, 12] });
    } else {
      map.setView(centre, precise ? 10 : 4);
    }
    var tiles = L.tileLayer(element.getAttribute("data-tile-url"), {
      maxZoom: 19,
      attribution: element.getAttribute("data-tile-attribution"),
    }).addTo(map);
    var note = element.parentNode.querySelector(".tiles-note");
    tiles.on("tileerror", function () {
      if (note) {
        note.hidden = false;
      }
    });
    if (radiusKm > 0) {
      L.circle(centre, {
        radius: radiusKm * 1000,
        color: precise ? "#0b57d0" : "#b55d00",
        weight: 2,
        fillOpacity: precise ? 0.15 : 0.1,
        dashArray: precise ? null : "6 6",
      }).addTo(map);
    }
    if (precise) {
      var icon = L.icon({
        iconUrl: element.getAttribute("data-marker-icon"),
        iconRetinaUrl: element.getAttribute("data-marker-icon-2x"),
        shadowUrl: element.getAttribute("data-marker-shadow"),
        iconSize: [25, 41],
        iconAnchor: [12, 41],
        popupAnchor: [1, -34],
        shadowSize: [41, 41],
      });
      L.marker(centre, { icon: icon, alt: "Position", keyboard: false }).addTo(map);
    }
  }

  // --- Local time --------------------------------------------------------------------------------

  function tick() {
    var now = new Date();
    region.querySelectorAll("time[data-time-zone]").forEach(function (element) {
      var zone = element.getAttribute("data-time-zone");
      try {
        var parts = new Intl.DateTimeFormat("en-GB", {
          timeZone: zone,
          weekday: "short",
          hour: "2-digit",
          minute: "2-digit",
          hourCycle: "h23",
          timeZoneName: "longOffset",
        }).formatToParts(now);
      } catch (error) {
        return; // a zone this browser does not know: keep the server's time
      }
      var get = function (type) {
        var part = parts.find(function (p) {
          return p.type === type;
        });
        return part ? part.value : "";
      };
      element.textContent = get("weekday") + " " + get("hour") + ":" + get("minute");
      element.setAttribute("datetime", now.toISOString());
      var offset = element.parentNode.querySelector(".local-offset");
      var name = get("timeZoneName").replace("GMT", "UTC");
      if (offset && name) {
        offset.textContent = "(" + (name === "UTC" ? "UTC+00:00" : name) + ")";
      }
    });
  }

  // --- Copy buttons ------------------------------------------------------------------------------

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "visually-hidden";
      document.body.appendChild(area);
      area.select();
      var copied = document.execCommand("copy");
      document.body.removeChild(area);
      (copied ? resolve : reject)();
    });
  }

  region.addEventListener("click", function (event) {
    var copyButton = event.target.closest("button[data-copy]");
    if (!copyButton) {
      return;
    }
    var source = document.getElementById(copyButton.getAttribute("data-copy"));
    var label = copyButton.getAttribute("data-label") || copyButton.textContent;
    copyButton.setAttribute("data-label", label);
    copyText(source.textContent).then(
      function () {
        copyButton.textContent = "Copied";
        status.textContent = "Copied to the clipboard.";
      },
      function () {
        copyButton.textContent = "Copy failed: select the text";
        status.textContent = "Copying failed: select the text and copy it.";
      }
    );
    setTimeout(function () {
      copyButton.textContent = label;
    }, 2000);
  });

  function enhance() {
    region.querySelectorAll("button[data-copy]").forEach(function (copyButton) {
      copyButton.hidden = false;
    });
    var element = region.querySelector("[data-map]");
    if (element) {
      drawMap(element);
    }
    tick();
  }

  history.replaceState({ lookup: true }, "", location.href);
  enhance();
  setInterval(tick, 15000);
})();
