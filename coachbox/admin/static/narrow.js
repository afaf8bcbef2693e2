// coachbox admin at phone width (part of every page through base.html). Without it the pages still work: the menu
// row scrolls sideways on its own and wide tables scroll inside their frame.
"use strict";
(function () {
  // Tables become stacked cards under 600 px (admin.css, table.stack): each cell is labelled with its column's
  // heading, so no column is cut off or needs sideways scrolling. A table opts out with data-no-stack.
  document.querySelectorAll("table").forEach(function (table) {
    if (table.hasAttribute("data-no-stack") || !table.tHead) { return; }
    var heads = Array.from(table.tHead.rows[0].cells).map(function (cell) { return cell.textContent.trim(); });
    if (heads.length < 2) { return; }
    Array.from(table.tBodies).forEach(function (body) {
      Array.from(body.rows).forEach(function (row) {
        var column = 0;
        Array.from(row.cells).forEach(function (cell) {
          var span = cell.colSpan || 1;
          if (span === 1 && heads[column] && !cell.hasAttribute("data-label")) {
            cell.setAttribute("data-label", heads[column]);
          }
          column += span;
        });
      });
    });
    table.classList.add("stack");
  });
  // The menu is one row that scrolls sideways on a phone: show the current page's entry.
  var current = document.querySelector(".top nav [aria-current]");
  var row = current && current.closest("nav");
  if (row && row.scrollWidth > row.clientWidth) {
    row.scrollLeft = current.offsetLeft - (row.clientWidth - current.offsetWidth) / 2;
  }
})();
