// Searches search-index.js (window.HUBLINT_REPOS: [id, status, "RULE RULE", link] per repo), loaded by a
// <script> tag because fetch() is refused on file://. At most LIMIT matches are drawn.
(function () {
  var LIMIT = 200;
  var repos = window.HUBLINT_REPOS || [];
  var input = document.getElementById("search");
  var body = document.querySelector("#search-table tbody");
  var count = document.getElementById("search-count");
  input.parentNode.hidden = false;
  function cell(row, text, href) {
    var td = row.insertCell();
    if (href) {
      var a = document.createElement("a");
      a.href = href;
      a.textContent = text;
      td.appendChild(a);
    } else {
      td.textContent = text;
    }
  }
  function draw() {
    var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    body.textContent = "";
    var found = 0;
    for (var i = 0; i < repos.length; i++) {
      var repo = repos[i];
      var text = (repo[0] + " " + repo[1] + " " + repo[2]).toLowerCase();
      if (!words.every(function (word) { return text.indexOf(word) !== -1; })) continue;
      found += 1;
      if (found > LIMIT) continue;
      var row = body.insertRow();
      cell(row, repo[0], repo[3]);
      cell(row, repo[1]);
      cell(row, repo[2]);
    }
    count.textContent = found + " of " + repos.length + " repos" + (found > LIMIT ? ", first " + LIMIT + " shown" : "");
  }
  input.addEventListener("input", draw);
  var query = new URLSearchParams(window.location.search).get("q");
  if (query) input.value = query;
  draw();
})();
