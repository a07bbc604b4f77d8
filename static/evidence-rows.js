// "Add more rows" on the kit collection form, without a round trip: copies the
// last item row, empty, with the next numbers, and moves focus to it. Without
// this script the button submits the form and the server adds the rows.
// Served from our own origin, so the strict Content-Security-Policy allows it.
(function () {
  "use strict";
  var button = document.querySelector("button[name=more_rows]");
  if (!button) { return; }
  var limit = parseInt(button.dataset.maxRows || "60", 10);
  var added = parseInt(button.dataset.addRows || "3", 10);
  button.addEventListener("click", function (event) {
    var rows = document.querySelectorAll("fieldset.item-row");
    if (!rows.length || rows.length >= limit) { return; }  // let the server answer
    event.preventDefault();
    var first = null;
    for (var n = 0; n < added && rows.length + n < limit; n += 1) {
      var last = document.querySelectorAll("fieldset.item-row");
      var template = last[last.length - 1];
      var index = last.length;  // 0-based index of the new row
      var row = template.cloneNode(true);
      row.id = "item-row-" + (index + 1);
      row.querySelector("legend").textContent = "Item " + (index + 1);
      row.querySelectorAll("[id], [name], [for], [aria-describedby]").forEach(function (node) {
        ["id", "name", "for", "aria-describedby"].forEach(function (attribute) {
          var value = node.getAttribute(attribute);
          if (value) { node.setAttribute(attribute, value.replace(/items-\d+-/g, "items-" + index + "-")); }
        });
      });
      row.querySelectorAll(".error").forEach(function (node) { node.remove(); });
      row.querySelectorAll(".field-error").forEach(function (node) { node.classList.remove("field-error"); });
      row.querySelectorAll("[aria-invalid]").forEach(function (node) {
        node.removeAttribute("aria-invalid");
        node.removeAttribute("aria-describedby");
      });
      row.querySelectorAll("input").forEach(function (input) {
        if (input.type === "checkbox") { input.checked = false; } else { input.value = ""; }
      });
      row.querySelectorAll("select").forEach(function (select) { select.selectedIndex = 0; });
      template.after(row);
      first = first || row;
    }
    if (first) { first.querySelector("select").focus(); }
  });
})();
