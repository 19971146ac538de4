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

  document.addEventListener("htmx:afterSettle", function (e) {
    if (!e.target.closest || !e.target.closest("#segment-tree")) return;
    initMulti(e.target.closest("#segment-tree"));
    changed();
  });

  document.addEventListener("DOMContentLoaded", function () {
    initMulti(document);
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
