// Design-system helpers for every page (loaded by base.html).
// Tables reflow into cards on phones (leadbridge.css): each cell shows its column's
// name from data-label. Templates may set it; otherwise it is copied here from the
// table's header, also for rows htmx swaps in later.
(function () {
  "use strict";

  function headerLabels(table) {
    var labels = [];
    var row = table.tHead && table.tHead.rows[table.tHead.rows.length - 1];
    if (!row) return labels;
    Array.prototype.forEach.call(row.cells, function (cell) {
      var text = cell.textContent.replace(/\s+/g, " ").trim();
      for (var span = 0; span < (cell.colSpan || 1); span++) labels.push(text);
    });
    return labels;
  }

  function labelCells(root) {
    var tables = root.querySelectorAll ? root.querySelectorAll("table.list") : [];
    if (root.matches && root.matches("table.list")) tables = [root];
    var scope = root.closest ? root.closest("table.list") : null;
    if (scope) tables = [scope];
    Array.prototype.forEach.call(tables, function (table) {
      var labels = headerLabels(table);
      Array.prototype.forEach.call(table.tBodies, function (body) {
        Array.prototype.forEach.call(body.rows, function (row) {
          var column = 0;
          Array.prototype.forEach.call(row.cells, function (cell) {
            if (!cell.hasAttribute("data-label") && cell.colSpan === 1 && labels[column]) {
              cell.setAttribute("data-label", labels[column]);
            }
            column += cell.colSpan || 1;
          });
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { labelCells(document); });
  document.addEventListener("htmx:load", function (event) { labelCells(event.target); });
})();
