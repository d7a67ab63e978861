// Sorting of the reproduction report table: click a header to sort by that column (click again to reverse).
// Sorting hides the module group rows; sorting by "#" restores course order with the groups.
document.addEventListener("DOMContentLoaded", function () {
  var table = document.getElementById("fl-report");
  if (!table) return;
  var body = table.tBodies[0];
  var groups = Array.prototype.slice.call(body.querySelectorAll("tr.fl-module"));
  var courseOrder = Array.prototype.slice.call(body.rows);
  var statusRank = {reproduced: 0, partial: 1, draft: 2, planned: 3};
  function key(row, col) {
    if (col === "status") return statusRank[row.dataset.status];
    if (col === "number") return row.dataset.number;
    var cell = row.querySelector('td[data-col="' + col + '"]');
    var text = cell ? cell.textContent.trim() : "";
    var num = parseFloat(text);
    return isNaN(num) ? text.toLowerCase() : num;
  }
  table.querySelectorAll("thead th").forEach(function (th) {
    th.addEventListener("click", function () {
      var col = th.dataset.col;
      var desc = th.getAttribute("aria-sort") === "ascending";
      table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", desc ? "descending" : "ascending");
      if (col === "number" && !desc) {
        courseOrder.forEach(function (r) { r.hidden = false; body.appendChild(r); });
        return;
      }
      var rows = Array.prototype.slice.call(body.querySelectorAll("tr.fl-paper"));
      rows.sort(function (a, b) {
        var ka = key(a, col), kb = key(b, col);
        var c = ka < kb ? -1 : ka > kb ? 1 : (a.dataset.number < b.dataset.number ? -1 : 1);
        return desc ? -c : c;
      });
      groups.forEach(function (g) { g.hidden = true; });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
