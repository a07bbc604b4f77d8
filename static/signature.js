// Signature pad for receipts: draw with a finger, stylus or mouse; the drawing is
// posted as a PNG data: URL in the hidden field named by data-signature-for.
// Served from our own origin, so the strict Content-Security-Policy allows it.
// A signature sent back by the server after a refused submit (the hidden field
// already holds it) is redrawn on the pad and posted again unchanged, with the
// note [data-signature-kept] shown, so she never signs twice; Clear wipes it. The
// same holds for a signature put back from a draft kept across an ended session.
(function () {
  "use strict";
  document.querySelectorAll("canvas[data-signature-for]").forEach(function (canvas) {
    var field = document.getElementById(canvas.dataset.signatureFor);
    var form = canvas.closest("form");
    var clear = document.querySelector('[data-clear-signature="' + canvas.id + '"]');
    var context = canvas.getContext("2d");
    var drawing = false;
    var drawn = false;
    context.lineWidth = 2.5;
    context.lineCap = "round";
    context.strokeStyle = "#000";
    var kept = document.querySelector('[data-signature-kept="' + canvas.id + '"]');
    var restored = false;

    function redrawKept() {
      if (field.value.indexOf("data:image/png;base64,") !== 0) return;
      restored = true;
      var image = new Image();
      image.onload = function () {
        context.clearRect(0, 0, canvas.width, canvas.height);
        context.drawImage(image, 0, 0, canvas.width, canvas.height);
        canvas.dataset.restored = "true";
      };
      image.src = field.value;
      drawn = true;
      if (kept) kept.hidden = false;
    }
    redrawKept();
    // A draft kept across an ended session is put back after this script ran.
    field.addEventListener("change", redrawKept);

    function point(event) {
      var box = canvas.getBoundingClientRect();
      return {
        x: (event.clientX - box.left) * (canvas.width / box.width),
        y: (event.clientY - box.top) * (canvas.height / box.height),
      };
    }
    canvas.addEventListener("pointerdown", function (event) {
      drawing = true;
      canvas.setPointerCapture(event.pointerId);
      var p = point(event);
      context.beginPath();
      context.moveTo(p.x, p.y);
      event.preventDefault();
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!drawing) return;
      var p = point(event);
      context.lineTo(p.x, p.y);
      context.stroke();
      drawn = true;
      restored = false;
      event.preventDefault();
    });
    ["pointerup", "pointercancel", "pointerleave"].forEach(function (name) {
      canvas.addEventListener(name, function () { drawing = false; });
    });
    if (clear) {
      clear.addEventListener("click", function () {
        context.clearRect(0, 0, canvas.width, canvas.height);
        drawn = false;
        restored = false;
        field.value = "";
        if (kept) kept.hidden = true;
      });
    }
    form.addEventListener("submit", function () {
      if (restored) return; // the kept signature goes back exactly as she drew it
      field.value = drawn ? canvas.toDataURL("image/png") : "";
    });
  });
})();
