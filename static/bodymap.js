// The body map's tap path: a tap (or click) on the diagram places the mark there,
// fills the injury form's hidden point, its "Mark it on the body diagram" list and
// its body region, and says so in words for a screen reader. Choosing another
// diagram or region from the lists afterwards drops the tapped point, so the
// lists (the keyboard way, which needs no script) always win. The server checks
// the point again: on the body, inside the region.
// Served from our own origin, so the strict Content-Security-Policy allows it.
(function () {
  "use strict";
  var svg = document.querySelector("svg.body-map-picker");
  var form = document.getElementById("injury-form");
  if (!svg || !form) { return; }
  var NS = "http://www.w3.org/2000/svg";
  var drawingField = form.querySelector("[name=drawing]");
  var regionField = form.querySelector("[name=region]");
  var xField = form.querySelector("[name=mark_x]");
  var yField = form.querySelector("[name=mark_y]");
  var status = document.getElementById("mark-status");
  var polygons = Array.prototype.slice.call(svg.querySelectorAll("polygon.body-region"));
  // The ring of the point the form holds (drawn by the server after a refusal,
  // or this injury's own mark), moved by the next tap.
  var pending = svg.querySelector(".body-mark-pending");

  function inside(polygon, x, y) {
    var points = polygon.getAttribute("points").trim().split(/\s+/).map(function (pair) {
      var xy = pair.split(",");
      return [parseFloat(xy[0]), parseFloat(xy[1])];
    });
    var result = false;
    for (var i = 0, j = points.length - 1; i < points.length; j = i, i += 1) {
      var a = points[i], b = points[j];
      if ((a[1] > y) !== (b[1] > y) && x < a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1])) {
        result = !result;
      }
    }
    return result;
  }

  function regionAt(x, y) {
    // Regions are in drawing order: the topmost (last) one holding the point.
    for (var n = polygons.length - 1; n >= 0; n -= 1) {
      if (inside(polygons[n], x, y)) { return polygons[n]; }
    }
    return null;
  }

  function say(text) { if (status) { status.textContent = text; } }

  function clearPoint() {
    xField.value = "";
    yField.value = "";
    if (pending) { pending.remove(); pending = null; }
  }

  svg.addEventListener("click", function (event) {
    var matrix = svg.getScreenCTM();
    if (!matrix) { return; }
    var point = svg.createSVGPoint();
    point.x = event.clientX;
    point.y = event.clientY;
    var local = point.matrixTransform(matrix.inverse());
    var x = Math.round(local.x * 10) / 10;
    var y = Math.round(local.y * 10) / 10;
    var region = regionAt(x, y);
    if (!region) {
      say(svg.dataset.saidBeside);
      return;
    }
    xField.value = String(x);
    yField.value = String(y);
    drawingField.value = svg.dataset.drawing;
    var code = region.dataset.region;
    if (regionField && regionField.querySelector('option[value="' + code + '"]')) {
      regionField.value = code;
    }
    if (!pending) {
      pending = document.createElementNS(NS, "circle");
      pending.setAttribute("class", "body-mark-pending");
      pending.setAttribute("r", "7");
      svg.appendChild(pending);
    }
    pending.setAttribute("cx", String(x));
    pending.setAttribute("cy", String(y));
    say(svg.dataset.saidPlaced.replace("{region}", region.dataset.label.toLowerCase()));
  });

  [drawingField, regionField].forEach(function (field) {
    if (!field) { return; }
    field.addEventListener("change", function () {
      if (xField.value) {
        clearPoint();
        say(svg.dataset.saidDropped);
      }
    });
  });
}());
