// Filters the page's repo table as you type: each word must appear in a row. Everything else works without it.
(function () {
  var input = document.querySelector("[data-filter-table]");
  if (!input) return;
  var table = document.getElementById(input.getAttribute("data-filter-table"));
  var count = document.getElementById("filter-count");
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  var texts = rows.map(function (row) { return row.textContent.toLowerCase(); });
  input.parentNode.hidden = false;
  input.addEventListener("input", function () {
    var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    rows.forEach(function (row, i) {
      var match = words.every(function (word) { return texts[i].indexOf(word) !== -1; });
      row.hidden = !match;
      if (match) shown += 1;
    });
    count.textContent = shown + " of " + rows.length + " repos";
  });
})();
