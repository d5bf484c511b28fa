// Progressive niceties only: every page works without this file.
(function () {
  "use strict";

  // "/" focuses the search box, as in most search-first tools.
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var typing = target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA");
    if (event.key === "/" && !typing) {
      var box = document.querySelector("[data-shortcut='/']");
      if (box) {
        event.preventDefault();
        box.focus();
        box.select();
      }
    }
  });

  // On a card: filter the dimension fields by name or value, and hide empty ones.
  var filter = document.getElementById("field-filter");
  var hideEmpty = document.getElementById("hide-empty");
  if (!filter || !hideEmpty) {
    return;
  }
  filter.hidden = false;
  hideEmpty.parentElement.hidden = false;

  function apply() {
    var needle = filter.value.trim().toLowerCase();
    document.querySelectorAll(".dimension").forEach(function (group) {
      var visible = 0;
      group.querySelectorAll("tr.field").forEach(function (row) {
        var text = row.textContent.toLowerCase();
        var hide = (needle && text.indexOf(needle) < 0) || (hideEmpty.checked && row.classList.contains("empty"));
        row.classList.toggle("hidden-field", Boolean(hide));
        if (!hide) {
          visible += 1;
        }
      });
      group.hidden = visible === 0;
    });
  }

  filter.addEventListener("input", apply);
  hideEmpty.addEventListener("change", apply);
})();
