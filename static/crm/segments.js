// The segment builder (templates/crm/segments/builder.html): removing rows and groups, the
// multi-value pickers, and the size history chart. Rows are added and swapped by HTMX.
(function () {
  function changed() {
    document.body.dispatchEvent(new CustomEvent("segment-changed"));
  }

  function initMulti(root) {
    root.querySelectorAll("select[data-segment-multi]").forEach(function (el) {
      if (el.tomselect || typeof TomSelect === "undefined") return;
      new TomSelect(el, { plugins: ["remove_button"], maxOptions: 300 });
    });
  }

  document.addEventListener("click", function (e) {
    var button = e.target.closest("[data-segment-remove]");
    if (!button) return;
    var node = button.closest(".seg-condition, .seg-group");
    if (node) {
      node.remove();
      changed();
    }
  });

  // Another target has other criteria: the tree is replaced, after a confirmation if the user
  // has chosen any criterion (cancelling puts the old target back).
  document.addEventListener("change", function (e) {
    var select = e.target;
    if (select.id !== "id_target") return;
    var chosen = Array.prototype.some.call(
      document.querySelectorAll("#segment-tree select[name$='-criterion']"),
      function (s) { return s.value; }
    );
    if (chosen && !window.confirm(select.dataset.confirm)) {
      e.stopImmediatePropagation();
      select.value = select.dataset.previous;
      return;
    }
    select.dataset.previous = select.value;
    htmx.trigger(select, "segment-target-changed");
  }, true);

  document.addEventListener("htmx:afterSettle", function (e) {
    if (!e.target.closest || !e.target.closest("#segment-tree")) return;
    initMulti(e.target.closest("#segment-tree"));
    changed();
  });

  document.addEventListener("DOMContentLoaded", function () {
    initMulti(document);
    var target = document.getElementById("id_target");
    if (target) target.dataset.previous = target.value;
    var data = document.getElementById("segment-history-data");
    var canvas = document.getElementById("segment-history");
    if (data && canvas && typeof Chart !== "undefined") {
      var history = JSON.parse(data.textContent);
      new Chart(canvas, {
        type: "line",
        data: { labels: history.labels, datasets: [{ label: "Size", data: history.sizes, tension: 0.2 }] },
        options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true } } },
      });
    }
  });
})();
